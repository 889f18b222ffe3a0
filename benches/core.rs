//! Criterion benches of the core: one proxied keep-alive GET/200 round
//! trip, and a 1 MiB chunked response body, both through `Connection`'s
//! own inputs and outputs (no sockets).

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use weir_core::sim::{as_read, drain_pooled};
use weir_core::{Config, Connection, Gateway, Input, Peer};

const REQUEST: &[u8] =
    b"GET /index.html HTTP/1.1\r\nHost: bench.example\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n";
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nhello world\n";

fn gateway() -> Gateway {
    let cfg = Config::from_toml(
        "listen = \"127.0.0.1:8080\"\n[[upstream]]\nname = \"app\"\nservers = [{ addr = \"127.0.0.1:9001\" }, { addr = \"127.0.0.1:9002\" }]\n",
    )
    .unwrap();
    Gateway::new(Arc::new(cfg), 1)
}

fn round_trip(c: &mut Criterion) {
    let mut gw = gateway();
    let now = Instant::now();
    let mut conn = Connection::new(&gw, "10.0.0.1:1234".parse().unwrap(), now);
    let req = as_read(REQUEST);
    let resp = as_read(RESPONSE);
    let mut up = None;
    c.bench_function("core/keep-alive GET 200 round trip", |b| {
        b.iter(|| weir_core::sim::round_trip(&mut conn, &mut gw, now, &req, &resp, &mut up))
    });
}

/// A 1 MiB chunked body as a frontend would read it: 64 KiB reads.
fn chunked_mib() -> Vec<Bytes> {
    let mut wire = BytesMut::new();
    for _ in 0..64 {
        wire.extend_from_slice(b"4000\r\n");
        wire.extend_from_slice(&[b'x'; 0x4000]);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    let mut wire = wire.freeze();
    let mut reads = Vec::new();
    while !wire.is_empty() {
        reads.push(wire.split_to(wire.len().min(64 * 1024)));
    }
    reads
}

fn chunked_body(c: &mut Criterion) {
    let mut gw = gateway();
    let now = Instant::now();
    let mut conn = Connection::new(&gw, "10.0.0.1:1234".parse().unwrap(), now);
    let req = as_read(REQUEST);
    let head = as_read(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    let reads = chunked_mib();
    let total: usize = reads.iter().map(|b| b.len()).sum();
    let mut up = None;
    let mut group = c.benchmark_group("core");
    group.throughput(Throughput::Bytes(total as u64));
    group.bench_function("1 MiB chunked response body", |b| {
        b.iter(|| {
            conn.handle_input(&mut gw, now, Input::Received(Peer::Client, req.clone()));
            drain_pooled(&mut conn, &mut gw, now, &mut up);
            let id = up.expect("connected");
            conn.handle_input(
                &mut gw,
                now,
                Input::Received(Peer::Upstream(id), head.clone()),
            );
            drain_pooled(&mut conn, &mut gw, now, &mut up);
            for r in &reads {
                conn.handle_input(&mut gw, now, Input::Received(Peer::Upstream(id), r.clone()));
                drain_pooled(&mut conn, &mut gw, now, &mut up);
            }
        })
    });
    group.finish();
}

criterion_group!(benches, round_trip, chunked_body);
criterion_main!(benches);
