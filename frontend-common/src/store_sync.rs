//! The background task of `local-first` rate limits: every `sync_ms` it
//! shares each limit's admissions with Redis and raises the local state
//! to the shared one (the core builds the calls and reads the replies:
//! `RateLimit::push`/`pulled`). One thread per process, off the request
//! path; blocking I/O with the `[redis] timeout` on each step.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use weir_core::call::{Call, Reply};

use crate::calls::{Incoming, Reusable, Step, INCIDENTS};
use crate::Plans;

/// How often the task looks for work when no limit needs it sooner.
const IDLE_LOOK: Duration = Duration::from_millis(100);

/// Starts the task (it idles while no limit is local-first).
pub fn start(name: &'static str, plans: &Plans) -> std::io::Result<()> {
    let plans = plans.clone();
    std::thread::Builder::new()
        .name("weir-store-sync".into())
        .spawn(move || run(name, &plans))
        .map(|_| ())
}

fn run(name: &str, plans: &Plans) {
    let mut conns: Vec<(SocketAddr, TcpStream)> = Vec::new();
    let mut last: Vec<(usize, Instant)> = Vec::new();
    loop {
        let plan = plans.current();
        let mut wait = IDLE_LOOK;
        for (i, lc) in plan.config.middleware.iter().enumerate() {
            let Some(limit) = lc.layer.synced() else {
                continue;
            };
            let Some(every) = limit.sync_every() else {
                continue;
            };
            wait = wait.min(every);
            let now = Instant::now();
            let due = last
                .iter()
                .find(|(j, _)| *j == i)
                .is_none_or(|(_, t)| now.duration_since(*t) >= every);
            if !due {
                continue;
            }
            last.retain(|(j, _)| *j != i);
            last.push((i, now));
            while let Some((call, pushed)) = limit.push() {
                let timeout = plan
                    .config
                    .redis
                    .as_ref()
                    .map_or(Duration::from_millis(100), |r| r.timeout);
                let reply = perform(&mut conns, call, timeout);
                INCIDENTS.note(name, pushed_addr(&plan), &reply);
                let failed = !matches!(reply, Reply::Done(_));
                limit.pulled(pushed, &reply, Instant::now());
                if failed {
                    break;
                }
            }
        }
        std::thread::sleep(wait);
    }
}

fn pushed_addr(plan: &weir_core::Plan) -> SocketAddr {
    plan.config
        .redis
        .as_ref()
        .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |r| r.addr)
}

/// One call, over an idle connection to its address or a new one.
fn perform(conns: &mut Vec<(SocketAddr, TcpStream)>, call: Call, timeout: Duration) -> Reply {
    let addr = call.addr;
    let stream = match conns.iter().position(|(a, _)| *a == addr) {
        Some(i) => conns.swap_remove(i).1,
        None => match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => s,
            Err(_) => return Reply::Failed("connection refused"),
        },
    };
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let _ = stream.set_nodelay(true);
    let mut incoming = Incoming::new(Box::new(call));
    let mut s = &stream;
    if s.write_all(&incoming.request()).is_err() {
        return Reply::Failed("connection reset by the service");
    }
    let started = Instant::now();
    let mut buf = [0u8; 8192];
    loop {
        if started.elapsed() > timeout {
            return Reply::Expired;
        }
        match s.read(&mut buf) {
            Ok(0) => return incoming.closed(false),
            Ok(n) => match incoming.received(&buf[..n]) {
                Step::More => {}
                Step::Done(reply, reusable) => {
                    if reusable == Reusable::Yes {
                        conns.push((addr, stream));
                    }
                    return reply;
                }
            },
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return Reply::Expired
            }
            Err(_) => return incoming.closed(true),
        }
    }
}
