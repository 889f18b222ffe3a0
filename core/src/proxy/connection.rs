//! The connection object: inputs in, outputs out, timers and budgets.
//!
//! This file holds the state, the input dispatch, timers and the drain;
//! `exchange.rs` the exchange's types, `request.rs` turns client bytes
//! into an exchange, `response.rs` carries the upstream's answer back and
//! `ending.rs` is where every exchange ends.

use std::net::SocketAddr;
use std::time::Instant;

use std::fmt::Write as _;

use bytes::Bytes;

use super::buffers::Buffers;
use super::client_addr::ClientAddr;
use super::exchange::{Exchange, Link, ReqSide, RespSide};

use super::fault::Fault;
use super::log::AccessRecord;
use super::timer::{Timer, Timers};
use super::{Gateway, Input, Output, Peer, UpstreamId};
use crate::balancer::group::{RetryOn, UpstreamTimeouts};
use crate::balancer::Outcome;
use crate::http1::Headers;
use crate::plan::Plan;
use std::sync::Arc;

/// How long a connection stays idle before it gives back its buffers.
pub(super) const COMPACT_AFTER: std::time::Duration = std::time::Duration::from_millis(100);

/// One client connection and the upstream exchange it drives.
pub struct Connection {
    pub(super) client: ClientAddr,
    /// The plan of the current exchange (or the last one); a new request
    /// adopts the gateway's plan in force.
    pub(super) plan: Arc<Plan>,
    /// Buffers of a busy connection; `None` once an idle one compacted.
    pub(super) bufs: Option<Box<Buffers>>,
    pub(super) head_start: Instant,
    pub(super) req_side: ReqSide,
    pub(super) ex: Option<Box<Exchange>>,
    pub(super) next_id: u32,
    pub(super) timers: Timers,
    pub(super) client_unflushed: usize,
    pub(super) client_eof: bool,
    pub(super) client_closed: bool,
    pub(super) draining: bool,
    pub(super) compacted: bool,
    pub(super) access_log: bool,
    /// Set when the client was closed while it may still be sending.
    pub(super) linger: bool,
    /// The listener speaks the PROXY protocol and its header has not
    /// been read yet.
    pub(super) awaiting_proxy_header: bool,
    /// The flight recorder records this connection (its recording is in
    /// `bufs`).
    pub(super) recording: bool,
}

impl Connection {
    /// The current exchange's upstream timeouts (the first group's when
    /// there is none).
    pub(super) fn upstream_timeouts(&self) -> UpstreamTimeouts {
        let group = self.ex.as_ref().map_or(0, |ex| ex.group);
        match self.plan.config.upstreams.get(group) {
            Some(g) => g.timeouts,
            None => {
                let t = &self.plan.config.timeouts;
                UpstreamTimeouts {
                    connect: t.upstream_connect,
                    response: t.upstream_response,
                    idle: t.upstream_idle,
                }
            }
        }
    }

    /// True when the current exchange's group retries on `cause` and has
    /// a try left.
    pub(super) fn retries_on(&self, cause: RetryOn) -> bool {
        let Some(ex) = &self.ex else { return false };
        let Some(spec) = self.plan.config.upstreams.get(ex.group) else {
            return false;
        };
        spec.retry_on.has(cause) && ex.tried.len() <= usize::from(spec.retries)
    }

    /// A new client connection accepted at `now` on the first listener.
    pub fn new(gw: &Gateway, client: SocketAddr, now: Instant) -> Connection {
        Connection::on_listener(gw, client, now, 0)
    }

