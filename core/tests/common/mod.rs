//! Helpers shared by the simulator tests of the proxy (`proxy.rs`,
//! `faults.rs`, `flow.rs`).

#![allow(dead_code, unused_imports)]

pub use std::time::{Duration, Instant};

pub use weir_core::sim::{addr, config, Sim as Rig};
pub use weir_core::{Input, Peer};

pub const GET: &[u8] = b"GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n";
pub const GET_UP: &str = "GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\nX-Forwarded-For: 10.0.0.7\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: example.com\r\n\r\n";
pub const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: s\r\n\r\nhello";
pub const OK_OUT: &str = "HTTP/1.1 200 OK\r\nServer: s\r\nContent-Length: 5\r\n\r\nhello";

pub fn rig1() -> Rig {
    Rig::from_toml(&config(1, ""), Instant::now()).unwrap()
}

/// Runs one scripted exchange with peers delivering `split` bytes at a time.
pub fn run(cfg: &str, client: &[u8], responses: &[&[u8]], split: usize) -> Rig {
    let mut r = Rig::from_toml(cfg, Instant::now()).unwrap();
    r.split = split;
    r.script(9001, responses);
    r.client(client);
    r
}

/// The h11-style check: whole, byte by byte, and pipelined behind itself,
/// the same exchange gives the same bytes on both sides.
pub fn same_in_every_split(cfg: &str, client: &[u8], response: &[u8]) -> Rig {
    let whole = run(cfg, client, &[response], usize::MAX);
    let bytewise = run(cfg, client, &[response], 1);
    assert_eq!(whole.client_text(), bytewise.client_text(), "byte by byte");
    assert_eq!(
        whole.upstream_text(),
        bytewise.upstream_text(),
        "byte by byte"
    );
    if !whole.client_closed {
        let twice = [client, client].concat();
        let piped = run(cfg, &twice, &[response, response], usize::MAX);
        assert_eq!(
            piped.client_text(),
            whole.client_text().repeat(2),
            "pipelined"
        );
        assert_eq!(
            piped.upstream_text(),
            whole.upstream_text().repeat(2),
            "pipelined"
        );
        let piped1 = run(cfg, &twice, &[response, response], 1);
        assert_eq!(
            piped1.client_text(),
            whole.client_text().repeat(2),
            "pipelined bytewise"
        );
    }
    whole
}
