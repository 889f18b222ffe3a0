//! An upstream group: its servers, its strategy and its passive health.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{build, Balancer, HashKey, Health, Outcome, ServerId, Strategy};

/// What [`Group::pick`] chose, and whether health was overridden.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    /// A healthy server.
    Healthy(ServerId),
    /// Every server was down: the least recently failed one (fail-open).
    FailOpen(ServerId),
}

impl Pick {
    /// The chosen server either way.
    pub fn server(self) -> ServerId {
        match self {
            Pick::Healthy(s) | Pick::FailOpen(s) => s,
        }
    }
}

/// One `[[upstream]]`, ready to choose servers.
pub struct Group {
    /// The group's name in the config.
    pub name: String,
    addrs: Vec<SocketAddr>,
    balancer: Box<dyn Balancer>,
    health: Health,
    hash_key: Option<HashKey>,
    fail_open: bool,
}

/// How a group is built (the validated `[[upstream]]` section).
#[derive(Clone, Debug)]
pub struct GroupSpec {
    /// Group name.
    pub name: String,
    /// Servers and their weights, in config order.
    pub servers: Vec<(SocketAddr, u32)>,
    /// The strategy.
    pub strategy: Strategy,
    /// Request key for `consistent-hash`.
    pub hash_key: Option<HashKey>,
    /// Passive health: failures ...
    pub max_fails: u32,
    /// ... within this long mark a server down for as long.
    pub fail_timeout: Duration,
    /// When every server is down, try the least recently failed one.
    pub fail_open: bool,
}

impl Group {
    /// Builds the group; `seed` feeds the randomised strategies.
    pub fn new(spec: &GroupSpec, seed: u64) -> Group {
        let names: Vec<String> = spec.servers.iter().map(|(a, _)| a.to_string()).collect();
        let servers: Vec<(&str, u32)> = names
            .iter()
            .zip(&spec.servers)
            .map(|(n, (_, w))| (n.as_str(), *w))
            .collect();
        Group {
            name: spec.name.clone(),
            addrs: spec.servers.iter().map(|(a, _)| *a).collect(),
            balancer: build(spec.strategy, &servers, seed),
            health: Health::new(spec.servers.len(), spec.max_fails, spec.fail_timeout),
            hash_key: spec.hash_key.clone(),
            fail_open: spec.fail_open,
        }
    }

    /// The key source of `consistent-hash`, if this group hashes.
    pub fn hash_key(&self) -> Option<&HashKey> {
        self.hash_key.as_ref()
    }

    /// The address of a server.
    pub fn addr(&self, s: ServerId) -> SocketAddr {
        self.addrs[s.index()]
    }

    /// Number of servers.
    pub fn len(&self) -> usize {
        self.addrs.len()
    }

    /// True when the group has no server.
    pub fn is_empty(&self) -> bool {
        self.addrs.is_empty()
    }

    /// Picks a server that is up and not in `tried`; fails open to the least
    /// recently failed untried server when none is up (if allowed).
    pub fn pick(&mut self, key: Option<u64>, tried: &[ServerId], now: Instant) -> Option<Pick> {
        let health = &self.health;
        let picked = if tried.is_empty() && health.all_up(now) {
            self.balancer.pick_any(key)
        } else {
            let usable = |s: ServerId| !tried.contains(&s) && health.is_up(s, now);
            self.balancer.pick(key, &usable)
        };
        if let Some(s) = picked {
            return Some(Pick::Healthy(s));
        }
        if !self.fail_open {
            return None;
        }
        let untried = (0..self.addrs.len() as u16)
            .map(ServerId)
            .filter(|s| !tried.contains(s));
        let s = self.health.least_recently_failed(untried)?;
        // Keep the strategy's bookkeeping (in-flight counts) consistent.
        let forced = self.balancer.pick(key, &|x| x == s).unwrap_or(s);
        Some(Pick::FailOpen(forced))
    }

    /// Reports how an exchange with a picked server ended.
    pub fn report(&mut self, s: ServerId, outcome: Outcome, now: Instant) {
        match outcome {
            Outcome::Success { .. } => self.health.success(s),
            Outcome::Failure => {
                self.health.failure(s, now);
            }
            Outcome::Abandoned => {}
        }
        self.balancer.report(s, outcome);
    }
}
