//! Metrics: plain per-worker counters and fixed-bucket histograms, updated
//! where an exchange ends (whatever the access log does), merged across
//! workers on scrape and rendered as Prometheus text by [`render`].
//!
//! Nothing here is shared between workers: each `Gateway` owns its
//! [`Metrics`]; a scrape asks every worker for a [`Snapshot`] (a copy)
//! and merges them. Labels carry only configured names (route, upstream,
//! server address as configured, policy kind) and status classes: never a
//! path, a host or a client address, so the number of series is bounded
//! by the config.

pub mod render;

use std::net::SocketAddr;
use std::time::Duration;

use fxhash::FxHashMap;

use std::sync::Arc;

use crate::plan::Plan;
use crate::proxy::AccessRecord;

/// Upper bounds of the histogram buckets, in seconds (`+Inf` follows).
pub const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// [`BUCKETS`] in nanoseconds (no float on the request path).
const BUCKETS_NS: [u128; 14] = [
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// A fixed-bucket histogram of durations.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histogram {
    /// Observations per bucket (not cumulative); the last is `+Inf`.
    pub counts: [u64; BUCKETS.len() + 1],
    /// Sum of the observations, in nanoseconds.
    pub sum_ns: u128,
}

impl Histogram {
    /// Counts one duration.
    pub fn observe(&mut self, d: Duration) {
        let ns = d.as_nanos();
        let i = BUCKETS_NS
            .iter()
            .position(|b| ns <= *b)
            .unwrap_or(BUCKETS.len());
        self.counts[i] += 1;
        self.sum_ns += ns;
    }

    /// Every observation.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    fn merge(&mut self, o: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(o.counts) {
            *a += b;
        }
        self.sum_ns += o.sum_ns;
    }
}

/// The access record's note for a request sent failing open.
pub const FAIL_OPEN: &str = "fail-open: every server down";

/// The access-record note of a request a rate limit decided without its
/// shared store (Redis down or slow): admitted or refused as configured.
pub const STORE_ERROR_ALLOWED: &str = "rate-limit store unavailable: allowed";
/// See [`STORE_ERROR_ALLOWED`].
pub const STORE_ERROR_DENIED: &str = "rate-limit store unavailable: denied";

/// Counts by status class: index 0 for "no response sent", 1..=5 for
/// 1xx..5xx.
pub type ByClass = [u64; 6];

/// The class index of a status (0: none was sent).
pub fn class(status: u16) -> usize {
    match status {
        100..=599 => usize::from(status / 100),
        _ => 0,
    }
}

/// One route's numbers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RouteStats {
    /// Requests by upstream group name ("" when none was picked) and class.
    pub by_upstream: FxHashMap<Box<str>, ByClass>,
    /// Whole-exchange durations.
    pub duration: Histogram,
}

/// One upstream group's numbers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UpstreamStats {
    /// From picking a server to its response head.
    pub response_time: Histogram,
    /// Servers tried beyond the first.
    pub retries: u64,
    /// Requests sent to a server that was down because every one was
    /// (`fail_open`).
    pub fail_open: u64,
}

/// Counts for the plan in force, indexed by route and group (no hashing
/// on the request path); folded into [`Metrics`]' named maps when a scrape
/// copies them or a newer plan's exchanges start to end.
#[derive(Clone, Debug, Default, PartialEq)]
struct ByIndex {
    /// Per route (the last entry: no route), per group (the last: none).
    routes: Vec<(Vec<ByClass>, Histogram)>,
    /// Per group.
    upstreams: Vec<UpstreamStats>,
}

/// One worker's counters.
#[derive(Clone, Default)]
pub struct Metrics {
    fast: ByIndex,
    /// The plan `fast` counts for.
    fast_plan: Option<Arc<Plan>>,
    /// By route name ("" when no route was taken).
    pub routes: FxHashMap<Box<str>, RouteStats>,
    /// By upstream group name.
    pub upstreams: FxHashMap<Box<str>, UpstreamStats>,
    /// Answers made by a layer with a status of 400 or more, by its kind.
    pub rejections: FxHashMap<&'static str, u64>,
    /// Requests a rate limit decided without its shared store.
    pub store_errors: u64,
    /// Request bytes received from clients.
    pub bytes_in: u64,
    /// Response bytes sent to clients.
    pub bytes_out: u64,
    /// Client connections accepted.
    pub connections_opened: u64,
    /// Client connections closed.
    pub connections_closed: u64,
    /// Client connections closed to make room at `max_connections`.
    pub connections_evicted: u64,
}

