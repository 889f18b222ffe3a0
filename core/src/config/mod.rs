//! The config model: parsed from TOML text, validated, every error with its
//! line. See DESIGN.md and the README's config reference for the schema.

use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::balancer::group::GroupSpec;
use crate::balancer::{HashKey, Strategy};
use crate::http1::path::PathRules;

pub mod admin;
pub(crate) mod client_ip;
pub mod dns;
pub mod error_pages;
mod http;
pub mod listen;
pub mod middleware;
pub mod recorder;
pub mod redis;
pub mod route;
mod shape;
pub mod upstream;
use http::{path_rules, RawHttp};
pub use middleware::LayerConfig;
pub use route::{PathMatch, RouteSpec, ValueMatch};

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

/// A validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where clients are accepted, in config order (at least one).
    pub listeners: Vec<listen::Listener>,
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
    /// Every `[[middleware]]`, in file order: the unnamed ones form the
    /// global chain, the named ones run where a route lists them.
    pub middleware: Vec<LayerConfig>,
    /// How request paths are normalised before routing (`[http]`).
    pub paths: PathRules,
    /// `[error_pages]`: bodies of the answers weir makes.
    pub error_pages: error_pages::ErrorPages,
    /// `[dns]`: how server names are resolved.
    pub dns: dns::Dns,
    /// `[redis]`: the shared store of rate limits, when configured.
    pub redis: Option<redis::Redis>,
    /// `[admin]`: the admin listener, when configured.
    pub admin: Option<admin::Admin>,
    /// `[recorder]`: the flight recorder, when configured.
    pub recorder: Option<recorder::RecorderSpec>,
    /// `[client_ip]`: who the client of a request is.
    pub client_ip: crate::client_ip::ClientIpRules,
    /// `[log] path`: the access-log file (the frontend writes it; stdout
    /// when `None`).
    pub log_path: Option<std::path::PathBuf>,
    /// `[log] format`: text (default), json or a template.
    pub log_format: crate::proxy::LogFormat,
    /// A deliberate break, for proving the fuzz oracle (tests only).
    #[cfg(feature = "test-mutants")]
    pub mutant: crate::mutant::Mutant,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Spanned<toml::Value>,
    workers: Option<Spanned<usize>>,
    #[serde(default)]
    proxy_protocol: bool,
    #[serde(default)]
    timeouts: RawTimeouts,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    http: RawHttp,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    client_ip: client_ip::RawClientIp,
    admin: Option<admin::RawAdmin>,
    recorder: Option<recorder::RawRecorder>,
    redis: Option<redis::RawRedis>,
    #[serde(default)]
    dns: dns::RawDns,
    #[serde(default)]
    error_pages: error_pages::RawErrorPages,
    #[serde(default)]
    upstream: Vec<upstream::RawUpstream>,
    #[serde(default)]
    route: Vec<route::RawRoute>,
    #[serde(default)]
    middleware: Vec<Spanned<toml::Table>>,
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
struct RawLog {
    path: Option<Spanned<String>>,
    format: Option<Spanned<String>>,
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

    /// Where `key = ...` begins a line inside `span` (a table's), else
    /// `span` itself: the line to name for that key of the table.
    fn key_span(&self, span: Range<usize>, key: &str) -> Range<usize> {
        let text = self.text.get(span.clone()).unwrap_or("");
        let mut at = 0;
        for line in text.split_inclusive('\n') {
            let rest = line.trim_start();
            if rest
                .strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with('='))
            {
                let start = span.start + at + (line.len() - rest.len());
                return start..start + key.len();
            }
            at += line.len();
        }
        span
    }

    /// Records a problem at the line where `span` starts.
    fn at(&mut self, span: Range<usize>, key: String, message: String) {
        let line = Some(self.line(span));
        self.list.push(ConfigError { line, key, message });
    }
}

/// Headers the core owns: a layer may not set or remove them.
pub(crate) const FRAMING: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

