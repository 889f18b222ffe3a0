//! `lab`: an upstream group's balancer run offline on the virtual clock
//! with synthetic traffic (a number of keys, uniform or Zipf, at a rate)
//! and scripted faults (a server down for a while, a slow server), so
//! that strategies can be compared before they meet production. The same
//! [`Group`] that serves traffic picks, with its passive health, retries
//! and failing open; a down server counts a failure and the request goes
//! to the next one, as a refused connect does. Deterministic for a seed.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::balancer::group::GroupSpec;
use crate::balancer::{Group, Outcome, ServerId};
use crate::rng::{hash, Rng};

/// How keys are drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Keys {
    /// Every key as likely.
    Uniform,
    /// Key `k` (from 1) with weight `1 / k^s`.
    Zipf(f64),
}

/// The synthetic traffic.
#[derive(Clone, Debug)]
pub struct Traffic {
    /// Requests to send.
    pub requests: u64,
    /// Distinct keys.
    pub keys: u64,
    /// How they are drawn.
    pub dist: Keys,
    /// Requests per second.
    pub rate: f64,
    /// Time each server takes to answer (unless slowed).
    pub latency: Duration,
    /// Seeds the draws and the balancer.
    pub seed: u64,
    /// Where the virtual clock starts (any instant: handed in, as the
    /// core reads no clock).
    pub start: Instant,
}

/// A scripted fault.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    /// The server.
    pub server: SocketAddr,
    /// From this long after the start ...
    pub start: Duration,
    /// ... until this long after it.
    pub end: Duration,
    /// What happens meanwhile.
    pub kind: FaultKind,
}

/// What a fault does to its server.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FaultKind {
    /// Refuses every request.
    Down,
    /// Answers after this long.
    Slow(Duration),
}

/// One server's figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerFigures {
    /// The server.
    pub addr: Option<SocketAddr>,
    /// Requests it served.
    pub served: u64,
    /// Requests sent to it that failed (it was down).
    pub failed: u64,
    /// The most requests it had in flight at once.
    pub peak_in_flight: u64,
}

/// What a run found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// The group's name and strategy.
    pub upstream: String,
    /// Per server, in config order.
    pub servers: Vec<ServerFigures>,
    /// Requests that went on to another server after a failure.
    pub failovers: u64,
    /// Requests no server served.
    pub unserved: u64,
    /// Keys seen before the first `Down` fault.
    pub keys_before: u64,
    /// Of those, keys served elsewhere while it lasted.
    pub moved_away: u64,
    /// Of those, keys served after it ended by another server than before.
    pub not_home: u64,
}

/// The cumulative weights of a Zipf law over `n` keys.
fn zipf_cdf(n: u64, s: f64) -> Vec<f64> {
    let mut acc = 0.0;
    let mut cdf: Vec<f64> = (1..=n)
        .map(|k| {
            acc += 1.0 / (k as f64).powf(s);
            acc
        })
        .collect();
    cdf.iter_mut().for_each(|c| *c /= acc);
    cdf
}

