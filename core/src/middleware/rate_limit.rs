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
//! store = "local"       # or "redis": shared by every instance ([redis])
//! mode = "exact"        # redis: "exact" | "local-first" (redis_store.rs)
//! sync_ms = 100         # local-first: how often counts are synchronised
//! on_store_error = "allow"  # redis unreachable: "allow" | "deny" (503)
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
use super::redis_store::{Decided, Mode, OnStoreError, Pushed, RedisStore, Script};
use super::{Answer, Cx, Flow, Kind, Layer, Problems};
use crate::call::{Call, Reply};
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
    store: Option<String>,
    mode: Option<String>,
    sync_ms: Option<u64>,
    on_store_error: Option<String>,
}

/// A rate limit and its store.
pub struct RateLimit {
    key: LimitKey,
    store: Gcra,
    /// `RateLimit-Policy` value, e.g. `"limit";q=100;w=1`.
    policy: Bytes,
    name: String,
    headers: bool,
    /// `store = "redis"`: where the counts are shared.
    shared: Option<RedisStore>,
}

fn build(env: &super::Env<'_>, table: &toml::Table) -> Result<Arc<dyn Layer>, Problems> {
    let raw: Raw = super::settings(table)?;
    let mut problems = Vec::new();
    let key = LimitKey::parse(raw.key.clone(), &mut problems);
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
    let name = env.name.unwrap_or("rate-limit").to_owned();
    let shared = shared_store(env, &raw, &name, &mut problems);
    if !problems.is_empty() {
        return Err(problems);
    }
    let window = per.div_ceil(1000);
    Ok(Arc::new(RateLimit {
        policy: Bytes::from(format!("\"{name}\";q={};w={window}", raw.rate)),
        store: Gcra::new(raw.rate, Duration::from_millis(per), burst, max_keys),
        key,
        name,
        headers,
        shared,
    }))
}

