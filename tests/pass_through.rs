//! End-to-end: long bodies of known length, which weir-mio splices from
//! one socket to the other (pass-through: responses from the upstream to
//! the client, request bodies from the client to the upstream) and
//! weir-smol moves through the core: the same bytes, the same keep-alive,
//! backpressure from a slow reader, and a body cut short.

mod support;

use std::io::Read;
use std::time::Duration;

use support::client::Client;
use support::upstream::pattern;

const TEN_MIB: usize = 10 << 20;

/// Two 10 MiB bodies on one keep-alive connection arrive byte for byte,
/// over one upstream connection, and the access log counts every byte.
fn long_bodies_arrive_exactly_over_one_upstream(bin: &str) {
    let (o, w, log) = support::logged_gateway(bin, "pass-exact", "");
    let mut c = Client::connect(w.addr);
    let data = pattern(TEN_MIB);
    for _ in 0..2 {
        c.send(format!("GET /sized?n={TEN_MIB} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        let r = c.read();
        assert_eq!(r.status, 200);
        assert!(r.body == data, "the body differs ({} bytes)", r.body.len());
    }
    c.send(b"GET /name HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read().text(), "a");
    assert_eq!(
        o.accepted(),
        1,
        "one upstream connection for three requests"
    );
    let text = support::wait_for_log(&log, "three log lines", |t| t.lines().count() == 3);
    let first = text.lines().next().map(str::to_owned).unwrap_or_default();
    let fields: Vec<&str> = first.split(' ').collect();
    // time, client, "GET, /sized...", status, upstream, in, out
    assert_eq!(fields[4], "200", "{first}");
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {TEN_MIB}\r\n\r\n").len();
    let out: usize = fields[7].parse().unwrap_or(0);
    assert!(
        out > TEN_MIB + head / 2 && out < TEN_MIB + 1024,
        "bytes out {out} in {first}"
    );
}

/// A client that reads slowly through a small receive buffer still gets
/// every byte in order (the splice waits for it, and what its socket did
/// not take is queued), and the connection goes on.
fn a_slow_reader_gets_every_byte(bin: &str) {
    let (_o, w, _log) = support::logged_gateway(bin, "pass-slow", "");
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&w.addr.into()).unwrap();
    let stream: std::net::TcpStream = sock.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let n = 2 << 20;
    let mut c = Client {
        w: stream.try_clone().unwrap(),
        r: std::io::BufReader::with_capacity(1, stream),
    };
    c.send(format!("GET /sized?n={n} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
    // The head, read byte by byte up to its end.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        c.r.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    let mut body = Vec::with_capacity(n);
    let mut piece = vec![0u8; 16 * 1024];
    while body.len() < n {
        let want = piece.len().min(n - body.len());
        let got = c.r.read(&mut piece[..want]).unwrap();
        assert!(got > 0, "closed after {} bytes", body.len());
        body.extend_from_slice(&piece[..got]);
        if body.len() % (256 * 1024) < got {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    assert!(body == pattern(n), "the body differs");
    c.send(b"GET /name HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read().text(), "a");
}

/// An upstream that closes before its announced length: the client gets
/// what was sent, then a close (its head is out), and the log says so.
fn a_body_cut_short_closes_the_client(bin: &str) {
    let (_o, w, log) = support::logged_gateway(bin, "pass-cut", "");
    let mut c = Client::connect(w.addr);
    let (n, at) = (1 << 20, 300_000);
    c.send(format!("GET /cut?n={n}&at={at} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
    let mut all = Vec::new();
    let _ = c.r.read_to_end(&mut all);
    let end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4;
    assert!(
        all[end..] == pattern(at)[..],
        "{} body bytes",
        all.len() - end
    );
    support::wait_for_log(&log, "a log line", |t| {
        t.contains("upstream closed mid-body")
    });
}

/// Two 6 MiB uploads, each with a request pipelined right behind its
/// body, reach the server byte for byte (a pass takes nothing beyond its
/// body: the request behind it is answered), and the log counts every
/// byte.
fn long_uploads_arrive_exactly_with_requests_behind_them(bin: &str) {
    let (_o, w, log) = support::logged_gateway(bin, "pass-upload", "");
    let mut c = Client::connect(w.addr);
    let n = 6 << 20;
    let data = pattern(n);
    for _ in 0..2 {
        let mut req =
            format!("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {n}\r\n\r\n").into_bytes();
        req.extend_from_slice(&data);
        req.extend_from_slice(b"GET /name HTTP/1.1\r\nHost: t\r\n\r\n");
        c.send(&req);
        let r = c.read();
        assert_eq!(r.status, 200);
        assert!(r.body == data, "the echo differs ({} bytes)", r.body.len());
        assert_eq!(c.read().text(), "a");
    }
    let text = support::wait_for_log(&log, "four log lines", |t| t.lines().count() == 4);
    let first = text.lines().next().map(str::to_owned).unwrap_or_default();
    let fields: Vec<&str> = first.split(' ').collect();
    let head = format!("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {n}\r\n\r\n").len();
    assert_eq!(fields[6], (n + head).to_string(), "bytes in, in {first}");
}

/// Chunked both ways with long chunks (weir-mio splices each chunk's data
/// once its size line is read): a 3 MiB upload in chunks of 1 MiB, 5
/// bytes and the rest, with an extension and a trailer, echoed in chunks
/// of 700 000 bytes, then a GET on the same connection; every byte
/// arrives, and the framing the server and the client see is re-framed.
fn long_chunks_arrive_exactly_both_ways(bin: &str) {
    let (_o, w, _log) = support::logged_gateway(bin, "pass-chunks", "");
    let mut c = Client::connect(w.addr);
    let n = 3 << 20;
    let data = pattern(n);
    let mut req =
        b"POST /echo?chunk=700000 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    let (a, b) = (1 << 20, (1 << 20) + 5);
    req.extend_from_slice(format!("{a:x};ext=1\r\n").as_bytes());
    req.extend_from_slice(&data[..a]);
    req.extend_from_slice(format!("\r\n{:x}\r\n", b - a).as_bytes());
    req.extend_from_slice(&data[a..b]);
    req.extend_from_slice(format!("\r\n{:x}\r\n", n - b).as_bytes());
    req.extend_from_slice(&data[b..]);
    req.extend_from_slice(b"\r\n0\r\nX-Sum: 1\r\n\r\n");
    c.send(&req);
    let r = c.read();
    assert_eq!(r.status, 200);
    assert!(r.body == data, "the echo differs ({} bytes)", r.body.len());
    c.send(b"GET /big?n=2000000&chunk=900000 HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.read();
    assert!(
        r.body == pattern(2_000_000),
        "the body differs ({} bytes)",
        r.body.len()
    );
    c.send(b"GET /name HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read().text(), "a");
}

each_frontend!(
    long_chunks_arrive_exactly_both_ways,
    long_bodies_arrive_exactly_over_one_upstream,
    long_uploads_arrive_exactly_with_requests_behind_them,
    a_slow_reader_gets_every_byte,
    a_body_cut_short_closes_the_client,
);
