//! weir-mio: weir-core driven by mio event loops, one per worker thread.
//!
//! Each worker owns a `mio::Poll`, its connections, its upstream pool and
//! its own `Gateway` (balancer and health state), so nothing is locked on
//! the request path. Every worker registers its own handle of the one
//! listening socket and accepts from it; the kernel wakes the workers and
//! the losers of an accept race see `WouldBlock`. (One bound socket, not
//! `SO_REUSEPORT` per worker: a second weir on the same port must fail
//! with "address already in use", and with two workers the accept race
//! costs one spurious wakeup at most.)

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod sock;
mod timers;
mod worker;

use std::net::TcpListener;
use std::sync::Arc;

use weir_core::Config;
use weir_frontend::{Options, Shutdown};

/// Runs the gateway until `shutdown` fires and in-flight requests finish
/// (or the grace period ends).
pub fn serve(config: Arc<Config>, opts: &Options, shutdown: Shutdown) -> std::io::Result<()> {
    if std::env::var_os("WEIR_ACCEPT").is_some_and(|v| v == "reuseport") {
        // The measured alternative (benches/README.md): one SO_REUSEPORT
        // socket per worker.
        let n = weir_frontend::cli::workers(&config);
        let listeners = (0..n)
            .map(|_| weir_frontend::io::bind_reuseport(config.listen))
            .collect::<std::io::Result<Vec<_>>>()?;
        return run_workers(config, listeners, opts, shutdown);
    }
    let listener = weir_frontend::io::bind(config.listen)?;
    serve_on(config, listener, opts, shutdown)
}

/// Runs the gateway on an already bound listener.
pub fn serve_on(
    config: Arc<Config>,
    listener: TcpListener,
    opts: &Options,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let n = weir_frontend::cli::workers(&config);
    let listeners = (0..n)
        .map(|_| listener.try_clone())
        .collect::<std::io::Result<Vec<_>>>()?;
    run_workers(config, listeners, opts, shutdown)
}

/// One worker thread per listener handle.
fn run_workers(
    config: Arc<Config>,
    listeners: Vec<TcpListener>,
    opts: &Options,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let n = listeners.len();
    let grace = std::time::Duration::from_secs(opts.grace);
    let per_worker_limit = config.limits.max_connections.div_ceil(n).max(1);
    let mut handles = Vec::new();
    for (i, l) in listeners.into_iter().enumerate() {
        let w = worker::Worker::new(
            config.clone(),
            l,
            i as u64,
            opts.quiet,
            per_worker_limit,
            shutdown.clone(),
            grace,
        )?;
        handles.push(
            std::thread::Builder::new()
                .name(format!("weir-worker-{i}"))
                .spawn(move || w.run())?,
        );
    }
    let mut result = Ok(());
    for h in handles {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => result = Err(e),
            Err(_) => result = Err(std::io::Error::other("a worker panicked")),
        }
    }
    result
}
