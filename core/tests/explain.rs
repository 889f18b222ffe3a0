//! `explain`: every decision for one request, as the core made it.

use std::net::SocketAddr;
use std::time::Instant;

use weir_core::explain::{explain, text, Outcome, Step};
use weir_core::sim::{get, Sim};
use weir_core::Config;

const GATEWAY: &str = r#"listen = "127.0.0.1:8080"
[client_ip]
trusted_proxies = ["10.0.0.0/8"]
[[upstream]]
name = "app"
balancer = "weighted-round-robin"
servers = [{ addr = "127.0.0.1:9001", weight = 3 }, { addr = "127.0.0.1:9002" }]
[[upstream]]
name = "users"
balancer = "consistent-hash"
hash_key = "header:X-User"
servers = [{ addr = "127.0.0.1:9101" }, { addr = "127.0.0.1:9102" }, { addr = "127.0.0.1:9103" }]
[[middleware]]
name = "limit"
kind = "rate-limit"
key = ["client-ip"]
rate = 1
per = 1000
burst = 1
[[middleware]]
name = "office"
kind = "ip-access"
allow = ["192.0.2.0/24"]
[[middleware]]
name = "tag"
kind = "headers"
request_set = { "X-Route" = "users" }
[[route]]
name = "admin"
path_prefix = "/admin/"
methods = ["GET"]
upstream = "app"
middleware = ["office"]
[[route]]
name = "users"
path_prefix = "/users/"
upstream = "users"
middleware = ["limit", "tag"]
[[route]]
name = "rest"
path_prefix = "/"
upstream = "app"
"#;

fn config() -> Config {
    Config::from_toml(GATEWAY).unwrap()
}

