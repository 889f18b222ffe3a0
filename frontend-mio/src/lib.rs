//! weir-mio: weir-core driven by mio event loops, one per worker thread.
//!
//! Each worker owns a `mio::Poll`, its connections, its upstream pool and
//! its own `Gateway` (balancer and health state), so nothing is locked on
//! the request path. Each worker accepts on its own `SO_REUSEPORT` socket
//! and the kernel spreads new connections over them. Measured against one
//! listening socket shared by every worker (`WEIR_ACCEPT=shared`, the
//! losers of each accept race seeing `WouldBlock`) with the load harness,
//! two workers: a new connection per request, 42.1k against 37.0k req/s
//! and 18.3 against 21.4 µs of CPU per request; keep-alive traffic the
//! same (90.9k / 91.0k). So per-worker sockets it is. A plain bind is tried
//! first and released, so that a port already in use (by another weir
//! too) still fails with "address already in use".

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod sock;
mod timers;
mod worker;

use std::net::TcpListener;

use weir_frontend::{Options, Plans, Shutdown};

/// Runs the gateway until `shutdown` fires and in-flight requests finish
/// (or the grace period ends); every worker installs each plan `plans`
/// publishes.
pub fn serve(plans: &Plans, opts: &Options, shutdown: Shutdown) -> std::io::Result<()> {
    let config = plans.current().config.clone();
    let n = weir_frontend::cli::workers(&config);
    let per_worker =
        weir_frontend::io::bind_workers(&config, n, weir_frontend::io::Accept::from_env())?;
    run_workers(plans, per_worker, opts, shutdown)
}

/// Runs the gateway on an already bound listener (the first of the
/// config's listeners; embedding and tests).
pub fn serve_on(
    plans: &Plans,
    listener: TcpListener,
    opts: &Options,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let n = weir_frontend::cli::workers(&plans.current().config);
    let per_worker = (0..n)
        .map(|_| listener.try_clone().map(|l| vec![l]))
        .collect::<std::io::Result<Vec<_>>>()?;
    run_workers(plans, per_worker, opts, shutdown)
}

/// One worker thread per set of listener handles (one handle of each
/// listener, in config order).
fn run_workers(
    plans: &Plans,
    listeners: Vec<Vec<TcpListener>>,
    opts: &Options,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let n = listeners.len();
    let grace = std::time::Duration::from_secs(opts.grace);
    let max = plans.current().config.limits.max_connections;
    let per_worker_limit = max.div_ceil(n).max(1);
    let mut handles = Vec::new();
    for (i, l) in listeners.into_iter().enumerate() {
        let w = worker::Worker::new(
            plans,
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
