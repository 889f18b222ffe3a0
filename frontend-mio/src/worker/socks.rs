//! A worker's sockets one at a time: finishing a connect, writing what
//! is queued, reading within the core's budget, and closing (with the
//! half-close that keeps a response from being destroyed by a reset).

use std::time::Instant;

use weir_core::{Input, Peer};
use weir_frontend::io::{AfterFlush, Flushed, ReadOutcome, READ_MAX};

use super::Worker;
use crate::sock::{Connect, Owner};

impl Worker {
    /// Finishes a connect, writes queued bytes, and applies pool/close.
    pub(super) fn flush_sock(&mut self, ck: usize, peer: Peer, k: usize, now: Instant) -> bool {
        let Some(s) = self.socks.get_mut(k) else {
            return false;
        };
        if s.connecting {
            let Some(result) = s.connect_result() else {
                return false;
            };
            if result == Connect::Failed {
                self.detach(ck, k);
                self.close_sock(k);
                self.input(ck, now, Input::Failed(peer));
                return true;
            }
            if let Peer::Upstream(id) = peer {
                self.input(ck, now, Input::Connected { id, reused: false });
            }
            return true;
        }
        let mut moved = false;
        if s.writable {
            match s.queue.flush(&s.stream) {
                Ok(Flushed::Drained) => {
                    if s.after_flush == AfterFlush::Keep {
                        if !s.nodelay {
                            // More writes will follow this one: Nagle off.
                            s.nodelay = s.stream.set_nodelay(true).is_ok();
                        }
                        self.input(ck, now, Input::Drained(peer));
                    }
                    moved = true;
                }
                Ok(Flushed::Blocked) => s.writable = false,
                Ok(Flushed::Idle) => {}
                Err(_) => {
                    s.queue.clear();
                    if s.after_flush == AfterFlush::Keep {
                        self.input(ck, now, Input::Failed(peer));
                    } else {
                        s.after_flush = AfterFlush::Close;
                    }
                    moved = true;
                }
            }
        }
        let s = &self.socks[k];
        if s.queue.is_empty() {
            match s.after_flush {
                AfterFlush::Keep => {}
                AfterFlush::Pool => {
                    self.detach(ck, k);
                    self.pool_sock(k, now);
                    moved = true;
                }
                AfterFlush::Close => {
                    self.detach(ck, k);
                    self.close_sock(k);
                    moved = true;
                }
            }
        }
        moved
    }

    pub(super) fn read_sock(&mut self, ck: usize, peer: Peer, k: usize, now: Instant) -> bool {
        let Some(s) = self.socks.get(k) else {
            return false;
        };
        if !s.readable || s.connecting || s.after_flush != AfterFlush::Keep {
            return false;
        }
        if let Some(i) = self.pass_of(k) {
            return self.pass_step(ck, peer, k, i, now);
        }
        let budget = self.conns[ck].core.read_budget(peer);
        if budget == 0 {
            return false;
        }
        let s = &mut self.socks[k];
        let input = match s.read(&mut self.buf, budget.min(READ_MAX)) {
            ReadOutcome::Data { bytes, .. } => Input::Received(peer, bytes),
            ReadOutcome::Eof => Input::Closed(peer),
            ReadOutcome::Failed => Input::Failed(peer),
            ReadOutcome::WouldBlock => return false,
        };
        self.input(ck, now, input);
        true
    }

    pub(super) fn detach(&mut self, ck: usize, k: usize) {
        if let Some(c) = self.conns.get_mut(ck) {
            if c.client() == Some(k) {
                c.client = None;
            }
            c.ups.retain(|(_, x)| *x != k);
        }
    }

    pub(super) fn close_sock(&mut self, k: usize) {
        if !self.socks.contains(k) {
            return;
        }
        self.end_pass(k);
        let mut s = self.socks.remove(k);
        match s.owner {
            Owner::Pooled => {
                self.pool.remove(s.server, |&x| x == k);
            }
            Owner::CallIdle => self.idle_calls.retain(|&(_, x)| x != k),
            _ => {}
        }
        // Closing the descriptor removes it from the epoll set; an explicit
        // deregistration would be one more system call per socket.
        #[cfg(not(target_os = "linux"))]
        let _ = self.poll.registry().deregister(&mut s.stream);
        let linger = match s.owner {
            Owner::Client(ck) => {
                s.readable
                    || self
                        .conns
                        .get(ck as usize)
                        .is_none_or(|c| c.core.client_may_send())
            }
            _ => false,
        };
        if linger {
            // Bytes may wait unread or still be coming: half-close first
            // and drop what is there, so the kernel does not answer them
            // with a reset that could destroy the response in flight.
            // After a complete request with the receive queue found empty,
            // a plain close sends the FIN (one shutdown and one read less).
            let _ = s.stream.shutdown(std::net::Shutdown::Write);
            for _ in 0..4 {
                match s.read(&mut self.buf, READ_MAX) {
                    ReadOutcome::Data { .. } => {}
                    _ => break,
                }
            }
        }
    }
}
