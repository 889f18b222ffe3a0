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
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_io::Async;
use fxhash::FxHashMap;
use weir_core::{Gateway, Plan};

/// Idle pooled connections kept per server.
const POOL_PER_SERVER: usize = 256;

/// Idle connections by server, each with the time it was pooled.
type Pool = FxHashMap<SocketAddr, Vec<(Async<TcpStream>, Instant)>>;

/// One gateway and one pool.
pub struct Shard {
    gateway: Mutex<Gateway>,
    pool: Mutex<Pool>,
    /// How long a pooled connection may stay idle (the plan's `pool_idle`).
    pool_idle: AtomicU64,
    /// Connections that gave back their buffers or ended since the
    /// trimming task last looked.
    released: AtomicU32,
}

impl Shard {
    /// A shard whose random choices follow `seed`.
    pub fn new(plan: Arc<Plan>, seed: u64, access_log: bool) -> Shard {
        let pool_idle = plan.config.timeouts.pool_idle;
        let mut gateway = Gateway::with_plan(plan, seed);
        gateway.set_access_log(access_log);
        Shard {
            pool_idle: AtomicU64::new(pool_idle.as_nanos() as u64),
            gateway: Mutex::new(gateway),
            pool: Mutex::new(FxHashMap::default()),
            released: AtomicU32::new(0),
        }
    }

    /// A connection gave back its buffers or ended.
    pub fn note_release(&self) {
        self.released.fetch_add(1, Ordering::Relaxed);
    }

    /// Releases noted since the last call.
    pub fn take_released(&self) -> u32 {
        self.released.swap(0, Ordering::Relaxed)
    }

    /// Puts a reloaded plan in force; pooled connections to servers that
    /// no group has any more are closed.
    pub fn install(&self, plan: Arc<Plan>) {
        let idle = plan.config.timeouts.pool_idle.as_nanos() as u64;
        self.pool_idle.store(idle, Ordering::Relaxed);
        let gone = self.gateway().install(plan);
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        for addr in gone {
            pool.remove(&addr);
        }
    }

    fn pool_idle(&self) -> Duration {
        Duration::from_nanos(self.pool_idle.load(Ordering::Relaxed))
    }

    /// The gateway, locked.
    pub fn gateway(&self) -> MutexGuard<'_, Gateway> {
        self.gateway.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The most recently pooled live connection to `addr` (LIFO).
    pub fn take(&self, addr: SocketAddr, now: Instant) -> Option<Async<TcpStream>> {
        let idle = self.pool_idle();
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        let list = pool.get_mut(&addr)?;
        while let Some((s, since)) = list.pop() {
            if since + idle > now && is_quiet(&s) {
                return Some(s);
            }
        }
        None
    }

    /// Keeps a connection for reuse.
    pub fn put(&self, addr: SocketAddr, s: Async<TcpStream>, now: Instant) {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        let list = pool.entry(addr).or_default();
        if list.len() < POOL_PER_SERVER {
            list.push((s, now));
        }
    }

    /// Closes pooled connections idle for longer than `pool_idle`, or
    /// closed (or written to) by their server.
    pub fn prune(&self, now: Instant) {
        let idle = self.pool_idle();
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        for list in pool.values_mut() {
            list.retain(|(s, since)| *since + idle > now && is_quiet(s));
        }
    }

    /// Closes every pooled connection (shutdown).
    pub fn clear_pool(&self) {
        self.pool.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// True when an idle connection has nothing to read: not closed by the
/// server and no stray bytes.
fn is_quiet(s: &Async<TcpStream>) -> bool {
    let mut b = [0u8; 1];
    matches!(s.get_ref().peek(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}
