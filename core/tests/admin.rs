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
