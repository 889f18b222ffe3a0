//! Pass-through (`Output::Pass` / `Input::Passed`): the rest of a body of
//! known length (a response's, or a request's) moves without going
//! through the core, which keeps the framing, the timers and the
//! accounting. The simulator carries
//! a pass out by copying, as weir-mio does with `splice(2)`; every test
//! compares with the same exchange where every byte goes through the core.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use weir_core::sim::{config, Sim};
use weir_core::{Input, Peer};

const GET: &[u8] = b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n";

fn sim(extra: &str) -> Sim {
    Sim::from_toml(&config(1, extra), Instant::now()).unwrap()
}

/// A simulator with pass-through from `min` bytes, peers delivering
/// `split` bytes at a time.
fn passing(extra: &str, min: u64, split: usize) -> Sim {
    let mut s = sim(extra);
    s.pass_through(min);
    s.split = split;
    s
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

/// Below the threshold (a body's rest, a chunk's data), and for HEAD,
/// every byte goes through the core.
#[test]
fn short_bodies_short_chunks_and_bodiless_responses_are_not_passed() {
    let (_, passed, ..) = two_exchanges(10_000, 1000, Some(32 * 1024));
    assert_eq!(passed, 0, "a 10 000-byte body is below 32 KiB");

    let mut s = passing("", 0x1001, 100);
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
    let mut s = passing("", 10, 50);
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
    let mut s = passing("[timeouts]\nupstream_idle = 2000", 10, 100);
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
    let mut s = passing("", 10, 100);
    let r = response(1000);
    s.script(9001, &[&r[..500]]);
    s.client(GET);
    assert!(s.passed > 0 && s.logs.is_empty());
    s.input(Input::Failed(Peer::Client));
    assert!(s.socks[0].closed, "the upstream is not reused mid-body");
    assert_eq!(s.logs.len(), 1);
    assert_eq!(s.logs[0].bytes_out, 500);
}

/// A request with a `len`-byte body of varied bytes.
fn upload(len: usize) -> Vec<u8> {
    let mut r =
        format!("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: {len}\r\n\r\n").into_bytes();
    r.extend((0..len).map(|i| (i * 13 + i / 241) as u8));
    r
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// What one run of the simulator showed.
#[derive(Debug, PartialEq)]
struct Seen {
    /// Every byte the servers received, socket after socket.
    up: Vec<u8>,
    /// Every byte the client received.
    out: Vec<u8>,
    /// The records' (status, bytes in, bytes out).
    logs: Vec<(u16, u64, u64)>,
    /// Upstream connections opened.
    upstreams: usize,
}

/// The client sends `client` in pieces from `splits`, the server answers
/// `responses`, with pass-through at `min` or off: what was seen, and the
/// bytes passed (from the client, to the client).
fn run(
    client: &[u8],
    responses: &[&[u8]],
    splits: Vec<usize>,
    min: Option<u64>,
) -> (Seen, u64, u64) {
    let mut s = sim("");
    if let Some(m) = min {
        s.pass_through(m);
    }
    s.splits = splits;
    s.script(9001, responses);
    s.client(client);
    let seen = Seen {
        up: s.socks.iter().flat_map(|k| k.received.clone()).collect(),
        out: s.client_out.clone(),
        logs: s
            .logs
            .iter()
            .map(|l| (l.status, l.bytes_in, l.bytes_out))
            .collect(),
        upstreams: s.socks.len(),
    };
    (seen, s.passed_in, s.passed)
}

/// Two uploads of `len` bytes and a GET, all pipelined, in pieces of
/// `split`, with pass-through at `min` or off: what was seen and the
/// bytes passed from the client.
fn uploads(len: usize, split: usize, min: Option<u64>) -> (Seen, u64) {
    let mut all = upload(len);
    all.extend(upload(len));
    all.extend(GET);
    let (seen, passed_in, _) = run(&all, &[OK, OK, OK], vec![split], min);
    assert_eq!(seen.upstreams, 1, "one upstream connection, reused");
    (seen, passed_in)
}

/// A long request body is passed: the server receives exactly what it
/// would through the core, the pipelined requests after it are read by
/// the core (a pass never takes a byte beyond its body), and the records
/// count every byte.
#[test]
fn a_long_request_body_is_passed_and_arrives_the_same() {
    let len = 1 << 20;
    let (plain, none) = uploads(len, 16 * 1024, None);
    let (seen, passed) = uploads(len, 16 * 1024, Some(32 * 1024));
    assert_eq!(none, 0);
    assert!(seen == plain, "the bytes or the records differ");
    assert_eq!(seen.logs.len(), 3);
    let head = (upload(len).len() - len) as u64;
    assert_eq!(seen.logs[0].1, len as u64 + head);
    // Each body less what came with its head's read.
    assert!(passed > 2 * (len as u64 - 16 * 1024), "passed {passed}");
    assert!(passed <= 2 * len as u64);
}

/// Any piece sizes: the same bytes reach the server as through the core.
#[test]
fn request_pieces_of_any_size_give_the_same_bytes() {
    for split in [1, 7, 100, 4096, 15_000] {
        let len = 20_000;
        let (plain, _) = uploads(len, split, None);
        let (seen, passed) = uploads(len, split, Some(1000));
        assert!(
            seen == plain,
            "split {split}: the bytes or the records differ"
        );
        assert!(passed > 0, "split {split}: nothing passed");
    }
}

/// A short body, and chunks shorter than the threshold, go through the
/// core.
#[test]
fn short_request_bodies_and_short_chunks_are_not_passed() {
    let (seen, passed) = uploads(10_000, 1000, Some(32 * 1024));
    assert_eq!(passed, 0, "a 10 000-byte body is below 32 KiB");
    assert_eq!(seen.logs.len(), 3);

    let mut s = passing("", 0x1001, 100);
    s.script(9001, &[OK]);
    let mut req =
        b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n".to_vec();
    req.extend([b'x'; 0x1000]);
    req.extend(b"\r\n0\r\n\r\n");
    s.client(&req);
    assert_eq!(s.passed_in, 0);
    assert_eq!(s.logs.len(), 1);
}

/// A request body passed to a server that answers before it is whole:
/// the answer reaches the client, then both sides close; nothing of the
/// rest reaches the server or is read as a request.
#[test]
fn an_early_answer_mid_pass_closes_both_sides() {
    let mut s = passing("", 10, 100);
    let req = upload(1000);
    s.client(&req[..500]);
    assert!(s.passed_in > 0);
    let sent = s.socks[0].received.len();
    s.socks[0]
        .pending
        .extend(b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n");
    s.drive();
    assert!(
        s.client_text().starts_with("HTTP/1.1 413"),
        "{}",
        s.client_text()
    );
    assert!(s.client_closed && s.socks[0].closed);
    assert!(s.client_pass.is_none(), "the pass ended with the exchange");
    let mut smuggled = req[500..].to_vec();
    smuggled.extend(GET);
    s.client(&smuggled);
    assert_eq!(s.socks[0].received.len(), sent);
    assert_eq!(s.logs.len(), 1);
    assert_eq!(s.logs[0].status, 413);
}

/// `client_body` holds during a pass: each piece re-arms it, and a gap
/// as long as it ends the exchange with a 408 and closes both sides.
#[test]
fn the_body_timer_holds_during_a_request_pass() {
    let mut s = passing("[timeouts]\nclient_body = 2000", 10, 100);
    let req = upload(1000);
    let mut at = req.len() - 600;
    s.client(&req[..at]);
    assert!(s.passed_in > 0);
    for _ in 0..3 {
        s.advance(Duration::from_millis(1999));
        assert!(!s.client_closed);
        s.client(&req[at..at + 100]);
        at += 100;
    }
    let head = req.len() - 1000;
    assert!(s.socks[0].received.ends_with(&req[head..at]));
    s.advance(Duration::from_millis(1999));
    assert!(!s.client_closed);
    s.advance(Duration::from_millis(1));
    assert!(s.client_closed && s.socks[0].closed);
    assert!(
        s.client_text().starts_with("HTTP/1.1 408"),
        "{}",
        s.client_text()
    );
    assert_eq!(s.logs[0].bytes_in, at as u64);
}

/// The client leaving mid-pass ends the exchange: the upstream is closed,
/// the record says 499 and counts what was passed.
#[test]
fn the_client_leaving_mid_request_pass_ends_the_exchange() {
    let mut s = passing("", 10, 100);
    let req = upload(1000);
    s.client(&req[..700]);
    s.client_eof();
    assert!(s.passed_in > 0);
    assert!(s.socks[0].closed, "the upstream is not reused mid-body");
    assert_eq!(s.logs.len(), 1);
    assert_eq!(s.logs[0].status, 499);
    assert_eq!(s.logs[0].bytes_in, 700);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Both directions at once, in pieces of any sizes: an upload whose
    /// answer is a long body, a chunked upload whose answer is chunked, a
    /// GET behind them; the server and the client get exactly the bytes
    /// of the same exchanges through the core.
    #[test]
    fn any_split_passes_the_same_bytes_both_ways(
        splits in prop::collection::vec(1usize..1500, 1..12),
        min in 1u64..500,
    ) {
        let mut all = upload(2500);
        all.extend(chunked(CHUNKED_UPLOAD, &[3000, 1, 2600]));
        all.extend(GET);
        let r = response(3000);
        let c = chunked(CHUNKED_RESPONSE, &[2700, 3100]);
        let answers: [&[u8]; 3] = [&r, &c, OK];
        let (reference, ..) = run(&all, &answers, vec![usize::MAX], None);
        prop_assert_eq!(reference.logs.len(), 3);
        let (seen, passed_in, passed_out) = run(&all, &answers, splits, Some(min));
        prop_assert!(seen == reference, "the bytes or the records differ");
        prop_assert!(passed_in > 0 && passed_out > 0);
    }
}

/// A chunked body with long chunks, an extension on one size line and a
/// trailer: `sizes` chunks of varied bytes.
fn chunked(head: &str, sizes: &[usize]) -> Vec<u8> {
    let mut m = head.as_bytes().to_vec();
    for (k, &n) in sizes.iter().enumerate() {
        match k {
            1 => m.extend(format!("{n:x} ; name=\"v\"\r\n").as_bytes()),
            _ => m.extend(format!("{n:x}\r\n").as_bytes()),
        }
        m.extend((0..n).map(|i| (i * 31 + k) as u8));
        m.extend(b"\r\n");
    }
    m.extend(b"0\r\nX-Sum: 7\r\nContent-Length: 1\r\n\r\n");
    m
}

const CHUNKED_RESPONSE: &str = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
const CHUNKED_UPLOAD: &str = "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";

/// Long chunks are passed once their size line is read, both ways; the
/// framing between them (re-framed: the extension and the forbidden
/// trailer dropped) is the core's, and every byte is as through the core.
#[test]
fn long_chunks_are_passed_and_the_framing_stays_with_the_core() {
    let sizes = [40_000, 70_000, 5, 50_000];
    let mut all = chunked(CHUNKED_UPLOAD, &sizes);
    all.extend(GET);
    let r = chunked(CHUNKED_RESPONSE, &sizes);
    let (plain, ..) = run(&all, &[OK, &r], vec![4096], None);
    let (seen, passed_in, passed_out) = run(&all, &[OK, &r], vec![4096], Some(1000));
    assert!(seen == plain, "the bytes or the records differ");
    let data: u64 = 160_000;
    assert!(
        passed_in > data - 4 * 4096 && passed_in < data,
        "passed in {passed_in}"
    );
    assert!(
        passed_out > data - 4 * 4096 && passed_out < data,
        "passed out {passed_out}"
    );
    let up = String::from_utf8_lossy(&seen.up);
    assert!(
        !up.contains("name=") && !up.contains("Content-Length: 1\r"),
        "re-framed"
    );
    assert!(up.contains("X-Sum: 7"));
    assert_eq!(seen.upstreams, 1);
}

/// A bad size line after a passed chunk: the same 400 and the same bytes
/// upstream as through the core (nothing of the bad line).
#[test]
fn a_bad_chunk_line_after_a_pass_is_refused_the_same() {
    let mut bad = CHUNKED_UPLOAD.as_bytes().to_vec();
    bad.extend(b"9c40\r\n");
    bad.extend([b'y'; 40_000]);
    bad.extend(b"\r\n1 0\r\nz\r\n0\r\n\r\n");
    let (plain, ..) = run(&bad, &[OK], vec![1000], None);
    let (seen, passed_in, _) = run(&bad, &[OK], vec![1000], Some(100));
    assert!(seen == plain, "the bytes or the records differ");
    assert!(passed_in > 30_000);
    assert_eq!(seen.logs[0].0, 400);
    assert!(!String::from_utf8_lossy(&seen.up).contains("1 0"));
}
