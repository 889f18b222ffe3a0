//! The per-connection proxy: events in, actions out.
//!
//! A [`Connection`] is one client connection and the upstream exchange it
//! drives. The frontend feeds it [`Input`]s with the current time and
//! drains [`Output`]s until [`Output::Wait`], which also names the next
//! deadline. Per-worker state (the plan in force, balancers, health) is
//! the [`Gateway`], passed in explicitly on every call; each exchange
//! pins the [`crate::Plan`] it started with.
//!
//! Lifecycle of one exchange (client side × upstream side):
//!
//! ```text
//!  client:   Head ──head parsed──► Body ──body done──► Complete ──response done──► Head
//!              │                      └─► Passing ─passed─┘           (keep-alive)    │
//!              └────────── fault / close ──► Stopped ◄──────── close_after ─────────┘
//!  upstream:        Connect ─► Connecting ─Connected─► Waiting ─final head─► Body ─► Done
//!                                  │ refused/timeout      │ 1xx: forward, stay  │
//!                                  └─► next server        └─► 101 ─► Tunnel     └─► Pool/Close
//! ```

mod buffers;
mod client_addr;
mod connection;
mod ending;
mod eviction;
mod exchange;
mod fault;
mod gateway;
mod inbox;
mod inward;
mod local_answer;
mod log;
pub mod log_format;
mod pass;
mod recording;
mod request;
mod response;
mod rewrite;
mod route;
pub mod timer;
mod upstream_page;

pub use connection::Connection;
pub use eviction::Worth;
pub use fault::{Fault, Origin};
pub use gateway::{Gateway, ServerMarks};
pub use log::AccessRecord;
pub use log_format::LogFormat;
pub use route::{Found, Router};

use std::net::SocketAddr;

use bytes::Bytes;

use crate::call::{Call, CallId, Reply};

/// An upstream connection of one [`Connection`]; never reused within it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UpstreamId(pub u32);

/// One side of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Peer {
    /// The client.
    Client,
    /// An upstream connection.
    Upstream(UpstreamId),
}

/// A fact the frontend feeds in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Bytes read from that peer (at most its `read_budget`).
    Received(Peer, Bytes),
    /// The peer closed its sending side (read returned 0).
    Closed(Peer),
    /// Reset or I/O error; for an upstream still connecting, connect failed.
    Failed(Peer),
    /// A socket (fresh, or from the pool when `reused`) now backs `id`.
    Connected {
        /// Which upstream.
        id: UpstreamId,
        /// True when it came from the keep-alive pool.
        reused: bool,
    },
    /// Everything handed out for that peer has been written.
    Drained(Peer),
    /// This many more bytes of an [`Output::Pass`] from that peer were
    /// read and handed to the pass's destination (after everything sent
    /// to it before).
    Passed(Peer, u64),
    /// How an [`Output::Call`] ended (a reply for an exchange that is
    /// gone, or a stale id, is dropped).
    Reply {
        /// The call's id.
        id: CallId,
        /// Its reply, or why there is none.
        reply: Reply,
    },
    /// Only time has passed.
    Tick,
}

/// An action for the frontend.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub enum Output {
    /// Write these bytes to the peer, after what was sent before.
    Send(Peer, Bytes),
    /// Open a socket to `addr` for `id`; from the pool when `pooled_ok`.
    Connect {
        /// The id the socket will be known by.
        id: UpstreamId,
        /// The server's address.
        addr: SocketAddr,
        /// False after a pooled connection failed: open a fresh one.
        pooled_ok: bool,
    },
    /// The upstream's response is complete and it may be reused: flush,
    /// then give the socket to the pool (keyed by its address).
    Pool(UpstreamId),
    /// Flush what was sent, then close the peer.
    Close(Peer),
    /// The next `len` bytes from `from` go to `to` verbatim, after what
    /// was sent to `to` before: the frontend moves them itself (weir-mio
    /// with `splice(2)`) without feeding them in as `Received`, reports
    /// each piece as [`Input::Passed`], and reads nothing beyond `len`.
    /// The core keeps the framing, the timers and the accounting. Only
    /// handed out when the frontend turned pass-through on
    /// ([`Gateway::set_pass_through`]).
    Pass {
        /// Where the bytes come from.
        from: Peer,
        /// Where they go.
        to: Peer,
        /// How many.
        len: u64,
    },
    /// One access record per exchange.
    Log(Box<AccessRecord>),
    /// Make this outside call and feed its reply back as
    /// [`Input::Reply`] (the core keeps the deadline: a reply after it is
    /// dropped). Boxed: rare, and it keeps every output small.
    Call {
        /// The id to answer with.
        id: CallId,
        /// What to ask.
        call: Box<Call>,
    },
    /// Nothing more to do now; feed `Tick` at this time (None: no timer).
    Wait(Option<std::time::Instant>),
}
