//! Hot reload: the plan in force for the whole process, how workers hear
//! of a new one, and SIGHUP's reading of the config file.
//!
//! The file is read, validated and compiled on the signal thread, never
//! on a worker. A valid file becomes the next generation of the plan and
//! is published: every worker installs it into its own `Gateway` (new
//! connections and the next request on each keep-alive connection use it;
//! exchanges in flight finish on theirs). An invalid one changes nothing.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use weir_core::metrics::render::Process;
use weir_core::metrics::Snapshot;
use weir_core::proxy::ServerMarks;
use weir_core::{Config, Plan};

type Listener = Box<dyn Fn(&Arc<Plan>) + Send>;

/// How a scrape reaches one worker: called with where to send the
/// worker's snapshot (a mio worker queues it and wakes up; a smol shard
/// answers at once).
pub type Asker = Box<dyn Fn(mpsc::Sender<Snapshot>) + Send>;

/// Told the server marks when they change.
type MarkListener = Box<dyn Fn(&ServerMarks) + Send>;

struct Inner {
    current: Mutex<Arc<Plan>>,
    listeners: Mutex<Vec<Listener>>,
    askers: Mutex<Vec<Asker>>,
    /// Servers drained through the admin API or found down by the
    /// active checks, and who applies them.
    marks: Mutex<ServerMarks>,
    mark_listeners: Mutex<Vec<MarkListener>>,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    started: Instant,
}

/// The plan in force, shared by every worker of the process.
#[derive(Clone)]
pub struct Plans {
    inner: Arc<Inner>,
}

impl Plans {
    /// Generation 1, compiled from the config the process starts with.
    pub fn new(config: Arc<Config>) -> Plans {
        Plans {
            inner: Arc::new(Inner {
                current: Mutex::new(Arc::new(Plan::compile(config, 1))),
                listeners: Mutex::new(Vec::new()),
                askers: Mutex::new(Vec::new()),
                marks: Mutex::new(ServerMarks::default()),
                mark_listeners: Mutex::new(Vec::new()),
                reloads_ok: AtomicU64::new(0),
                reloads_failed: AtomicU64::new(0),
                started: Instant::now(),
            }),
        }
    }

    /// The plan in force.
    pub fn current(&self) -> Arc<Plan> {
        self.inner
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Calls `f` with every plan published from now on (a worker wakes
    /// itself up, or installs it into its gateway).
    pub fn on_publish(&self, f: impl Fn(&Arc<Plan>) + Send + 'static) {
        self.inner
            .listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Box::new(f));
    }

    /// The servers drained or found down now.
    pub fn marks(&self) -> ServerMarks {
        self.inner
            .marks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Drains (`on`) or enables one server, and tells every worker.
    pub fn set_drained(&self, upstream: &str, server: SocketAddr, on: bool) {
        self.mark(|m| &mut m.drained, upstream, server, on);
    }

    /// Marks one server down (`on`) or up for the active health checks,
    /// and tells every worker.
    pub fn set_checked_down(&self, upstream: &str, server: SocketAddr, on: bool) {
        self.mark(|m| &mut m.down, upstream, server, on);
    }

    fn mark(
        &self,
        list: impl Fn(&mut ServerMarks) -> &mut Vec<(String, SocketAddr)>,
        upstream: &str,
        server: SocketAddr,
        on: bool,
    ) {
        let marks = {
            let mut marks = self.inner.marks.lock().unwrap_or_else(|p| p.into_inner());
            let l = list(&mut marks);
            l.retain(|(n, a)| !(n == upstream && *a == server));
            if on {
                l.push((upstream.to_owned(), server));
            }
            marks.clone()
        };
        for f in self
            .inner
            .mark_listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            f(&marks);
        }
    }

    /// Calls `f` with the marks whenever they change.
    pub fn on_marks(&self, f: impl Fn(&ServerMarks) + Send + 'static) {
        self.inner
            .mark_listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Box::new(f));
    }

    /// Registers a worker for scrapes.
    pub fn on_scrape(&self, ask: Asker) {
        self.inner
            .askers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(ask);
    }

