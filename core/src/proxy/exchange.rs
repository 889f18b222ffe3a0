//! One request/response exchange and where each side of it stands: the
//! types the connection's state machine moves through (`mod.rs` draws the
//! lifecycle).

use std::time::Instant;

use bytes::Bytes;

use super::inbox::Inbox;
use super::log::AccessRecord;
use super::UpstreamId;
use crate::balancer::ServerId;
use crate::http1::{BodyReader, HeadScanner, RequestHead, ResponseHead, Version};
use crate::middleware::Cx;
use crate::plan::Plan;

/// Where the client's current request stands.
#[derive(Debug)]
pub(super) enum ReqSide {
    /// Waiting for (or reading) a request head; no exchange.
    Head,
    /// Forwarding the request body.
    Body(BodyReader),
    /// The frontend moves the body's next verbatim bytes to the upstream
    /// itself (an [`Output::Pass`](super::Output::Pass) from the client)
    /// and reads nothing beyond them.
    Passing(crate::http1::body::Verbatim),
    /// The request was read completely; bytes that arrive now are pipelined.
    Complete,
    /// Upgraded: client bytes go to the upstream as they are.
    Tunnel,
    /// The body of a request the gateway answered itself, read and
    /// dropped so that the connection can stay open; at most this many
    /// more bytes are taken (a longer body closes the connection). Boxed:
    /// rare, and it keeps every idle connection small.
    Discard(Box<(BodyReader, u32)>),
    /// Nothing more is read from the client.
    Stopped,
}

/// Where the upstream's response stands.
#[derive(Debug)]
pub(super) enum RespSide {
    /// No final head yet (1xx may pass).
    Waiting,
    /// Forwarding the response body.
    Body(BodyReader),
    /// Upgraded tunnel.
    Tunnel,
    /// An upstream error answer being replaced by an error page: its body
    /// is dropped, then the page goes out. Boxed: rare.
    Replaced(Box<super::upstream_page::Replacement>),
}

/// What backs a [`Link`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Socket {
    /// Asked for, not connected yet: nothing was sent.
    Connecting,
    /// A new connection.
    Fresh,
    /// A connection from the keep-alive pool (the server may have closed
    /// it as we took it: the one case a request is sent again as is).
    Pooled,
}

impl Socket {
    /// True once connected (bytes may have been sent).
    pub fn is_connected(self) -> bool {
        self != Socket::Connecting
    }
}

/// The upstream connection serving the current exchange.
#[derive(Debug)]
pub(super) struct Link {
    pub id: UpstreamId,
    pub server: ServerId,
    pub socket: Socket,
    pub picked_at: Instant,
    pub unflushed: usize,
    pub head_buf: Inbox,
    pub scan: HeadScanner,
    pub got_bytes: bool,
    pub persistent: bool,
    pub reported: bool,
    /// The response body's next verbatim bytes (all its `verbatim()`)
    /// were handed out as `Output::Pass`.
    pub passing: bool,
}

/// One request/response exchange.
pub(super) struct Exchange {
    pub record: AccessRecord,
    /// The client, as `[client_ip]` resolves it (the peer unless trusted).
    pub client: std::net::IpAddr,
    /// Fields layers asked to add to the response (rate-limit headers).
    pub response_fields: Vec<(Bytes, Bytes)>,
    /// What layers hold until the exchange ends: (depth, token).
    pub held: Vec<(usize, u64)>,
    pub req: RequestHead,
    pub head_bytes: Bytes,
    /// The request's body framing (as forwarded).
    pub framing: crate::http1::Framing,
    /// Set while a layer (the one at `depth`) waits for this call's reply.
    pub parked: Option<crate::call::CallId>,
    pub head_request: bool,
    pub replayable: bool,
    pub client_version: Version,
    pub client_persistent: bool,
    pub websocket: bool,
    /// The route taken (its index in the plan), once routed.
    pub route: Option<usize>,
    /// The upstream group (its index in the plan).
    pub group: usize,
    pub key: Option<u64>,
    pub tried: Tried,
    pub depth: usize,
    pub body_seen: u64,
    pub close_after: bool,
    pub pool_retry_used: bool,
    /// The server was chosen by the request's sticky cookie.
    pub sticky_hit: bool,
    pub up: Option<Link>,
    pub resp: RespSide,
}

