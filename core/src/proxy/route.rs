//! Routing: which route a request takes.
//!
//! Precedence among the routes that match, decided once at load (the
//! routes are kept sorted, so the first match wins):
//!
//! 1. the higher `priority` (default 0);
//! 2. the path condition: `path` (exact) before `path_prefix` (the longer
//!    prefix first) before `path_regex`;
//! 3. more conditions (a `host`, `methods`, each `headers` and `query`
//!    entry counts one);
//! 4. the more specific host: exact, then `*.suffix`, then none;
//! 5. file order.
//!
//! When no route matches but some route with `method_not_allowed = true`
//! would if not for its `methods`, the answer is 405 with those methods
//! in `Allow`; otherwise 404.

use std::cmp::Reverse;

use bytes::Bytes;
use regex::{RegexSet, RegexSetBuilder, SetMatches};

use crate::config::route::REGEX_SET_SIZE_LIMIT;
use crate::config::{PathMatch, RouteSpec, ValueMatch};
use crate::http1::RequestHead;

/// The routes of a config, in precedence order, ready to match requests.
#[derive(Clone, Debug)]
pub struct Router {
    /// One per route, best first, small and contiguous: the scan reads
    /// little memory per route.
    entries: Vec<Entry>,
    routes: Vec<RouteSpec>,
    /// Every `path_regex`, in entry order: one pass over the path decides
    /// them all, the first time the scan reaches a regex route.
    regexes: RegexSet,
    any_405: bool,
}

/// A route as the scan sees it.
#[derive(Clone, Debug)]
struct Entry {
    /// Its index in config order.
    route: usize,
    path: EntryPath,
    /// No condition but the path: a path match is a route match.
    path_only: bool,
}

#[derive(Clone, Debug)]
enum EntryPath {
    Prefix(Box<[u8]>),
    Exact(Box<[u8]>),
    /// Its index in `Router::regexes`.
    Regex(usize),
}

/// What [`Router::find`] decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found {
    /// This route (its index in config order).
    Route(usize),
    /// Only the method kept a `method_not_allowed` route from matching:
    /// 405, with this `Allow` value.
    WrongMethod(Bytes),
    /// Nothing matches: 404.
    Nothing,
}

/// How specifically a route's host matched (higher is more specific).
fn host_rank(pattern: Option<&str>, host: Option<&[u8]>) -> Option<u8> {
    let Some(pattern) = pattern else {
        return Some(0);
    };
    let host = host?;
    // Drop a port, if any (IPv6 literals are bracketed).
    let bare = match host.iter().rposition(|&b| b == b':') {
        Some(i) if !host[i..].contains(&b']') => &host[..i],
        _ => host,
    };
    if let Some(suffix) = pattern.strip_prefix("*.") {
        let s = suffix.as_bytes();
        let ok = bare.len() > s.len() + 1
            && bare[bare.len() - s.len()..].eq_ignore_ascii_case(s)
            && bare[bare.len() - s.len() - 1] == b'.';
        ok.then_some(1)
    } else {
        bare.eq_ignore_ascii_case(pattern.as_bytes()).then_some(2)
    }
}

/// The precedence key of a route: greater wins (ties: file order).
fn rank(r: &RouteSpec) -> (i32, u8, usize, usize, u8) {
    let (kind, len) = match &r.path {
        PathMatch::Exact(p) => (3, p.len()),
        PathMatch::Prefix(p) => (2, p.len()),
        PathMatch::Regex(_) => (1, 0),
    };
    let conditions = usize::from(r.host.is_some())
        + usize::from(!r.methods.is_empty())
        + r.headers.len()
        + r.query.len();
    let host = match r.host.as_deref() {
        None => 0,
        Some(h) if h.starts_with("*.") => 1,
        Some(_) => 2,
    };
    (r.priority, kind, len, conditions, host)
}

fn value_ok(m: &ValueMatch, value: Option<&[u8]>) -> bool {
    match (m, value) {
        (ValueMatch::Absent, v) => v.is_none(),
        (_, None) => false,
        (ValueMatch::Present, Some(_)) => true,
        (ValueMatch::Exact(x), Some(v)) => x.as_bytes() == v,
        (ValueMatch::Regex(re), Some(v)) => std::str::from_utf8(v).is_ok_and(|v| re.0.is_match(v)),
    }
}

