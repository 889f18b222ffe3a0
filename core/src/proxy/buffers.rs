//! What a connection holds only while bytes are moving.
//!
//! An idle keep-alive connection gives all of it back (`compact`), so it
//! costs its `Connection` and nothing on the heap; the first bytes of its
//! next request bring a fresh set.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::connection::Connection;
use super::exchange::Exchange;
use super::inbox::Inbox;
use super::Gateway;
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
    /// The address `client_ip` spells.
    pub client_ip_of: Option<std::net::IpAddr>,
    /// Header lists kept from earlier heads (at most two).
    pub spare_headers: Vec<Headers>,
    /// The previous exchange's box.
    pub spare_ex: Option<Box<Exchange>>,
    /// The flight recorder's recording of the connection, when on (kept
    /// here, not in `Connection`, so that it costs nothing when off; an
    /// idle connection that records keeps a set holding only this).
    pub rec: Option<Box<crate::recorder::Recorder>>,
}

/// Most buffer sets a worker keeps for its next connections.
const STOCK_MAX: usize = 32;
/// A head buffer grown past this is not kept in the stock.
const STOCK_WBUF_MAX: usize = 16 * 1024;

/// Buffer sets given back by finished or idle connections, handed to the
/// next connection that receives bytes: a new connection then costs no
/// allocation for its queues, head buffer and header lists (the free
/// lists nginx and HAProxy keep for the same reason). Bounded.
#[derive(Default)]
pub(super) struct Stock {
    // Boxed on purpose: a set moves in and out of a connection's
    // `Option<Box<Buffers>>` without being re-allocated.
    #[allow(clippy::vec_box)]
    free: Vec<Box<Buffers>>,
}

impl Stock {
    /// A set from the stock, or a new one.
    pub fn take(&mut self) -> Box<Buffers> {
        self.free.pop().unwrap_or_default()
    }

    /// Keeps `b` for a later connection if there is room; emptied first
    /// so it pins no received bytes (a kept exchange box was scrubbed
    /// when its exchange ended). A set with actions still queued is
    /// dropped instead (the frontend takes them before giving it back).
    pub fn give(&mut self, mut b: Box<Buffers>) {
        if let Some(r) = b.rec.take() {
            r.finish();
        }
        if self.free.len() >= STOCK_MAX || !b.out.is_empty() {
            return;
        }
        b.cin.clear();
        b.scan = HeadScanner::default();
        b.client_ip = Bytes::new();
        if b.wbuf.capacity() > STOCK_WBUF_MAX {
            b.wbuf = BytesMut::new();
        }
        self.free.push(b);
    }

    /// Drops every kept set.
    pub fn shed(&mut self) {
        self.free = Vec::new();
    }
}

/// The client IP of `bufs`, or an empty one (before any exchange).
pub(super) fn client_ip(bufs: &Option<Box<Buffers>>) -> &Bytes {
    static NONE: Bytes = Bytes::new();
    bufs.as_ref().map_or(&NONE, |b| &b.client_ip)
}

/// Room made in `wbuf` as an exchange begins: the request head, the
/// client IP and the response head are written one after the other into
/// the same block, which is reused once the frontend has dropped them
/// (one allocation per connection, not one per head).
const WBUF_BLOCK: usize = 2048;

impl Buffers {
    /// Makes room for an exchange's heads in `wbuf` (between exchanges,
    /// when the previous heads are usually gone and the block is reused).
    pub fn make_room(&mut self) {
        if self.wbuf.capacity() - self.wbuf.len() < WBUF_BLOCK / 2 {
            self.wbuf.reserve(WBUF_BLOCK);
        }
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

/// A connection's buffer set: taken, given back when idle, retired.
impl Connection {
    /// Gives back the memory of buffers an idle connection does not need.
    pub(super) fn compact(&mut self, gw: &mut Gateway) {
        self.compacted = true;
        // Actions not yet taken stay (none, when the frontend drains
        // after every input); everything else goes back to the stock.
        if let Some(mut b) = self.bufs.take() {
            if b.out.is_empty() && b.rec.is_none() {
                gw.stock.give(b);
            } else {
                self.bufs = Some(Box::new(Buffers {
                    out: std::mem::take(&mut b.out),
                    rec: b.rec.take(),
                    ..Buffers::default()
                }));
                gw.stock.give(b);
            }
        }
    }

    /// Gives a finished connection's buffers to the gateway for the next
    /// connection (dropping a `Connection` frees them instead).
    pub fn retire(mut self, gw: &mut Gateway) {
        gw.metrics.connections_closed += 1;
        if let Some(b) = self.bufs.take() {
            gw.stock.give(b);
        }
    }

    /// The buffers, allocated again if an idle connection gave them back.
    pub(super) fn b(&mut self) -> &mut Buffers {
        self.bufs.get_or_insert_with(Box::default)
    }

    /// Bytes received from the client and not yet consumed.
    pub(super) fn cin_len(&self) -> usize {
        self.bufs.as_ref().map_or(0, |b| b.cin.len())
    }
}
