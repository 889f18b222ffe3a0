//! The middleware onion: layers built from config that see heads only.
//!
//! ```text
//!   request ──► [0 forwarded] ──► [1 headers] ──► ... ──► route ─► upstream
//!   client  ◄── [0 forwarded] ◄── [1 headers] ◄── ... ◄──────────── response
//! ```
//!
//! Each layer sees the request head on the way in, outermost first, and
//! the response head on the way out, innermost first, and only the layers
//! the request passed through see its response: when layer *k* answers
//! early (a 403, a 401), layers *k−1 … 0* decorate that answer and the
//! rest never ran. Errors the core makes after the chain accepted the
//! request (404 no route, 502, 503, 504) unwind through the whole chain;
//! errors raised before a head exists (400, 408, 431) skip it.
//!
//! Layers never see bodies: bodies stream past, zero-copy. State that a
//! layer needs across requests (token buckets, counters) lives outside
//! it, reached through the context: the layers themselves are settings,
//! shared by every worker through the plan.
//!
//! The global chain (the built-in forwarded-headers layer, then every
//! unnamed `[[middleware]]`) runs before routing; the chosen route's own
//! layers run after it, so an exchange's depth counts both.

pub mod api_key;
pub mod basic_auth;
pub mod concurrency;
pub mod cors;
pub mod forward_auth;
pub mod forwarded;
pub mod forwarded_rfc7239;
pub mod gcra;
pub mod headers;
pub mod htpasswd;
pub mod ip_access;
pub mod jwt;
pub mod limit_key;
pub mod rate_limit;
pub mod redirect;
pub mod redis_store;
pub mod request_id;
pub mod rewrite;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::call::{Call, Reply};
use crate::http1::{RequestHead, ResponseHead};
use crate::rng::Rng;

/// What is wrong with a layer's table: `(key, message)` pairs, the key
/// relative to the entry.
pub type Problems = Vec<(String, String)>;

/// A layer's table read into its own settings type (unknown keys and
/// wrong types are problems of the whole entry).
pub fn settings<T: serde::de::DeserializeOwned>(table: &toml::Table) -> Result<T, Problems> {
    toml::Value::Table(table.clone())
        .try_into()
        .map_err(|e: toml::de::Error| vec![(String::new(), e.message().trim().to_owned())])
}

/// How a kind turns an entry (its table, and what [`Env`] gives) into a layer.
pub type Build = fn(&Env<'_>, &toml::Table) -> Result<Arc<dyn Layer>, Problems>;

/// Reads a file a layer names (path as written in the config); the
/// frontend's loader, so the core itself does no I/O.
pub type Files<'a> = &'a dyn Fn(&str) -> Result<Vec<u8>, String>;

/// What a layer kind may use while it is built.
pub struct Env<'a> {
    /// The entry's `name`, if it has one.
    pub name: Option<&'a str>,
    /// The file loader.
    pub files: Files<'a>,
    /// `[redis]`, when configured.
    pub redis: Option<&'a crate::config::redis::Redis>,
    /// Resolves the names of services a layer calls (at load).
    pub names: crate::config::dns::Resolver<'a>,
    /// A digest of every file read so far (a reload keeps a layer only
    /// when its settings and its files are unchanged).
    pub read: std::cell::Cell<u64>,
}

