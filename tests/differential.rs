//! weir-mio and weir-smol, same traffic, same bytes: every captured client
//! stream (tests/captures/requests) and a few scripted exchanges go through
//! both binaries in front of the same deterministic origin; what reaches
//! the client and what reaches the origin must be identical. (No header
//! weir adds depends on timing; the one rule: the origin's own port,
//! which differs per run, is normalised.)

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use support::recorder::Recorder;
use support::{upstream_section, Weir};

/// Sends `client` on one connection, half-closes, reads to EOF. Returns
/// what the client got and what the origin received. Writing and reading
/// must both succeed: weir drains what a client sends after a response
/// that closes, so neither a reset nor a broken pipe may reach the client.
fn exchange(bin: &str, client: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let origin = Recorder::start();
    let w = Weir::start(
        bin,
        &upstream_section("round-robin", &[(origin.addr, 1)], ""),
    );
    let mut s = TcpStream::connect(w.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut writer = s.try_clone().unwrap();
    let data = client.to_vec();
    let sender = std::thread::spawn(move || {
        writer.write_all(&data)?;
        writer.shutdown(Shutdown::Write)
    });
    let mut got = Vec::new();
    let read = s.read_to_end(&mut got);
    let written = sender.join().unwrap();
    assert!(read.is_ok(), "{bin}: reading the answers failed: {read:?}");
    assert!(written.is_ok(), "{bin}: sending failed: {written:?}");
    drop(w);
    // The origin's port differs per run; weir names it in Host when a
    // request has none (HTTP/1.0), so it is normalised.
    let port = origin.addr.to_string();
    let received = origin
        .received
        .lock()
        .unwrap()
        .iter()
        .map(|c| {
            String::from_utf8_lossy(c)
                .replace(&port, "ORIGIN")
                .into_bytes()
        })
        .collect();
    (got, received)
}

fn captures() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/captures/requests");
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn both_frontends_put_the_same_bytes_on_the_wire() {
    let mut cases = captures();
    // Scripted cases, each with what the client must get and how many
    // requests the origin must see.
    let scripted: [(&str, &[u8], &str, usize); 3] = [
        (
            "bad-framing",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 16\r\nConnection: close\r\n\r\n400 Bad Request\n",
            0,
        ),
        (
            "http10-no-host",
            b"GET /x HTTP/1.0\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\nGET /x 0\n",
            1,
        ),
        (
            "pipelined-then-close",
            b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /4 HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nGET /1 0\n\
             HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nGET /2 0\n\
             HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\nGET /3 0\n",
            3,
        ),
    ];
    for (name, client, _, _) in &scripted {
        cases.push((name.to_string(), client.to_vec()));
    }
    let mut differences = Vec::new();
    for (name, client) in &cases {
        let (mio_client, mio_origin) = exchange("weir-mio", client);
        let (smol_client, smol_origin) = exchange("weir-smol", client);
        assert!(!mio_client.is_empty(), "{name}: no answer at all");
        if name.ends_with(".bin") {
            // Every request of a capture got an answer from the origin.
            let requests = weir_core::sim::wire::split_requests(client).len();
            let answers = String::from_utf8_lossy(&mio_client)
                .matches("HTTP/1.1 200 OK\r\n")
                .count();
            assert_eq!(
                answers, requests,
                "{name}: {answers} answers to {requests} requests"
            );
        }
        if let Some((_, _, want, requests)) = scripted.iter().find(|c| c.0 == name) {
            assert_eq!(String::from_utf8_lossy(&mio_client), *want, "{name}");
            let seen = String::from_utf8_lossy(&mio_origin.concat())
                .matches(" HTTP/1.1\r\n")
                .count();
            assert_eq!(seen, *requests, "{name}: requests at the origin");
        }
        if mio_client != smol_client {
            differences.push(format!(
                "{name}: client bytes differ\n mio:  {:?}\n smol: {:?}",
                String::from_utf8_lossy(&mio_client),
                String::from_utf8_lossy(&smol_client)
            ));
        }
        if mio_origin != smol_origin {
            differences.push(format!("{name}: origin bytes differ"));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}
