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
//!
//! let config = Arc::new(Config::from_toml(r#"
//!     listen = "127.0.0.1:8080"
//!     [[upstream]]
//!     name = "app"
//!     servers = [{ addr = "127.0.0.1:9001" }]
//! "#).unwrap());
//! let ex = smol::Executor::new();
//! let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 8080)).unwrap();
//! let stop = std::future::pending::<()>(); // or a shutdown signal of your own
//! smol::block_on(ex.run(weir_smol::serve(&ex, config, listener, weir_smol::Settings::default(), stop)))
//!     .unwrap();
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod conn;
mod shard;

use std::future::Future;
use std::net::TcpListener;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_io::{Async, Timer};
use smol::future;
use smol::lock::Semaphore;
use smol::Executor;
use weir_core::Config;
use weir_frontend::{Options, Shutdown};

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
/// grace period ends).
pub async fn serve(
    ex: &Executor<'_>,
    config: Arc<Config>,
    listener: Async<TcpListener>,
    settings: Settings,
    stop: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let shards: Vec<Arc<Shard>> = (0..settings.shards.max(1))
        .map(|i| {
            Arc::new(Shard::new(
                config.clone(),
                0x5745_4952 ^ i as u64,
                !settings.quiet,
            ))
        })
        .collect();
    let permits = Arc::new(Semaphore::new(config.limits.max_connections));
    let (stop_tx, stop_rx) = smol::channel::bounded::<()>(1);
    let pruning = shards.clone();
    let every = config.timeouts.pool_idle.max(Duration::from_millis(100)) / 2;
    let pruner = ex.spawn(async move {
        loop {
            Timer::after(every).await;
            for s in &pruning {
                s.prune(Instant::now());
            }
        }
    });
    let mut stop = pin!(stop);
    let live = Arc::new(());
    let mut next = 0usize;
    loop {
        let accepted = future::or(
            async {
                let permit = permits.acquire_arc().await;
                Some((listener.accept().await, permit))
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
        match result {
            Ok((stream, addr)) => {
                let shard = shards[next % shards.len()].clone();
                next = next.wrapping_add(1);
                let stop = stop_rx.clone();
                let quiet = settings.quiet;
                let token = live.clone();
                ex.spawn(async move {
                    conn::run(shard, stream, addr, quiet, stop).await;
                    drop((permit, token));
                })
                .detach();
            }
            Err(e) if weir_frontend::io::is_out_of_resources(&e) => {
                eprintln!("weir: accept: {e}; pausing accepts for 100ms");
                Timer::after(Duration::from_millis(100)).await;
            }
            Err(_) => {}
        }
    }
    // Shutdown: no more accepts, connections are told to finish.
    drop(listener);
    stop_tx.close();
    for s in &shards {
        s.clear_pool();
    }
    drop(pruner);
    // Every live task holds a clone of `live`; wait for them to end.
    let deadline = Instant::now() + settings.grace;
    while Arc::strong_count(&live) > 1 && Instant::now() < deadline {
        Timer::after(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// The command-line entry: `workers` executor threads run the tasks; the
/// calling thread accepts.
pub fn serve_blocking(
    config: Arc<Config>,
    opts: &Options,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let std_listener = weir_frontend::io::bind(config.listen)?;
    let listener = Async::new(std_listener)?;
    let workers = weir_frontend::cli::workers(&config);
    let ex = Arc::new(Executor::new());
    let (done_tx, done_rx) = smol::channel::bounded::<()>(1);
    let mut threads = Vec::new();
    for i in 0..workers {
        let ex = ex.clone();
        let done = done_rx.clone();
        threads.push(
            std::thread::Builder::new()
                .name(format!("weir-smol-{i}"))
                .spawn(move || smol::block_on(ex.run(done.recv())))?,
        );
    }
    let (stop_tx, stop_rx) = smol::channel::bounded::<()>(1);
    shutdown.on_trigger(move || {
        stop_tx.close();
    });
    let settings = Settings {
        quiet: opts.quiet,
        grace: Duration::from_secs(opts.grace),
        shards: workers,
    };
    let result = smol::block_on(ex.run(serve(&ex, config, listener, settings, async move {
        let _ = stop_rx.recv().await;
    })));
    done_tx.close();
    for t in threads {
        let _ = t.join();
    }
    result
}
