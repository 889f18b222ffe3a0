//! An exchange's way inward: its layers (global, then the route's),
//! routing between them, parking on a call out of the core and resuming
//! on its reply, and the head that goes upstream.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::connection::Connection;
use super::exchange::{layer_cx, Exchange, ReqSide};
use super::fault::Fault;
use super::rewrite::{strip_prefix, upstream_head};
use super::route::Found;
use super::timer::Timer;
use super::{Gateway, Output};
use crate::call::{Call, CallId, Reply};
use crate::config::PathMatch;
#[cfg(feature = "test-mutants")]
use crate::http1::Framing;
use crate::middleware::{Answer, Flow};

impl Connection {
    /// Runs `ex` through its layers from where it stands (`ex.depth`;
    /// with `reply`, the parked layer there gets it first), routes it and
    /// asks for its first server, or answers it, or parks it on a call.
    pub(super) fn proceed(
        &mut self,
        gw: &mut Gateway,
        now: Instant,
        mut ex: Box<Exchange>,
        mut reply: Option<Reply>,
    ) {
        let global = self.plan.global.len();
        if ex.route.is_none() {
            let flow = self.run_layers(gw, now, &mut ex, None, reply.take());
            match flow {
                Flow::Next => {}
                Flow::Answer(a) => {
                    ex.record.answered_by = self.plan.layer_kind(None, ex.depth);
                    self.answer_early(gw, now, ex, a);
                    return;
                }
                Flow::Call { call, deadline } => return self.park(now, ex, call, deadline),
            }
            if let Some(t) = gw.trace.as_deref_mut() {
                t.routes(&self.plan, &ex.req);
            }
            let route = match self.plan.router.find(&ex.req) {
                Found::Route(r) => r,
                Found::WrongMethod(allow) => {
                    let mut head = Fault::MethodNotAllowed.head();
                    head.headers.set(Bytes::from_static(b"Allow"), allow);
                    let body = Fault::MethodNotAllowed.body();
                    ex.record.note = "method not allowed by the route";
                    self.answer_early(gw, now, ex, Answer { head, body });
                    return;
                }
                Found::Nothing => {
                    let (head, body) = (Fault::NoRoute.head(), Fault::NoRoute.body());
                    ex.record.note = Fault::NoRoute.reason();
                    self.answer_early(gw, now, ex, Answer { head, body });
                    return;
                }
            };
            ex.route = Some(route);
            ex.record.route = gw.route_name(&self.plan, route);
        }
        let Some(route) = ex.route else { return };
        match self.run_layers(gw, now, &mut ex, Some(route), reply) {
            Flow::Next => {}
            Flow::Answer(a) => {
                ex.record.answered_by = self.plan.layer_kind(Some(route), ex.depth - global);
                self.answer_early(gw, now, ex, a);
                return;
            }
            Flow::Call { call, deadline } => return self.park(now, ex, call, deadline),
        }
        self.forward(gw, now, ex, route);
    }

    /// Runs the global layers (`route` None) or the route's from where
    /// `ex` stands, gathering what they leave in the context.
    fn run_layers(
        &mut self,
        gw: &mut Gateway,
        now: Instant,
        ex: &mut Exchange,
        route: Option<usize>,
        reply: Option<Reply>,
    ) -> Flow {
        let global = self.plan.global.len();
        let plan = &self.plan;
        let (chain, base) = match route {
            None => (&plan.global, 0),
            Some(r) => match plan.chains.get(r) {
                Some(c) => (c, global),
                None => return Flow::Next,
            },
        };
        let start = ex.depth.saturating_sub(base);
        let client = SocketAddr::new(ex.client, self.client.port());
        let mut cx = layer_cx(client, &self.bufs, now, gw);
        cx.peer = self.client.ip();
        cx.route = &ex.record.route;
        if !ex.record.principal.is_empty() {
            cx.principal = Some(ex.record.principal.clone());
        }
        cx.depth_base = base;
        let (depth, flow) = chain.resume(start, reply, &mut ex.req, &mut cx);
        if let Some(id) = cx.request_id.take() {
            ex.record.request_id = id;
        }
        if let Some(who) = cx.principal.take() {
            ex.record.principal = who;
        }
        if let Some(note) = cx.note.take() {
            ex.record.note = note;
        }
        if !cx.response_fields.is_empty() {
            ex.response_fields.append(&mut cx.response_fields);
        }
        if !cx.held.is_empty() {
            ex.held.append(&mut cx.held);
        }
        ex.depth = base + depth;
        flow
    }

