//! The one place an exchange ends: the access record is handed out,
//! the gateway's own answers (faults, layers' answers) are written, and
//! the connection either waits for the next request or closes. Logs,
//! metrics and error pages hang here.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};

use super::connection::{Connection, COMPACT_AFTER};
use super::exchange::{connection_field, layer_cx, release, unwind, ReqSide, RespSide};
use super::fault::{Fault, Origin};
use super::log::AccessRecord;
use super::timer::Timer;
use super::LogFormat;
use super::{Gateway, Output, Peer};
use crate::balancer::Outcome;
use crate::config::error_pages::wants_json;
use crate::http1::ResponseHead;

impl Connection {
    /// Ends the exchange: logs it, then closes the client or waits for
    /// the next request.
    pub(super) fn end_exchange(&mut self, gw: &mut Gateway, now: Instant, close: bool) {
        if let Some(mut ex) = self.ex.take() {
            if !ex.held.is_empty() {
                release(&self.plan, &mut ex);
            }
            ex.record.end = now;
            gw.metrics.ended(&ex.record, &self.plan, ex.route);
            if self.access_log {
                let mut record =
                    std::mem::replace(&mut ex.record, AccessRecord::new(self.client.get(), now));
                // Looked up only for a format that can show them: the
                // default text line costs nothing more.
                if self.plan.config.log_format != LogFormat::Text {
                    record.host = ex.req.headers.get_bytes("host").unwrap_or_default();
                    record.user_agent = ex.req.headers.get_bytes("user-agent").unwrap_or_default();
                }
                self.b().out.push_back(Output::Log(Box::new(record)));
            }
            self.recycle_headers(std::mem::take(&mut ex.req.headers));
            ex.scrub();
            self.b().spare_ex = Some(ex);
        }
        if close || (self.client_eof && self.cin_len() == 0) || self.draining {
            self.close_client();
            return;
        }
        self.req_side = ReqSide::Head;
        self.head_start = now;
        if self.cin_len() == 0 {
            // Idle: first a short wait, then the buffers are released
            // (`compact`), then the rest of `client_idle`.
            self.compacted = false;
            let first = COMPACT_AFTER.min(self.plan.config.timeouts.client_idle);
            self.timers.set(Timer::ClientIdle, now + first);
        } else {
            self.timers.set(
                Timer::ClientHead,
                now + self.plan.config.timeouts.client_header,
            );
        }
    }

    /// Sends a response the gateway makes itself (a fault or a layer's
    /// answer) through the layers the request passed, and ends the exchange.
    pub(super) fn answer(
        &mut self,
        gw: &mut Gateway,
        now: Instant,
        mut head: ResponseHead,
        body: Bytes,
        close: bool,
    ) {
        let Some(ex) = &mut self.ex else { return };
        // An error page for this status replaces the body (and its type).
        let mut body = body;
        if head.status >= 400 {
            let pages = &self.plan.config.error_pages;
            if let Some((content_type, page)) =
                pages.render(head.status, &ex.record.request_id, false)
            {
                head.headers
                    .set(Bytes::from_static(b"Content-Type"), content_type);
                body = page;
            }
        }
        // 204 and 304 have no body, and a 204 no Content-Length (RFC 9110
        // 8.6, 15.3.5): a layer's 204 (a CORS preflight) is sent bare.
        let bodyless = matches!(head.status, 204 | 304);
        let body = if bodyless { Bytes::new() } else { body };
        if !bodyless {
            head.headers.set(
                Bytes::from_static(b"Content-Length"),
                Bytes::from(body.len().to_string()),
            );
        }
        let mut cx = layer_cx(
            SocketAddr::new(ex.client, self.client.port()),
            &self.bufs,
            now,
            gw,
        );
        unwind(&self.plan, ex, &mut head, &mut cx);
        connection_field(&mut head, close, ex.client_version);
        ex.record.status = head.status;
        let head_request = ex.head_request;
        let out = &mut self.b().wbuf;
        head.write_to(out);
        out.put_slice(b"\r\n");
        if !head_request {
            out.put_slice(&body);
        }
        let out = self.b().wbuf.split().freeze();
        self.send(Peer::Client, out);
        self.end_exchange(gw, now, close);
    }

