//! The client's side of an exchange: from bytes to a routed request, a
//! picked server, and a forwarded body.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;

use super::connection::Connection;
use super::exchange::{Exchange, Link, ReqSide, RespSide, Socket, MAX_TRIES};
use super::fault::Fault;
use super::log::AccessRecord;
use super::rewrite::strip_hop_by_hop;
use super::timer::Timer;
use super::{Gateway, Output, Peer, UpstreamId};
use crate::balancer::group::RetryOn;
use crate::balancer::key::cookie;
use crate::balancer::Pick;
use crate::http1::parse::{begins_head_request, could_start_request};
use crate::http1::path::normalise;
use crate::http1::proxy_protocol;
use crate::http1::{
    parse::HeadError, parse_request_into, request_framing, BodyReader, Framing, HeadScanner,
    Version,
};

impl Connection {
    pub(super) fn on_client_bytes(&mut self, gw: &mut Gateway, now: Instant, b: Bytes) {
        match self.req_side {
            ReqSide::Stopped => {}
            ReqSide::Tunnel => {
                if let Some(id) = self.link().map(|l| l.id) {
                    self.timers.set(
                        Timer::TunnelIdle,
                        now + self.plan.config.timeouts.tunnel_idle,
                    );
                    if let Some(ex) = &mut self.ex {
                        ex.record.bytes_in += b.len() as u64;
                    }
                    self.send(Peer::Upstream(id), b);
                }
            }
            ReqSide::Body(_) => {
                self.timers.set(
                    Timer::ClientBody,
                    now + self.plan.config.timeouts.client_body,
                );
                if self.cin_len() == 0 && self.link().is_some_and(|l| l.socket.is_connected()) {
                    self.forward_client_body(gw, now, b);
                } else {
                    self.b().cin.push(b);
                }
            }
            // The frontend moves these bytes itself: reading them too is
            // its error, and the exchange cannot go on.
            ReqSide::Passing(_) => {
                debug_assert!(false, "client bytes read during a pass");
                self.abort(gw, now, "client bytes read during a pass");
            }
            ReqSide::Head => {
                if self.cin_len() == 0 && self.timers.is_set(Timer::ClientIdle) {
                    self.timers.clear(Timer::ClientIdle);
                    self.timers.set(
                        Timer::ClientHead,
                        now + self.plan.config.timeouts.client_header,
                    );
                    self.head_start = now;
                }
                self.b().cin.push(b);
            }
            ReqSide::Complete | ReqSide::Discard(_) => self.b().cin.push(b),
        }
    }

