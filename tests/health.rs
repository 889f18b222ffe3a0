//! End-to-end active health checks, on both binaries: an upstream killed
//! is marked down by the checks within `fall × interval` (and takes no
//! traffic), and back within `rise × interval` once restarted.

mod support;

use std::time::{Duration, Instant};

use support::client::get;
use support::upstream::Origin;
use support::Weir;

fn a_killed_server_goes_down_and_comes_back(bin: &str) {
    let (a, b) = (Origin::start("a"), Origin::start("b"));
    // Passive health off, so only the active checks can mark a down.
    let config = format!(
        "workers = 2\n[[upstream]]\nname = \"app\"\nmax_fails = 0\nservers = [{{ addr = \"{}\" }}, {{ addr = \"{}\" }}]\nhealth = {{ path = \"/name\", interval = 300, timeout = 200, rise = 2, fall = 3 }}\n",
        a.addr, b.addr
    );
    let w = Weir::start_with(bin, &config, &["--quiet"]);
    let names = |n: usize| {
        (0..n)
            .map(|_| get(w.addr, "/name").text())
            .collect::<Vec<_>>()
    };
    assert!(names(4).contains(&"a".to_string()));
    a.kill();
    let killed = Instant::now();
    let down = format!("{} in app is down (3 checks in a row)", a.addr);
    w.wait_stderr(&down, Duration::from_secs(5));
    let took = killed.elapsed();
    // fall × interval = 900 ms, plus one probe's timeout and the test's polling.
    eprintln!("{bin}: marked down {took:?} after the kill");
    assert!(took < Duration::from_millis(2000), "down after {took:?}");
    assert!(
        names(10).iter().all(|n| n == "b"),
        "traffic to a down server"
    );
    let a2 = Origin::start_at("a", a.addr);
    let back = Instant::now();
    w.wait_stderr(
        &format!("{} in app is up (2 checks in a row)", a2.addr),
        Duration::from_secs(5),
    );
    let took = back.elapsed();
    eprintln!("{bin}: marked up {took:?} after the restart");
    // rise × interval = 600 ms, plus up to one interval to the next probe.
    assert!(took < Duration::from_millis(1500), "up after {took:?}");
    assert!(names(10).contains(&"a".to_string()));
}

/// A server that accepts connections and never answers: each probe fails
/// at its timeout, and the server is marked down after `fall` of them.
fn a_server_that_never_answers_is_marked_down_at_the_timeouts(bin: &str) {
    let b = Origin::start("b");
    // Connections complete in the kernel's backlog; nothing is ever read.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let config = format!(
        "workers = 2\n[[upstream]]\nname = \"app\"\nmax_fails = 0\nservers = [{{ addr = \"{addr}\" }}, {{ addr = \"{}\" }}]\nhealth = {{ path = \"/name\", interval = 300, timeout = 200, rise = 2, fall = 2 }}\n",
        b.addr
    );
    let started = Instant::now();
    let w = Weir::start_with(bin, &config, &["--quiet"]);
    w.wait_stderr(
        &format!("{addr} in app is down (2 checks in a row)"),
        Duration::from_secs(5),
    );
    // Two probes, 300 ms apart, each failing at its 200 ms timeout.
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(500),
        "down after {took:?}: before two timeouts"
    );
    assert!((0..10).all(|_| get(w.addr, "/name").text() == "b"));
    drop(silent);
}

each_frontend!(
    a_killed_server_goes_down_and_comes_back,
    a_server_that_never_answers_is_marked_down_at_the_timeouts,
);
