//! The seeded world: several clients and their servers over one gateway
//! on the virtual clock, driven by a seed through random requests
//! (methods, bodies, pipelining, keep-alive and close), random faults
//! (refused and unanswered connects, servers that hang, answer slowly,
//! or close in the middle of a response) and reloads; invariants checked
//! after every step. A failing seed shrinks to the fewest steps that
//! still fail.

mod check;
mod wire;

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use super::{addr, World};
use crate::rng::Rng;
use check::{check, count_forwarded, current, limited_passed, switched, Client};
use wire::{request_bytes, respond};

/// The gateway every world runs (`{balancer}` and `{retries}` vary by
/// reload); its rate limit is the same in every variant, so it carries
/// its counts across reloads.
const CONFIG: &str = r#"listen = "127.0.0.1:8080"
[limits]
max_request_head = 4096
max_response_head = 4096
window = 4096
[timeouts]
upstream_connect = 300
upstream_response = 2000
[[upstream]]
name = "app"
balancer = "{balancer}"
retries = {retries}
retry_on = ["connect", "reset", "timeout"]
servers = [{ addr = "127.0.0.1:9001" }, { addr = "127.0.0.1:9002" }, { addr = "127.0.0.1:9003" }]
[[middleware]]
name = "limit"
kind = "rate-limit"
key = ["route"]
rate = 5
per = 1000
burst = 5
[[route]]
name = "limited"
path_prefix = "/limited/"
upstream = "app"
middleware = ["limit"]
[[route]]
name = "rest"
path_prefix = "/"
upstream = "app"
"#;

/// The limit's figures, as [`CONFIG`] has them.
const LIMIT_RATE_PER_S: u64 = 5;
const LIMIT_BURST: u64 = 5;

/// Most bytes a connection may hold at once: a head or a window in, a
/// head and a window queued each way (as the fuzz oracle bounds it).
const MAX_HELD: usize = 4096 + 1 + 4096 + 1 + 2 * 4096;

const CLIENTS: usize = 3;
const PORTS: [u16; 3] = [9001, 9002, 9003];

/// The config of reload variant `v`.
fn config(v: u8) -> String {
    let balancer = ["round-robin", "least-conn", "random"][usize::from(v % 3)];
    let retries = if v < 3 { "1" } else { "0" };
    CONFIG
        .replace("{balancer}", balancer)
        .replace("{retries}", retries)
}

/// How a client's servers behave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Answer every request.
    Answer,
    /// Never answer.
    Hang,
    /// Answer half a body, then close.
    CloseEarly,
}

/// One request a client sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Req {
    /// Its unique id (`X-Id`).
    pub id: u64,
    /// The method.
    pub method: &'static str,
    /// Under `/limited/` or not.
    pub limited: bool,
    /// Body bytes (0: none).
    pub body: usize,
    /// Sent chunked.
    pub chunked: bool,
    /// Asks to close after it.
    pub close: bool,
    /// A WebSocket handshake (a GET; the last of its batch: once it is
    /// answered with 101, the client's next sends are tunnel bytes).
    pub upgrade: bool,
}

/// One step of a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// A client writes these requests back to back (pipelined).
    Send(usize, Vec<Req>),
    /// Virtual time moves on (milliseconds).
    Advance(u64),
    /// A client's servers change behaviour.
    Servers(usize, Mode),
    /// Connects to a server of a client's world are refused (or not).
    Refuse(usize, u16, bool),
    /// Connects to a server of a client's world go unanswered (or not).
    Blackhole(usize, u16, bool),
    /// A client's peers deliver bytes in pieces of this size.
    Split(usize, usize),
    /// The gateway reloads config variant `v`.
    Reload(u8),
}

/// A seed's steps.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The seed it came from.
    pub seed: u64,
    /// The steps, in order.
    pub steps: Vec<Action>,
}