    /// Tries to turn the buffered bytes into an exchange. Returns true
    /// when something happened (an exchange started or a fault answered).
    pub(super) fn start_request(&mut self, gw: &mut Gateway, now: Instant) -> bool {
        if !std::sync::Arc::ptr_eq(&self.plan, &gw.plan) {
            // A reload since the last exchange: this one takes the new plan.
            self.plan = gw.plan.clone();
        }
        if self.awaiting_proxy_header && !self.read_proxy_header(now) {
            return self.client_closed;
        }
        let limit = self.plan.config.limits.max_request_head;
        let b = self.b();
        let scanned = b.scan.scan(b.cin.bytes(), limit);
        // Bytes that cannot begin a request are refused as soon as they
        // are seen, whatever else the scan found so far (so the answer
        // does not depend on how reads were cut).
        if matches!(scanned, Ok(None) | Err(HeadError::TooLarge))
            && !could_start_request(b.cin.bytes())
        {
            let record = AccessRecord::new(self.client.get(), self.head_start);
            self.reject(
                gw,
                now,
                Fault::BadRequest("not an HTTP request"),
                record,
                false,
            );
            return true;
        }
        let span = match scanned {
            Ok(Some(span)) => span,
            Ok(None) => return false,
            Err(e) => {
                let head = begins_head_request(b.cin.bytes());
                let record = AccessRecord::new(self.client.get(), self.head_start);
                self.reject(gw, now, e.into(), record, head);
                return true;
            }
        };
        let _ = b.cin.split_to(span.skip);
        let head = b.cin.split_to(span.end - span.skip);
        b.scan = HeadScanner::default();
        self.timers.clear(Timer::ClientHead);
        self.timers.clear(Timer::ClientIdle);
        let mut record = AccessRecord::new(self.client.get(), self.head_start);
        record.bytes_in = span.end as u64;
        let is_head = begins_head_request(&head);
        let spare = self.spare_headers();
        let mut req = match parse_request_into(&head, spare) {
            Ok(r) => r,
            Err(e) => {
                record.target = super::log::arrived(&head);
                self.reject(gw, now, e.into(), record, is_head);
                return true;
            }
        };
        record.method = req.method.clone();
        record.target = req.target.clone();
        record.version = Some(req.version);
        let framing = match request_framing(req.version, &req.headers) {
            Ok(f) => f,
            Err(e) => {
                self.reject(gw, now, Fault::BadRequest(e.reason()), record, is_head);
                return true;
            }
        };
        if &req.method[..] == b"CONNECT" {
            self.reject(gw, now, Fault::MethodNotAllowed, record, is_head);
            return true;
        }
        // Routing and the upstream see the same, normalised path.
        match normalise(&req.target, &self.plan.config.paths) {
            Ok(None) => {}
            Ok(Some(t)) => req.target = t,
            Err(e) => {
                self.reject(gw, now, Fault::BadRequest(e.reason()), record, is_head);
                return true;
            }
        }
        let max_body = self.plan.config.limits.max_request_body;
        if let Framing::Length(n) = framing {
            if max_body > 0 && n > max_body {
                self.reject(gw, now, Fault::BodyTooLarge, record, is_head);
                return true;
            }
        }
        #[cfg(feature = "test-mutants")]
        let kept = self.mutant_kept_fields(&req);
        let opts = strip_hop_by_hop(&mut req.headers);
        #[cfg(feature = "test-mutants")]
        for (n, v) in kept {
            req.headers.append(n, v);
        }
        if req.version == Version::Http10 {
            req.headers.remove(b"expect");
        }
        let has_body = !matches!(framing, Framing::None | Framing::Length(0));
        let websocket = opts.websocket && req.version == Version::Http11 && !has_body;
        self.req_side = if has_body {
            self.timers.set(
                Timer::ClientBody,
                now + self.plan.config.timeouts.client_body,
            );
            ReqSide::Body(BodyReader::new(framing, false))
        } else {
            ReqSide::Complete
        };
        let client = self
            .plan
            .config
            .client_ip
            .resolve(self.client.ip(), &req.headers);
        self.ensure_client_ip(client);
        record.client = SocketAddr::new(client, self.client.port());
        if let Some(t) = gw.trace.as_deref_mut() {
            t.head(&req, framing, client);
        }
        let ex = self.boxed(Exchange {
            response_fields: Vec::new(),
            held: Vec::new(),
            record,
            client,
            head_bytes: Bytes::new(),
            framing,
            parked: None,
            head_request: &req.method[..] == b"HEAD",
            replayable: req.is_idempotent() && !has_body,
            client_version: req.version,
            client_persistent: opts.persistent(req.version),
            websocket,
            route: None,
            group: 0,
            key: None,
            tried: Default::default(),
            depth: 0,
            body_seen: 0,
            close_after: false,
            pool_retry_used: false,
            sticky_hit: false,
            up: None,
            resp: RespSide::Waiting,
            req,
        });
        self.proceed(gw, now, ex, None);
        true
    }

    /// Takes the PROXY header off the start of the connection: true when
    /// it was read (the client is who it names); false while more bytes
    /// are needed, or after closing the connection over a malformed one.
    fn read_proxy_header(&mut self, now: Instant) -> bool {
        match proxy_protocol::parse(self.b().cin.bytes()) {
            proxy_protocol::Header::Partial => false,
            proxy_protocol::Header::Invalid => {
                let mut record = AccessRecord::new(self.client.get(), self.head_start);
                record.target = super::log::arrived(self.b().cin.bytes());
                record.note = "malformed PROXY protocol header";
                record.end = now;
                if self.access_log {
                    self.b().out.push_back(Output::Log(Box::new(record)));
                }
                self.close_client();
                false
            }
            proxy_protocol::Header::Done(n, addr) => {
                let _ = self.b().cin.split_to(n);
                if let Some(addr) = addr {
                    self.client = super::client_addr::ClientAddr::of(addr);
                }
                self.awaiting_proxy_header = false;
                true
            }
        }
    }

