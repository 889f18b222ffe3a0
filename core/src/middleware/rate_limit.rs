//! `kind = "rate-limit"`: at most `rate` requests per `per` ms per key,
//! `burst` at once (GCRA, [`super::gcra`]), exact across the workers of
//! the process.
//!
//! ```toml
//! [[middleware]]
//! name = "limit"
//! kind = "rate-limit"
//! key = ["client-ip"]   # any of: client-ip (IPv6 by /64), route, host,
//!                       #   header:NAME, query:NAME; together = one key
//! rate = 100            # requests ...
//! per = 1000            # ... per this many ms (default 1000)
//! burst = 50            # at once (default: rate)
//! max_keys = 100000     # keys held at once (memory: 8 bytes each)
//! headers = "draft"     # RateLimit and RateLimit-Policy on every
//!                       #   response | "none" (only Retry-After on a 429)
//! ```
//!
//! Refused: 429, `Retry-After` (whole seconds, at least 1), the
//! `RateLimit`/`RateLimit-Policy` fields of
//! draft-ietf-httpapi-ratelimit-headers-12 and a problem+json body
//! (`quota-exceeded`). A request without the key (a missing header) is
//! keyed on the empty value. A reload that leaves a limit's settings
//! unchanged keeps its state (the plan keeps the same layer).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;

use super::gcra::{Gcra, Verdict};
use super::limit_key::LimitKey;
use super::{Answer, Cx, Flow, Kind, Layer, Problems};
use crate::http1::RequestHead;

/// The registry entry.
pub const KIND: Kind = Kind {
    name: "rate-limit",
    build,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    key: Option<Vec<String>>,
    rate: u64,
    per: Option<u64>,
    burst: Option<u64>,
    max_keys: Option<usize>,
    headers: Option<String>,
}

/// A rate limit and its store.
pub struct RateLimit {
    key: LimitKey,
    store: Gcra,
    /// `RateLimit-Policy` value, e.g. `"limit";q=100;w=1`.
    policy: Bytes,
    name: String,
    headers: bool,
}

fn build(env: &super::Env<'_>, table: &toml::Table) -> Result<Arc<dyn Layer>, Problems> {
    let raw: Raw = super::settings(table)?;
    let mut problems = Vec::new();
    let key = LimitKey::parse(raw.key, &mut problems);
    let per = raw.per.unwrap_or(1000);
    if raw.rate == 0 || raw.rate > 1_000_000 {
        problems.push(("rate".into(), "must be between 1 and 1000000".into()));
    }
    if per == 0 || per > 86_400_000 {
        problems.push(("per".into(), "must be between 1 and 86400000 (ms)".into()));
    }
    let burst = raw.burst.unwrap_or(raw.rate);
    if burst == 0 || burst > 1_000_000 {
        problems.push(("burst".into(), "must be between 1 and 1000000".into()));
    }
    let max_keys = raw.max_keys.unwrap_or(100_000);
    if !(8..=100_000_000).contains(&max_keys) {
        problems.push(("max_keys".into(), "must be between 8 and 100000000".into()));
    }
    let headers = match raw.headers.as_deref() {
        None | Some("draft") => true,
        Some("none") => false,
        Some(other) => {
            problems.push((
                "headers".into(),
                format!("unknown value {other:?} (expected: draft, none)"),
            ));
            true
        }
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let name = env.name.unwrap_or("rate-limit").to_owned();
    let window = per.div_ceil(1000);
    Ok(Arc::new(RateLimit {
        policy: Bytes::from(format!("\"{name}\";q={};w={window}", raw.rate)),
        store: Gcra::new(raw.rate, Duration::from_millis(per), burst, max_keys),
        key,
        name,
        headers,
    }))
}

/// Whole seconds, rounded up.
fn secs(d: Duration) -> u64 {
    d.as_micros().div_ceil(1_000_000) as u64
}

impl RateLimit {
    fn state(&self, remaining: u64, reset: Duration) -> Bytes {
        Bytes::from(format!("\"{}\";r={remaining};t={}", self.name, secs(reset)))
    }
}

fn field(name: &'static str) -> Bytes {
    Bytes::from_static(name.as_bytes())
}

impl Layer for RateLimit {
    fn on_request(&self, req: &mut RequestHead, cx: &mut Cx<'_>) -> Flow {
        match self.store.check(self.key.of(req, cx), cx.now) {
            Verdict::Admit { remaining, reset } => {
                if self.headers {
                    cx.response_fields
                        .push((field("RateLimit-Policy"), self.policy.clone()));
                    cx.response_fields
                        .push((field("RateLimit"), self.state(remaining, reset)));
                }
                Flow::Next
            }
            Verdict::Refuse { wait } => {
                let mut a = Answer::plain(429);
                let h = &mut a.head.headers;
                h.set(
                    field("Content-Type"),
                    Bytes::from_static(b"application/problem+json"),
                );
                h.append(
                    field("Retry-After"),
                    Bytes::from(secs(wait).max(1).to_string()),
                );
                if self.headers {
                    h.append(field("RateLimit-Policy"), self.policy.clone());
                    h.append(field("RateLimit"), self.state(0, wait));
                }
                a.body = Bytes::from_static(
                    b"{\"type\":\"https://iana.org/assignments/http-problem-types#quota-exceeded\",\"title\":\"Too Many Requests\",\"status\":429}\n",
                );
                Flow::Answer(a)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        let problems = |t: &str| {
            build(
                &crate::middleware::Env::bare(Some("l")),
                &t.parse().unwrap(),
            )
            .err()
            .unwrap_or_default()
        };
        assert!(problems("rate = 10").is_empty());
        assert_eq!(
            problems("rate = 0\nper = 0\nkey = [\"cookie:x\"]\nheaders = \"x\""),
            [
                ("key".to_owned(), "unknown key \"cookie:x\" (expected: client-ip, route, host, principal, header:NAME, query:NAME)".to_owned()),
                ("rate".to_owned(), "must be between 1 and 1000000".to_owned()),
                ("per".to_owned(), "must be between 1 and 86400000 (ms)".to_owned()),
                ("burst".to_owned(), "must be between 1 and 1000000".to_owned()),
                ("headers".to_owned(), "unknown value \"x\" (expected: draft, none)".to_owned()),
            ]
        );
    }
}
