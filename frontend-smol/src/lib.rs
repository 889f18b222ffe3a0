//! weir-smol: weir-core driven by smol tasks, one per client connection.
//!
//! The simplest frontend, and the one to embed: an async program can run
//! the gateway on its own executor with [`serve`].
//!
//! ```no_run
//! use std::net::TcpListener;
//! use std::sync::Arc;
//! use async_io::Async;
//! use weir_core::Config;
//! use weir_frontend::Plans;
//!
//! let config = Arc::new(Config::from_toml(r#"
//!     listen = "127.0.0.1:8080"
//!     [[upstream]]
//!     name = "app"
//!     servers = [{ addr = "127.0.0.1:9001" }]
//! "#).unwrap());
//! let plans = Plans::new(config); // plans.publish(...) reloads
//! let ex = smol::Executor::new();
//! let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 8080)).unwrap();
//! let stop = std::future::pending::<()>(); // or a shutdown signal of your own
//! smol::block_on(ex.run(weir_smol::serve(&ex, &plans, listener, weir_smol::Settings::default(), stop)))
//!     .unwrap();
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod calls;
mod conn;
mod drive;
mod seats;
mod shard;
mod side;

use std::future::Future;
use std::net::TcpListener;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_io::{Async, Timer};
use smol::future;
use smol::lock::{Semaphore, SemaphoreGuardArc};
use smol::Executor;
use weir_core::Config;
use weir_frontend::memory::HeapTrim;
use weir_frontend::{Options, Plans, Shutdown};

/// How often a worker looks at what its connections released.
const TRIM_EVERY: Duration = Duration::from_millis(100);
/// Fewer releases than this in [`TRIM_EVERY`] count as a quiet worker.
const QUIET_RELEASES: u32 = 64;

use shard::Shard;

/// How [`serve`] runs, beyond the config.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Drop access-log lines.
    pub quiet: bool,
    /// How long in-flight requests may take to finish after `stop`.
    pub grace: Duration,
    /// Shards of gateway and pool state (one per executor thread is best).
    pub shards: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            quiet: false,
            grace: Duration::from_secs(10),
            shards: 1,
        }
    }
}

/// Runs the gateway on `listener`, spawning one task per connection on
/// `ex`, until `stop` completes and in-flight requests finish (or the
/// grace period ends). Each plan published on `plans` is put in force at
/// once (a reload: `plans.publish(...)`).
pub async fn serve(
    ex: &Executor<'_>,
    plans: &Plans,
    listener: Async<TcpListener>,
    settings: Settings,
    stop: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let config = plans.current().config.clone();
    let shards: Vec<Arc<Shard>> = (0..settings.shards.max(1))
        .map(|i| {
            let shard = Arc::new(Shard::new(
                plans.current(),
                0x5745_4952 ^ i as u64,
                !settings.quiet,
            ));
            follow(plans, &shard);
            shard
        })
        .collect();
    let shared = Shared::new(&config, None);
    accept_loop(
        ex,
        &config,
        shards,
        vec![listener],
        &settings,
        &shared,
        stop,
    )
    .await;
    Ok(())
}

/// Installs every plan `plans` publishes into `shard` (on the publishing
/// thread: a short lock of the shard's gateway and pool), and answers
/// scrapes from it (on the admin thread, the same short locks).
fn follow(plans: &Plans, shard: &Arc<Shard>) {
    let weak = Arc::downgrade(shard);
    let drains = Arc::downgrade(shard);
    plans.on_marks(move |marks| {
        if let Some(shard) = drains.upgrade() {
            shard.gateway().set_marks(marks);
        }
    });
    plans.on_scrape(Box::new(move |reply| {
        if let Some(shard) = weak.upgrade() {
            let _ = reply.send(shard.snapshot());
        }
    }));
    let weak = Arc::downgrade(shard);
    plans.on_publish(move |plan| {
        if let Some(shard) = weak.upgrade() {
            shard.install(plan.clone());
        }
    });
}

/// Where an accept loop starts its tasks: either executor. Generic
/// rather than a boxed future, so that a connection's future lives inside
/// its task: one allocation per connection, not two.
trait Spawner {
    /// Runs `task` to its end, detached.
    fn start<F: Future<Output = ()> + Send + 'static>(&self, task: F);
}

impl Spawner for Executor<'_> {
    fn start<F: Future<Output = ()> + Send + 'static>(&self, task: F) {
        self.spawn(task).detach();
    }
}

impl Spawner for smol::LocalExecutor<'_> {
    fn start<F: Future<Output = ()> + Send + 'static>(&self, task: F) {
        self.spawn(task).detach();
    }
}

