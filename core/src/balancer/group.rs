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
    /// What it was built from.
    pub spec: GroupSpec,
    addrs: Vec<SocketAddr>,
    balancer: Box<dyn Balancer>,
    health: Health,
    hash_key: Option<HashKey>,
    fail_open: bool,
    /// Per server: picks not yet reported, failures reported, picks.
    counts: Vec<(u64, u64, u64)>,
    /// Per server: drained by the operator (no new requests, never
    /// picked), and marked down by the active checks (picked only
    /// failing open).
    drained: Vec<bool>,
    checked_down: Vec<bool>,
    /// True when any server is drained or checked down.
    any_marked: bool,
    /// Per server: a backup (picked only when no primary can be).
    backup: Vec<bool>,
    /// Per server: when its slow start began; `Some(None)`: begins at
    /// the next pick (a mark was lifted, or it is new after a reload).
    ramp: Vec<Option<Option<Instant>>>,
    /// Draws for slow start's admissions.
    rng: crate::rng::Rng,
    /// Per server: its opaque id in a sticky cookie (a hash of its
    /// address, 16 hex digits).
    ids: Vec<String>,
}

/// How a group is built (the validated `[[upstream]]` section).
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// This group's upstream timeouts (`[timeouts]` unless overridden).
    pub timeouts: UpstreamTimeouts,
    /// How many more servers a failed request may go to.
    pub retries: u8,
    /// Which failures send a request to the next server.
    pub retry_on: RetryOn,
    /// Active health checks, when configured.
    pub health: Option<crate::health_check::CheckSpec>,
    /// Servers used only when every other one is down or drained.
    pub backups: Vec<SocketAddr>,
    /// Consistent hashing with bounded load: no server takes more than
    /// this percentage of the average in-flight load (this worker's).
    pub balance_factor: Option<u32>,
    /// Cookie stickiness: the cookie weir sets naming the server.
    pub sticky: Option<String>,
    /// A server back from down, drained or new gets its share of requests
    /// ramped up over this long.
    pub slow_start: Option<Duration>,
    /// Servers given by DNS name, and what each resolves to now.
    pub named: Vec<crate::config::dns::Named>,
}

/// The timeouts of talking to one group's servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpstreamTimeouts {
    /// Connecting; then the next server, else 502.
    pub connect: Duration,
    /// The response head must arrive within this (504).
    pub response: Duration,
    /// Longest gap between response body bytes (close).
    pub idle: Duration,
}

/// Failures after which a request goes to the next server (a set).
/// Whatever the set, a request that cannot be sent again (a body, or a
/// method that is not idempotent) is never retried once bytes were sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryOn(u8);

