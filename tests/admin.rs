//! End-to-end admin listener, on both binaries: `promtool check metrics`
//! (Prometheus's own linter) passes on a scrape taken under load; after
//! the same scripted traffic both frontends report the same counts;
//! `/status` is JSON naming every server; `/healthz`, `/ready`, `POST
//! /reload` answer; a drain through the admin API loses no request in
//! flight, sends the server nothing new and survives a reload.

mod support;

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::client::{get, Client};
use support::upstream::Origin;
use support::Weir;

const SECS: Duration = Duration::from_secs(10);

fn start(bin: &str, origin: &Origin) -> Weir {
    let config = format!(
        "workers = 2\n[admin]\nlisten = \"127.0.0.1:0\"\n[[upstream]]\nname = \"app\"\nservers = [{{ addr = \"{}\" }}]\n[[route]]\nname = \"all\"\nupstream = \"app\"\n",
        origin.addr
    );
    Weir::start_with(bin, &config, &["--quiet"])
}

fn promtool(text: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus, installed by .ci/run)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), said)
}

fn sample(text: &str, name_and_labels: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

fn metrics_pass_promtool_under_load_and_count_exactly(bin: &str) {
    let origin = Origin::start("a");
    let w = start(bin, &origin);
    let admin = w.admin_addr();
    // Load: 4 keep-alive clients until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (addr, stop) = (w.addr, stop.clone());
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    c.send(b"GET /name HTTP/1.1\r\nHost: t\r\n\r\n");
                    assert_eq!(c.read().status, 200);
                    n += 1;
                }
                n
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let during = get(admin, "/metrics");
    assert_eq!(during.status, 200);
    assert_eq!(
        during.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let (ok, said) = promtool(&during.text());
    assert!(ok, "promtool: {said}\n{}", during.text());
    stop.store(true, Ordering::Relaxed);
    let sent: u64 = load.into_iter().map(|t| t.join().unwrap()).sum();
    // Then exactly 100 more, one connection each.
    for _ in 0..100 {
        assert_eq!(get(w.addr, "/name").status, 200);
    }
    let key = "weir_requests_total{route=\"all\",upstream=\"app\",code=\"2xx\"}";
    support::wait_until(SECS, "every request counted", || {
        sample(&get(admin, "/metrics").text(), key) == Some(sent + 100)
    });
    let text = get(admin, "/metrics").text();
    let server = format!("{{upstream=\"app\",server=\"{}\"}}", origin.addr);
    assert_eq!(sample(&text, &format!("weir_server_up{server}")), Some(1));
    assert_eq!(
        sample(&text, &format!("weir_server_in_flight{server}")),
        Some(0)
    );
    assert_eq!(
        sample(&text, "weir_request_duration_seconds_count{route=\"all\"}"),
        Some(sent + 100)
    );
    // OpenMetrics when asked.
    let mut c = Client::connect(admin);
    c.send(b"GET /metrics HTTP/1.1\r\nHost: a\r\nAccept: application/openmetrics-text; version=1.0.0\r\n\r\n");
    let om = c.read();
    assert!(om.text().ends_with("# EOF\n"));
    // Status, health, readiness, reload.
    let status: serde_json::Value = serde_json::from_slice(&get(admin, "/status").body).unwrap();
    assert_eq!(status["generation"], 1);
    assert_eq!(
        status["upstreams"][0]["servers"][0]["addr"],
        origin.addr.to_string()
    );
    assert_eq!(get(admin, "/healthz").status, 200);
    assert_eq!(get(admin, "/ready").status, 200);
    assert_eq!(get(admin, "/nothing").status, 404);
    let mut c = Client::connect(admin);
    c.send(b"POST /reload HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
    let r = c.read();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("generation 2"));
    let text = get(admin, "/metrics").text();
    assert_eq!(sample(&text, "weir_config_generation"), Some(2));
    assert_eq!(
        sample(&text, "weir_config_reloads_total{result=\"success\"}"),
        Some(1)
    );
}

/// POST with a form body; the answer.
fn post(addr: SocketAddr, path: &str, form: &str) -> support::client::Response {
    let mut c = Client::connect(addr);
    c.send(
        format!(
            "POST {path} HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        )
        .as_bytes(),
    );
    c.read()
}

fn a_drain_loses_nothing_in_flight_and_sends_nothing_new(bin: &str) {
    let (a, b) = (Origin::start("a"), Origin::start("b"));
    let config = format!(
        "workers = 2\n[admin]\nlisten = \"127.0.0.1:0\"\n[[upstream]]\nname = \"app\"\nservers = [{{ addr = \"{}\" }}, {{ addr = \"{}\" }}]\n",
        a.addr, b.addr
    );
    let w = Weir::start_with(bin, &config, &["--quiet"]);
    let admin = w.admin_addr();
    // Slow requests in flight on both servers while a is drained.
    let slow: Vec<_> = (0..6)
        .map(|_| {
            let addr = w.addr;
            std::thread::spawn(move || get(addr, "/slow?ms=400").status)
        })
        .collect();
    std::thread::sleep(Duration::from_millis(150));
    assert!(
        a.accepted.load(Ordering::SeqCst) > 0,
        "nothing in flight on a"
    );
    let form = format!("upstream=app&server={}", a.addr);
    let r = post(admin, "/servers/drain", &form);
    assert_eq!(r.status, 200, "{}", r.text());
    for t in slow {
        assert_eq!(t.join().unwrap(), 200, "a request in flight was lost");
    }
    for _ in 0..20 {
        assert_eq!(get(w.addr, "/name").text(), "b");
    }
    let status: serde_json::Value = serde_json::from_slice(&get(admin, "/status").body).unwrap();
    assert_eq!(status["upstreams"][0]["servers"][0]["drained"], true);
    // Kept across a reload; then enabled again.
    let r = post(admin, "/reload", "");
    assert_eq!(r.status, 200, "{}", r.text());
    for _ in 0..10 {
        assert_eq!(get(w.addr, "/name").text(), "b");
    }
    assert_eq!(post(admin, "/servers/enable", &form).status, 200);
    let names: Vec<String> = (0..10).map(|_| get(w.addr, "/name").text()).collect();
    assert!(names.iter().any(|n| n == "a"), "{names:?}");
    // A server the config does not have.
    let r = post(admin, "/servers/drain", "upstream=app&server=127.0.0.1:1");
    assert_eq!(r.status, 404, "{}", r.text());
}

each_frontend!(
    metrics_pass_promtool_under_load_and_count_exactly,
    a_drain_loses_nothing_in_flight_and_sends_nothing_new,
);

/// The same scripted traffic against both binaries: the same metric
/// names and the same request counts.
#[test]
fn both_frontends_count_the_same_traffic_the_same() {
    let scrape = |bin: &str| {
        let (a, b) = (Origin::start("a"), Origin::start("b"));
        let config = format!(
            "workers = 2\n[admin]\nlisten = \"127.0.0.1:0\"\n[[upstream]]\nname = \"app\"\nservers = [{{ addr = \"{}\" }}, {{ addr = \"{}\" }}]\n[[middleware]]\nname = \"limit\"\nkind = \"rate-limit\"\nkey = [\"route\"]\nrate = 1\nper = 60000\nburst = 1\n[[route]]\nname = \"api\"\npath_prefix = \"/api/\"\nupstream = \"app\"\n[[route]]\nname = \"once\"\npath = \"/once\"\nupstream = \"app\"\nmiddleware = [\"limit\"]\n",
            a.addr, b.addr
        );
        let w = Weir::start_with(bin, &config, &["--quiet"]);
        let admin = w.admin_addr();
        for i in 0..20 {
            assert_eq!(get(w.addr, &format!("/api/{i}")).status, 200);
        }
        assert_eq!(get(w.addr, "/nowhere").status, 404);
        assert_eq!(get(w.addr, "/once").status, 200);
        assert_eq!(get(w.addr, "/once").status, 429);
        let mut c = Client::connect(w.addr);
        c.send(b"GET /api/x HTTP/1.1\r\nHost: a b\r\n\r\n");
        assert_eq!(c.read().status, 400);
        let text = get(admin, "/metrics").text();
        let names: std::collections::BTreeSet<String> = text
            .lines()
            .filter(|l| l.starts_with("# TYPE "))
            .map(str::to_owned)
            .collect();
        let counts: Vec<String> = text
            .lines()
            .filter(|l| {
                l.starts_with("weir_requests_total")
                    || l.starts_with("weir_policy_rejections_total")
                    || l.starts_with("weir_request_duration_seconds_count")
            })
            .map(str::to_owned)
            .collect();
        (names, counts)
    };
    let (mio_names, mio_counts) = scrape("weir-mio");
    let (smol_names, smol_counts) = scrape("weir-smol");
    assert_eq!(mio_names, smol_names);
    assert_eq!(mio_counts, smol_counts);
    assert_eq!(
        mio_counts,
        [
            "weir_requests_total{route=\"\",upstream=\"\",code=\"4xx\"} 2",
            "weir_requests_total{route=\"api\",upstream=\"app\",code=\"2xx\"} 20",
            "weir_requests_total{route=\"once\",upstream=\"\",code=\"4xx\"} 1",
            "weir_requests_total{route=\"once\",upstream=\"app\",code=\"2xx\"} 1",
            "weir_request_duration_seconds_count{route=\"\"} 2",
            "weir_request_duration_seconds_count{route=\"api\"} 20",
            "weir_request_duration_seconds_count{route=\"once\"} 2",
            "weir_policy_rejections_total{policy=\"rate-limit\"} 1",
        ]
    );
}
