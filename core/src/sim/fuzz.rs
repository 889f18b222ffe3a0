//! Fuzz harnesses: bytes in, invariants checked, a violation panics. The
//! cargo-fuzz targets in `fuzz/` and the stable corpus tests call these
//! same functions.

use std::time::{Duration, Instant};

use super::wire::complete_request;
use super::Sim;
use crate::http1::{
    parse_request, parse_response, request_framing, response_framing, BodyReader, HeadScanner,
};
use crate::rng::hash;
use crate::Config;

const CONFIG: &str = "listen = \"127.0.0.1:8080\"\n[limits]\nmax_request_head = 4096\nmax_response_head = 4096\nwindow = 4096\n[[upstream]]\nname = \"app\"\nservers = [{ addr = \"127.0.0.1:9001\" }, { addr = \"127.0.0.1:9002\" }]\n";

/// Splits `data` into the client's part and the server's part at the
/// first `\0\0\0\0` marker (all client bytes when there is none).
fn halves(data: &[u8]) -> (&[u8], &[u8]) {
    match data.windows(4).position(|w| w == b"\0\0\0\0") {
        Some(i) => (&data[..i], &data[i + 4..]),
        None => (data, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
    }
}

/// Runs one simulation of `data` with pieces of `split` bytes.
fn run(client: &[u8], server: &[u8], split: usize, faults: u64, epoch: Instant) -> Sim {
    let config = Config::from_toml(CONFIG).expect("the fuzz config is valid");
    let mut sim = Sim::new(config, epoch);
    sim.split = split;
    sim.close_when_script_done = faults & 1 == 1;
    if faults & 2 == 2 {
        sim.refuse.push(super::addr(9001));
    }
    // The server part, cut into one response per request (an independent
    // reading), answers requests in order, whichever server gets them.
    let heads: Vec<bool> = super::wire::split_requests(client)
        .iter()
        .map(|(_, h)| *h)
        .collect();
    let responses = super::wire::split_responses(server, &heads);
    sim.script_addr(super::addr(9001), responses);
    sim.shared_scripts
        .push((super::addr(9002), super::addr(9001)));
    sim.client(client);
    if faults & 4 == 4 {
        sim.client_eof();
    }
    sim.advance(Duration::from_millis(1 + (faults >> 3) % 70_000));
    sim
}

/// Target 1: a whole connection. The input is client bytes, optionally
/// `\0\0\0\0` and the server's bytes; split sizes and faults derive from
/// a hash of the input. Checks: no panic or livelock; memory bounded; the
/// same output for a different split; every byte an upstream received
/// re-parses as whole requests (no smuggling: nothing the client did not
/// frame); at most one log record per request the client framed.
/// `epoch` is only the base of virtual time (the core reads no clock).
pub fn proxy(data: &[u8], epoch: Instant) {
    let (client, server) = halves(data);
    let h = hash(data);
    let split = 1 + (h % 64) as usize;
    let faults = h >> 8;
    let a = run(client, server, split, faults, epoch);
    let b = run(client, server, usize::MAX, faults, epoch);
    // Bounded: the core never buffered more than its head limit plus a window.
    assert!(
        a.conn.buffered() <= 4096 + 4096 + 1,
        "core holds {} bytes",
        a.conn.buffered()
    );
    // Same traffic, different pieces, same bytes out (when nothing depends on timing).
    if faults & 4 == 0 {
        assert_eq!(
            a.client_out, b.client_out,
            "client output depends on the split"
        );
    }
    for s in a.socks.iter().chain(&b.socks) {
        let mut at = 0;
        while at < s.received.len() {
            match complete_request(&s.received[at..]) {
                Some(n) => {
                    // Each forwarded request is one the core itself accepts again.
                    let head_end = s.received[at..at + n]
                        .windows(4)
                        .position(|w| w == b"\r\n\r\n")
                        .map(|i| i + 4);
                    let head =
                        bytes::Bytes::copy_from_slice(&s.received[at..at + head_end.unwrap_or(n)]);
                    // Accepted again, with the full allowance of fields.
                    let reparsed = reparses_as_request(&head);
                    assert!(reparsed, "forwarded an unparseable request");
                    at += n;
                    // After an upgrade request, what follows may be tunnel
                    // bytes (after a 101), not requests.
                    if head.windows(20).any(|w| w == b"Upgrade: websocket\r\n") {
                        break;
                    }
                }
                // Only the last request may be incomplete: still on its
                // way (the client is still sending), or cut off by closing
                // the upstream.
                None => {
                    assert!(
                        s.closed || !a.client_closed || !b.client_closed,
                        "an upstream holds a partial request after the exchange ended"
                    );
                    break;
                }
            }
        }
    }
    let framed = super::wire::split_requests(client).len();
    assert!(
        a.logs.len() <= framed.max(1),
        "{} records for {} requests",
        a.logs.len(),
        framed
    );
}

/// True when `head` parses as a request with up to `MAX_HEADERS` fields
/// (what an upstream with weir's own limits accepts).
fn reparses_as_request(head: &[u8]) -> bool {
    let mut raw = [httparse::EMPTY_HEADER; crate::http1::parse::MAX_HEADERS];
    let mut req = httparse::Request::new(&mut raw);
    matches!(req.parse(head), Ok(httparse::Status::Complete(n)) if n == head.len())
        && req
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("host"))
            .count()
            == 1
}

