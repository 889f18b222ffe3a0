//! Metrics on the simulator: exact counter and histogram values after a
//! scripted sequence (a success, a policy rejection, no route, a refused
//! server, a timeout), rendered as Prometheus text and OpenMetrics.

use std::time::{Duration, Instant};

use weir_core::metrics::render::{render, Format, Process};
use weir_core::metrics::Snapshot;
use weir_core::sim::{addr, Sim};

const CFG: &str = r#"listen = "127.0.0.1:8080"
[[upstream]]
name = "app"
servers = [{ addr = "127.0.0.1:9001" }]
[[middleware]]
name = "limit"
kind = "rate-limit"
key = ["route"]
rate = 1
per = 1000
burst = 1
[[route]]
name = "api"
path_prefix = "/api/"
upstream = "app"
middleware = ["limit"]
"#;

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

fn scripted() -> Sim {
    let mut sim = Sim::from_toml(CFG, Instant::now()).unwrap();
    sim.script(9001, &[OK]);
    sim.client(b"GET /api/a HTTP/1.1\r\nHost: h\r\n\r\n");
    sim.advance(Duration::from_millis(3));
    // Within the same second: the limit answers 429.
    sim.client(b"GET /api/b HTTP/1.1\r\nHost: h\r\n\r\n");
    sim.client(b"GET /nowhere HTTP/1.1\r\nHost: h\r\n\r\n");
    sim.advance(Duration::from_secs(2));
    sim.close_pooled(addr(9001));
    sim.refuse.push(addr(9001));
    sim.client(b"GET /api/c HTTP/1.1\r\nHost: h\r\n\r\n");
    sim
}