impl<'a> Env<'a> {
    /// An entry with no file loader (tests, configs built in code).
    pub fn bare(name: Option<&'a str>) -> Env<'a> {
        Env {
            name,
            files: &|path| Err(format!("cannot read {path:?}: no file loader here")),
            redis: None,
            names: (
                &crate::config::dns::no_names,
                &crate::config::dns::Dns::DEFAULT,
            ),
            read: std::cell::Cell::new(0),
        }
    }

    /// The file at `path` (the value of setting `key`) read as text and
    /// turned into `T` by `parse`; its problems (`parse` names lines) and
    /// an empty result (`what` is missing) go to `problems` under `key`.
    pub fn parsed_file<T: Default>(
        &self,
        key: &str,
        path: &str,
        what: &str,
        parse: impl Fn(&str) -> Result<T, Vec<String>>,
        is_empty: impl Fn(&T) -> bool,
        problems: &mut Problems,
    ) -> T {
        let parsed = self.file(path).map_err(|m| vec![m]).and_then(|bytes| {
            parse(&String::from_utf8_lossy(&bytes))
                .map_err(|lines| lines.into_iter().map(|l| format!("{path}: {l}")).collect())
        });
        match parsed {
            Ok(t) if is_empty(&t) => {
                problems.push((key.to_owned(), format!("{path}: no {what}")));
                t
            }
            Ok(t) => t,
            Err(lines) => {
                problems.extend(lines.into_iter().map(|l| (key.to_owned(), l)));
                T::default()
            }
        }
    }

    /// The bytes of the file at `path`, noted in [`Env::read`].
    pub fn file(&self, path: &str) -> Result<Vec<u8>, String> {
        let bytes = (self.files)(path)?;
        self.read
            .set(crate::rng::mix(self.read.get() ^ crate::rng::fnv1a(&bytes)));
        Ok(bytes)
    }
}

/// A layer kind: its `kind` name in config and how its table becomes a
/// layer (`Err`: every problem as `(key, message)`, the key relative to
/// the entry).
pub struct Kind {
    /// The `kind = "..."` value.
    pub name: &'static str,
    /// Validates the entry's table (without `name` and `kind`); the
    /// entry's name, if it has one, is given too.
    pub build: Build,
}

/// Every layer kind: a new kind is one file and one line here.
pub const KINDS: &[Kind] = &[
    headers::KIND,
    ip_access::KIND,
    cors::KIND,
    request_id::KIND,
    rate_limit::KIND,
    concurrency::KIND,
    redirect::KIND,
    rewrite::KIND,
    forwarded_rfc7239::KIND,
    api_key::KIND,
    basic_auth::KIND,
    jwt::KIND,
    forward_auth::KIND,
];

/// A CORS preflight (`OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`): authentication layers let it through
/// to a `cors` layer, as browsers send it without credentials.
pub fn is_preflight(req: &RequestHead) -> bool {
    &req.method[..] == b"OPTIONS"
        && req.headers.contains("origin")
        && req.headers.contains("access-control-request-method")
}

/// What a layer may know besides the heads.
pub struct Cx<'a> {
    /// The client's address (as `[client_ip]` resolved it).
    pub client: SocketAddr,
    /// The address of the peer that sent the request: the client itself,
    /// or the trusted proxy `client` was resolved through.
    pub peer: std::net::IpAddr,
    /// The client's IP address as text (formatted once per connection).
    pub client_ip: &'a Bytes,
    /// The time of the input being handled.
    pub now: Instant,
    /// The worker's seeded RNG (request ids and the like).
    pub rng: &'a mut Rng,
    /// An instant and the wall-clock time then (since the Unix epoch),
    /// when the frontend said what time it is (`Gateway::set_wall_clock`);
    /// see [`Cx::wall`].
    pub clock: Option<(Instant, Duration)>,
    /// The request's id, when a layer gave it one (for the access log).
    pub request_id: Option<Bytes>,
    /// Who an authentication layer found the client to be (a user, a
    /// key's name, a token's subject): for the access log and limit keys.
    pub principal: Option<Bytes>,
    /// The name of the route taken (empty before routing).
    pub route: &'a [u8],
    /// Fields a layer adds to the response, whoever makes it (collected on
    /// the way in, added on the way out).
    pub response_fields: Vec<(Bytes, Bytes)>,
    /// Set by a layer that holds something until the exchange ends: its
    /// `on_end` gets this token then.
    pub hold: Option<u64>,
    /// What layers hold, by their depth in the exchange's layers.
    pub held: Vec<(usize, u64)>,
    /// The depth of the chain's first layer among the exchange's layers.
    pub depth_base: usize,
    /// A note for the access record (a store error).
    pub note: Option<&'static str>,
    /// Where each layer's decision is written down (`explain`); `None`
    /// when serving.
    pub trace: Option<&'a mut crate::explain::Trace>,
}

impl<'a> Cx<'a> {
    /// The wall-clock time at `now` (since the Unix epoch), if known.
    pub fn wall(&self) -> Option<Duration> {
        self.clock
            .map(|(at, wall)| wall + self.now.saturating_duration_since(at))
    }

    /// A context for one call of the layers.
    pub fn new(
        client: SocketAddr,
        client_ip: &'a Bytes,
        now: Instant,
        clock: Option<(Instant, Duration)>,
        rng: &'a mut Rng,
    ) -> Cx<'a> {
        Cx {
            client,
            peer: client.ip(),
            client_ip,
            now,
            rng,
            clock,
            request_id: None,
            principal: None,
            route: &[],
            response_fields: Vec::new(),
            hold: None,
            held: Vec::new(),
            depth_base: 0,
            note: None,
            trace: None,
        }
    }
}

/// An early answer from a layer: the response head and a short body.
#[derive(Clone, Debug)]
pub struct Answer {
    /// Status line and fields (framing is added by the core).
    pub head: ResponseHead,
    /// A small body, sent with `Content-Length`.
    pub body: Bytes,
}

