//! A shard of shared state: one `Gateway` (balancers, health, middleware)
//! and one upstream keep-alive pool, each behind its own short lock.
//!
//! Why shards and locks: smol moves tasks between executor threads, so a
//! connection cannot own a per-thread gateway the way a mio worker does.
//! Each connection is bound to one shard (round-robin at accept) and
//! locks its gateway only for the microseconds of one `handle_input`;
//! with one shard per executor thread, two threads rarely want the same
//! lock. With `workers = 1` there is one shard, so balancing sequences
//! are exactly those of weir-mio with one worker.

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use async_io::Async;
use weir_core::{AccessRecord, Gateway, Plan};
use weir_frontend::pool::Pool;
use weir_frontend::LogSink;

/// One gateway and one pool.
pub struct Shard {
    gateway: Mutex<Gateway>,
    pool: Mutex<Pool<Async<TcpStream>>>,
    /// Idle connections to called services (Redis).
    idle_calls: Mutex<crate::calls::IdleCalls>,
    /// Connections that gave back their buffers or ended since the
    /// trimming task last looked.
    released: AtomicU32,
    /// The access-log lines of this shard's connections, handed to the
    /// writer thread in batches.
    log: Mutex<LogSink>,
}

impl Shard {
    /// A shard whose random choices follow `seed`.
    pub fn new(plan: Arc<Plan>, seed: u64, access_log: bool) -> Shard {
        let pool = Pool::new(plan.config.timeouts.pool_idle);
        let mut gateway = Gateway::with_plan(plan, seed);
        weir_frontend::io::tell_the_time(&mut gateway);
        gateway.set_access_log(access_log);
        weir_frontend::recorder::register(&gateway);
        Shard {
            gateway: Mutex::new(gateway),
            pool: Mutex::new(pool),
            idle_calls: Mutex::new(Default::default()),
            released: AtomicU32::new(0),
            log: Mutex::new(LogSink::new(false)),
        }
    }

    /// An idle connection to the called service at `addr`, if one is left.
    pub fn take_idle_call(&self, addr: SocketAddr) -> Option<Async<TcpStream>> {
        self.idle_calls.lock().ok()?.take(addr)
    }

    /// Keeps a called service's connection for the next call.
    pub fn put_idle_call(&self, addr: SocketAddr, s: Async<TcpStream>) {
        if let Ok(mut idle) = self.idle_calls.lock() {
            idle.put(addr, s);
        }
    }

    /// A connection gave back its buffers or ended.
    pub fn note_release(&self) {
        self.released.fetch_add(1, Ordering::Relaxed);
    }

    /// Writes an exchange's access-log line into the shard's batch (the
    /// writer thread gets it with the batch). Straight in, under the
    /// lock: a sink in every connection would cost each idle one its
    /// bytes, and the line a copy.
    pub fn log(&self, r: &AccessRecord, plan: &Plan) {
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(r, plan);
    }

    /// Hands the lines over if the oldest has waited long enough.
    pub fn flush_log_due(&self, now: Instant) {
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .flush_due(now);
    }

    /// Hands every line over (at shutdown).
    pub fn flush_log(&self) {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).flush();
    }

    /// Releases noted since the last call.
    pub fn take_released(&self) -> u32 {
        self.released.swap(0, Ordering::Relaxed)
    }

    /// Puts a reloaded plan in force; pooled connections to servers that
    /// no group has any more are closed.
    pub fn install(&self, plan: Arc<Plan>) {
        let idle = plan.config.timeouts.pool_idle;
        let gone = self.gateway().install(plan);
        let mut pool = self.pool();
        pool.set_idle(idle);
        for addr in gone {
            pool.remove_server(addr);
        }
    }

    /// This shard's numbers, for a scrape (two short locks).
    pub fn snapshot(&self) -> weir_core::metrics::Snapshot {
        let pooled = self.pool().len() as u64;
        self.gateway().snapshot(Instant::now(), pooled)
    }

    fn pool(&self) -> MutexGuard<'_, Pool<Async<TcpStream>>> {
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The gateway, locked.
    pub fn gateway(&self) -> MutexGuard<'_, Gateway> {
        self.gateway.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The most recently pooled live connection to `addr`.
    pub fn take(&self, addr: SocketAddr, now: Instant) -> Option<Async<TcpStream>> {
        let mut pool = self.pool();
        let server = pool.server(addr);
        pool.take(server, now, is_quiet, drop)
    }

    /// Keeps a connection for reuse (closed when the pool is full).
    pub fn put(&self, addr: SocketAddr, s: Async<TcpStream>, now: Instant) {
        let mut pool = self.pool();
        let server = pool.server(addr);
        let _ = pool.put(server, s, now);
    }

    /// Closes pooled connections idle for longer than `pool_idle`, or
    /// closed (or written to) by their server.
    pub fn prune(&self, now: Instant) {
        self.pool().expire(now, is_quiet);
    }

    /// Closes every pooled connection (shutdown).
    pub fn clear_pool(&self) {
        self.pool().drain();
    }
}

/// True when an idle connection has nothing to read: not closed by the
/// server and no stray bytes.
fn is_quiet(s: &Async<TcpStream>) -> bool {
    let mut b = [0u8; 1];
    matches!(s.get_ref().peek(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}
