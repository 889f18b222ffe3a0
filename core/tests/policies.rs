//! Policies through the proxy on the simulator: the client as
//! `[client_ip]` resolves it, and the layers keyed on it.

use std::time::Instant;

use weir_core::sim::Sim;

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// The simulated client is 10.0.0.7; `trusted` decides whether its
/// `X-Forwarded-For` is believed.
fn office(trusted: &str) -> String {
    format!(
        r#"listen = "127.0.0.1:8080"
[client_ip]
trusted_proxies = ["{trusted}"]
source = "x-forwarded-for"
[[upstream]]
name = "app"
servers = [{{ addr = "127.0.0.1:9001" }}]
[[middleware]]
name = "office"
kind = "ip-access"
allow = ["192.0.2.0/24"]
deny = ["192.0.2.66/32"]
[[route]]
upstream = "app"
middleware = ["office"]
"#
    )
}

fn from(xff: &str) -> Vec<u8> {
    format!("GET /x HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: {xff}\r\n\r\n").into_bytes()
}

/// The resolved client is what access lists and logs see; the appended
/// `X-Forwarded-For` entry is the hop the request came from (the trusted
/// proxy), so the list stays a record of the hops.
#[test]
fn the_resolved_client_is_what_access_lists_and_logs_see_and_xff_appends_the_hop() {
    let mut sim = Sim::from_toml(&office("10.0.0.0/8"), Instant::now()).unwrap();
    sim.script(9001, &[OK]);
    // The spoofed leftmost entry is skipped: the client is 192.0.2.5.
    sim.client(&from("6.6.6.6, 192.0.2.5"));
    assert!(sim.client_text().starts_with("HTTP/1.1 200 OK\r\n"));
    assert_eq!(sim.logs[0].client.to_string(), "192.0.2.5:40000");
    assert!(
        sim.upstream_text()
            .contains("X-Forwarded-For: 6.6.6.6, 192.0.2.5, 10.0.0.7\r\n"),
        "{}",
        sim.upstream_text()
    );
    // Denied, from the same keep-alive connection: 403, connection kept.
    sim.client(&from("192.0.2.66"));
    assert!(sim.client_text().ends_with(
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\n403 Forbidden\n"
    ));
    assert!(!sim.client_closed);
    assert_eq!(sim.logs[1].client.to_string(), "192.0.2.66:40000");
    // Spoofing the header alone gets nowhere: the leftmost entry of an
    // allowed address, behind a hop that is not in the allow list.
    sim.client(&from("192.0.2.5, 203.0.113.1"));
    assert_eq!(sim.logs[2].status, 403);
}

#[test]
fn an_untrusted_peer_is_the_client_whatever_it_writes() {
    let mut sim = Sim::from_toml(&office("192.168.0.0/16"), Instant::now()).unwrap();
    sim.client(&from("192.0.2.5"));
    assert_eq!(sim.logs[0].status, 403);
    assert_eq!(sim.logs[0].client.to_string(), "10.0.0.7:40000");
    assert!(sim.socks.is_empty());
}

const CORS: &str = r#"listen = "127.0.0.1:8080"
[[upstream]]
name = "app"
servers = [{ addr = "127.0.0.1:9001" }]
[[middleware]]
name = "web"
kind = "cors"
allow_origins = ["https://app.example.com", "https://*.example.org"]
allow_methods = ["GET", "POST"]
allow_headers = ["Content-Type", "X-Token"]
expose_headers = ["X-Request-Id"]
allow_credentials = true
max_age = 300
[[route]]
upstream = "app"
middleware = ["web"]
"#;

fn preflight(origin: &str, method: &str, headers: &str) -> Vec<u8> {
    format!(
        "OPTIONS /api HTTP/1.1\r\nHost: h\r\nOrigin: {origin}\r\nAccess-Control-Request-Method: {method}\r\nAccess-Control-Request-Headers: {headers}\r\n\r\n"
    )
    .into_bytes()
}

const VARY_PREFLIGHT: &str =
    "Vary: Origin, Access-Control-Request-Method, Access-Control-Request-Headers\r\n";

