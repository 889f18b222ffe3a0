//! `kind = "forward-auth"`: asks an authentication service about each
//! request before it goes on (Traefik's ForwardAuth, nginx's
//! `auth_request`), through a call out of the core.
//!
//! ```toml
//! [[middleware]]
//! name = "sso"
//! kind = "forward-auth"
//! url = "http://127.0.0.1:9100/check"  # http, an IP address (or localhost)
//! copy_request_headers = ["Authorization", "Cookie"]  # default: every field
//! copy_response_headers = ["X-User"]   # set on the upstream request on 2xx
//! timeout = 2000        # ms to wait for the answer (default 2000)
//! on_error = 500        # the status of a timeout or failure (default 500)
//! cache_ttl = 0         # ms; > 0 keeps answers by cache_key that long
//! cache_key = ["header:Authorization", "header:Cookie"]  # as rate-limit keys
//! max_cache = 10000     # answers kept at once
//! ```
//!
//! The service gets `GET /check` with `X-Forwarded-Method`,
//! `X-Forwarded-Proto`, `X-Forwarded-Host`, `X-Forwarded-Uri` and
//! `X-Forwarded-For` describing the original request, and the copied
//! fields; no body. A 2xx lets the request on, with each
//! `copy_response_headers` field set from the answer; those fields are
//! removed from the request first whatever the answer, so a client cannot
//! send its own `X-User`. Any other status is relayed to the client with
//! its fields (but not its framing) and body. No answer by `timeout`, a
//! refused connection or a malformed answer: `on_error`, a plain answer.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use fxhash::FxHashMap;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::limit_key::LimitKey;
use super::{Answer, Cx, Flow, Kind, Layer, Problems};
use crate::call::{http_reply, Call, Protocol, Reply};
use crate::http1::{Headers, RequestHead, ResponseHead};

/// The registry entry.
pub const KIND: Kind = Kind {
    name: "forward-auth",
    build,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    url: String,
    copy_request_headers: Option<Vec<String>>,
    #[serde(default)]
    copy_response_headers: Vec<String>,
    timeout: Option<u64>,
    on_error: Option<u16>,
    cache_ttl: Option<u64>,
    cache_key: Option<Vec<String>>,
    max_cache: Option<usize>,
}

/// What the service said, as kept in the cache.
#[derive(Clone)]
enum Verdict {
    /// Go on, with these fields set on the request.
    Allow(Vec<(Bytes, Bytes)>),
    /// Answer the client with this.
    Deny(Answer),
}

/// A forward-auth layer.
pub struct ForwardAuth {
    addr: SocketAddr,
    /// `Host` of the call.
    authority: Bytes,
    path: Bytes,
    /// Fields copied to the service; `None`: all of them.
    copy_request: Option<Vec<String>>,
    copy_response: Vec<String>,
    timeout: Duration,
    on_error: u16,
    cache_ttl: Duration,
    cache_key: LimitKey,
    max_cache: usize,
    /// Answers by digest of the cache key, with when they expire.
    cache: Mutex<FxHashMap<[u8; 32], (Instant, Verdict)>>,
}

/// `http://HOST:PORT/path`, HOST an IP address, localhost or a name
/// (resolved as the config loads).
fn service(
    url: &str,
    names: crate::config::dns::Resolver<'_>,
) -> Result<(SocketAddr, String, String), String> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(format!(
            "{url:?}: expected http://IP:PORT/PATH (https is not spoken to auth services)"
        ));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr =
        crate::config::dns::service_addr(authority, names).map_err(|m| format!("{url:?}: {m}"))?;
    if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(format!(
            "{url:?}: the path has spaces or control characters"
        ));
    }
    Ok((addr, authority.to_owned(), path.to_owned()))
}

/// Header names as written (compared without regard to case).
fn header_list(key: &str, names: &[String], problems: &mut Problems) -> Vec<String> {
    for n in names {
        if !crate::config::is_header_name(n) {
            problems.push((key.to_owned(), format!("{n:?} is not a header name")));
        }
    }
    names.to_vec()
}

