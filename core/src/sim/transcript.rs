//! Replay: a recorded client stream and the server's stream run through
//! the core offline, rendered as a stable text transcript of what went to
//! each upstream, what went back to the client, and the access records.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use super::wire::{split_requests, split_responses};
use super::Sim;
use crate::Config;

/// How long a replay lets virtual time run after the last byte, so that
/// every timer (504, idle closes) has fired.
const SETTLE: Duration = Duration::from_secs(600);

/// Runs `client` (every byte a client sent on one connection) against
/// the server that sent `server` (its bytes on that connection), the
/// server answering each request it receives with the next response of
/// its stream. Peers deliver `split` bytes at a time.
pub fn replay(config: Config, epoch: Instant, client: &[u8], server: &[u8], split: usize) -> Sim {
    replay_with_calls(config, epoch, client, server, &[], split)
}

/// [`replay`], with `calls` the recorded replies of every service the
/// layers called (Redis, an auth service), back to back in call order.
pub fn replay_with_calls(
    config: Config,
    epoch: Instant,
    client: &[u8],
    server: &[u8],
    calls: &[u8],
    split: usize,
) -> Sim {
    let heads: Vec<bool> = split_requests(client).iter().map(|(_, h)| *h).collect();
    let responses = split_responses(server, &heads);
    let servers = super::servers(&config);
    let mut sim = Sim::new(config, epoch);
    sim.call_stream.extend(calls);
    sim.split = split.max(1);
    sim.close_when_script_done = true;
    // Every server of the config answers from the same recorded stream,
    // in the order requests reach any of them.
    if let Some(first) = servers.first() {
        sim.script_addr(*first, responses);
        for other in &servers[1..] {
            sim.shared_scripts.push((*other, *first));
        }
    }
    sim.client(client);
    sim.client_eof();
    sim.advance(SETTLE);
    sim
}

/// Renders bytes readably: printable ASCII as is, CR and LF escaped (a
/// line break follows each `\n`), other bytes as `\xNN`. Pieces longer
/// than `limit` are cut, with their full length and hash, so a transcript
/// still pins every byte.
pub fn escape(bytes: &[u8], limit: usize) -> String {
    let mut out = String::new();
    for &b in &bytes[..bytes.len().min(limit)] {
        match b {
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n\n"),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    if bytes.len() > limit {
        let _ = write!(
            out,
            "\n... cut at {limit} of {} bytes, hash {:016x}",
            bytes.len(),
            crate::rng::hash(bytes)
        );
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// The transcript of a finished simulation.
pub fn render(sim: &Sim) -> String {
    const LIMIT: usize = 2048;
    let mut out = String::new();
    for (i, s) in sim.socks.iter().enumerate() {
        let _ = writeln!(
            out,
            "== weir -> upstream {} (connection {}, {} bytes{})",
            s.addr,
            i + 1,
            s.received.len(),
            if s.reused { ", reused" } else { "" }
        );
        out.push_str(&escape(&s.received, LIMIT));
    }
    for (i, (_, call)) in sim.calls.iter().enumerate() {
        let _ = writeln!(
            out,
            "== weir -> service {} (call {}, {} bytes)",
            call.addr,
            i + 1,
            call.request.len()
        );
        out.push_str(&escape(&call.request, LIMIT));
    }
    let _ = writeln!(out, "== weir -> client ({} bytes)", sim.client_out.len());
    out.push_str(&escape(&sim.client_out, LIMIT));
    let _ = writeln!(out, "== access log");
    // The live access log's own lines; the time is virtual: seconds since
    // the replay began.
    let mut line = Vec::new();
    for r in &sim.logs {
        line.clear();
        r.write_line(&mut line, r.end.saturating_duration_since(sim.epoch));
        out.push_str(&String::from_utf8_lossy(&line));
    }
    let _ = writeln!(
        out,
        "== client closed: {}",
        if sim.client_closed { "yes" } else { "no" }
    );
    out
}