/// The path condition alone (the slow way: for the 405 search).
fn path_ok(r: &RouteSpec, path: &[u8]) -> bool {
    match &r.path {
        PathMatch::Prefix(p) => path.starts_with(p.as_bytes()),
        PathMatch::Exact(p) => path == p.as_bytes(),
        PathMatch::Regex(re) => std::str::from_utf8(path).is_ok_and(|p| re.0.is_match(p)),
    }
}

/// Host, headers and query (everything but the path and the method).
fn conditions_ok(r: &RouteSpec, req: &RequestHead, host: Option<&[u8]>) -> bool {
    host_rank(r.host.as_deref(), host).is_some()
        && r.headers
            .iter()
            .all(|(n, m)| value_ok(m, req.headers.get(n)))
        && r.query.iter().all(|(n, m)| value_ok(m, req.query_param(n)))
}

fn method_ok(r: &RouteSpec, method: &[u8]) -> bool {
    r.methods.is_empty() || r.methods.iter().any(|m| m.as_bytes() == method)
}

impl Router {
    /// A router over these routes (in config order).
    pub fn new(routes: Vec<RouteSpec>) -> Router {
        let mut order: Vec<usize> = (0..routes.len()).collect();
        order.sort_by_key(|&i| (Reverse(rank(&routes[i])), i));
        let mut sources = Vec::new();
        let entries = order
            .into_iter()
            .map(|i| {
                let r = &routes[i];
                let path = match &r.path {
                    PathMatch::Prefix(p) => EntryPath::Prefix(p.as_bytes().into()),
                    PathMatch::Exact(p) => EntryPath::Exact(p.as_bytes().into()),
                    PathMatch::Regex(re) => {
                        sources.push(re.0.as_str().to_owned());
                        EntryPath::Regex(sources.len() - 1)
                    }
                };
                let path_only = r.host.is_none()
                    && r.methods.is_empty()
                    && r.headers.is_empty()
                    && r.query.is_empty();
                Entry {
                    route: i,
                    path,
                    path_only,
                }
            })
            .collect();
        // Config validation built this same set within the same limit, so
        // it builds here (should it not, regex routes match nothing).
        let regexes = RegexSetBuilder::new(&sources)
            .size_limit(REGEX_SET_SIZE_LIMIT)
            .build()
            .unwrap_or_else(|_| RegexSet::empty());
        Router {
            any_405: routes.iter().any(|r| r.method_not_allowed),
            entries,
            routes,
            regexes,
        }
    }

    /// The routes, in config order.
    pub fn routes(&self) -> &[RouteSpec] {
        &self.routes
    }

    /// The route `req` takes (by its `Host` and normalised path).
    pub fn find(&self, req: &RequestHead) -> Found {
        let host = req.headers.get("host");
        let path = req.path();
        let mut regex_hits: Option<SetMatches> = None;
        let path_str = std::str::from_utf8(path).ok();
        for e in &self.entries {
            let path_ok = match &e.path {
                EntryPath::Prefix(p) => path.starts_with(p),
                EntryPath::Exact(p) => path == &p[..],
                EntryPath::Regex(k) => match path_str {
                    Some(p) if *k < self.regexes.len() => regex_hits
                        .get_or_insert_with(|| self.regexes.matches(p))
                        .matched(*k),
                    _ => false,
                },
            };
            if !path_ok {
                continue;
            }
            if e.path_only {
                return Found::Route(e.route);
            }
            let r = &self.routes[e.route];
            if method_ok(r, &req.method) && conditions_ok(r, req, host) {
                return Found::Route(e.route);
            }
        }
        if self.any_405 {
            let mut allow: Vec<&str> = Vec::new();
            for e in &self.entries {
                let r = &self.routes[e.route];
                if r.method_not_allowed && path_ok(r, path) && conditions_ok(r, req, host) {
                    for m in &r.methods {
                        if !allow.contains(&m.as_str()) {
                            allow.push(m);
                        }
                    }
                }
            }
            if !allow.is_empty() {
                return Found::WrongMethod(Bytes::from(allow.join(", ")));
            }
        }
        Found::Nothing
    }
}

#[cfg(test)]
mod tests;
mod why;
