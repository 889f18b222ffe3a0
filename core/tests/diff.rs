//! `diff`: recorded requests through two configs, what changes for each.

use std::time::Instant;

use weir_core::sim::diff::{compare, render, requests};
use weir_core::Config;

const OLD: &str = r#"listen = "127.0.0.1:8080"
[[upstream]]
name = "app"
servers = [{ addr = "127.0.0.1:9001" }]
[[route]]
name = "all"
path_prefix = "/"
upstream = "app"
"#;

const NEW: &str = r#"listen = "127.0.0.1:8080"
[[upstream]]
name = "app"
servers = [{ addr = "127.0.0.1:9001" }]
[[upstream]]
name = "assets"
servers = [{ addr = "127.0.0.1:9002" }]
[[middleware]]
name = "limit"
kind = "rate-limit"
key = ["route"]
rate = 1
per = 60000
burst = 2
headers = "none"
[[middleware]]
name = "tag"
kind = "headers"
request_set = { "X-Tier" = "gold" }
[[route]]
name = "static"
path_prefix = "/static/"
strip_prefix = true
upstream = "assets"
[[route]]
name = "all"
path_prefix = "/"
upstream = "app"
middleware = ["limit", "tag"]
"#;

fn cfg(t: &str) -> Config {
    Config::from_toml(t).unwrap()
}

fn traffic() -> Vec<(String, Vec<u8>)> {
    let one = b"GET /static/a.css HTTP/1.1\r\nHost: h\r\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\nPOST /y HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhiGET /partial HTTP/1.1\r\nHo".to_vec();
    let two = b"GET /z HTTP/1.1\r\nHost: h\r\n\r\n".to_vec();
    vec![("one".into(), one), ("two".into(), two)]
}

#[test]
fn a_capture_splits_into_its_complete_requests() {
    let r = requests(&traffic()[0].1);
    assert_eq!(r.len(), 3);
    assert!(r[2].ends_with(b"\r\n\r\nhi"));
}

#[test]
fn the_same_config_changes_nothing() {
    let (changed, total) = compare(cfg(NEW), cfg(NEW), &traffic(), Instant::now());
    assert_eq!((changed.len(), total), (0, 4));
    assert_eq!(render(&changed, total), "== 0 of 4 requests change\n");
}

#[test]
fn every_kind_of_change_is_reported_and_counted() {
    let (changed, total) = compare(cfg(OLD), cfg(NEW), &traffic(), Instant::now());
    assert_eq!(
        render(&changed, total),
        "one#1 GET /static/a.css HTTP/1.1
    route: all -> static
    upstream: app -> assets
    - GET /static/a.css HTTP/1.1
    + GET /a.css HTTP/1.1
one#2 GET /x HTTP/1.1
    + X-Tier: gold
one#3 POST /y HTTP/1.1
    + X-Tier: gold
two#1 GET /z HTTP/1.1
    upstream: app -> -
    answer: forwarded, 200 -> 429 (rate-limit)
== 4 of 4 requests change
    route: 1
    upstream: 2
    answer: 1
    upstream bytes: 4
"
    );
}
