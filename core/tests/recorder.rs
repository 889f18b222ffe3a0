//! The flight recorder in the core: a connection's bytes, both ways, go
//! to its worker's ring when the client side closes, and replay gives
//! the same bytes back.

use std::time::{Duration, Instant};

use weir_core::recorder::Direction;

use weir_core::sim::transcript::replay;
use weir_core::sim::{config, Sim};
use weir_core::Config;

const REQS: &[u8] = b"GET /a HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer abc\r\n\r\nPOST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyz";
const R1: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
const R2: &[u8] =
    b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";

fn cfg() -> String {
    config(1, "[recorder]\nconnections = 2\nmax_bytes = 4096\n")
}

#[test]
fn a_closed_connection_is_kept_whole_and_replays_to_the_same_bytes() {
    let mut sim = Sim::from_toml(&cfg(), Instant::now()).unwrap();
    sim.split = 5;
    sim.script(9001, &[R1, R2]);
    sim.client(REQS);
    sim.client_eof();
    assert!(sim.client_closed);
    let ring = sim.gw.recordings().expect("recorder on");
    let ring = ring.lock().unwrap();
    let kept: Vec<_> = ring.recordings().cloned().collect();
    assert_eq!(kept.len(), 1);
    let r = &kept[0];
    assert_eq!(r.from_client, REQS);
    assert_eq!(r.to_client, sim.client_out);
    assert_eq!(r.from_upstream, [R1, R2].concat());
    assert!(!r.truncated);
    // Replayed offline, the recording gives the client the same bytes.
    let again = replay(
        Config::from_toml(&cfg()).unwrap(),
        Instant::now(),
        &r.from_client,
        &r.from_upstream,
        usize::MAX,
    );
    assert_eq!(again.client_out, r.to_client);
}

#[test]
fn the_ring_keeps_the_last_connections_only_and_nothing_without_the_section() {
    let mut sim = Sim::from_toml(&cfg(), Instant::now()).unwrap();
    for i in 0..3 {
        sim.fresh_connection(sim.now);
        sim.script(9001, &[R1]);
        sim.client(format!("GET /{i} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").as_bytes());
        assert!(sim.client_closed);
    }
    let ring = sim.gw.recordings().unwrap();
    let ring = ring.lock().unwrap();
    let firsts: Vec<String> = ring
        .recordings()
        .map(|r| String::from_utf8_lossy(&r.from_client[..6]).into_owned())
        .collect();
    assert_eq!(firsts, ["GET /1", "GET /2"]);
    let plain = Sim::from_toml(&config(1, ""), Instant::now()).unwrap();
    assert!(plain.gw.recordings().is_none());
}

#[test]
fn recorder_settings_are_validated() {
    let errs = Config::from_toml(&config(
        1,
        "[recorder]\nconnections = 0\nmax_bytes = -1\nredact = [\"bad name\"]\n",
    ))
    .unwrap_err();
    let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "recorder.connections",
            "recorder.max_bytes",
            "recorder.redact"
        ]
    );
}

#[test]
fn each_direction_is_capped_and_every_piece_has_its_time() {
    let cfg = config(1, "[recorder]\nconnections = 2\nmax_bytes = 30\n");
    let mut sim = Sim::from_toml(&cfg, Instant::now()).unwrap();
    sim.script(9001, &[R1]);
    sim.client(b"GET /a HTTP/1.1\r\n");
    sim.advance(Duration::from_millis(5));
    sim.client(b"Host: h\r\nConnection: close\r\n\r\n");
    assert!(sim.client_closed);
    let ring = sim.gw.recordings().unwrap();
    let ring = ring.lock().unwrap();
    let r = ring.recordings().next().expect("one recording");
    assert_eq!(r.from_client, b"GET /a HTTP/1.1\r\nHost: h\r\nConn");
    assert_eq!(r.to_client, &sim.client_out[..30]);
    assert!(r.truncated);
    let from_client: Vec<_> = r
        .pieces
        .iter()
        .filter(|p| p.1 == Direction::FromClient)
        .collect();
    assert_eq!(
        from_client,
        [
            &(0, Direction::FromClient, 17),
            &(5, Direction::FromClient, 30)
        ]
    );
    // The rest of the pieces came at 5 ms, each counted whole.
    assert!(r.pieces.iter().skip(2).all(|p| p.0 == 5));
    let to_client: u32 = r
        .pieces
        .iter()
        .filter(|p| p.1 == Direction::ToClient)
        .map(|p| p.2)
        .sum();
    assert_eq!(to_client as usize, sim.client_out.len());
    assert_eq!(r.lasted, Duration::from_millis(5));
}
