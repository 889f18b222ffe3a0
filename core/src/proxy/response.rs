//! The upstream's side of an exchange: response heads (1xx, final, 101),
//! the response body, and how an upstream connection ends.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};

use super::connection::Connection;
use super::exchange::{layer_cx, Exchange, ReqSide, RespSide, Socket};
use super::fault::Fault;
use super::rewrite::strip_hop_by_hop;
use super::timer::Timer;
use super::{Gateway, Peer};
use crate::balancer::Outcome;
use crate::http1::{
    parse_response_into, response_framing, BodyReader, Framing, HeadError, ResponseHead, Version,
};
use crate::plan::Plan;

impl Connection {
    pub(super) fn on_upstream_bytes(&mut self, gw: &mut Gateway, now: Instant, b: Bytes) {
        let Some(ex) = &mut self.ex else { return };
        let Some(l) = &mut ex.up else { return };
        l.got_bytes = true;
        match ex.resp {
            RespSide::Waiting => {
                l.head_buf.push(b);
                self.read_response_heads(gw, now);
            }
            RespSide::Body(_) => self.forward_response_body(gw, now, b),
            RespSide::Replaced(_) => self.drop_upstream_body(gw, now, b),
            RespSide::Tunnel => {
                self.timers.set(
                    Timer::TunnelIdle,
                    now + self.plan.config.timeouts.tunnel_idle,
                );
                self.send(Peer::Client, b);
            }
        }
    }

    /// Parses every complete head in the upstream buffer: 1xx heads are
    /// forwarded and skipped, the final head starts the body.
    fn read_response_heads(&mut self, gw: &mut Gateway, now: Instant) {
        loop {
            let limit = self.plan.config.limits.max_response_head;
            let Some(l) = self.link_mut() else { return };
            let span = match l.scan.scan(l.head_buf.bytes(), limit) {
                Ok(Some(span)) => span,
                Ok(None) => return,
                Err(HeadError::TooLarge | HeadError::TooManyHeaders) => {
                    return self.upstream_fault(gw, now, "response head too large")
                }
                Err(HeadError::Malformed(why)) => return self.upstream_fault(gw, now, why),
            };
            let _ = l.head_buf.split_to(span.skip);
            let head = l.head_buf.split_to(span.end - span.skip);
            l.scan.reset();
            let spare = self.spare_headers();
            let mut resp = match parse_response_into(&head, spare) {
                Ok(r) => r,
                Err(e) => return self.upstream_fault(gw, now, e.reason()),
            };
            if (100..200).contains(&resp.status) && resp.status != 101 {
                self.forward_interim(resp);
                continue;
            }
            let rest = match self.link_mut() {
                Some(l) => l.head_buf.take(),
                None => Bytes::new(),
            };
            let sent = self.final_head(gw, now, &mut resp);
            self.recycle_headers(resp.headers);
            if !sent {
                return;
            }
            // The body's first bytes go through the core (which then
            // offers the rest as a pass); with none yet, it is offered now.
            match rest.is_empty() {
                true => self.maybe_pass_response(gw),
                false => self.on_upstream_bytes(gw, now, rest),
            }
            return;
        }
    }

    /// A 100 or 103 goes to an HTTP/1.1 client, hop-by-hop fields removed.
    fn forward_interim(&mut self, mut resp: ResponseHead) {
        let Some(ex) = &self.ex else { return };
        if ex.client_version == Version::Http10 {
            return;
        }
        strip_hop_by_hop(&mut resp.headers);
        let wbuf = &mut self.b().wbuf;
        resp.write_to(wbuf);
        wbuf.put_slice(b"\r\n");
        let out = wbuf.split().freeze();
        self.send(Peer::Client, out);
        self.recycle_headers(resp.headers);
    }

