//! `explain`: one request run through the core offline, with every
//! decision written down as the core made it (the head and its framing,
//! the client, each layer, each route, the balancer's pick) and the exact
//! bytes that would go upstream, or the exact local answer.
//!
//! The request runs through the same [`crate::Connection`] that serves
//! traffic, in the simulator: a fresh gateway (balancers at their
//! starting state, no rate-limit counts), servers that accept and answer
//! `200`, and no outside service (a call gets no reply, and its layer
//! decides as it does on a timeout).

mod render;
pub mod trace;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub use render::{json, text};
pub use trace::{RouteCheck, Step, Trace};

use crate::sim::Sim;
use crate::{Config, Plan};

/// Everything `explain` found out about one request.
#[derive(Clone, Debug)]
pub struct Explanation {
    /// The decisions, in order.
    pub steps: Vec<Step>,
    /// The layer each `Step::Layer` names, by position in `steps`
    /// (`global forwarded-headers`, `route api: rate-limit "per-ip"`).
    pub layer_names: Vec<(usize, String)>,
    /// Why the client is who it is.
    pub client_why: String,
    /// What became of the request.
    pub outcome: Outcome,
    /// The access-log line, as the live log writes it.
    pub access_log: String,
}

/// What became of the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Sent to this server, these exact bytes (head and body).
    Forwarded(SocketAddr, Vec<u8>),
    /// Answered by weir itself with these exact bytes.
    Answered(Vec<u8>),
}

/// The peer `explain` assumes when none is given.
pub const DEFAULT_PEER: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 10)),
    40000,
);

/// How long virtual time may run for the request to end (calls out of
/// the core expire on the way).
const PATIENCE: Duration = Duration::from_secs(600);

/// Runs `request` (raw bytes, one request) from `peer` through `config`.
pub fn explain(config: Config, request: &[u8], peer: SocketAddr, epoch: Instant) -> Explanation {
    let rules = config.client_ip.clone();
    let servers = crate::sim::servers(&config);
    let mut sim = Sim::with_client(config, epoch, peer);
    for s in servers {
        sim.script_addr(
            s,
            [b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec()],
        );
    }
    sim.gw.start_trace();
    sim.client(request);
    sim.run_until_logged(PATIENCE);
    let steps = sim.gw.take_trace().unwrap_or_default().steps;
    let plan = sim.gw.plan().clone();
    let outcome = match sim.socks.iter().find(|s| !s.received.is_empty()) {
        Some(s) => Outcome::Forwarded(s.addr, s.received.clone()),
        None => Outcome::Answered(sim.client_out.clone()),
    };
    let mut line = Vec::new();
    if let Some(r) = sim.logs.first() {
        r.write_line(&mut line, r.end.saturating_duration_since(epoch));
    }
    let client = steps.iter().find_map(|s| match s {
        Step::Head { client, .. } => Some(client.clone()),
        _ => None,
    });
    let client_why = match client {
        None => "the request was not parsed".into(),
        Some(c) if c != peer.ip().to_string() => format!(
            "named by the {} field sent by {}, a trusted proxy",
            crate::client_ip::Source::NAMES[rules.source as usize],
            peer.ip()
        ),
        Some(_) if rules.trusted_proxies.is_empty() => {
            "the peer (no [client_ip] trusted_proxies)".into()
        }
        Some(_) if rules.trusts(peer.ip()) => format!(
            "the peer: it is a trusted proxy but named no untrusted client in {}",
            crate::client_ip::Source::NAMES[rules.source as usize]
        ),
        Some(_) => "the peer (not a trusted proxy)".into(),
    };
    Explanation {
        layer_names: layer_names(&plan, &steps),
        steps,
        client_why,
        outcome,
        access_log: String::from_utf8_lossy(&line).into_owned(),
    }
}

/// Names each layer step: its chain and kind, and its name in config.
fn layer_names(plan: &Plan, steps: &[Step]) -> Vec<(usize, String)> {
    let global = plan.global.len();
    let mut route = None;
    let mut out = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        match s {
            Step::Routes { chosen, .. } => {
                route = plan.config.routes.iter().position(|r| &r.name == chosen);
            }
            Step::Layer { depth, .. } if *depth < global => {
                let kind = plan.layer_kind(None, *depth);
                out.push((i, format!("global {kind}")));
            }
            Step::Layer { depth, .. } => {
                let Some(r) = route else { continue };
                let spec = &plan.config.routes[r];
                let index = depth - global;
                let kind = plan.layer_kind(Some(r), index);
                let name = spec
                    .middleware
                    .get(index)
                    .and_then(|&m| plan.config.middleware.get(m))
                    .and_then(|m| m.name.as_deref())
                    .unwrap_or("");
                out.push((i, format!("route {}: {kind} \"{name}\"", spec.name)));
            }
            _ => {}
        }
    }
    out
}
