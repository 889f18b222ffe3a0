//! `[[upstream]]`: a named group of servers, its balancer, its passive
//! health, and its own timeouts and retry policy.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::dns::Named;
use super::{Errors, Timeouts};
use crate::balancer::group::{GroupSpec, RetryOn};
use crate::balancer::{HashKey, Strategy};

/// Most servers one request may be sent to (the first try and retries).
pub const MAX_TRIES: u8 = 6;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUpstream {
    name: Spanned<String>,
    balancer: Option<Spanned<String>>,
    hash_key: Option<Spanned<String>>,
    hash_balance_factor: Option<Spanned<u32>>,
    sticky: Option<Spanned<RawSticky>>,
    slow_start: Option<Spanned<u64>>,
    servers: Spanned<Vec<RawServer>>,
    max_fails: Option<u32>,
    fail_timeout: Option<u64>,
    fail_open: Option<bool>,
    timeouts: Option<Spanned<RawUpstreamTimeouts>>,
    retries: Option<Spanned<u8>>,
    retry_on: Option<Spanned<Vec<String>>>,
    health: crate::health_check::RawHealth,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    addr: Spanned<String>,
    weight: Option<Spanned<u32>>,
    #[serde(default)]
    backup: bool,
}

/// `sticky = { cookie = "NAME" }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSticky {
    cookie: String,
}

/// `timeouts = { connect = .., response = .., idle = .. }` of one upstream:
/// the `[timeouts]` keys `upstream_connect`, `upstream_response` and
/// `upstream_idle`, for this group only.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpstreamTimeouts {
    connect: Option<u64>,
    response: Option<u64>,
    idle: Option<u64>,
}