fn build(env: &super::Env<'_>, table: &toml::Table) -> Result<Arc<dyn Layer>, Problems> {
    let raw: Raw = super::settings(table)?;
    let mut problems = Vec::new();
    let target = service(&raw.url, env.names).map_err(|m| vec![("url".to_owned(), m)]);
    let copy_request = raw
        .copy_request_headers
        .as_ref()
        .map(|l| header_list("copy_request_headers", l, &mut problems));
    let copy_response = header_list(
        "copy_response_headers",
        &raw.copy_response_headers,
        &mut problems,
    );
    let timeout = raw.timeout.unwrap_or(2000);
    if !(1..=60_000).contains(&timeout) {
        problems.push(("timeout".into(), "must be between 1 and 60000 (ms)".into()));
    }
    let on_error = raw.on_error.unwrap_or(500);
    if !(400..=599).contains(&on_error) {
        problems.push((
            "on_error".into(),
            "must be a status between 400 and 599".into(),
        ));
    }
    let cache_ttl = raw.cache_ttl.unwrap_or(0);
    if cache_ttl > 3_600_000 {
        problems.push(("cache_ttl".into(), "must be at most 3600000 (ms)".into()));
    }
    let cache_key = LimitKey::parse(
        Some(
            raw.cache_key
                .unwrap_or_else(|| vec!["header:authorization".into(), "header:cookie".into()]),
        ),
        &mut problems,
    );
    let max_cache = raw.max_cache.unwrap_or(10_000);
    if !(1..=10_000_000).contains(&max_cache) {
        problems.push(("max_cache".into(), "must be between 1 and 10000000".into()));
    }
    let (addr, authority, path) = match target {
        Ok(t) => t,
        Err(mut p) => {
            p.append(&mut problems);
            return Err(p);
        }
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Arc::new(ForwardAuth {
        addr,
        authority: Bytes::from(authority),
        path: Bytes::from(path),
        copy_request,
        copy_response,
        timeout: Duration::from_millis(timeout),
        on_error,
        cache_ttl: Duration::from_millis(cache_ttl),
        cache_key,
        max_cache,
        cache: Mutex::new(FxHashMap::default()),
    }))
}

/// Fields never copied to the service: its own framing and routing, and
/// the `X-Forwarded-*` fields this layer writes itself.
fn never_copied(name: &[u8]) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        &n[..],
        b"host" | b"content-length" | b"transfer-encoding" | b"expect" | b"connection"
    ) || n.starts_with(b"x-forwarded-")
}

/// Fields of the service's answer not relayed: its framing and connection.
fn not_relayed(name: &[u8]) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        &n[..],
        b"content-length"
            | b"transfer-encoding"
            | b"connection"
            | b"keep-alive"
            | b"proxy-connection"
            | b"upgrade"
            | b"trailer"
    )
}

impl ForwardAuth {
    /// The request to the service about `req`.
    fn call(&self, req: &RequestHead, cx: &Cx<'_>) -> Call {
        let mut out = BytesMut::with_capacity(512);
        out.put_slice(b"GET ");
        out.put_slice(&self.path);
        out.put_slice(b" HTTP/1.1\r\nHost: ");
        out.put_slice(&self.authority);
        let mut field = |name: &[u8], value: &[u8]| {
            out.put_slice(b"\r\n");
            out.put_slice(name);
            out.put_slice(b": ");
            out.put_slice(value);
        };
        field(b"X-Forwarded-Method", &req.method);
        field(b"X-Forwarded-Proto", b"http");
        field(b"X-Forwarded-Host", req.headers.get("host").unwrap_or(b""));
        field(b"X-Forwarded-Uri", &req.target);
        field(b"X-Forwarded-For", cx.client_ip);
        for (name, value) in req.headers.iter() {
            let wanted = match &self.copy_request {
                None => true,
                Some(list) => list.iter().any(|n| name.eq_ignore_ascii_case(n.as_bytes())),
            };
            if wanted && !never_copied(name) {
                field(name, value);
            }
        }
        out.put_slice(b"\r\nConnection: close\r\n\r\n");
        Call {
            addr: self.addr,
            protocol: Protocol::Http,
            request: out.freeze(),
            reuse: false,
        }
    }

