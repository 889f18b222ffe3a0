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
    if std::env::var_os("WEIR_ACCEPT").is_some_and(|v| v == "shared") {
        // The measured alternative: one listening socket shared by all workers.
        let listener = weir_frontend::io::bind(config.listen)?;
        weir_frontend::io::announce(listener.local_addr()?);
        return serve_on(plans, listener, opts, shutdown);
    }
    // A plain bind first, released at once: it fails with "address
    // already in use" when anything (another weir included) listens there,
    // which SO_REUSEPORT sockets alone would not report. It also fixes the
    // port when the config asks for port 0.
    let addr = weir_frontend::io::bind(config.listen)?.local_addr()?;
    let n = weir_frontend::cli::workers(&config);
    let listeners = (0..n)
        .map(|_| weir_frontend::io::bind_reuseport(addr))
        .collect::<std::io::Result<Vec<_>>>()?;
    weir_frontend::io::announce(addr);
    run_workers(plans, listeners, opts, shutdown)
}

/// Runs the gateway on an already bound listener.
pub fn serve_on(
    plans: &Plans,
    listener: TcpListener,
    opts: &Options,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let n = weir_frontend::cli::workers(&plans.current().config);
    let listeners = (0..n)
        .map(|_| listener.try_clone())
        .collect::<std::io::Result<Vec<_>>>()?;
    run_workers(plans, listeners, opts, shutdown)
}

/// One worker thread per listener handle.
fn run_workers(
    plans: &Plans,
    listeners: Vec<TcpListener>,
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