#[test]
fn cors_preflights_are_answered_here_and_only_allowed_ones_succeed() {
    let mut sim = Sim::from_toml(CORS, Instant::now()).unwrap();
    sim.client(&preflight(
        "https://app.example.com",
        "POST",
        "content-type, x-token",
    ));
    assert_eq!(
        sim.client_text(),
        format!(
            "HTTP/1.1 204 No Content\r\nAccess-Control-Allow-Origin: https://app.example.com\r\nAccess-Control-Allow-Methods: GET, POST\r\nAccess-Control-Allow-Headers: content-type, x-token\r\nAccess-Control-Allow-Credentials: true\r\nAccess-Control-Max-Age: 300\r\n{VARY_PREFLIGHT}\r\n"
        )
    );
    let refused = [
        preflight("https://evil.example.com", "GET", ""), // origin not allowed
        preflight("https://a.b.example.org", "GET", ""),  // two labels under the wildcard
        preflight("https://app.example.com", "DELETE", ""), // method
        preflight("https://app.example.com", "GET", "x-other"), // header
    ];
    for (i, p) in refused.iter().enumerate() {
        sim.client(p);
        assert_eq!(sim.logs[i + 1].status, 403, "{i}");
    }
    let out = sim.client_text();
    let last = &out[out.rfind("HTTP/1.1 ").unwrap()..];
    assert_eq!(
        last,
        format!("HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n{VARY_PREFLIGHT}Content-Length: 14\r\n\r\n403 Forbidden\n")
    );
    assert!(!out.contains("Access-Control-Allow-Origin: https://evil"));
    sim.client(&preflight("https://x.example.org", "GET", ""));
    assert_eq!(sim.logs[5].status, 204);
    // No preflight reached the upstream; the connection is still open.
    assert!(sim.socks.is_empty() && !sim.client_closed);
}

#[test]
fn cors_responses_carry_the_policy_and_always_vary_on_origin() {
    let mut sim = Sim::from_toml(CORS, Instant::now()).unwrap();
    let upstream =
        b"HTTP/1.1 200 OK\r\nAccess-Control-Allow-Origin: *\r\nContent-Length: 2\r\n\r\nok";
    sim.script(9001, &[upstream, upstream]);
    sim.client(b"GET /api HTTP/1.1\r\nHost: h\r\nOrigin: https://app.example.com\r\n\r\n");
    assert_eq!(
        sim.client_text(),
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nVary: Origin\r\nAccess-Control-Allow-Origin: https://app.example.com\r\nAccess-Control-Allow-Credentials: true\r\nAccess-Control-Expose-Headers: X-Request-Id\r\n\r\nok"
    );
    let before = sim.client_out.len();
    sim.client(b"GET /api HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(
        &sim.client_text()[before..],
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nVary: Origin\r\n\r\nok",
        "no Origin: no CORS fields, but Vary"
    );
}

fn rid_config(extra: &str) -> String {
    format!(
        "listen = \"127.0.0.1:8080\"\n[[upstream]]\nname = \"app\"\nservers = [{{ addr = \"127.0.0.1:9001\" }}]\n[[middleware]]\nkind = \"request-id\"\n{extra}\n"
    )
}

/// The id's line in `text` (its value).
fn id_in(text: &str) -> &str {
    let at = text.find("X-Request-Id: ").expect("an id") + "X-Request-Id: ".len();
    &text[at..at + text[at..].find("\r\n").unwrap()]
}

