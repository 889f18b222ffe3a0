//! The admin protocol, sans IO: which endpoint a request is, the answers
//! made at once (400, 401, 404, 405, 431), the token, and `[admin]`
//! validation.

use weir_core::admin::{request, Endpoint, MAX_REQUEST};
use weir_core::metrics::render::Format;

fn status(bytes: &[u8], token: Option<&str>) -> u16 {
    match request(bytes, token) {
        Ok(Some(_)) => 200,
        Ok(None) => 0,
        Err(r) => r.status,
    }
}

#[test]
fn requests_name_their_endpoint_or_get_an_answer_at_once() {
    assert_eq!(
        request(b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n", None),
        Ok(Some(Endpoint::Metrics(Format::Prometheus)))
    );
    assert_eq!(
        request(b"GET /status?x HTTP/1.1\r\n\r\n", None),
        Ok(Some(Endpoint::Status))
    );
    assert_eq!(
        request(b"POST /reload HTTP/1.1\r\n\r\n", None),
        Ok(Some(Endpoint::Reload))
    );
    assert_eq!(status(b"GET /metrics HTTP/1.1\r\n", None), 0, "incomplete");
    assert_eq!(status(b"GET /reload HTTP/1.1\r\n\r\n", None), 405);
    assert_eq!(status(b"POST /metrics HTTP/1.1\r\n\r\n", None), 405);
    assert_eq!(status(b"GET /admin HTTP/1.1\r\n\r\n", None), 404);
    assert_eq!(status(b"GET\x01 / HTTP/1.1\r\n\r\n", None), 400);
    let long = vec![b'a'; MAX_REQUEST];
    assert_eq!(status(&[b"GET /".as_slice(), &long].concat(), None), 431);
}

#[test]
fn with_a_token_every_request_carries_it() {
    let t = Some("0123456789abcdef");
    assert_eq!(status(b"GET /healthz HTTP/1.1\r\n\r\n", t), 401);
    assert_eq!(
        status(
            b"GET /healthz HTTP/1.1\r\nAuthorization: Bearer 0123456789abcdeX\r\n\r\n",
            t
        ),
        401
    );
    assert_eq!(
        status(
            b"GET /healthz HTTP/1.1\r\nAuthorization: Bearer 0123456789abcdef\r\n\r\n",
            t
        ),
        200
    );
}

#[test]
fn a_public_admin_address_needs_a_token() {
    let cfg = |admin: &str| {
        format!("listen = \"127.0.0.1:8080\"\n[admin]\n{admin}\n[[upstream]]\nname = \"a\"\nservers = [{{ addr = \"127.0.0.1:9001\" }}]\n")
    };
    let errs = |admin: &str| -> Vec<String> {
        match weir_core::Config::from_toml(&cfg(admin)) {
            Ok(_) => vec![],
            Err(e) => e.iter().map(|e| e.to_string()).collect(),
        }
    };
    assert_eq!(errs("listen = \"127.0.0.1:9901\""), Vec::<String>::new());
    assert_eq!(
        errs("listen = \"0.0.0.0:9901\""),
        ["line 3: admin.listen: 0.0.0.0:9901 is not a loopback address: set admin.token to expose it"]
    );
    assert_eq!(
        errs("listen = \"0.0.0.0:9901\"\ntoken = \"0123456789abcdef\""),
        Vec::<String>::new()
    );
    assert_eq!(
        errs("listen = \"[::1]:9901\"\ntoken = \"short\""),
        ["line 4: admin.token: a token is at least 16 visible ASCII characters"]
    );
    assert_eq!(
        errs("listen = \"nowhere\""),
        ["line 3: admin.listen: \"nowhere\" is not an address:port (e.g. \"127.0.0.1:9901\")"]
    );
}

#[test]
fn drain_and_enable_name_a_server_in_the_query_or_a_form_body() {
    use weir_core::admin::ServerRef;
    let app = |a: &str| ServerRef {
        upstream: "app".into(),
        server: a.parse().unwrap(),
    };
    assert_eq!(
        request(
            b"POST /servers/drain?upstream=app&server=127.0.0.1:9001 HTTP/1.1\r\n\r\n",
            None
        ),
        Ok(Some(Endpoint::Drain(app("127.0.0.1:9001"))))
    );
    let form = b"POST /servers/enable HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 36\r\n\r\nupstream=app&server=127.0.0.1%3A9002";
    assert_eq!(status(&form[..form.len() - 3], None), 0, "body incomplete");
    assert_eq!(
        request(form, None),
        Ok(Some(Endpoint::Enable(app("127.0.0.1:9002"))))
    );
    assert_eq!(
        status(b"POST /servers/drain?upstream=app HTTP/1.1\r\n\r\n", None),
        400
    );
    assert_eq!(
        status(
            b"POST /servers/drain?upstream=app&server=x HTTP/1.1\r\n\r\n",
            None
        ),
        400
    );
    assert_eq!(
        status(
            b"GET /servers/drain?upstream=app&server=127.0.0.1:1 HTTP/1.1\r\n\r\n",
            None
        ),
        405
    );
    // Checked against the plan.
    let sim =
        weir_core::sim::Sim::from_toml(&weir_core::sim::config(2, ""), std::time::Instant::now())
            .unwrap();
    let plan = sim.gw.plan();
    assert!(app("127.0.0.1:9001").check(plan).is_ok());
    assert_eq!(app("127.0.0.1:9009").check(plan).unwrap_err().status, 404);
    let other = ServerRef {
        upstream: "nope".into(),
        server: "127.0.0.1:9001".parse().unwrap(),
    };
    assert_eq!(other.check(plan).unwrap_err().status, 404);
}

#[test]
fn a_drained_server_takes_no_new_request_even_across_a_reload() {
    use weir_core::sim::{addr, Sim};
    let cfg = weir_core::sim::config(2, "");
    let mut sim = Sim::from_toml(&cfg, std::time::Instant::now()).unwrap();
    let ok: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    sim.script(9001, &[ok; 8]);
    sim.script(9002, &[ok; 8]);
    let drained = |list: &[u16]| weir_core::proxy::ServerMarks {
        drained: list.iter().map(|p| ("app".to_string(), addr(*p))).collect(),
        down: vec![],
    };
    sim.gw.set_marks(&drained(&[9001]));
    for _ in 0..4 {
        sim.client(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    }
    assert!(sim.logs.iter().all(|l| l.upstream == Some(addr(9002))));
    // A reload that changes the group keeps the drain.
    let changed = cfg.replace(
        "name = \"app\"\n",
        "name = \"app\"\nbalancer = \"least-conn\"\n",
    );
    assert_ne!(changed, cfg);
    sim.reload(&changed).unwrap();
    sim.client(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(sim.logs[4].upstream, Some(addr(9002)));
    let stats = sim.gw.snapshot(sim.now, 0).servers;
    assert!(stats[0].drained && !stats[1].drained);
    // Every server drained: 503, never a drained one.
    sim.gw.set_marks(&drained(&[9001, 9002]));
    sim.client(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(sim.logs[5].status, 503);
    // Enabled again: both take requests.
    sim.gw.set_marks(&drained(&[]));
    for _ in 0..2 {
        sim.client(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    }
    let last: Vec<_> = sim.logs[6..].iter().map(|l| l.upstream).collect();
    assert!(last.contains(&Some(addr(9001))), "{last:?}");
}
