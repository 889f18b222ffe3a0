//! Calls out of the core on the simulator, through the forward-auth
//! layer: the exchange parks on `Output::Call`, resumes on
//! `Input::Reply` in order, expires at its deadline, and a reply for an
//! exchange that is gone is dropped.

use std::time::{Duration, Instant};

use bytes::Bytes;
use weir_core::call::{Protocol, Reply};
use weir_core::sim::{addr, Sim};
use weir_core::{Input, Peer};

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

fn gateway(extra: &str) -> Sim {
    let cfg = format!(
        r#"listen = "127.0.0.1:8080"
[[upstream]]
name = "app"
servers = [{{ addr = "127.0.0.1:9001" }}]
[[middleware]]
name = "sso"
kind = "forward-auth"
url = "http://127.0.0.1:9100/check"
copy_response_headers = ["X-User"]
timeout = 500
{extra}
[[route]]
upstream = "app"
middleware = ["sso"]
"#
    );
    Sim::from_toml(&cfg, Instant::now()).unwrap()
}

fn auth_ok(user: &str) -> Reply {
    Reply::Done(Bytes::from(format!(
        "HTTP/1.1 200 OK\r\nX-User: {user}\r\nContent-Length: 0\r\n\r\n"
    )))
}

const DENIED: &[u8] =
    b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nwho are you\n";

#[test]
fn the_service_is_asked_with_the_original_request_and_a_2xx_lets_it_on() {
    let mut sim = gateway("");
    sim.script(9001, &[OK]);
    sim.client(b"GET /orders?id=3 HTTP/1.1\r\nHost: shop\r\nAuthorization: Bearer t0k\r\nX-User: admin\r\n\r\n");
    // Parked: nothing upstream yet, one call out.
    assert!(sim.socks.is_empty());
    assert_eq!(sim.calls.len(), 1);
    let (id, call) = sim.calls[0].clone();
    assert_eq!(call.addr, addr(9100));
    assert_eq!(call.protocol, Protocol::Http);
    assert!(!call.reuse);
    assert_eq!(
        String::from_utf8_lossy(&call.request),
        "GET /check HTTP/1.1\r\nHost: 127.0.0.1:9100\r\nX-Forwarded-Method: GET\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: shop\r\nX-Forwarded-Uri: /orders?id=3\r\nX-Forwarded-For: 10.0.0.7\r\nAuthorization: Bearer t0k\r\nConnection: close\r\n\r\n",
        "the client's own X-User is gone before the service is asked"
    );
    sim.reply(id, auth_ok("ada"));
    let up = sim.upstream_text();
    assert!(up.contains("\r\nX-User: ada\r\n"), "{up}");
    assert!(!up.contains("admin"), "{up}");
    assert!(sim.client_text().ends_with("\r\n\r\nok"));
    assert_eq!(sim.logs[0].status, 200);
}