/// Target 2: a client byte stream through the head scanner, the parser
/// and request framing, in any split.
pub fn request_stream(data: &[u8]) {
    let mut scan = HeadScanner::default();
    let step = 1 + (hash(data) % 17) as usize;
    let mut seen = 0;
    let mut found = None;
    while seen < data.len() {
        seen = (seen + step).min(data.len());
        match scan.scan(&data[..seen], 4096) {
            Ok(Some(span)) => {
                found = Some(span);
                break;
            }
            Ok(None) => {}
            Err(_) => return,
        }
    }
    let whole = HeadScanner::default().scan(data, 4096);
    if let Some(span) = found {
        assert_eq!(
            whole,
            Ok(Some(span)),
            "the split changed where the head ends"
        );
        let head = bytes::Bytes::copy_from_slice(&data[span.skip..span.end]);
        if let Ok(req) = parse_request(&head) {
            if let Ok(f) = request_framing(req.version, &req.headers) {
                body(f, &data[span.end..], step);
            }
        }
    }
}

/// Target 3: a server byte stream through response parsing and framing.
pub fn response_stream(data: &[u8]) {
    let mut scan = HeadScanner::default();
    if let Ok(Some(span)) = scan.scan(data, 4096) {
        let head = bytes::Bytes::copy_from_slice(&data[span.skip..span.end]);
        if let Ok(resp) = parse_response(&head) {
            let was_head = hash(data) & 1 == 1;
            if let Ok(f) = response_framing(was_head, resp.status, resp.version, &resp.headers) {
                body(f, &data[span.end..], 1 + (hash(data) % 13) as usize);
            }
        }
    }
}

/// A body read whole and in pieces must give the same bytes.
fn body(framing: crate::http1::Framing, data: &[u8], step: usize) {
    let read = |step: usize| {
        let mut r = BodyReader::new(framing, false);
        let mut out = Vec::new();
        let mut at = 0;
        while at < data.len() && !r.is_done() {
            let mut piece = bytes::Bytes::copy_from_slice(&data[at..(at + step).min(data.len())]);
            let len = piece.len();
            while !piece.is_empty() && !r.is_done() {
                match r.take(&mut piece) {
                    Ok(p) => out.extend_from_slice(&p),
                    Err(_) => return None,
                }
            }
            at += len - piece.len();
        }
        Some((out, r.is_done()))
    };
    let (a, b) = (read(usize::MAX), read(step));
    if let (Some(a), Some(b)) = (&a, &b) {
        assert_eq!(a, b, "a body read in pieces differs");
    }
}

/// Target 4: arbitrary text through the config loader: never a panic, and
/// every error names a line inside the text.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(errs) = Config::from_toml(text) {
        let lines = text.lines().count().max(1) + 1;
        for e in errs {
            if let Some(l) = e.line {
                assert!(l >= 1 && l <= lines, "error line {l} outside the text");
            }
        }
    }
}
