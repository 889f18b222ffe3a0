//! A registered socket: its readiness, write queue and owner.

use mio::net::TcpStream;
use weir_core::UpstreamId;
use weir_frontend::io::{AfterFlush, ReadBuf, ReadOutcome, WriteQueue};

/// Who a socket belongs to (connection keys as `u32`: 12 bytes, not 24).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// The client socket of a connection.
    Client(u32),
    /// An upstream socket of a connection.
    Upstream(u32, UpstreamId),
    /// Idle in the pool.
    Pooled,
    /// Carrying an outside call of a connection.
    Call(u32),
    /// Idle between calls (a Redis connection).
    CallIdle,
}

impl Owner {
    /// The client socket of connection `ck`.
    pub fn client(ck: usize) -> Owner {
        Owner::Client(ck as u32)
    }

    /// Upstream `id` of connection `ck`.
    pub fn upstream(ck: usize, id: UpstreamId) -> Owner {
        Owner::Upstream(ck as u32, id)
    }

    /// The connection the socket serves, if any.
    pub fn conn(self) -> Option<usize> {
        match self {
            Owner::Client(ck) | Owner::Upstream(ck, _) => Some(ck as usize),
            Owner::Pooled | Owner::Call(_) | Owner::CallIdle => None,
        }
    }
}

/// How a non-blocking connect ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connect {
    /// Connected.
    Done,
    /// Refused, unreachable, reset.
    Failed,
}

/// The `server` of a client socket.
pub const NO_SERVER: u32 = u32::MAX;

/// One registered socket.
pub struct Sock {
    pub stream: TcpStream,
    pub owner: Owner,
    /// The upstream server's index in the worker's pool table
    /// ([`NO_SERVER`] for a client socket).
    pub server: u32,
    /// Readiness seen and not yet used up (edge-triggered).
    pub readable: bool,
    pub writable: bool,
    /// The peer's FIN (or an error) was signalled: read until 0 then.
    pub read_closed: bool,
    pub connecting: bool,
    /// `TCP_NODELAY` is set (upstreams at once; clients once a first
    /// write has drained and the connection goes on, as nginx does, so a
    /// connection that answers once and closes costs no `setsockopt`).
    pub nodelay: bool,
    pub queue: WriteQueue,
    pub after_flush: AfterFlush,
}

impl Sock {
    pub fn new(stream: TcpStream, owner: Owner, server: u32) -> Sock {
        Sock {
            stream,
            owner,
            server,
            readable: false,
            writable: false,
            read_closed: false,
            connecting: false,
            nodelay: false,
            queue: WriteQueue::default(),
            after_flush: AfterFlush::Keep,
        }
    }

    /// Where a connect in progress stands, once the socket was writable:
    /// `None` while it is still going on (or no writable edge came yet),
    /// `Some(Connect::Done)` or `Some(Connect::Failed)` (and the socket
    /// is no longer `connecting`).
    pub fn connect_result(&mut self) -> Option<Connect> {
        if !self.writable {
            return None;
        }
        let failed = match self.stream.take_error() {
            Ok(Some(_)) | Err(_) => true,
            Ok(None) => match self.stream.peer_addr() {
                Ok(_) => false,
                Err(e) if e.kind() == std::io::ErrorKind::NotConnected => {
                    self.writable = false;
                    return None;
                }
                Err(_) => true,
            },
        };
        self.connecting = false;
        Some(match failed {
            true => Connect::Failed,
            false => Connect::Done,
        })
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
