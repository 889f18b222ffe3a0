//! `kind = "cors"`: Cross-Origin Resource Sharing (the Fetch standard).
//!
//! ```toml
//! [[middleware]]
//! name = "web"
//! kind = "cors"
//! allow_origins = ["https://app.example.com", "https://*.example.com"]  # or ["*"]
//! allow_methods = ["GET", "POST"]          # default GET, HEAD, POST
//! allow_headers = ["content-type"]         # request headers a preflight may ask for
//! expose_headers = ["x-request-id"]        # response headers scripts may read
//! allow_credentials = false
//! max_age = 600                            # seconds a preflight may be cached
//! ```
//!
//! A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`)
//! is answered here: 204 with the allowed methods and headers when the
//! origin, the method and every requested header are allowed, else 403
//! without CORS headers; it never reaches the upstream. Other requests go
//! on; their responses lose any `Access-Control-*` field the upstream set
//! and get this layer's, when the origin is allowed. `Vary: Origin` is on
//! every response, allowed or not, so a cache never serves one origin's
//! answer to another. `"*"` with `allow_credentials = true` is a config
//! error (browsers refuse it; reflecting any origin instead would silently
//! open credentials to every site).

use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;

use super::{Answer, Cx, Flow, Kind, Layer, Problems};
use crate::config::is_header_name;
use crate::http1::{RequestHead, ResponseHead};

/// The registry entry.
pub const KIND: Kind = Kind {
    name: "cors",
    build,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    allow_origins: Vec<String>,
    allow_methods: Option<Vec<String>>,
    #[serde(default)]
    allow_headers: Vec<String>,
    #[serde(default)]
    expose_headers: Vec<String>,
    #[serde(default)]
    allow_credentials: bool,
    max_age: Option<u32>,
}

/// One allowed origin.
#[derive(Debug, PartialEq, Eq)]
enum Origin {
    /// Every origin (`"*"`).
    Any,
    /// Exactly this (lower-case) origin.
    Exact(String),
    /// `scheme://*.suffix`: one more label in front of `suffix`.
    Wildcard { scheme: String, suffix: String },
}

/// The CORS policy of a route.
pub struct Cors {
    origins: Vec<Origin>,
    methods: Vec<String>,
    headers: Vec<String>,
    allow_methods: Bytes,
    allow_headers: Bytes,
    expose_headers: Bytes,
    credentials: bool,
    max_age: Bytes,
}

/// `scheme://host[:port]`, no path: an origin as browsers send it.
fn origin(s: &str) -> Result<Origin, String> {
    if s == "*" {
        return Ok(Origin::Any);
    }
    let lower = s.to_ascii_lowercase();
    let bad = || format!("{s:?} is not an origin (scheme://host[:port], or \"*\")");
    let (scheme, host) = lower.split_once("://").ok_or_else(bad)?;
    let scheme_ok = !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]*".contains(&b));
    if !scheme_ok || !host_ok {
        return Err(bad());
    }
    match host.strip_prefix("*.") {
        Some(suffix) if !suffix.contains('*') && !suffix.is_empty() => Ok(Origin::Wildcard {
            scheme: scheme.to_owned(),
            suffix: suffix.to_owned(),
        }),
        _ if host.contains('*') => Err(format!("{s:?}: a wildcard is one leading \"*.\" label")),
        _ => Ok(Origin::Exact(lower)),
    }
}

fn list(items: &[String]) -> Bytes {
    Bytes::from(items.join(", "))
}