/// Runs `traffic` through a group built from `spec`, with `faults`.
pub fn run(spec: &GroupSpec, traffic: &Traffic, faults: &[Fault]) -> Report {
    let epoch = traffic.start;
    let mut rng = Rng::new(traffic.seed);
    let mut group = Group::new(spec, traffic.seed);
    let n = spec.servers.len();
    let keys = traffic.keys.max(1);
    let cdf = match traffic.dist {
        Keys::Zipf(s) => zipf_cdf(keys, s),
        Keys::Uniform => Vec::new(),
    };
    let mut servers: Vec<ServerFigures> = spec
        .servers
        .iter()
        .map(|(a, _)| ServerFigures {
            addr: Some(*a),
            ..Default::default()
        })
        .collect();
    let mut in_flight = vec![0u64; n];
    let mut ends: BinaryHeap<Reverse<(Instant, u16, Duration)>> = BinaryHeap::new();
    let window = faults
        .iter()
        .find(|f| f.kind == FaultKind::Down)
        .map(|f| (f.start, f.end));
    // Per key: its server before the window, and whether it was seen
    // moved during it and away from home after it.
    let mut home: Vec<Option<u16>> = vec![None; keys as usize];
    let mut moved = vec![false; keys as usize];
    let mut away = vec![false; keys as usize];
    let mut report = Report {
        upstream: format!("{} ({})", spec.name, spec.strategy.name()),
        ..Default::default()
    };
    let fault_at = |s: SocketAddr, at: Duration| {
        faults
            .iter()
            .find(|f| f.server == s && f.start <= at && at < f.end)
            .map(|f| f.kind)
    };
    let step = Duration::from_secs_f64(1.0 / traffic.rate.max(1e-9));
    for i in 0..traffic.requests {
        let at = step * i as u32;
        let now = epoch + at;
        while let Some(Reverse((end, s, latency))) = ends.peek().copied() {
            if end > now {
                break;
            }
            ends.pop();
            in_flight[usize::from(s)] -= 1;
            group.report(ServerId(s), Outcome::Success { latency }, end);
        }
        let k = match traffic.dist {
            Keys::Uniform => rng.below(keys),
            Keys::Zipf(_) => {
                let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                cdf.partition_point(|&c| c < u).min(keys as usize - 1) as u64
            }
        };
        let key = hash(format!("key-{k}").as_bytes());
        let mut tried: Vec<ServerId> = Vec::new();
        let served_by = loop {
            let Some(pick) = group.pick(Some(key), &tried, now) else {
                break None;
            };
            let s = pick.server();
            let addr = group.addr(s);
            match fault_at(addr, at) {
                Some(FaultKind::Down) => {
                    servers[s.index()].failed += 1;
                    group.report(s, Outcome::Failure, now);
                    tried.push(s);
                    if tried.len() > usize::from(spec.retries) {
                        break None;
                    }
                    report.failovers += 1;
                }
                slow => {
                    let latency = match slow {
                        Some(FaultKind::Slow(d)) => d,
                        _ => traffic.latency,
                    };
                    let f = &mut servers[s.index()];
                    f.served += 1;
                    in_flight[s.index()] += 1;
                    f.peak_in_flight = f.peak_in_flight.max(in_flight[s.index()]);
                    ends.push(Reverse((now + latency, s.0, latency)));
                    break Some(s.0);
                }
            }
        };
        let Some(s) = served_by else {
            report.unserved += 1;
            continue;
        };
        let k = k as usize;
        match window {
            Some((start, _)) if at < start => home[k] = Some(s),
            Some((_, end)) if at < end => moved[k] |= home[k].is_some_and(|h| h != s),
            Some(_) => away[k] |= home[k].is_some_and(|h| h != s),
            None => {}
        }
    }
    report.keys_before = home.iter().filter(|h| h.is_some()).count() as u64;
    report.moved_away = moved.iter().filter(|m| **m).count() as u64;
    report.not_home = away.iter().filter(|a| **a).count() as u64;
    report.servers = servers;
    report
}

/// The reports of one or more runs side by side, one column per run.
pub fn render(reports: &[(&str, Report)]) -> String {
    let mut out = String::new();
    let cell = |f: &dyn Fn(&Report) -> String| -> String {
        reports
            .iter()
            .map(|(_, r)| format!("{:>22}", f(r)))
            .collect::<String>()
    };
    let _ = writeln!(out, "{:<24}{}", "", cell(&|r| r.upstream.clone()));
    let _ = writeln!(
        out,
        "{:<24}{}",
        "",
        reports
            .iter()
            .map(|(name, _)| format!("{name:>22}"))
            .collect::<String>()
    );
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for (_, r) in reports {
        for s in r.servers.iter().filter_map(|s| s.addr) {
            if !addrs.contains(&s) {
                addrs.push(s);
            }
        }
    }
    for a in &addrs {
        let figures = |r: &Report| r.servers.iter().find(|s| s.addr == Some(*a)).cloned();
        let total = |r: &Report| r.servers.iter().map(|s| s.served).sum::<u64>().max(1);
        let _ = writeln!(
            out,
            "{:<24}{}",
            a.to_string(),
            cell(&|r| match figures(r) {
                Some(f) => format!(
                    "{:.1}% peak {} fail {}",
                    f.served as f64 * 100.0 / total(r) as f64,
                    f.peak_in_flight,
                    f.failed
                ),
                None => "-".into(),
            })
        );
    }
    type Row = (&'static str, fn(&Report) -> u64);
    let rows: [Row; 5] = [
        ("failovers", |r| r.failovers),
        ("unserved", |r| r.unserved),
        ("keys before the fault", |r| r.keys_before),
        ("  moved while down", |r| r.moved_away),
        ("  not home after", |r| r.not_home),
    ];
    for (label, f) in rows {
        let _ = writeln!(out, "{label:<24}{}", cell(&|r| f(r).to_string()));
    }
    out
}
