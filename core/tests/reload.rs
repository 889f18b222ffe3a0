//! Reload on the simulator's virtual clock, with exact outcomes, before
//! the end-to-end tests: what is in flight keeps its plan, state carries
//! over by identity, removed servers get nothing; and per-route layers.

use std::time::{Duration, Instant};

use weir_core::sim::{addr, get, Sim, World};

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// Two upstreams, `a` (9001) and `b` (9002); every route to `to`, whose
/// responses carry `X-Gen: gen`.
fn two_groups(to: &str, gen: u32) -> String {
    format!(
        r#"listen = "127.0.0.1:8080"
[[upstream]]
name = "a"
servers = [{{ addr = "127.0.0.1:9001" }}]
[[upstream]]
name = "b"
servers = [{{ addr = "127.0.0.1:9002" }}]
[[middleware]]
kind = "headers"
response_set = {{ "X-Gen" = "{gen}" }}
[[route]]
name = "all"
upstream = "{to}"
"#
    )
}

#[test]
fn a_request_in_flight_finishes_on_its_plan_and_the_next_takes_the_new_one() {
    let mut sim = Sim::from_toml(&two_groups("a", 1), Instant::now()).unwrap();
    sim.client(&get("/one"));
    // The request reached server a, which has not answered yet.
    assert!(String::from_utf8_lossy(&sim.socks[0].received).starts_with("GET /one"));
    let changes = sim.reload(&two_groups("b", 2)).unwrap();
    assert_eq!(changes.to_string(), "routes ~all; middleware ~global chain");
    assert_eq!(sim.gw.plan().generation, 2);
    sim.script(9001, &[OK]);
    sim.drive();
    assert!(
        sim.client_text().contains("X-Gen: 1\r\n"),
        "{}",
        sim.client_text()
    );
    // The next request on the same keep-alive connection: the new route.
    sim.script(9002, &[OK]);
    sim.client(&get("/two"));
    assert_eq!(sim.ports(), [9001, 9002]);
    assert!(
        sim.client_text()
            .ends_with("Content-Length: 2\r\nX-Gen: 2\r\n\r\nok"),
        "{}",
        sim.client_text()
    );
    assert!(!sim.client_closed);
}

fn weighted(route_prefix: &str) -> String {
    format!(
        r#"listen = "127.0.0.1:8080"
[[upstream]]
name = "app"
balancer = "weighted-round-robin"
max_fails = 1
servers = [
  {{ addr = "127.0.0.1:9001", weight = 5 }},
  {{ addr = "127.0.0.1:9002" }},
  {{ addr = "127.0.0.1:9003" }},
]
[[route]]
path_prefix = "{route_prefix}"
upstream = "app"
"#
    )
}

#[test]
fn the_balancer_sequence_goes_on_across_a_reload_that_keeps_the_servers() {
    let mut sim = Sim::from_toml(&weighted("/"), Instant::now()).unwrap();
    for port in [9001, 9002, 9003] {
        sim.script(port, &[OK, OK, OK, OK, OK]);
    }
    for _ in 0..3 {
        sim.client(&get("/x"));
    }
    let changes = sim.reload(&weighted("/x")).unwrap();
    assert_eq!(changes.to_string(), "routes ~route[0]");
    for _ in 0..4 {
        sim.client(&get("/x"));
    }
    // 5,1,1 smooth WRR without a break: a a b a c a a.
    assert_eq!(sim.ports(), [9001, 9001, 9002, 9001, 9003, 9001, 9001]);
}

#[test]
fn passive_health_is_kept_by_address_when_a_reload_changes_the_group() {
    let mut sim = Sim::from_toml(&weighted("/"), Instant::now()).unwrap();
    sim.refuse.push(addr(9001));
    sim.script(9002, &[OK, OK, OK, OK]);
    sim.script(9003, &[OK, OK, OK, OK]);
    sim.client(&get("/x"));
    // 9001 refused (max_fails = 1: down for 10 s), 9002 answered.
    assert_eq!(sim.logs[0].tries, 2);
    // The group changes (9003 leaves, 9004 joins): 9001 is still down.
    let changed = weighted("/").replace("127.0.0.1:9003", "127.0.0.1:9004");
    assert_eq!(sim.reload(&changed).unwrap().to_string(), "upstreams ~app");
    sim.script(9004, &[OK, OK, OK, OK]);
    sim.refuse.clear();
    let before = sim.connects.len();
    for _ in 0..4 {
        sim.client(&get("/x"));
    }
    let after: Vec<u16> = sim.connects[before..]
        .iter()
        .map(|(a, _)| a.port())
        .collect();
    assert!(!after.contains(&9001), "{after:?}");
    assert!(!after.contains(&9003), "{after:?}");
    assert_eq!(sim.ports()[1..], [9002, 9004, 9002, 9004]);
    // Ten seconds later it is up again.
    sim.advance(Duration::from_secs(10));
    sim.script(9001, &[OK]);
    sim.client(&get("/x"));
    assert_eq!(sim.ports().last(), Some(&9001));
}