impl Exchange {
    /// Lets go of every buffer it refers to, so a kept box pins no
    /// received bytes, and the serialised head (which shares `wbuf`'s
    /// block) lets the next heads reuse that block.
    pub(super) fn scrub(&mut self) {
        self.record.method = Bytes::new();
        self.record.target = Bytes::new();
        self.record.route = Bytes::new();
        self.record.request_id = Bytes::new();
        self.record.principal = Bytes::new();
        self.record.host = Bytes::new();
        self.record.user_agent = Bytes::new();
        if !self.response_fields.is_empty() {
            self.response_fields.clear();
        }
        self.req.method = Bytes::new();
        self.req.target = Bytes::new();
        self.req.headers.clear();
        self.head_bytes = Bytes::new();
        self.up = None;
        self.resp = RespSide::Waiting;
    }
}

/// Tells every layer that holds something for `ex` that it ended.
pub(super) fn release(plan: &Plan, ex: &mut Exchange) {
    let global = plan.global.len();
    for (depth, token) in ex.held.drain(..) {
        let layer = if depth < global {
            plan.global.get(depth)
        } else {
            ex.route
                .and_then(|r| plan.chains.get(r))
                .and_then(|c| c.get(depth - global))
        };
        if let Some(layer) = layer {
            layer.on_end(token);
        }
    }
}

/// Says how the client connection goes on after `resp`: `close`, or
/// `keep-alive` to an HTTP/1.0 client (for which closing is the default).
pub(super) fn connection_field(resp: &mut ResponseHead, close: bool, client: Version) {
    let value: &'static [u8] = match (close, client) {
        (true, _) => b"close",
        (false, Version::Http10) => b"keep-alive",
        (false, _) => return,
    };
    resp.headers
        .append(Bytes::from_static(b"Connection"), Bytes::from_static(value));
}

/// The context the layers are called with, for `client` at `now`.
pub(super) fn layer_cx<'a>(
    client: std::net::SocketAddr,
    bufs: &'a Option<Box<super::buffers::Buffers>>,
    now: Instant,
    gw: &'a mut super::Gateway,
) -> Cx<'a> {
    let mut cx = Cx::new(
        client,
        super::buffers::client_ip(bufs),
        now,
        gw.clock(),
        &mut gw.rng,
    );
    cx.trace = gw.trace.as_deref_mut();
    cx
}

/// Runs a response out through the layers `ex`'s request passed: the
/// route's, then the global chain, innermost first.
pub(super) fn unwind(plan: &Plan, ex: &Exchange, resp: &mut ResponseHead, cx: &mut Cx<'_>) {
    let global = plan.global.len();
    if let Some(chain) = ex.route.and_then(|r| plan.chains.get(r)) {
        chain.response(ex.depth.saturating_sub(global), &ex.req, resp, cx);
    }
    plan.global.response(ex.depth, &ex.req, resp, cx);
    for (n, v) in &ex.response_fields {
        resp.headers.set(n.clone(), v.clone());
    }
}

/// Most servers tried for one request.
pub(super) const MAX_TRIES: usize = crate::config::upstream::MAX_TRIES as usize;

/// The servers already tried for one request (no allocation).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Tried {
    list: [ServerId; MAX_TRIES],
    len: usize,
}

impl Tried {
    pub fn as_slice(&self) -> &[ServerId] {
        &self.list[..self.len]
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn push(&mut self, s: ServerId) {
        if self.len < MAX_TRIES {
            self.list[self.len] = s;
            self.len += 1;
        }
    }
}