/// What a connection's task holds for its life: one of the
/// `max_connections` permits, and its place in the count of live tasks
/// that shutdown waits on (given back in that order when it ends).
struct Alive {
    live: Arc<AtomicUsize>,
    _permit: SemaphoreGuardArc,
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What every accept loop of one gateway shares.
#[derive(Clone)]
struct Shared {
    /// `max_connections` permits; a task holds one for its life.
    permits: Arc<Semaphore>,
    /// Connection tasks alive (all workers): shutdown waits for zero.
    live: Arc<AtomicUsize>,
    /// Where a stop's counts go (the binary's; none when embedded).
    stopping: Option<Shutdown>,
    /// What each connection is worth closing at `max_connections`.
    seats: Arc<seats::Seats>,
    /// `max_connections`.
    limit: usize,
}

impl Shared {
    fn new(config: &Config, stopping: Option<Shutdown>) -> Shared {
        Shared {
            permits: Arc::new(Semaphore::new(config.limits.max_connections)),
            live: Arc::new(AtomicUsize::new(0)),
            stopping,
            seats: Arc::new(seats::Seats::new()),
            limit: config.limits.max_connections,
        }
    }
}

/// Waits `every`; false instead once `stop` closes (periodic tasks).
async fn every_until_stop(every: Duration, stop: &smol::channel::Receiver<()>) -> bool {
    future::or(
        async {
            Timer::after(every).await;
            true
        },
        async {
            let _ = stop.recv().await;
            false
        },
    )
    .await
}

async fn accept_loop(
    spawner: &impl Spawner,
    config: &Config,
    shards: Vec<Arc<Shard>>,
    listeners: Vec<Async<TcpListener>>,
    settings: &Settings,
    shared: &Shared,
    stop: impl Future<Output = ()>,
) {
    let (stop_tx, stop_rx) = smol::channel::bounded::<()>(1);
    let pruning = shards.clone();
    let every = config.timeouts.pool_idle.max(Duration::from_millis(100)) / 2;
    let pruner_stop = stop_rx.clone();
    spawner.start(async move {
        while every_until_stop(every, &pruner_stop).await {
            for s in &pruning {
                s.prune(Instant::now());
            }
        }
    });
    let trimming = shards.clone();
    let trimmer_stop = stop_rx.clone();
    spawner.start(async move {
        // Freed heap back to the OS after bursts (weir_frontend::memory):
        // "quiet" when few connections were released in the last 100 ms.
        let mut trim = HeapTrim::default();
        while every_until_stop(TRIM_EVERY, &trimmer_stop).await {
            let released: u32 = trimming.iter().map(|s| s.take_released()).sum();
            for _ in 0..released {
                trim.note_release();
            }
            trim.maybe_trim(Instant::now(), released < QUIET_RELEASES, || {
                for s in &trimming {
                    s.gateway().shed_spares();
                }
            });
            for s in &trimming {
                s.flush_log_due(Instant::now());
            }
        }
    });
    let mut stop = pin!(stop);
    let mut next = 0usize;
    loop {
        let accepted = future::or(
            async {
                // Accept first, then take a permit: a loop waiting for a
                // client holds none (another loop's client may need it).
                let accepted = accept_any(&listeners).await;
                let permit = match shared.permits.try_acquire_arc() {
                    Some(p) => p,
                    None => room(shared).await,
                };
                Some((accepted, permit))
            },
            async {
                stop.as_mut().await;
                None
            },
        )
        .await;
        let Some((result, permit)) = accepted else {
            break;
        };
        let (listener, result) = result;
        match result {
            Ok((stream, addr)) => {
                let shard = shards[next % shards.len()].clone();
                next = next.wrapping_add(1);
                let live = shared.live.clone();
                let ending = conn::Ending {
                    stopping: shared.stopping.clone(),
                    seats: shared.seats.clone(),
                };
                live.fetch_add(1, Ordering::SeqCst);
                let alive = Alive {
                    live,
                    _permit: permit,
                };
                // The task is the connection's future itself: a future
                // around it would hold it twice (before and while
                // awaiting it), and the arguments it was made from.
                spawner.start(conn::run(shard, stream, addr, listener, ending, alive));
            }
            Err(e) if weir_frontend::io::is_out_of_resources(&e) => {
                eprintln!("weir: accept: {e}; pausing accepts for 100ms");
                Timer::after(Duration::from_millis(100)).await;
            }
            Err(_) => {}
        }
    }
    // Shutdown: no more accepts, connections are told to finish.
    drop(listeners);
    stop_tx.close();
    shared.seats.enter(seats::Phase::Stopping);
    for s in &shards {
        s.clear_pool();
    }
    let deadline = Instant::now() + settings.grace;
    while shared.live.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        Timer::after(Duration::from_millis(20)).await;
    }
    // Grace over: what is still in flight is cut, and logged, by its task.
    shared.seats.enter(seats::Phase::Cut);
    let deadline = Instant::now() + Duration::from_secs(1);
    while shared.live.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        Timer::after(Duration::from_millis(5)).await;
    }
    for s in &shards {
        s.flush_log();
    }
}

