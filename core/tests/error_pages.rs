//! `[error_pages]` on the simulator: the bodies of the answers weir
//! makes, before and after routing, and (opt-in) an upstream's error body
//! replaced, with its connection kept when the body was small.

use std::time::{Duration, Instant};

use weir_core::sim::Sim;

fn paged(pages: &str) -> Sim {
    let cfg = format!(
        "listen = \"127.0.0.1:8080\"\n[error_pages]\n{pages}\n[[upstream]]\nname = \"app\"\nservers = [{{ addr = \"127.0.0.1:9001\" }}]\n[[middleware]]\nkind = \"request-id\"\nformat = \"uuid4\"\n[[route]]\npath_prefix = \"/app/\"\nupstream = \"app\"\n"
    );
    let files = |path: &str| match path {
        "404.html" => Ok(b"<h1>{status}: not here</h1><p>{request_id}</p>".to_vec()),
        "4xx.txt" => Ok(b"client error {status}\n".to_vec()),
        other => Err(format!("no {other}")),
    };
    Sim::new(
        weir_core::Config::from_toml_with(&cfg, &files).unwrap(),
        Instant::now(),
    )
}

#[test]
fn error_pages_replace_the_bodies_weir_makes() {
    let mut sim = paged("\"404\" = \"404.html\"\n\"4xx\" = \"4xx.txt\"");
    sim.client(b"GET /nowhere HTTP/1.1\r\nHost: h\r\n\r\n");
    let id = String::from_utf8(sim.logs[0].request_id.to_vec()).unwrap();
    let body = format!("<h1>404: not here</h1><p>{id}</p>");
    assert!(
        sim.client_text().ends_with(&format!(
            "Content-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nX-Request-Id: {id}\r\n\r\n{body}",
            body.len()
        )),
        "{}",
        sim.client_text()
    );
    // A HEAD request: the same head, no body.
    sim.client(b"HEAD /nowhere HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(sim.client_text().ends_with("\r\n\r\n"));
    // Before routing (a bad request): the class page, then close.
    let mut sim = paged("\"4xx\" = \"4xx.txt\"");
    sim.client(b"GET /a HTTP/1.1\r\nHost: a b\r\n\r\n");
    assert!(sim.client_text().ends_with("Content-Type: text/plain; charset=utf-8\r\nContent-Length: 17\r\nConnection: close\r\n\r\nclient error 400\n"), "{}", sim.client_text());
    // No page, a client that wants JSON: JSON.
    let mut sim = paged("");
    sim.refuse.push(weir_core::sim::addr(9001));
    sim.client(b"GET /app/x HTTP/1.1\r\nHost: h\r\nAccept: application/json\r\n\r\n");
    let id = String::from_utf8(sim.logs[0].request_id.to_vec()).unwrap();
    assert!(
        sim.client_text().ends_with(&format!(
            "{{\"status\":502,\"error\":\"Bad Gateway\",\"request_id\":\"{id}\"}}\n"
        )),
        "{}",
        sim.client_text()
    );
    assert!(sim
        .client_text()
        .contains("Content-Type: application/json\r\n"));
}

#[test]
fn error_page_settings_are_checked() {
    let cfg = "listen = \"127.0.0.1:8080\"\n[error_pages]\n\"302\" = \"a.html\"\n\"404\" = \"missing.html\"\n[[upstream]]\nname = \"app\"\nservers = [{ addr = \"127.0.0.1:9001\" }]\n";
    let files = |path: &str| match path {
        "a.html" => Ok(b"x".to_vec()),
        _ => Err("cannot read missing.html: not found".to_owned()),
    };
    let e: Vec<String> = weir_core::Config::from_toml_with(cfg, &files)
        .unwrap_err()
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert_eq!(
        e,
        [
            "line 3: error_pages.302: expected a status from 400 to 599, \"4xx\" or \"5xx\"",
            "line 4: error_pages.404: cannot read missing.html: not found",
        ]
    );
}

const NOT_FOUND: &[u8] =
    b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nETag: \"x\"\r\nX-App: 1\r\nContent-Length: 9\r\n\r\nupstream!";
const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

#[test]
fn an_upstream_error_body_is_replaced_only_when_asked() {
    // Not asked: the upstream's 404 passes as it is.
    let mut sim = paged("\"404\" = \"404.html\"");
    sim.script(9001, &[NOT_FOUND]);
    sim.client(b"GET /app/x HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(
        sim.client_text().ends_with("upstream!"),
        "{}",
        sim.client_text()
    );
    // Asked, in every split: the page, the upstream's status and its own
    // fields, but not the ones that described its body; the upstream
    // connection goes back to the pool and the client stays.
    for split in [usize::MAX, 1, 7] {
        let mut sim = paged("\"404\" = \"404.html\"\nreplace_upstream = true");
        sim.split = split;
        sim.script(9001, &[NOT_FOUND, OK]);
        sim.client(b"GET /app/x HTTP/1.1\r\nHost: h\r\n\r\n");
        let id = String::from_utf8(sim.logs[0].request_id.to_vec()).unwrap();
        let body = format!("<h1>404: not here</h1><p>{id}</p>");
        assert_eq!(
            sim.client_text(),
            format!(
                "HTTP/1.1 404 Not Found\r\nX-App: 1\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nX-Request-Id: {id}\r\n\r\n{body}",
                body.len()
            ),
            "split {split}"
        );
        assert_eq!(sim.logs[0].status, 404);
        assert_eq!(sim.logs[0].note, "upstream error page replaced");
        assert!(!sim.client_closed);
        sim.client(b"GET /app/y HTTP/1.1\r\nHost: h\r\n\r\n");
        assert!(sim.client_text().ends_with("ok"));
        assert_eq!(
            sim.socks.len(),
            1,
            "split {split}: one upstream connection, reused"
        );
    }
}

#[test]
fn only_statuses_with_a_page_and_never_a_head_answer_are_replaced() {
    let mut sim = paged("\"5xx\" = \"4xx.txt\"\nreplace_upstream = true");
    // 404 has no page here (only 5xx): passes.
    sim.script(9001, &[NOT_FOUND]);
    sim.client(b"GET /app/x HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(sim.client_text().ends_with("upstream!"));
    // A 503 to HEAD: the upstream's head as it is.
    let mut sim = paged("\"5xx\" = \"4xx.txt\"\nreplace_upstream = true");
    sim.script(
        9001,
        &[b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 20\r\nRetry-After: 5\r\n\r\n"],
    );
    sim.client(b"HEAD /app/x HTTP/1.1\r\nHost: h\r\n\r\n");
    let text = sim.client_text();
    assert!(
        text.contains("Retry-After: 5\r\nContent-Length: 20\r\n") && text.ends_with("\r\n\r\n"),
        "{text}"
    );
    // A 503 to GET, chunked: the class page, Retry-After kept.
    let mut sim = paged("\"5xx\" = \"4xx.txt\"\nreplace_upstream = true");
    sim.script(9001, &[b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\nRetry-After: 5\r\n\r\n4\r\ndown\r\n0\r\n\r\n"]);
    sim.client(b"GET /app/x HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(
        sim.client_text().starts_with("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 17\r\n"),
        "{}",
        sim.client_text()
    );
    assert!(sim.client_text().ends_with("\r\n\r\nclient error 503\n"));
    assert!(sim.socks[0].pooled);
}

#[test]
fn a_long_or_stalled_upstream_error_body_closes_the_upstream_not_the_client() {
    // Longer than 64 KiB: the page goes out, the upstream is closed.
    let mut long = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 70000\r\n\r\n".to_vec();
    long.extend(std::iter::repeat_n(b'x', 70_000));
    let mut sim = paged("\"5xx\" = \"4xx.txt\"\nreplace_upstream = true");
    sim.script_addr(weir_core::sim::addr(9001), [long]);
    sim.client(b"GET /app/x HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(sim.client_text().ends_with("client error 500\n"));
    assert!(sim.socks[0].closed && !sim.client_closed);
    // A body that stops: the page after the upstream idle timeout.
    let mut sim = paged("\"5xx\" = \"4xx.txt\"\nreplace_upstream = true");
    sim.script(
        9001,
        &[b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 10\r\n\r\nabc"],
    );
    sim.client(b"GET /app/x HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(sim.client_out.is_empty());
    sim.advance(Duration::from_secs(61));
    assert!(
        sim.client_text().ends_with("client error 502\n"),
        "{}",
        sim.client_text()
    );
    assert!(sim.socks[0].closed && !sim.client_closed);
}

#[test]
fn replace_upstream_must_be_a_boolean() {
    let cfg = "listen = \"127.0.0.1:8080\"\n[error_pages]\nreplace_upstream = \"yes\"\n\"404\" = 4\n[[upstream]]\nname = \"app\"\nservers = [{ addr = \"127.0.0.1:9001\" }]\n";
    let e: Vec<String> = weir_core::Config::from_toml(cfg)
        .unwrap_err()
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert_eq!(
        e,
        [
            "line 4: error_pages.404: expected the path of a page file",
            "line 3: error_pages.replace_upstream: expected true or false",
        ]
    );
}