    /// A new client connection accepted at `now` on listener `listener`
    /// (its index in `Config::listeners`, which says whether a PROXY
    /// protocol header comes first).
    pub fn on_listener(
        gw: &Gateway,
        client: SocketAddr,
        now: Instant,
        listener: usize,
    ) -> Connection {
        gw.opened.set(gw.opened.get() + 1);
        let mut timers = Timers::default();
        timers.set(
            Timer::ClientHead,
            now + gw.plan.config.timeouts.client_header,
        );
        let rec = gw.recorder.as_ref().map(|(ring, max)| {
            let wall = gw
                .clock()
                .map(|(at, wall)| wall + now.saturating_duration_since(at));
            crate::recorder::Recorder::start(ring, *max, client, now, wall)
        });
        Connection {
            recording: rec.is_some(),
            client: ClientAddr::of(client),
            plan: gw.plan.clone(),
            bufs: rec.map(|r| {
                Box::new(Buffers {
                    rec: Some(r),
                    ..Buffers::default()
                })
            }),
            head_start: now,
            req_side: ReqSide::Head,
            ex: None,
            next_id: 0,
            timers,
            client_unflushed: 0,
            client_eof: false,
            client_closed: false,
            draining: false,
            compacted: false,
            access_log: gw.access_log,
            linger: false,
            awaiting_proxy_header: gw
                .plan
                .config
                .listeners
                .get(listener)
                .is_some_and(|l| l.proxy_protocol),
        }
    }

    /// Feeds one fact. Never fails: peer faults become outputs.
    pub fn handle_input(&mut self, gw: &mut Gateway, now: Instant, input: Input) {
        if self.client_closed {
            return;
        }
        if self.bufs.is_none() && matches!(input, Input::Received(Peer::Client, _)) {
            self.bufs = Some(gw.stock.take());
        }
        if self.recording {
            self.record_input(now, &input);
        }
        match input {
            Input::Received(Peer::Client, b) => self.on_client_bytes(gw, now, b),
            Input::Received(Peer::Upstream(id), b) if self.is_current(id) => {
                self.on_upstream_bytes(gw, now, b)
            }
            Input::Closed(Peer::Client) => {
                self.client_eof = true;
                self.on_client_eof(gw, now);
            }
            Input::Failed(Peer::Client) => self.abort(gw, now, "client reset"),
            Input::Closed(Peer::Upstream(id)) if self.is_current(id) => {
                self.on_upstream_end(gw, now, false)
            }
            Input::Failed(Peer::Upstream(id)) if self.is_current(id) => {
                self.on_upstream_end(gw, now, true)
            }
            Input::Connected { id, reused } if self.is_current(id) => {
                self.on_connected(gw, now, reused)
            }
            Input::Reply { id, reply } => self.on_reply(gw, now, id, reply),
            Input::Passed(Peer::Upstream(id), n) if self.is_current(id) => {
                self.on_response_passed(gw, now, n)
            }
            Input::Passed(Peer::Client, n) => self.on_request_passed(gw, now, n),
            Input::Drained(Peer::Client) => self.client_unflushed = 0,
            Input::Drained(Peer::Upstream(id)) => {
                if let Some(l) = self.link_mut().filter(|l| l.id == id) {
                    l.unflushed = 0;
                }
            }
            // Stale upstream ids (already pooled or closed) and ticks.
            _ => {}
        }
        self.on_timers(gw, now);
        self.pump(gw, now);
    }

    /// The next action. Call until it returns [`Output::Wait`].
    pub fn poll_output(&mut self) -> Output {
        if self.recording {
            return self.poll_recorded();
        }
        self.next_output()
    }

    #[inline(always)]
    pub(super) fn next_output(&mut self) -> Output {
        match self.bufs.as_mut().and_then(|b| b.out.pop_front()) {
            Some(o) => o,
            None if self.client_closed => Output::Wait(None),
            None => Output::Wait(self.timers.next()),
        }
    }

    /// Formats the client's IP (`ip`, as resolved) for `X-Forwarded-For`
    /// unless it is already (once per connection while it stays the same,
    /// and again after a compaction dropped it). Called as an exchange
    /// begins; compaction happens only between exchanges, so every later
    /// use within the exchange finds it set.
    pub(super) fn ensure_client_ip(&mut self, ip: std::net::IpAddr) {
        let b = self.b();
        if b.client_ip.is_empty() || b.client_ip_of != Some(ip) {
            // Written into the head buffer's block: no allocation of its own.
            b.make_room();
            let w = &mut b.wbuf;
            let _ = write!(w, "{ip}");
            b.client_ip = w.split().freeze();
            b.client_ip_of = Some(ip);
        }
    }