    /// Parks `ex` until the reply to `call` or `deadline`; the request
    /// body (if any) waits too, its timer stopped.
    fn park(&mut self, now: Instant, mut ex: Box<Exchange>, call: Call, deadline: Duration) {
        let id = CallId(self.next_id);
        self.next_id += 1;
        ex.parked = Some(id);
        self.timers.clear(Timer::ClientBody);
        self.timers.set(Timer::Call, now + deadline);
        self.ex = Some(ex);
        self.b().out.push_back(Output::Call {
            id,
            call: Box::new(call),
        });
    }

    /// The reply to a parked exchange's call, or its deadline: the
    /// waiting layer decides and the exchange goes on from there. Replies
    /// for another call, or for an exchange that already ended, are dropped.
    pub(super) fn on_reply(&mut self, gw: &mut Gateway, now: Instant, id: CallId, reply: Reply) {
        let waiting = self
            .ex
            .as_ref()
            .and_then(|ex| ex.parked)
            .is_some_and(|p| p == id);
        if !waiting {
            return;
        }
        let Some(mut boxed) = self.ex.take() else {
            return;
        };
        boxed.parked = None;
        self.timers.clear(Timer::Call);
        if matches!(self.req_side, ReqSide::Body(_)) {
            self.timers.set(
                Timer::ClientBody,
                now + self.plan.config.timeouts.client_body,
            );
        }
        self.proceed(gw, now, boxed, Some(reply));
    }

    /// The call of the parked exchange ran out of time.
    pub(super) fn call_expired(&mut self, gw: &mut Gateway, now: Instant) {
        if let Some(id) = self.ex.as_ref().and_then(|ex| ex.parked) {
            self.on_reply(gw, now, id, Reply::Expired);
        }
    }

    /// The route's own settings, the head as it goes upstream, and the
    /// first server.
    fn forward(&mut self, gw: &mut Gateway, now: Instant, mut ex: Box<Exchange>, route: usize) {
        let spec = &self.plan.router.routes()[route];
        if spec.strip_prefix {
            if let PathMatch::Prefix(p) = &spec.path {
                ex.req.target = strip_prefix(&ex.req.target, p);
            }
        }
        if let Some(h) = &spec.host_rewrite {
            ex.req
                .headers
                .set(Bytes::from_static(b"Host"), Bytes::from(h.clone()));
        }
        ex.group = spec.upstream;
        if !ex.req.headers.contains("host") {
            // An HTTP/1.0 request may lack Host; HTTP/1.1 upstream needs
            // one: name the group's first server (as nginx names its
            // upstream by default).
            if let Some(first) = self.plan.config.upstreams[ex.group].servers.first() {
                ex.req.headers.append(
                    Bytes::from_static(b"Host"),
                    Bytes::from(first.0.to_string()),
                );
            }
        }
        let hash_key = self.plan.config.upstreams[ex.group].hash_key.as_ref();
        let client = SocketAddr::new(ex.client, self.client.port());
        ex.key = hash_key.and_then(|k| k.of(&ex.req, client));
        if ex.key.is_none() && hash_key.is_some() {
            ex.record.note = "no hash key: round-robin";
        }
        #[cfg(feature = "test-mutants")]
        let framing = match (self.plan.config.mutant, ex.framing) {
            (crate::mutant::Mutant::DropContentLength, Framing::Length(_)) => Framing::None,
            (_, f) => f,
        };
        #[cfg(not(feature = "test-mutants"))]
        let framing = ex.framing;
        let b = self.b();
        b.make_room();
        let wbuf = &mut b.wbuf;
        upstream_head(wbuf, &ex.req, framing, ex.websocket);
        ex.head_bytes = wbuf.split().freeze();
        self.ex = Some(ex);
        self.connect_next(gw, now, Fault::NoServer, true);
    }
}
