//! Active health checks, sans IO: the probe's bytes, how answers are
//! judged, the rise/fall state machine on explicit time, and the config.

use std::time::{Duration, Instant};

use weir_core::health_check::Target;
use weir_core::Config;

fn target(extra: &str) -> Target {
    let cfg = format!(
        "listen = \"127.0.0.1:8080\"\n[[upstream]]\nname = \"app\"\nservers = [{{ addr = \"127.0.0.1:9001\" }}]\nhealth = {{ path = \"/healthz\"{extra} }}\n"
    );
    let c = Config::from_toml(&cfg).unwrap();
    let spec = c.upstreams[0].health.clone().unwrap();
    Target::new(spec, "127.0.0.1:9001".parse().unwrap(), Instant::now())
}

#[test]
fn the_probe_and_its_judgement() {
    let t = target(", host = \"app.internal\", expect = \"2xx\"");
    assert_eq!(
        t.request(),
        b"GET /healthz HTTP/1.1\r\nHost: app.internal\r\nUser-Agent: weir-health-check\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(t.judge(b"HTTP/1.1 204 No Content\r\n\r\n"), Some(true));
    assert_eq!(t.judge(b"HTTP/1.1 301 Moved\r\n\r\n"), Some(false));
    assert_eq!(
        t.judge(b"HTTP/1.1 503 Unavailable\r\nContent-Length: 0\r\n\r\n"),
        Some(false)
    );
    assert_eq!(
        t.judge(b"HTTP/1.1 200 OK\r\nContent-"),
        None,
        "head incomplete"
    );
    assert_eq!(t.judge(b"SSH-2.0-OpenSSH\r\n\r\n"), Some(false));
    // The default: 200-399, Host is the address.
    let t = target("");
    assert!(String::from_utf8(t.request())
        .unwrap()
        .contains("Host: 127.0.0.1:9001\r\n"));
    assert_eq!(t.judge(b"HTTP/1.1 302 Found\r\n\r\n"), Some(true));
    assert_eq!(t.judge(b"HTTP/1.1 404 Not Found\r\n\r\n"), Some(false));
}

#[test]
fn fall_failures_in_a_row_mark_down_and_rise_successes_bring_back() {
    let mut t = target(", interval = 1000, timeout = 500, rise = 2, fall = 3");
    let t0 = t.next_at;
    let at = |s: u64| t0 + Duration::from_secs(s);
    assert!(t.up, "a new server starts up");
    // Two failures, a success: the streak starts over.
    assert_eq!(t.record(false, at(0)), None);
    assert_eq!(t.record(false, at(1)), None);
    assert_eq!(t.record(true, at(2)), None);
    assert_eq!(t.next_at, at(3), "one interval after the probe's start");
    // Three in a row: down at the third.
    assert_eq!(t.record(false, at(3)), None);
    assert_eq!(t.record(false, at(4)), None);
    assert_eq!(t.record(false, at(5)), Some(false));
    assert!(!t.up);
    // Down: failures change nothing; two successes bring it back.
    assert_eq!(t.record(false, at(6)), None);
    assert_eq!(t.record(true, at(7)), None);
    assert_eq!(t.record(true, at(8)), Some(true));
    assert!(t.up);
    // A probe that took longer than the interval: the next starts at once.
    assert_eq!(t.record(true, at(20)), None);
    assert_eq!(t.next_at, at(20));
}

#[test]
fn health_settings_are_checked() {
    for (extra, message) in [
        (", expect = \"6xx\"", "expect \"6xx\": a status, a range"),
        (", interval = 50", "interval is at least 100 ms"),
        (
            ", interval = 1000, timeout = 2000",
            "timeout must not exceed interval",
        ),
        (", rise = 0", "rise and fall are from 1 to 100"),
        (", host = \"a b\"", "host \"a b\" is not a valid Host value"),
    ] {
        let cfg = format!(
            "listen = \"127.0.0.1:8080\"\n[[upstream]]\nname = \"app\"\nservers = [{{ addr = \"127.0.0.1:9001\" }}]\nhealth = {{ path = \"/healthz\"{extra} }}\n"
        );
        let e = Config::from_toml(&cfg).unwrap_err();
        assert_eq!(e[0].key, "upstream[0].health", "{extra}");
        assert_eq!(e[0].line, Some(5));
        assert!(e[0].message.starts_with(message), "{}", e[0].message);
    }
    let bad_path = "listen = \"127.0.0.1:8080\"\n[[upstream]]\nname = \"app\"\nservers = [{ addr = \"127.0.0.1:9001\" }]\nhealth = { path = \"healthz\" }\n";
    assert!(Config::from_toml(bad_path).unwrap_err()[0]
        .message
        .contains("must start with /"));
}

#[test]
fn a_server_marked_down_by_the_checks_is_skipped_but_fail_open_stays() {
    use weir_core::proxy::ServerMarks;
    use weir_core::sim::{addr, config, Sim};
    let mut sim = Sim::from_toml(&config(2, ""), Instant::now()).unwrap();
    let ok: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    sim.script(9001, &[ok; 4]);
    sim.script(9002, &[ok; 4]);
    let down = |ports: &[u16]| ServerMarks {
        drained: vec![],
        down: ports
            .iter()
            .map(|p| ("app".to_string(), addr(*p)))
            .collect(),
    };
    sim.gw.set_marks(&down(&[9002]));
    for _ in 0..3 {
        sim.client(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    }
    assert!(sim.logs.iter().all(|l| l.upstream == Some(addr(9001))));
    assert!(!sim.gw.snapshot(sim.now, 0).servers[1].up);
    // Both down: fail-open still serves (as with passive health).
    sim.gw.set_marks(&down(&[9001, 9002]));
    sim.client(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(sim.logs[3].status, 200);
    assert_eq!(sim.logs[3].note, "fail-open: every server down");
}