impl Answer {
    /// The gateway's plain answer for `status`: `text/plain`,
    /// `"<status> <reason phrase>\n"` (as its own errors are).
    pub fn plain(status: u16) -> Answer {
        let mut head = ResponseHead::new(status);
        head.headers.append(
            Bytes::from_static(b"Content-Type"),
            Bytes::from_static(b"text/plain"),
        );
        let body = Bytes::from(format!(
            "{status} {}\n",
            String::from_utf8_lossy(&head.reason)
        ));
        Answer { head, body }
    }
}

/// Whether the request goes on inward.
pub enum Flow {
    /// On to the next layer (and finally the upstream).
    Next,
    /// Answer now; no upstream is contacted.
    Answer(Answer),
    /// Ask the outside world first: the exchange parks until the reply
    /// or `deadline`, then this layer's [`Layer::on_reply`] decides.
    Call {
        /// What to ask.
        call: Call,
        /// How long to wait for the reply ([`Reply::Expired`] after).
        deadline: Duration,
    },
}

/// One layer of the onion. `&self` holds the layer's settings, shared by
/// every worker through the plan; what changes per request goes through
/// the context.
pub trait Layer: Send + Sync {
    /// On the way in, outermost first. May rewrite the request or answer it.
    fn on_request(&self, _req: &mut RequestHead, _cx: &mut Cx<'_>) -> Flow {
        Flow::Next
    }
    /// The reply to the call this layer's [`Layer::on_request`] (or an
    /// earlier `on_reply`) asked for: decides as `on_request` does.
    fn on_reply(&self, _req: &mut RequestHead, _reply: Reply, _cx: &mut Cx<'_>) -> Flow {
        Flow::Next
    }
    /// On the way out, innermost first; `req` is the request as forwarded.
    fn on_response(&self, _req: &RequestHead, _resp: &mut ResponseHead, _cx: &mut Cx<'_>) {}
    /// A rate limit whose counts a background task synchronises with
    /// its shared store (local-first): the frontend calls its
    /// `push`/`pulled` every `sync_every`.
    fn synced(&self) -> Option<&rate_limit::RateLimit> {
        None
    }
    /// The exchange ended, however it ended (answered, failed, reset,
    /// cut), and this layer had set [`Cx::hold`] with `token` on the way
    /// in: release what it holds (a concurrency slot).
    fn on_end(&self, _token: u64) {}
}

/// A sequence of layers, outermost first.
#[derive(Clone, Default)]
pub struct Chain {
    layers: Vec<Arc<dyn Layer>>,
}

impl Chain {
    /// A chain of exactly these layers.
    pub fn new(layers: Vec<Arc<dyn Layer>>) -> Chain {
        Chain { layers }
    }

    /// The layer at `i`, outermost first.
    pub fn get(&self, i: usize) -> Option<&Arc<dyn Layer>> {
        self.layers.get(i)
    }

    /// How many layers it has.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// True when it has none.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// Runs the request inward until a layer answers or calls out.
    /// Returns how many layers saw the request (the depth its response
    /// unwinds through; for a call, the index of the layer that waits).
    pub fn request(&self, req: &mut RequestHead, cx: &mut Cx<'_>) -> (usize, Flow) {
        self.resume(0, None, req, cx)
    }

    /// [`Chain::request`] from layer `start` on; with `reply`, layer
    /// `start` gets it (through `on_reply`) instead of the request.
    pub fn resume(
        &self,
        start: usize,
        mut reply: Option<Reply>,
        req: &mut RequestHead,
        cx: &mut Cx<'_>,
    ) -> (usize, Flow) {
        for (i, layer) in self.layers.iter().enumerate().skip(start) {
            if let Some(t) = cx.trace.as_deref_mut() {
                t.before_layer(req, &reply, cx.note, cx.response_fields.len());
            }
            let flow = match reply.take() {
                Some(r) => layer.on_reply(req, r, cx),
                None => layer.on_request(req, cx),
            };
            if cx.trace.is_some() {
                crate::explain::trace::layer(cx, cx.depth_base + i, req, &flow);
            }
            if let Some(token) = cx.hold.take() {
                cx.held.push((cx.depth_base + i, token));
            }
            match flow {
                Flow::Next => {}
                stop => return (i, stop),
            }
        }
        (self.layers.len(), Flow::Next)
    }

    /// Runs a response outward through the first `depth` layers, innermost first.
    pub fn response(
        &self,
        depth: usize,
        req: &RequestHead,
        resp: &mut ResponseHead,
        cx: &mut Cx<'_>,
    ) {
        let depth = depth.min(self.layers.len());
        for layer in self.layers[..depth].iter().rev() {
            layer.on_response(req, resp, cx);
        }
    }
}