/// A permit at `max_connections`: closes the idle or silent connection
/// worth the least and takes the permit it gives back; again every 50 ms
/// while none comes (another loop may have taken the one freed, or every
/// connection was busy and one may be idle by now).
async fn room(shared: &Shared) -> smol::lock::SemaphoreGuardArc {
    loop {
        shared.seats.make_room(shared.limit);
        let got = future::or(async { Some(shared.permits.acquire_arc().await) }, async {
            Timer::after(Duration::from_millis(50)).await;
            None
        })
        .await;
        if let Some(p) = got {
            return p;
        }
    }
}

/// The next connection on any of `listeners` (fairly, when several are
/// ready), with the listener's index.
async fn accept_any(
    listeners: &[Async<TcpListener>],
) -> (
    usize,
    std::io::Result<(Async<std::net::TcpStream>, std::net::SocketAddr)>,
) {
    type Accept<'a> = std::pin::Pin<
        Box<
            dyn Future<
                    Output = (
                        usize,
                        std::io::Result<(Async<std::net::TcpStream>, std::net::SocketAddr)>,
                    ),
                > + 'a,
        >,
    >;
    if let [only] = listeners {
        return (0, only.accept().await);
    }
    let mut any: Option<Accept<'_>> = None;
    for (i, l) in listeners.iter().enumerate() {
        let next: Accept<'_> = Box::pin(async move { (i, l.accept().await) });
        any = Some(match any {
            None => next,
            Some(prev) => Box::pin(future::race(prev, next)),
        });
    }
    match any {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

/// The command-line entry: `workers` threads, each with its own
/// single-threaded executor, its own accept loop on its own listening
/// sockets (`SO_REUSEPORT`, as weir-mio: the kernel spreads connections;
/// one shared socket let the first worker to wake take a whole burst)
/// and its own shard (gateway and pool). A connection's task never
/// leaves the thread that accepted it, so no lock is contended and no
/// task is woken across threads (with one worker, one thread does
/// everything).
pub fn serve_blocking(plans: &Plans, opts: &Options, shutdown: Shutdown) -> std::io::Result<()> {
    let config = plans.current().config.clone();
    let workers = weir_frontend::cli::workers(&config);
    let per_worker =
        weir_frontend::io::bind_workers(&config, workers, weir_frontend::io::Accept::from_env())?;
    let (stop_tx, stop_rx) = smol::channel::bounded::<()>(1);
    shutdown.on_trigger(move || {
        stop_tx.close();
    });
    let settings = Settings {
        quiet: opts.quiet,
        grace: Duration::from_secs(opts.grace),
        shards: 1,
    };
    let shared = Shared::new(&config, Some(shutdown.clone()));
    let mut threads = Vec::new();
    for (i, own) in per_worker.into_iter().enumerate() {
        let listeners = own
            .into_iter()
            .map(Async::new)
            .collect::<std::io::Result<Vec<_>>>()?;
        let shard = Arc::new(Shard::new(
            plans.current(),
            0x5745_4952 ^ i as u64,
            !settings.quiet,
        ));
        follow(plans, &shard);
        let (config, settings, shared, stop_rx) = (
            config.clone(),
            settings.clone(),
            shared.clone(),
            stop_rx.clone(),
        );
        threads.push(
            std::thread::Builder::new()
                .name(format!("weir-smol-{i}"))
                .spawn(move || {
                    let ex = smol::LocalExecutor::new();
                    let stop = async move {
                        let _ = stop_rx.recv().await;
                    };
                    drive::drive(
                        &ex,
                        accept_loop(
                            &ex,
                            &config,
                            vec![shard],
                            listeners,
                            &settings,
                            &shared,
                            stop,
                        ),
                    );
                })?,
        );
    }
    let mut result = Ok(());
    for t in threads {
        if t.join().is_err() {
            result = Err(std::io::Error::other("a worker panicked"));
        }
    }
    result
}