fn entry<'a, V: Default>(map: &'a mut FxHashMap<Box<str>, V>, key: &str) -> &'a mut V {
    if !map.contains_key(key) {
        map.insert(key.into(), V::default());
    }
    map.get_mut(key).expect("inserted above")
}

impl Metrics {
    /// Counts an exchange that ended on `plan`, having taken `route` (its
    /// index) and the record's group.
    pub fn ended(&mut self, r: &AccessRecord, plan: &Arc<Plan>, route: Option<usize>) {
        let same = self
            .fast_plan
            .as_ref()
            .is_some_and(|p| Arc::ptr_eq(p, plan));
        if !same {
            let older = self
                .fast_plan
                .as_ref()
                .is_some_and(|p| p.generation > plan.generation);
            if older {
                // An exchange that began before a reload: by name.
                return self.ended_by_name(r, plan);
            }
            if let Some(current) = self.fast_plan.take() {
                self.fold(&current);
            }
            self.start(plan);
        }
        let groups = plan.config.upstreams.len();
        let f = &mut self.fast;
        let last = f.routes.len() - 1;
        let ri = route.unwrap_or(last).min(last);
        let gi = r.group.unwrap_or(groups).min(groups);
        let (by, duration) = &mut f.routes[ri];
        by[gi][class(r.status)] += 1;
        duration.observe(r.duration());
        if let Some(us) = r.group.and_then(|g| f.upstreams.get_mut(g)) {
            if let Some(t) = r.upstream_time {
                us.response_time.observe(t);
            }
            us.retries += u64::from(r.tries.saturating_sub(1));
            us.fail_open += u64::from(r.note == FAIL_OPEN);
        }
        self.common(r);
    }

    /// Index-keyed counts for `plan`, from zero.
    fn start(&mut self, plan: &Arc<Plan>) {
        let groups = plan.config.upstreams.len();
        let routes = plan.router.routes().len();
        self.fast = ByIndex {
            routes: vec![(vec![[0; 6]; groups + 1], Histogram::default()); routes + 1],
            upstreams: vec![UpstreamStats::default(); groups],
        };
        self.fast_plan = Some(plan.clone());
    }

    /// Moves the index-keyed counts of `plan` into the named maps.
    fn fold(&mut self, plan: &Plan) {
        let fast = std::mem::take(&mut self.fast);
        let routes = plan.router.routes();
        let route_name = |i: usize| routes.get(i).map_or("", |r| r.name.as_str());
        let groups = &plan.config.upstreams;
        let group_name = |i: usize| groups.get(i).map_or("", |g| g.name.as_str());
        for (ri, (by, duration)) in fast.routes.iter().enumerate() {
            if duration.count() == 0 {
                continue;
            }
            let rs = entry(&mut self.routes, route_name(ri));
            for (gi, counts) in by.iter().enumerate() {
                if counts.iter().any(|c| *c > 0) {
                    let m = entry(&mut rs.by_upstream, group_name(gi));
                    for (a, b) in m.iter_mut().zip(counts) {
                        *a += b;
                    }
                }
            }
            rs.duration.merge(duration);
        }
        for (gi, u) in fast.upstreams.iter().enumerate() {
            if u.response_time.count() == 0 && u.retries == 0 && u.fail_open == 0 {
                continue;
            }
            let mine = entry(&mut self.upstreams, group_name(gi));
            mine.response_time.merge(&u.response_time);
            mine.retries += u.retries;
            mine.fail_open += u.fail_open;
        }
    }

    /// A copy with every count under its name (for a scrape).
    pub fn named(&self) -> Metrics {
        let mut out = self.clone();
        if let Some(plan) = out.fast_plan.take() {
            out.fold(&plan);
        }
        out
    }

