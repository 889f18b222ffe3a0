//! Limits, timeouts, dead or refusing servers, retries and routing
//! faults, on the simulator's explicit clock.

mod common;

use common::*;

#[test]
fn head_limits_give_431_and_502() {
    let cfg = config(
        1,
        "[limits]\nmax_request_head = 100\nmax_response_head = 100",
    );
    let big = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
        "a".repeat(200)
    );
    let r = run(&cfg, big.as_bytes(), &[OK], usize::MAX);
    assert!(r
        .client_text()
        .starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    assert!(r.client_closed && r.socks.is_empty());
    let big_resp = format!("HTTP/1.1 200 OK\r\nX: {}\r\n\r\n", "a".repeat(200));
    let r = run(&cfg, GET, &[big_resp.as_bytes()], 1);
    assert!(
        r.client_text().starts_with("HTTP/1.1 502 Bad Gateway\r\n"),
        "{}",
        r.client_text()
    );
    assert!(r.socks[0].closed);
}

#[test]
fn body_limit_gives_413() {
    let cfg = config(1, "[limits]\nmax_request_body = 4");
    let r = run(
        &cfg,
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
        &[OK],
        usize::MAX,
    );
    assert!(r.client_text().starts_with("HTTP/1.1 413 "));
    assert!(r.socks.is_empty());
    let r = run(
        &cfg,
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        &[OK],
        usize::MAX,
    );
    assert!(
        r.client_text().starts_with("HTTP/1.1 413 "),
        "{}",
        r.client_text()
    );
    assert!(r.client_closed);
    assert!(weir_core::sim::complete_request(&r.socks[0].received).is_none());
}

#[test]
fn a_close_lingers_only_while_the_client_may_still_send() {
    // Refused at the head with its body unread: more bytes may come.
    let cfg = config(1, "[limits]\nmax_request_body = 4");
    let r = run(
        &cfg,
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhel",
        &[OK],
        usize::MAX,
    );
    assert!(r.client_closed && r.conn.client_may_send(), "unread body");
    // A complete request asking for close: nothing more will come.
    let r = run(
        &config(1, ""),
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        &[OK],
        usize::MAX,
    );
    assert!(r.client_text().starts_with("HTTP/1.1 200 "));
    assert!(
        r.client_closed && !r.conn.client_may_send(),
        "complete request"
    );
    // A bad request with bytes after it: they are unread.
    let r = run(
        &config(1, ""),
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        &[OK],
        usize::MAX,
    );
    assert!(r.client_text().starts_with("HTTP/1.1 400 "));
    assert!(r.client_closed && r.conn.client_may_send(), "after a 400");
}

#[test]
fn bytes_that_cannot_start_a_request_get_400_at_once() {
    // A TLS ClientHello's first bytes, binary, JSON: no wait for a head.
    for garbage in [
        &b"\x16\x03\x01\x00\xa5\x01\x00"[..],
        b"\x00\x01",
        b"{\"a\": 1}",
    ] {
        let mut r = rig1();
        r.client(garbage);
        assert!(
            r.client_text().starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{garbage:?}: {}",
            r.client_text()
        );
        assert!(r.client_closed && r.socks.is_empty());
        assert_eq!(r.logs[0].note, "not an HTTP request");
        // The log shows what arrived.
        assert_eq!(r.logs[0].bytes_in, garbage.len() as u64);
        assert!(!r.logs[0].target.is_empty());
    }
    let r = run(&config(1, ""), b"\x16\x03\x01", &[OK], usize::MAX);
    assert_eq!(&r.logs[0].target[..], br"\x16\x03\x01");
    // A method arriving a byte at a time is not mistaken for garbage.
    let r = run(&config(1, ""), GET, &[OK], 1);
    assert_eq!(r.client_text(), OK_OUT);
}

#[test]
fn a_slow_head_gets_408_at_the_deadline() {
    let mut r = Rig::from_toml(
        &config(1, "[timeouts]\nclient_header = 1000"),
        Instant::now(),
    )
    .unwrap();
    r.client(b"GET / HTTP/1.1\r\nHo");
    r.advance(Duration::from_millis(999));
    assert!(r.client_out.is_empty());
    r.advance(Duration::from_millis(1));
    assert!(r
        .client_text()
        .starts_with("HTTP/1.1 408 Request Timeout\r\n"));
    assert!(r.client_closed);
}

#[test]
fn a_silent_or_idle_client_is_closed_quietly() {
    let mut r = Rig::from_toml(
        &config(1, "[timeouts]\nclient_header = 1000\nclient_idle = 5000"),
        Instant::now(),
    )
    .unwrap();
    r.advance(Duration::from_millis(1000));
    assert!(r.client_closed && r.client_out.is_empty());
    let mut r =
        Rig::from_toml(&config(1, "[timeouts]\nclient_idle = 5000"), Instant::now()).unwrap();
    r.script(9001, &[OK]);
    r.client(GET);
    r.advance(Duration::from_millis(4999));
    assert!(!r.client_closed);
    r.advance(Duration::from_millis(1));
    assert!(r.client_closed);
    assert_eq!(r.client_text(), OK_OUT);
}

