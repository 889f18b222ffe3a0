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

#[test]
fn bounded_load_spreads_a_hot_key_and_no_server_passes_the_cap() {
    use weir_core::balancer::Group;
    let group = |factor: &str| {
        let c = weir_core::Config::from_toml(&format!(
            "listen = \"127.0.0.1:8080\"\n[[upstream]]\nname = \"app\"\nbalancer = \"consistent-hash\"\nhash_key = \"header:X-User\"\n{factor}\nservers = [{{ addr = \"127.0.0.1:9001\" }}, {{ addr = \"127.0.0.1:9002\" }}, {{ addr = \"127.0.0.1:9003\" }}]\n"
        ))
        .unwrap();
        Group::new(&c.upstreams[0], 7)
    };
    let now = Instant::now();
    // Without a factor: one hot key, every request on one server.
    let mut plain = group("");
    let mut in_flight = [0u64; 3];
    for _ in 0..30 {
        let s = plain.pick(Some(42), &[], now).unwrap().server();
        in_flight[s.index()] += 1;
    }
    assert_eq!(in_flight.iter().filter(|n| **n > 0).count(), 1);
    // 125: none above ceil(1.25 × the average), counting the new request.
    let mut bounded = group("hash_balance_factor = 125");
    let mut in_flight = [0u64; 3];
    for i in 0..30u64 {
        let s = bounded.pick(Some(42), &[], now).unwrap().server();
        in_flight[s.index()] += 1;
        let cap = ((i + 1) * 125).div_ceil(300);
        assert!(
            in_flight.iter().all(|n| *n <= cap),
            "{in_flight:?} cap {cap}"
        );
    }
    assert_eq!(in_flight.iter().sum::<u64>(), 30);
    // The key's server and the next ones on the ring fill up to the cap
    // (ceil(30 × 1.25 / 3) = 13) in turn.
    assert_eq!(in_flight.iter().max(), Some(&13), "{in_flight:?}");
    assert!(in_flight.iter().filter(|n| **n > 0).count() >= 2);
    // Finished requests free their share: the key's own server again.
    let home = group("").pick(Some(42), &[], now).unwrap().server();
    let mut b = group("hash_balance_factor = 125");
    let first = b.pick(Some(42), &[], now).unwrap().server();
    b.report(
        first,
        weir_core::balancer::Outcome::Success {
            latency: Duration::ZERO,
        },
        now,
    );
    assert_eq!(b.pick(Some(42), &[], now).unwrap().server(), home);
}

#[test]
fn hash_balance_factor_is_checked() {
    let c = |extra: &str| {
        weir_core::Config::from_toml(&format!(
            "listen = \"127.0.0.1:8080\"\n[[upstream]]\nname = \"app\"\n{extra}\nservers = [{{ addr = \"127.0.0.1:9001\" }}]\n"
        ))
        .unwrap_err()[0]
            .message
            .clone()
    };
    assert_eq!(
        c("hash_balance_factor = 125"),
        "only with balancer = \"consistent-hash\""
    );
    assert!(c(
        "balancer = \"consistent-hash\"\nhash_key = \"client-ip\"\nhash_balance_factor = 100"
    )
    .starts_with("a percentage from 101 to 10000"));
}