fn build(_env: &super::Env<'_>, table: &toml::Table) -> Result<Arc<dyn Layer>, Problems> {
    let raw: Raw = super::settings(table)?;
    let mut problems = Vec::new();
    let mut origins = Vec::new();
    for s in &raw.allow_origins {
        match origin(s) {
            Ok(o) => origins.push(o),
            Err(m) => problems.push(("allow_origins".to_owned(), m)),
        }
    }
    if raw.allow_origins.is_empty() {
        problems.push((
            "allow_origins".into(),
            "at least one origin (or \"*\")".into(),
        ));
    }
    if raw.allow_credentials && origins.contains(&Origin::Any) {
        problems.push((
            "allow_credentials".into(),
            "\"*\" in allow_origins cannot go with credentials (browsers refuse it); list the origins".into(),
        ));
    }
    let methods = raw
        .allow_methods
        .unwrap_or_else(|| vec!["GET".into(), "HEAD".into(), "POST".into()]);
    for (key, names) in [
        ("allow_methods", &methods),
        ("allow_headers", &raw.allow_headers),
        ("expose_headers", &raw.expose_headers),
    ] {
        for n in names.iter().filter(|n| !is_header_name(n)) {
            problems.push((key.to_owned(), format!("{n:?} is not a token")));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let headers: Vec<String> = raw
        .allow_headers
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    Ok(Arc::new(Cors {
        allow_methods: list(&methods),
        allow_headers: list(&headers),
        expose_headers: list(&raw.expose_headers),
        max_age: Bytes::from(raw.max_age.unwrap_or(600).to_string()),
        credentials: raw.allow_credentials,
        origins,
        methods,
        headers,
    }))
}

fn field(name: &'static str) -> Bytes {
    Bytes::from_static(name.as_bytes())
}

impl Cors {
    /// The `Access-Control-Allow-Origin` value for a request from
    /// `origin`, or `None` when that origin is not allowed.
    fn allow_origin(&self, origin: &[u8]) -> Option<Bytes> {
        let o = std::str::from_utf8(origin).ok()?.to_ascii_lowercase();
        self.origins.iter().find_map(|allowed| match allowed {
            Origin::Any if !self.credentials => Some(Bytes::from_static(b"*")),
            Origin::Any => None,
            Origin::Exact(x) => (*x == o).then(|| Bytes::copy_from_slice(origin)),
            Origin::Wildcard { scheme, suffix } => {
                let (s, host) = o.split_once("://")?;
                let label = host.strip_suffix(suffix.as_str())?.strip_suffix('.')?;
                let one_label = !label.is_empty() && !label.contains('.') && !label.contains(':');
                (s == scheme && one_label).then(|| Bytes::copy_from_slice(origin))
            }
        })
    }

    /// The answer to a preflight: 204 with the policy, or 403.
    fn preflight(&self, req: &RequestHead, origin: &[u8], method: &[u8]) -> Answer {
        let allow = self.allow_origin(origin);
        let method_ok = self.methods.iter().any(|m| m.as_bytes() == method);
        let headers_ok = req
            .headers
            .get_all("access-control-request-headers")
            .flat_map(|v| v.split(|&b| b == b','))
            .map(crate::http1::head::trim)
            .filter(|h| !h.is_empty())
            .all(|h| {
                self.headers
                    .iter()
                    .any(|a| a.as_bytes().eq_ignore_ascii_case(h))
            });
        let mut answer = match allow {
            Some(origin) if method_ok && headers_ok => {
                let mut a = Answer::plain(204);
                a.head.headers.remove(b"content-type");
                let h = &mut a.head.headers;
                h.append(field("Access-Control-Allow-Origin"), origin);
                h.append(
                    field("Access-Control-Allow-Methods"),
                    self.allow_methods.clone(),
                );
                if !self.allow_headers.is_empty() {
                    h.append(
                        field("Access-Control-Allow-Headers"),
                        self.allow_headers.clone(),
                    );
                }
                if self.credentials {
                    h.append(
                        field("Access-Control-Allow-Credentials"),
                        Bytes::from_static(b"true"),
                    );
                }
                h.append(field("Access-Control-Max-Age"), self.max_age.clone());
                a
            }
            _ => Answer::plain(403),
        };
        answer.head.headers.append(
            field("Vary"),
            Bytes::from_static(
                b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
            ),
        );
        answer
    }
}

impl Layer for Cors {
    fn on_request(&self, req: &mut RequestHead, _cx: &mut Cx<'_>) -> Flow {
        if !super::is_preflight(req) {
            return Flow::Next;
        }
        let (Some(origin), Some(method)) = (
            req.headers.get("origin"),
            req.headers.get("access-control-request-method"),
        ) else {
            return Flow::Next;
        };
        Flow::Answer(self.preflight(req, origin, method))
    }

    fn on_response(&self, req: &RequestHead, resp: &mut ResponseHead, _cx: &mut Cx<'_>) {
        resp.headers
            .retain(|n, _| !(n.len() > 15 && n[..15].eq_ignore_ascii_case(b"access-control-")));
        resp.headers
            .append(field("Vary"), Bytes::from_static(b"Origin"));
        let Some(allow) = req.headers.get("origin").and_then(|o| self.allow_origin(o)) else {
            return;
        };
        resp.headers
            .append(field("Access-Control-Allow-Origin"), allow);
        if self.credentials {
            resp.headers.append(
                field("Access-Control-Allow-Credentials"),
                Bytes::from_static(b"true"),
            );
        }
        if !self.expose_headers.is_empty() {
            resp.headers.append(
                field("Access-Control-Expose-Headers"),
                self.expose_headers.clone(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        match build(
            &crate::middleware::Env::bare(None),
            &text.parse::<toml::Table>().unwrap(),
        ) {
            Ok(_) => vec![],
            Err(p) => p.into_iter().map(|(k, m)| format!("{k}: {m}")).collect(),
        }
    }

    #[test]
    fn origins_are_checked_and_star_with_credentials_is_refused() {
        assert!(problems(
            "allow_origins = [\"https://a.example.com\", \"http://*.example.com:8080\"]"
        )
        .is_empty());
        assert_eq!(
            problems("allow_origins = [\"*\"]\nallow_credentials = true"),
            ["allow_credentials: \"*\" in allow_origins cannot go with credentials (browsers refuse it); list the origins"]
        );
        assert_eq!(
            problems("allow_origins = [\"example.com\", \"https://a.*.com\"]\nallow_methods = [\"GE T\"]"),
            [
                "allow_origins: \"example.com\" is not an origin (scheme://host[:port], or \"*\")",
                "allow_origins: \"https://a.*.com\": a wildcard is one leading \"*.\" label",
                "allow_methods: \"GE T\" is not a token",
            ]
        );
        assert!(!problems("allow_origins = []").is_empty());
    }

    #[test]
    fn wildcards_match_one_label_of_the_same_scheme() {
        let table = "allow_origins = [\"https://*.example.com\", \"https://app.test\"]"
            .parse()
            .unwrap();
        let raw: Raw = toml::Value::Table(table).try_into().unwrap();
        let cors = Cors {
            origins: raw
                .allow_origins
                .iter()
                .map(|s| origin(s).unwrap())
                .collect(),
            methods: vec![],
            headers: vec![],
            allow_methods: Bytes::new(),
            allow_headers: Bytes::new(),
            expose_headers: Bytes::new(),
            credentials: false,
            max_age: Bytes::new(),
        };
        let ok = |o: &str| cors.allow_origin(o.as_bytes()).is_some();
        assert!(
            ok("https://a.example.com") && ok("https://APP.test") && ok("https://B.Example.com")
        );
        assert!(!ok("https://a.b.example.com") && !ok("http://a.example.com"));
        assert!(!ok("https://example.com") && !ok("https://evilexample.com") && !ok("null"));
    }
}
