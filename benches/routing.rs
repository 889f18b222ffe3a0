//! Criterion bench of route matching: 100 routes (prefix and regex mixed,
//! some with hosts, methods and headers), three requests: one that matches
//! an early prefix route, one that only a late regex route takes, and one
//! that matches nothing (every route looked at). Target: < 300 ns.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use weir_core::http1::parse_request;
use weir_core::proxy::{Found, Router};
use weir_core::Config;

/// 100 routes: 50 prefixes, 40 regexes, 10 host + method + header routes.
fn config() -> String {
    let mut text = String::from(
        "listen = \"127.0.0.1:8080\"\n[[upstream]]\nname = \"app\"\nservers = [{ addr = \"127.0.0.1:9001\" }]\n",
    );
    for i in 0..50 {
        text += &format!("[[route]]\npath_prefix = \"/service-{i}/\"\nupstream = \"app\"\n");
    }
    for i in 0..40 {
        text += &format!(
            "[[route]]\npath_regex = \"^/api/v{i}/(users|orders)/[0-9]+$\"\nupstream = \"app\"\n"
        );
    }
    for i in 0..10 {
        text += &format!(
            "[[route]]\nhost = \"tenant-{i}.example.com\"\npath_prefix = \"/admin/\"\nmethods = [\"POST\"]\nheaders = {{ \"X-Admin\" = \"1\" }}\nupstream = \"app\"\n"
        );
    }
    text
}

fn request(target: &str) -> weir_core::http1::RequestHead {
    let text = format!(
        "GET {target} HTTP/1.1\r\nHost: bench.example\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n"
    );
    parse_request(&Bytes::from(text)).unwrap()
}

fn routing(c: &mut Criterion) {
    let config = Config::from_toml(&config()).unwrap();
    assert_eq!(config.routes.len(), 100);
    let router = Router::new(config.routes);
    for (name, target, found) in [
        ("prefix", "/service-7/index.html", true),
        ("late regex", "/api/v39/orders/12345", true),
        ("no match", "/nothing/here", false),
    ] {
        let req = request(target);
        assert_eq!(
            matches!(router.find(&req), Found::Route(_)),
            found,
            "{target}"
        );
        c.bench_function(&format!("routing/100 routes, {name}"), |b| {
            b.iter(|| std::hint::black_box(router.find(std::hint::black_box(&req))))
        });
    }
}

criterion_group!(benches, routing);
criterion_main!(benches);