    /// True once an idle connection has released its buffers (a frontend
    /// may then release its own for this connection).
    pub fn is_compact(&self) -> bool {
        self.compacted && self.is_idle()
    }

    /// True between requests: no exchange in flight and nothing buffered.
    pub fn is_idle(&self) -> bool {
        self.ex.is_none() && self.cin_len() == 0 && !self.client_closed
    }

    /// Most bytes the frontend may read from `peer` now; 0 means paused.
    pub fn read_budget(&self, peer: Peer) -> usize {
        if self.client_closed {
            return 0;
        }
        let window = self.plan.config.limits.window;
        match peer {
            Peer::Client => match &self.req_side {
                ReqSide::Stopped => 0,
                ReqSide::Head => {
                    (self.plan.config.limits.max_request_head + 1).saturating_sub(self.cin_len())
                }
                ReqSide::Complete => self
                    .plan
                    .config
                    .limits
                    .max_request_head
                    .saturating_sub(self.cin_len()),
                ReqSide::Body(_) | ReqSide::Tunnel => match self.link() {
                    Some(l) if l.socket.is_connected() => {
                        window.saturating_sub(l.unflushed + self.cin_len())
                    }
                    _ => 0,
                },
                ReqSide::Discard(_) => window.saturating_sub(self.cin_len()),
                // The frontend moves these bytes itself.
                ReqSide::Passing(_) => 0,
            },
            Peer::Upstream(id) => {
                let Some(ex) = &self.ex else { return 0 };
                match &ex.up {
                    Some(l) if l.id == id && l.socket.is_connected() => match ex.resp {
                        RespSide::Waiting => (self.plan.config.limits.max_response_head + 1)
                            .saturating_sub(l.head_buf.len()),
                        RespSide::Body(_) | RespSide::Tunnel => {
                            window.saturating_sub(self.client_unflushed)
                        }
                        // Dropped as it comes: nothing piles up.
                        RespSide::Replaced(_) => window,
                    },
                    _ => 0,
                }
            }
        }
    }

    /// Graceful shutdown: closes the client now if it is between requests,
    /// else after the current response (sent with `Connection: close`).
    /// True when an exchange is in flight (it is left to finish).
    pub fn shutdown(&mut self) -> bool {
        if self.client_closed {
            return false;
        }
        self.draining = true;
        if self.ex.is_none() && matches!(self.req_side, ReqSide::Head) {
            self.close_client();
        }
        self.ex.is_some()
    }

    /// The grace period after [`Connection::shutdown`] is over: an exchange
    /// still in flight is cut (its upstream and the client closed, its
    /// access record emitted with the note `cut: grace period over`, status
    /// 0 if nothing was answered yet). True when one was cut.
    pub fn cut(&mut self, gw: &mut Gateway, now: Instant) -> bool {
        if self.client_closed {
            return false;
        }
        let in_flight = self.ex.is_some();
        if in_flight {
            self.abort(gw, now, "cut: grace period over");
        }
        if !self.client_closed {
            self.close_client();
        }
        in_flight
    }

    /// Bytes the connection holds in its own buffers (unparsed client and
    /// upstream bytes): what the fuzz targets bound.
    pub fn buffered(&self) -> usize {
        self.cin_len() + self.link().map_or(0, |l| l.head_buf.len())
    }

    /// Bytes held in all: [`Connection::buffered`] plus the bytes of
    /// sends not yet taken by the frontend (tests and fuzz bounds).
    pub fn held(&self) -> usize {
        let queued = self.bufs.as_ref().map_or(0, |b| {
            b.out
                .iter()
                .map(|o| match o {
                    Output::Send(_, bytes) => bytes.len(),
                    _ => 0,
                })
                .sum()
        });
        self.buffered() + queued
    }

    /// True when the client was closed while it may still be sending (an
    /// unread request body, pipelined or partial requests): the frontend
    /// should half-close and drain before closing, or the kernel answers
    /// the late bytes with a reset that can destroy the response. False
    /// when its request was complete: a plain close is enough.
    pub fn client_may_send(&self) -> bool {
        self.linger
    }

    /// The client's address as the connection was opened with.
    pub fn client_addr(&self) -> SocketAddr {
        self.client.get()
    }

