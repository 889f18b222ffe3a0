//! Backpressure, aborts, half-closes and idle connections, on the
//! simulator's explicit clock.

mod common;

use common::*;

#[test]
fn a_slow_client_pauses_the_upstream() {
    let mut r = Rig::from_toml(&config(1, "[limits]\nwindow = 1024"), Instant::now()).unwrap();
    r.client(GET);
    let id = r.live_upstream().unwrap();
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
    r.conn.handle_input(
        &mut r.gw,
        r.now,
        Input::Received(Peer::Upstream(id), bytes::Bytes::from_static(head)),
    );
    // Take the outputs without reporting them written.
    let mut held = 0;
    loop {
        match r.conn.poll_output() {
            weir_core::Output::Wait(_) => break,
            weir_core::Output::Send(_, b) => held += b.len(),
            _ => {}
        }
    }
    let budget = r.conn.read_budget(Peer::Upstream(id));
    assert!(budget <= 1024 - held.min(1024), "budget {budget}");
    r.conn.handle_input(
        &mut r.gw,
        r.now,
        Input::Received(Peer::Upstream(id), vec![b'x'; budget].into()),
    );
    while !matches!(r.conn.poll_output(), weir_core::Output::Wait(_)) {}
    assert_eq!(
        r.conn.read_budget(Peer::Upstream(id)),
        0,
        "paused until drained"
    );
    r.conn
        .handle_input(&mut r.gw, r.now, Input::Drained(Peer::Client));
    assert_eq!(r.conn.read_budget(Peer::Upstream(id)), 1024);
}

#[test]
fn a_client_that_leaves_mid_body_aborts_the_upstream() {
    let mut r = rig1();
    r.client(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc");
    r.client_eof();
    assert!(r.client_closed);
    assert!(r.socks[0].closed);
    assert_eq!(r.logs[0].status, 499);
}

#[test]
fn a_truncated_response_body_closes_the_client() {
    let mut r = rig1();
    r.close_after_response = true;
    r.script(9001, &[b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"]);
    r.client(GET);
    assert!(r.client_text().ends_with("abc"));
    assert!(r.client_closed);
    assert_eq!(r.logs[0].note, "upstream closed mid-body");
}

#[test]
fn a_malformed_response_gives_502() {
    for resp in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"[..],
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"SSH-2.0-OpenSSH\r\n\r\n",
    ] {
        let r = run(&config(1, ""), GET, &[resp], usize::MAX);
        assert!(
            r.client_text().starts_with("HTTP/1.1 502 Bad Gateway\r\n"),
            "{}",
            r.client_text()
        );
    }
}

#[test]
fn header_layers_edit_both_ways() {
    let cfg = config(1, "[[middleware]]\nkind = \"headers\"\nrequest_set = { \"X-Env\" = \"prod\" }\nrequest_remove = [\"User-Agent\"]\nresponse_set = { \"X-Via\" = \"weir\" }\nresponse_remove = [\"Server\"]\n");
    let r = run(&cfg, GET, &[OK], usize::MAX);
    assert!(r.upstream_text().contains("X-Env: prod\r\n"));
    assert!(!r.upstream_text().contains("User-Agent"));
    assert_eq!(
        r.client_text(),
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Via: weir\r\n\r\nhello"
    );
}

#[test]
fn a_half_close_after_pipelined_requests_answers_them_all() {
    let mut r = rig1();
    r.script(9001, &[OK, OK, OK]);
    r.split = 1000;
    // Three requests and the EOF reach the core before any answer.
    r.client_pending.extend(GET.iter().chain(GET).chain(GET));
    r.client_eof_pending = true;
    r.drive();
    assert_eq!(r.client_text(), OK_OUT.repeat(3));
    assert!(r.client_closed);
    assert_eq!(r.logs.len(), 3);
}

#[test]
fn an_idle_connection_gives_back_its_buffers_then_closes_on_time() {
    let mut r =
        Rig::from_toml(&config(1, "[timeouts]\nclient_idle = 5000"), Instant::now()).unwrap();
    r.script(9001, &[OK]);
    r.client(GET);
    assert!(!r.conn.is_compact());
    r.advance(Duration::from_millis(100));
    assert!(r.conn.is_compact());
    r.advance(Duration::from_millis(4899));
    assert!(!r.client_closed);
    r.advance(Duration::from_millis(1));
    assert!(r.client_closed);
}