/// An invariant that did not hold.
#[derive(Clone, Debug)]
pub struct Violation {
    /// After this step (its index; `steps.len()`: after settling;
    /// `usize::MAX`: a panic, step unknown).
    pub step: usize,
    /// What went wrong.
    pub what: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.step {
            usize::MAX => write!(f, "during the run: {}", self.what),
            n => write!(f, "after step {n}: {}", self.what),
        }
    }
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Requests sent.
    pub requests: u64,
    /// Responses received.
    pub responses: u64,
    /// Requests the servers received.
    pub forwarded: u64,
    /// Tunnel bytes clients wrote after a 101.
    pub tunneled: u64,
}

const METHODS: [&str; 6] = ["GET", "GET", "HEAD", "POST", "PUT", "DELETE"];

/// The scenario of `seed`: `steps` random steps.
pub fn generate(seed: u64, steps: usize) -> Scenario {
    let mut rng = Rng::new(seed);
    let mut next_id = 1;
    let mut out = Vec::with_capacity(steps);
    for _ in 0..steps {
        let client = rng.below(CLIENTS as u64) as usize;
        let action = match rng.below(100) {
            0..=49 => {
                let n = 1 + rng.below(3);
                let mut reqs: Vec<Req> = (0..n)
                    .map(|_| {
                        let method = METHODS[rng.below(METHODS.len() as u64) as usize];
                        // A third of them without a body (which a retry
                        // could send again whole).
                        let body = if matches!(method, "POST" | "PUT") && rng.below(3) > 0 {
                            rng.below(6000) as usize
                        } else {
                            0
                        };
                        let r = Req {
                            id: next_id,
                            method,
                            limited: rng.below(3) == 0,
                            body,
                            chunked: body > 0 && rng.below(2) == 0,
                            close: rng.below(8) == 0,
                            upgrade: false,
                        };
                        next_id += 1;
                        r
                    })
                    .collect();
                if let Some(k) = reqs.iter().position(|r| r.method == "GET") {
                    if rng.below(4) == 0 {
                        reqs.truncate(k + 1);
                        reqs[k].upgrade = true;
                        reqs[k].close = false;
                    }
                }
                Action::Send(client, reqs)
            }
            50..=69 => Action::Advance(rng.below(2500)),
            70..=77 => {
                let mode = [Mode::Answer, Mode::Answer, Mode::Hang, Mode::CloseEarly]
                    [rng.below(4) as usize];
                Action::Servers(client, mode)
            }
            78..=83 => Action::Refuse(client, PORTS[rng.below(3) as usize], rng.below(2) == 0),
            84..=87 => Action::Blackhole(client, PORTS[rng.below(3) as usize], rng.below(2) == 0),
            88..=94 => Action::Split(client, [1, 7, 100, 4096, usize::MAX][rng.below(5) as usize]),
            _ => Action::Reload(rng.below(6) as u8),
        };
        out.push(action);
    }
    Scenario { seed, steps: out }
}

/// Runs `scenario`; the first invariant that fails, or what it did.
/// `epoch` is where the virtual clock starts (any instant: handed in, as
/// the core reads no clock); the outcome does not depend on it.
pub fn run(scenario: &Scenario, epoch: Instant) -> Result<Tally, Violation> {
    let outcome = catch_unwind(AssertUnwindSafe(|| run_inner(scenario, epoch)));
    match outcome {
        Ok(r) => r,
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "a panic".into());
            Err(Violation {
                step: usize::MAX,
                what: format!("panic: {what}"),
            })
        }
    }
}

