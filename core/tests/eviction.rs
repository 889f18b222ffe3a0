//! Room at max_connections: what a connection is worth closing, and
//! closing it.

use std::time::{Duration, Instant};

use weir_core::proxy::Worth;
use weir_core::sim::{config, Sim};

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

#[test]
fn idle_then_silent_connections_can_be_closed_for_room_never_busy_ones() {
    let epoch = Instant::now();
    let mut sim = Sim::from_toml(&config(1, ""), epoch).unwrap();
    assert_eq!(sim.conn.worth(), (Worth::Silent, epoch), "nothing sent yet");
    sim.advance(Duration::from_millis(5));
    sim.client(b"GET / HTTP/1.1\r\nHo");
    assert_eq!(sim.conn.worth().0, Worth::Silent, "part of a head");
    sim.client(b"st: h\r\n\r\n");
    assert_eq!(sim.conn.worth().0, Worth::Busy, "waiting for the upstream");
    assert!(!sim.conn.evict(&mut sim.gw));
    assert!(!sim.client_closed);
    sim.advance(Duration::from_millis(10));
    sim.script(9001, &[OK]);
    sim.drive();
    assert!(sim.client_text().ends_with("ok"));
    let (worth, since) = sim.conn.worth();
    assert_eq!(
        (worth, since),
        (Worth::Idle, epoch + Duration::from_millis(15))
    );
    assert!(Worth::Idle < Worth::Silent && Worth::Silent < Worth::Busy);
    assert!(sim.conn.evict(&mut sim.gw));
    sim.drive();
    assert!(sim.client_closed, "closed without an answer");
    assert_eq!(sim.client_text().matches("HTTP/1.1").count(), 1);
    assert_eq!(sim.gw.metrics.connections_evicted, 1);
}
