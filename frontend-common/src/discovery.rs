//! Re-resolving server names off the request path: one thread per
//! process asks again for every name of the plan in force every
//! `[dns] refresh` (or the records' TTL when shorter, at least 100 ms). A
//! changed set of addresses is applied like a reload of that upstream
//! (`dns::renamed`, then `Plan::successor`: state carried by address, a
//! vanished server drains); a name that stops resolving keeps its last
//! good set, and says so once per incident.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use weir_core::config::dns::renamed;

use crate::Plans;

/// The shortest wait between two resolutions of a name.
const MIN_WAIT: Duration = Duration::from_millis(100);
/// How often the thread looks when no name is due sooner.
const IDLE_LOOK: Duration = Duration::from_millis(1000);

/// Starts the thread (it idles while no server is given by name).
pub fn start(name: &'static str, plans: &Plans) -> std::io::Result<()> {
    let plans = plans.clone();
    std::thread::Builder::new()
        .name("weir-dns".into())
        .spawn(move || run(name, &plans))
        .map(|_| ())
}

fn run(name: &str, plans: &Plans) {
    // (host, next resolution, failing since the last success)
    let mut due: Vec<(String, Instant, bool)> = Vec::new();
    loop {
        let plan = plans.current();
        let dns = plan.config.dns.clone();
        let hosts: Vec<String> = plan
            .config
            .upstreams
            .iter()
            .flat_map(|g| g.named.iter().map(|n| n.host.clone()))
            .collect();
        due.retain(|(h, _, _)| hosts.contains(h));
        let now = Instant::now();
        for h in &hosts {
            if !due.iter().any(|(x, _, _)| x == h) {
                due.push((h.clone(), now + dns.refresh, false));
            }
        }
        let mut next = now + IDLE_LOOK;
        for (host, at, failing) in &mut due {
            if *at > now {
                next = next.min(*at);
                continue;
            }
            let wait = match crate::dns::resolve(host, &dns) {
                Ok((ips, ttl)) => {
                    if *failing {
                        eprintln!("{name}: dns: {host:?} resolves again");
                        *failing = false;
                    }
                    apply(name, plans, host, &ips);
                    ttl.map_or(dns.refresh, |t| t.min(dns.refresh))
                }
                Err(e) => {
                    if !*failing {
                        eprintln!(
                            "{name}: dns: cannot resolve {host:?}: {e}; keeping its last addresses"
                        );
                        *failing = true;
                    }
                    dns.refresh
                }
            };
            *at = Instant::now() + wait.max(MIN_WAIT);
            next = next.min(*at);
        }
        std::thread::sleep(
            next.saturating_duration_since(Instant::now())
                .max(MIN_WAIT / 10),
        );
    }
}

/// Publishes the plan with `host` at `ips`, if that changes anything (and
/// no reload published another plan meanwhile: then the next round
/// decides on that one).
fn apply(name: &str, plans: &Plans, host: &str, ips: &[IpAddr]) {
    let plan = plans.current();
    let Some(config) = renamed(&plan.config, host, ips) else {
        return;
    };
    let (next, changes) = plan.successor(Arc::new(config));
    let generation = next.generation;
    if plans.replace(&plan, Arc::new(next)) {
        let list: Vec<String> = ips.iter().map(|i| i.to_string()).collect();
        eprintln!(
            "{name}: dns: {host:?} now resolves to {}: generation {generation}: {changes}",
            list.join(", ")
        );
    }
}
