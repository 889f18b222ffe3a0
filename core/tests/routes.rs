//! Routes and upstreams on the simulator's virtual clock: 405 routes,
//! local answers that keep the connection, per-upstream timeouts and
//! retry policies.

use std::time::{Duration, Instant};

use weir_core::sim::{addr, get, Sim};

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

#[test]
fn a_method_not_allowed_route_answers_405_with_allow_and_keeps_the_connection() {
    let cfg = r#"listen = "127.0.0.1:8080"
[[upstream]]
name = "app"
servers = [{ addr = "127.0.0.1:9001" }]
[[route]]
name = "orders"
path_prefix = "/orders"
methods = ["POST", "PUT"]
method_not_allowed = true
upstream = "app"
[[route]]
name = "strict"
path = "/only-get"
methods = ["GET"]
upstream = "app"
"#;
    let mut sim = Sim::from_toml(cfg, Instant::now()).unwrap();
    sim.client(&get("/orders/1"));
    assert_eq!(
        sim.client_text(),
        "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain\r\nAllow: POST, PUT\r\nContent-Length: 23\r\n\r\n405 Method Not Allowed\n"
    );
    sim.client(b"DELETE /only-get HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(sim.client_text().ends_with("404 Not Found\n"));
    assert_eq!(
        sim.logs.iter().map(|l| l.status).collect::<Vec<_>>(),
        [405, 404]
    );
    assert!(sim.socks.is_empty() && !sim.client_closed);
}

#[test]
fn per_upstream_timeouts_and_retry_policies_override_the_defaults() {
    let cfg = r#"listen = "127.0.0.1:8080"
[timeouts]
upstream_response = 30000
[[upstream]]
name = "quick"
servers = [{ addr = "127.0.0.1:9001" }, { addr = "127.0.0.1:9002" }]
timeouts = { response = 100 }
retry_on = ["connect", "timeout"]
[[upstream]]
name = "once"
servers = [{ addr = "127.0.0.1:9003" }, { addr = "127.0.0.1:9004" }]
retries = 0
[[route]]
path_prefix = "/quick"
upstream = "quick"
[[route]]
path_prefix = "/once"
upstream = "once"
"#;
    let mut sim = Sim::from_toml(cfg, Instant::now()).unwrap();
    // 9001 never answers: after 100 ms (not 30 s) the request, a GET, goes
    // to 9002 (retry_on has "timeout").
    sim.script(9002, &[OK]);
    sim.client(&get("/quick"));
    sim.advance(Duration::from_millis(99));
    assert_eq!(sim.logs.len(), 0);
    sim.advance(Duration::from_millis(1));
    assert_eq!(sim.ports(), [9002]);
    assert_eq!(sim.logs[0].tries, 2);
    assert_eq!(sim.logs[0].status, 200);
    // retries = 0: a refused connect is not tried elsewhere.
    sim.refuse.push(addr(9003));
    sim.refuse.push(addr(9004));
    sim.client(&get("/once"));
    assert_eq!(sim.logs[1].status, 502);
    assert_eq!(sim.logs[1].tries, 1);
}

const ORDERS: &str = r#"listen = "127.0.0.1:8080"
[[upstream]]
name = "app"
servers = [{ addr = "127.0.0.1:9001" }]
[[route]]
name = "orders"
path_prefix = "/orders"
methods = ["GET"]
method_not_allowed = true
upstream = "app"
"#;

const ANSWER_405: &str = "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain\r\nAllow: GET\r\nContent-Length: 23\r\n\r\n405 Method Not Allowed\n";

/// A local answer to a request with a small body keeps the connection:
/// the body is read and dropped, the request behind it is served, in
/// every split of the bytes.
#[test]
fn a_local_answer_reads_a_small_body_and_keeps_the_connection() {
    let post = b"POST /orders HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET /orders HTTP/1.1\r\nHost: h\r\n\r\n";
    let chunked = b"PUT /orders HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n0\r\nT: 1\r\n\r\nGET /orders HTTP/1.1\r\nHost: h\r\n\r\n";
    let no_route = b"POST /none HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET /orders HTTP/1.1\r\nHost: h\r\n\r\n";
    for (bytes, first) in [
        (&post[..], ANSWER_405),
        (&chunked[..], ANSWER_405),
        (&no_route[..], "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\n404 Not Found\n"),
    ] {
        for split in [usize::MAX, 1, 7] {
            let mut sim = Sim::from_toml(ORDERS, Instant::now()).unwrap();
            sim.split = split;
            sim.script(9001, &[OK]);
            sim.client(bytes);
            let want = format!("{first}HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            assert_eq!(sim.client_text(), want, "split {split}");
            assert!(!sim.client_closed, "split {split}");
            assert_eq!(sim.ports(), [0, 9001]);
            // Only the GET reached the upstream.
            assert!(sim.upstream_text().starts_with("GET /orders HTTP/1.1\r\n"));
            assert_eq!(sim.upstream_text().matches("HTTP/1.1\r\n").count(), 1);
        }
    }
}

#[test]
fn a_local_answer_closes_when_the_body_is_too_long_or_stalls() {
    // Announced longer than 64 KiB: answered, then closed at once.
    let mut sim = Sim::from_toml(ORDERS, Instant::now()).unwrap();
    sim.client(b"POST /orders HTTP/1.1\r\nHost: h\r\nContent-Length: 65537\r\n\r\nabc");
    assert!(sim.client_text().starts_with("HTTP/1.1 405 "));
    assert!(sim.client_text().contains("Connection: close\r\n"));
    assert!(sim.client_closed);
    // Chunked, and longer than that once read: closed when it passes.
    let mut sim = Sim::from_toml(ORDERS, Instant::now()).unwrap();
    sim.client(b"POST /orders HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert!(sim.client_text().starts_with("HTTP/1.1 405 ") && !sim.client_closed);
    // The bound counts the bytes read, chunk lines included: two chunks
    // of 0x7ff0 bytes are 65 520 of the 65 536.
    let chunk = format!("7ff0\r\n{}\r\n", "x".repeat(0x7ff0));
    sim.client(chunk.as_bytes());
    sim.client(chunk.as_bytes());
    assert!(!sim.client_closed, "still within the bound");
    sim.client(b"20\r\n");
    assert!(!sim.client_closed, "65 524");
    sim.client(&[b'x'; 0x20]);
    assert!(sim.client_closed);
    // A body that stops coming: closed after client_body (30 s), no 408.
    let mut sim = Sim::from_toml(ORDERS, Instant::now()).unwrap();
    sim.client(b"POST /orders HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc");
    sim.advance(Duration::from_millis(29_999));
    assert!(!sim.client_closed);
    sim.advance(Duration::from_millis(1));
    assert!(sim.client_closed);
    assert_eq!(sim.client_text(), ANSWER_405);
    assert_eq!(sim.logs.len(), 1);
}
