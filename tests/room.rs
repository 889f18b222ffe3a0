//! Room at max_connections, both binaries: a gateway full of idle
//! keep-alive or silent connections closes the least worth one and serves
//! a new client at once (instead of leaving it in the kernel's backlog
//! until some connection times out); busy connections are never closed.

mod support;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{client::Client, upstream::Origin, Weir};

fn full_gateway(bin: &str, o: &Origin) -> Weir {
    let config = format!(
        "workers = 1\n[limits]\nmax_connections = 20\n[timeouts]\nclient_idle = 30000\nclient_header = 30000\n[[upstream]]\nname = \"app\"\nservers = [{{ addr = \"{}\" }}]\n",
        o.addr
    );
    Weir::start_with(bin, &config, &[])
}

fn served_at_once(w: &Weir) -> Duration {
    let started = Instant::now();
    let mut c = Client::connect(w.addr);
    c.send(b"GET /name HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.read();
    assert_eq!((r.status, r.text()), (200, "a".to_owned()));
    started.elapsed()
}

fn a_full_gateway_closes_idle_connections_for_a_new_client(bin: &str) {
    let o = Origin::start("a");
    let w = full_gateway(bin, &o);
    // 20 keep-alive connections, each answered once and now idle.
    let mut idle = Vec::new();
    for _ in 0..20 {
        let mut c = Client::connect(w.addr);
        c.send(b"GET /name HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(c.read().status, 200);
        idle.push(c);
    }
    for _ in 0..5 {
        let took = served_at_once(&w);
        assert!(took < Duration::from_secs(2), "waited {took:?}");
    }
    w.wait_stderr("max_connections reached", Duration::from_secs(5));
    // The oldest idle ones went first: the first connection is closed.
    idle[0].send(b"GET /name HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(
        idle[0].try_read().is_err(),
        "the oldest idle connection was closed"
    );
    drop(idle);
}

fn a_full_gateway_closes_silent_connections_for_a_new_client(bin: &str) {
    let o = Origin::start("a");
    let w = full_gateway(bin, &o);
    // 20 connections that send nothing (a slowloris that has not begun).
    let silent: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(w.addr).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..3 {
        let took = served_at_once(&w);
        assert!(took < Duration::from_secs(2), "waited {took:?}");
    }
    drop(silent);
}

each_frontend!(
    a_full_gateway_closes_idle_connections_for_a_new_client,
    a_full_gateway_closes_silent_connections_for_a_new_client,
);
