//! `lab`: balancers offline on synthetic traffic with scripted faults.

use std::time::{Duration, Instant};

use weir_core::sim::addr;
use weir_core::sim::lab::{run, Fault, FaultKind, Keys, Traffic};
use weir_core::Config;

fn group(balancer: &str, extra: &str) -> weir_core::balancer::group::GroupSpec {
    let toml = format!(
        "listen = \"127.0.0.1:8080\"\n[[upstream]]\nname = \"g\"\nbalancer = \"{balancer}\"\n{extra}\nservers = [{{ addr = \"127.0.0.1:9001\", weight = 3 }}, {{ addr = \"127.0.0.1:9002\" }}, {{ addr = \"127.0.0.1:9003\" }}]\n"
    );
    Config::from_toml(&toml).unwrap().upstreams.remove(0)
}

fn traffic(seed: u64) -> Traffic {
    Traffic {
        requests: 10_000,
        keys: 500,
        dist: Keys::Uniform,
        rate: 1_000.0,
        latency: Duration::from_millis(20),
        seed,
        start: Instant::now(),
    }
}

fn down(port: u16, from: u64, to: u64) -> Fault {
    Fault {
        server: addr(port),
        start: Duration::from_secs(from),
        end: Duration::from_secs(to),
        kind: FaultKind::Down,
    }
}

#[test]
fn weighted_round_robin_serves_exactly_by_weight_and_a_seed_replays() {
    let r = run(&group("weighted-round-robin", ""), &traffic(1), &[]);
    let served: Vec<u64> = r.servers.iter().map(|s| s.served).collect();
    assert_eq!(served, [6000, 2000, 2000]);
    // 1000/s for 20 ms each: 20 in flight, split 3:1:1.
    let peaks: Vec<u64> = r.servers.iter().map(|s| s.peak_in_flight).collect();
    assert_eq!(peaks, [12, 4, 4]);
    assert_eq!((r.failovers, r.unserved), (0, 0));
    let p2c = group("p2c", "");
    assert_eq!(run(&p2c, &traffic(7), &[]), run(&p2c, &traffic(7), &[]));
    assert_ne!(run(&p2c, &traffic(7), &[]), run(&p2c, &traffic(8), &[]));
}

#[test]
fn consistent_hashing_moves_only_the_down_servers_keys_and_round_robin_moves_most() {
    let ch = group(
        "consistent-hash",
        "hash_key = \"path\"\nretries = 1\nfail_timeout = 1000",
    );
    let rr = group("round-robin", "retries = 1\nfail_timeout = 1000");
    let faults = [down(9002, 3, 6)];
    let a = run(&ch, &traffic(1), &faults);
    let b = run(&rr, &traffic(1), &faults);
    assert!(a.keys_before > 490, "{a:?}");
    // 9002 holds a fifth of the ring's points (weights 3:1:1): about 100
    // keys move while it is down, against nearly all under round robin.
    assert!(a.moved_away > 0 && a.moved_away < 200, "{a:?}");
    assert!(b.moved_away > 400, "{b:?}");
    // Back home once the server is back and its fail timeout is over.
    assert!(a.not_home < a.moved_away / 4, "{a:?}");
    // Every failure was retried on another server: nothing unserved.
    assert_eq!(a.unserved, 0);
    assert_eq!(a.failovers, a.servers[1].failed);
    assert!(a.failovers > 0);
}

#[test]
fn a_slow_server_holds_more_in_flight_and_least_conn_sends_it_less() {
    let slow = [Fault {
        server: addr(9003),
        start: Duration::ZERO,
        end: Duration::from_secs(100),
        kind: FaultKind::Slow(Duration::from_millis(200)),
    }];
    let rr = run(&group("round-robin", ""), &traffic(1), &slow);
    let lc = run(&group("least-conn", ""), &traffic(1), &slow);
    assert!(rr.servers[2].peak_in_flight >= 60, "{rr:?}");
    assert!(
        lc.servers[2].served < rr.servers[2].served / 2,
        "{lc:?} {rr:?}"
    );
}

#[test]
fn zipf_keys_concentrate_on_the_hot_keys_server() {
    let ch = group("consistent-hash", "hash_key = \"path\"");
    let mut t = traffic(1);
    t.dist = Keys::Zipf(1.2);
    let r = run(&ch, &t, &[]);
    let max = r.servers.iter().map(|s| s.served).max().unwrap();
    assert!(max > 4_000, "{r:?}");
}
