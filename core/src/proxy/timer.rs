//! The connection's timers: which one is armed on each side and when
//! (public so that tests outside the sans-IO core can give it real instants).

use std::time::Instant;

/// Every timer a connection can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// A request head is arriving (408) — or a new connection is silent.
    ClientHead = 0,
    /// Gap between request body bytes (408).
    ClientBody,
    /// An idle keep-alive client (close).
    ClientIdle,
    /// Connecting upstream (next server, else 502).
    UpstreamConnect,
    /// Waiting for the response head (504).
    UpstreamResponse,
    /// Gap between response body bytes (close).
    UpstreamIdle,
    /// An upgraded tunnel with no bytes either way (close).
    TunnelIdle,
    /// A parked exchange waits for a call's reply (its layer decides).
    Call,
}

impl Timer {
    /// Timers of one side replace each other: a client is either sending
    /// a head, sending a body or idle; an upstream link is connecting,
    /// awaiting its response or sending its body, and a tunnel has only
    /// its idle timer; an exchange parked on a call has no link yet. So
    /// one slot per side holds every deadline a
    /// connection can have (checked in debug builds, which the tests and
    /// the fuzz targets run).
    fn is_client(self) -> bool {
        matches!(
            self,
            Timer::ClientHead | Timer::ClientBody | Timer::ClientIdle
        )
    }
}

/// Deadlines: at most one per side, client (slot 0) and upstream (slot
/// 1); 40 bytes (the two instants, then which timer each one is) instead
/// of 112 for a deadline per timer.
#[derive(Clone, Debug)]
pub struct Timers {
    at: [Option<Instant>; 2],
    /// The timer of each armed slot (meaningless while its `at` is None).
    which: [Timer; 2],
}

impl Default for Timers {
    fn default() -> Timers {
        Timers {
            at: [None, None],
            which: [Timer::ClientHead, Timer::UpstreamConnect],
        }
    }
}

/// The slot of `t`'s side.
fn side(t: Timer) -> usize {
    match t.is_client() {
        true => 0,
        false => 1,
    }
}

impl Timers {
    /// Arms `t` for `at`.
    pub fn set(&mut self, t: Timer, at: Instant) {
        let i = side(t);
        debug_assert!(
            self.at[i].is_none() || self.which[i] == t,
            "{t:?} would replace the armed {:?}",
            self.which[i]
        );
        self.at[i] = Some(at);
        self.which[i] = t;
    }

    /// Disarms `t`.
    pub fn clear(&mut self, t: Timer) {
        if self.is_set(t) {
            self.at[side(t)] = None;
        }
    }

    /// Disarms every timer.
    pub fn clear_all(&mut self) {
        self.at = [None, None];
    }

    /// True when `t` is armed.
    pub fn is_set(&self, t: Timer) -> bool {
        let i = side(t);
        self.at[i].is_some() && self.which[i] == t
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.at.into_iter().flatten().min()
    }

    /// The first timer that has expired at `now`, disarmed (the client's
    /// first when both expire at the same instant).
    pub fn expired(&mut self, now: Instant) -> Option<Timer> {
        let due = |i: usize| self.at[i].filter(|at| *at <= now);
        let i = match (due(0), due(1)) {
            (Some(c), Some(u)) if u < c => 1,
            (Some(_), _) => 0,
            (None, Some(_)) => 1,
            (None, None) => return None,
        };
        self.at[i] = None;
        Some(self.which[i])
    }
}
