//! A frontend reduced to its loop, for benches and examples: every
//! write completes, every connect is answered from the pool at once.

use std::time::Instant;

use bytes::Bytes;

use crate::{Connection, Gateway, Input, Output, Peer, UpstreamId};

/// Bytes as a frontend hands them in: a slice of a shared read buffer,
/// so that clones and slices cost what they cost in production (benches).
pub fn as_read(b: &[u8]) -> Bytes {
    let mut m = bytes::BytesMut::with_capacity(b.len() * 2);
    m.extend_from_slice(b);
    m.extend_from_slice(b);
    m.split_to(b.len()).freeze()
}

/// Takes every output of `conn`, as a frontend whose writes always
/// complete and whose connects are answered from the pool at once; notes
/// the upstream in `up` (benches and examples).
pub fn drain_pooled(
    conn: &mut Connection,
    gw: &mut Gateway,
    now: Instant,
    up: &mut Option<UpstreamId>,
) {
    loop {
        match conn.poll_output() {
            Output::Wait(_) => return,
            Output::Connect { id, .. } => {
                *up = Some(id);
                conn.handle_input(gw, now, Input::Connected { id, reused: true });
            }
            Output::Send(p, b) => {
                std::hint::black_box(&b);
                conn.handle_input(gw, now, Input::Drained(p));
            }
            o => {
                let _ = std::hint::black_box(o);
            }
        }
    }
}

/// One keep-alive exchange through `conn`: `request` from the client,
/// `response` from the (pooled) upstream, every output taken (benches).
pub fn round_trip(
    conn: &mut Connection,
    gw: &mut Gateway,
    now: Instant,
    request: &Bytes,
    response: &Bytes,
    up: &mut Option<UpstreamId>,
) {
    conn.handle_input(gw, now, Input::Received(Peer::Client, request.clone()));
    drain_pooled(conn, gw, now, up);
    if let Some(id) = *up {
        conn.handle_input(
            gw,
            now,
            Input::Received(Peer::Upstream(id), response.clone()),
        );
        drain_pooled(conn, gw, now, up);
    }
}
