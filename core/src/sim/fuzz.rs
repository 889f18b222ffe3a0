//! Fuzz harnesses: bytes in, invariants checked, a violation panics. The
//! cargo-fuzz targets in `fuzz/` and the stable corpus tests call these
//! same functions.

use std::time::{Duration, Instant};

use super::oracle::{self, Expect};
use super::Sim;
use crate::http1::parse::HeadSpan;
use crate::http1::{
    parse_request, parse_response, request_framing, response_framing, BodyReader, HeadScanner,
};
use crate::rng::hash;
use crate::Config;

/// The gateway under test: two servers, a route that strips `/s/`.
const CONFIG: &str = "listen = \"127.0.0.1:8080\"
[limits]
max_request_head = 4096
max_response_head = 4096
window = 4096
[[upstream]]
name = \"app\"
servers = [{ addr = \"127.0.0.1:9001\" }, { addr = \"127.0.0.1:9002\" }]
[[route]]
path_prefix = \"/s/\"
upstream = \"app\"
strip_prefix = true
[[route]]
upstream = \"app\"
";

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
    run_with(config, client, server, split, faults, epoch)
}

fn run_with(
    config: Config,
    client: &[u8],
    server: &[u8],
    split: usize,
    faults: u64,
    epoch: Instant,
) -> Sim {
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

/// What the oracle expects of [`CONFIG`].
const EXPECT: Expect = Expect {
    strip: "/s/",
    client_ip: "10.0.0.7",
    // The request head (or a window of body) in, a response head, and
    // a window queued each way.
    max_held: 4096 + 1 + 4096 + 1 + 2 * 4096,
};

/// Target 1: a whole connection. The input is client bytes, optionally
/// `\0\0\0\0` and the server's bytes; split sizes and faults derive from
/// a hash of the input. Checks: no panic or livelock; the same output for
/// a different split; and the [oracle](super::oracle) on both runs: what
/// reached the upstreams is exactly what the client sent (no smuggling),
/// the client got valid responses in order, memory stayed bounded.
/// `epoch` is only the base of virtual time (the core reads no clock).
pub fn proxy(data: &[u8], epoch: Instant) {
    let config = Config::from_toml(CONFIG).expect("the fuzz config is valid");
    proxy_on(config, data, epoch);
}

/// [`proxy`] with a deliberate break switched on (it should panic).
#[cfg(feature = "test-mutants")]
pub fn proxy_mutant(data: &[u8], epoch: Instant, mutant: crate::mutant::Mutant) {
    let mut config = Config::from_toml(CONFIG).expect("the fuzz config is valid");
    config.mutant = mutant;
    let _on = crate::mutant::on_this_thread(mutant);
    proxy_on(config, data, epoch);
}

fn proxy_on(config: Config, data: &[u8], epoch: Instant) {
    let (client, server) = halves(data);
    let h = hash(data);
    let split = 1 + (h % 64) as usize;
    let faults = h >> 8;
    let a = run_with(config.clone(), client, server, split, faults, epoch);
    let b = run_with(config, client, server, usize::MAX, faults, epoch);
    // Same traffic, different pieces, same bytes out (when nothing depends on timing).
    if faults & 4 == 0 {
        assert_eq!(
            a.client_out, b.client_out,
            "client output depends on the split"
        );
    }
    oracle::check(client, &a, &EXPECT);
    oracle::check(client, &b, &EXPECT);
}

/// Target 2: a client byte stream through the head scanner, the parser
/// and request framing, in any split.
pub fn request_stream(data: &[u8]) {
    let step = 1 + (hash(data) % 17) as usize;
    if let Some(span) = head_in_any_split(data, step) {
        let head = bytes::Bytes::copy_from_slice(&data[span.skip..span.end]);
        if let Ok(req) = parse_request(&head) {
            if let Ok(f) = request_framing(req.version, &req.headers) {
                body(f, &data[span.end..], step);
            }
        }
    }
}

/// Target 3: a server byte stream through the head scanner, response
/// parsing and framing (HEAD or not, from the hash), in any split.
pub fn response_stream(data: &[u8]) {
    let step = 1 + (hash(data) % 13) as usize;
    if let Some(span) = head_in_any_split(data, step) {
        let head = bytes::Bytes::copy_from_slice(&data[span.skip..span.end]);
        if let Ok(resp) = parse_response(&head) {
            let was_head = hash(data) & 1 == 1;
            if let Ok(f) = response_framing(was_head, resp.status, resp.version, &resp.headers) {
                body(f, &data[span.end..], step);
            }
        }
    }
}

/// Scans `data` for a head `step` bytes at a time and whole: both must
/// find the same end (or both refuse). The span, when there is one.
fn head_in_any_split(data: &[u8], step: usize) -> Option<HeadSpan> {
    let mut scan = HeadScanner::default();
    let mut seen = 0;
    let mut found = Ok(None);
    while seen < data.len() {
        seen = (seen + step).min(data.len());
        found = scan.scan(&data[..seen], 4096);
        if !matches!(found, Ok(None)) {
            break;
        }
    }
    let whole = HeadScanner::default().scan(data, 4096);
    assert_eq!(
        found.is_err(),
        whole.is_err(),
        "the split changed whether the head is refused"
    );
    if let Ok(Some(span)) = found {
        assert_eq!(
            whole,
            Ok(Some(span)),
            "the split changed where the head ends"
        );
        return Some(span);
    }
    None
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
    match Config::from_toml_with(text, &fuzz_file) {
        // A valid config compiles into a plan (routes, regex set, chains).
        Ok(c) => drop(crate::plan::Plan::compile(std::sync::Arc::new(c), 1)),
        Err(errs) => {
            let lines = text.lines().count().max(1) + 1;
            for e in errs {
                if let Some(l) = e.line {
                    assert!(l >= 1 && l <= lines, "error line {l} outside the text");
                }
            }
        }
    }
}

/// The files a fuzzed config may name, by how the name ends: enough for
/// every file-reading kind (basic-auth, api-key, jwt with a key or a
/// JWKS, error pages) to get past its loader; any other name is missing.
pub fn fuzz_file(path: &str) -> Result<Vec<u8>, String> {
    let text: &str = if path.ends_with(".htpasswd") {
        "md5:$apr1$lZL6V/ci$eIMz/iKDkbtys/uU7LEK00\nsha:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n"
    } else if path.ends_with(".keys") {
        "ops sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae\n"
    } else if path.ends_with(".pem") {
        include_str!("../../tests/keys/rs256-public.pem")
    } else if path.ends_with(".jwks") {
        r#"{"keys":[{"kty":"oct","kid":"k1","alg":"HS256","k":"czNjcmV0"}]}"#
    } else if path.ends_with(".key") {
        "s3cret"
    } else if path.ends_with(".html") || path.ends_with(".json") || path.ends_with(".txt") {
        "<p>{status} {request_id}</p>"
    } else {
        return Err(format!("cannot read {path:?}: not found"));
    };
    Ok(text.as_bytes().to_vec())
}

/// What the `proxy` target's split run of `data` did, as text: the
/// client's output and what each upstream received (for investigating a
/// failure; `tests/fuzz_corpus.rs` prints it with a failing input).
pub fn show(data: &[u8], epoch: Instant) -> String {
    let (client, server) = halves(data);
    let h = hash(data);
    let a = run(client, server, 1 + (h % 64) as usize, h >> 8, epoch);
    let mut out = format!(
        "faults {:#x}\n--- client received:\n{}\n",
        h >> 8,
        String::from_utf8_lossy(&a.client_out)
    );
    for (i, s) in a.socks.iter().enumerate() {
        out += &format!(
            "--- upstream #{i} {} (closed: {}) received:\n{}\n",
            s.addr,
            s.closed,
            String::from_utf8_lossy(&s.received)
        );
    }
    out
}
