//! A socket with its readiness, write queue and owner.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use mio::net::TcpStream;
use weir_core::UpstreamId;

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

/// What to do once the write queue is empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterFlush {
    /// Nothing: keep the socket.
    Keep,
    /// Give it to the pool.
    Pool,
    /// Close it.
    Close,
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
    pub connecting: bool,
    pub queue: VecDeque<Bytes>,
    pub after_flush: AfterFlush,
    /// Incremented whenever the socket enters the pool.
    pub generation: u64,
    pub idle_since: Instant,
}

/// The result of one read attempt.
pub enum ReadOutcome {
    Data(Bytes),
    Eof,
    WouldBlock,
    Failed,
}

impl Sock {
    pub fn new(stream: TcpStream, owner: Owner, addr: SocketAddr, now: Instant) -> Sock {
        Sock {
            stream,
            owner,
            addr,
            readable: false,
            writable: false,
            connecting: false,
            queue: VecDeque::new(),
            after_flush: AfterFlush::Keep,
            generation: 0,
            idle_since: now,
        }
    }

    /// Reads at most `max` bytes into `buf` and hands them out as `Bytes`.
    pub fn read(&mut self, buf: &mut BytesMut, max: usize) -> ReadOutcome {
        if buf.len() < max {
            // Zero-fill once per fresh block; the tail left after
            // `split_to` stays initialised for the next reads.
            buf.reserve(max.max(64 * 1024));
            let cap = buf.capacity();
            buf.resize(cap, 0);
        }
        loop {
            match self.stream.read(&mut buf[..max]) {
                Ok(0) => {
                    self.readable = false;
                    return ReadOutcome::Eof;
                }
                Ok(n) => return ReadOutcome::Data(buf.split_to(n).freeze()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.readable = false;
                    return ReadOutcome::WouldBlock;
                }
                Err(_) => {
                    self.readable = false;
                    return ReadOutcome::Failed;
                }
            }
        }
    }

    /// Writes as much of the queue as the socket takes, vectored.
    /// Returns Err on a write error; Ok(true) when the queue is now empty.
    pub fn flush(&mut self) -> io::Result<bool> {
        while !self.queue.is_empty() {
            if !self.writable {
                return Ok(false);
            }
            let mut slices = [IoSlice::new(&[]); 16];
            let mut n = 0;
            for (s, b) in slices.iter_mut().zip(self.queue.iter()) {
                *s = IoSlice::new(b);
                n += 1;
            }
            match self.stream.write_vectored(&slices[..n]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(mut written) => {
                    while written > 0 {
                        let front = &mut self.queue[0];
                        if written >= front.len() {
                            written -= front.len();
                            self.queue.pop_front();
                        } else {
                            front.advance(written);
                            written = 0;
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.writable = false;
                    return Ok(false);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}