#[test]
fn request_ids_are_made_sent_both_ways_and_logged() {
    let mut sim = Sim::from_toml(&rid_config(""), Instant::now()).unwrap();
    sim.script(9001, &[OK, OK]);
    sim.client(b"GET /1 HTTP/1.1\r\nHost: h\r\nX-Request-Id: mine\r\n\r\n");
    let up = sim.upstream_text();
    let id = id_in(&up).to_owned();
    // A UUIDv7 whose first 48 bits are the time of day in milliseconds.
    assert_eq!(id.len(), 36);
    assert_eq!(&id[14..15], "7", "{id}");
    let millis = u64::from_str_radix(&id[..8], 16).unwrap() << 16
        | u64::from_str_radix(&id[9..13], 16).unwrap();
    assert_eq!(millis, weir_core::sim::WALL_AT_EPOCH.as_millis() as u64);
    assert_eq!(
        up.matches("X-Request-Id").count(),
        1,
        "the client's own id is replaced"
    );
    assert_eq!(id_in(&sim.client_text()), id);
    assert_eq!(&sim.logs[0].request_id[..], id.as_bytes());
    // Another request, another id.
    sim.client(b"GET /2 HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_ne!(&sim.logs[1].request_id[..], id.as_bytes());
    // Same seed, same ids: a replay gives them again.
    let mut again = Sim::from_toml(&rid_config(""), Instant::now()).unwrap();
    again.script(9001, &[OK]);
    again.client(b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(again.logs[0].request_id, sim.logs[0].request_id);
}

#[test]
fn a_well_formed_incoming_id_is_kept_when_trusted() {
    let mut sim = Sim::from_toml(
        &rid_config("trust_incoming = true\nformat = \"uuid4\""),
        Instant::now(),
    )
    .unwrap();
    sim.script(9001, &[OK, OK]);
    sim.client(b"GET /1 HTTP/1.1\r\nHost: h\r\nX-Request-Id: abc-123\r\n\r\n");
    assert_eq!(id_in(&sim.upstream_text()), "abc-123");
    assert_eq!(&sim.logs[0].request_id[..], b"abc-123");
    // Not well formed: replaced by a fresh (version 4) id.
    sim.client(b"GET /2 HTTP/1.1\r\nHost: h\r\nX-Request-Id: a b\r\n\r\n");
    let id = String::from_utf8(sim.logs[1].request_id.to_vec()).unwrap();
    assert_eq!((id.len(), &id[14..15]), (36, "4"), "{id}");
}

fn limited(burst: u32, extra: &str) -> String {
    format!(
        r#"listen = "127.0.0.1:8080"
[[upstream]]
name = "app"
servers = [{{ addr = "127.0.0.1:9001" }}]
[[middleware]]
name = "limit"
kind = "rate-limit"
key = ["client-ip"]
rate = 10
per = 1000
burst = {burst}
[[route]]
name = "all"
upstream = "app"
middleware = ["limit"]
{extra}"#
    )
}

/// The last response the client got.
fn last(sim: &Sim) -> String {
    let text = sim.client_text();
    text[text.rfind("HTTP/1.1 ").unwrap()..].to_owned()
}

#[test]
fn ten_per_second_with_burst_five_admits_exactly_the_gcra_sequence() {
    use std::time::Duration;
    let mut sim = Sim::from_toml(&limited(5, ""), Instant::now()).unwrap();
    sim.script(9001, &[OK; 64]);
    let get = weir_core::sim::get("/x");
    // Five at once, each saying how many are left.
    for left in (0..5).rev() {
        sim.client(&get);
        let r = last(&sim);
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(
            r.contains("RateLimit-Policy: \"limit\";q=10;w=1\r\n"),
            "{r}"
        );
        assert!(
            r.contains(&format!("RateLimit: \"limit\";r={left};t=")),
            "{r}"
        );
    }
    // The sixth: 429, retry after 100 ms (1 s: whole seconds, at least 1).
    sim.client(&get);
    assert_eq!(
        last(&sim),
        "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/problem+json\r\nRetry-After: 1\r\nRateLimit-Policy: \"limit\";q=10;w=1\r\nRateLimit: \"limit\";r=0;t=1\r\nContent-Length: 115\r\n\r\n{\"type\":\"https://iana.org/assignments/http-problem-types#quota-exceeded\",\"title\":\"Too Many Requests\",\"status\":429}\n"
    );
    assert!(!sim.client_closed);
    // Then one every 100 ms: over the next 3 s, a request every 50 ms is
    // admitted every other time.
    let mut pattern = String::new();
    for _ in 0..60 {
        sim.advance(Duration::from_millis(50));
        let before = sim.logs.len();
        sim.client(&get);
        pattern.push(if sim.logs[before].status == 200 {
            'a'
        } else {
            'r'
        });
    }
    assert_eq!(pattern, "ra".repeat(30));
    assert_eq!(sim.logs.iter().filter(|l| l.status == 200).count(), 5 + 30);
}

#[test]
fn a_reload_that_keeps_the_limit_keeps_its_counts_and_a_changed_one_starts_over() {
    let mut sim = Sim::from_toml(&limited(2, ""), Instant::now()).unwrap();
    sim.script(9001, &[OK; 8]);
    let get = weir_core::sim::get("/x");
    for _ in 0..3 {
        sim.client(&get);
    }
    assert_eq!(sim.logs[2].status, 429);
    // Only a route changes: the limit's state carries over.
    sim.reload(&limited(2, "priority = 1\n")).unwrap();
    sim.client(&get);
    assert_eq!(sim.logs[3].status, 429);
    // The limit itself changes: a fresh store.
    sim.reload(&limited(3, "")).unwrap();
    sim.client(&get);
    assert_eq!(sim.logs[4].status, 200);
}

const ONE_AT_A_TIME: &str = r#"listen = "127.0.0.1:8080"
[[upstream]]
name = "app"
servers = [{ addr = "127.0.0.1:9001" }]
max_fails = 0
[[middleware]]
name = "one"
kind = "concurrency"
key = ["client-ip"]
max = 1
[[route]]
upstream = "app"
middleware = ["one"]
"#;

/// Connection 0 holds the one slot with a request in flight; connection
/// 1 is refused until connection 0's exchange ends, whichever way:
/// answered, reset by its client, or failed upstream.
#[test]
fn a_concurrency_slot_is_given_back_however_the_exchange_ends() {
    use weir_core::sim::{addr, get, World};
    use weir_core::{Input, Peer};
    let status = |w: &World, c: usize| w.clients[c].logs.last().map(|l| l.status);
    // Answered.
    let mut w = World::from_toml(ONE_AT_A_TIME, 2, Instant::now()).unwrap();
    w.client(0, &get("/slow"));
    w.client(1, &get("/x"));
    assert_eq!(status(&w, 1), Some(429));
    assert!(!w.clients[1].client_closed);
    w.script(0, 9001, &[OK]);
    assert_eq!(status(&w, 0), Some(200));
    w.script(1, 9001, &[OK]);
    w.client(1, &get("/x"));
    assert_eq!(status(&w, 1), Some(200));
    // Reset by its client.
    let mut w = World::from_toml(ONE_AT_A_TIME, 2, Instant::now()).unwrap();
    w.client(0, &get("/slow"));
    w.on(0, |s| s.input(Input::Failed(Peer::Client)));
    w.script(1, 9001, &[OK]);
    w.client(1, &get("/x"));
    assert_eq!(status(&w, 1), Some(200));
    // Failed upstream (refused: 502).
    let mut w = World::from_toml(ONE_AT_A_TIME, 2, Instant::now()).unwrap();
    w.clients[0].refuse.push(addr(9001));
    w.client(0, &get("/x"));
    assert_eq!(status(&w, 0), Some(502));
    w.script(1, 9001, &[OK]);
    w.client(1, &get("/x"));
    assert_eq!(status(&w, 1), Some(200));
}

const MOVED: &str = r#"listen = "127.0.0.1:8080"
[[upstream]]
name = "app"
servers = [{ addr = "127.0.0.1:9001" }]
[[middleware]]
kind = "redirect"
match = "^/old/(?P<rest>.*)$"
to = "https://{host}/new/${rest}{?query}"
status = 308
[[middleware]]
name = "v1"
kind = "rewrite"
match = "^/api/v1/(.*)$"
replace = "/v1/$1"
[[route]]
upstream = "app"
middleware = ["v1"]
"#;

#[test]
fn redirects_take_captures_and_rewrites_change_the_path_upstream() {
    let mut sim = Sim::from_toml(MOVED, Instant::now()).unwrap();
    sim.script(9001, &[OK, OK]);
    sim.client(b"GET /old/a/b.html?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert_eq!(
        sim.client_text(),
        "HTTP/1.1 308 Permanent Redirect\r\nContent-Type: text/plain\r\nLocation: https://example.com/new/a/b.html?x=1\r\nContent-Length: 23\r\n\r\n308 Permanent Redirect\n"
    );
    // Not matching: on to the route, whose rewrite changes the path (and
    // keeps the query); the result is normalised like a client's path.
    sim.client(b"GET /api/v1/users/./7?full HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert!(
        sim.upstream_text()
            .starts_with("GET /v1/users/7?full HTTP/1.1\r\n"),
        "{}",
        sim.upstream_text()
    );
    sim.client(b"GET /other HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert!(sim.upstream_text().contains("GET /other HTTP/1.1\r\n"));
    assert_eq!(
        sim.logs.iter().map(|l| l.status).collect::<Vec<_>>(),
        [308, 200, 200]
    );
}

#[test]
fn a_rewrite_that_climbs_above_the_root_is_refused() {
    let cfg = MOVED.replace("replace = \"/v1/$1\"", "replace = \"/v1/../../$1\"");
    let mut sim = Sim::from_toml(&cfg, Instant::now()).unwrap();
    sim.client(b"GET /api/v1/x HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(sim.logs[0].status, 500);
    assert!(sim.socks.is_empty());
}

#[test]
fn forwarded_and_via_are_appended_both_ways() {
    let cfg = r#"listen = "127.0.0.1:8080"
[[upstream]]
name = "app"
servers = [{ addr = "127.0.0.1:9001" }]
[[middleware]]
kind = "forwarded"
by = "_weir"
"#;
    let mut sim = Sim::from_toml(cfg, Instant::now()).unwrap();
    sim.script(
        9001,
        &[b"HTTP/1.1 200 OK\r\nVia: 1.1 origin\r\nContent-Length: 2\r\n\r\nok"],
    );
    sim.client(b"GET / HTTP/1.1\r\nHost: example.com:8080\r\nForwarded: for=192.0.2.1\r\n\r\n");
    let up = sim.upstream_text();
    assert!(
        up.contains("Forwarded: for=192.0.2.1\r\n")
            && up.contains(
                "\r\nForwarded: for=10.0.0.7;by=_weir;proto=http;host=\"example.com:8080\"\r\n"
            ),
        "{up}"
    );
    assert!(up.contains("Via: 1.1 weir\r\n"), "{up}");
    assert_eq!(
        sim.client_text(),
        "HTTP/1.1 200 OK\r\nVia: 1.1 origin\r\nContent-Length: 2\r\nVia: 1.1 weir\r\n\r\nok"
    );
    let bad = Sim::from_toml(&cfg.replace("_weir", "weir.example"), Instant::now())
        .err()
        .unwrap();
    assert!(
        bad[0].message.contains("an obfuscated identifier"),
        "{bad:?}"
    );
}

/// `foo` and `bar`, stored hashed.
const KEYS: &str = "# test keys\nalice sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae\nsha256:fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9\n";

fn keyed(carrier: &str) -> Sim {
    let cfg = format!(
        "listen = \"127.0.0.1:8080\"\n[[upstream]]\nname = \"app\"\nservers = [{{ addr = \"127.0.0.1:9001\" }}]\n[[middleware]]\nname = \"keys\"\nkind = \"api-key\"\n{carrier}\nkeys_file = \"keys.txt\"\n[[route]]\nupstream = \"app\"\nmiddleware = [\"keys\"]\n"
    );
    let files = |path: &str| match path {
        "keys.txt" => Ok(KEYS.as_bytes().to_vec()),
        other => Err(format!("no file {other}")),
    };
    let config = weir_core::Config::from_toml_with(&cfg, &files).unwrap();
    Sim::new(config, Instant::now())
}

#[test]
fn api_keys_are_checked_against_hashes_and_never_reach_the_upstream() {
    let mut sim = keyed("header = \"X-Api-Key\"");
    sim.script(9001, &[OK, OK]);
    sim.client(b"GET /a HTTP/1.1\r\nHost: h\r\nX-Api-Key: foo\r\n\r\n");
    assert_eq!(sim.logs[0].status, 200);
    assert!(
        !sim.upstream_text().contains("X-Api-Key"),
        "{}",
        sim.upstream_text()
    );
    // A wrong key, on a POST with a body: 401, and the keep-alive
    // connection serves the next request.
    sim.client(b"POST /a HTTP/1.1\r\nHost: h\r\nX-Api-Key: nope\r\nContent-Length: 4\r\n\r\nbodyGET /b HTTP/1.1\r\nHost: h\r\nX-Api-Key: bar\r\n\r\n");
    let statuses: Vec<u16> = sim.logs.iter().map(|l| l.status).collect();
    assert_eq!(statuses, [200, 401, 200]);
    assert_eq!(&sim.logs[0].principal[..], b"alice", "the key's name");
    assert!(sim.logs[2].principal.is_empty(), "an unnamed key");
    assert!(sim.client_text().contains(
        "HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nWWW-Authenticate: ApiKey\r\n"
    ));
    assert!(!sim.client_closed);
    // Missing, or twice: 401.
    sim.client(b"GET /c HTTP/1.1\r\nHost: h\r\n\r\n");
    sim.client(b"GET /c HTTP/1.1\r\nHost: h\r\nX-Api-Key: foo\r\nX-Api-Key: foo\r\n\r\n");
    assert_eq!(sim.logs[3].status, 401);
    assert_eq!(sim.logs[4].status, 401);
    // In the query: the parameter is taken out of the target.
    let mut sim = keyed("query = \"key\"");
    sim.script(9001, &[OK]);
    sim.client(b"GET /a?x=1&key=bar HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(
        sim.upstream_text().starts_with("GET /a?x=1 HTTP/1.1\r\n"),
        "{}",
        sim.upstream_text()
    );
}

#[test]
fn a_keys_file_with_a_plaintext_key_is_refused_at_load() {
    let cfg = "listen = \"127.0.0.1:8080\"\n[[upstream]]\nname = \"app\"\nservers = [{ addr = \"127.0.0.1:9001\" }]\n[[middleware]]\nname = \"keys\"\nkind = \"api-key\"\nkeys_file = \"keys.txt\"\n";
    let files = |_: &str| Ok(b"alice hunter2\n".to_vec());
    let e = weir_core::Config::from_toml_with(cfg, &files).unwrap_err();
    assert_eq!(e[0].to_string(), "line 8: middleware[0].keys_file: keys.txt: line 1: expected \"sha256:\" and 64 hex digits (keys are stored hashed: printf %s KEY | sha256sum)");
    let e = weir_core::Config::from_toml(cfg).unwrap_err();
    assert!(e[0].message.contains("cannot read \"keys.txt\""), "{e:?}");
}

/// `md5` and `sha`, both with the password `password`.
const USERS: &str =
    "md5:$apr1$lZL6V/ci$eIMz/iKDkbtys/uU7LEK00\nsha:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n";

fn guarded(extra: &str) -> Sim {
    let cfg = format!(
        "listen = \"127.0.0.1:8080\"\n[[upstream]]\nname = \"app\"\nservers = [{{ addr = \"127.0.0.1:9001\" }}]\n[[middleware]]\nname = \"users\"\nkind = \"basic-auth\"\nusers_file = \"users.htpasswd\"\nrealm = \"staff\"\n{extra}\n[[route]]\nupstream = \"app\"\nmiddleware = [\"users\"]\n"
    );
    let files = |_: &str| Ok(USERS.as_bytes().to_vec());
    Sim::new(
        weir_core::Config::from_toml_with(&cfg, &files).unwrap(),
        Instant::now(),
    )
}

fn basic(user_pass: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(user_pass)
    )
}

#[test]
fn basic_auth_accepts_and_rejects_exactly() {
    let mut sim = guarded("");
    sim.script(9001, &[OK, OK]);
    let with = |auth: &str| {
        format!("GET / HTTP/1.1\r\nHost: h\r\nAuthorization: {auth}\r\n\r\n").into_bytes()
    };
    let table = [
        (basic("md5:password"), 200),
        (basic("sha:password"), 200),
        (basic("md5:Password"), 401),    // wrong password
        (basic("nobody:password"), 401), // unknown user
        ("Basic !!!".to_owned(), 401),   // malformed
        ("Bearer abc".to_owned(), 401),  // another scheme
        (basic("md5password"), 401),     // no colon
    ];
    for (auth, _) in &table {
        sim.client(&with(auth));
    }
    sim.client(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"); // none
    let got: Vec<u16> = sim.logs.iter().map(|l| l.status).collect();
    let mut want: Vec<u16> = table.iter().map(|(_, s)| *s).collect();
    want.push(401);
    assert_eq!(got, want);
    assert!(
        !sim.upstream_text().contains("Authorization"),
        "removed before the upstream"
    );
    assert!(sim.client_text().contains(
        "HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nWWW-Authenticate: Basic realm=\"staff\", charset=\"UTF-8\"\r\n"
    ));
    assert!(!sim.client_closed);
    // A POST refused keeps its keep-alive connection.
    sim.client(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc");
    assert_eq!(sim.logs.last().map(|l| l.status), Some(401));
    assert!(!sim.client_closed);
    let mut kept = guarded("keep_authorization = true");
    kept.script(9001, &[OK]);
    kept.client(&with(&basic("sha:password")));
    assert!(kept.upstream_text().contains("Authorization: Basic "));
}

#[test]
fn a_proxy_protocol_header_names_the_client_and_a_bad_one_closes() {
    let cfg = "listen = \"127.0.0.1:8080\"\nproxy_protocol = true\n[[upstream]]\nname = \"app\"\nservers = [{ addr = \"127.0.0.1:9001\" }]\n";
    for split in [usize::MAX, 1, 5] {
        let mut sim = Sim::from_toml(cfg, Instant::now()).unwrap();
        sim.split = split;
        sim.script(9001, &[OK]);
        sim.client(
            b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
        );
        assert_eq!(
            sim.logs[0].client.to_string(),
            "192.0.2.1:56324",
            "split {split}"
        );
        assert!(sim
            .upstream_text()
            .contains("X-Forwarded-For: 192.0.2.1\r\n"));
        assert!(sim.client_text().starts_with("HTTP/1.1 200 OK"));
    }
    // Version 2, binary.
    let mut sim = Sim::from_toml(cfg, Instant::now()).unwrap();
    sim.script(9001, &[OK]);
    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
    v2.extend_from_slice(&[203, 0, 113, 9, 10, 0, 0, 1, 0x30, 0x39, 0x01, 0xbb]);
    v2.extend_from_slice(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    sim.client(&v2);
    assert_eq!(sim.logs[0].client.to_string(), "203.0.113.9:12345");
    // No header, or a malformed one: closed without an answer.
    for bad in [
        &b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"[..],
        b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n",
    ] {
        let mut sim = Sim::from_toml(cfg, Instant::now()).unwrap();
        sim.client(bad);
        assert!(sim.client_closed && sim.client_out.is_empty() && sim.socks.is_empty());
        assert_eq!(sim.logs[0].note, "malformed PROXY protocol header");
    }
}

fn tokens() -> Sim {
    let cfg = "listen = \"127.0.0.1:8080\"\n[[upstream]]\nname = \"app\"\nservers = [{ addr = \"127.0.0.1:9001\" }]\n[[middleware]]\nkind = \"jwt\"\nalgorithm = \"HS256\"\nkey_file = \"secret.key\"\nissuer = \"auth\"\naudience = \"api\"\nleeway = 30\nclaims_to_headers = { \"sub\" = \"X-User\" }\n";
    let files = |_: &str| Ok(b"s3cret\n".to_vec());
    Sim::new(
        weir_core::Config::from_toml_with(cfg, &files).unwrap(),
        Instant::now(),
    )
}

fn token(alg: jsonwebtoken::Algorithm, secret: &[u8], claims: serde_json::Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(alg),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .unwrap()
}

#[test]
fn jwt_accept_and_reject_matrix_on_the_virtual_clock() {
    use jsonwebtoken::Algorithm::{HS256, HS384};
    use serde_json::json;
    let now = weir_core::sim::WALL_AT_EPOCH.as_secs();
    let good =
        json!({"sub": "alice", "iss": "auth", "aud": "api", "exp": now + 60, "nbf": now - 60});
    let with = |claims: serde_json::Value| {
        let mut c = good.clone();
        c.as_object_mut()
            .unwrap()
            .extend(claims.as_object().unwrap().clone());
        c
    };
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let none = format!(
        "{}.{}.",
        b64(r#"{"alg":"none","typ":"JWT"}"#),
        b64(&good.to_string())
    );
    let table: Vec<(String, u16)> = vec![
        (token(HS256, b"s3cret", good.clone()), 200),
        (token(HS256, b"s3cret", with(json!({"exp": now - 31}))), 401), // expired beyond the leeway
        (token(HS256, b"s3cret", with(json!({"exp": now - 29}))), 200), // within it
        (token(HS256, b"s3cret", with(json!({"nbf": now + 31}))), 401), // not yet valid
        (token(HS256, b"other", good.clone()), 401),                    // wrong key
        (token(HS384, b"s3cret", good.clone()), 401),                   // another algorithm
        (none, 401),                                                    // alg: none
        (token(HS256, b"s3cret", with(json!({"iss": "evil"}))), 401),
        (token(HS256, b"s3cret", with(json!({"aud": "other"}))), 401),
        ("not.a.token".to_owned(), 401),
    ];
    let mut sim = tokens();
    sim.script(9001, &[OK; 8]);
    for (t, _) in &table {
        sim.client(
            format!(
                "GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {t}\r\nX-User: mallory\r\n\r\n"
            )
            .as_bytes(),
        );
    }
    sim.client(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    let got: Vec<u16> = sim.logs.iter().map(|l| l.status).collect();
    let mut want: Vec<u16> = table.iter().map(|(_, s)| *s).collect();
    want.push(401);
    assert_eq!(got, want);
    let up = sim.upstream_text();
    assert!(
        up.contains("X-User: alice\r\n")
            && !up.contains("mallory")
            && !up.contains("Authorization"),
        "{up}"
    );
    assert!(sim
        .client_text()
        .contains("WWW-Authenticate: Bearer error=\"invalid_token\"\r\n"));
    // Later on the virtual clock the same good token has expired.
    sim.advance(std::time::Duration::from_secs(91));
    sim.client(
        format!(
            "GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {}\r\n\r\n",
            table[0].0
        )
        .as_bytes(),
    );
    assert_eq!(sim.logs.last().map(|l| l.status), Some(401));
}

#[test]
fn jwt_with_rs256_and_es256_public_keys() {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let now = weir_core::sim::WALL_AT_EPOCH.as_secs();
    let claims = serde_json::json!({"sub": "bob", "exp": now + 60});
    let cases = [
        (
            Algorithm::RS256,
            "RS256",
            &include_bytes!("keys/rs256-private.pem")[..],
            &include_bytes!("keys/rs256-public.pem")[..],
        ),
        (
            Algorithm::ES256,
            "ES256",
            &include_bytes!("keys/es256-private.pem")[..],
            &include_bytes!("keys/es256-public.pem")[..],
        ),
    ];
    for (alg, name, private, public) in cases {
        let key = match alg {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(private).unwrap(),
            _ => EncodingKey::from_ec_pem(private).unwrap(),
        };
        let good = jsonwebtoken::encode(&Header::new(alg), &claims, &key).unwrap();
        // The same claims signed with HS256 and the public key as the
        // secret: the key-confusion attack, refused.
        let confused = token(jsonwebtoken::Algorithm::HS256, public, claims.clone());
        let cfg = format!(
            "listen = \"127.0.0.1:8080\"\n[[upstream]]\nname = \"app\"\nservers = [{{ addr = \"127.0.0.1:9001\" }}]\n[[middleware]]\nkind = \"jwt\"\nalgorithm = \"{name}\"\nkey_file = \"public.pem\"\n"
        );
        let files = move |_: &str| Ok(public.to_vec());
        let mut sim = Sim::new(
            weir_core::Config::from_toml_with(&cfg, &files).unwrap(),
            Instant::now(),
        );
        sim.script(9001, &[OK]);
        for t in [&good, &confused] {
            sim.client(
                format!("GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {t}\r\n\r\n")
                    .as_bytes(),
            );
        }
        let got: Vec<u16> = sim.logs.iter().map(|l| l.status).collect();
        assert_eq!(got, [200, 401], "{name}");
    }
}

#[test]
fn a_rate_limit_keyed_on_the_principal_counts_each_user_apart() {
    let files = |_: &str| Ok(USERS.as_bytes().to_vec());
    let cfg = "listen = \"127.0.0.1:8080\"\n[[upstream]]\nname = \"app\"\nservers = [{ addr = \"127.0.0.1:9001\" }]\n[[middleware]]\nname = \"users\"\nkind = \"basic-auth\"\nusers_file = \"users.htpasswd\"\n[[middleware]]\nname = \"per-user\"\nkind = \"rate-limit\"\nkey = [\"principal\"]\nrate = 1\nper = 60000\nburst = 1\n[[route]]\nupstream = \"app\"\nmiddleware = [\"users\", \"per-user\"]\n";
    let mut sim = Sim::new(
        weir_core::Config::from_toml_with(cfg, &files).unwrap(),
        Instant::now(),
    );
    sim.script(9001, &[OK, OK, OK]);
    for user in ["md5", "md5", "sha", "sha"] {
        sim.client(
            format!(
                "GET / HTTP/1.1\r\nHost: h\r\nAuthorization: {}\r\n\r\n",
                basic(&format!("{user}:password"))
            )
            .as_bytes(),
        );
    }
    let got: Vec<u16> = sim.logs.iter().map(|l| l.status).collect();
    assert_eq!(got, [200, 429, 200, 429]);
}