    /// The plan this connection is on: its `[log] format` writes the
    /// connection's access records, and it names their upstream group.
    pub fn plan(&self) -> &crate::plan::Plan {
        &self.plan
    }

    /// True once the client is closed and every output was taken.
    pub fn is_finished(&self) -> bool {
        self.client_closed && self.bufs.as_ref().is_none_or(|b| b.out.is_empty())
    }

    // ---- helpers shared by request.rs and response.rs ----

    /// An empty header list, reusing an earlier one's memory if there is one.
    pub(super) fn spare_headers(&mut self) -> Headers {
        self.b().spare_headers()
    }

    /// Keeps a header list's memory for a later head (at most two).
    pub(super) fn recycle_headers(&mut self, h: Headers) {
        self.b().recycle_headers(h);
    }

    /// Boxes an exchange, reusing the previous request's box if there is one.
    pub(super) fn boxed(&mut self, ex: Exchange) -> Box<Exchange> {
        match self.b().spare_ex.take() {
            Some(mut b) => {
                *b = ex;
                b
            }
            None => Box::new(ex),
        }
    }

    pub(super) fn link(&self) -> Option<&Link> {
        self.ex.as_ref().and_then(|e| e.up.as_ref())
    }

    pub(super) fn link_mut(&mut self) -> Option<&mut Link> {
        self.ex.as_mut().and_then(|e| e.up.as_mut())
    }

    pub(super) fn is_current(&self, id: UpstreamId) -> bool {
        self.link().is_some_and(|l| l.id == id)
    }

    /// Hands bytes to a peer, counting them against its window.
    pub(super) fn send(&mut self, peer: Peer, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        match peer {
            Peer::Client => {
                self.client_unflushed += bytes.len();
                if let Some(ex) = &mut self.ex {
                    ex.record.bytes_out += bytes.len() as u64;
                }
            }
            Peer::Upstream(_) => {
                if let Some(l) = self.link_mut() {
                    l.unflushed += bytes.len();
                }
            }
        }
        self.b().out.push_back(Output::Send(peer, bytes));
    }

    /// Reports the current link's outcome to its group, once per pick.
    pub(super) fn report(&mut self, gw: &mut Gateway, now: Instant, outcome: Outcome) {
        let Some(ex) = &mut self.ex else { return };
        let Some(l) = &mut ex.up else { return };
        if !l.reported {
            l.reported = true;
            let outcome = match outcome {
                Outcome::Success { .. } => Outcome::Success {
                    latency: now.saturating_duration_since(l.picked_at),
                },
                o => o,
            };
            if let Some(g) = gw.group_of(&self.plan, ex.group) {
                g.report(l.server, outcome, now);
            }
        }
    }

    /// Lets go of the current link: to the pool when `reuse`, else closed.
    pub(super) fn release_link(&mut self, gw: &mut Gateway, now: Instant, reuse: bool) {
        self.report(gw, now, Outcome::Abandoned);
        if let Some(l) = self.ex.as_mut().and_then(|e| e.up.take()) {
            self.b().out.push_back(if reuse {
                Output::Pool(l.id)
            } else {
                Output::Close(Peer::Upstream(l.id))
            });
        }
        self.timers.clear(Timer::UpstreamConnect);
        self.timers.clear(Timer::UpstreamResponse);
        self.timers.clear(Timer::UpstreamIdle);
        self.timers.clear(Timer::TunnelIdle);
    }

    /// Reads nothing more from the client. Between requests, or after a
    /// complete request, the client has nothing more to send; otherwise
    /// (an unread body, buffered or partial requests) more bytes may
    /// still be on their way, and the close should linger.
    pub(super) fn stop_reading(&mut self) {
        if !matches!(self.req_side, ReqSide::Stopped) {
            self.linger =
                self.cin_len() != 0 || !matches!(self.req_side, ReqSide::Head | ReqSide::Complete);
            self.req_side = ReqSide::Stopped;
        }
    }