    /// Sends the final head to the client. Returns false when the exchange
    /// ended instead (a fault).
    fn final_head(&mut self, gw: &mut Gateway, now: Instant, resp: &mut ResponseHead) -> bool {
        let Some(ex) = &self.ex else { return false };
        let framing =
            match response_framing(ex.head_request, resp.status, resp.version, &resp.headers) {
                Ok(f) => f,
                Err(e) => {
                    self.upstream_fault(gw, now, e.reason());
                    return false;
                }
            };
        // The upstream's own Content-Length value, reused when it is the
        // only one (HEAD and 304 keep it as metadata).
        let kept_length = match resp.headers.get_all("content-length").count() {
            1 => resp.headers.get_bytes("content-length"),
            _ => None,
        };
        let opts = strip_hop_by_hop(&mut resp.headers);
        if resp.status == 101 {
            if !(ex.websocket && opts.websocket) {
                self.upstream_fault(gw, now, "101 without a matching upgrade request");
                return false;
            }
            return self.start_tunnel(gw, now, resp);
        }
        self.report(
            gw,
            now,
            Outcome::Success {
                latency: Duration::ZERO,
            },
        );
        self.timers.clear(Timer::UpstreamResponse);
        if let Some(ex) = &mut self.ex {
            if let Some(l) = &ex.up {
                ex.record.upstream_time = Some(now.saturating_duration_since(l.picked_at));
            }
        }
        if let Some(l) = self.link_mut() {
            l.persistent = opts.persistent(resp.version) && framing != Framing::UntilClose;
        }
        if self.replaces(resp.status) {
            self.replace_upstream(gw, now, framing, resp);
            return true;
        }
        let request_complete = matches!(self.req_side, ReqSide::Complete);
        let Some(ex) = &mut self.ex else { return false };
        let mut close =
            ex.close_after || !ex.client_persistent || !request_complete || self.draining;
        let h = &mut resp.headers;
        let reader = match framing {
            Framing::None => {
                if ex.head_request || resp.status == 304 {
                    if let Some(cl) = kept_length {
                        h.append(Bytes::from_static(b"Content-Length"), cl);
                    }
                }
                BodyReader::Done
            }
            Framing::Length(n) => {
                let value = kept_length.unwrap_or_else(|| Bytes::from(n.to_string()));
                h.append(Bytes::from_static(b"Content-Length"), value);
                BodyReader::new(framing, false)
            }
            Framing::Chunked if ex.client_version == Version::Http11 => {
                h.append(
                    Bytes::from_static(b"Transfer-Encoding"),
                    Bytes::from_static(b"chunked"),
                );
                BodyReader::new(framing, false)
            }
            Framing::Chunked => {
                close = true;
                BodyReader::new(framing, true)
            }
            Framing::UntilClose => {
                close = true;
                BodyReader::UntilClose
            }
        };
        ex.close_after = close;
        let mut cx = layer_cx(
            SocketAddr::new(ex.client, self.client.port()),
            &self.bufs,
            now,
            gw,
        );
        super::exchange::unwind(&self.plan, ex, resp, &mut cx);
        drop(cx);
        if !ex.sticky_hit {
            sticky_cookie(gw, &self.plan, ex, resp);
        }
        super::exchange::connection_field(resp, close, ex.client_version);
        ex.record.status = resp.status;
        let done = reader.is_done();
        ex.resp = RespSide::Body(reader);
        let wbuf = &mut self.b().wbuf;
        resp.write_to(wbuf);
        wbuf.put_slice(b"\r\n");
        let out = wbuf.split().freeze();
        self.send(Peer::Client, out);
        if done {
            self.finish_response(gw, now);
        } else {
            self.timers
                .set(Timer::UpstreamIdle, now + self.upstream_timeouts().idle);
        }
        true
    }

    /// The upstream accepted the WebSocket upgrade: from now on bytes pass
    /// both ways untouched.
    fn start_tunnel(&mut self, gw: &mut Gateway, now: Instant, resp: &mut ResponseHead) -> bool {
        self.report(
            gw,
            now,
            Outcome::Success {
                latency: Duration::ZERO,
            },
        );
        let Some(ex) = &mut self.ex else { return false };
        let mut cx = layer_cx(
            SocketAddr::new(ex.client, self.client.port()),
            &self.bufs,
            now,
            gw,
        );
        super::exchange::unwind(&self.plan, ex, resp, &mut cx);
        resp.headers.append(
            Bytes::from_static(b"Connection"),
            Bytes::from_static(b"Upgrade"),
        );
        resp.headers.append(
            Bytes::from_static(b"Upgrade"),
            Bytes::from_static(b"websocket"),
        );
        ex.record.status = 101;
        ex.resp = RespSide::Tunnel;
        self.req_side = ReqSide::Tunnel;
        self.timers.clear_all();
        self.timers.set(
            Timer::TunnelIdle,
            now + self.plan.config.timeouts.tunnel_idle,
        );
        let mut out = BytesMut::new();
        resp.write_to(&mut out);
        out.put_slice(b"\r\n");
        self.send(Peer::Client, out.freeze());
        // Bytes the client sent after its handshake now go through.
        if self.cin_len() != 0 {
            let early = self.b().cin.take();
            self.on_client_bytes(gw, now, early);
        }
        true
    }

