//! `diff`: recorded requests run through two configs, and what changes
//! for each: the route, the upstream group, a local answer (a new 401,
//! 429, 403, 404), the bytes sent upstream.
//!
//! Every request runs on a connection of its own, one virtual
//! millisecond after the one before, over one gateway per config (so
//! rate limits and balancers see the whole sequence, in the same order,
//! under both configs); servers answer `200`; calls out of the core get
//! no reply and expire, as in `explain`.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use super::wire::split_requests;
use super::Sim;
use crate::Config;

/// What one request met under one config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// The route taken (`-`: none).
    pub route: String,
    /// The upstream group (`-`: none).
    pub upstream: String,
    /// The status the client got.
    pub status: u16,
    /// Answered by weir itself (not forwarded), and by what.
    pub local: Option<String>,
    /// Every byte sent upstream for it.
    pub sent: Vec<u8>,
}

/// One request whose fate differs between the configs.
#[derive(Clone, Debug)]
pub struct Changed {
    /// Where it came from: the traffic file and its position there.
    pub source: String,
    /// Its request line.
    pub line: String,
    /// Under the old config.
    pub old: Seen,
    /// Under the new one.
    pub new: Seen,
}

/// The kinds of change, as the summary counts them.
pub const KINDS: [&str; 4] = ["route", "upstream", "answer", "upstream bytes"];

impl Changed {
    /// Which of [`KINDS`] apply.
    pub fn kinds(&self) -> Vec<&'static str> {
        let (o, n) = (&self.old, &self.new);
        let mut out = Vec::new();
        if o.route != n.route {
            out.push(KINDS[0]);
        }
        if o.upstream != n.upstream {
            out.push(KINDS[1]);
        }
        if o.local != n.local || o.status != n.status {
            out.push(KINDS[2]);
        }
        if o.sent != n.sent {
            out.push(KINDS[3]);
        }
        out
    }
}

/// The requests of a traffic file: each complete request of the stream
/// (a trailing partial one is left out).
pub fn requests(stream: &[u8]) -> Vec<Vec<u8>> {
    split_requests(stream)
        .into_iter()
        .map(|(r, _)| r)
        .filter(|r| super::complete_request(r) == Some(r.len()))
        .collect()
}

/// Runs `requests` in order through `config`, each on its own connection.
pub fn run(config: Config, requests: &[Vec<u8>], epoch: Instant) -> Vec<Seen> {
    let servers = super::servers(&config);
    let names: Vec<String> = config.upstreams.iter().map(|g| g.name.clone()).collect();
    let mut sim = Sim::new(config, epoch);
    let mut out = Vec::with_capacity(requests.len());
    for (i, req) in requests.iter().enumerate() {
        let now = epoch + Duration::from_millis(i as u64);
        sim.fresh_connection(now);
        for s in &servers {
            sim.scripts.insert(
                *s,
                [b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec()].into(),
            );
        }
        sim.client(req);
        sim.run_until_logged(Duration::from_secs(600));
        let sent: Vec<u8> = sim.socks.iter().flat_map(|s| s.received.clone()).collect();
        let seen = match sim.logs.first() {
            Some(r) => Seen {
                route: if r.route.is_empty() {
                    "-".into()
                } else {
                    String::from_utf8_lossy(&r.route).into_owned()
                },
                upstream: r
                    .group
                    .and_then(|g| names.get(g).cloned())
                    .unwrap_or_else(|| "-".into()),
                status: r.status,
                local: sent.is_empty().then(|| {
                    let by = if r.answered_by.is_empty() {
                        r.note
                    } else {
                        r.answered_by
                    };
                    format!("{} ({by})", r.status)
                }),
                sent,
            },
            None => Seen {
                route: "-".into(),
                upstream: "-".into(),
                status: 0,
                local: Some("no answer".into()),
                sent,
            },
        };
        out.push(seen);
    }
    out
}

/// Every request of `traffic` (named streams) under both configs; the
/// ones whose fate differs, in order, and how many requests ran.
pub fn compare(
    old: Config,
    new: Config,
    traffic: &[(String, Vec<u8>)],
    epoch: Instant,
) -> (Vec<Changed>, usize) {
    let mut all = Vec::new();
    for (name, stream) in traffic {
        for (i, r) in requests(stream).into_iter().enumerate() {
            all.push((format!("{name}#{}", i + 1), r));
        }
    }
    let reqs: Vec<Vec<u8>> = all.iter().map(|(_, r)| r.clone()).collect();
    let before = run(old, &reqs, epoch);
    let after = run(new, &reqs, epoch);
    let changed = all
        .iter()
        .zip(before.into_iter().zip(after))
        .filter(|(_, (o, n))| o != n)
        .map(|((source, req), (old, new))| Changed {
            source: source.clone(),
            line: request_line(req),
            old,
            new,
        })
        .collect();
    (changed, reqs.len())
}

fn request_line(req: &[u8]) -> String {
    let end = req.iter().position(|&b| b == b'\r').unwrap_or(req.len());
    String::from_utf8_lossy(&req[..end]).into_owned()
}

/// The report: each changed request with what changed, then a count
/// per kind of change.
pub fn render(changed: &[Changed], total: usize) -> String {
    let mut out = String::new();
    for c in changed {
        let _ = writeln!(out, "{} {}", c.source, c.line);
        let (o, n) = (&c.old, &c.new);
        if o.route != n.route {
            let _ = writeln!(out, "    route: {} -> {}", o.route, n.route);
        }
        if o.upstream != n.upstream {
            let _ = writeln!(out, "    upstream: {} -> {}", o.upstream, n.upstream);
        }
        if o.local != n.local || o.status != n.status {
            let say = |s: &Seen| {
                s.local
                    .clone()
                    .unwrap_or_else(|| format!("forwarded, {}", s.status))
            };
            let _ = writeln!(out, "    answer: {} -> {}", say(o), say(n));
        }
        if o.sent != n.sent && !o.sent.is_empty() && !n.sent.is_empty() {
            for line in line_diff(&o.sent, &n.sent) {
                let _ = writeln!(out, "    {line}");
            }
        }
    }
    let _ = writeln!(out, "== {} of {total} requests change", changed.len());
    for kind in KINDS {
        let n = changed.iter().filter(|c| c.kinds().contains(&kind)).count();
        if n > 0 {
            let _ = writeln!(out, "    {kind}: {n}");
        }
    }
    out
}

/// The lines of the upstream request only one side has (`-` old, `+` new).
fn line_diff(old: &[u8], new: &[u8]) -> Vec<String> {
    let lines = |b: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(b)
            .split("\r\n")
            .map(str::to_owned)
            .collect()
    };
    let (o, n) = (lines(old), lines(new));
    let mut out: Vec<String> = o
        .iter()
        .filter(|l| !n.contains(l))
        .map(|l| format!("- {l}"))
        .collect();
    out.extend(
        n.iter()
            .filter(|l| !o.contains(l))
            .map(|l| format!("+ {l}")),
    );
    out
}