#[test]
fn a_server_removed_by_reload_gets_no_new_request_and_its_pooled_connection_closes() {
    let two = "listen = \"127.0.0.1:8080\"\n[[upstream]]\nname = \"app\"\nservers = [{ addr = \"127.0.0.1:9001\" }, { addr = \"127.0.0.1:9002\" }]\n";
    let mut sim = Sim::from_toml(two, Instant::now()).unwrap();
    sim.script(9001, &[OK, OK, OK, OK, OK]);
    sim.script(9002, &[OK, OK, OK, OK]);
    sim.client(&get("/1"));
    sim.client(&get("/2"));
    assert_eq!(sim.ports(), [9001, 9002]);
    let to_9002 = sim.socks.iter().position(|s| s.addr == addr(9002)).unwrap();
    assert!(sim.socks[to_9002].pooled);
    let one = two.replace(", { addr = \"127.0.0.1:9002\" }", "");
    assert_eq!(sim.reload(&one).unwrap().to_string(), "upstreams ~app");
    assert!(sim.socks[to_9002].closed);
    for i in 3..7 {
        sim.client(&get(&format!("/{i}")));
    }
    assert_eq!(sim.ports(), [9001, 9002, 9001, 9001, 9001, 9001]);
}

#[test]
fn named_layers_run_only_on_the_routes_that_list_them_after_the_global_chain() {
    let cfg = r#"listen = "127.0.0.1:8080"
[[upstream]]
name = "app"
servers = [{ addr = "127.0.0.1:9001" }]
[[middleware]]
kind = "headers"
request_set = { "X-Global" = "1" }
response_set = { "X-Layer" = "global" }
[[middleware]]
name = "tag"
kind = "headers"
request_set = { "X-Route" = "api", "X-Global" = "overridden" }
response_set = { "X-Layer" = "tag" }
[[route]]
name = "api"
path_prefix = "/api/"
upstream = "app"
middleware = ["tag"]
[[route]]
name = "rest"
upstream = "app"
"#;
    let mut sim = Sim::from_toml(cfg, Instant::now()).unwrap();
    sim.script(9001, &[OK, OK]);
    sim.client(&get("/api/x"));
    sim.client(&get("/other"));
    let up = sim.upstream_text();
    let (api, rest) = up.split_at(up.find("GET /other").unwrap());
    // The route's layer runs after the global one (it overrides it) ...
    assert!(
        api.contains("X-Global: overridden\r\n") && api.contains("X-Route: api\r\n"),
        "{api}"
    );
    assert!(
        rest.contains("X-Global: 1\r\n") && !rest.contains("X-Route"),
        "{rest}"
    );
    // ... and its response passes it first, then the global one.
    let out = sim.client_text();
    assert_eq!(out.matches("X-Layer: global\r\n").count(), 2, "{out}");
    assert!(!out.contains("X-Layer: tag"), "{out}");
}

/// Many connections over one gateway: while connection 0's request is in
/// flight on generation 1, a reload comes; connection 1, new to it, takes
/// the new route at once; connection 0's response still passes the old
/// layers, and its next request takes the new route too.
#[test]
fn several_connections_across_a_reload_each_exchange_on_its_own_plan() {
    let mut w = World::from_toml(&two_groups("a", 1), 3, Instant::now()).unwrap();
    w.client(0, &get("/slow"));
    w.reload(&two_groups("b", 2)).unwrap();
    w.script(1, 9002, &[OK]);
    w.client(1, &get("/fast"));
    assert_eq!(w.clients[1].ports(), [9002]);
    assert!(w.clients[1].client_text().contains("X-Gen: 2\r\n"));
    w.script(0, 9001, &[OK]);
    assert_eq!(w.clients[0].ports(), [9001]);
    assert!(w.clients[0].client_text().contains("X-Gen: 1\r\n"));
    w.script(0, 9002, &[OK]);
    w.client(0, &get("/next"));
    assert_eq!(w.clients[0].ports(), [9001, 9002]);
    assert_eq!(w.gw.plan().generation, 2);
}

/// The balancer state is the gateway's, not the connection's: least-conn
/// sends two requests in flight at once, from two connections, to two
/// different servers, and that in-flight count survives a reload that
/// keeps the group.
#[test]
fn in_flight_counts_are_shared_by_connections_and_survive_a_reload() {
    let cfg = |prefix: &str| {
        format!(
            "listen = \"127.0.0.1:8080\"\n[[upstream]]\nname = \"app\"\nbalancer = \"least-conn\"\nservers = [{{ addr = \"127.0.0.1:9001\" }}, {{ addr = \"127.0.0.1:9002\" }}]\n[[route]]\npath_prefix = \"{prefix}\"\nupstream = \"app\"\n"
        )
    };
    let mut w = World::from_toml(&cfg("/"), 3, Instant::now()).unwrap();
    w.client(0, &get("/x"));
    w.reload(&cfg("/x")).unwrap();
    w.client(1, &get("/x"));
    let first = w.clients[0].connects[0].0.port();
    let second = w.clients[1].connects[0].0.port();
    assert_ne!(first, second, "the second pick knew of the first in flight");
    // Both finish; the third connection's pick is back to the first server.
    w.script(0, first, &[OK]);
    w.script(1, second, &[OK]);
    w.client(2, &get("/x"));
    assert_eq!(w.clients[2].connects[0].0.port(), 9001);
}
