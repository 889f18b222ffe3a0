//! A registered socket: its readiness, write queue and owner.

use std::net::SocketAddr;
use std::time::Instant;

use mio::net::TcpStream;
use weir_core::UpstreamId;
use weir_frontend::io::{AfterFlush, ReadBuf, ReadOutcome, WriteQueue};

/// Who a socket belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// The client socket of a connection.
    Client(usize),
    /// An upstream socket of a connection.
    Upstream(usize, UpstreamId),
    /// Idle in the pool.
    Pooled,
}

/// One registered socket.
pub struct Sock {
    pub stream: TcpStream,
    pub owner: Owner,
    /// The peer: upstream server address or client address.
    pub addr: SocketAddr,
    /// Readiness seen and not yet used up (edge-triggered).
    pub readable: bool,
    pub writable: bool,
    /// The peer's FIN (or an error) was signalled: read until 0 then.
    pub read_closed: bool,
    pub connecting: bool,
    pub queue: WriteQueue,
    pub after_flush: AfterFlush,
    pub idle_since: Instant,
}

impl Sock {
    pub fn new(stream: TcpStream, owner: Owner, addr: SocketAddr, now: Instant) -> Sock {
        Sock {
            stream,
            owner,
            addr,
            readable: false,
            writable: false,
            read_closed: false,
            connecting: false,
            queue: WriteQueue::default(),
            after_flush: AfterFlush::Keep,
            idle_since: now,
        }
    }

    /// Reads at most `max` bytes. A `WouldBlock`, EOF or error uses up the
    /// readable edge, and so does a short read: the socket was drained, and
    /// data arriving later raises a new edge (the saved `read` would only
    /// have said `WouldBlock`). Not after a FIN was signalled: then the
    /// EOF is still to be read and no new edge will come.
    pub fn read(&mut self, buf: &mut ReadBuf, max: usize) -> ReadOutcome {
        let r = buf.read_from(&self.stream, max);
        match &r {
            ReadOutcome::Data { drained, .. } => {
                if *drained && !self.read_closed {
                    self.readable = false;
                }
            }
            _ => self.readable = false,
        }
        r
    }
}
