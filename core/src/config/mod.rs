//! The config model: parsed from TOML text, validated, every error with its
//! line. See DESIGN.md and the README's config reference for the schema.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::balancer::group::GroupSpec;
use crate::balancer::{HashKey, Strategy};
use crate::http1::path::PathRules;

mod http;
use http::{path_rules, RawHttp};

/// One problem in a config, with the line it is on (1-based) when known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// Line of the offending key or value.
    pub line: Option<usize>,
    /// The key path, e.g. `upstream[0].servers[1].addr`.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(l) = self.line {
            write!(f, "line {l}: ")?;
        }
        if self.key.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

/// Every timeout of DESIGN.md's `[timeouts]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// The whole request head must arrive within this (408).
    pub client_header: Duration,
    /// Longest gap between request body bytes (408).
    pub client_body: Duration,
    /// An idle keep-alive client is closed after this.
    pub client_idle: Duration,
    /// Connecting to a server; then the next server, else 502.
    pub upstream_connect: Duration,
    /// The response head must arrive within this (504).
    pub upstream_response: Duration,
    /// Longest gap between response body bytes (close).
    pub upstream_idle: Duration,
    /// A pooled upstream connection is closed after this.
    pub pool_idle: Duration,
    /// An upgraded tunnel with no bytes either way is closed after this.
    pub tunnel_idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        let ms = Duration::from_millis;
        Timeouts {
            client_header: ms(10_000),
            client_body: ms(30_000),
            client_idle: ms(60_000),
            upstream_connect: ms(2_000),
            upstream_response: ms(30_000),
            upstream_idle: ms(60_000),
            pool_idle: ms(30_000),
            tunnel_idle: ms(300_000),
        }
    }
}

/// Every limit of `[limits]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most client connections open at once.
    pub max_connections: usize,
    /// Largest request head in bytes (431).
    pub max_request_head: usize,
    /// Largest response head in bytes (502).
    pub max_response_head: usize,
    /// Largest request body in bytes, 0 = unlimited (413).
    pub max_request_body: u64,
    /// Most bytes the core holds for one direction of one connection.
    pub window: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 10_000,
            max_request_head: 16_384,
            max_response_head: 16_384,
            max_request_body: 0,
            window: 65_536,
        }
    }
}

/// One `[[route]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteSpec {
    /// Exact host, or `*.suffix`; `None` matches every host.
    pub host: Option<String>,
    /// Path prefix; the longest match wins.
    pub path_prefix: String,
    /// Index of the upstream group.
    pub upstream: usize,
    /// Remove the prefix before forwarding (keeping a leading `/`).
    pub strip_prefix: bool,
    /// Replace `Host` with this value upstream.
    pub host_rewrite: Option<String>,
}

/// One `[[middleware]]` layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayerSpec {
    /// `kind = "headers"`: set and remove request and response headers.
    Headers {
        /// Headers set on the request (replacing any of the same name).
        request_set: Vec<(String, String)>,
        /// Headers removed from the request.
        request_remove: Vec<String>,
        /// Headers set on the response.
        response_set: Vec<(String, String)>,
        /// Headers removed from the response.
        response_remove: Vec<String>,
    },
}