    fn forward_response_body(&mut self, gw: &mut Gateway, now: Instant, mut b: Bytes) {
        while !b.is_empty() {
            let Some(ex) = &mut self.ex else { return };
            let RespSide::Body(reader) = &mut ex.resp else {
                return;
            };
            let piece = match reader.take(&mut b) {
                Ok(p) => p,
                Err(e) => {
                    // The head is already on its way: only a close is left.
                    self.report(gw, now, Outcome::Failure);
                    self.abort(gw, now, e.reason());
                    return;
                }
            };
            let done = reader.is_done();
            self.send(Peer::Client, piece);
            if done {
                if !b.is_empty() {
                    // Bytes beyond the response: the connection is not reusable.
                    if let Some(l) = self.link_mut() {
                        l.persistent = false;
                    }
                }
                self.finish_response(gw, now);
                return;
            }
        }
        self.timers
            .set(Timer::UpstreamIdle, now + self.upstream_timeouts().idle);
        self.maybe_pass_response(gw);
    }

    /// The response was forwarded completely.
    pub(super) fn finish_response(&mut self, gw: &mut Gateway, now: Instant) {
        let request_complete = matches!(self.req_side, ReqSide::Complete);
        let reuse = request_complete && self.link().is_some_and(|l| l.persistent);
        self.release_link(gw, now, reuse);
        let close = self.ex.as_ref().is_none_or(|e| e.close_after);
        if close {
            self.stop_reading();
        }
        self.end_exchange(gw, now, close);
    }

    /// The upstream sent something unacceptable before the final head
    /// reached the client: 502.
    fn upstream_fault(&mut self, gw: &mut Gateway, now: Instant, why: &'static str) {
        self.report(gw, now, Outcome::Failure);
        self.fail(gw, now, Fault::BadGateway(why));
    }

    /// The upstream closed (`failed` = reset or I/O error).
    pub(super) fn on_upstream_end(&mut self, gw: &mut Gateway, now: Instant, failed: bool) {
        let Some(ex) = &mut self.ex else { return };
        let Some(l) = &ex.up else { return };
        if !l.socket.is_connected() {
            self.report(gw, now, Outcome::Failure);
            self.retry(gw, now, Fault::BadGateway("upstream connect failed"));
            return;
        }
        match &ex.resp {
            RespSide::Waiting if !l.got_bytes => {
                if l.socket == Socket::Pooled && !ex.pool_retry_used && ex.replayable {
                    // The pooled-connection race: the server closed an idle
                    // connection as we reused it. Once, on a fresh one.
                    ex.pool_retry_used = true;
                    let (server, addr) = (l.server, ex.record.upstream);
                    self.report(gw, now, Outcome::Abandoned);
                    self.release_link(gw, now, false);
                    if let Some(addr) = addr {
                        self.open_link(now, server, addr, false);
                    }
                    return;
                }
                self.report(gw, now, Outcome::Failure);
                let why = if failed {
                    "upstream reset before responding"
                } else {
                    "upstream closed before responding"
                };
                self.retry(gw, now, Fault::BadGateway(why));
            }
            RespSide::Waiting => self.upstream_fault(gw, now, "upstream closed mid-head"),
            RespSide::Body(BodyReader::UntilClose) if !failed => {
                if let Some(ex) = &mut self.ex {
                    ex.resp = RespSide::Body(BodyReader::Done);
                }
                self.finish_response(gw, now);
            }
            RespSide::Body(_) => {
                self.report(gw, now, Outcome::Failure);
                self.abort(gw, now, "upstream closed mid-body");
            }
            RespSide::Tunnel => self.abort(gw, now, ""),
            // The page is sent whether the dropped body ended or was cut.
            RespSide::Replaced(_) => self.send_page(gw, now, false),
        }
    }
}

/// `sticky = { cookie }`: names the server that answered in a cookie, so
/// the client's next requests come back to it (not sent when the request's
/// own cookie already chose it).
fn sticky_cookie(gw: &mut Gateway, plan: &Arc<Plan>, ex: &Exchange, resp: &mut ResponseHead) {
    let Some(name) = plan
        .config
        .upstreams
        .get(ex.group)
        .and_then(|g| g.sticky.as_deref())
    else {
        return;
    };
    let (Some(l), Some(g)) = (&ex.up, gw.group_of(plan, ex.group)) else {
        return;
    };
    let value = format!(
        "{name}={}; Path=/; HttpOnly; SameSite=Lax",
        g.sticky_id(l.server)
    );
    resp.headers
        .append(Bytes::from_static(b"Set-Cookie"), Bytes::from(value));
}
