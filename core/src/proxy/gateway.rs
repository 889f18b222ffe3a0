//! The per-worker state every connection is driven against.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::balancer::Group;
use crate::config::Config;
use crate::plan::Plan;
use crate::rng::Rng;

/// Servers taken out of balancing, by (upstream name, address).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerMarks {
    /// Drained by the operator (admin API).
    pub drained: Vec<(String, SocketAddr)>,
    /// Found down by the active health checks.
    pub down: Vec<(String, SocketAddr)>,
}

/// One worker's state: the plan in force, the upstream groups (balancer
/// and passive health, aligned with the plan's upstreams) and a seeded
/// RNG. Passed as `&mut` to every `Connection` call.
pub struct Gateway {
    pub(crate) plan: Arc<Plan>,
    pub(crate) groups: Vec<Group>,
    pub(crate) rng: Rng,
    /// An instant and the wall-clock time then (since the Unix epoch).
    wall: Option<(Instant, Duration)>,
    /// The plan's route names, this worker's own copies (an access record
    /// takes one without touching memory another worker writes).
    route_names: Vec<Bytes>,
    pub(crate) access_log: bool,
    /// Verbatim body runs of at least this many bytes (still to come,
    /// their number known) are handed to the frontend as `Output::Pass`;
    /// `None`: every byte goes through the core.
    pub(super) pass_min: Option<u64>,
    pub(super) stock: super::buffers::Stock,
    /// Servers drained by the operator and marked down by the active
    /// checks; applied again to every plan installed.
    marks: ServerMarks,
    /// This worker's counters, updated where exchanges end.
    pub metrics: crate::metrics::Metrics,
    /// Connections made over this gateway (`Connection::new` sees it
    /// shared).
    pub(super) opened: std::cell::Cell<u64>,
    /// Every decision, written down while `explain` runs; `None` when
    /// serving.
    pub(crate) trace: Option<Box<crate::explain::Trace>>,
    /// This worker's flight-recorder ring and the cap of each direction,
    /// when `[recorder]` is set (as the process started).
    pub(crate) recorder: Option<(crate::recorder::SharedRing, usize)>,
}

impl Gateway {
    /// Builds a gateway for a config (its plan is generation 1); `seed`
    /// makes every random choice reproducible.
    pub fn new(config: Arc<Config>, seed: u64) -> Gateway {
        Gateway::with_plan(Arc::new(Plan::compile(config, 1)), seed)
    }

    /// Builds a gateway for a compiled plan (shared by every worker).
    pub fn with_plan(plan: Arc<Plan>, seed: u64) -> Gateway {
        let mut rng = Rng::new(seed);
        let groups = plan
            .config
            .upstreams
            .iter()
            .map(|spec| Group::new(spec, rng.next_u64()))
            .collect();
        let recorder = plan.config.recorder.clone().map(|spec| {
            let max = spec.max_bytes;
            (crate::recorder::Ring::shared(spec), max)
        });
        Gateway {
            wall: None,
            route_names: names(&plan),
            plan,
            groups,
            rng,
            access_log: true,
            pass_min: None,
            stock: Default::default(),
            metrics: Default::default(),
            opened: Default::default(),
            marks: ServerMarks::default(),
            trace: None,
            recorder,
        }
    }

    /// Drops the buffer sets kept for the next connections. A frontend
    /// calls it before handing free heap back to the system: sets kept
    /// after a burst lie scattered through the heap the burst grew, and
    /// each pins pages that would otherwise be returned (weir-mio, 5 000
    /// idle connections after a burst: ~25 bytes of RSS per connection,
    /// 490–505 → 461–482). The next connections allocate their sets again.
    pub fn shed_spares(&mut self) {
        self.stock.shed();
    }

    /// This worker's flight-recorder ring (`None` without `[recorder]`;
    /// made with the first plan, kept across reloads).
    pub fn recordings(&self) -> Option<crate::recorder::SharedRing> {
        self.recorder.as_ref().map(|(ring, _)| ring.clone())
    }

    /// From now on, every decision is written down (`explain`).
    pub fn start_trace(&mut self) {
        self.trace = Some(Box::default());
    }

    /// The decisions written down since [`Gateway::start_trace`].
    pub fn take_trace(&mut self) -> Option<crate::explain::Trace> {
        self.trace.take().map(|t| *t)
    }

