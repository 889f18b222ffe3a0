//! Pass-through: body bytes that go out exactly as they come and whose
//! number the core knows (the rest of a body of known length, the rest of
//! a chunk's data once its size line was read) are moved by the frontend
//! itself ([`Output::Pass`]; weir-mio with `splice(2)`),
//! a response body from the upstream to the client, a request body from
//! the client to the upstream. The core keeps the framing, the timers
//! and the accounting: every piece comes back as [`Input::Passed`](super::Input::Passed).
//! Never while the connection is recorded or explained (those see every
//! byte), and only when the gateway allows it
//! ([`Gateway::set_pass_through`]).

use std::time::Instant;

use super::connection::Connection;
use super::exchange::{ReqSide, RespSide};
use super::timer::Timer;
use super::{Gateway, Output, Peer};
use crate::http1::BodyReader;

impl Connection {
    /// The least a body must have left to be passed, if passing is on
    /// for this connection now.
    fn pass_min(&self, gw: &Gateway) -> Option<u64> {
        match self.recording || gw.trace.is_some() {
            true => None,
            false => gw.pass_min,
        }
    }

    /// Hands the response body's next verbatim bytes (the rest of a
    /// body of known length, or of a chunk's data) to the frontend, when
    /// there are enough to be worth it.
    pub(super) fn maybe_pass_response(&mut self, gw: &Gateway) {
        let Some(min) = self.pass_min(gw) else { return };
        let Some(ex) = &mut self.ex else { return };
        let RespSide::Body(reader) = &ex.resp else {
            return;
        };
        let Some(left) = reader.verbatim() else {
            return;
        };
        let Some(l) = &mut ex.up else { return };
        if left < min || l.passing {
            return;
        }
        l.passing = true;
        let from = Peer::Upstream(l.id);
        self.b().out.push_back(Output::Pass {
            from,
            to: Peer::Client,
            len: left,
        });
    }

    /// Hands the request body's next verbatim bytes to the frontend, once
    /// every body byte before them went to a connected upstream and there
    /// are enough to be worth it. Chunk data that could pass a
    /// `max_request_body` limit stays with the core, which stops at it.
    pub(super) fn maybe_pass_request(&mut self, gw: &Gateway) {
        let Some(min) = self.pass_min(gw) else { return };
        let ReqSide::Body(reader) = &self.req_side else {
            return;
        };
        let Some(left) = reader.verbatim() else {
            return;
        };
        if left < min || self.cin_len() != 0 {
            return;
        }
        let max = self.plan.config.limits.max_request_body;
        let seen = self.ex.as_ref().map_or(0, |ex| ex.body_seen);
        if max > 0 && seen.saturating_add(left) > max {
            return;
        }
        let Some(l) = self.link().filter(|l| l.socket.is_connected()) else {
            return;
        };
        let to = Peer::Upstream(l.id);
        if let ReqSide::Body(reader) = std::mem::replace(&mut self.req_side, ReqSide::Stopped) {
            self.req_side = match reader.into_verbatim() {
                Ok(run) => ReqSide::Passing(run),
                Err(reader) => ReqSide::Body(reader),
            };
        }
        self.b().out.push_back(Output::Pass {
            from: Peer::Client,
            to,
            len: left,
        });
    }

    /// `n` more bytes of a passed response body reached the client's side:
    /// counted as sent, the idle timer re-armed, the pass over with the
    /// last of its bytes, and the response finished with the body's. More
    /// than the pass announced is the frontend's error, and cuts the
    /// exchange.
    pub(super) fn on_response_passed(&mut self, gw: &mut Gateway, now: Instant, n: u64) {
        let Some(ex) = &mut self.ex else { return };
        let Some(l) = ex.up.as_mut().filter(|l| l.passing) else {
            return;
        };
        let RespSide::Body(reader) = &mut ex.resp else {
            return;
        };
        let left = reader.verbatim().unwrap_or(0);
        if n > left {
            debug_assert!(false, "Passed({n}) beyond its pass ({left} left)");
            return self.abort(gw, now, "pass-through beyond the body");
        }
        reader.moved(n);
        ex.record.bytes_out += n;
        if reader.is_done() {
            return self.finish_response(gw, now);
        }
        // The pass announced exactly the verbatim bytes: it is over when
        // they are (the next chunk's framing is the core's to read).
        l.passing = reader.verbatim().is_some_and(|v| v > 0);
        self.timers
            .set(Timer::UpstreamIdle, now + self.upstream_timeouts().idle);
    }

    /// `n` more bytes of a passed request body reached the upstream's
    /// side: counted as received, the body timer re-armed, the core reading
    /// again when the pass is over (the next chunk's framing), and the
    /// request complete with the body's last byte. A piece after the
    /// pass ended (the exchange was cut meanwhile) is dropped; more than
    /// the pass announced cuts the exchange.
    pub(super) fn on_request_passed(&mut self, gw: &mut Gateway, now: Instant, n: u64) {
        let ReqSide::Passing(run) = &mut self.req_side else {
            return;
        };
        if n > run.left() {
            debug_assert!(false, "Passed({n}) beyond its pass ({} left)", run.left());
            return self.abort(gw, now, "pass-through beyond the body");
        }
        run.moved(n);
        let over = run.left() == 0;
        if let Some(ex) = &mut self.ex {
            ex.body_seen += n;
            ex.record.bytes_in += n;
        }
        if over {
            if let ReqSide::Passing(run) = self.req_side {
                self.req_side = ReqSide::Body(run.after());
            }
            if matches!(self.req_side, ReqSide::Body(BodyReader::Done)) {
                return self.request_body_read(now);
            }
        }
        self.timers.set(
            Timer::ClientBody,
            now + self.plan.config.timeouts.client_body,
        );
    }
}
