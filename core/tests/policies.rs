//! Policies through the proxy on the simulator: the client as
//! `[client_ip]` resolves it, and the layers keyed on it.

use std::time::Instant;

use weir_core::sim::Sim;

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// The simulated client is 10.0.0.7; `trusted` decides whether its
/// `X-Forwarded-For` is believed.
fn office(trusted: &str) -> String {
    format!(
        r#"listen = "127.0.0.1:8080"
[client_ip]
trusted_proxies = ["{trusted}"]
source = "x-forwarded-for"
[[upstream]]
name = "app"
servers = [{{ addr = "127.0.0.1:9001" }}]
[[middleware]]
name = "office"
kind = "ip-access"
allow = ["192.0.2.0/24"]
deny = ["192.0.2.66/32"]
[[route]]
upstream = "app"
middleware = ["office"]
"#
    )
}

fn from(xff: &str) -> Vec<u8> {
    format!("GET /x HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: {xff}\r\n\r\n").into_bytes()
}

#[test]
fn the_resolved_client_is_what_access_lists_logs_and_xff_see() {
    let mut sim = Sim::from_toml(&office("10.0.0.0/8"), Instant::now()).unwrap();
    sim.script(9001, &[OK]);
    // The spoofed leftmost entry is skipped: the client is 192.0.2.5.
    sim.client(&from("6.6.6.6, 192.0.2.5"));
    assert!(sim.client_text().starts_with("HTTP/1.1 200 OK\r\n"));
    assert_eq!(sim.logs[0].client.to_string(), "192.0.2.5:40000");
    assert!(
        sim.upstream_text()
            .contains("X-Forwarded-For: 6.6.6.6, 192.0.2.5, 192.0.2.5\r\n"),
        "{}",
        sim.upstream_text()
    );
    // Denied, from the same keep-alive connection: 403, connection kept.
    sim.client(&from("192.0.2.66"));
    assert!(sim.client_text().ends_with(
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\n403 Forbidden\n"
    ));
    assert!(!sim.client_closed);
    assert_eq!(sim.logs[1].client.to_string(), "192.0.2.66:40000");
    // Spoofing the header alone gets nowhere: the leftmost entry of an
    // allowed address, behind a hop that is not in the allow list.
    sim.client(&from("192.0.2.5, 203.0.113.1"));
    assert_eq!(sim.logs[2].status, 403);
}

#[test]
fn an_untrusted_peer_is_the_client_whatever_it_writes() {
    let mut sim = Sim::from_toml(&office("192.168.0.0/16"), Instant::now()).unwrap();
    sim.client(&from("192.0.2.5"));
    assert_eq!(sim.logs[0].status, 403);
    assert_eq!(sim.logs[0].client.to_string(), "10.0.0.7:40000");
    assert!(sim.socks.is_empty());
}
