//! What a connection holds only while bytes are moving.
//!
//! An idle keep-alive connection gives all of it back (`compact`), so it
//! costs its `Connection` and nothing on the heap; the first bytes of its
//! next request bring a fresh set.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::connection::Exchange;
use super::inbox::Inbox;
use super::Output;
use crate::http1::{HeadScanner, Headers};

/// A busy connection's buffers and reusable allocations.
#[derive(Default)]
pub(super) struct Buffers {
    /// Unparsed client bytes.
    pub cin: Inbox,
    /// Where the request head being received was scanned to.
    pub scan: HeadScanner,
    /// Actions not yet taken by the frontend.
    pub out: VecDeque<Output>,
    /// Where heads are serialised; its memory is reused once the frontend
    /// has written (and dropped) the previous heads.
    pub wbuf: BytesMut,
    /// The client's IP as text for `X-Forwarded-For`; empty until an
    /// exchange needs it.
    pub client_ip: Bytes,
    /// Header lists kept from earlier heads (at most two).
    pub spare_headers: Vec<Headers>,
    /// The previous exchange's box.
    pub spare_ex: Option<Box<Exchange>>,
}

/// The client IP of `bufs`, or an empty one (before any exchange).
pub(super) fn client_ip(bufs: &Option<Box<Buffers>>) -> &Bytes {
    static NONE: Bytes = Bytes::new();
    bufs.as_ref().map_or(&NONE, |b| &b.client_ip)
}

/// Room `wbuf` keeps ahead: a request head and its response head are
/// written one after the other into the same block, which is reused
/// once the frontend has dropped both (one allocation per connection,
/// not one per head).
const WBUF_BLOCK: usize = 2048;

impl Buffers {
    /// The head buffer, with room for a typical head.
    pub fn wbuf(&mut self) -> &mut bytes::BytesMut {
        if self.wbuf.capacity() - self.wbuf.len() < WBUF_BLOCK / 2 {
            self.wbuf.reserve(WBUF_BLOCK);
        }
        &mut self.wbuf
    }

    /// An empty header list, reusing an earlier one's memory if there is one.
    pub fn spare_headers(&mut self) -> Headers {
        self.spare_headers.pop().unwrap_or_default()
    }

    /// Keeps a header list's memory for a later head (at most two).
    pub fn recycle_headers(&mut self, mut h: Headers) {
        if self.spare_headers.len() < 2 {
            h.clear();
            self.spare_headers.push(h);
        }
    }
}
