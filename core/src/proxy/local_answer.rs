//! Answers the gateway makes without an upstream (a layer's 401, 403,
//! 429, a preflight, a redirect; a route's 404 or 405), and keeping the
//! connection through them: a small request body is read and dropped.

use std::time::Instant;

use bytes::Bytes;

use super::connection::Connection;
use super::exchange::{Exchange, ReqSide};
use super::timer::Timer;
use super::Gateway;
use crate::http1::BodyReader;
use crate::middleware::Answer;

/// The largest request body read and dropped after a local answer (a 401,
/// a 405, a 429...) so that the connection stays open.
pub const DISCARD_MAX: u32 = 64 * 1024;

impl Connection {
    /// Answers for the gateway (a layer, a route's 405) without an
    /// upstream. The connection stays open when the request's framing
    /// allows: a body of at most [`DISCARD_MAX`] bytes is read and dropped
    /// after the answer; a longer (or longer announced) one closes it.
    pub(super) fn answer_early(
        &mut self,
        gw: &mut Gateway,
        now: Instant,
        ex: Box<Exchange>,
        a: Answer,
    ) {
        let has_body = !matches!(
            ex.framing,
            crate::http1::Framing::None | crate::http1::Framing::Length(0)
        );
        let discard = match &self.req_side {
            ReqSide::Body(BodyReader::Length(n)) if *n > u64::from(DISCARD_MAX) => None,
            ReqSide::Body(reader) if has_body => Some(reader.clone()),
            _ => None,
        };
        let close = !ex.client_persistent || (has_body && discard.is_none());
        if close {
            self.stop_reading();
        } else if discard.is_some() {
            // The exchange ends with the answer; its body is read after.
            self.req_side = ReqSide::Complete;
            self.timers.clear(Timer::ClientBody);
        }
        self.ex = Some(ex);
        self.answer(gw, now, a.head, a.body, close);
        if let (Some(reader), false) = (discard, close || self.client_closed) {
            self.timers.clear(Timer::ClientHead);
            self.timers.clear(Timer::ClientIdle);
            self.timers.set(
                Timer::ClientBody,
                now + self.plan.config.timeouts.client_body,
            );
            self.req_side = ReqSide::Discard(Box::new((reader, DISCARD_MAX)));
        }
    }

    /// Drops body bytes of a request answered without an upstream; what
    /// follows the body is the next request.
    pub(super) fn discard_body(&mut self, now: Instant, mut b: Bytes) {
        let ReqSide::Discard(state) = &mut self.req_side else {
            self.b().cin.push(b);
            return;
        };
        let (reader, left) = &mut **state;
        match reader.skip(&mut b) {
            Ok(n) if n <= *left as usize => *left -= n as u32,
            // Too long, or malformed: nothing more is read.
            _ => {
                self.close_client();
                return;
            }
        }
        if reader.is_done() {
            self.req_side = ReqSide::Head;
            self.head_start = now;
            self.timers.clear(Timer::ClientBody);
            self.timers.set(
                Timer::ClientHead,
                now + self.plan.config.timeouts.client_header,
            );
        } else {
            self.timers.set(
                Timer::ClientBody,
                now + self.plan.config.timeouts.client_body,
            );
        }
        if !b.is_empty() {
            self.b().cin.push(b);
        }
    }
}