fn lines(text: &str, prefix: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

#[test]
fn counters_after_a_scripted_sequence_are_exact() {
    let sim = scripted();
    let snap = sim.gw.snapshot(sim.now, 3);
    let p = Process {
        generation: 1,
        reloads_ok: 0,
        reloads_failed: 1,
        uptime: Duration::from_secs(5),
    };
    let text = render(&Snapshot::merge(&[snap]), &p, Format::Prometheus);
    assert_eq!(
        lines(&text, "weir_requests_total"),
        [
            "weir_requests_total{route=\"\",upstream=\"\",code=\"4xx\"} 1",
            "weir_requests_total{route=\"api\",upstream=\"\",code=\"4xx\"} 1",
            "weir_requests_total{route=\"api\",upstream=\"app\",code=\"2xx\"} 1",
            "weir_requests_total{route=\"api\",upstream=\"app\",code=\"5xx\"} 1",
        ]
    );
    assert_eq!(
        lines(&text, "weir_policy_rejections_total{"),
        ["weir_policy_rejections_total{policy=\"rate-limit\"} 1"]
    );
    assert_eq!(
        lines(&text, "weir_server_"),
        [
            "weir_server_up{upstream=\"app\",server=\"127.0.0.1:9001\"} 1",
            "weir_server_in_flight{upstream=\"app\",server=\"127.0.0.1:9001\"} 0",
            "weir_server_requests_total{upstream=\"app\",server=\"127.0.0.1:9001\"} 2",
            "weir_server_failures_total{upstream=\"app\",server=\"127.0.0.1:9001\"} 1",
        ]
    );
    assert_eq!(
        lines(&text, "weir_upstream_pool_connections "),
        ["weir_upstream_pool_connections 3"]
    );
    assert_eq!(
        lines(&text, "weir_config_reloads_total{"),
        [
            "weir_config_reloads_total{result=\"success\"} 0",
            "weir_config_reloads_total{result=\"failure\"} 1",
        ]
    );
}

#[test]
fn two_workers_merge_and_openmetrics_ends_with_eof() {
    let (a, b) = (scripted(), scripted());
    let merged = Snapshot::merge(&[a.gw.snapshot(a.now, 1), b.gw.snapshot(b.now, 2)]);
    let text = render(&merged, &Process::default(), Format::OpenMetrics);
    assert!(text.contains("# TYPE weir_requests counter\n"));
    assert!(text.contains("\nweir_requests_total{route=\"api\",upstream=\"app\",code=\"2xx\"} 2\n"));
    assert!(text
        .contains("\nweir_server_failures_total{upstream=\"app\",server=\"127.0.0.1:9001\"} 2\n"));
    assert!(text.contains("\nweir_upstream_pool_connections 3\n"));
    assert!(text.ends_with("\n# EOF\n"));
    assert_eq!(
        Format::from_accept(Some(b"application/openmetrics-text; version=1.0.0")),
        Format::OpenMetrics
    );
    assert_eq!(Format::from_accept(Some(b"text/plain")), Format::Prometheus);
}

#[test]
fn a_histogram_puts_each_duration_in_its_bucket() {
    let mut h = weir_core::metrics::Histogram::default();
    for us in [300, 500, 1_000, 7_000, 20_000_000] {
        h.observe(Duration::from_micros(us));
    }
    // <=0.5ms: 2, <=1ms: 1, <=10ms: 1, +Inf: 1.
    assert_eq!(h.counts, [2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(h.sum_ns, 20_008_800_000);
    assert_eq!(h.count(), 5);
}

#[test]
fn counts_survive_a_reload_under_their_names() {
    let mut sim = scripted();
    sim.reload(&CFG.replace("name = \"api\"", "name = \"api2\""))
        .unwrap();
    sim.refuse.clear();
    sim.script(9001, &[OK]);
    sim.client(b"GET /api/d HTTP/1.1\r\nHost: h\r\n\r\n");
    let text = render(
        &Snapshot::merge(&[sim.gw.snapshot(sim.now, 0)]),
        &Process::default(),
        Format::Prometheus,
    );
    assert_eq!(
        lines(&text, "weir_requests_total{route=\"api"),
        [
            "weir_requests_total{route=\"api\",upstream=\"\",code=\"4xx\"} 1",
            "weir_requests_total{route=\"api\",upstream=\"app\",code=\"2xx\"} 1",
            "weir_requests_total{route=\"api\",upstream=\"app\",code=\"5xx\"} 1",
            "weir_requests_total{route=\"api2\",upstream=\"app\",code=\"2xx\"} 1",
        ]
    );
}

#[test]
fn retries_a_504_and_failing_open_are_counted_exactly() {
    let cfg = "listen = \"127.0.0.1:8080\"\n[[upstream]]\nname = \"app\"\nmax_fails = 1\nfail_timeout = 30000\ntimeouts = { response = 1000 }\nservers = [{ addr = \"127.0.0.1:9001\" }, { addr = \"127.0.0.1:9002\" }]\n";
    let mut sim = Sim::from_toml(cfg, Instant::now()).unwrap();
    // 9001 refuses: the request goes on to 9002 (one retry), 9001 is down.
    sim.refuse.push(addr(9001));
    sim.script(9002, &[OK]);
    sim.client(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!((sim.logs[0].status, sim.logs[0].tries), (200, 2));
    // 9002 answers nothing: 504 at the response timeout; 9002 is down too.
    sim.client(b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n");
    sim.advance(Duration::from_millis(1100));
    assert_eq!(sim.logs[1].status, 504);
    // Both down: failing open to the least recently failed, 9001.
    sim.refuse.clear();
    sim.close_pooled(addr(9002));
    sim.script(9001, &[OK]);
    sim.client(b"GET /c HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(sim.logs[2].status, 200);
    let text = render(
        &Snapshot::merge(&[sim.gw.snapshot(sim.now, 0)]),
        &Process::default(),
        Format::Prometheus,
    );
    assert_eq!(
        lines(&text, "weir_requests_total"),
        [
            "weir_requests_total{route=\"default\",upstream=\"app\",code=\"2xx\"} 2",
            "weir_requests_total{route=\"default\",upstream=\"app\",code=\"5xx\"} 1",
        ]
    );
    assert_eq!(
        lines(&text, "weir_upstream_retries_total{"),
        ["weir_upstream_retries_total{upstream=\"app\"} 1"]
    );
    assert_eq!(
        lines(&text, "weir_upstream_fail_open_total{"),
        ["weir_upstream_fail_open_total{upstream=\"app\"} 1"]
    );
    assert_eq!(
        lines(&text, "weir_server_failures_total"),
        [
            "weir_server_failures_total{upstream=\"app\",server=\"127.0.0.1:9001\"} 1",
            "weir_server_failures_total{upstream=\"app\",server=\"127.0.0.1:9002\"} 1",
        ]
    );
    // The upstream response time of the 504 is not observed (no head came):
    // two observations, both answered at once.
    assert_eq!(
        lines(&text, "weir_upstream_response_seconds_count"),
        ["weir_upstream_response_seconds_count{upstream=\"app\"} 2"]
    );
    // The 504 took exactly the response timeout, 1 s: in the le="1" bucket.
    assert_eq!(
        lines(
            &text,
            "weir_request_duration_seconds_bucket{route=\"default\",le=\"0.5\"}"
        ),
        ["weir_request_duration_seconds_bucket{route=\"default\",le=\"0.5\"} 2"]
    );
    assert_eq!(
        lines(
            &text,
            "weir_request_duration_seconds_bucket{route=\"default\",le=\"1\"}"
        ),
        ["weir_request_duration_seconds_bucket{route=\"default\",le=\"1\"} 3"]
    );
    assert_eq!(
        lines(
            &text,
            "weir_request_duration_seconds_sum{route=\"default\"}"
        ),
        ["weir_request_duration_seconds_sum{route=\"default\"} 1"]
    );
}