    /// Every worker's snapshot, merged; a worker that does not answer
    /// within `limit` (stopping) is left out.
    pub fn scrape(&self, limit: Duration) -> Snapshot {
        let (tx, rx) = mpsc::channel();
        let asked = {
            let askers = self.inner.askers.lock().unwrap_or_else(|p| p.into_inner());
            for ask in askers.iter() {
                ask(tx.clone());
            }
            askers.len()
        };
        drop(tx);
        let deadline = Instant::now() + limit;
        let mut got = Vec::with_capacity(asked);
        while got.len() < asked {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(s) => got.push(s),
                Err(_) => break,
            }
        }
        Snapshot::merge(&got)
    }

    /// What the process knows beyond its workers' counters.
    pub fn process(&self) -> Process {
        Process {
            generation: self.current().generation,
            reloads_ok: self.inner.reloads_ok.load(Ordering::Relaxed),
            reloads_failed: self.inner.reloads_failed.load(Ordering::Relaxed),
            uptime: self.inner.started.elapsed(),
        }
    }

    /// Puts `plan` in force and tells every listener.
    pub fn publish(&self, plan: Arc<Plan>) {
        let mut current = self.inner.current.lock().unwrap_or_else(|p| p.into_inner());
        *current = plan.clone();
        drop(current);
        self.tell(&plan);
    }

    /// Publishes `plan` only if `expected` is still in force (a change
    /// derived from it, such as a new DNS resolution, must not undo a
    /// reload published meanwhile). True when published.
    pub fn replace(&self, expected: &Arc<Plan>, plan: Arc<Plan>) -> bool {
        let mut current = self.inner.current.lock().unwrap_or_else(|p| p.into_inner());
        if !Arc::ptr_eq(&current, expected) {
            return false;
        }
        *current = plan.clone();
        drop(current);
        self.tell(&plan);
        true
    }

    fn tell(&self, plan: &Arc<Plan>) {
        for f in self
            .inner
            .listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            f(plan);
        }
    }
}

/// Reloads one config file into a [`Plans`].
#[derive(Clone)]
pub struct Reloader {
    /// The binary's name, for messages.
    pub name: &'static str,
    /// The config file.
    pub path: PathBuf,
    /// `--workers`, which overrides the file's `workers` (so a reload of
    /// the same file is not a change of `workers`).
    pub workers: Option<usize>,
    /// Where the new plan goes.
    pub plans: Plans,
}

impl Reloader {
    /// Reads, validates and publishes the file. `Ok`: the line to say
    /// (generation and what changed); `Err`: why the running config stays,
    /// one line per problem, each `FILE:LINE: key: message` as `--check`
    /// prints them.
    pub fn reload(&self) -> Result<String, Vec<String>> {
        let result = self.try_reload();
        let counter = match &result {
            Ok(_) => &self.plans.inner.reloads_ok,
            Err(_) => &self.plans.inner.reloads_failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        result
    }

    fn try_reload(&self) -> Result<String, Vec<String>> {
        let current = self.plans.current();
        let keep = |mut why: Vec<String>| {
            why.insert(
                0,
                format!(
                    "reload of {} failed; generation {} stays in force:",
                    self.path.display(),
                    current.generation
                ),
            );
            why
        };
        let mut config = crate::cli::load(&self.path).map_err(keep)?;
        if let Some(w) = self.workers {
            config.workers = Some(w);
        }
        let old = &current.config;
        let mut refused = Vec::new();
        if config.listeners != old.listeners {
            refused.push(format!(
                "listen cannot change on reload ({} -> {}); restart to move",
                addrs(&old.listeners),
                addrs(&config.listeners)
            ));
        }
        if config.admin != old.admin {
            refused.push("admin cannot change on reload; restart to change it".into());
        }
        if config.workers != old.workers {
            refused.push("workers cannot change on reload; restart to change it".into());
        }
        if config.log_path != old.log_path {
            if let Some(path) = &config.log_path {
                if let Err(e) = crate::accesslog::open(path) {
                    refused.push(format!("log.path: cannot open {}: {e}", path.display()));
                }
            }
        }
        if !refused.is_empty() {
            return Err(keep(refused));
        }
        let config = Arc::new(config);
        let (mut plan, mut changes) = current.successor(config.clone());
        let mut base = current;
        // A DNS refresh may have published a plan meanwhile: follow it,
        // so that generations keep growing.
        while !self.plans.replace(&base, Arc::new(plan)) {
            base = self.plans.current();
            (plan, changes) = base.successor(config.clone());
        }
        let generation = base.generation + 1;
        Ok(format!(
            "reloaded {}: generation {generation}: {changes}",
            self.path.display()
        ))
    }

    /// [`Reloader::reload`], said on stderr.
    pub fn reload_and_say(&self) {
        match self.reload() {
            Ok(line) => eprintln!("{}: {line}", self.name),
            Err(lines) => {
                for l in lines {
                    eprintln!("{}: {l}", self.name);
                }
            }
        }
    }
}

/// The listeners' addresses, for a message (with their PROXY-protocol flag).
fn addrs(listeners: &[weir_core::config::listen::Listener]) -> String {
    listeners
        .iter()
        .map(|l| match l.proxy_protocol {
            true => format!("{} (proxy_protocol)", l.addr),
            false => l.addr.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
