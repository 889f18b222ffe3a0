//! Active health checks, driven for the whole process: one thread per
//! checked server (bounded by the config; a probe blocks only its own
//! thread), each running the core's sans-IO `health_check::Target` and
//! handing its verdicts to every worker through [`Plans`] (so every
//! worker sees the same state). A supervisor follows reloads: a server
//! whose check is unchanged keeps its checker, a changed one carries its
//! state, a removed one stops and its mark goes.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use weir_core::health_check::{CheckSpec, Target};

use crate::reload::Plans;

/// The longest a checker sleeps before looking at its stop flag.
const TICK: Duration = Duration::from_millis(100);

struct Running {
    spec: CheckSpec,
    stop: Arc<AtomicBool>,
    target: Arc<Mutex<Target>>,
}

/// Starts the supervisor thread: it brings the checkers in line with the
/// plan at start and with every plan published after (it sleeps between).
pub fn start(name: &'static str, plans: &Plans) -> std::io::Result<()> {
    let (published, next) = std::sync::mpsc::channel();
    plans.on_publish(move |_| {
        let _ = published.send(());
    });
    let plans = plans.clone();
    std::thread::Builder::new()
        .name("weir-health".into())
        .spawn(move || {
            let mut running: HashMap<(String, SocketAddr), Running> = HashMap::new();
            loop {
                reconcile(name, &plans, &plans.current(), &mut running);
                if next.recv().is_err() {
                    return;
                }
            }
        })?;
    Ok(())
}

/// Brings the running checkers in line with `plan`.
fn reconcile(
    name: &'static str,
    plans: &Plans,
    plan: &weir_core::Plan,
    running: &mut HashMap<(String, SocketAddr), Running>,
) {
    let mut wanted: HashMap<(String, SocketAddr), CheckSpec> = HashMap::new();
    for g in &plan.config.upstreams {
        if let Some(spec) = &g.health {
            for (addr, _) in &g.servers {
                wanted.insert((g.name.clone(), *addr), spec.clone());
            }
        }
    }
    let keys: Vec<_> = running.keys().cloned().collect();
    for key in keys {
        let keep = wanted.get(&key).is_some_and(|s| running[&key].spec == *s);
        if !keep {
            if let Some(r) = running.remove(&key) {
                r.stop.store(true, Ordering::Relaxed);
                if !wanted.contains_key(&key) {
                    plans.set_checked_down(&key.0, key.1, false);
                } else {
                    // Changed: the new checker starts from this state.
                    let old = r.target.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    let mut t = Target::new(wanted[&key].clone(), key.1, Instant::now());
                    t.carry(&old);
                    spawn(name, plans, &key, t, running);
                }
            }
        }
    }
    for (key, spec) in wanted {
        if !running.contains_key(&key) {
            let t = Target::new(spec, key.1, Instant::now());
            spawn(name, plans, &key, t, running);
        }
    }
}

fn spawn(
    name: &'static str,
    plans: &Plans,
    key: &(String, SocketAddr),
    target: Target,
    running: &mut HashMap<(String, SocketAddr), Running>,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let spec = target.spec.clone();
    let target = Arc::new(Mutex::new(target));
    let (plans, upstream, t, s) = (plans.clone(), key.0.clone(), target.clone(), stop.clone());
    let started = std::thread::Builder::new()
        .name("weir-check".into())
        .spawn(move || check_loop(name, &plans, &upstream, &t, &s));
    if let Err(e) = started {
        eprintln!("{name}: health check of {} not started: {e}", key.1);
        return;
    }
    running.insert(key.clone(), Running { spec, stop, target });
}

fn check_loop(
    name: &'static str,
    plans: &Plans,
    upstream: &str,
    target: &Mutex<Target>,
    stop: &AtomicBool,
) {
    loop {
        let (next_at, addr, request, timeout) = {
            let t = target.lock().unwrap_or_else(|p| p.into_inner());
            (t.next_at, t.addr, t.request(), t.spec.timeout)
        };
        while Instant::now() < next_at {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(TICK.min(next_at.saturating_duration_since(Instant::now())));
        }
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let ok = probe(addr, &request, timeout, target);
        let mut t = target.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(up) = t.record(ok, Instant::now()) {
            let (state, n) = if up {
                ("up", t.spec.rise)
            } else {
                ("down", t.spec.fall)
            };
            eprintln!(
                "{name}: health check: {addr} in {upstream} is {state} ({n} checks in a row)"
            );
            plans.set_checked_down(upstream, addr, !up);
        }
    }
}

/// One probe: connect, send, read until the core can judge the answer,
/// all within `timeout`. Any failure is a failed check.
fn probe(addr: SocketAddr, request: &[u8], timeout: Duration, target: &Mutex<Target>) -> bool {
    let deadline = Instant::now() + timeout;
    let left = || {
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    let Ok(mut s) = TcpStream::connect_timeout(&addr, timeout) else {
        return false;
    };
    if s.set_write_timeout(Some(left())).is_err() || s.write_all(request).is_err() {
        return false;
    }
    let mut got = Vec::with_capacity(512);
    let mut buf = [0u8; 2048];
    loop {
        if Instant::now() >= deadline || s.set_read_timeout(Some(left())).is_err() {
            return false;
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
        let verdict = target.lock().unwrap_or_else(|p| p.into_inner()).judge(&got);
        if let Some(ok) = verdict {
            return ok;
        }
    }
}
