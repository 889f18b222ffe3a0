//! Outside calls (`Output::Call`) on the worker's own event loop: one
//! registered socket per call, driven by its readiness like any other; a
//! connection has at most one call (a new one replaces one its exchange
//! stopped waiting for), and its calls end with it. Connections to
//! services that allow reuse (Redis) wait idle between calls.

use std::time::Instant;

use mio::net::TcpStream;
use weir_core::call::{Call, CallId, Reply};
use weir_core::Input;
use weir_frontend::calls::{Incoming, Reusable, Step, INCIDENTS};
use weir_frontend::io::{Flushed, ReadOutcome, READ_MAX};

use super::Worker;
use crate::sock::{Connect, Owner, Sock, NO_SERVER};

/// Most idle call connections a worker keeps.
const MAX_IDLE: usize = 64;

/// A call in progress.
pub(super) struct Calling {
    id: CallId,
    sock: usize,
    incoming: Incoming,
}

impl Worker {
    /// Starts connection `ck`'s call `id`.
    pub(super) fn start_call(&mut self, ck: usize, id: CallId, call: Box<Call>, now: Instant) {
        self.cancel_call(ck);
        let addr = call.addr;
        let idle = match call.reuse {
            true => self
                .idle_calls
                .iter()
                .rposition(|(a, _)| *a == addr)
                .map(|i| self.idle_calls.swap_remove(i).1),
            false => None,
        };
        let k = match idle {
            Some(k) => k,
            None => {
                let fresh = TcpStream::connect(addr).ok().and_then(|stream| {
                    let mut sock = Sock::new(stream, Owner::Call(ck as u32), NO_SERVER);
                    sock.connecting = true;
                    sock.nodelay = sock.stream.set_nodelay(true).is_ok();
                    self.register(sock)
                });
                match fresh {
                    Some(k) => k,
                    None => {
                        let reply = Reply::Failed("cannot connect");
                        INCIDENTS.note("weir", addr, &reply);
                        self.input(ck, now, Input::Reply { id, reply });
                        return;
                    }
                }
            }
        };
        let incoming = Incoming::new(call);
        let s = &mut self.socks[k];
        s.owner = Owner::Call(ck as u32);
        s.queue.push(incoming.request());
        self.calls.insert(
            ck,
            Calling {
                id,
                sock: k,
                incoming,
            },
        );
        self.drive_call(ck, now);
    }

    /// Drops connection `ck`'s call, if it has one (its socket closes).
    pub(super) fn cancel_call(&mut self, ck: usize) {
        if let Some(c) = self.calls.remove(&ck) {
            self.close_sock(c.sock);
        }
    }

    /// Moves connection `ck`'s call on as far as its socket allows; a
    /// finished call's reply goes to the connection (true: the caller
    /// services the connection then).
    pub(super) fn drive_call(&mut self, ck: usize, now: Instant) -> bool {
        let Some(c) = self.calls.get_mut(&ck) else {
            return false;
        };
        let Some(s) = self.socks.get_mut(c.sock) else {
            return false;
        };
        let mut outcome = None;
        if s.connecting {
            match s.connect_result() {
                None => return false,
                Some(Connect::Failed) => {
                    outcome = Some((Reply::Failed("connection refused"), Reusable::No))
                }
                Some(Connect::Done) => {}
            }
        }
        if outcome.is_none() && s.writable && !s.queue.is_empty() {
            match s.queue.flush(&s.stream) {
                Ok(Flushed::Blocked) => s.writable = false,
                Ok(_) => {}
                Err(_) => outcome = Some((c.incoming.closed(true), Reusable::No)),
            }
        }
        while outcome.is_none() && s.readable {
            match s.read(&mut self.buf, READ_MAX) {
                ReadOutcome::Data { bytes, .. } => match c.incoming.received(&bytes) {
                    Step::More => {}
                    Step::Done(reply, reusable) => outcome = Some((reply, reusable)),
                },
                ReadOutcome::Eof => outcome = Some((c.incoming.closed(false), Reusable::No)),
                ReadOutcome::Failed => outcome = Some((c.incoming.closed(true), Reusable::No)),
                ReadOutcome::WouldBlock => break,
            }
        }
        let Some((reply, reusable)) = outcome else {
            return false;
        };
        let Some(c) = self.calls.remove(&ck) else {
            return false;
        };
        let addr = c.incoming.call().addr;
        INCIDENTS.note("weir", addr, &reply);
        if reusable == Reusable::Yes && self.idle_calls.len() < MAX_IDLE && self.stop_at.is_none() {
            self.socks[c.sock].owner = Owner::CallIdle;
            self.idle_calls.push((addr, c.sock));
        } else {
            self.close_sock(c.sock);
        }
        self.input(ck, now, Input::Reply { id: c.id, reply });
        true
    }
}