    /// Picks the next untried server and asks for a connection to it, or
    /// answers `fallback` when there is none left.
    pub(super) fn connect_next(
        &mut self,
        gw: &mut Gateway,
        now: Instant,
        fallback: Fault,
        pooled_ok: bool,
    ) {
        let Some(ex) = &mut self.ex else { return };
        let tries = self
            .plan
            .config
            .upstreams
            .get(ex.group)
            .map_or(1, |g| usize::from(g.retries) + 1);
        // A reload that changed this exchange's group since it started
        // leaves no group to retry in: the fallback answer.
        // Taken out while the group is borrowed (`explain` only).
        let mut trace = gw.trace.take();
        let group = gw.group_of(&self.plan, ex.group);
        let sticky = self
            .plan
            .config
            .upstreams
            .get(ex.group)
            .and_then(|g| g.sticky.as_deref());
        let pick = match group {
            Some(g) if ex.tried.len() < tries.min(MAX_TRIES) => {
                if let Some(t) = trace.as_deref_mut() {
                    t.before_pick(g, ex.key, now);
                }
                // A sticky cookie naming a usable server wins, else the balancer.
                let held = sticky
                    .and_then(|name| cookie(&ex.req, name))
                    .and_then(|id| g.pick_sticky(id, ex.tried.as_slice(), now));
                ex.sticky_hit = held.is_some();
                held.or_else(|| g.pick(ex.key, ex.tried.as_slice(), now))
                    .map(|p| (p, g.addr(p.server())))
            }
            _ => None,
        };
        if let Some(mut t) = trace {
            t.picked(
                ex.sticky_hit,
                pick.map(|(p, a)| (matches!(p, Pick::FailOpen(_)), a)),
            );
            gw.trace = Some(t);
        }
        let Some((pick, addr)) = pick else {
            self.fail(gw, now, fallback);
            return;
        };
        if let Pick::FailOpen(_) = pick {
            ex.record.note = crate::metrics::FAIL_OPEN;
        }
        let server = pick.server();
        ex.tried.push(server);
        ex.record.tries += 1;
        ex.record.upstream = Some(addr);
        ex.record.group = Some(ex.group);
        self.open_link(now, server, addr, pooled_ok);
    }

    /// Asks the frontend for a connection to `server` under a new id.
    pub(super) fn open_link(
        &mut self,
        now: Instant,
        server: crate::balancer::ServerId,
        addr: std::net::SocketAddr,
        pooled_ok: bool,
    ) {
        let id = UpstreamId(self.next_id);
        self.next_id += 1;
        if let Some(ex) = &mut self.ex {
            ex.up = Some(Link {
                id,
                server,
                socket: Socket::Connecting,
                picked_at: now,
                unflushed: 0,
                head_buf: super::inbox::Inbox::default(),
                scan: HeadScanner::default(),
                got_bytes: false,
                persistent: false,
                reported: false,
                passing: false,
            });
        }
        self.b().out.push_back(Output::Connect {
            id,
            addr,
            pooled_ok,
        });
        self.timers.set(
            Timer::UpstreamConnect,
            now + self.upstream_timeouts().connect,
        );
    }

    /// The current link failed before any response byte: try another
    /// server if the request can be sent again, else answer `fault`.
    pub(super) fn retry(&mut self, gw: &mut Gateway, now: Instant, fault: Fault) {
        let Some(ex) = &self.ex else { return };
        let sent = ex.up.as_ref().is_some_and(|l| l.socket.is_connected());
        let cause = if sent {
            RetryOn::RESET
        } else {
            RetryOn::CONNECT
        };
        let cause = if fault == Fault::UpstreamTimeout {
            RetryOn::TIMEOUT
        } else {
            cause
        };
        if (sent && !ex.replayable) || !self.retries_on(cause) {
            self.fail(gw, now, fault);
            return;
        }
        self.release_link(gw, now, false);
        self.connect_next(gw, now, fault, true);
    }

