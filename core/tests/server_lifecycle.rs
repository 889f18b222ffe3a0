//! Server lifecycle in the balancer: backup servers take over only when
//! every primary is out (down or drained), and give way when one is back.

use std::time::{Duration, Instant};

use weir_core::proxy::ServerMarks;
use weir_core::sim::{addr, Sim};

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

fn cfg(balancer: &str) -> String {
    format!("listen = \"127.0.0.1:8080\"\n[[upstream]]\nname = \"app\"\nbalancer = \"{balancer}\"\nmax_fails = 1\nfail_timeout = 5000\nservers = [{{ addr = \"127.0.0.1:9001\" }}, {{ addr = \"127.0.0.1:9002\" }}, {{ addr = \"127.0.0.1:9003\", backup = true }}]\n")
}

fn served(sim: &Sim, from: usize) -> Vec<u16> {
    sim.logs[from..]
        .iter()
        .map(|l| l.upstream.map_or(0, |a| a.port()))
        .collect()
}

#[test]
fn a_backup_serves_only_while_every_primary_is_out() {
    for balancer in [
        "round-robin",
        "weighted-round-robin",
        "least-conn",
        "p2c",
        "random",
    ] {
        let mut sim = Sim::from_toml(&cfg(balancer), Instant::now()).unwrap();
        for p in [9001, 9002, 9003] {
            sim.script(p, &[OK; 16]);
        }
        for _ in 0..6 {
            sim.client(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        }
        assert!(
            !served(&sim, 0).contains(&9003),
            "{balancer}: {:?}",
            served(&sim, 0)
        );
        // Both primaries out: one drained, one found down by the checks.
        sim.gw.set_marks(&ServerMarks {
            drained: vec![("app".into(), addr(9001))],
            down: vec![("app".into(), addr(9002))],
        });
        for _ in 0..3 {
            sim.client(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        }
        assert_eq!(served(&sim, 6), [9003, 9003, 9003], "{balancer}");
        // One primary back: the backup gives way.
        sim.gw.set_marks(&ServerMarks {
            drained: vec![("app".into(), addr(9001))],
            down: vec![],
        });
        for _ in 0..3 {
            sim.client(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        }
        assert_eq!(served(&sim, 9), [9002, 9002, 9002], "{balancer}");
    }
}

#[test]
fn passive_failures_of_the_primaries_bring_in_the_backup() {
    let mut sim = Sim::from_toml(&cfg("round-robin"), Instant::now()).unwrap();
    sim.script(9003, &[OK; 4]);
    sim.refuse.push(addr(9001));
    sim.refuse.push(addr(9002));
    // The first request fails over 9001 and 9002 (marked down) to 9003.
    sim.client(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(sim.logs[0].status, 200);
    assert_eq!(sim.logs[0].upstream, Some(addr(9003)));
    assert_eq!(sim.logs[0].tries, 3);
    sim.client(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(
        (sim.logs[1].upstream, sim.logs[1].tries),
        (Some(addr(9003)), 1)
    );
    // After fail_timeout the primaries are tried again.
    sim.refuse.clear();
    sim.script(9001, &[OK]);
    sim.advance(Duration::from_secs(6));
    sim.client(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_ne!(sim.logs[2].upstream, Some(addr(9003)));
}

#[test]
fn every_server_a_backup_is_a_config_error() {
    let c = "listen = \"127.0.0.1:8080\"\n[[upstream]]\nname = \"app\"\nservers = [{ addr = \"127.0.0.1:9001\", backup = true }]\n";
    let e = weir_core::Config::from_toml(c).unwrap_err();
    assert_eq!(
        e[0].to_string(),
        "line 4: upstream[0].servers: every server is a backup: at least one must be a primary"
    );
}
