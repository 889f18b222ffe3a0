//! `[[route]]`: which requests go to which upstream, through which layers.
//!
//! A route matches on `host` (exact or `*.suffix`), one of `path` (exact),
//! `path_prefix` or `path_regex`, `methods`, `headers` and `query`; the
//! precedence among matching routes is [`crate::proxy::Router`]'s.

use std::collections::BTreeMap;
use std::fmt;

use regex::{Regex, RegexBuilder};
use serde::Deserialize;
use toml::Spanned;

use super::middleware::is_name;
use super::{is_header_name, is_header_value, Errors, LayerConfig};
use crate::balancer::group::GroupSpec;

/// Largest compiled size of one regex (the `regex` crate's size limit).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Largest compiled size of the set of every route's `path_regex` (the
/// router decides them all in one pass).
pub(crate) const REGEX_SET_SIZE_LIMIT: usize = 16 << 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    name: Option<Spanned<String>>,
    host: Option<Spanned<String>>,
    path: Option<Spanned<String>>,
    path_prefix: Option<Spanned<String>>,
    path_regex: Option<Spanned<String>>,
    methods: Option<Spanned<Vec<String>>>,
    headers: Option<Spanned<BTreeMap<String, RawValue>>>,
    query: Option<Spanned<BTreeMap<String, RawValue>>>,
    priority: Option<i32>,
    #[serde(default)]
    method_not_allowed: bool,
    upstream: Spanned<String>,
    #[serde(default)]
    strip_prefix: bool,
    host_rewrite: Option<String>,
    middleware: Option<Spanned<Vec<String>>>,
}

/// `true` (present), `false` (absent), `"value"` or `{ regex = "..." }`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawValue {
    Present(bool),
    Exact(String),
    Regex { regex: String },
}

/// A regex compiled at load; equal when the source is.
#[derive(Clone)]
pub struct Pattern(pub Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Eq for Pattern {}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}/", self.0.as_str())
    }
}

/// How a route matches the (normalised) path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathMatch {
    /// `path`: exactly this path.
    Exact(String),
    /// `path_prefix` (default `/`): paths that start with it.
    Prefix(String),
    /// `path_regex`: paths the regex finds a match in.
    Regex(Pattern),
}

/// How a route matches one header or query parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueMatch {
    /// Present, whatever its value.
    Present,
    /// Not present.
    Absent,
    /// Present with exactly this value.
    Exact(String),
    /// Present with a value the regex finds a match in.
    Regex(Pattern),
}

/// One validated `[[route]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteSpec {
    /// `name`, or `route[N]` (its place in the file) when unnamed.
    pub name: String,
    /// Exact host, or `*.suffix`, lower-case; `None` matches every host.
    pub host: Option<String>,
    /// The path condition.
    pub path: PathMatch,
    /// Methods it takes; empty: any.
    pub methods: Vec<String>,
    /// Header conditions (names lower-case).
    pub headers: Vec<(String, ValueMatch)>,
    /// Query parameter conditions (raw names and values).
    pub query: Vec<(String, ValueMatch)>,
    /// Higher wins over every other rule of precedence.
    pub priority: i32,
    /// When only the method differs: 405 with `Allow` instead of 404.
    pub method_not_allowed: bool,
    /// Index of the upstream group.
    pub upstream: usize,
    /// Remove the prefix before forwarding (keeping a leading `/`).
    pub strip_prefix: bool,
    /// Replace `Host` with this value upstream.
    pub host_rewrite: Option<String>,
    /// Indices (into `Config::middleware`) of the named layers it runs.
    pub middleware: Vec<usize>,
}

impl RouteSpec {
    /// Every request, to upstream `upstream`: the route of a config
    /// without `[[route]]` and of quick mode.
    pub fn catch_all(upstream: usize) -> RouteSpec {
        RouteSpec {
            name: "default".into(),
            host: None,
            path: PathMatch::Prefix("/".into()),
            methods: vec![],
            headers: vec![],
            query: vec![],
            priority: 0,
            method_not_allowed: false,
            upstream,
            strip_prefix: false,
            host_rewrite: None,
            middleware: vec![],
        }
    }

