//! The proxy state machine through its own inputs and outputs, exact
//! bytes in, exact bytes out: forwarding, framing, hop-by-hop rules,
//! upgrades.

mod common;

use common::*;

#[test]
fn a_get_is_forwarded_and_answered_exactly() {
    let r = same_in_every_split(&config(1, ""), GET, OK);
    assert_eq!(r.upstream_text(), GET_UP);
    assert_eq!(r.client_text(), OK_OUT);
    assert_eq!(r.logs.len(), 1);
    let log = &r.logs[0];
    assert_eq!(log.status, 200);
    assert_eq!(&log.method[..], b"GET");
    assert_eq!(&log.target[..], b"/a?b=1");
    assert_eq!(log.upstream, Some(addr(9001)));
    assert_eq!(log.bytes_in, GET.len() as u64);
    assert_eq!(log.bytes_out, OK_OUT.len() as u64);
    assert!(!r.client_closed);
}

#[test]
fn keep_alive_reuses_the_pooled_upstream() {
    let mut r = rig1();
    r.script(9001, &[OK, OK]);
    r.client(GET);
    r.client(GET);
    assert_eq!(r.client_text(), OK_OUT.repeat(2));
    assert_eq!(r.socks.len(), 1, "one upstream connection for both");
    assert!(r.socks[0].reused);
    assert_eq!(r.connects, vec![(addr(9001), true), (addr(9001), true)]);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let reqs: Vec<u8> = (1..=3)
        .flat_map(|i| format!("GET /{i} HTTP/1.1\r\nHost: h\r\n\r\n").into_bytes())
        .collect();
    let resps: Vec<Vec<u8>> = (1..=3)
        .map(|i| format!("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n{i}").into_bytes())
        .collect();
    let resp_refs: Vec<&[u8]> = resps.iter().map(|v| &v[..]).collect();
    for split in [usize::MAX, 1, 7] {
        let r = run(&config(1, ""), &reqs, &resp_refs, split);
        let want: String = (1..=3)
            .map(|i| format!("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n{i}"))
            .collect();
        assert_eq!(r.client_text(), want, "split {split}");
        let targets: Vec<String> = r
            .logs
            .iter()
            .map(|l| String::from_utf8_lossy(&l.target).into())
            .collect();
        assert_eq!(targets, ["/1", "/2", "/3"]);
    }
}

#[test]
fn smuggling_shapes_get_400_and_reach_no_upstream() {
    let cases: &[&[u8]] = &[
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3 3\r\n\r\nabc",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nX: y\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nX: a\rTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
        b"G\x00T / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /a#f HTTP/1.1\r\nHost: a\r\n\r\n",
        // Host is `uri-host [ ":" port ]` (RFC 9110 7.2, RFC 3986 3.2).
        b"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a, a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a:80:80\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\\b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
        b"GET http://a:x/ HTTP/1.1\r\nHost: a\r\n\r\n",
    ];
    for case in cases {
        for split in [usize::MAX, 1] {
            let r = run(&config(1, ""), case, &[OK], split);
            let text = r.client_text();
            assert!(
                text.starts_with("HTTP/1.1 400 Bad Request\r\n")
                    && text.contains("Connection: close\r\n"),
                "{:?} gave {text:?}",
                String::from_utf8_lossy(case)
            );
            assert!(r.client_closed);
            assert!(r.socks.is_empty(), "an upstream was contacted");
            assert_eq!(r.logs.len(), 1);
            assert_eq!(r.logs[0].status, 400);
        }
    }
}

#[test]
fn a_rejected_head_request_gets_no_body() {
    for (req, status) in [
        (&b"HEAD / HTTP/1.1\r\n\r\n"[..], "400"),
        (
            b"\r\nHEAD / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n",
            "400",
        ),
        (b"HEAD / HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n", "400"),
    ] {
        let r = run(&config(1, ""), req, &[OK], usize::MAX);
        let text = r.client_text();
        assert!(text.starts_with(&format!("HTTP/1.1 {status} ")), "{text}");
        assert!(text.ends_with("\r\n\r\n"), "a body after a HEAD: {text:?}");
        assert!(r.client_closed);
    }
    // A GET gets the same answer with its body.
    let r = run(&config(1, ""), b"GET / HTTP/1.1\r\n\r\n", &[OK], usize::MAX);
    assert!(r.client_text().ends_with("\r\n\r\n400 Bad Request\n"));
}