#[test]
fn upstream_response_timeout_gives_504() {
    let mut r = Rig::from_toml(
        &config(1, "[timeouts]\nupstream_response = 2000"),
        Instant::now(),
    )
    .unwrap();
    r.client(GET);
    r.advance(Duration::from_millis(2000));
    assert!(r
        .client_text()
        .starts_with("HTTP/1.1 504 Gateway Timeout\r\n"));
    assert!(!r.client_closed, "the client stream is still trusted");
    assert!(r.socks[0].closed);
    assert_eq!(r.logs[0].status, 504);
}

#[test]
fn a_refused_server_is_skipped_and_the_next_one_answers() {
    let mut r = Rig::from_toml(&config(2, ""), Instant::now()).unwrap();
    r.refuse.push(addr(9001));
    r.script(9002, &[OK]);
    r.client(GET);
    assert_eq!(r.client_text(), OK_OUT);
    assert_eq!(r.logs[0].tries, 2);
    assert_eq!(r.logs[0].upstream, Some(addr(9002)));
}

#[test]
fn every_server_refusing_gives_502() {
    let mut r = Rig::from_toml(&config(2, ""), Instant::now()).unwrap();
    r.refuse.extend([addr(9001), addr(9002)]);
    r.client(GET);
    assert!(r.client_text().starts_with("HTTP/1.1 502 Bad Gateway\r\n"));
    assert_eq!(r.connects.len(), 2);
}

#[test]
fn connect_timeout_moves_on() {
    let mut r = Rig::from_toml(
        &config(2, "[timeouts]\nupstream_connect = 100"),
        Instant::now(),
    )
    .unwrap();
    r.blackhole.push(addr(9001));
    r.script(9002, &[OK]);
    r.client(GET);
    assert!(r.client_out.is_empty());
    r.advance(Duration::from_millis(100));
    assert_eq!(r.client_text(), OK_OUT);
}

#[test]
fn a_reset_get_is_retried_but_a_post_is_not() {
    // GET: the first server resets after receiving the request.
    let mut r = Rig::from_toml(&config(2, ""), Instant::now()).unwrap();
    r.script(9002, &[OK]);
    r.client(GET);
    let first = r.live_upstream().unwrap();
    r.input(Input::Failed(Peer::Upstream(first)));
    assert_eq!(r.client_text(), OK_OUT);
    // POST: never replayed once sent.
    let mut r = Rig::from_toml(&config(2, ""), Instant::now()).unwrap();
    r.script(9002, &[OK]);
    r.client(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi");
    let first = r.live_upstream().unwrap();
    r.input(Input::Failed(Peer::Upstream(first)));
    assert!(r.client_text().starts_with("HTTP/1.1 502 "));
    assert_eq!(r.connects.len(), 1);
}

#[test]
fn the_pooled_connection_race_is_retried_once_on_a_fresh_connection() {
    let mut r = rig1();
    r.script(9001, &[OK]);
    r.client(GET);
    // The pooled connection dies as it is reused.
    r.client(GET);
    let reused = r.live_upstream().unwrap();
    r.script(9001, &[OK]);
    r.input(Input::Closed(Peer::Upstream(reused)));
    assert_eq!(r.client_text(), OK_OUT.repeat(2));
    assert_eq!(r.connects.last(), Some(&(addr(9001), false)));
}

#[test]
fn no_route_gives_404_and_no_server_503() {
    let cfg = "listen = \"127.0.0.1:1\"\n[[upstream]]\nname = \"a\"\nservers = [{ addr = \"127.0.0.1:9001\" }]\nmax_fails = 1\nfail_open = false\n[[route]]\npath_prefix = \"/api/\"\nupstream = \"a\"\n";
    let r = run(cfg, GET, &[OK], usize::MAX);
    assert!(r.client_text().starts_with("HTTP/1.1 404 Not Found\r\n"));
    assert!(!r.client_closed);
    let mut r = Rig::from_toml(cfg, Instant::now()).unwrap();
    r.refuse.push(addr(9001));
    r.client(b"GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(r.client_text().starts_with("HTTP/1.1 502 "));
    r.client_out.clear();
    r.client(b"GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(
        r.client_text()
            .starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{}",
        r.client_text()
    );
}

#[test]
fn strip_prefix_and_host_rewrite() {
    let cfg = "listen = \"127.0.0.1:1\"\n[[upstream]]\nname = \"a\"\nservers = [{ addr = \"127.0.0.1:9001\" }]\n[[route]]\npath_prefix = \"/api/\"\nupstream = \"a\"\nstrip_prefix = true\nhost_rewrite = \"internal\"\n";
    let r = run(
        cfg,
        b"GET /api/users?q=1 HTTP/1.1\r\nHost: pub\r\n\r\n",
        &[OK],
        usize::MAX,
    );
    assert!(
        r.upstream_text()
            .starts_with("GET /users?q=1 HTTP/1.1\r\nHost: internal\r\n"),
        "{}",
        r.upstream_text()
    );
    assert!(r.upstream_text().contains("X-Forwarded-Host: pub\r\n"));
}