    pub(super) fn on_connected(&mut self, gw: &Gateway, now: Instant, reused: bool) {
        let Some(ex) = &mut self.ex else { return };
        let Some(l) = &mut ex.up else { return };
        l.socket = if reused {
            Socket::Pooled
        } else {
            Socket::Fresh
        };
        let id = l.id;
        let head = ex.head_bytes.clone();
        self.timers.clear(Timer::UpstreamConnect);
        self.send(Peer::Upstream(id), head);
        if matches!(self.req_side, ReqSide::Complete) {
            self.timers.set(
                Timer::UpstreamResponse,
                now + self.upstream_timeouts().response,
            );
        } else if self.cin_len() == 0 {
            self.maybe_pass_request(gw);
        }
    }

    /// Forwards request body bytes upstream; what follows the body stays
    /// buffered as the next (pipelined) request.
    pub(super) fn forward_client_body(&mut self, gw: &mut Gateway, now: Instant, mut b: Bytes) {
        let Some(id) = self.link().map(|l| l.id) else {
            self.b().cin.push(b);
            return;
        };
        while !b.is_empty() {
            let ReqSide::Body(reader) = &mut self.req_side else {
                break;
            };
            let before = b.len();
            let piece = match reader.take(&mut b) {
                Ok(p) => p,
                Err(e) => {
                    self.fail(gw, now, Fault::BadRequest(e.reason()));
                    return;
                }
            };
            // The client's bytes, whatever goes upstream (re-framed chunks).
            let took = (before - b.len()) as u64;
            let done = reader.is_done();
            if let Some(ex) = &mut self.ex {
                ex.body_seen += took;
                ex.record.bytes_in += took;
                let max = self.plan.config.limits.max_request_body;
                if max > 0 && ex.body_seen > max {
                    self.fail(gw, now, Fault::BodyTooLarge);
                    return;
                }
            }
            self.send(Peer::Upstream(id), piece);
            if done {
                self.request_body_read(now);
            }
        }
        if !b.is_empty() {
            self.b().cin.push(b);
        } else {
            self.maybe_pass_request(gw);
        }
    }

    /// The whole request body was read: the request is complete, and the
    /// upstream's response time runs from now if no head came yet.
    pub(super) fn request_body_read(&mut self, now: Instant) {
        self.req_side = ReqSide::Complete;
        self.timers.clear(Timer::ClientBody);
        if self
            .ex
            .as_ref()
            .is_some_and(|e| matches!(e.resp, RespSide::Waiting))
        {
            self.timers.set(
                Timer::UpstreamResponse,
                now + self.upstream_timeouts().response,
            );
        }
    }

    /// Under the `KeepConnectionListed` mutant, the fields named in
    /// `Connection`, to put back after hop-by-hop removal.
    #[cfg(feature = "test-mutants")]
    fn mutant_kept_fields(&self, req: &crate::http1::RequestHead) -> Vec<(Bytes, Bytes)> {
        if self.plan.config.mutant != crate::mutant::Mutant::KeepConnectionListed {
            return Vec::new();
        }
        let listed: Vec<Vec<u8>> = req
            .headers
            .get_all("connection")
            .flat_map(|v| v.split(|&b| b == b','))
            .map(|t| crate::http1::head::trim(t).to_ascii_lowercase())
            .collect();
        req.headers
            .iter()
            .filter(|(n, _)| {
                let n = n.to_ascii_lowercase();
                listed.contains(&n) && !matches!(&n[..], b"close" | b"keep-alive" | b"upgrade")
            })
            .map(|(n, v)| (Bytes::copy_from_slice(n), Bytes::copy_from_slice(v)))
            .collect()
    }
}