#[test]
fn bad_chunks_after_the_head_close_without_a_complete_request_upstream() {
    for body in [
        &b"5\r\nhello\r\nzz\r\n"[..],
        b"5\nhello\r\n0\r\n\r\n",
        b"5\r\nhello\n0\r\n\r\n",
        b"ffffffffffffffffff\r\n",
        // Outside the chunk-ext grammar (RFC 9112 7.1.1) or a trailer
        // line that is not a field line (7.1.2).
        b"1;a b\r\nx\r\n0\r\n\r\n",
        b"1;\xe9=1\r\nx\r\n0\r\n\r\n",
        b"1;a=\"b\x00\"\r\nx\r\n0\r\n\r\n",
        b"1\r\nx\r\n0\r\nno colon\r\n\r\n",
    ] {
        let mut r = rig1();
        r.script(9001, &[OK]);
        let mut req = b"POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        req.extend_from_slice(body);
        r.client(&req);
        assert!(
            r.client_text().starts_with("HTTP/1.1 400 "),
            "{}",
            r.client_text()
        );
        assert!(r.client_closed);
        assert!(r.socks.iter().all(|s| s.closed), "upstream left open");
        assert!(weir_core::sim::complete_request(&r.socks[0].received).is_none());
    }
}

#[test]
fn chunked_bodies_pass_through_re_framed_with_their_trailers() {
    let req = b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n0\r\n\r\n";
    let resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n";
    let r = same_in_every_split(&config(1, ""), req, resp);
    assert!(r
        .upstream_text()
        .ends_with("Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"));
    assert_eq!(
        r.client_text(),
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n"
    );
}

#[test]
fn an_http10_client_gets_chunked_responses_unchunked_then_close() {
    let req = b"GET / HTTP/1.0\r\n\r\n";
    let resp =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    let r = same_in_every_split(&config(1, ""), req, resp);
    assert_eq!(
        r.client_text(),
        "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nabcde"
    );
    assert!(r.client_closed);
    // HTTP/1.1 upstream needs a Host: the group's first server is named.
    assert!(r.upstream_text().starts_with("GET / HTTP/1.1\r\nX-Forwarded-For: 10.0.0.7\r\nX-Forwarded-Proto: http\r\nHost: 127.0.0.1:9001\r\n\r\n"), "{}", r.upstream_text());
}

#[test]
fn an_http10_keep_alive_client_is_kept() {
    let req = b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    let r = same_in_every_split(&config(1, ""), req, OK);
    assert_eq!(
        r.client_text(),
        "HTTP/1.1 200 OK\r\nServer: s\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello"
    );
    assert!(!r.client_closed);
}

#[test]
fn head_204_and_304_have_no_body() {
    let head = b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n";
    let r = same_in_every_split(
        &config(1, ""),
        head,
        b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n",
    );
    assert_eq!(
        r.client_text(),
        "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"
    );
    assert!(r.socks[0].pooled);
    let r = same_in_every_split(&config(1, ""), GET, b"HTTP/1.1 204 No Content\r\n\r\n");
    assert_eq!(r.client_text(), "HTTP/1.1 204 No Content\r\n\r\n");
    let r = same_in_every_split(
        &config(1, ""),
        GET,
        b"HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n",
    );
    assert_eq!(
        r.client_text(),
        "HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n"
    );
}

#[test]
fn a_response_without_length_is_read_until_close() {
    let mut r = rig1();
    r.close_after_response = true;
    r.script(9001, &[b"HTTP/1.1 200 OK\r\n\r\nstream of bytes"]);
    r.client(GET);
    assert_eq!(
        r.client_text(),
        "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nstream of bytes"
    );
    assert!(r.client_closed);
    assert_eq!(r.logs[0].status, 200);
}

