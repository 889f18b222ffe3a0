//! One test per promise the README makes that no other test pins, on the
//! simulator's virtual clock: the timeouts table, the field limit,
//! CONNECT, the retry rule and the fixed consistent-hash function.

use std::time::{Duration, Instant};

use weir_core::sim::{addr, config, Sim};
use weir_core::{Input, Peer};

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

fn sim(extra: &str, servers: u16) -> Sim {
    Sim::from_toml(&config(servers, extra), Instant::now()).unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `client_body`: the longest gap between request body bytes -> 408.
#[test]
fn client_body_gap_gives_408_at_the_deadline() {
    let mut s = sim("[timeouts]\nclient_body = 1000", 1);
    s.client(b"POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello");
    s.advance(ms(999));
    s.client(b"wor");
    // The gap counts from the last byte, not from the head.
    s.advance(ms(999));
    assert!(s.client_out.is_empty());
    s.advance(ms(1));
    assert!(
        s.client_text()
            .starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{}",
        s.client_text()
    );
    assert!(s.client_closed);
    assert!(
        s.socks[0].closed,
        "the half-sent request is not left upstream"
    );
    assert_eq!(s.logs[0].status, 408);
}

/// `upstream_idle`: the longest gap between response body bytes -> close.
#[test]
fn upstream_idle_gap_closes_both_sides() {
    let mut s = sim("[timeouts]\nupstream_idle = 2000", 1);
    s.script(
        9001,
        &[b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"],
    );
    s.client(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(s.client_text().ends_with("hello"));
    s.advance(ms(1999));
    assert!(!s.client_closed && !s.socks[0].closed);
    s.advance(ms(1));
    // Headers were sent: the client can only learn by the close.
    assert!(s.client_closed && s.socks[0].closed);
    assert!(s.client_text().ends_with("hello"));
}

/// `tunnel_idle`: an upgraded tunnel with no bytes either way -> close.
#[test]
fn tunnel_idle_closes_a_silent_tunnel() {
    let mut s = sim("[timeouts]\ntunnel_idle = 5000", 1);
    s.script(
        9001,
        &[b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"],
    );
    s.client(b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
    assert!(s.client_text().starts_with("HTTP/1.1 101 "));
    s.advance(ms(4000));
    // Bytes either way restart the clock.
    s.client(b"ping");
    assert!(s.upstream_text().ends_with("ping"));
    s.advance(ms(4999));
    assert!(!s.client_closed);
    s.advance(ms(1));
    assert!(s.client_closed && s.socks[0].closed);
}

/// `upstream_connect`: a server that does not answer the connect is left
/// for the next; with none left, 502.
#[test]
fn connect_timeout_moves_on_then_gives_502() {
    let mut s = sim("[timeouts]\nupstream_connect = 100", 2);
    s.blackhole.extend([addr(9001), addr(9002)]);
    s.client(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    s.advance(ms(99));
    assert_eq!(s.connects.len(), 1);
    s.advance(ms(1));
    assert_eq!(s.connects.len(), 2, "the second server is tried");
    assert!(s.client_out.is_empty());
    s.advance(ms(100));
    assert!(s.client_text().starts_with("HTTP/1.1 502 Bad Gateway\r\n"));
    assert_eq!(s.logs[0].tries, 2);
}

/// "more than 96 header fields -> 431": 96 pass, 97 do not.
#[test]
fn ninety_seven_fields_give_431() {
    let head = |n: usize| {
        let mut h = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for i in 1..n {
            h.extend_from_slice(format!("X-F{i}: v\r\n").as_bytes());
        }
        h.extend_from_slice(b"\r\n");
        h
    };
    let mut s = sim("", 1);
    s.script(9001, &[OK]);
    s.client(&head(96));
    assert!(s.client_text().starts_with("HTTP/1.1 200 OK\r\n"));
    let mut s = sim("", 1);
    s.client(&head(97));
    assert!(
        s.client_text()
            .starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{}",
        s.client_text()
    );
    assert!(s.socks.is_empty());
}

/// CONNECT is answered 405 and closes; nothing behind it is forwarded.
#[test]
fn connect_gives_405_and_nothing_behind_it_is_forwarded() {
    let mut s = sim("", 1);
    s.script(9001, &[OK]);
    s.client(b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(
        s.client_text()
            .starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
        "{}",
        s.client_text()
    );
    assert!(s.client_text().contains("\r\nAllow: GET, HEAD, POST"));
    assert!(s.client_closed);
    assert!(s.socks.is_empty(), "an upstream was contacted");
}

/// The retry rule as the README states it: a request that never reached
/// a server (connect refused or timed out) goes to the next one whatever
/// its method; once bytes were sent, only idempotent requests without a
/// body are sent again.
#[test]
fn a_post_that_reached_no_server_goes_to_the_next() {
    let mut s = sim("", 2);
    s.refuse.push(addr(9001));
    s.script(9002, &[OK]);
    s.client(b"POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi");
    assert!(s.client_text().starts_with("HTTP/1.1 200 OK\r\n"));
    assert_eq!(s.logs[0].tries, 2);
    assert!(s.socks[1].received.ends_with(b"\r\n\r\nhi"));
}

#[test]
fn a_post_that_reached_a_server_is_never_sent_again() {
    let mut s = sim("", 2);
    s.client(b"POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi");
    let id = s.live_upstream().unwrap();
    s.input(Input::Closed(Peer::Upstream(id)));
    assert!(s.client_text().starts_with("HTTP/1.1 502 Bad Gateway\r\n"));
    assert_eq!(s.socks.len(), 1, "sent to a second server");
    // Without a body too: POST is not idempotent.
    let mut s = sim("", 2);
    s.client(b"POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
    let id = s.live_upstream().unwrap();
    s.input(Input::Closed(Peer::Upstream(id)));
    assert!(s.client_text().starts_with("HTTP/1.1 502 Bad Gateway\r\n"));
    assert_eq!(s.socks.len(), 1, "a bodyless POST was sent again");
    // A GET in the same spot goes to the other server.
    let mut s = sim("", 2);
    s.script(9002, &[OK]);
    s.client(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let id = s.live_upstream().unwrap();
    s.input(Input::Closed(Peer::Upstream(id)));
    assert!(s.client_text().starts_with("HTTP/1.1 200 OK\r\n"));
    assert_eq!(s.socks.len(), 2);
}

/// "FNV-1a + SplitMix64, fixed forever": the published FNV-1a 64 test
/// vectors, the hash of a few keys, and where keys land on a ring of
/// three servers. A change here moves users' keys: never bless it.
#[test]
fn the_consistent_hash_function_is_pinned() {
    use weir_core::rng::{fnv1a, hash};
    assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    assert_eq!(hash(b""), 0xf52a_15e9_a9b5_e89b);
    assert_eq!(hash(b"user-42"), 0x7a15_96f0_e94b_5793);
    assert_eq!(hash(b"10.0.0.1:8080#0"), 0x5e71_d853_6458_55d8);
    let toml = config(3, "").replace(
        "name = \"app\"",
        "name = \"app\"\nbalancer = \"consistent-hash\"\nhash_key = \"header:X-User\"",
    );
    let mut s = Sim::from_toml(&toml, Instant::now()).unwrap();
    let mut landed = Vec::new();
    for user in 1..=8 {
        s.script_addr(addr(9001), [OK.to_vec()]);
        s.script_addr(addr(9002), [OK.to_vec()]);
        s.script_addr(addr(9003), [OK.to_vec()]);
        s.client(format!("GET / HTTP/1.1\r\nHost: a\r\nX-User: user-{user}\r\n\r\n").as_bytes());
        landed.push(s.logs.last().unwrap().upstream.unwrap().port() - 9000);
    }
    assert_eq!(landed, PINNED_RING);
}

/// Where `X-User: user-1` .. `user-8` land among 127.0.0.1:9001..9003.
const PINNED_RING: [u16; 8] = [1, 3, 1, 2, 1, 3, 3, 2];

/// Graceful stop: an exchange in flight is left to finish; when the grace
/// period is over the frontend cuts it, and it still gets its record.
#[test]
fn a_cut_exchange_is_logged_with_status_0_and_a_note() {
    let mut s = sim("", 1);
    s.client(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(s.conn.shutdown(), "an exchange is in flight");
    assert!(!s.client_closed);
    let now = s.now;
    assert!(s.conn.cut(&mut s.gw, now));
    s.drive();
    assert!(s.client_closed && s.socks[0].closed);
    assert_eq!(s.logs.len(), 1);
    assert_eq!(
        (s.logs[0].status, s.logs[0].note),
        (0, "cut: grace period over")
    );
    assert!(s.client_out.is_empty());
    // Between requests, shutdown closes at once and there is nothing to cut.
    let mut s = sim("", 1);
    s.script(9001, &[OK]);
    s.client(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(!s.conn.shutdown());
    let now = s.now;
    assert!(!s.conn.cut(&mut s.gw, now));
}

/// Routing decides on the normalised path, and the upstream receives that
/// same path: `/public/../admin` cannot reach another route's upstream.
#[test]
fn routing_and_the_upstream_see_the_normalised_path() {
    let toml = "listen = \"127.0.0.1:8080\"
[[upstream]]
name = \"public\"
servers = [{ addr = \"127.0.0.1:9001\" }]
[[upstream]]
name = \"admin\"
servers = [{ addr = \"127.0.0.1:9002\" }]
[[route]]
path_prefix = \"/admin/\"
upstream = \"admin\"
[[route]]
upstream = \"public\"
";
    for (target, port, path) in [
        ("/public/../admin/x?a=..", 9002, "/admin/x?a=.."),
        ("//admin//x", 9002, "/admin/x"),
        ("/%61dmin/x", 9002, "/admin/x"),
        ("/admin%2Fx", 9001, "/admin%2Fx"),
        ("/a/./b/../c", 9001, "/a/c"),
    ] {
        let mut s = Sim::from_toml(toml, Instant::now()).unwrap();
        s.script(9001, &[OK]);
        s.script(9002, &[OK]);
        s.client(format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
        assert_eq!(s.logs[0].upstream, Some(addr(port)), "{target}");
        assert!(
            s.upstream_text()
                .starts_with(&format!("GET {path} HTTP/1.1\r\n")),
            "{target}: {}",
            s.upstream_text()
        );
        // The access log keeps what the client sent.
        assert_eq!(&s.logs[0].target[..], target.as_bytes());
    }
    for refused in ["/..", "/a/../../b", "/%zz", "/%2e%2e/etc/passwd"] {
        let mut s = Sim::from_toml(toml, Instant::now()).unwrap();
        s.client(format!("GET {refused} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
        assert!(
            s.client_text().starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{refused}"
        );
        assert!(s.socks.is_empty());
    }
}
