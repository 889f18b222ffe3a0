//! The key a limit counts by (`key = ["client-ip", "route"]`), shared by
//! `rate-limit` and `concurrency`: any of `client-ip` (an IPv6 client by
//! its /64: one host has many addresses), `route`, `host`,
//! `header:NAME`, `query:NAME`; several make one key. A request without
//! a part (a missing header) counts under the empty value.

use std::net::IpAddr;

use super::{Cx, Problems};
use crate::http1::RequestHead;
use crate::rng::{fnv1a, mix};

/// One part of the key.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    ClientIp,
    Route,
    Host,
    Principal,
    Header(String),
    Query(String),
}

/// A limit's key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitKey(Vec<Part>);

fn part(s: &str) -> Option<Part> {
    Some(match s {
        "client-ip" => Part::ClientIp,
        "route" => Part::Route,
        "host" => Part::Host,
        "principal" => Part::Principal,
        _ => match s.split_once(':')? {
            ("header", n) if crate::config::is_header_name(n) => {
                Part::Header(n.to_ascii_lowercase())
            }
            ("query", n) if !n.is_empty() => Part::Query(n.to_owned()),
            _ => return None,
        },
    })
}

impl LimitKey {
    /// The key of `key = [...]` (default: `client-ip`); problems under `key`.
    pub fn parse(list: Option<Vec<String>>, problems: &mut Problems) -> LimitKey {
        let mut parts = Vec::new();
        for s in list.unwrap_or_else(|| vec!["client-ip".into()]) {
            match part(&s) {
                Some(p) => parts.push(p),
                None => problems.push((
                    "key".to_owned(),
                    format!("unknown key {s:?} (expected: client-ip, route, host, principal, header:NAME, query:NAME)"),
                )),
            }
        }
        LimitKey(parts)
    }

    /// The request's key, hashed (the same on every instance: Redis
    /// keys are named by it).
    pub fn of(&self, req: &RequestHead, cx: &Cx<'_>) -> u64 {
        let mut h: u64 = 0x5745_4952;
        self.parts(req, cx, |v| h = mix(h ^ fnv1a(v)));
        h
    }

    /// Each part's value in turn, as bytes (for a key that must not
    /// collide: the forward-auth cache digests them).
    pub fn parts(&self, req: &RequestHead, cx: &Cx<'_>, mut each: impl FnMut(&[u8])) {
        for p in &self.0 {
            match p {
                Part::ClientIp => match cx.client.ip() {
                    IpAddr::V4(ip) => each(&ip.octets()),
                    IpAddr::V6(ip) => each(&ip.octets()[..8]),
                },
                Part::Route => each(cx.route),
                Part::Principal => each(cx.principal.as_deref().unwrap_or(b"")),
                Part::Host => each(&req.headers.get("host").unwrap_or(b"").to_ascii_lowercase()),
                Part::Header(n) => each(req.headers.get(n).unwrap_or(b"")),
                Part::Query(n) => each(req.query_param(n).unwrap_or(b"")),
            }
        }
    }
}