/// A field name: a token (RFC 9110 5.1).
pub(crate) fn is_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A field value without CR, LF, NUL or other controls but HTAB.
pub(crate) fn is_header_value(s: &str) -> bool {
    s.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

impl Config {
    /// Parses and validates TOML text; returns every error found.
    pub fn from_toml(text: &str) -> Result<Config, Vec<ConfigError>> {
        Config::from_toml_with(text, &|path| {
            Err(format!("cannot read {path:?}: no file loader here"))
        })
    }

    /// [`Config::from_toml`], with `files` reading the files layers name
    /// (a frontend's loader: the core does no I/O); server names refused.
    pub fn from_toml_with(
        text: &str,
        files: crate::middleware::Files<'_>,
    ) -> Result<Config, Vec<ConfigError>> {
        Config::load(text, files, &dns::no_names)
    }

    /// [`Config::from_toml_with`], with `names` resolving the servers
    /// given as `NAME:PORT` (the frontend's resolver).
    pub fn load(
        text: &str,
        files: crate::middleware::Files<'_>,
        names: dns::Names<'_>,
    ) -> Result<Config, Vec<ConfigError>> {
        let raw: RawConfig = match toml::from_str(text) {
            Ok(raw) => raw,
            Err(_) => {
                // Every shape error, then what the rest of the file has.
                let (mut errs, rest) = shape::errors::<RawConfig>(text);
                if let Some(Err(more)) = rest.map(|t| Config::load(&t, files, names)) {
                    errs.extend(more);
                    errs.sort_by_key(|e| e.line);
                }
                return Err(errs);
            }
        };
        let mut errs = Errors { text, list: vec![] };
        let listeners = listen::listeners(&raw.listen, raw.proxy_protocol, &mut errs);
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
        // `-` is stdout, as no path.
        let log_path = raw
            .log
            .path
            .as_ref()
            .filter(|p| p.get_ref() != "-")
            .map(|p| {
                if p.get_ref().is_empty() {
                    errs.at(p.span(), "log.path".into(), "empty path".into());
                }
                std::path::PathBuf::from(p.get_ref())
            });
        let log_format = match &raw.log.format {
            None => crate::proxy::LogFormat::Text,
            Some(f) => crate::proxy::LogFormat::parse(f.get_ref()).unwrap_or_else(|m| {
                errs.at(f.span(), "log.format".into(), m);
                crate::proxy::LogFormat::Text
            }),
        };
        let client_ip = client_ip::rules(&raw.client_ip, &mut errs);
        let admin = raw.admin.as_ref().and_then(|a| admin::admin(a, &mut errs));
        let recorder = raw
            .recorder
            .as_ref()
            .and_then(|r| recorder::recorder(r, &mut errs));
        let error_pages = error_pages::pages(&raw.error_pages, files, &mut errs);
        let dns = dns::dns(&raw.dns, &mut errs);
        let upstreams = upstream::groups(&raw.upstream, &timeouts, (names, &dns), &mut errs);
        let redis = raw
            .redis
            .as_ref()
            .and_then(|r| redis::redis(r, (names, &dns), &mut errs));
        let middleware = middleware::layers(
            &raw.middleware,
            files,
            redis.as_ref(),
            (names, &dns),
            &mut errs,
        );
        let declared: Vec<String> = raw
            .middleware
            .iter()
            .filter_map(|t| t.get_ref().get("name")?.as_str().map(String::from))
            .collect();
        let routes = route::routes(&raw.route, &upstreams, &middleware, &declared, &mut errs);

        if upstreams.is_empty() {
            errs.list.push(ConfigError {
                line: None,
                key: "upstream".into(),
                message: "at least one [[upstream]] is needed".into(),
            });
        }
        if !errs.list.is_empty() {
            return Err(errs.list);
        }
        Ok(Config {
            listeners,
            workers: raw.workers.map(|w| *w.get_ref()),
            timeouts,
            limits,
            upstreams,
            routes,
            middleware,
            paths,
            error_pages,
            client_ip,
            log_path,
            log_format,
            admin,
            recorder,
            redis,
            dns,
            #[cfg(feature = "test-mutants")]
            mutant: Default::default(),
        })
    }

    /// The first listener's address (the one `--listen` and the demo name).
    pub fn listen(&self) -> SocketAddr {
        self.listeners[0].addr
    }

    /// Quick mode: one listener, one group of servers, every path routed to it.
    pub fn quick(listen: SocketAddr, servers: &[SocketAddr], strategy: Strategy) -> Config {
        Config {
            listeners: vec![listen::Listener {
                addr: listen,
                proxy_protocol: false,
            }],
            workers: None,
            timeouts: Timeouts::default(),
            limits: Limits::default(),
            upstreams: vec![GroupSpec::new(
                "default",
                servers.iter().map(|&a| (a, 1)).collect(),
                strategy,
                (strategy == Strategy::ConsistentHash).then_some(HashKey::ClientIp),
                &Timeouts::default(),
            )],
            routes: vec![RouteSpec::catch_all(0)],
            middleware: vec![],
            paths: PathRules::default(),
            client_ip: Default::default(),
            error_pages: Default::default(),
            log_path: None,
            log_format: crate::proxy::LogFormat::Text,
            admin: None,
            recorder: None,
            redis: None,
            dns: Default::default(),
            #[cfg(feature = "test-mutants")]
            mutant: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests;
