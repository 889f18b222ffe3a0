//! One socket of a connection task: its write queue and readiness, and
//! the non-blocking step that flushes and reads it.

use std::cell::RefCell;
use std::net::TcpStream;

use async_io::Async;
use weir_core::{Connection, Input, Peer};
use weir_frontend::io::{AfterFlush, Flushed, ReadBuf, ReadOutcome, WriteQueue, READ_MAX};

/// One socket of a connection (the client or an upstream).
pub(crate) struct Side {
    pub(crate) stream: Async<TcpStream>,
    pub(crate) queue: WriteQueue,
    pub(crate) after_flush: AfterFlush,
    pub(crate) eof: bool,
    /// Worth a read: not known to be drained (async-io's level-style
    /// readiness reports data that arrived after a short read).
    pub(crate) readable: bool,
}

impl Side {
    /// An accepted client: Nagle off, worth a read at once (its request
    /// may already be waiting).
    pub(crate) fn client(stream: Async<TcpStream>) -> Side {
        let _ = stream.get_ref().set_nodelay(true);
        Side::with(stream, true)
    }

    /// An upstream socket, fresh (Nagle turned off) or from the pool.
    /// Not worth a read until the reactor says so: nothing comes before
    /// the request is sent (a pooled one was checked quiet), and the
    /// response at least a round trip after, so a read right after
    /// sending would nearly always be one wasted system call.
    pub(crate) fn upstream(stream: Async<TcpStream>, origin: Origin) -> Side {
        if origin == Origin::Fresh {
            let _ = stream.get_ref().set_nodelay(true);
        }
        Side::with(stream, false)
    }

    fn with(stream: Async<TcpStream>, readable: bool) -> Side {
        Side {
            stream,
            queue: WriteQueue::default(),
            after_flush: AfterFlush::Keep,
            eof: false,
            readable,
        }
    }
}

/// Where an upstream socket came from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Origin {
    /// Just connected.
    Fresh,
    /// Taken from the pool.
    Pooled,
}

/// True while the client's socket has not taken everything queued for
/// it: the upstream is not read then (`held`). The kernel's send buffer
/// is the buffer a slow reader fills; what waits in user space is at
/// most one read, not the core's whole window (and the read-buffer
/// blocks its slices would pin).
pub(crate) fn client_backed_up(client: &Option<Side>) -> bool {
    client.as_ref().is_some_and(|c| !c.queue.is_empty())
}

/// What may be read from `peer` now (0: not now).
fn budget(core: &Connection, peer: Peer, held: bool) -> usize {
    match peer {
        Peer::Upstream(_) if held => 0,
        _ => core.read_budget(peer),
    }
}

/// Flushes and reads one side without blocking; true if anything moved.
pub(crate) fn pump(
    core: &mut Connection,
    peer: Peer,
    s: &mut Side,
    held: bool,
    inputs: &mut Vec<Input>,
) -> bool {
    let mut moved = false;
    match s.queue.flush(s.stream.get_ref()) {
        Ok(Flushed::Drained) => {
            if s.after_flush == AfterFlush::Keep {
                inputs.push(Input::Drained(peer));
            }
            moved = true;
        }
        Ok(Flushed::Idle | Flushed::Blocked) => {}
        Err(_) => {
            s.queue.clear();
            if s.after_flush == AfterFlush::Keep {
                inputs.push(Input::Failed(peer));
            } else {
                s.after_flush = AfterFlush::Close;
            }
            moved = true;
        }
    }
    if s.after_flush != AfterFlush::Keep || s.eof {
        return moved;
    }
    let budget = budget(core, peer, held);
    if budget == 0 || !s.readable {
        return moved;
    }
    match read(s.stream.get_ref(), budget.min(READ_MAX)) {
        ReadOutcome::Data { bytes, drained } => {
            s.readable = !drained;
            inputs.push(Input::Received(peer, bytes));
        }
        ReadOutcome::Eof => {
            s.eof = true;
            inputs.push(Input::Closed(peer));
        }
        ReadOutcome::Failed => {
            s.eof = true;
            inputs.push(Input::Failed(peer));
        }
        ReadOutcome::WouldBlock => {
            s.readable = false;
            return moved;
        }
    }
    true
}

/// Registers interest in what this side is waiting for; true if ready now.
pub(crate) fn wants(
    core: &Connection,
    peer: Peer,
    s: &mut Side,
    held: bool,
    cx: &mut std::task::Context<'_>,
) -> bool {
    let mut ready = false;
    if !s.queue.is_empty() {
        ready |= s.stream.poll_writable(cx).is_ready();
    }
    let wants_read = s.after_flush == AfterFlush::Keep && !s.eof && budget(core, peer, held) > 0;
    if wants_read && (s.readable || s.stream.poll_readable(cx).is_ready()) {
        s.readable = true;
        ready = true;
    }
    ready
}

/// Half-closes the client and drops what it already sent, so unread
/// bytes do not turn the close into a reset that destroys the response
/// (only when bytes may wait or still come: see
/// `Connection::client_may_send`).
pub(crate) fn linger_close(c: &mut Side) {
    let _ = c.stream.get_ref().shutdown(std::net::Shutdown::Write);
    for _ in 0..4 {
        if !matches!(read(c.stream.get_ref(), READ_MAX), ReadOutcome::Data { .. }) {
            break;
        }
    }
}

thread_local! {
    /// The read buffer of the thread a task runs on: reads are synchronous
    /// (no borrow across an await), so every task of a worker shares one,
    /// as weir-mio's worker does. Small messages of many connections then
    /// share one block, and an idle task holds no read buffer at all.
    static READ_BUF: RefCell<ReadBuf> = RefCell::new(ReadBuf::default());
}

/// One read from `r` into this thread's read buffer.
fn read(r: &TcpStream, max: usize) -> ReadOutcome {
    READ_BUF.with(|b| b.borrow_mut().read_from(r, max))
}