/// Validates every `[[upstream]]`; `defaults` gives the timeouts a group
/// does not override.
pub(super) fn groups(
    raw: &[RawUpstream],
    defaults: &Timeouts,
    names: (super::dns::Names<'_>, &super::dns::Dns),
    errs: &mut Errors<'_>,
) -> Vec<GroupSpec> {
    let mut groups: Vec<GroupSpec> = Vec::new();
    for (i, u) in raw.iter().enumerate() {
        let key = |k: &str| format!("upstream[{i}].{k}");
        if groups.iter().any(|g| &g.name == u.name.get_ref()) {
            errs.at(
                u.name.span(),
                key("name"),
                format!("duplicate upstream {:?}", u.name.get_ref()),
            );
        }
        let strategy = match &u.balancer {
            None => Strategy::RoundRobin,
            Some(b) => b.get_ref().parse().unwrap_or_else(|m| {
                errs.at(b.span(), key("balancer"), m);
                Strategy::RoundRobin
            }),
        };
        let hash_key = match &u.hash_key {
            None => None,
            Some(k) => match k.get_ref().parse::<HashKey>() {
                Ok(h) => Some(h),
                Err(m) => {
                    errs.at(k.span(), key("hash_key"), m);
                    None
                }
            },
        };
        if strategy == Strategy::ConsistentHash && u.hash_key.is_none() {
            errs.at(
                u.name.span(),
                key("hash_key"),
                "consistent-hash needs a hash_key".into(),
            );
        }
        let (servers, named) = servers(u, i, names, errs);
        let mut spec = GroupSpec::new(u.name.get_ref(), servers, strategy, hash_key, defaults);
        if let Some(f) = &u.hash_balance_factor {
            if strategy != Strategy::ConsistentHash {
                errs.at(
                    f.span(),
                    key("hash_balance_factor"),
                    "only with balancer = \"consistent-hash\"".into(),
                );
            } else if !(101..=10_000).contains(f.get_ref()) {
                errs.at(
                    f.span(),
                    key("hash_balance_factor"),
                    "a percentage from 101 to 10000 (125: at most 25% above the average load)"
                        .into(),
                );
            } else {
                spec.balance_factor = Some(*f.get_ref());
            }
        }
        if let Some(st) = &u.sticky {
            let name = &st.get_ref().cookie;
            let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            if name.is_empty() || !name.bytes().all(token) {
                errs.at(
                    st.span(),
                    key("sticky"),
                    format!("cookie {name:?} is not a cookie name (a token)"),
                );
            } else {
                spec.sticky = Some(name.clone());
            }
        }
        if let Some(ms) = &u.slow_start {
            if *ms.get_ref() > 3_600_000 {
                errs.at(
                    ms.span(),
                    key("slow_start"),
                    "at most 3600000 ms (an hour)".into(),
                );
            } else if *ms.get_ref() > 0 {
                spec.slow_start = Some(Duration::from_millis(*ms.get_ref()));
            }
        }
        spec.max_fails = u.max_fails.unwrap_or(spec.max_fails);
        if let Some(ms) = u.fail_timeout {
            spec.fail_timeout = Duration::from_millis(ms);
        }
        spec.fail_open = u.fail_open.unwrap_or(spec.fail_open);
        if let Some(t) = &u.timeouts {
            let mut set = |v: Option<u64>, name: &str, slot: &mut Duration| match v {
                Some(0) => errs.at(
                    t.span(),
                    key(&format!("timeouts.{name}")),
                    "must be at least 1 (milliseconds)".into(),
                ),
                Some(ms) => *slot = Duration::from_millis(ms),
                None => {}
            };
            let r = t.get_ref();
            set(r.connect, "connect", &mut spec.timeouts.connect);
            set(r.response, "response", &mut spec.timeouts.response);
            set(r.idle, "idle", &mut spec.timeouts.idle);
        }
        if let Some(n) = &u.retries {
            if *n.get_ref() >= MAX_TRIES {
                errs.at(
                    n.span(),
                    key("retries"),
                    format!(
                        "at most {} (a request goes to at most {MAX_TRIES} servers)",
                        MAX_TRIES - 1
                    ),
                );
            } else {
                spec.retries = *n.get_ref();
            }
        }
        if let Some(list) = &u.retry_on {
            let mut on = RetryOn::NEVER;
            for cause in list.get_ref() {
                match RetryOn::named(cause) {
                    Some(c) => on = on.with(c),
                    None => errs.at(
                        list.span(),
                        key("retry_on"),
                        format!(
                            "unknown cause {cause:?} (expected: {})",
                            RetryOn::NAMES.join(", ")
                        ),
                    ),
                }
            }
            spec.retry_on = on;
        }
        if let Some(h) = &u.health {
            match crate::health_check::spec(h.get_ref()) {
                Ok(c) => spec.health = Some(c),
                Err(m) => errs.at(h.span(), key("health"), m),
            }
        }
        spec.backups = backups(u, i, errs);
        for n in named.iter().filter(|n| n.backup) {
            spec.backups.extend(&n.addrs);
        }
        spec.named = named;
        groups.push(spec);
    }
    groups
}

/// The servers of one upstream, each address once, weights in range;
/// names resolved (and the entries they came from).
fn servers(
    u: &RawUpstream,
    i: usize,
    (names, dns): (super::dns::Names<'_>, &super::dns::Dns),
    errs: &mut Errors<'_>,
) -> (Vec<(SocketAddr, u32)>, Vec<Named>) {
    let mut named: Vec<Named> = Vec::new();
    let key = |k: &str| format!("upstream[{i}].{k}");
    if u.servers.get_ref().is_empty() {
        errs.at(
            u.servers.span(),
            key("servers"),
            "an upstream needs at least one server".into(),
        );
    }
    if u.servers.get_ref().len() > 1000 {
        errs.at(
            u.servers.span(),
            key("servers"),
            "at most 1000 servers".into(),
        );
    }
    let mut servers: Vec<(SocketAddr, u32)> = Vec::new();
    for (j, s) in u.servers.get_ref().iter().enumerate() {
        let weight = match &s.weight {
            Some(w) if *w.get_ref() == 0 || *w.get_ref() > 1000 => {
                errs.at(
                    w.span(),
                    key(&format!("servers[{j}].weight")),
                    "must be between 1 and 1000".into(),
                );
                1
            }
            Some(w) => *w.get_ref(),
            None => 1,
        };
        let addr = match s.addr.get_ref().parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) => {
                let at = key(&format!("servers[{j}].addr"));
                let Some((host, port)) = super::dns::split_name(s.addr.get_ref()) else {
                    errs.at(
                        s.addr.span(),
                        at,
                        format!(
                            "invalid address {:?} (expected IP:PORT or NAME:PORT)",
                            s.addr.get_ref()
                        ),
                    );
                    continue;
                };
                match names(host, dns) {
                    Ok(ips) if !ips.is_empty() => {
                        let mut addrs = Vec::new();
                        for ip in ips {
                            let a = SocketAddr::new(ip, port);
                            if !servers.iter().any(|(x, _)| *x == a) {
                                servers.push((a, weight));
                                addrs.push(a);
                            }
                        }
                        named.push(Named {
                            host: host.to_owned(),
                            port,
                            weight,
                            backup: s.backup,
                            addrs,
                        });
                    }
                    Ok(_) => errs.at(
                        s.addr.span(),
                        at,
                        format!("{host:?} resolves to no address"),
                    ),
                    Err(m) => errs.at(s.addr.span(), at, format!("cannot resolve {host:?}: {m}")),
                }
                continue;
            }
        };
        if servers.iter().any(|(a, _)| *a == addr) {
            errs.at(
                s.addr.span(),
                key(&format!("servers[{j}].addr")),
                format!("{addr} is listed twice (give it a weight instead)"),
            );
            continue;
        }
        servers.push((addr, weight));
    }
    (servers, named)
}

/// The servers marked `backup = true`; at least one server must not be.
fn backups(u: &RawUpstream, i: usize, errs: &mut Errors<'_>) -> Vec<SocketAddr> {
    let list: Vec<SocketAddr> = u
        .servers
        .get_ref()
        .iter()
        .filter(|s| s.backup)
        .filter_map(|s| s.addr.get_ref().parse().ok())
        .collect();
    if !list.is_empty() && u.servers.get_ref().iter().all(|s| s.backup) {
        errs.at(
            u.servers.span(),
            format!("upstream[{i}].servers"),
            "every server is a backup: at least one must be a primary".into(),
        );
    }
    list
}
