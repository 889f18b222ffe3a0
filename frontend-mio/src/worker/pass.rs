//! Pass-through: body bytes the core counted out as going verbatim (the
//! rest of a body of known length, or of a chunk's data; a response's,
//! from the upstream socket to the client's, or a request's, from the
//! client socket to the upstream's) move with `splice(2)`
//! through the worker's pipe, never entering user space (as HAProxy
//! does). The core said `Output::Pass` and hears of every piece as
//! `Input::Passed`; it keeps the framing, the timers and the accounting.
//!
//! The pipe is empty between steps, so one per worker serves every
//! connection: a step splices only when the receiving socket is writable
//! and its write queue empty, and what that socket did not take is read
//! back out of the pipe and queued as ordinary bytes (it is then not
//! writable, and the next step waits for it: backpressure).

use std::io::{self, Read};
use std::time::Instant;

use weir_core::{Input, Peer};
use weir_frontend::io::AfterFlush;

use super::Worker;

/// The most one step moves (the pipe's capacity).
pub const STEP: usize = 256 * 1024;

/// The least a step asks for when the client socket's send buffer says
/// it has less room (the room is an estimate).
const LEAST_STEP: usize = 4 * 1024;

/// Verbatim runs (a body's rest, a chunk's data) with at least this much
/// left after what the core read of them are passed.
pub const PASS_MIN: u64 = 32 * 1024;

/// A pass in progress: the sockets it reads and writes, and what is left.
pub struct Passing {
    /// The key of the socket the bytes come from.
    pub from: usize,
    /// The peer they go to, and its socket's key.
    pub to: (Peer, usize),
    /// Bytes still to move.
    pub left: u64,
}

/// How the bytes of one step left the pipe.
enum Out {
    /// All into the receiving socket.
    Whole,
    /// The socket took part; the rest is queued as ordinary bytes.
    Partial,
    /// The receiving socket failed (the rest was dropped).
    Failed,
}

impl Worker {
    /// Starts passing `len` bytes from connection `ck`'s `from` peer to
    /// its `to` peer.
    pub(super) fn start_pass(&mut self, ck: usize, from: Peer, to: Peer, len: u64) {
        if let (Some(f), Some(t)) = (self.sock_of(ck, from), self.sock_of(ck, to)) {
            self.passes.push(Passing {
                from: f,
                to: (to, t),
                left: len,
            });
        }
    }

    /// Forgets any pass reading or writing socket `k` (closed or pooled).
    pub(super) fn end_pass(&mut self, k: usize) {
        if !self.passes.is_empty() {
            self.passes.retain(|p| p.from != k && p.to.1 != k);
        }
    }

    /// The index of the pass reading socket `k`, if any.
    pub(super) fn pass_of(&self, k: usize) -> Option<usize> {
        match self.passes.is_empty() {
            true => None,
            false => self.passes.iter().position(|p| p.from == k),
        }
    }

    /// Moves one step of pass `i` (reading socket `k`, connection `ck`'s
    /// `peer`) when both sockets are ready; true if anything happened.
    pub(super) fn pass_step(
        &mut self,
        ck: usize,
        peer: Peer,
        k: usize,
        i: usize,
        now: Instant,
    ) -> bool {
        let (to_peer, to) = self.passes[i].to;
        let (Some(src), Some(dst), Some(pipe)) =
            (self.socks.get(k), self.socks.get(to), self.pipe.as_ref())
        else {
            return false;
        };
        if !src.readable || src.connecting || src.after_flush != AfterFlush::Keep {
            return false;
        }
        if !dst.writable || !dst.queue.is_empty() || dst.after_flush != AfterFlush::Keep {
            return false;
        }
        // No more than the receiving socket takes now: what it would not
        // take comes back into user space, and a slow reader would so
        // hold a pipe's worth of memory instead of none.
        let room =
            weir_frontend::splice::send_room(&dst.stream).map_or(STEP, |r| r.max(LEAST_STEP));
        let step = STEP.min(room);
        let want = usize::try_from(self.passes[i].left).map_or(step, |l| l.min(step));
        let n = match pipe.fill_from(&src.stream, want) {
            Ok(0) => {
                self.passes.swap_remove(i);
                self.socks[k].readable = false;
                self.input(ck, now, Input::Closed(peer));
                return true;
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.socks[k].readable = false;
                return false;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return true,
            Err(_) => {
                self.passes.swap_remove(i);
                self.socks[k].readable = false;
                self.input(ck, now, Input::Failed(peer));
                return true;
            }
        };
        // A short splice does not mean the receive queue was emptied (the
        // pipe holds a bounded number of socket buffers, whatever their
        // size): the edge is used up only by `WouldBlock`.
        let out = self.pipe_out(to, n);
        let p = &mut self.passes[i];
        p.left -= n as u64;
        if p.left == 0 {
            self.passes.swap_remove(i);
        }
        self.input(ck, now, Input::Passed(peer, n as u64));
        if let Out::Failed = out {
            self.input(ck, now, Input::Failed(to_peer));
        }
        true
    }

    /// Empties the pipe's `n` bytes into socket `to`; what it does not
    /// take is read back and queued (or dropped if it failed).
    fn pipe_out(&mut self, to: usize, n: usize) -> Out {
        let (Some(pipe), Some(dst)) = (self.pipe.as_ref(), self.socks.get_mut(to)) else {
            return Out::Failed;
        };
        let mut moved = 0;
        let mut out = Out::Whole;
        while moved < n {
            match pipe.empty_into(&dst.stream, n - moved) {
                Ok(0) => {
                    out = Out::Partial;
                    break;
                }
                Ok(m) => moved += m,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    dst.writable = false;
                    out = Out::Partial;
                    break;
                }
                Err(_) => {
                    out = Out::Failed;
                    break;
                }
            }
        }
        // The pipe must be empty for the next step, whoever's it is.
        // Read into a buffer of exactly the rest's size (usually small:
        // a step asks no more than the socket had room for), not a block
        // of the worker's read buffer that it would pin while queued.
        if moved < n {
            let mut rest = vec![0u8; n - moved];
            let mut got = 0;
            let mut reader = pipe.reader();
            while got < rest.len() {
                match reader.read(&mut rest[got..]) {
                    Ok(0) => break,
                    Ok(m) => got += m,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            rest.truncate(got);
            if let Out::Partial = out {
                dst.queue.push(rest.into());
            }
        }
        out
    }
}