impl RetryOn {
    /// No failure is retried.
    pub const NEVER: RetryOn = RetryOn(0);
    /// Refused, reset or timed out while connecting (nothing was sent).
    pub const CONNECT: RetryOn = RetryOn(1);
    /// Closed or reset after the request was sent, before any response byte.
    pub const RESET: RetryOn = RetryOn(2);
    /// No response head within the response timeout.
    pub const TIMEOUT: RetryOn = RetryOn(4);
    /// The config names of the causes.
    pub const NAMES: [&'static str; 3] = ["connect", "reset", "timeout"];

    /// The cause called `name` in config.
    pub fn named(name: &str) -> Option<RetryOn> {
        match name {
            "connect" => Some(RetryOn::CONNECT),
            "reset" => Some(RetryOn::RESET),
            "timeout" => Some(RetryOn::TIMEOUT),
            _ => None,
        }
    }

    /// This set and `other`.
    pub fn with(self, other: RetryOn) -> RetryOn {
        RetryOn(self.0 | other.0)
    }

    /// True when `cause` is in the set.
    pub fn has(self, cause: RetryOn) -> bool {
        self.0 & cause.0 == cause.0
    }
}

impl GroupSpec {
    /// A group with the defaults: passive health 3 failures in 10 s, fail
    /// open, `defaults`' upstream timeouts, two retries on connect
    /// failures and resets.
    pub fn new(
        name: &str,
        servers: Vec<(SocketAddr, u32)>,
        strategy: Strategy,
        hash_key: Option<HashKey>,
        defaults: &crate::config::Timeouts,
    ) -> GroupSpec {
        GroupSpec {
            name: name.to_owned(),
            servers,
            strategy,
            hash_key,
            max_fails: 3,
            fail_timeout: Duration::from_millis(10_000),
            fail_open: true,
            timeouts: UpstreamTimeouts {
                connect: defaults.upstream_connect,
                response: defaults.upstream_response,
                idle: defaults.upstream_idle,
            },
            retries: 2,
            retry_on: RetryOn::CONNECT.with(RetryOn::RESET),
            health: None,
            backups: Vec::new(),
            balance_factor: None,
            sticky: None,
            named: Vec::new(),
            slow_start: None,
        }
    }
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
            spec: spec.clone(),
            addrs: spec.servers.iter().map(|(a, _)| *a).collect(),
            balancer: build(spec.strategy, &servers, seed),
            health: Health::new(spec.servers.len(), spec.max_fails, spec.fail_timeout),
            hash_key: spec.hash_key.clone(),
            fail_open: spec.fail_open,
            counts: vec![(0, 0, 0); spec.servers.len()],
            drained: vec![false; spec.servers.len()],
            checked_down: vec![false; spec.servers.len()],
            any_marked: false,
            backup: spec
                .servers
                .iter()
                .map(|(a, _)| spec.backups.contains(a))
                .collect(),
            ramp: vec![None; spec.servers.len()],
            rng: crate::rng::Rng::new(seed ^ 0x5157),
            ids: names
                .iter()
                .map(|n| format!("{:016x}", crate::rng::hash(n.as_bytes())))
                .collect(),
        }
    }

    /// Takes over the passive health of the servers `old` shares with this
    /// group (by address): what a reload that changed the group keeps.
    /// Servers it did not have start their slow start.
    pub fn carry_health(&mut self, old: &Group) {
        for (i, addr) in self.addrs.iter().enumerate() {
            let Some(j) = old.addrs.iter().position(|a| a == addr) else {
                self.ramp[i] = Some(None);
                continue;
            };
            self.ramp[i] = old.ramp[j];
            self.health
                .carry(ServerId(i as u16), &old.health, ServerId(j as u16));
        }
    }

    /// The index of the server at `addr`, if it is one of this group's.
    pub fn server_at(&self, addr: SocketAddr) -> Option<ServerId> {
        self.addrs
            .iter()
            .position(|a| *a == addr)
            .map(|i| ServerId(i as u16))
    }

    /// The addresses of the servers, in config order.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
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
        if let Some(mut s) = self.pick_usable(key, tried, now) {
            if self.turned_away(s, now) {
                // Its share is still ramping: the pick goes back, and
                // another server is asked for (this one if none is left).
                self.balancer.report(s, Outcome::Abandoned);
                let mut others = tried.to_vec();
                others.push(s);
                s = match self.pick_usable(key, &others, now) {
                    Some(other) => other,
                    None => self.balancer.pick(key, &|x| x == s).unwrap_or(s),
                };
            }
            self.count_pick(s);
            return Some(Pick::Healthy(s));
        }
        if !self.fail_open {
            return None;
        }
        // Failing open never picks a drained server.
        let untried = (0..self.addrs.len() as u16)
            .map(ServerId)
            .filter(|s| !tried.contains(s) && !self.drained[s.index()]);
        let s = self.health.least_recently_failed(untried)?;
        // Keep the strategy's bookkeeping (in-flight counts) consistent.
        let forced = self.balancer.pick(key, &|x| x == s).unwrap_or(s);
        self.count_pick(forced);
        Some(Pick::FailOpen(forced))
    }

    /// The strategy's pick among the servers that can take a request (up,
    /// not drained, not tried, under the load cap; backups only when no
    /// primary can).
    fn pick_usable(
        &mut self,
        key: Option<u64>,
        tried: &[ServerId],
        now: Instant,
    ) -> Option<ServerId> {
        let health = &self.health;
        let (drained, down) = (&self.drained, &self.checked_down);
        let backup = &self.backup;
        let has_backups = !self.spec.backups.is_empty();
        // Bounded load: a server at the cap is passed over, and the ring
        // walks on to the next one (Mirrokni et al.; HAProxy's and Envoy's
        // hash_balance_factor).
        let cap = self.spec.balance_factor.map(|f| {
            let total: u64 = self.counts.iter().map(|c| c.0).sum::<u64>() + 1;
            let n = self.addrs.len().max(1) as u64;
            (total * u64::from(f)).div_ceil(n * 100)
        });
        let counts = &self.counts;
        let under_cap = |s: ServerId| cap.is_none_or(|c| counts[s.index()].0 < c);
        if tried.is_empty()
            && !self.any_marked
            && !has_backups
            && cap.is_none()
            && health.all_up(now)
        {
            self.balancer.pick_any(key)
        } else {
            let usable = |s: ServerId| {
                !tried.contains(&s)
                    && !drained[s.index()]
                    && !down[s.index()]
                    && under_cap(s)
                    && health.is_up(s, now)
            };
            let primary = self
                .balancer
                .pick(key, &|s| !backup[s.index()] && usable(s));
            match primary {
                Some(s) => Some(s),
                // Every primary is out: the backups take over.
                None if has_backups => self.balancer.pick(key, &|s| backup[s.index()] && usable(s)),
                None => None,
            }
        }
    }

    /// Reports how an exchange with a picked server ended.
    pub fn report(&mut self, s: ServerId, outcome: Outcome, now: Instant) {
        if let Some(c) = self.counts.get_mut(s.index()) {
            c.0 = c.0.saturating_sub(1);
            if outcome == Outcome::Failure {
                c.1 += 1;
            }
        }
        match outcome {
            Outcome::Success { .. } => self.health.success(s),
            Outcome::Failure => {
                self.health.failure(s, now);
            }
            Outcome::Abandoned => {}
        }
        self.balancer.report(s, outcome);
    }

    /// Slow start: true when `s` is ramping up at `now` and this pick is
    /// not one of its share (admitted with the probability of the ramp's
    /// progress, at least 5%).
    fn turned_away(&mut self, s: ServerId, now: Instant) -> bool {
        let Some(length) = self.spec.slow_start else {
            return false;
        };
        let i = s.index();
        if let Some(None) = self.ramp[i] {
            self.ramp[i] = Some(Some(now));
        }
        let start = self.ramp[i].flatten().max(self.health.recovered_at(s, now));
        let Some(start) = start else { return false };
        let elapsed = now.saturating_duration_since(start);
        if elapsed >= length {
            return false;
        }
        let per_mille = (elapsed.as_nanos() * 1000 / length.as_nanos().max(1)).max(50) as u64;
        self.rng.below(1000) >= per_mille
    }

    /// The server a sticky cookie's value names, when it can take the
    /// request (not tried, drained or down); `None` sends the request to
    /// the balancer.
    pub fn pick_sticky(&mut self, id: &[u8], tried: &[ServerId], now: Instant) -> Option<Pick> {
        let i = self.ids.iter().position(|x| x.as_bytes() == id)?;
        let s = ServerId(i as u16);
        let usable = !tried.contains(&s)
            && !self.drained[i]
            && !self.checked_down[i]
            && self.health.is_up(s, now);
        if !usable {
            return None;
        }
        // Through the strategy, so its bookkeeping (in-flight) stays right.
        let s = self.balancer.pick(None, &|x| x == s)?;
        self.count_pick(s);
        Some(Pick::Healthy(s))
    }

    /// A server's id in a sticky cookie.
    pub fn sticky_id(&self, s: ServerId) -> &str {
        self.ids.get(s.index()).map_or("", String::as_str)
    }

    /// Drains (`true`) or enables the server at `addr`; false when the
    /// group has no such server.
    pub fn set_drained(&mut self, addr: SocketAddr, drained: bool) -> bool {
        let Some(s) = self.server_at(addr) else {
            return false;
        };
        if self.drained[s.index()] && !drained {
            self.ramp[s.index()] = Some(None);
        }
        self.drained[s.index()] = drained;
        self.any_marked = self.drained.iter().chain(&self.checked_down).any(|d| *d);
        true
    }

    /// Marks the server at `addr` down (`true`) or up by the active
    /// checks; false when the group has no such server.
    pub fn set_checked_down(&mut self, addr: SocketAddr, down: bool) -> bool {
        let Some(s) = self.server_at(addr) else {
            return false;
        };
        if self.checked_down[s.index()] && !down {
            self.ramp[s.index()] = Some(None);
        }
        self.checked_down[s.index()] = down;
        self.any_marked = self.drained.iter().chain(&self.checked_down).any(|d| *d);
        true
    }

    fn count_pick(&mut self, s: ServerId) {
        if let Some(c) = self.counts.get_mut(s.index()) {
            c.0 += 1;
            c.2 += 1;
        }
    }

    /// Every server as this group sees it at `now` (for metrics and
    /// `/status`).
    pub fn server_stats(&self, now: Instant) -> Vec<crate::metrics::ServerStat> {
        self.spec
            .servers
            .iter()
            .enumerate()
            .map(|(i, (addr, weight))| crate::metrics::ServerStat {
                upstream: self.name.clone(),
                addr: *addr,
                weight: *weight,
                up: self.health.is_up(ServerId(i as u16), now)
                    && !self.checked_down.get(i).copied().unwrap_or(false),
                drained: self.drained.get(i).copied().unwrap_or(false),
                backup: self.backup.get(i).copied().unwrap_or(false),
                in_flight: self.counts.get(i).map_or(0, |c| c.0),
                failures: self.counts.get(i).map_or(0, |c| c.1),
                requests: self.counts.get(i).map_or(0, |c| c.2),
            })
            .collect()
    }

    /// The state a pick for `key` starts from, in words (`explain`).
    pub fn describe(&self, key: Option<u64>, now: Instant) -> String {
        let servers: Vec<String> = self
            .server_stats(now)
            .iter()
            .map(|s| {
                let state = match (s.drained, s.up, s.backup) {
                    (true, _, _) => "drained",
                    (false, false, _) => "down",
                    (false, true, true) => "up (backup)",
                    (false, true, false) => "up",
                };
                format!("{} {state}, {} in flight", s.addr, s.in_flight)
            })
            .collect();
        let name = |s: ServerId| self.addr(s).to_string();
        let own = self.balancer.describe(key, &name);
        let mut out = servers.join("; ");
        if !own.is_empty() {
            out.push_str(". ");
            out.push_str(&own);
        }
        out
    }
}
