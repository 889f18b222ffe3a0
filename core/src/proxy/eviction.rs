//! Room at `max_connections`: which connections a full gateway closes so
//! that a new client is served at once instead of waiting in the kernel's
//! backlog. Those that cost memory and are worth the least go first: idle
//! keep-alive connections, then connections that have sent nothing or only
//! part of a head, each oldest first; a connection with an exchange in
//! flight is never closed for room.

use std::time::Instant;

use super::exchange::ReqSide;
use super::timer::Timer;
use super::{Connection, Gateway};

/// What closing a connection would lose, least first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Worth {
    /// A keep-alive connection between requests.
    Idle,
    /// A connection that has sent nothing yet, or only part of a head.
    Silent,
    /// An exchange in flight (or a closing connection): never evicted.
    Busy,
}

impl Connection {
    /// What closing this connection would lose, and since when it has
    /// been so (the frontend closes the least worth, oldest first).
    pub fn worth(&self) -> (Worth, Instant) {
        let worth = match (&self.req_side, &self.ex) {
            _ if self.client_closed => Worth::Busy,
            (ReqSide::Head, None) if self.timers.is_set(Timer::ClientIdle) => Worth::Idle,
            (ReqSide::Head, None) => Worth::Silent,
            _ => Worth::Busy,
        };
        (worth, self.head_start)
    }

    /// Closes an idle or silent connection to make room (no answer is
    /// sent, as for an idle timeout); counted in the metrics. False when
    /// it is busy (nothing done).
    pub fn evict(&mut self, gw: &mut Gateway) -> bool {
        if self.worth().0 == Worth::Busy {
            return false;
        }
        gw.metrics.connections_evicted += 1;
        self.close_client();
        true
    }
}
