//! Pass-through (`Output::Pass` / `Input::Passed`): the rest of a response
//! body of known length moves without going through the core, which
//! keeps the framing, the timers and the accounting. The simulator carries
//! a pass out by copying, as weir-mio does with `splice(2)`; every test
//! compares with the same exchange where every byte goes through the core.

use std::time::{Duration, Instant};

use weir_core::sim::{config, Sim};
use weir_core::{Input, Peer};

const GET: &[u8] = b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n";

fn sim(extra: &str) -> Sim {
    Sim::from_toml(&config(1, extra), Instant::now()).unwrap()
}

/// A response with a `len`-byte body of varied bytes.
fn response(len: usize) -> Vec<u8> {
    let mut r = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n").into_bytes();
    r.extend((0..len).map(|i| (i * 7 + i / 251) as u8));
    r
}

/// Runs two keep-alive exchanges of `len`-byte bodies in pieces of
/// `split`, with pass-through at `min` or off; the client's bytes, the
/// bytes passed, and the access records' (status, bytes out).
fn two_exchanges(
    len: usize,
    split: usize,
    min: Option<u64>,
) -> (Vec<u8>, u64, Vec<(u16, u64)>, Sim) {
    let mut s = sim("");
    if let Some(m) = min {
        s.pass_through(m);
    }
    s.split = split;
    let r = response(len);
    s.script(9001, &[&r, &r]);
    s.client(GET);
    s.client(GET);
    let logs = s.logs.iter().map(|l| (l.status, l.bytes_out)).collect();
    (s.client_out.clone(), s.passed, logs, s)
}

/// The client receives exactly what it would without pass-through, the
/// body bytes after the head's read never reach the core, the records
/// count every byte, and the upstream connection is reused.
#[test]
fn a_long_body_is_passed_and_arrives_the_same() {
    let len = 1 << 20;
    let (plain, plain_passed, plain_logs, _) = two_exchanges(len, 16 * 1024, None);
    let (out, passed, logs, s) = two_exchanges(len, 16 * 1024, Some(32 * 1024));
    assert_eq!(plain_passed, 0);
    assert!(out == plain, "the client's bytes differ");
    assert_eq!(logs, plain_logs);
    assert_eq!(logs[0].1, (response(len).len()) as u64);
    // Two bodies, less what came in each head's read (16 KiB less the head).
    let head = (response(len).len() - len) as u64;
    assert_eq!(passed, 2 * (len as u64 - (16 * 1024 - head)));
    assert_eq!(s.socks.len(), 1, "the upstream was pooled and reused");
    assert!(s.socks[0].reused);
}

/// Any piece sizes: the same bytes as through the core.
#[test]
fn pieces_of_any_size_give_the_same_bytes() {
    for split in [1, 7, 100, 4096, 15_000] {
        let len = 20_000;
        let (plain, ..) = two_exchanges(len, split, None);
        let (out, passed, logs, _) = two_exchanges(len, split, Some(1000));
        assert!(out == plain, "split {split}: the client's bytes differ");
        assert!(passed > 0, "split {split}: nothing passed");
        assert_eq!(logs.len(), 2);
    }
}

/// Below the threshold, chunked, and for HEAD, every byte goes through
/// the core.
#[test]
fn short_chunked_and_bodiless_responses_are_not_passed() {
    let (_, passed, ..) = two_exchanges(10_000, 1000, Some(32 * 1024));
    assert_eq!(passed, 0, "a 10 000-byte body is below 32 KiB");

    let mut s = sim("");
    s.pass_through(1);
    s.split = 100;
    let mut chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n".to_vec();
    chunked.extend([b'x'; 0x1000]);
    chunked.extend(b"\r\n0\r\n\r\n");
    s.script(9001, &[&chunked]);
    s.client(GET);
    assert_eq!(s.passed, 0);
    assert!(s.client_text().ends_with("\r\n0\r\n\r\n"));

    let mut s = sim("");
    s.pass_through(1);
    s.script(9001, &[b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"]);
    s.client(b"HEAD /big HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(s.passed, 0);
    assert_eq!(s.logs.len(), 1);
}

/// The upstream closing before the announced length: the client is
/// closed (its head is out), the record says so and counts what passed.
#[test]
fn an_upstream_that_closes_mid_pass_closes_the_client() {
    let mut s = sim("");
    s.pass_through(10);
    s.split = 50;
    s.close_after_response = true;
    let mut r = response(1000);
    r.truncate(r.len() - 400);
    s.script(9001, &[&r]);
    s.client(GET);
    assert!(s.client_closed);
    assert_eq!(s.logs[0].note, "upstream closed mid-body");
    assert_eq!(s.logs[0].bytes_out, (r.len()) as u64);
    assert!(s.passed > 0);
}

/// `upstream_idle` holds during a pass: each piece re-arms it, a gap as
/// long as it closes both sides.
#[test]
fn the_idle_timer_holds_during_a_pass() {
    let mut s = sim("[timeouts]\nupstream_idle = 2000");
    s.pass_through(10);
    s.split = 100;
    let r = response(1000);
    s.script(9001, &[&r[..r.len() - 600]]);
    s.client(GET);
    assert!(s.passed > 0);
    let mut at = r.len() - 600;
    for _ in 0..3 {
        s.advance(Duration::from_millis(1999));
        assert!(!s.client_closed);
        s.socks[0].pending.extend(&r[at..at + 100]);
        at += 100;
        s.drive();
    }
    assert_eq!(s.client_out.len(), r.len() - 300);
    s.advance(Duration::from_millis(1999));
    assert!(!s.client_closed);
    s.advance(Duration::from_millis(1));
    assert!(s.client_closed && s.socks[0].closed);
    assert_eq!(s.logs[0].bytes_out, (r.len() - 300) as u64);
}

/// The client leaving mid-pass ends the exchange: the upstream is closed,
/// not pooled, and the record counts what reached the client.
#[test]
fn the_client_leaving_mid_pass_ends_the_exchange() {
    let mut s = sim("");
    s.pass_through(10);
    s.split = 100;
    let r = response(1000);
    s.script(9001, &[&r[..500]]);
    s.client(GET);
    assert!(s.passed > 0 && s.logs.is_empty());
    s.input(Input::Failed(Peer::Client));
    assert!(s.socks[0].closed, "the upstream is not reused mid-body");
    assert_eq!(s.logs.len(), 1);
    assert_eq!(s.logs[0].bytes_out, 500);
}