    fn ended_by_name(&mut self, r: &AccessRecord, plan: &Plan) {
        let upstream = r
            .group
            .and_then(|g| plan.config.upstreams.get(g))
            .map_or("", |u| u.name.as_str());
        self.exchange_ended(r, upstream);
    }

    fn common(&mut self, r: &AccessRecord) {
        if !r.answered_by.is_empty() && r.status >= 400 {
            *self.rejections.entry(r.answered_by).or_default() += 1;
        }
        self.bytes_in += r.bytes_in;
        self.store_errors +=
            u64::from(r.note == STORE_ERROR_ALLOWED || r.note == STORE_ERROR_DENIED);
        self.bytes_out += r.bytes_out;
    }

    /// Counts an exchange that ended, by names; `upstream` is its group's
    /// name (the slow path: an exchange of an older plan, a rejected head).
    pub fn exchange_ended(&mut self, r: &AccessRecord, upstream: &str) {
        let route = std::str::from_utf8(&r.route).unwrap_or("");
        let rs = entry(&mut self.routes, route);
        entry(&mut rs.by_upstream, upstream)[class(r.status)] += 1;
        rs.duration.observe(r.duration());
        if !upstream.is_empty() {
            let us = entry(&mut self.upstreams, upstream);
            if let Some(t) = r.upstream_time {
                us.response_time.observe(t);
            }
            us.retries += u64::from(r.tries.saturating_sub(1));
            us.fail_open += u64::from(r.note == FAIL_OPEN);
        }
        self.common(r);
    }

    /// Adds `o`'s named counts to these (a scrape merging workers'
    /// [`Metrics::named`] copies).
    pub fn merge(&mut self, o: &Metrics) {
        for (name, r) in &o.routes {
            let mine = entry(&mut self.routes, name);
            for (up, counts) in &r.by_upstream {
                let m = entry(&mut mine.by_upstream, up);
                for (a, b) in m.iter_mut().zip(counts) {
                    *a += b;
                }
            }
            mine.duration.merge(&r.duration);
        }
        for (name, u) in &o.upstreams {
            let mine = entry(&mut self.upstreams, name);
            mine.response_time.merge(&u.response_time);
            mine.retries += u.retries;
            mine.fail_open += u.fail_open;
        }
        for (k, v) in &o.rejections {
            *self.rejections.entry(k).or_default() += v;
        }
        self.bytes_in += o.bytes_in;
        self.store_errors += o.store_errors;
        self.bytes_out += o.bytes_out;
        self.connections_opened += o.connections_opened;
        self.connections_closed += o.connections_closed;
        self.connections_evicted += o.connections_evicted;
    }
}

/// One server as one worker sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerStat {
    /// Its group's name.
    pub upstream: String,
    /// Its address.
    pub addr: SocketAddr,
    /// Its configured weight.
    pub weight: u32,
    /// Not marked down by passive health.
    pub up: bool,
    /// Drained by the operator: takes no new requests.
    pub drained: bool,
    /// A backup server.
    pub backup: bool,
    /// Requests picked for it and not yet reported.
    pub in_flight: u64,
    /// Passive failures counted.
    pub failures: u64,
    /// Requests sent to it (picks, retries included).
    pub requests: u64,
}

/// What one worker hands to a scrape.
#[derive(Clone, Default)]
pub struct Snapshot {
    /// Its counters.
    pub metrics: Metrics,
    /// Its view of every server.
    pub servers: Vec<ServerStat>,
    /// Pooled idle upstream connections (the frontend's pool).
    pub pooled: u64,
}

impl Snapshot {
    /// Merges workers' snapshots: counters add up, a server is up only if
    /// every worker sees it up, in-flight and failures add up.
    pub fn merge(all: &[Snapshot]) -> Snapshot {
        let mut out = Snapshot::default();
        for s in all {
            out.metrics.merge(&s.metrics);
            out.pooled += s.pooled;
            for st in &s.servers {
                match out
                    .servers
                    .iter_mut()
                    .find(|o| o.upstream == st.upstream && o.addr == st.addr)
                {
                    Some(o) => {
                        o.up &= st.up;
                        o.in_flight += st.in_flight;
                        o.failures += st.failures;
                        o.requests += st.requests;
                    }
                    None => out.servers.push(st.clone()),
                }
            }
        }
        out
    }
}