#[test]
fn a_sticky_cookie_set_by_weir_brings_the_client_back_to_its_server() {
    let cfg = "listen = \"127.0.0.1:8080\"\n[[upstream]]\nname = \"app\"\nsticky = { cookie = \"wsrv\" }\nservers = [{ addr = \"127.0.0.1:9001\" }, { addr = \"127.0.0.1:9002\" }]\n";
    let mut sim = Sim::from_toml(cfg, Instant::now()).unwrap();
    sim.script(9001, &[OK; 8]);
    sim.script(9002, &[OK; 8]);
    sim.client(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    let first = sim.logs[0].upstream.unwrap();
    let text = sim.client_text();
    let set = text
        .lines()
        .find_map(|l| l.strip_prefix("Set-Cookie: wsrv="))
        .unwrap_or_else(|| panic!("{text}"))
        .to_owned();
    let (id, attrs) = set.split_once(';').unwrap();
    assert_eq!(attrs, " Path=/; HttpOnly; SameSite=Lax");
    assert_eq!(id.len(), 16, "an opaque id, not the address");
    // With the cookie: the same server every time (round robin would
    // alternate), and no new cookie.
    let again = format!("GET / HTTP/1.1\r\nHost: h\r\nCookie: a=1; wsrv={id}\r\n\r\n");
    let before = sim.client_out.len();
    for _ in 0..3 {
        sim.client(again.as_bytes());
    }
    assert!(sim.logs[1..].iter().all(|l| l.upstream == Some(first)));
    assert!(!String::from_utf8_lossy(&sim.client_out[before..]).contains("Set-Cookie"));
    // Its server drained: another one, and a cookie naming it.
    sim.gw.set_marks(&ServerMarks {
        drained: vec![("app".into(), first)],
        down: vec![],
    });
    let before = sim.client_out.len();
    sim.client(again.as_bytes());
    assert_ne!(sim.logs[4].upstream, Some(first));
    assert!(String::from_utf8_lossy(&sim.client_out[before..]).contains("Set-Cookie: wsrv="));
    // An unknown id: the balancer decides, and a cookie is set.
    let before = sim.client_out.len();
    sim.client(b"GET / HTTP/1.1\r\nHost: h\r\nCookie: wsrv=nonsense\r\n\r\n");
    assert_eq!(sim.logs[5].status, 200);
    assert!(String::from_utf8_lossy(&sim.client_out[before..]).contains("Set-Cookie: wsrv="));
    let bad = weir_core::Config::from_toml(&cfg.replace("\"wsrv\"", "\"a b\"")).unwrap_err();
    assert_eq!(bad[0].key, "upstream[0].sticky");
}

#[test]
fn slow_start_ramps_a_returning_server_share_over_the_period() {
    use weir_core::balancer::{Group, Outcome};
    let c = weir_core::Config::from_toml(
        "listen = \"127.0.0.1:8080\"\n[[upstream]]\nname = \"app\"\nslow_start = 10000\nservers = [{ addr = \"127.0.0.1:9001\" }, { addr = \"127.0.0.1:9002\" }]\n",
    )
    .unwrap();
    let mut g = Group::new(&c.upstreams[0], 3);
    let t0 = Instant::now();
    let b = addr(9002);
    // Found down by the checks, then up again at t0.
    g.set_checked_down(b, true);
    g.set_checked_down(b, false);
    let share = |g: &mut Group, at: Duration| {
        let now = t0 + at;
        let mut to_b = 0;
        for _ in 0..1000 {
            let s = g.pick(None, &[], now).unwrap().server();
            if g.addr(s) == b {
                to_b += 1;
            }
            g.report(
                s,
                Outcome::Success {
                    latency: Duration::ZERO,
                },
                now,
            );
        }
        to_b
    };
    // Each time round robin offers b, the ramp admits it with probability
    // p = the ramp's progress (at least 5%); a refused b is offered again
    // at the next pick, so b's share of all picks is p / (1 + p): 4.8% at
    // 0 s, 9.1% at 1 s, 33% at 5 s, then round robin's 50%.
    // The ramp starts at the server's first pick after it came back.
    let first = share(&mut g, Duration::ZERO);
    assert!((30..=65).contains(&first), "0 s: {first}");
    let early = share(&mut g, Duration::from_secs(1));
    let half = share(&mut g, Duration::from_secs(5));
    let done = share(&mut g, Duration::from_secs(10));
    assert!((70..=115).contains(&early), "1 s: {early}");
    assert!((300..=370).contains(&half), "5 s: {half}");
    assert_eq!(done, 500, "after slow_start: its full share");
    let bad = weir_core::Config::from_toml(
        "listen = \"127.0.0.1:8080\"\n[[upstream]]\nname = \"app\"\nslow_start = 3600001\nservers = [{ addr = \"127.0.0.1:9001\" }]\n",
    )
    .unwrap_err();
    assert_eq!(bad[0].key, "upstream[0].slow_start");
}

#[test]
fn a_server_added_by_a_reload_or_enabled_after_a_drain_starts_slowly() {
    let one = "listen = \"127.0.0.1:8080\"\n[[upstream]]\nname = \"app\"\nslow_start = 10000\nservers = [{ addr = \"127.0.0.1:9001\" }]\n";
    let two = one.replace(
        "servers = [{ addr = \"127.0.0.1:9001\" }]",
        "servers = [{ addr = \"127.0.0.1:9001\" }, { addr = \"127.0.0.1:9002\" }]",
    );
    let mut sim = Sim::from_toml(one, Instant::now()).unwrap();
    sim.script(9001, &[OK; 64]);
    sim.script(9002, &[OK; 64]);
    sim.reload(&two).unwrap();
    for _ in 0..40 {
        sim.client(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    }
    let new = served(&sim, 0).iter().filter(|p| **p == 9002).count();
    assert!(new <= 8, "a new server at once took {new} of 40");
    // Ten seconds on: its full share.
    sim.advance(Duration::from_secs(11));
    for _ in 0..20 {
        sim.client(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    }
    assert_eq!(served(&sim, 40).iter().filter(|p| **p == 9002).count(), 10);
    // Drained, then enabled: slowly again.
    let marks = |drained: Vec<(String, std::net::SocketAddr)>| ServerMarks {
        drained,
        down: vec![],
    };
    sim.gw.set_marks(&marks(vec![("app".into(), addr(9002))]));
    sim.gw.set_marks(&marks(vec![]));
    sim.script(9001, &[OK; 64]);
    sim.script(9002, &[OK; 64]);
    for _ in 0..40 {
        sim.client(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    }
    let back = served(&sim, 60).iter().filter(|p| **p == 9002).count();
    assert!(back <= 8, "an enabled server at once took {back} of 40");
}
