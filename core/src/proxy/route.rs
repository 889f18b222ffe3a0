//! Routing: host (exact or `*.suffix`) and longest `path_prefix`.

use crate::config::RouteSpec;

/// The routes of a config, ready to match requests.
#[derive(Clone, Debug)]
pub struct Router {
    routes: Vec<RouteSpec>,
}

/// How specifically a route's host matched (higher wins on equal prefixes).
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

impl Router {
    /// A router over these routes.
    pub fn new(routes: Vec<RouteSpec>) -> Router {
        Router { routes }
    }

    /// The best route for a host and path: the longest matching prefix,
    /// then the most specific host, then config order.
    pub fn find(&self, host: Option<&[u8]>, path: &[u8]) -> Option<&RouteSpec> {
        let mut best: Option<(&RouteSpec, (usize, u8))> = None;
        for r in &self.routes {
            if !path.starts_with(r.path_prefix.as_bytes()) {
                continue;
            }
            let Some(rank) = host_rank(r.host.as_deref(), host) else {
                continue;
            };
            let score = (r.path_prefix.len(), rank);
            if best.is_none_or(|(_, s)| score > s) {
                best = Some((r, score));
            }
        }
        best.map(|(r, _)| r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(host: Option<&str>, prefix: &str, upstream: usize) -> RouteSpec {
        RouteSpec {
            host: host.map(str::to_owned),
            path_prefix: prefix.into(),
            upstream,
            strip_prefix: false,
            host_rewrite: None,
        }
    }

    #[test]
    fn longest_prefix_then_most_specific_host() {
        let r = Router::new(vec![
            route(None, "/", 0),
            route(None, "/api/", 1),
            route(Some("*.example.com"), "/api/", 2),
            route(Some("api.example.com"), "/api/", 3),
            route(Some("static.test"), "/", 4),
        ]);
        let up = |h: Option<&str>, p: &str| {
            r.find(h.map(str::as_bytes), p.as_bytes())
                .map(|r| r.upstream)
        };
        assert_eq!(up(Some("x"), "/index"), Some(0));
        assert_eq!(up(Some("x"), "/api/v1"), Some(1));
        assert_eq!(up(Some("a.example.com"), "/api/v1"), Some(2));
        assert_eq!(up(Some("API.example.com:8080"), "/api/v1"), Some(3));
        assert_eq!(up(Some("example.com"), "/api/v1"), Some(1));
        assert_eq!(up(Some("static.test"), "/x"), Some(4));
        assert_eq!(up(None, "/api"), Some(0));
        let only_host = Router::new(vec![route(Some("a.test"), "/", 0)]);
        assert!(only_host.find(Some(b"b.test"), b"/").is_none());
    }
}