    /// What the service's answer means.
    fn verdict(&self, head: ResponseHead, body: Bytes) -> Verdict {
        if (200..300).contains(&head.status) {
            let fields = self
                .copy_response
                .iter()
                .filter_map(|n| {
                    let v = head.headers.get_bytes(n)?;
                    Some((Bytes::from(n.clone()), v))
                })
                .collect();
            return Verdict::Allow(fields);
        }
        let mut relayed = ResponseHead::new(head.status);
        relayed.reason = head.reason.clone();
        let mut headers = Headers::default();
        for (n, v) in head.headers.iter() {
            if !not_relayed(n) {
                headers.append(Bytes::copy_from_slice(n), Bytes::copy_from_slice(v));
            }
        }
        relayed.headers = headers;
        Verdict::Deny(Answer {
            head: relayed,
            body,
        })
    }

    /// Applies a verdict to the request.
    fn apply(&self, v: Verdict, req: &mut RequestHead) -> Flow {
        match v {
            Verdict::Allow(fields) => {
                for (n, value) in fields {
                    req.headers.set(n, value);
                }
                Flow::Next
            }
            Verdict::Deny(a) => Flow::Answer(a),
        }
    }

    fn cache_key(&self, req: &RequestHead, cx: &Cx<'_>) -> Option<[u8; 32]> {
        if self.cache_ttl.is_zero() {
            return None;
        }
        let mut h = Sha256::new();
        self.cache_key.parts(req, cx, |v| {
            h.update((v.len() as u64).to_le_bytes());
            h.update(v);
        });
        Some(h.finalize().into())
    }
}

impl Layer for ForwardAuth {
    fn on_request(&self, req: &mut RequestHead, cx: &mut Cx<'_>) -> Flow {
        for n in &self.copy_response {
            req.headers.remove(n.as_bytes());
        }
        if let Some(key) = self.cache_key(req, cx) {
            let hit = self.cache.lock().ok().and_then(|c| {
                c.get(&key)
                    .filter(|(until, _)| *until > cx.now)
                    .map(|(_, v)| v.clone())
            });
            if let Some(v) = hit {
                return self.apply(v, req);
            }
        }
        Flow::Call {
            call: self.call(req, cx),
            deadline: self.timeout,
        }
    }

    fn on_reply(&self, req: &mut RequestHead, reply: Reply, cx: &mut Cx<'_>) -> Flow {
        let answer = match reply {
            Reply::Done(bytes) => http_reply(&bytes).ok(),
            Reply::Failed(_) | Reply::Expired => None,
        };
        let Some((head, body)) = answer else {
            return Flow::Answer(Answer::plain(self.on_error));
        };
        let v = self.verdict(head, body);
        if let Some(key) = self.cache_key(req, cx) {
            if let Ok(mut c) = self.cache.lock() {
                if c.len() >= self.max_cache {
                    let now = cx.now;
                    c.retain(|_, (until, _)| *until > now);
                    if c.len() >= self.max_cache {
                        c.clear();
                    }
                }
                c.insert(key, (cx.now + self.cache_ttl, v.clone()));
            }
        }
        self.apply(v, req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(t: &str) -> Problems {
        build(&super::super::Env::bare(Some("a")), &t.parse().unwrap())
            .err()
            .unwrap_or_default()
    }

    #[test]
    fn settings_are_checked() {
        assert!(problems("url = \"http://127.0.0.1:9100/check\"").is_empty());
        assert!(problems("url = \"http://localhost:9100\"").is_empty());
        assert_eq!(
            problems("url = \"https://auth:1/x\"\ntimeout = 0\non_error = 200\ncopy_response_headers = [\"a b\"]"),
            [
                ("url".to_owned(), "\"https://auth:1/x\": expected http://IP:PORT/PATH (https is not spoken to auth services)".to_owned()),
                ("copy_response_headers".to_owned(), "\"a b\" is not a header name".to_owned()),
                ("timeout".to_owned(), "must be between 1 and 60000 (ms)".to_owned()),
                ("on_error".to_owned(), "must be a status between 400 and 599".to_owned()),
            ]
        );
        assert_eq!(
            problems("url = \"http://auth.example:80/x\""),
            [(
                "url".to_owned(),
                "\"http://auth.example:80/x\": cannot resolve \"auth.example\" here (no resolver)"
                    .to_owned()
            )]
        );
    }
}
