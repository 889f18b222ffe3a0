//! The precedence table and every condition, through real config text.

use super::*;
use crate::config::Config;

fn router(routes: &str) -> Router {
    let text = format!(
        "listen = \"127.0.0.1:1\"\n[[upstream]]\nname = \"u\"\nservers = [{{ addr = \"127.0.0.1:2\" }}]\n{routes}"
    );
    let c = Config::from_toml(&text).unwrap_or_else(|e| panic!("{e:?}"));
    Router::new(c.routes)
}

fn req(method: &str, target: &str, headers: &[(&str, &str)]) -> RequestHead {
    let mut text = format!("{method} {target} HTTP/1.1\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        text.push_str("Host: z\r\n");
    }
    for (n, v) in headers {
        text.push_str(&format!("{n}: {v}\r\n"));
    }
    text.push_str("\r\n");
    crate::http1::parse_request(&Bytes::from(text)).unwrap()
}

/// The name of the route `req` takes, `404` or `405 <Allow>`.
fn pick(r: &Router, req: &RequestHead) -> String {
    match r.find(req) {
        Found::Route(i) => r.routes()[i].name.clone(),
        Found::WrongMethod(allow) => format!("405 {}", String::from_utf8_lossy(&allow)),
        Found::Nothing => "404".into(),
    }
}

#[test]
fn precedence_priority_then_path_kind_then_conditions_then_host_then_order() {
    let r = router(
        r#"
[[route]]
name = "regex"
path_regex = "^/api/v[0-9]+/"
upstream = "u"
[[route]]
name = "short"
path_prefix = "/api/"
upstream = "u"
[[route]]
name = "long"
path_prefix = "/api/v1/"
upstream = "u"
[[route]]
name = "exact"
path = "/api/v1/health"
upstream = "u"
[[route]]
name = "canary"
path_prefix = "/api/v1/"
headers = { "X-Canary" = "1" }
upstream = "u"
[[route]]
name = "wild"
host = "*.example.com"
path_prefix = "/api/v1/"
upstream = "u"
[[route]]
name = "exact-host"
host = "a.example.com"
path_prefix = "/api/v1/"
upstream = "u"
[[route]]
name = "urgent"
path_regex = "/urgent$"
priority = 10
upstream = "u"
[[route]]
name = "first"
path_prefix = "/twice/"
methods = ["GET"]
upstream = "u"
[[route]]
name = "second"
path_prefix = "/twice/"
headers = { "X-A" = false }
upstream = "u"
"#,
    );
    let h = |host: &'static str| vec![("Host", host)];
    type Row = (
        &'static str,
        Vec<(&'static str, &'static str)>,
        &'static str,
    );
    let table: &[Row] = &[
        ("/api/v2/x", h("z"), "short"),      // longest prefix beats regex
        ("/api/v1/x", h("z"), "long"),       // longer prefix
        ("/api/v1/health", h("z"), "exact"), // exact beats any prefix
        (
            "/api/v1/x",
            vec![("Host", "z"), ("X-Canary", "1")],
            "canary",
        ), // more conditions
        ("/api/v1/x", h("b.example.com"), "wild"),
        ("/api/v1/x", h("a.example.com"), "exact-host"), // exact host beats wildcard
        ("/api/v1/urgent", h("a.example.com"), "urgent"), // priority beats everything
        ("/twice/", h("x"), "first"),                    // equal rank: file order
        ("/other", h("z"), "404"),
    ];
    for (target, headers, want) in table {
        assert_eq!(
            pick(&r, &req("GET", target, headers)),
            *want,
            "{target} {headers:?}"
        );
    }
    // Where the regex is the only path condition that fits:
    let only_regex = router(
        "[[route]]\nname = \"re\"\npath_regex = \"^/v[0-9]+/orders\"\nupstream = \"u\"\n[[route]]\nname = \"p\"\npath_prefix = \"/x/\"\nupstream = \"u\"\n",
    );
    assert_eq!(
        pick(&only_regex, &req("GET", "/v12/orders/7", &h("z"))),
        "re"
    );
    assert_eq!(pick(&only_regex, &req("GET", "/va/orders", &h("z"))), "404");
}

#[test]
fn methods_headers_and_query_conditions() {
    let r = router(
        r#"
[[route]]
name = "write"
path_prefix = "/orders"
methods = ["POST", "PUT"]
method_not_allowed = true
upstream = "u"
[[route]]
name = "delete"
path_prefix = "/orders"
methods = ["DELETE"]
headers = { "X-Admin" = true }
method_not_allowed = true
upstream = "u"
[[route]]
name = "beta"
path_prefix = "/search"
query = { "beta" = true, "v" = { regex = "^2" } }
upstream = "u"
[[route]]
name = "no-debug"
path_prefix = "/search"
headers = { "X-Debug" = false, "Accept" = { regex = "json" } }
upstream = "u"
[[route]]
name = "search"
path = "/search"
headers = { "X-Version" = "3" }
upstream = "u"
"#,
    );
    let a = |m, t, h: &[(&str, &str)]| pick(&r, &req(m, t, h));
    assert_eq!(a("POST", "/orders", &[]), "write");
    assert_eq!(a("PUT", "/orders/1", &[]), "write");
    assert_eq!(a("DELETE", "/orders/1", &[("X-Admin", "yes")]), "delete");
    // Only the method (or the admin header) is wrong: 405 with the
    // methods of every such route.
    assert_eq!(a("GET", "/orders", &[]), "405 POST, PUT");
    assert_eq!(
        a("GET", "/orders", &[("X-Admin", "1")]),
        "405 DELETE, POST, PUT"
    );
    assert_eq!(a("post", "/orders", &[]), "405 POST, PUT"); // methods are case-sensitive
    assert_eq!(a("GET", "/search?beta&v=2.1", &[]), "beta");
    assert_eq!(a("GET", "/search?v=2.1&beta=", &[]), "beta");
    assert_eq!(a("GET", "/search?v=1&beta", &[]), "404");
    assert_eq!(a("GET", "/search?betas&v=2", &[]), "404");
    assert_eq!(
        a("GET", "/search", &[("Accept", "application/json")]),
        "no-debug"
    );
    assert_eq!(
        a(
            "GET",
            "/search",
            &[("Accept", "application/json"), ("X-Debug", "")]
        ),
        "404"
    );
    assert_eq!(a("GET", "/search", &[("X-Version", "3")]), "search");
    assert_eq!(a("GET", "/search", &[("x-version", "3 ")]), "search"); // OWS is not part of a value
    assert_eq!(a("GET", "/search/", &[("X-Version", "3")]), "404");
}

#[test]
fn no_routes_means_one_catch_all() {
    let r = router("");
    assert_eq!(pick(&r, &req("GET", "/anything", &[])), "default");
}