/// `store`, `mode`, `sync_ms` and `on_store_error`: the Redis store, if any.
fn shared_store(
    env: &super::Env<'_>,
    raw: &Raw,
    name: &str,
    problems: &mut Problems,
) -> Option<RedisStore> {
    let redis_only = |key: &str, set: bool, problems: &mut Problems| {
        if set {
            problems.push((key.into(), "goes with store = \"redis\" only".into()));
        }
    };
    match raw.store.as_deref() {
        None | Some("local") => {
            redis_only("mode", raw.mode.is_some(), problems);
            redis_only("sync_ms", raw.sync_ms.is_some(), problems);
            redis_only("on_store_error", raw.on_store_error.is_some(), problems);
            return None;
        }
        Some("redis") => {}
        Some(other) => {
            problems.push((
                "store".into(),
                format!("unknown store {other:?} (expected: local, redis)"),
            ));
            return None;
        }
    }
    let sync = raw.sync_ms.unwrap_or(100);
    if !(10..=60_000).contains(&sync) {
        problems.push(("sync_ms".into(), "must be between 10 and 60000".into()));
    }
    let mode = match raw.mode.as_deref() {
        // sync_ms is accepted (and unused) here: the issue's contract
        // block has it beside mode = "exact", and switching the mode is
        // then one line.
        None | Some("exact") => Mode::Exact,
        Some("local-first") => Mode::LocalFirst(Duration::from_millis(sync)),
        Some(other) => {
            problems.push((
                "mode".into(),
                format!("unknown mode {other:?} (expected: exact, local-first)"),
            ));
            Mode::Exact
        }
    };
    let on_error = match raw.on_store_error.as_deref() {
        None | Some("allow") => OnStoreError::Allow,
        Some("deny") => OnStoreError::Deny,
        Some(other) => {
            problems.push((
                "on_store_error".into(),
                format!("unknown value {other:?} (expected: allow, deny)"),
            ));
            OnStoreError::Allow
        }
    };
    let Some(redis) = env.redis else {
        problems.push((
            "store".into(),
            "store = \"redis\" needs a [redis] section with its url".into(),
        ));
        return None;
    };
    Some(RedisStore::new(redis.clone(), name, mode, on_error))
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

impl RateLimit {
    /// The answer to a verdict: on with the `RateLimit` fields, or 429.
    fn decide(&self, verdict: Verdict, cx: &mut Cx<'_>) -> Flow {
        match verdict {
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

    /// The store could not be asked: `on_store_error` decides.
    fn without_store(&self, store: &RedisStore, cx: &mut Cx<'_>) -> Flow {
        match store.on_error {
            OnStoreError::Allow => {
                cx.note = Some(crate::metrics::STORE_ERROR_ALLOWED);
                Flow::Next
            }
            OnStoreError::Deny => {
                cx.note = Some(crate::metrics::STORE_ERROR_DENIED);
                let mut a = Answer::plain(503);
                a.head
                    .headers
                    .append(field("Retry-After"), Bytes::from_static(b"1"));
                Flow::Answer(a)
            }
        }
    }

    /// local-first: the call that shares what this instance admitted.
    pub fn push(&self) -> Option<(Call, Pushed)> {
        self.shared.as_ref()?.push(&self.store)
    }

    /// local-first: what the shared store said to a push.
    pub fn pulled(&self, pushed: Pushed, reply: &Reply, now: std::time::Instant) {
        if let Some(s) = &self.shared {
            s.pulled(pushed, reply, &self.store, now);
        }
    }

    /// local-first: how often to synchronise (`None`: never).
    pub fn sync_every(&self) -> Option<Duration> {
        match self.shared.as_ref()?.mode {
            Mode::LocalFirst(every) => Some(every),
            Mode::Exact => None,
        }
    }
}

impl Layer for RateLimit {
    fn on_request(&self, req: &mut RequestHead, cx: &mut Cx<'_>) -> Flow {
        let key = self.key.of(req, cx);
        match &self.shared {
            None => self.decide(self.store.check(key, cx.now), cx),
            Some(store) => match store.mode {
                Mode::Exact => Flow::Call {
                    call: store.decide(key, &self.store, Script::Sha),
                    deadline: store.timeout(),
                },
                Mode::LocalFirst(_) => {
                    if store.is_down() {
                        let flow = self.without_store(store, cx);
                        if let Flow::Answer(_) = flow {
                            return flow;
                        }
                    }
                    let verdict = self.store.check(key, cx.now);
                    if let Verdict::Admit { .. } = verdict {
                        store.admitted(key);
                    }
                    self.decide(verdict, cx)
                }
            },
        }
    }

    fn on_reply(&self, req: &mut RequestHead, reply: Reply, cx: &mut Cx<'_>) -> Flow {
        let Some(store) = &self.shared else {
            return Flow::Next;
        };
        match store.verdict(&reply, &self.store) {
            Decided::Verdict(v) => self.decide(v, cx),
            Decided::LoadScript => Flow::Call {
                call: store.decide(self.key.of(req, cx), &self.store, Script::Text),
                deadline: store.timeout(),
            },
            Decided::Unusable => self.without_store(store, cx),
        }
    }

    fn synced(&self) -> Option<&RateLimit> {
        self.sync_every().map(|_| self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What is wrong with an entry's table.
    fn problems(t: &str) -> Problems {
        build(
            &crate::middleware::Env::bare(Some("l")),
            &t.parse().unwrap(),
        )
        .err()
        .unwrap_or_default()
    }

    #[test]
    fn the_issue_contract_block_loads() {
        let text = "listen = \"127.0.0.1:8080\"\n[redis]\nurl = \"redis://127.0.0.1:6379/0\"\n[[upstream]]\nname = \"app\"\nservers = [{ addr = \"127.0.0.1:9001\" }]\n[[middleware]]\nname = \"shared\"\nkind = \"rate-limit\"\nkey = [\"route\"]\nrate = 100\nper = 1000\nburst = 100\nstore = \"redis\"\nmode = \"exact\"\nsync_ms = 100\non_store_error = \"allow\"\n[[middleware]]\nname = \"sso\"\nkind = \"forward-auth\"\nurl = \"http://127.0.0.1:9100/check\"\ncopy_response_headers = [\"X-User\"]\n";
        let c = crate::Config::from_toml(text).unwrap();
        assert_eq!(c.middleware.len(), 2);
        assert_eq!(
            problems("rate = 1\nstore = \"redis\""),
            [(
                "store".to_owned(),
                "store = \"redis\" needs a [redis] section with its url".to_owned()
            )]
        );
        assert_eq!(
            problems("rate = 1\nmode = \"exact\""),
            [(
                "mode".to_owned(),
                "goes with store = \"redis\" only".to_owned()
            )]
        );
    }

    #[test]
    fn settings_are_checked() {
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
