//! An idle keep-alive connection holds nothing on the heap once it has
//! compacted (its buffers went back to the gateway's stock): dropping it
//! frees no byte. Measured with a global allocator
//! that tracks live bytes (one test per file, so nothing else allocates
//! concurrently).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use weir_core::{Config, Connection, Gateway, Input, Output, Peer};

struct Live;
static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged.
unsafe impl GlobalAlloc for Live {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new, Ordering::SeqCst);
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static A: Live = Live;

/// Takes every output; returns what was sent to the client.
fn drain(conn: &mut Connection, gw: &mut Gateway, now: Instant) -> Vec<u8> {
    let mut sent = Vec::new();
    loop {
        match conn.poll_output() {
            Output::Wait(_) => return sent,
            Output::Connect { id, .. } => {
                conn.handle_input(gw, now, Input::Connected { id, reused: false });
                conn.handle_input(
                    gw,
                    now,
                    Input::Received(
                        Peer::Upstream(id),
                        Bytes::from_static(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
                    ),
                );
            }
            Output::Send(Peer::Client, b) => {
                sent.extend_from_slice(&b);
                conn.handle_input(gw, now, Input::Drained(Peer::Client));
            }
            Output::Send(p, _) => conn.handle_input(gw, now, Input::Drained(p)),
            _ => {}
        }
    }
}

#[test]
fn a_compacted_idle_connection_holds_no_heap() {
    let cfg = Config::from_toml(&weir_core::sim::config(1, "")).unwrap();
    let mut gw = Gateway::new(Arc::new(cfg), 0);
    let t0 = Instant::now();
    let mut conn = Connection::new(&gw, "10.0.0.1:1".parse().unwrap(), t0);
    for round in 0..2u64 {
        let now = t0 + Duration::from_secs(round);
        conn.handle_input(
            &mut gw,
            now,
            Input::Received(
                Peer::Client,
                Bytes::from_static(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
            ),
        );
        let sent = drain(&mut conn, &mut gw, now);
        assert!(
            sent.ends_with(b"\r\n\r\nok"),
            "round {round}: response forwarded"
        );
        // While it has just answered, the connection keeps its buffers.
        assert!(!conn.is_compact(), "round {round}: busy after a response");
        let later = now + Duration::from_millis(100);
        conn.handle_input(&mut gw, later, Input::Tick);
        drain(&mut conn, &mut gw, later);
        assert!(
            conn.is_compact(),
            "round {round}: compact after 100 ms idle"
        );
    }
    let held = LIVE.load(Ordering::SeqCst);
    drop(conn);
    assert_eq!(
        held - LIVE.load(Ordering::SeqCst),
        0,
        "bytes an idle connection held"
    );
    // Its buffer set went to the gateway's stock; shedding frees it (its
    // 2 KiB head block at least).
    let kept = LIVE.load(Ordering::SeqCst);
    gw.shed_spares();
    assert!(
        kept - LIVE.load(Ordering::SeqCst) >= 2048,
        "the stock's sets are freed"
    );
    let shed = LIVE.load(Ordering::SeqCst);
    gw.shed_spares();
    assert_eq!(LIVE.load(Ordering::SeqCst), shed, "nothing left to shed");
}