#[test]
fn a_refusal_is_relayed_with_its_fields_and_body_and_the_connection_stays() {
    let mut sim = gateway("");
    sim.script_calls(addr(9100), [Reply::Done(Bytes::from_static(DENIED))]);
    sim.client(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
    let text = sim.client_text();
    assert!(text.starts_with("HTTP/1.1 401 Unauthorized\r\n"), "{text}");
    assert!(text.contains("WWW-Authenticate: Bearer\r\n"), "{text}");
    assert!(
        text.ends_with("Content-Length: 12\r\n\r\nwho are you\n"),
        "{text}"
    );
    assert!(sim.socks.is_empty() && !sim.client_closed);
    assert_eq!(sim.logs[0].answered_by, "forward-auth");
}

#[test]
fn no_answer_by_the_deadline_is_the_configured_error_and_a_late_reply_is_dropped() {
    let mut sim = gateway("on_error = 503");
    sim.client(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
    sim.advance(Duration::from_millis(499));
    assert!(sim.client_out.is_empty());
    sim.advance(Duration::from_millis(1));
    assert!(sim.client_text().starts_with("HTTP/1.1 503 "));
    let id = sim.calls[0].0;
    let before = sim.client_out.len();
    sim.reply(id, auth_ok("late"));
    assert_eq!(sim.client_out.len(), before, "a late reply changes nothing");
    assert!(sim.socks.is_empty());
    // A failed call (refused) answers at once.
    let mut sim = gateway("");
    sim.script_calls(addr(9100), [Reply::Failed("connection refused")]);
    sim.client(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(sim.client_text().starts_with("HTTP/1.1 500 "));
}

#[test]
fn a_reply_for_an_exchange_the_client_left_is_dropped() {
    let mut sim = gateway("");
    sim.client(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
    let id = sim.calls[0].0;
    sim.input(Input::Failed(Peer::Client));
    assert!(sim.client_closed);
    sim.reply(id, auth_ok("ada"));
    assert!(sim.socks.is_empty(), "nothing goes upstream");
    assert_eq!(sim.logs.len(), 1);
}

#[test]
fn pipelined_requests_park_and_resume_in_order() {
    let mut sim = gateway("");
    sim.script(
        9001,
        &[
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2",
        ],
    );
    sim.client(b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(sim.calls.len(), 1, "the second waits behind the first");
    sim.reply(sim.calls[0].0, auth_ok("a"));
    assert_eq!(sim.calls.len(), 2);
    assert!(sim.calls[1]
        .1
        .request
        .windows(17)
        .any(|w| w == b"X-Forwarded-Uri: "));
    assert!(String::from_utf8_lossy(&sim.calls[1].1.request).contains("X-Forwarded-Uri: /2\r\n"));
    sim.reply(sim.calls[1].0, auth_ok("b"));
    let text = sim.client_text();
    let first = text.find("\r\n\r\n1").unwrap();
    let second = text.find("\r\n\r\n2").unwrap();
    assert!(first < second, "{text}");
    let up = sim.upstream_text();
    assert!(up.find("GET /1").unwrap() < up.find("GET /2").unwrap());
    assert!(up.contains("X-User: a\r\n") && up.contains("X-User: b\r\n"));
}

#[test]
fn a_request_body_waits_for_the_verdict() {
    let mut sim = gateway("");
    sim.script(9001, &[OK]);
    sim.client(b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n01234");
    // Parked longer than the body timeout would allow: no 408.
    sim.advance(Duration::from_millis(400));
    assert!(sim.socks.is_empty() && sim.client_out.is_empty());
    sim.reply(sim.calls[0].0, auth_ok("a"));
    sim.client(b"56789");
    let up = sim.upstream_text();
    assert!(up.ends_with("\r\n\r\n0123456789"), "{up}");
    assert!(sim.client_text().ends_with("ok"));
    // Refused: the body is read and dropped, the connection stays.
    let mut sim = gateway("");
    sim.script_calls(addr(9100), [Reply::Done(Bytes::from_static(DENIED))]);
    sim.script(9001, &[OK]);
    sim.client(b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc");
    assert!(sim.client_text().starts_with("HTTP/1.1 401"));
    assert!(!sim.client_closed && sim.socks.is_empty());
}

#[test]
fn answers_are_cached_by_key_for_their_ttl() {
    let mut sim = gateway("cache_ttl = 1000\ncache_key = [\"header:Authorization\"]");
    sim.script(9001, &[OK, OK, OK]);
    sim.script_calls(addr(9100), [auth_ok("ada"), auth_ok("ada2")]);
    let req = b"GET /x HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer 1\r\n\r\n";
    sim.client(req);
    sim.advance(Duration::from_millis(999));
    sim.client(req);
    assert_eq!(sim.calls.len(), 1, "the second is answered from the cache");
    sim.advance(Duration::from_millis(1));
    sim.client(req);
    assert_eq!(sim.calls.len(), 2, "expired: asked again");
    let up = sim.upstream_text();
    assert_eq!(up.matches("X-User: ada\r\n").count(), 2, "{up}");
    assert_eq!(up.matches("X-User: ada2\r\n").count(), 1, "{up}");
}

fn shared_limit(extra: &str) -> Sim {
    let cfg = format!(
        r#"listen = "127.0.0.1:8080"
[redis]
url = "redis://127.0.0.1:6379/2"
timeout = 50
[[upstream]]
name = "app"
servers = [{{ addr = "127.0.0.1:9001" }}]
[[middleware]]
kind = "rate-limit"
name = "shared"
key = ["route"]
rate = 10
burst = 2
store = "redis"
{extra}
[[route]]
upstream = "app"
middleware = ["shared"]
"#
    );
    Sim::from_toml(&cfg, Instant::now()).unwrap()
}

#[test]
fn an_exact_redis_limit_asks_redis_per_request_and_uses_its_verdict() {
    let mut sim = shared_limit("mode = \"exact\"");
    sim.script(9001, &[OK]);
    sim.script_calls(
        addr(6379),
        [
            // SELECT 2's +OK, then Redis does not know the script yet...
            Reply::Done(Bytes::from_static(
                b"+OK\r\n-NOSCRIPT No matching script. Please use EVAL.\r\n",
            )),
            // ... so it is sent once with its text: {1, TAT - now}.
            Reply::Done(Bytes::from_static(b"+OK\r\n*2\r\n:1\r\n:100000\r\n")),
            // The next request: by SHA-1 again, refused for 2.3 s.
            Reply::Done(Bytes::from_static(b"+OK\r\n*2\r\n:0\r\n:2300000\r\n")),
        ],
    );
    sim.client(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(sim.calls.len(), 2);
    let (_, call) = &sim.calls[0];
    assert_eq!(call.protocol, Protocol::Resp { replies: 2 });
    assert!(call.reuse);
    let text = String::from_utf8_lossy(&call.request).into_owned();
    assert!(
        text.starts_with("*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n*7\r\n$7\r\nEVALSHA\r\n$40\r\n"),
        "{text}"
    );
    assert!(text.contains("weir:rl:shared:"), "{text}");
    assert!(
        text.ends_with("$6\r\n100000\r\n$6\r\n100000\r\n$1\r\n0\r\n"),
        "{text}"
    );
    let text = String::from_utf8_lossy(&sim.calls[1].1.request).into_owned();
    assert!(text.contains("*7\r\n$4\r\nEVAL\r\n"), "{text}");
    let t = sim.client_text();
    assert!(t.contains("RateLimit: \"shared\";r=1;t=1\r\n"), "{t}");
    sim.client(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(sim.calls.len(), 3);
    assert!(String::from_utf8_lossy(&sim.calls[2].1.request).contains("EVALSHA"));
    let text = sim.client_text();
    assert!(
        text.contains("HTTP/1.1 429 Too Many Requests\r\n"),
        "{text}"
    );
    assert!(text.contains("Retry-After: 3\r\n"), "{text}");
}

#[test]
fn redis_down_or_slow_follows_on_store_error_and_is_noted() {
    for (setting, status, note) in [
        ("", 200, "rate-limit store unavailable: allowed"),
        (
            "on_store_error = \"deny\"",
            503,
            "rate-limit store unavailable: denied",
        ),
    ] {
        let mut sim = shared_limit(setting);
        sim.script(9001, &[OK]);
        sim.script_calls(addr(6379), [Reply::Failed("connection refused")]);
        sim.client(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(sim.logs[0].status, status, "{setting}");
        assert_eq!(sim.logs[0].note, note);
        // Slow: the deadline (50 ms) decides the same way.
        let mut sim = shared_limit(setting);
        sim.script(9001, &[OK]);
        sim.client(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
        sim.advance(Duration::from_millis(50));
        assert_eq!(sim.logs[0].status, status, "{setting}");
        assert_eq!(sim.gw.metrics.store_errors, 1);
    }
}

#[test]
fn a_local_first_limit_decides_locally_and_syncs_its_counts() {
    let mut sim = shared_limit("mode = \"local-first\"\nsync_ms = 100");
    sim.script(9001, &[OK, OK, OK]);
    sim.client(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
    sim.client(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(sim.calls.is_empty(), "no call on the request path");
    assert_eq!(sim.logs.iter().filter(|l| l.status == 200).count(), 2);
    let plan = sim.gw.plan().clone();
    let limit = plan.config.middleware[0].layer.synced().unwrap();
    assert_eq!(limit.sync_every(), Some(Duration::from_millis(100)));
    let (call, pushed) = limit.push().unwrap();
    assert_eq!(pushed.len(), 1);
    assert_eq!(pushed[0].1, 2, "two admissions to share");
    assert!(String::from_utf8_lossy(&call.request).ends_with("$1\r\n2\r\n"));
    assert!(limit.push().is_none(), "nothing new since");
    // The others used the key up to 5 s ahead: refused here too.
    limit.pulled(
        pushed,
        &Reply::Done(Bytes::from_static(b"+OK\r\n*2\r\n:1\r\n:5000000\r\n")),
        sim.now,
    );
    sim.client(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(sim.logs[2].status, 429);
}

#[test]
fn parked_exchanges_of_many_connections_each_resume_with_their_own_reply() {
    let text = r#"listen = "127.0.0.1:8080"
[[upstream]]
name = "app"
servers = [{ addr = "127.0.0.1:9001" }]
[[middleware]]
kind = "forward-auth"
url = "http://127.0.0.1:9100/check"
copy_response_headers = ["X-User"]
"#;
    let mut world = weir_core::sim::World::from_toml(text, 3, Instant::now()).unwrap();
    for i in 0..3 {
        world.script(i, 9001, &[OK]);
        world.client(
            i,
            format!("GET /{i} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes(),
        );
        assert_eq!(world.clients[i].calls.len(), 1, "client {i} parked");
        assert!(world.clients[i].socks.is_empty());
    }
    // Replies come back in the reverse order.
    for i in (0..3).rev() {
        let id = world.clients[i].calls[0].0;
        world.on(i, |s| s.reply(id, auth_ok(&format!("user{i}"))));
        for j in 0..3 {
            let answered = !world.clients[j].client_out.is_empty();
            assert_eq!(answered, j >= i, "client {j} after the reply to {i}");
        }
    }
    for i in 0..3 {
        let up = world.clients[i].upstream_text();
        assert!(up.starts_with(&format!("GET /{i} ")), "{up}");
        assert!(up.contains(&format!("X-User: user{i}\r\n")), "{up}");
        assert_eq!(up.matches("X-User").count(), 1, "{up}");
    }
}
