//! Why each route did or did not match a request (`explain`), decided by
//! the same conditions [`Router::find`] uses.

use super::{conditions_ok, host_rank, method_ok, path_ok, value_ok, Found, Router};
use crate::config::{PathMatch, RouteSpec, ValueMatch};
use crate::explain::RouteCheck;
use crate::http1::RequestHead;

impl Router {
    /// Every route in precedence order, each with whether it matches
    /// `req` and why; and what [`Router::find`] decides.
    pub fn explain(&self, req: &RequestHead) -> (Vec<RouteCheck>, Found) {
        let checks = self
            .entries
            .iter()
            .map(|e| {
                let r = &self.routes[e.route];
                let why = why_not(r, req);
                RouteCheck {
                    route: r.name.clone(),
                    matched: why.is_none(),
                    why: why.unwrap_or_else(|| matched(r)),
                }
            })
            .collect();
        (checks, self.find(req))
    }
}

/// What a route asks for, when it matched.
fn matched(r: &RouteSpec) -> String {
    let mut parts = vec![path_text(&r.path)];
    if let Some(h) = &r.host {
        parts.push(format!("host {h}"));
    }
    if !r.methods.is_empty() {
        parts.push(format!("method in {}", r.methods.join(",")));
    }
    for (n, m) in &r.headers {
        parts.push(format!("header {n} {}", value_text(m)));
    }
    for (n, m) in &r.query {
        parts.push(format!("query {n} {}", value_text(m)));
    }
    parts.join(", ")
}

fn path_text(p: &PathMatch) -> String {
    match p {
        PathMatch::Prefix(p) => format!("path prefix {p}"),
        PathMatch::Exact(p) => format!("path = {p}"),
        PathMatch::Regex(re) => format!("path ~ {}", re.0.as_str()),
    }
}

fn value_text(m: &ValueMatch) -> String {
    match m {
        ValueMatch::Present => "present".into(),
        ValueMatch::Absent => "absent".into(),
        ValueMatch::Exact(v) => format!("= {v}"),
        ValueMatch::Regex(re) => format!("~ {}", re.0.as_str()),
    }
}

/// The first condition of `r` that `req` fails, in words.
fn why_not(r: &RouteSpec, req: &RequestHead) -> Option<String> {
    let host = req.headers.get("host");
    if !path_ok(r, req.path()) {
        return Some(format!("{}: no", path_text(&r.path)));
    }
    if !method_ok(r, &req.method) {
        return Some(format!(
            "method {} not in {}{}",
            String::from_utf8_lossy(&req.method),
            r.methods.join(","),
            if r.method_not_allowed {
                " (405 if nothing else matches)"
            } else {
                ""
            }
        ));
    }
    if host_rank(r.host.as_deref(), host).is_none() {
        let seen = host.map_or("none".into(), |h| String::from_utf8_lossy(h).into_owned());
        return Some(format!(
            "host {} is not {}",
            seen,
            r.host.as_deref().unwrap_or("")
        ));
    }
    for (n, m) in &r.headers {
        if !value_ok(m, req.headers.get(n)) {
            return Some(format!("header {n} is not {}", value_text(m)));
        }
    }
    for (n, m) in &r.query {
        if !value_ok(m, req.query_param(n)) {
            return Some(format!("query {n} is not {}", value_text(m)));
        }
    }
    debug_assert!(conditions_ok(r, req, host));
    None
}
