//! Active health checks, driven for the whole process by one event loop:
//! a thread running a smol executor, one task per checked server (a dead
//! server's connect timeout holds up no other check and never a worker),
//! each running the core's sans-IO `health_check::Target` and handing its
//! verdicts to every worker through [`Plans`] (so every worker sees the
//! same state). A supervisor task follows reloads: a server whose check is
//! unchanged keeps its checker, a changed one carries its state, a removed
//! one stops and its mark goes.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

use smol::future::FutureExt;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::{LocalExecutor, Timer};
use weir_core::health_check::{CheckSpec, Target};

use crate::reload::Plans;

type Key = (String, SocketAddr);

struct Running {
    spec: CheckSpec,
    stop: Rc<Cell<bool>>,
    target: Rc<RefCell<Target>>,
}

/// Starts the checks' thread: it brings the checkers in line with the plan
/// at start and with every plan published after, and sleeps in between.
pub fn start(name: &'static str, plans: &Plans) -> std::io::Result<()> {
    let (published, next) = smol::channel::unbounded();
    plans.on_publish(move |_| {
        let _ = published.try_send(());
    });
    let plans = plans.clone();
    std::thread::Builder::new()
        .name("weir-health".into())
        .spawn(move || {
            let ex = LocalExecutor::new();
            smol::block_on(ex.run(async {
                let mut running: HashMap<Key, Running> = HashMap::new();
                loop {
                    reconcile(name, &ex, &plans, &plans.current(), &mut running);
                    if next.recv().await.is_err() {
                        return;
                    }
                }
            }));
        })?;
    Ok(())
}

/// Brings the running checkers in line with `plan`.
fn reconcile(
    name: &'static str,
    ex: &LocalExecutor<'_>,
    plans: &Plans,
    plan: &weir_core::Plan,
    running: &mut HashMap<Key, Running>,
) {
    let mut wanted: HashMap<Key, CheckSpec> = HashMap::new();
    for g in &plan.config.upstreams {
        if let Some(spec) = &g.health {
            for (addr, _) in &g.servers {
                wanted.insert((g.name.clone(), *addr), spec.clone());
            }
        }
    }
    let keys: Vec<Key> = running.keys().cloned().collect();
    for key in keys {
        if wanted.get(&key).is_some_and(|s| running[&key].spec == *s) {
            continue;
        }
        let Some(r) = running.remove(&key) else {
            continue;
        };
        r.stop.set(true);
        match wanted.get(&key) {
            None => plans.set_checked_down(&key.0, key.1, false),
            Some(spec) => {
                // Changed: the new checker starts from this state.
                let mut t = Target::new(spec.clone(), key.1, Instant::now());
                t.carry(&r.target.borrow());
                spawn(name, ex, plans, &key, t, running);
            }
        }
    }
    for (key, spec) in wanted {
        if !running.contains_key(&key) {
            let t = Target::new(spec, key.1, Instant::now());
            spawn(name, ex, plans, &key, t, running);
        }
    }
}

fn spawn(
    name: &'static str,
    ex: &LocalExecutor<'_>,
    plans: &Plans,
    key: &Key,
    target: Target,
    running: &mut HashMap<Key, Running>,
) {
    let stop = Rc::new(Cell::new(false));
    let spec = target.spec.clone();
    let target = Rc::new(RefCell::new(target));
    let task = check_loop(
        name,
        plans.clone(),
        key.0.clone(),
        target.clone(),
        stop.clone(),
    );
    ex.spawn(task).detach();
    running.insert(key.clone(), Running { spec, stop, target });
}

async fn check_loop(
    name: &'static str,
    plans: Plans,
    upstream: String,
    target: Rc<RefCell<Target>>,
    stop: Rc<Cell<bool>>,
) {
    loop {
        let (next_at, addr, request, timeout) = {
            let t = target.borrow();
            (t.next_at, t.addr, t.request(), t.spec.timeout)
        };
        Timer::at(next_at).await;
        if stop.get() {
            return;
        }
        let failed = async {
            Timer::after(timeout).await;
            false
        };
        let ok = probe(addr, &request, &target).or(failed).await;
        if stop.get() {
            return;
        }
        let mut t = target.borrow_mut();
        if let Some(up) = t.record(ok, Instant::now()) {
            let (state, n) = if up {
                ("up", t.spec.rise)
            } else {
                ("down", t.spec.fall)
            };
            eprintln!(
                "{name}: health check: {addr} in {upstream} is {state} ({n} checks in a row)"
            );
            plans.set_checked_down(&upstream, addr, !up);
        }
    }
}

/// One probe: connect, send, read until the core can judge the answer.
/// Any failure is a failed check (the caller bounds it by the timeout).
async fn probe(addr: SocketAddr, request: &[u8], target: &RefCell<Target>) -> bool {
    let Ok(mut s) = smol::net::TcpStream::connect(addr).await else {
        return false;
    };
    if s.write_all(request).await.is_err() {
        return false;
    }
    let mut got = Vec::with_capacity(512);
    let mut buf = [0u8; 2048];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
        if let Some(ok) = target.borrow().judge(&got) {
            return ok;
        }
    }
}