    /// Puts a new plan in force (a reload). New exchanges use it; those in
    /// flight finish on the plan they started with. A group whose settings
    /// are unchanged keeps its whole state (the balancer's sequence, passive
    /// health); a changed group keeps the health of the servers it still
    /// has. Returns the servers no group has any more (the frontend closes
    /// their pooled connections).
    pub fn install(&mut self, plan: Arc<Plan>) -> Vec<SocketAddr> {
        let mut old: Vec<Option<Group>> = std::mem::take(&mut self.groups)
            .into_iter()
            .map(Some)
            .collect();
        let mut groups = Vec::with_capacity(plan.config.upstreams.len());
        for spec in &plan.config.upstreams {
            let same_name = old
                .iter()
                .position(|g| g.as_ref().is_some_and(|g| g.name == spec.name));
            let group = match same_name {
                Some(i) if old[i].as_ref().is_some_and(|g| g.spec == *spec) => old[i].take(),
                Some(i) => {
                    let mut g = Group::new(spec, self.rng.next_u64());
                    if let Some(o) = &old[i] {
                        g.carry_health(o);
                    }
                    Some(g)
                }
                None => None,
            };
            groups.push(group.unwrap_or_else(|| Group::new(spec, self.rng.next_u64())));
        }
        let gone = old
            .iter()
            .flatten()
            .flat_map(|g| g.addrs().iter().copied())
            .filter(|a| !groups.iter().any(|g| g.server_at(*a).is_some()))
            .collect();
        self.groups = groups;
        self.apply_marks();
        self.route_names = names(&plan);
        self.plan = plan;
        gone
    }

    /// The group an exchange that started on `plan` talks to, as group
    /// `index` of that plan: the same group when the plan is still in
    /// force or the group is unchanged by the reload since (same name,
    /// same settings, so the same server indices); `None` when a reload
    /// changed or removed it.
    pub(crate) fn group_of(&mut self, plan: &Arc<Plan>, index: usize) -> Option<&mut Group> {
        if Arc::ptr_eq(plan, &self.plan) {
            return self.groups.get_mut(index);
        }
        let spec = plan.config.upstreams.get(index)?;
        self.groups.iter_mut().find(|g| g.spec == *spec)
    }

    /// The name of route `index` of `plan`, for an access record.
    pub(crate) fn route_name(&self, plan: &Arc<Plan>, index: usize) -> Bytes {
        match self.route_names.get(index) {
            Some(n) if Arc::ptr_eq(plan, &self.plan) => n.clone(),
            _ => plan
                .router
                .routes()
                .get(index)
                .map_or_else(Bytes::new, |r| Bytes::copy_from_slice(r.name.as_bytes())),
        }
    }

    /// The plan in force.
    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }

    /// The config of the plan in force.
    pub fn config(&self) -> &Config {
        &self.plan.config
    }

    /// Tells the gateway what time it is: at `at`, `since_epoch` since
    /// the Unix epoch (the core reads no clock; time-stamped request ids
    /// need the time of day). A frontend calls it at start; the
    /// simulator with a fixed time, so replays stay the same.
    pub fn set_wall_clock(&mut self, at: Instant, since_epoch: Duration) {
        self.wall = Some((at, since_epoch));
    }

    /// What [`Gateway::set_wall_clock`] said, if anything.
    pub fn clock(&self) -> Option<(Instant, Duration)> {
        self.wall
    }

    /// Turns `Output::Log` records on or off (off: `--quiet`, where the
    /// frontend would drop them anyway; saves building each one).
    pub fn set_access_log(&mut self, on: bool) {
        self.access_log = on;
    }

    /// Lets the core hand the frontend body bytes that go out exactly as
    /// they come (the rest of a body of known length, or of a chunk's
    /// data; a response's or a request's), at least `min_len` of them, as
    /// one [`Output::Pass`](super::Output::Pass), for a frontend that can move
    /// bytes between sockets without reading them (`None`, the default:
    /// off). Connections the flight recorder records, and `explain`,
    /// still see every byte.
    pub fn set_pass_through(&mut self, min_len: Option<u64>) {
        self.pass_min = min_len;
    }

    /// Puts exactly these marks in force (the same for every worker):
    /// drained servers take no new requests and finish what they have;
    /// servers the active checks found down are picked only failing open.
    /// Kept across reloads.
    pub fn set_marks(&mut self, marks: &ServerMarks) {
        self.marks = marks.clone();
        self.apply_marks();
    }

    fn apply_marks(&mut self) {
        let has = |list: &[(String, SocketAddr)], g: &str, addr: SocketAddr| {
            list.iter().any(|(n, a)| n == g && *a == addr)
        };
        for g in &mut self.groups {
            for addr in g.addrs().to_vec() {
                let (drained, down) = (
                    has(&self.marks.drained, &g.name, addr),
                    has(&self.marks.down, &g.name, addr),
                );
                g.set_drained(addr, drained);
                g.set_checked_down(addr, down);
            }
        }
    }

    /// A copy of this worker's numbers at `now`, for a scrape (`pooled`:
    /// the frontend's idle upstream connections).
    pub fn snapshot(&self, now: Instant, pooled: u64) -> crate::metrics::Snapshot {
        let mut metrics = self.metrics.named();
        metrics.connections_opened = self.opened.get();
        crate::metrics::Snapshot {
            metrics,
            servers: self
                .groups
                .iter()
                .flat_map(|g| g.server_stats(now))
                .collect(),
            pooled,
        }
    }

    /// The upstream groups, in the order of the plan's upstreams.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }
}

fn names(plan: &Plan) -> Vec<Bytes> {
    plan.router
        .routes()
        .iter()
        .map(|r| Bytes::copy_from_slice(r.name.as_bytes()))
        .collect()
}
