//! The config loader: the full schema, defaults, and every error with its line.

use super::*;
use crate::http1::path::EncodedSlash;

const FULL: &str = r#"
listen = "127.0.0.1:8080"
workers = 2

[timeouts]
client_header = 5000

[limits]
max_request_body = 1024

[[upstream]]
name = "app"
balancer = "weighted-round-robin"
servers = [
  { addr = "127.0.0.1:9001", weight = 5 },
  { addr = "127.0.0.1:9002" },
]

[[upstream]]
name = "users"
balancer = "consistent-hash"
hash_key = "header:X-User"
servers = [{ addr = "127.0.0.1:9003" }]

[[route]]
host = "*.Example.com"
path_prefix = "/api/"
upstream = "users"
strip_prefix = true

[[route]]
upstream = "app"

[[middleware]]
kind = "headers"
request_set = { "X-Env" = "prod" }
response_remove = ["Server"]
"#;

#[test]
fn parses_the_full_schema() {
    let c = Config::from_toml(FULL).unwrap();
    assert_eq!(c.workers, Some(2));
    assert_eq!(c.timeouts.client_header, Duration::from_millis(5000));
    assert_eq!(c.timeouts.client_body, Duration::from_millis(30_000));
    assert_eq!(c.limits.max_request_body, 1024);
    assert_eq!(c.upstreams[0].servers[0].1, 5);
    assert_eq!(
        c.upstreams[1].hash_key,
        Some(HashKey::Header("X-User".into()))
    );
    assert_eq!(c.routes[0].host.as_deref(), Some("*.example.com"));
    assert_eq!(c.routes[0].upstream, 1);
    assert_eq!(c.routes[1].path, PathMatch::Prefix("/".into()));
    assert_eq!(c.middleware.len(), 1);
}

