//! `[error_pages] replace_upstream`: an upstream's error answer given way
//! to the configured page. Decided at the upstream's head, before anything
//! went to the client; the upstream's body is read and dropped (so its
//! connection can be reused), then the page goes out through the layers
//! like any answer the gateway makes.

use std::time::Instant;

use bytes::Bytes;

use super::connection::Connection;
use super::exchange::{ReqSide, RespSide};
use super::local_answer::DISCARD_MAX;
use super::timer::Timer;
use super::Gateway;
use crate::config::error_pages::Replace;
use crate::http1::{BodyReader, Framing, ResponseHead};

/// The fields that describe the upstream's body, dropped with it.
const BODY_FIELDS: [&[u8]; 7] = [
    b"content-type",
    b"content-encoding",
    b"content-language",
    b"content-location",
    b"etag",
    b"last-modified",
    b"content-range",
];

/// An upstream error answer being replaced: the head the page goes out
/// with, and the upstream body still to drop.
#[derive(Debug)]
pub(super) struct Replacement {
    head: ResponseHead,
    reader: BodyReader,
    /// Bytes still allowed to be dropped before the link is given up.
    left: u32,
}

impl Connection {
    /// True when the upstream's `status` answer is to be replaced by a page.
    pub(super) fn replaces(&self, status: u16) -> bool {
        let pages = &self.plan.config.error_pages;
        status >= 400
            && pages.replace_upstream == Replace::WithPage
            && pages.page(status).is_some()
            && self.ex.as_ref().is_some_and(|ex| !ex.head_request)
    }

    /// Starts replacing `resp` (hop-by-hop fields already removed): its
    /// body is dropped as it comes, then the page is sent.
    pub(super) fn replace_upstream(
        &mut self,
        gw: &mut Gateway,
        now: Instant,
        framing: Framing,
        resp: &mut ResponseHead,
    ) {
        let mut head = ResponseHead::new(resp.status);
        head.headers = std::mem::take(&mut resp.headers);
        for name in BODY_FIELDS {
            head.headers.remove(name);
        }
        let reader = BodyReader::new(framing, false);
        let done = reader.is_done();
        let Some(ex) = &mut self.ex else { return };
        ex.record.note = "upstream error page replaced";
        ex.resp = RespSide::Replaced(Box::new(Replacement {
            head,
            reader,
            left: DISCARD_MAX,
        }));
        if done {
            self.send_page(gw, now, true);
        } else {
            self.timers
                .set(Timer::UpstreamIdle, now + self.upstream_timeouts().idle);
        }
    }

    /// Drops upstream body bytes of a replaced answer; the page goes out
    /// once the body ended, or at once when it is longer than
    /// [`DISCARD_MAX`] (the upstream connection is then closed).
    pub(super) fn drop_upstream_body(&mut self, gw: &mut Gateway, now: Instant, mut b: Bytes) {
        let Some(ex) = &mut self.ex else { return };
        let RespSide::Replaced(r) = &mut ex.resp else {
            return;
        };
        match r.reader.skip(&mut b) {
            Ok(n) if n <= r.left as usize => r.left -= n as u32,
            // Too long, or malformed: the link is not reused.
            _ => return self.send_page(gw, now, false),
        }
        if r.reader.is_done() {
            // Bytes beyond the body: the connection is not reusable.
            return self.send_page(gw, now, b.is_empty());
        }
        self.timers
            .set(Timer::UpstreamIdle, now + self.upstream_timeouts().idle);
    }

    /// Ends a replaced exchange with its page; the upstream link goes to
    /// the pool when `reusable` and the request was read completely.
    pub(super) fn send_page(&mut self, gw: &mut Gateway, now: Instant, reusable: bool) {
        let Some(ex) = &mut self.ex else { return };
        let RespSide::Replaced(r) = std::mem::replace(&mut ex.resp, RespSide::Waiting) else {
            return;
        };
        let request_complete = matches!(self.req_side, ReqSide::Complete);
        let persistent = ex.up.as_ref().is_some_and(|l| l.persistent);
        self.release_link(gw, now, reusable && persistent && request_complete);
        let Some(ex) = &self.ex else { return };
        let close = ex.close_after || !ex.client_persistent || !request_complete || self.draining;
        if close {
            self.stop_reading();
        }
        self.timers.clear(Timer::ClientBody);
        let Replacement { head, .. } = *r;
        // `answer` puts the page (and its type) in place of the empty body.
        self.answer(gw, now, head, Bytes::new(), close);
    }

    /// True while an upstream answer is being replaced.
    pub(super) fn replacing(&self) -> bool {
        self.ex
            .as_ref()
            .is_some_and(|ex| matches!(ex.resp, RespSide::Replaced(_)))
    }
}
