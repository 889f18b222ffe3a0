//! Zero heap allocations per forwarded body chunk, counted with a
//! counting global allocator, for Content-Length and chunked bodies in
//! both directions; none per warm keep-alive round trip; and none per
//! one-request connection once earlier ones retired their buffers.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use weir_core::sim::{as_read, round_trip};
use weir_core::{Config, Connection, Gateway, Input, Output, Peer, UpstreamId};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
/// Bytes the core handed out, so a test cannot pass by forwarding nothing.
static SENT: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn drain(conn: &mut Connection, gw: &mut Gateway, now: Instant, up: &mut Option<UpstreamId>) {
    loop {
        match conn.poll_output() {
            Output::Wait(_) => return,
            Output::Connect { id, .. } => {
                *up = Some(id);
                conn.handle_input(gw, now, Input::Connected { id, reused: false });
            }
            Output::Send(p, b) => {
                SENT.fetch_add(b.len(), Ordering::SeqCst);
                conn.handle_input(gw, now, Input::Drained(p));
            }
            _ => {}
        }
    }
}

/// `n` reads of a body as a frontend hands them in: slices of one buffer.
fn reads(body: &[u8], n: usize) -> Vec<Bytes> {
    let mut b = BytesMut::from(body).freeze();
    let size = body.len().div_ceil(n);
    let mut out = Vec::new();
    while !b.is_empty() {
        out.push(b.split_to(b.len().min(size)));
    }
    out
}

fn chunked(pieces: usize, size: usize) -> Vec<u8> {
    let mut w = Vec::new();
    for _ in 0..pieces {
        w.extend_from_slice(format!("{size:x}\r\n").as_bytes());
        w.extend(std::iter::repeat_n(b'x', size));
        w.extend_from_slice(b"\r\n");
    }
    w.extend_from_slice(b"0\r\n\r\n");
    w
}

/// Allocations while `body_reads` flow from `from` through the core.
fn count(request_head: &[u8], response_head: &[u8], body: Vec<Bytes>, upload: bool) -> usize {
    let cfg = Config::from_toml(&weir_core::sim::config(1, "")).unwrap();
    let mut gw = Gateway::new(Arc::new(cfg), 0);
    let now = Instant::now();
    let mut conn = Connection::new(&gw, "10.0.0.1:1".parse().unwrap(), now);
    let mut up = None;
    conn.handle_input(
        &mut gw,
        now,
        Input::Received(Peer::Client, Bytes::copy_from_slice(request_head)),
    );
    drain(&mut conn, &mut gw, now, &mut up);
    let id = up.unwrap();
    if !upload {
        conn.handle_input(
            &mut gw,
            now,
            Input::Received(Peer::Upstream(id), Bytes::copy_from_slice(response_head)),
        );
        drain(&mut conn, &mut gw, now, &mut up);
    }
    let from = if upload {
        Peer::Client
    } else {
        Peer::Upstream(id)
    };
    // Warm the output queue up to its working capacity.
    let (first, rest) = body.split_first().unwrap();
    conn.handle_input(&mut gw, now, Input::Received(from, first.clone()));
    drain(&mut conn, &mut gw, now, &mut up);
    let middle = &rest[..rest.len() - 1];
    let sent_before = SENT.load(Ordering::SeqCst);
    let before = ALLOCS.load(Ordering::SeqCst);
    for b in middle {
        conn.handle_input(&mut gw, now, Input::Received(from, b.clone()));
        drain(&mut conn, &mut gw, now, &mut up);
    }
    let allocs = ALLOCS.load(Ordering::SeqCst) - before;
    let expected: usize = middle.iter().map(|b| b.len()).sum();
    // A chunk-size line cut by a read is held until the next read brings
    // its end (never forwarded in part): the window's edges may shift a
    // few framing bytes in or out of it.
    let sent = SENT.load(Ordering::SeqCst) - sent_before;
    assert!(
        sent.abs_diff(expected) <= 16,
        "body not forwarded: {sent} bytes sent for {expected}"
    );
    allocs
}

/// A gateway over two servers with the access log off (as `--quiet`).
fn quiet_gateway() -> Gateway {
    let cfg = Config::from_toml(&weir_core::sim::config(2, "")).unwrap();
    let mut gw = Gateway::new(Arc::new(cfg), 1);
    gw.set_access_log(false);
    gw
}

/// Allocations per call of `step`, over 100 calls after 10 to warm up.
fn allocations_per(mut step: impl FnMut()) -> usize {
    for _ in 0..10 {
        step();
    }
    let before = ALLOCS.load(Ordering::SeqCst);
    for _ in 0..100 {
        step();
    }
    (ALLOCS.load(Ordering::SeqCst) - before).div_ceil(100)
}

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 12\r\n\r\nhello world\n";

/// Allocations per keep-alive GET/200 round trip once the connection is
/// warm.
fn round_trip_allocations() -> usize {
    let mut gw = quiet_gateway();
    let now = Instant::now();
    let mut conn = Connection::new(&gw, "10.0.0.1:1234".parse().unwrap(), now);
    let req = as_read(b"GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: wrk\r\n\r\n");
    let resp = as_read(RESPONSE);
    let mut up = None;
    allocations_per(|| round_trip(&mut conn, &mut gw, now, &req, &resp, &mut up))
}

/// Allocations per connection that makes one request and closes, once
/// earlier connections have retired their buffers into the gateway.
fn short_connection_allocations() -> usize {
    let mut gw = quiet_gateway();
    let now = Instant::now();
    let req = as_read(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n");
    let resp = as_read(RESPONSE);
    allocations_per(|| {
        let mut conn = Connection::new(&gw, "10.0.0.1:1234".parse().unwrap(), now);
        let mut up = None;
        round_trip(&mut conn, &mut gw, now, &req, &resp, &mut up);
        assert!(conn.is_finished(), "closed after its response");
        conn.retire(&mut gw);
    })
}

#[test]
fn forwarding_body_chunks_allocates_nothing() {
    let get = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let n = 64;
    let cl_head = b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n";
    assert_eq!(
        count(get, cl_head, reads(&vec![b'y'; 1 << 20], n), false),
        0,
        "download, length"
    );
    let ch_head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(
        count(get, ch_head, reads(&chunked(64, 16384), n), false),
        0,
        "download, chunked"
    );
    let put = b"PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 1048576\r\n\r\n";
    assert_eq!(
        count(put, b"", reads(&vec![b'y'; 1 << 20], n), true),
        0,
        "upload, length"
    );
    let put = b"PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(
        count(put, b"", reads(&chunked(64, 16384), n), true),
        0,
        "upload, chunked"
    );
    // Here rather than in a test of its own: the counter is global and
    // tests run in parallel threads.
    assert_eq!(round_trip_allocations(), 0, "allocations per round trip");
    assert_eq!(
        short_connection_allocations(),
        0,
        "allocations per short connection"
    );
}