fn errors(text: &str) -> Vec<String> {
    Config::from_toml(text)
        .unwrap_err()
        .iter()
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn http_path_rules_parse_and_bad_values_name_their_line() {
    let c = Config::from_toml(
        "listen = \"127.0.0.1:1\"\n[http]\nmerge_slashes = false\nencoded_slash = \"reject\"\n[[upstream]]\nname = \"a\"\nservers = [{ addr = \"127.0.0.1:2\" }]\n",
    )
    .unwrap();
    assert_eq!(
        c.paths,
        PathRules {
            merge_slashes: false,
            encoded_slash: EncodedSlash::Reject
        }
    );
    let d = Config::from_toml(
        "listen = \"127.0.0.1:1\"\n[[upstream]]\nname = \"a\"\nservers = [{ addr = \"127.0.0.1:2\" }]\n",
    )
    .unwrap();
    assert_eq!(d.paths, PathRules::default());
    let e = errors(
        "listen = \"127.0.0.1:1\"\n[http]\nencoded_slash = \"drop\"\n[[upstream]]\nname = \"a\"\nservers = [{ addr = \"127.0.0.1:2\" }]\n",
    );
    assert_eq!(
        e,
        ["line 3: http.encoded_slash: unknown value \"drop\" (expected: keep, decode, reject)"]
    );
}

#[test]
fn zero_timeouts_twice_listed_servers_and_indistinguishable_routes_are_errors() {
    let e = errors(
        "listen = \"127.0.0.1:1\"
[timeouts]
upstream_response = 0
[[upstream]]
name = \"a\"
servers = [{ addr = \"127.0.0.1:2\" }, { addr = \"127.0.0.1:2\", weight = 3 }]
[[route]]
path_prefix = \"/x/\"
upstream = \"a\"
[[route]]
path_prefix = \"/x/\"
upstream = \"a\"
",
    );
    assert_eq!(
        e,
        [
            "line 3: timeouts.upstream_response: must be at least 1 (milliseconds)",
            "line 6: upstream[0].servers[1].addr: 127.0.0.1:2 is listed twice (give it a weight instead)",
            "line 11: route[1]: route[0] matches exactly the same requests: this one could never be chosen",
        ]
    );
}

#[test]
fn unknown_keys_name_their_line() {
    let up = "[[upstream]]\nname = \"a\"\nservers = [{ addr = \"127.0.0.1:2\" }]\n";
    let e = errors(&format!(
        "listen = \"127.0.0.1:1\"\n[limits]\nmax_head = 1\n{up}"
    ));
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("line 3: max_head: unknown field `max_head`"),
        "{e:?}"
    );
    // With the shape errors, the rest of the file is checked too.
    let e = errors(&format!(
        "listen = \"127.0.0.1:1\"\nworkers = \"two\"\n[limits]\nmax_head = 1\n{up}balancer = \"fastest\"\n"
    ));
    assert_eq!(
        e,
        [
            "line 2: workers: string \"two\", expected a positive whole number",
            "line 4: max_head: unknown field `max_head`, expected one of `max_connections`, `max_request_head`, `max_response_head`, `max_request_body`, `window`",
            "line 8: upstream[0].balancer: unknown balancer \"fastest\" (expected one of: random, round-robin, weighted-round-robin, consistent-hash, least-conn, p2c)",
        ]
    );
}

#[test]
fn every_semantic_error_is_reported_with_its_line() {
    let text = r#"listen = "localhost"
[[upstream]]
name = "app"
balancer = "fastest"
servers = [{ addr = "300.0.0.1:80" }, { addr = "127.0.0.1:81", weight = 0 }]
[[route]]
upstream = "nope"
"#;
    let e = errors(text);
    assert_eq!(e.len(), 5, "{e:?}");
    assert!(e[0].starts_with("line 1: listen"), "{e:?}");
    assert!(
        e[1].starts_with("line 4: upstream[0].balancer: unknown balancer"),
        "{e:?}"
    );
    assert!(
        e[2].starts_with("line 5: upstream[0].servers[0].addr"),
        "{e:?}"
    );
    assert!(
        e[3].starts_with("line 5: upstream[0].servers[1].weight"),
        "{e:?}"
    );
    assert!(
        e[4].starts_with("line 7: route[0].upstream: no upstream named \"nope\""),
        "{e:?}"
    );
}

#[test]
fn syntax_errors_name_their_line() {
    let e = errors("listen = \"127.0.0.1:1\"\n\n[[upstream]\n");
    assert!(e[0].starts_with("line 3"), "{e:?}");
}

#[test]
fn gateway_model_errors_name_their_line_and_say_what_exists() {
    let e = errors(
        r#"listen = "127.0.0.1:1"
[[upstream]]
name = "a"
servers = [{ addr = "127.0.0.1:2" }]
retries = 9
retry_on = ["connect", "5xx"]
timeouts = { response = 0 }
[[middleware]]
name = "tag"
kind = "headerz"
[[middleware]]
name = "auth"
kind = "headers"
request_set = { "Transfer-Encoding" = "x" }
[[route]]
path = "/a"
path_prefix = "/b"
upstream = "a"
middleware = ["nope", "tag"]
[[route]]
path_regex = "^/x"
strip_prefix = true
headers = { "X-A" = { regex = "(unclosed" } }
upstream = "a"
"#,
    );
    assert_eq!(
        e,
        [
            "line 7: upstream[0].timeouts.response: must be at least 1 (milliseconds)",
            "line 5: upstream[0].retries: at most 5 (a request goes to at most 6 servers)",
            "line 6: upstream[0].retry_on: unknown cause \"5xx\" (expected: connect, reset, timeout)",
            "line 10: middleware[0].kind: unknown middleware kind \"headerz\" (the kinds are: headers, ip-access, cors, request-id, rate-limit, concurrency, redirect, rewrite, forwarded, api-key, basic-auth, jwt, forward-auth)",
            "line 14: middleware[1].request_set: \"Transfer-Encoding\" is a framing or hop-by-hop header that only the core sets",
            "line 17: route[0].path_prefix: a route has one of path, path_prefix, path_regex (this one also has path)",
            // "tag" is declared, if invalid: its own error above, no second one.
            "line 19: route[0].middleware: no middleware named \"nope\" (named ones: tag, auth)",
            "line 24: route[1].strip_prefix: goes with path_prefix only",
            "line 23: route[1].headers.X-A: invalid regex: error: unclosed group",
        ]
    );
}

#[test]
fn named_layers_and_route_conditions_parse() {
    let c = Config::from_toml(
        r#"listen = "127.0.0.1:1"
[[upstream]]
name = "api"
servers = [{ addr = "127.0.0.1:9001" }]
timeouts = { response = 5000 }
retries = 1
[[middleware]]
kind = "headers"
response_set = { "X-Served-By" = "weir" }
[[middleware]]
name = "tag"
kind = "headers"
request_set = { "X-Route" = "api" }
[[route]]
name = "api-write"
host = "api.example.com"
path_regex = "^/v[0-9]+/orders"
methods = ["POST", "PUT"]
headers = { "X-Canary" = "1" }
priority = 10
upstream = "api"
middleware = ["tag"]
"#,
    )
    .unwrap();
    let r = &c.routes[0];
    assert_eq!(r.name, "api-write");
    assert_eq!(r.priority, 10);
    assert_eq!(r.middleware, [1]);
    assert_eq!(
        r.headers,
        [("x-canary".to_owned(), ValueMatch::Exact("1".into()))]
    );
    assert!(matches!(&r.path, PathMatch::Regex(p) if p.0.as_str() == "^/v[0-9]+/orders"));
    assert_eq!(c.middleware[0].name, None);
    assert_eq!(c.middleware[1].name.as_deref(), Some("tag"));
    let g = &c.upstreams[0];
    assert_eq!(g.timeouts.response, Duration::from_millis(5000));
    assert_eq!(g.timeouts.connect, Duration::from_millis(2000));
    assert_eq!(g.retries, 1);
}

#[test]
fn the_fuzz_seed_configs_are_valid() {
    for text in [
        include_str!("../../../fuzz/configs/full.toml"),
        include_str!("../../../fuzz/configs/gateway.toml"),
        include_str!("../../../fuzz/configs/auth.toml"),
    ] {
        let c = Config::from_toml_with(text, &crate::sim::fuzz::fuzz_file)
            .unwrap_or_else(|e| panic!("{e:?}"));
        crate::sim::fuzz::config(text.as_bytes());
        assert!(!c.routes.is_empty());
    }
}

#[test]
fn listen_takes_a_list_with_a_proxy_protocol_setting_each() {
    const UP: &str = "[[upstream]]\nname = \"a\"\nservers = [{ addr = \"127.0.0.1:2\" }]\n";
    let c = Config::from_toml(&format!(
        "listen = [\"127.0.0.1:1\", {{ addr = \"[::1]:3\", proxy_protocol = true }}, {{ addr = \"127.0.0.1:4\" }}]\nproxy_protocol = false\n{UP}"
    ))
    .unwrap();
    let got: Vec<(String, bool)> = c
        .listeners
        .iter()
        .map(|l| (l.addr.to_string(), l.proxy_protocol))
        .collect();
    assert_eq!(
        got,
        [
            ("127.0.0.1:1".to_owned(), false),
            ("[::1]:3".to_owned(), true),
            ("127.0.0.1:4".to_owned(), false)
        ]
    );
    // The top-level setting is the default of the entries that do not say.
    let c = Config::from_toml(&format!(
        "listen = [\"127.0.0.1:1\", {{ addr = \"127.0.0.1:4\", proxy_protocol = false }}]\nproxy_protocol = true\n{UP}"
    ))
    .unwrap();
    assert_eq!(
        c.listeners
            .iter()
            .map(|l| l.proxy_protocol)
            .collect::<Vec<_>>(),
        [true, false]
    );
    assert_eq!(c.listen().to_string(), "127.0.0.1:1");
    for (listen, message) in [
        ("[]", "line 1: listen: needs at least one address"),
        (
            "[\"127.0.0.1:1\", \"127.0.0.1:1\"]",
            "line 1: listen: 127.0.0.1:1 is listed twice",
        ),
        (
            "[\"127.0.0.1:1\", { adr = \"127.0.0.1:2\" }]",
            "line 1: listen: entry 2: unknown key \"adr\" (expected: addr, proxy_protocol)",
        ),
        (
            "[{ addr = \"x:1\" }]",
            "line 1: listen: entry 1: invalid address \"x:1\" (expected IP:PORT)",
        ),
        (
            "[{ addr = \"127.0.0.1:1\", proxy_protocol = \"yes\" }]",
            "line 1: listen: entry 1: proxy_protocol must be true or false",
        ),
        (
            "[8080]",
            "line 1: listen: entry 1: expected \"IP:PORT\" or { addr = \"IP:PORT\", proxy_protocol = true }",
        ),
        ("\"nowhere\"", "line 1: listen: invalid address \"nowhere\" (expected IP:PORT)"),
    ] {
        assert_eq!(errors(&format!("listen = {listen}\n{UP}")), [message], "{listen}");
    }
}

#[test]
fn servers_by_name_resolve_through_the_frontends_resolver_and_can_be_renamed() {
    let text = "listen = \"127.0.0.1:1\"\n[dns]\nresolver = \"127.0.0.1:5353\"\nrefresh = 1000\n[[upstream]]\nname = \"a\"\nservers = [{ addr = \"127.0.0.1:2\" }, { addr = \"app.test:8080\", weight = 3 }, { addr = \"spare.test:80\", backup = true }]\n";
    let names = |host: &str, dns: &dns::Dns| -> Result<Vec<std::net::IpAddr>, String> {
        assert_eq!(dns.resolver, Some("127.0.0.1:5353".parse().unwrap()));
        match host {
            "app.test" => Ok(vec![
                "10.0.0.1".parse().unwrap(),
                "10.0.0.2".parse().unwrap(),
            ]),
            "spare.test" => Ok(vec!["10.0.0.9".parse().unwrap()]),
            _ => Err("NXDOMAIN".into()),
        }
    };
    let files = |p: &str| Err(format!("no {p}"));
    let c = Config::load(text, &files, &names).unwrap();
    let g = &c.upstreams[0];
    let list: Vec<String> = g.servers.iter().map(|(a, w)| format!("{a}/{w}")).collect();
    assert_eq!(
        list,
        [
            "127.0.0.1:2/1",
            "10.0.0.1:8080/3",
            "10.0.0.2:8080/3",
            "10.0.0.9:80/1"
        ]
    );
    assert_eq!(g.backups, ["10.0.0.9:80".parse().unwrap()]);
    assert_eq!(c.dns.refresh, Duration::from_millis(1000));
    // app.test moves: 10.0.0.2 stays, 10.0.0.1 goes, 10.0.0.3 comes.
    let ips = ["10.0.0.2".parse().unwrap(), "10.0.0.3".parse().unwrap()];
    let next = dns::renamed(&c, "app.test", &ips).unwrap();
    let list: Vec<String> = next.upstreams[0]
        .servers
        .iter()
        .map(|(a, w)| format!("{a}/{w}"))
        .collect();
    assert_eq!(
        list,
        [
            "127.0.0.1:2/1",
            "10.0.0.9:80/1",
            "10.0.0.2:8080/3",
            "10.0.0.3:8080/3"
        ]
    );
    assert!(dns::renamed(&next, "app.test", &ips).is_none(), "no change");
    assert!(
        dns::renamed(&next, "app.test", &[]).is_none(),
        "nothing: the last good set stays"
    );
    // A name that does not resolve is a load error on its line; without
    // a resolver, every name is.
    let bad = text.replace("spare.test", "gone.test");
    let e = Config::load(&bad, &files, &names).unwrap_err();
    assert_eq!(
        e.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        ["line 7: upstream[0].servers[2].addr: cannot resolve \"gone.test\": NXDOMAIN"]
    );
    assert!(Config::from_toml(text).is_err());
}