    /// True when `other` matches exactly the requests this one does.
    fn same_requests(&self, other: &RouteSpec) -> bool {
        let sorted = |v: &[String]| {
            let mut v = v.to_vec();
            v.sort();
            v
        };
        self.host == other.host
            && self.path == other.path
            && sorted(&self.methods) == sorted(&other.methods)
            && self.headers == other.headers
            && self.query == other.query
    }
}

fn regex(src: &str) -> Result<Pattern, String> {
    RegexBuilder::new(src)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map(Pattern)
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => {
                format!("regex too big (compiled size limit {REGEX_SIZE_LIMIT} bytes)")
            }
            e => format!(
                "invalid regex: {}",
                e.to_string().lines().last().unwrap_or("")
            ),
        })
}

/// Validates every `[[route]]`; with none, one route sends everything to
/// the first upstream.
/// `declared` holds every name a `[[middleware]]` entry gives, valid
/// or not (a route naming an invalid one gets no second error).
pub(super) fn routes(
    raw: &[RawRoute],
    upstreams: &[GroupSpec],
    layers: &[LayerConfig],
    declared: &[String],
    errs: &mut Errors<'_>,
) -> Vec<RouteSpec> {
    let mut routes: Vec<RouteSpec> = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        if let Some(route) = route(r, i, upstreams, (layers, declared), errs) {
            if let Some(k) = routes.iter().position(|o| o.same_requests(&route)) {
                let span = [&r.path, &r.path_prefix, &r.path_regex, &r.host]
                    .into_iter()
                    .flatten()
                    .next()
                    .map_or(r.upstream.span(), |s| s.span());
                errs.at(
                    span,
                    format!("route[{i}]"),
                    format!(
                        "{} matches exactly the same requests: this one could never be chosen",
                        routes[k].name
                    ),
                );
            }
            if routes.iter().any(|o| o.name == route.name) {
                let span = r.name.as_ref().map_or(r.upstream.span(), |n| n.span());
                errs.at(
                    span,
                    format!("route[{i}].name"),
                    format!("duplicate route name {:?}", route.name),
                );
            }
            routes.push(route);
        }
    }
    if raw.is_empty() && !upstreams.is_empty() {
        routes.push(RouteSpec::catch_all(0));
    }
    let sources: Vec<&str> = routes
        .iter()
        .filter_map(|r| match &r.path {
            PathMatch::Regex(p) => Some(p.0.as_str()),
            _ => None,
        })
        .collect();
    if regex::RegexSetBuilder::new(&sources)
        .size_limit(REGEX_SET_SIZE_LIMIT)
        .build()
        .is_err()
    {
        errs.list.push(super::ConfigError {
            line: None,
            key: "route".into(),
            message: format!(
                "the path_regex routes together are too big (compiled size limit {REGEX_SET_SIZE_LIMIT} bytes)"
            ),
        });
    }
    routes
}