fn run_inner(scenario: &Scenario, epoch: Instant) -> Result<Tally, Violation> {
    let mut world = World::from_toml(&config(0), CLIENTS, epoch).map_err(|e| Violation {
        step: 0,
        what: format!("config: {e:?}"),
    })?;
    for c in &mut world.clients {
        c.responder = Some((respond, 0));
    }
    let mut clients: Vec<Client> = (0..CLIENTS).map(|_| Client::default()).collect();
    for (step, action) in scenario.steps.iter().enumerate() {
        apply(&mut world, &mut clients, action);
        let only = match action {
            Action::Send(i, _)
            | Action::Servers(i, _)
            | Action::Refuse(i, ..)
            | Action::Blackhole(i, ..)
            | Action::Split(i, _) => Some(*i),
            Action::Advance(_) | Action::Reload(_) => None,
        };
        check(&world, &mut clients, epoch, only, false).map_err(|what| Violation { step, what })?;
    }
    world.advance(Duration::from_secs(600));
    check(&world, &mut clients, epoch, None, true).map_err(|what| Violation {
        step: scenario.steps.len(),
        what,
    })?;
    let mut tally = Tally::default();
    for (i, c) in clients.iter_mut().enumerate() {
        count_forwarded(&world, i, c);
        let now = current(&world, i, &c.sent);
        tally.requests += c.tally.requests + now.requests;
        tally.responses += c.tally.responses + now.responses;
        tally.tunneled += c.tally.tunneled;
        tally.forwarded += c.forwarded.values().map(|&n| u64::from(n)).sum::<u64>();
    }
    Ok(tally)
}

fn apply(world: &mut World, clients: &mut [Client], action: &Action) {
    match action {
        Action::Send(i, reqs) => {
            let i = *i;
            let mut fresh = world.clients[i].client_closed;
            if clients[i].sent.last().is_some_and(|r| r.upgrade) {
                if switched(world, i, &clients[i].sent) && !world.clients[i].client_closed {
                    // A tunnel: the client's bytes now go through as they are.
                    let bytes: Vec<u8> = reqs
                        .iter()
                        .flat_map(|r| format!("[t{}]", r.id).into_bytes())
                        .collect();
                    clients[i].tunnel.extend_from_slice(&bytes);
                    clients[i].tally.tunneled += bytes.len() as u64;
                    world.client(i, &bytes);
                    return;
                }
                // Not switched (yet, or refused): the client gives up on
                // this connection.
                fresh = true;
            }
            if fresh {
                // A closed connection: the client opens a new one.
                let done = current(world, i, &clients[i].sent);
                let c = &mut clients[i];
                c.tally.requests += done.requests;
                c.tally.responses += done.responses;
                c.sent.clear();
                c.tunnel.clear();
                count_forwarded(world, i, c);
                c.limited_done += limited_passed(world, i);
                let now = world.clients[i].now;
                world.on(i, |s| s.fresh_connection(now));
            }
            let bytes: Vec<u8> = reqs.iter().flat_map(request_bytes).collect();
            clients[i].sent.extend(reqs.iter().cloned());
            world.client(i, &bytes);
        }
        Action::Advance(ms) => world.advance(Duration::from_millis(*ms)),
        Action::Servers(i, mode) => {
            let code = match mode {
                Mode::Answer => 0,
                Mode::Hang => 1,
                Mode::CloseEarly => 2,
            };
            let s = &mut world.clients[*i];
            s.responder = Some((respond, code));
            s.close_after_response = *mode == Mode::CloseEarly;
            world.on(*i, |s| s.drive());
        }
        Action::Refuse(i, port, on) => set(&mut world.clients[*i].refuse, addr(*port), *on),
        Action::Blackhole(i, port, on) => set(&mut world.clients[*i].blackhole, addr(*port), *on),
        Action::Split(i, n) => world.clients[*i].split = *n,
        Action::Reload(v) => {
            let _ = world.reload(&config(*v));
        }
    }
}

fn set(list: &mut Vec<std::net::SocketAddr>, a: std::net::SocketAddr, on: bool) {
    list.retain(|x| *x != a);
    if on {
        list.push(a);
    }
}

/// The fewest steps of `scenario` (a subsequence) that still fail.
pub fn shrink(scenario: &Scenario, epoch: Instant) -> Scenario {
    let mut best = scenario.clone();
    let mut chunk = best.steps.len().div_ceil(2).max(1);
    loop {
        let mut progressed = false;
        let mut at = 0;
        while at < best.steps.len() {
            let mut trial = best.clone();
            let end = (at + chunk).min(trial.steps.len());
            trial.steps.drain(at..end);
            if run(&trial, epoch).is_err() {
                best = trial;
                progressed = true;
            } else {
                at += chunk;
            }
        }
        if chunk == 1 && !progressed {
            return best;
        }
        chunk = (chunk / 2).max(1);
    }
}