#[test]
fn hop_by_hop_headers_are_stripped_and_forwarded_for_appended() {
    let req = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Drop\r\nX-Drop: 1\r\nKeep-Alive: 5\r\nTE: trailers\r\nTrailer: x\r\nProxy-Connection: x\r\nUpgrade: h2c\r\nHTTP2-Settings: AA\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n";
    let resp = b"HTTP/1.1 200 OK\r\nConnection: close, X-Secret\r\nX-Secret: s\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n\r\n";
    let r = run(&config(1, ""), req, &[resp], usize::MAX);
    assert_eq!(
        r.upstream_text(),
        "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4, 10.0.0.7\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: a\r\n\r\n"
    );
    assert_eq!(
        r.client_text(),
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    );
    // The upstream said close: its connection is not pooled.
    assert!(r.socks[0].closed);
}

#[test]
fn absolute_form_goes_upstream_in_origin_form() {
    let req = b"GET http://example.com/x?y HTTP/1.1\r\nHost: ignored\r\n\r\n";
    let r = run(&config(1, ""), req, &[OK], usize::MAX);
    assert!(r
        .upstream_text()
        .starts_with("GET /x?y HTTP/1.1\r\nHost: example.com\r\n"));
}

#[test]
fn expect_100_continue_is_forwarded_and_the_body_follows() {
    let mut r = rig1();
    r.client(b"PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    assert!(r.upstream_text().contains("Expect: 100-continue\r\n"));
    let id = r.live_upstream().unwrap();
    r.socks[0].pending.extend(b"HTTP/1.1 100 Continue\r\n\r\n");
    r.drive();
    assert_eq!(r.client_text(), "HTTP/1.1 100 Continue\r\n\r\n");
    r.client(b"data");
    assert!(r.upstream_text().ends_with("\r\n\r\ndata"));
    r.input(Input::Received(
        Peer::Upstream(id),
        bytes::Bytes::from_static(OK),
    ));
    assert_eq!(
        r.client_text(),
        format!("HTTP/1.1 100 Continue\r\n\r\n{OK_OUT}")
    );
}

#[test]
fn early_hints_are_forwarded_with_hop_by_hop_removed() {
    let resp = b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\nConnection: X-H\r\nX-H: 1\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let r = same_in_every_split(&config(1, ""), GET, resp);
    assert_eq!(
        r.client_text(),
        "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    );
}

const WS_REQ: &[u8] = b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n";

#[test]
fn websocket_becomes_a_tunnel_only_after_101() {
    let mut r = rig1();
    r.client(WS_REQ);
    assert!(r.upstream_text().ends_with("Sec-WebSocket-Key: k\r\nX-Forwarded-For: 10.0.0.7\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"));
    // Bytes the client sends before the 101 are not forwarded yet.
    r.client(b"early");
    assert!(!r.upstream_text().contains("early"));
    let id = r.live_upstream().unwrap();
    r.input(Input::Received(
        Peer::Upstream(id),
        bytes::Bytes::from_static(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\nfrom-server"),
    ));
    assert_eq!(
        r.client_text(),
        "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nfrom-server"
    );
    assert!(r.upstream_text().ends_with("early"));
    r.client(b"ping");
    assert!(r.upstream_text().ends_with("earlyping"));
    r.input(Input::Closed(Peer::Upstream(id)));
    assert!(r.client_closed);
}

#[test]
fn a_refused_upgrade_stays_http() {
    let mut r = rig1();
    r.script(
        9001,
        &[b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"],
    );
    r.client(WS_REQ);
    assert_eq!(
        r.client_text(),
        "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
    );
    r.script(9001, &[OK]);
    r.client(GET);
    assert!(r.client_text().ends_with(OK_OUT));
}

#[test]
fn h2c_upgrade_is_stripped_and_an_unasked_101_is_refused() {
    let req = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n";
    let r = run(
        &config(1, ""),
        req,
        &[b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"],
        usize::MAX,
    );
    let up = r.upstream_text();
    assert!(
        !up.contains("h2c") && !up.contains("HTTP2-Settings") && !up.contains("Upgrade"),
        "{up}"
    );
    assert!(r.client_text().starts_with("HTTP/1.1 502 "));
}