/// A validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address to accept clients on.
    pub listen: SocketAddr,
    /// Worker threads; `None` = one per core (decided by the frontend).
    pub workers: Option<usize>,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Limits.
    pub limits: Limits,
    /// Upstream groups, in config order.
    pub upstreams: Vec<GroupSpec>,
    /// Routes, in config order.
    pub routes: Vec<RouteSpec>,
    /// Middleware layers, outermost first.
    pub middleware: Vec<LayerSpec>,
    /// How request paths are normalised before routing (`[http]`).
    pub paths: PathRules,
    /// A deliberate break, for proving the fuzz oracle (tests only).
    #[cfg(feature = "test-mutants")]
    pub mutant: crate::mutant::Mutant,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Spanned<String>,
    workers: Option<Spanned<usize>>,
    #[serde(default)]
    timeouts: RawTimeouts,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    http: RawHttp,
    #[serde(default)]
    upstream: Vec<RawUpstream>,
    #[serde(default)]
    route: Vec<RawRoute>,
    #[serde(default)]
    middleware: Vec<RawLayer>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTimeouts {
    client_header: Option<Spanned<u64>>,
    client_body: Option<Spanned<u64>>,
    client_idle: Option<Spanned<u64>>,
    upstream_connect: Option<Spanned<u64>>,
    upstream_response: Option<Spanned<u64>>,
    upstream_idle: Option<Spanned<u64>>,
    pool_idle: Option<Spanned<u64>>,
    tunnel_idle: Option<Spanned<u64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_connections: Option<usize>,
    max_request_head: Option<Spanned<usize>>,
    max_response_head: Option<Spanned<usize>>,
    max_request_body: Option<u64>,
    window: Option<Spanned<usize>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpstream {
    name: Spanned<String>,
    balancer: Option<Spanned<String>>,
    hash_key: Option<Spanned<String>>,
    servers: Spanned<Vec<RawServer>>,
    max_fails: Option<u32>,
    fail_timeout: Option<u64>,
    fail_open: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    addr: Spanned<String>,
    weight: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    host: Option<Spanned<String>>,
    path_prefix: Option<Spanned<String>>,
    upstream: Spanned<String>,
    #[serde(default)]
    strip_prefix: bool,
    host_rewrite: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayer {
    kind: Spanned<String>,
    #[serde(default)]
    request_set: BTreeMap<String, String>,
    #[serde(default)]
    request_remove: Vec<String>,
    #[serde(default)]
    response_set: BTreeMap<String, String>,
    #[serde(default)]
    response_remove: Vec<String>,
}

/// Turns byte offsets into line numbers and collects errors.
struct Errors<'a> {
    text: &'a str,
    list: Vec<ConfigError>,
}

impl Errors<'_> {
    fn line(&self, span: Range<usize>) -> usize {
        let end = span.start.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    fn at(&mut self, span: Range<usize>, key: String, message: String) {
        let line = Some(self.line(span));
        self.list.push(ConfigError { line, key, message });
    }
}

/// Headers the core owns: a layer may not set or remove them.
const FRAMING: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

fn is_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn is_header_value(s: &str) -> bool {
    s.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

impl Config {
    /// Parses and validates TOML text; returns every error found.
    pub fn from_toml(text: &str) -> Result<Config, Vec<ConfigError>> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let mut errs = Errors { text, list: vec![] };
            let line = e.span().map(|s| errs.line(s));
            errs.list.push(ConfigError {
                line,
                key: String::new(),
                message: e.message().trim().to_owned(),
            });
            errs.list
        })?;
        let mut errs = Errors { text, list: vec![] };
        let listen = match raw.listen.get_ref().parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) => {
                errs.at(
                    raw.listen.span(),
                    "listen".into(),
                    format!(
                        "invalid address {:?} (expected IP:PORT)",
                        raw.listen.get_ref()
                    ),
                );
                SocketAddr::from(([127, 0, 0, 1], 0))
            }
        };
        if let Some(w) = &raw.workers {
            if *w.get_ref() == 0 || *w.get_ref() > 1024 {
                errs.at(
                    w.span(),
                    "workers".into(),
                    "must be between 1 and 1024".into(),
                );
            }
        }
        let d = Timeouts::default();
        let t = &raw.timeouts;
        // A zero timeout would fire at once (a 408 before any byte): refused.
        let mut ms = |v: &Option<Spanned<u64>>, name: &str, def: Duration| match v {
            Some(v) if *v.get_ref() == 0 => {
                errs.at(
                    v.span(),
                    format!("timeouts.{name}"),
                    "must be at least 1 (milliseconds)".into(),
                );
                def
            }
            Some(v) => Duration::from_millis(*v.get_ref()),
            None => def,
        };
        let timeouts = Timeouts {
            client_header: ms(&t.client_header, "client_header", d.client_header),
            client_body: ms(&t.client_body, "client_body", d.client_body),
            client_idle: ms(&t.client_idle, "client_idle", d.client_idle),
            upstream_connect: ms(&t.upstream_connect, "upstream_connect", d.upstream_connect),
            upstream_response: ms(
                &t.upstream_response,
                "upstream_response",
                d.upstream_response,
            ),
            upstream_idle: ms(&t.upstream_idle, "upstream_idle", d.upstream_idle),
            pool_idle: ms(&t.pool_idle, "pool_idle", d.pool_idle),
            tunnel_idle: ms(&t.tunnel_idle, "tunnel_idle", d.tunnel_idle),
        };
        let dl = Limits::default();
        let mut sized = |v: &Option<Spanned<usize>>, key: &str, min: usize, def: usize| match v {
            Some(s) if *s.get_ref() < min => {
                errs.at(
                    s.span(),
                    format!("limits.{key}"),
                    format!("must be at least {min}"),
                );
                def
            }
            Some(s) => *s.get_ref(),
            None => def,
        };
        let limits = Limits {
            max_connections: raw
                .limits
                .max_connections
                .unwrap_or(dl.max_connections)
                .max(1),
            max_request_head: sized(
                &raw.limits.max_request_head,
                "max_request_head",
                64,
                dl.max_request_head,
            ),
            max_response_head: sized(
                &raw.limits.max_response_head,
                "max_response_head",
                64,
                dl.max_response_head,
            ),
            max_request_body: raw.limits.max_request_body.unwrap_or(dl.max_request_body),
            window: sized(&raw.limits.window, "window", 1024, dl.window),
        };

        let paths = path_rules(&raw.http, &mut errs);

        let mut upstreams = Vec::new();
        for (i, u) in raw.upstream.iter().enumerate() {
            let key = |k: &str| format!("upstream[{i}].{k}");
            if upstreams
                .iter()
                .any(|g: &GroupSpec| &g.name == u.name.get_ref())
            {
                errs.at(
                    u.name.span(),
                    key("name"),
                    format!("duplicate upstream {:?}", u.name.get_ref()),
                );
            }
            let strategy = match &u.balancer {
                None => Strategy::RoundRobin,
                Some(b) => b.get_ref().parse().unwrap_or_else(|m| {
                    errs.at(b.span(), key("balancer"), m);
                    Strategy::RoundRobin
                }),
            };
            let hash_key = match &u.hash_key {
                None => None,
                Some(k) => match k.get_ref().parse::<HashKey>() {
                    Ok(h) => Some(h),
                    Err(m) => {
                        errs.at(k.span(), key("hash_key"), m);
                        None
                    }
                },
            };
            if strategy == Strategy::ConsistentHash && u.hash_key.is_none() {
                errs.at(
                    u.name.span(),
                    key("hash_key"),
                    "consistent-hash needs a hash_key".into(),
                );
            }
            if u.servers.get_ref().is_empty() {
                errs.at(
                    u.servers.span(),
                    key("servers"),
                    "an upstream needs at least one server".into(),
                );
            }
            if u.servers.get_ref().len() > 1000 {
                errs.at(
                    u.servers.span(),
                    key("servers"),
                    "at most 1000 servers".into(),
                );
            }
            let mut servers = Vec::new();
            for (j, s) in u.servers.get_ref().iter().enumerate() {
                let addr = match s.addr.get_ref().parse::<SocketAddr>() {
                    Ok(a) => a,
                    Err(_) => {
                        errs.at(
                            s.addr.span(),
                            key(&format!("servers[{j}].addr")),
                            format!("invalid address {:?} (expected IP:PORT)", s.addr.get_ref()),
                        );
                        continue;
                    }
                };
                let weight = match &s.weight {
                    Some(w) if *w.get_ref() == 0 || *w.get_ref() > 1000 => {
                        errs.at(
                            w.span(),
                            key(&format!("servers[{j}].weight")),
                            "must be between 1 and 1000".into(),
                        );
                        1
                    }
                    Some(w) => *w.get_ref(),
                    None => 1,
                };
                if servers.iter().any(|(a, _)| *a == addr) {
                    errs.at(
                        s.addr.span(),
                        key(&format!("servers[{j}].addr")),
                        format!("{addr} is listed twice (give it a weight instead)"),
                    );
                    continue;
                }
                servers.push((addr, weight));
            }
            upstreams.push(GroupSpec {
                name: u.name.get_ref().clone(),
                servers,
                strategy,
                hash_key,
                max_fails: u.max_fails.unwrap_or(3),
                fail_timeout: Duration::from_millis(u.fail_timeout.unwrap_or(10_000)),
                fail_open: u.fail_open.unwrap_or(true),
            });
        }

        let mut routes = Vec::new();
        for (i, r) in raw.route.iter().enumerate() {
            let key = |k: &str| format!("route[{i}].{k}");
            let upstream = match upstreams
                .iter()
                .position(|g| &g.name == r.upstream.get_ref())
            {
                Some(u) => u,
                None => {
                    errs.at(
                        r.upstream.span(),
                        key("upstream"),
                        format!("no upstream named {:?}", r.upstream.get_ref()),
                    );
                    0
                }
            };
            let path_prefix = match &r.path_prefix {
                Some(p) if !p.get_ref().starts_with('/') => {
                    errs.at(p.span(), key("path_prefix"), "must start with \"/\"".into());
                    "/".to_owned()
                }
                Some(p) => p.get_ref().clone(),
                None => "/".to_owned(),
            };
            let host = r.host.as_ref().map(|h| {
                let v = h.get_ref().to_ascii_lowercase();
                let bare = v.strip_prefix("*.").unwrap_or(&v);
                if bare.is_empty()
                    || bare.contains('*')
                    || !is_header_value(bare)
                    || bare.contains(' ')
                {
                    errs.at(
                        h.span(),
                        key("host"),
                        "expected a host name or \"*.suffix\"".into(),
                    );
                }
                v
            });
            if let Some(h) = &r.host_rewrite {
                if h.is_empty() || !is_header_value(h) {
                    errs.at(
                        r.upstream.span(),
                        key("host_rewrite"),
                        "not a valid Host value".into(),
                    );
                }
            }
            if let Some(k) = routes
                .iter()
                .position(|o: &RouteSpec| o.host == host && o.path_prefix == path_prefix)
            {
                let span = r
                    .path_prefix
                    .as_ref()
                    .or(r.host.as_ref())
                    .map_or(r.upstream.span(), |s| s.span());
                errs.at(
                    span,
                    key("path_prefix"),
                    format!("route[{k}] has the same host and path_prefix: this one could never be chosen"),
                );
            }
            routes.push(RouteSpec {
                host,
                path_prefix,
                upstream,
                strip_prefix: r.strip_prefix,
                host_rewrite: r.host_rewrite.clone(),
            });
        }
        if routes.is_empty() && !upstreams.is_empty() {
            // No route at all: everything goes to the first upstream.
            routes.push(RouteSpec {
                host: None,
                path_prefix: "/".into(),
                upstream: 0,
                strip_prefix: false,
                host_rewrite: None,
            });
        }
        if upstreams.is_empty() {
            errs.list.push(ConfigError {
                line: None,
                key: "upstream".into(),
                message: "at least one [[upstream]] is needed".into(),
            });
        }

        let mut middleware = Vec::new();
        for (i, l) in raw.middleware.iter().enumerate() {
            match l.kind.get_ref().as_str() {
                "headers" => {
                    let names = l
                        .request_set
                        .iter()
                        .chain(&l.response_set)
                        .map(|(k, _)| k)
                        .chain(&l.request_remove)
                        .chain(&l.response_remove);
                    for n in names {
                        if !is_header_name(n) {
                            errs.at(
                                l.kind.span(),
                                format!("middleware[{i}]"),
                                format!("invalid header name {n:?}"),
                            );
                        } else if FRAMING.iter().any(|f| f.eq_ignore_ascii_case(n)) {
                            errs.at(
                                l.kind.span(),
                                format!("middleware[{i}]"),
                                format!("{n:?} is a framing or hop-by-hop header that only the core sets"),
                            );
                        }
                    }
                    for v in l.request_set.values().chain(l.response_set.values()) {
                        if !is_header_value(v) {
                            errs.at(
                                l.kind.span(),
                                format!("middleware[{i}]"),
                                format!("invalid header value {v:?}"),
                            );
                        }
                    }
                    let pairs = |m: &BTreeMap<String, String>| {
                        m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
                    };
                    middleware.push(LayerSpec::Headers {
                        request_set: pairs(&l.request_set),
                        request_remove: l.request_remove.clone(),
                        response_set: pairs(&l.response_set),
                        response_remove: l.response_remove.clone(),
                    });
                }
                other => errs.at(
                    l.kind.span(),
                    format!("middleware[{i}].kind"),
                    format!("unknown middleware kind {other:?} (expected: headers)"),
                ),
            }
        }

        if !errs.list.is_empty() {
            return Err(errs.list);
        }
        Ok(Config {
            listen,
            workers: raw.workers.map(|w| *w.get_ref()),
            timeouts,
            limits,
            upstreams,
            routes,
            middleware,
            paths,
            #[cfg(feature = "test-mutants")]
            mutant: Default::default(),
        })
    }

    /// Quick mode: one listener, one group of servers, every path routed to it.
    pub fn quick(listen: SocketAddr, servers: &[SocketAddr], strategy: Strategy) -> Config {
        Config {
            listen,
            workers: None,
            timeouts: Timeouts::default(),
            limits: Limits::default(),
            upstreams: vec![GroupSpec {
                name: "default".into(),
                servers: servers.iter().map(|&a| (a, 1)).collect(),
                strategy,
                hash_key: if strategy == Strategy::ConsistentHash {
                    Some(HashKey::ClientIp)
                } else {
                    None
                },
                max_fails: 3,
                fail_timeout: Duration::from_millis(10_000),
                fail_open: true,
            }],
            routes: vec![RouteSpec {
                host: None,
                path_prefix: "/".into(),
                upstream: 0,
                strip_prefix: false,
                host_rewrite: None,
            }],
            middleware: vec![],
            paths: PathRules::default(),
            #[cfg(feature = "test-mutants")]
            mutant: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests;