    /// Ends the exchange with a fault's response, or closes the client if
    /// a response is already under way.
    pub(super) fn fail(&mut self, gw: &mut Gateway, now: Instant, fault: Fault) {
        let Some(ex) = &mut self.ex else {
            let record = AccessRecord::new(self.client.get(), self.head_start);
            self.reject(gw, now, fault, record, false);
            return;
        };
        if ex.record.note.is_empty() {
            ex.record.note = fault.reason();
        }
        if !matches!(ex.resp, RespSide::Waiting) {
            self.abort(gw, now, fault.reason());
            return;
        }
        let outcome = match fault.origin() {
            Origin::Upstream => Outcome::Failure,
            _ => Outcome::Abandoned,
        };
        self.report(gw, now, outcome);
        self.release_link(gw, now, false);
        let ex = self.ex.as_ref().expect("checked above");
        let close = fault.closes_client()
            || self.draining
            || ex.close_after
            || !ex.client_persistent
            || !matches!(self.req_side, ReqSide::Complete);
        if close {
            self.stop_reading();
        }
        self.timers.clear(Timer::ClientBody);
        let ex = self.ex.as_ref().expect("checked above");
        let json = wants_json(ex.req.headers.get("accept"));
        let mut head = fault.head();
        let pages = &self.plan.config.error_pages;
        let body = match pages.render(fault.status(), &ex.record.request_id, json) {
            Some((content_type, body)) => {
                head.headers
                    .set(Bytes::from_static(b"Content-Type"), content_type);
                body
            }
            None => fault.body(),
        };
        self.answer(gw, now, head, body, close);
    }

    /// Answers a fault found before any exchange existed (no head, so no
    /// middleware) and closes the client.
    /// `head_request`: the request begins with `HEAD`, so the answer has
    /// no body (RFC 9110 §9.3.2), or the client would read it as the next
    /// response.
    pub(super) fn reject(
        &mut self,
        gw: &mut Gateway,
        now: Instant,
        fault: Fault,
        mut record: AccessRecord,
        head_request: bool,
    ) {
        // No head was parsed: the log shows what arrived instead.
        if record.method.is_empty() && record.target.is_empty() {
            if let Some(b) = &self.bufs {
                let bytes = b.cin.bytes();
                record.bytes_in = record.bytes_in.max(bytes.len() as u64);
                record.target = super::log::arrived(bytes);
            }
        }
        let mut head = fault.head();
        let body = match self
            .plan
            .config
            .error_pages
            .render(fault.status(), b"", false)
        {
            Some((content_type, page)) => {
                head.headers
                    .set(Bytes::from_static(b"Content-Type"), content_type);
                page
            }
            None => fault.body(),
        };
        head.headers.append(
            Bytes::from_static(b"Content-Length"),
            Bytes::from(body.len().to_string()),
        );
        head.headers.append(
            Bytes::from_static(b"Connection"),
            Bytes::from_static(b"close"),
        );
        let mut out = BytesMut::new();
        head.write_to(&mut out);
        out.put_slice(b"\r\n");
        if !head_request {
            out.put_slice(&body);
        }
        record.status = fault.status();
        record.bytes_out = out.len() as u64;
        record.note = fault.reason();
        record.end = now;
        gw.metrics.ended(&record, &self.plan, None);
        self.send(Peer::Client, out.freeze());
        if self.access_log {
            self.b().out.push_back(Output::Log(Box::new(record)));
        }
        self.close_client();
    }

    /// Drops everything at once: the upstream is closed, the client is
    /// closed without (further) response, the exchange is logged.
    pub(super) fn abort(&mut self, gw: &mut Gateway, now: Instant, note: &'static str) {
        if let Some(ex) = &mut self.ex {
            if ex.record.note.is_empty() {
                ex.record.note = note;
            }
        }
        self.release_link(gw, now, false);
        self.end_exchange(gw, now, true);
    }
}
