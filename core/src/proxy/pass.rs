//! Pass-through: the rest of a body whose length the core knows is moved
//! by the frontend itself ([`Output::Pass`]; weir-mio with `splice(2)`),
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

    /// Hands the rest of a response body of known length to the frontend,
    /// when enough is left to be worth it.
    pub(super) fn maybe_pass_response(&mut self, gw: &Gateway) {
        let Some(min) = self.pass_min(gw) else { return };
        let Some(ex) = &mut self.ex else { return };
        let RespSide::Body(BodyReader::Length(left)) = ex.resp else {
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

    /// Hands the rest of a request body of known length to the frontend,
    /// once every byte before it went to a connected upstream and enough
    /// is left to be worth it.
    pub(super) fn maybe_pass_request(&mut self, gw: &Gateway) {
        let Some(min) = self.pass_min(gw) else { return };
        let ReqSide::Body(BodyReader::Length(left)) = self.req_side else {
            return;
        };
        if left < min || self.cin_len() != 0 {
            return;
        }
        let Some(l) = self.link().filter(|l| l.socket.is_connected()) else {
            return;
        };
        let to = Peer::Upstream(l.id);
        self.req_side = ReqSide::Passing(left);
        self.b().out.push_back(Output::Pass {
            from: Peer::Client,
            to,
            len: left,
        });
    }

    /// `n` more bytes of a passed response body reached the client's side:
    /// counted as sent, the idle timer re-armed, and the response finished
    /// with the last of them. More than the pass announced is the
    /// frontend's error, and cuts the exchange.
    pub(super) fn on_response_passed(&mut self, gw: &mut Gateway, now: Instant, n: u64) {
        let Some(ex) = &mut self.ex else { return };
        let passing = ex.up.as_ref().is_some_and(|l| l.passing);
        let RespSide::Body(BodyReader::Length(left)) = &mut ex.resp else {
            return;
        };
        if !passing || n > *left {
            debug_assert!(false, "Passed({n}) beyond its pass ({left} left)");
            return self.abort(gw, now, "pass-through beyond the body");
        }
        *left -= n;
        ex.record.bytes_out += n;
        if *left == 0 {
            ex.resp = RespSide::Body(BodyReader::Done);
            return self.finish_response(gw, now);
        }
        self.timers
            .set(Timer::UpstreamIdle, now + self.upstream_timeouts().idle);
    }

    /// `n` more bytes of a passed request body reached the upstream's
    /// side: counted as received, the body timer re-armed, and the request
    /// complete with the last of them. A piece after the pass ended (the
    /// exchange was cut meanwhile) is dropped; more than the pass
    /// announced cuts the exchange.
    pub(super) fn on_request_passed(&mut self, gw: &mut Gateway, now: Instant, n: u64) {
        let ReqSide::Passing(left) = &mut self.req_side else {
            return;
        };
        if n > *left {
            debug_assert!(false, "Passed({n}) beyond its pass ({left} left)");
            return self.abort(gw, now, "pass-through beyond the body");
        }
        *left -= n;
        let done = *left == 0;
        if let Some(ex) = &mut self.ex {
            ex.body_seen += n;
            ex.record.bytes_in += n;
        }
        if done {
            return self.request_body_read(now);
        }
        self.timers.set(
            Timer::ClientBody,
            now + self.plan.config.timeouts.client_body,
        );
    }
}