    /// Closes the client after what was sent; nothing more happens.
    pub(super) fn close_client(&mut self) {
        self.stop_reading();
        self.b().out.push_back(Output::Close(Peer::Client));
        self.client_closed = true;
        self.timers.clear_all();
        if let Some(b) = &mut self.bufs {
            b.cin.clear();
        }
    }

    fn on_client_eof(&mut self, gw: &mut Gateway, now: Instant) {
        match self.req_side {
            // Request complete: answer it and whatever complete requests
            // are still buffered, then close (a half-close is not an abort).
            ReqSide::Complete => {}
            // The answer was sent; the rest of its body will never come.
            ReqSide::Discard(_) => self.close_client(),
            ReqSide::Head if self.ex.is_none() => {
                if self.cin_len() == 0 {
                    self.close_client();
                } else {
                    // A partial head that will never complete.
                    self.close_client();
                }
            }
            _ => {
                if let Some(ex) = &mut self.ex {
                    if ex.record.status == 0 {
                        ex.record.status = 499;
                    }
                }
                self.abort(gw, now, "client closed");
            }
        }
    }

    fn on_timers(&mut self, gw: &mut Gateway, now: Instant) {
        while !self.client_closed {
            let Some(t) = self.timers.expired(now) else {
                break;
            };
            match t {
                Timer::ClientHead => {
                    if self.cin_len() == 0 {
                        self.close_client();
                    } else {
                        let record = AccessRecord::new(self.client.get(), self.head_start);
                        let head = crate::http1::parse::begins_head_request(self.b().cin.bytes());
                        self.reject(gw, now, Fault::ClientTimeout, record, head);
                    }
                }
                Timer::ClientIdle if !self.compacted && self.is_idle() => {
                    self.compact(gw);
                    let rest = self
                        .plan
                        .config
                        .timeouts
                        .client_idle
                        .saturating_sub(COMPACT_AFTER);
                    self.timers.set(Timer::ClientIdle, now + rest);
                }
                Timer::ClientIdle => self.close_client(),
                // Answered already: a body that stalls just closes.
                Timer::ClientBody if matches!(self.req_side, ReqSide::Discard(_)) => {
                    self.close_client()
                }
                Timer::ClientBody => self.fail(gw, now, Fault::ClientTimeout),
                Timer::UpstreamConnect => {
                    self.report(gw, now, Outcome::Failure);
                    self.retry(gw, now, Fault::BadGateway("upstream connect timeout"));
                }
                Timer::UpstreamResponse => {
                    self.report(gw, now, Outcome::Failure);
                    if self.retries_on(RetryOn::TIMEOUT) {
                        self.retry(gw, now, Fault::UpstreamTimeout);
                    } else {
                        self.fail(gw, now, Fault::UpstreamTimeout);
                    }
                }
                Timer::UpstreamIdle if self.replacing() => self.send_page(gw, now, false),
                Timer::UpstreamIdle => {
                    self.report(gw, now, Outcome::Failure);
                    self.abort(gw, now, "upstream body timeout");
                }
                Timer::TunnelIdle => self.abort(gw, now, "tunnel idle"),
                Timer::Call => self.call_expired(gw, now),
            }
        }
    }

    /// Moves buffered client bytes forward as far as they go.
    fn pump(&mut self, gw: &mut Gateway, now: Instant) {
        loop {
            if self.client_closed {
                return;
            }
            let progressed = match self.req_side {
                ReqSide::Head if self.ex.is_none() && self.cin_len() != 0 => {
                    let started = self.start_request(gw, now);
                    if !started && self.client_eof {
                        // A partial head the client will never finish.
                        self.close_client();
                    }
                    started
                }
                ReqSide::Head if self.ex.is_none() && self.client_eof => {
                    self.close_client();
                    false
                }
                ReqSide::Body(_)
                    if self.cin_len() != 0
                        && self.link().is_some_and(|l| l.socket.is_connected()) =>
                {
                    let b = self.b().cin.take();
                    self.forward_client_body(gw, now, b);
                    true
                }
                ReqSide::Discard(_) if self.cin_len() != 0 => {
                    let b = self.b().cin.take();
                    self.discard_body(now, b);
                    true
                }
                _ => false,
            };
            if !progressed {
                return;
            }
        }
    }
}