fn route(
    r: &RawRoute,
    i: usize,
    upstreams: &[GroupSpec],
    (layers, declared): (&[LayerConfig], &[String]),
    errs: &mut Errors<'_>,
) -> Option<RouteSpec> {
    let key = |k: &str| format!("route[{i}].{k}");
    let before = errs.list.len();
    let name = match &r.name {
        Some(n) if !is_name(n.get_ref()) => {
            errs.at(
                n.span(),
                key("name"),
                "expected at most 64 letters, digits, '-', '_' and '.'".into(),
            );
            String::new()
        }
        Some(n) => n.get_ref().clone(),
        None => format!("route[{i}]"),
    };
    let upstream = upstreams
        .iter()
        .position(|g| &g.name == r.upstream.get_ref())
        .unwrap_or_else(|| {
            errs.at(
                r.upstream.span(),
                key("upstream"),
                format!("no upstream named {:?}", r.upstream.get_ref()),
            );
            0
        });
    let paths: Vec<_> = [
        ("path", &r.path),
        ("path_prefix", &r.path_prefix),
        ("path_regex", &r.path_regex),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
    .collect();
    if paths.len() > 1 {
        errs.at(
            paths[1].1.span(),
            key(paths[1].0),
            format!(
                "a route has one of path, path_prefix, path_regex (this one also has {})",
                paths[0].0
            ),
        );
    }
    let path = match paths.first() {
        None => PathMatch::Prefix("/".into()),
        Some(("path_regex", p)) => match regex(p.get_ref()) {
            Ok(re) => PathMatch::Regex(re),
            Err(m) => {
                errs.at(p.span(), key("path_regex"), m);
                PathMatch::Prefix("/".into())
            }
        },
        Some((k, p)) => {
            if !p.get_ref().starts_with('/') {
                errs.at(p.span(), key(k), "must start with \"/\"".into());
            }
            match *k {
                "path" => PathMatch::Exact(p.get_ref().clone()),
                _ => PathMatch::Prefix(p.get_ref().clone()),
            }
        }
    };
    if r.strip_prefix && !matches!(path, PathMatch::Prefix(_)) {
        errs.at(
            r.upstream.span(),
            key("strip_prefix"),
            "goes with path_prefix only".into(),
        );
    }
    let host = r.host.as_ref().map(|h| {
        let v = h.get_ref().to_ascii_lowercase();
        let bare = v.strip_prefix("*.").unwrap_or(&v);
        if bare.is_empty() || bare.contains('*') || !is_header_value(bare) || bare.contains(' ') {
            errs.at(
                h.span(),
                key("host"),
                "expected a host name or \"*.suffix\"".into(),
            );
        }
        v
    });
    let methods = match &r.methods {
        None => vec![],
        Some(m) => {
            if m.get_ref().is_empty() {
                errs.at(
                    m.span(),
                    key("methods"),
                    "empty (leave it out to take every method)".into(),
                );
            }
            for bad in m.get_ref().iter().filter(|x| !is_header_name(x)) {
                errs.at(
                    m.span(),
                    key("methods"),
                    format!("{bad:?} is not a method (a token)"),
                );
            }
            m.get_ref().clone()
        }
    };
    let headers = conditions(&r.headers, &key("headers"), true, errs);
    let query = conditions(&r.query, &key("query"), false, errs);
    if let Some(h) = &r.host_rewrite {
        if h.is_empty() || !is_header_value(h) {
            errs.at(
                r.upstream.span(),
                key("host_rewrite"),
                "not a valid Host value".into(),
            );
        }
    }
    let mut middleware = Vec::new();
    if let Some(list) = &r.middleware {
        for n in list.get_ref() {
            match layers.iter().position(|l| l.name.as_ref() == Some(n)) {
                Some(k) => middleware.push(k),
                // Declared but invalid: its own error says why.
                None if declared.contains(n) => {}
                None => {
                    let named: Vec<&str> = declared.iter().map(String::as_str).collect();
                    errs.at(
                        list.span(),
                        key("middleware"),
                        format!(
                            "no middleware named {n:?} (named ones: {})",
                            if named.is_empty() {
                                "none".to_owned()
                            } else {
                                named.join(", ")
                            }
                        ),
                    );
                }
            }
        }
    }
    (errs.list.len() == before).then(|| RouteSpec {
        name,
        host,
        path,
        methods,
        headers,
        query,
        priority: r.priority.unwrap_or(0),
        method_not_allowed: r.method_not_allowed,
        upstream,
        strip_prefix: r.strip_prefix,
        host_rewrite: r.host_rewrite.clone(),
        middleware,
    })
}

/// `headers = {...}` or `query = {...}`: names checked, regexes compiled.
fn conditions(
    raw: &Option<Spanned<BTreeMap<String, RawValue>>>,
    key: &str,
    header: bool,
    errs: &mut Errors<'_>,
) -> Vec<(String, ValueMatch)> {
    let Some(map) = raw else { return vec![] };
    let mut out = Vec::new();
    for (name, v) in map.get_ref() {
        if header && !is_header_name(name) {
            errs.at(
                map.span(),
                key.into(),
                format!("invalid header name {name:?}"),
            );
            continue;
        }
        let m = match v {
            RawValue::Present(true) => ValueMatch::Present,
            RawValue::Present(false) => ValueMatch::Absent,
            RawValue::Exact(s) => ValueMatch::Exact(s.clone()),
            RawValue::Regex { regex: src } => match regex(src) {
                Ok(re) => ValueMatch::Regex(re),
                Err(m) => {
                    errs.at(map.span(), format!("{key}.{name}"), m);
                    continue;
                }
            },
        };
        let name = if header {
            name.to_ascii_lowercase()
        } else {
            name.clone()
        };
        out.push((name, m));
    }
    out
}