fn peer(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn a_forwarded_request_shows_every_step_and_the_exact_upstream_bytes() {
    let e = explain(
        config(),
        b"GET /users/7 HTTP/1.1\r\nHost: a\r\nX-User: alice\r\nX-Forwarded-For: 198.51.100.4\r\n\r\n",
        peer("10.1.1.1:5000"),
        Instant::now(),
    );
    let t = text(&e);
    let want_start = "request: GET /users/7 HTTP/1.1; body: no body
client: 198.51.100.4, named by the x-forwarded-for field sent by 10.1.1.1, a trusted proxy
layer global forwarded-headers: next
    - X-Forwarded-For: 198.51.100.4
    + X-Forwarded-For: 198.51.100.4, 10.1.1.1
    + X-Forwarded-Proto: http
    + X-Forwarded-Host: a
routes, best first:
    no    admin: path prefix /admin/: no
    match users: path prefix /users/
    match rest: path prefix /
route taken: users
layer route users: rate-limit \"limit\": next
    for the response: RateLimit-Policy: \"limit\";q=1;w=1
    for the response: RateLimit: \"limit\";r=0;t=1
layer route users: headers \"tag\": next
    + X-Route: users
upstream users (consistent-hash):
    hash key ";
    assert!(t.starts_with(want_start), "{t}");
    assert!(t.contains("owned by 127.0.0.1:91"), "{t}");
    // The pick explain reports is the server the bytes went to.
    let Outcome::Forwarded(server, bytes) = &e.outcome else {
        panic!("{t}")
    };
    assert!(
        t.contains(&format!("    picked: {server} (balancer)\n")),
        "{t}"
    );
    assert!(t.contains(&format!("owned by {server};")), "{t}");
    assert_eq!(
        String::from_utf8_lossy(bytes),
        "GET /users/7 HTTP/1.1\r\nHost: a\r\nX-User: alice\r\nX-Forwarded-For: 198.51.100.4, 10.1.1.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: a\r\nX-Route: users\r\n\r\n"
    );
    assert!(t.ends_with("== forwarded\n"), "{t}");
    // The same key, hashed by the balancer itself, lands on the same server.
    let mut sim = Sim::new(config(), Instant::now());
    for p in [9101, 9102, 9103] {
        sim.script(p, &[b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"]);
    }
    sim.client(b"GET /users/9 HTTP/1.1\r\nHost: a\r\nX-User: alice\r\n\r\n");
    assert_eq!(sim.logs[0].upstream, Some(*server));
}

#[test]
fn a_layer_that_answers_is_named_and_its_answer_shown_exactly() {
    let e = explain(
        config(),
        b"GET /admin/x HTTP/1.1\r\nHost: a\r\n\r\n",
        peer("203.0.113.9:1234"),
        Instant::now(),
    );
    let t = text(&e);
    assert!(
        t.contains("route taken: admin\nlayer route admin: ip-access \"office\": answer 403\n"),
        "{t}"
    );
    assert_eq!(
        e.outcome,
        Outcome::Answered(
            b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\n403 Forbidden\n"
                .to_vec()
        )
    );
    assert!(t.contains("\"GET /admin/x\" 403 "), "{t}");
    assert!(t.ends_with("== answered by weir, not forwarded\n"), "{t}");
    // From the allowed network it goes through.
    let ok = explain(
        config(),
        b"GET /admin/x HTTP/1.1\r\nHost: a\r\n\r\n",
        peer("192.0.2.1:1234"),
        Instant::now(),
    );
    assert!(text(&ok).contains("ip-access \"office\": next\n"));
    assert!(matches!(ok.outcome, Outcome::Forwarded(..)));
}

#[test]
fn the_weighted_balancer_shows_its_current_weights_and_picks_the_heaviest() {
    let e = explain(config(), &get("/x"), peer("192.0.2.1:1"), Instant::now());
    let t = text(&e);
    assert!(
        t.contains("127.0.0.1:9001 current 0 effective 3 weight 3; 127.0.0.1:9002 current 0 effective 1 weight 1\n    picked: 127.0.0.1:9001 (balancer)\n"),
        "{t}"
    );
}

#[test]
fn a_wrong_method_shows_why_each_route_missed() {
    let e = explain(
        config(),
        b"DELETE /admin/x HTTP/1.1\r\nHost: a\r\n\r\n",
        peer("192.0.2.1:1"),
        Instant::now(),
    );
    let t = text(&e);
    assert!(
        t.contains("    no    admin: method DELETE not in GET\n"),
        "{t}"
    );
    // The catch-all takes it: explain's first match is the router's pick.
    assert!(t.contains("route taken: rest\n"), "{t}");
}

#[test]
fn the_first_route_explain_marks_as_matching_is_the_route_taken() {
    let requests = [
        "GET /admin/a",
        "POST /admin/a",
        "GET /users/",
        "GET /users",
        "GET /",
        "PUT /users/x/y",
    ];
    for r in requests {
        let raw = format!("{r} HTTP/1.1\r\nHost: a\r\n\r\n");
        let e = explain(
            config(),
            raw.as_bytes(),
            peer("192.0.2.1:1"),
            Instant::now(),
        );
        let Some(Step::Routes { checks, chosen }) =
            e.steps.iter().find(|s| matches!(s, Step::Routes { .. }))
        else {
            panic!("{r}: no routing step")
        };
        let first = checks.iter().find(|c| c.matched).map(|c| c.route.clone());
        assert_eq!(first.as_deref(), Some(chosen.as_str()), "{r}");
    }
}

#[test]
fn a_malformed_request_is_answered_before_any_decision() {
    let e = explain(
        config(),
        b"GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        peer("192.0.2.1:1"),
        Instant::now(),
    );
    assert!(e.steps.is_empty(), "{:?}", e.steps);
    let Outcome::Answered(bytes) = &e.outcome else {
        panic!()
    };
    assert!(bytes.starts_with(b"HTTP/1.1 400 "));
    assert!(!text(&e).contains("client: "));
}

#[test]
fn a_rate_limit_refusal_is_explained_on_the_second_request_only_through_state() {
    // explain starts from a fresh gateway: a limit of 1 lets one through.
    let e = explain(
        config(),
        b"GET /users/1 HTTP/1.1\r\nHost: a\r\nX-User: bob\r\n\r\n",
        peer("192.0.2.1:1"),
        Instant::now(),
    );
    assert!(text(&e).contains("rate-limit \"limit\": next\n    for the response: RateLimit-Policy"));
    // Two on one connection: the second is refused, and the trace says so.
    let e = explain(
        config(),
        b"GET /users/1 HTTP/1.1\r\nHost: a\r\nX-User: bob\r\n\r\nGET /users/1 HTTP/1.1\r\nHost: a\r\nX-User: bob\r\n\r\n",
        peer("192.0.2.1:1"),
        Instant::now(),
    );
    let t = text(&e);
    assert!(t.contains("rate-limit \"limit\": answer 429\n"), "{t}");
}

#[test]
fn serving_records_nothing() {
    let mut sim = Sim::new(config(), Instant::now());
    sim.script(9001, &[b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"]);
    sim.client(&get("/x"));
    assert_eq!(sim.logs.len(), 1);
    assert!(sim.gw.take_trace().is_none());
}
