//! The admin listener's protocol, sans IO: a frontend hands in the bytes
//! of one request; [`request`] says which endpoint it is (or the answer
//! to send at once), and the answers are built here from numbers the
//! frontend gathered ([`Snapshot`]s, [`Process`]).
//!
//! Endpoints: `GET /` (the status page: one self-contained HTML file,
//! `page.html`, that reads `/status` every 2 s), `GET /metrics` (Prometheus text, OpenMetrics when `Accept`
//! asks), `GET /status` (JSON), `GET /healthz` (the process serves),
//! `GET /ready` (503 while shutting down), `POST /reload` (as SIGHUP),
//! `POST /servers/drain` and `POST /servers/enable` with
//! `upstream=NAME&server=ADDR` in the query or a form body.
//! With a token, every request needs `Authorization: Bearer TOKEN`
//! (compared in constant time). One request per connection.

use std::fmt::Write;
use std::net::SocketAddr;

use subtle::ConstantTimeEq;

use crate::metrics::render::{Format, Process};
use crate::metrics::Snapshot;
use crate::plan::Plan;

/// The largest admin request head read.
pub const MAX_REQUEST: usize = 16 * 1024;

/// The largest form body read.
pub const MAX_BODY: usize = 4096;

/// What an admin request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /`: the status page.
    Page,
    /// `GET /metrics`, in this format.
    Metrics(Format),
    /// `GET /status`.
    Status,
    /// `GET /healthz`.
    Healthz,
    /// `GET /ready`.
    Ready,
    /// `POST /reload`.
    Reload,
    /// `POST /servers/drain`: no new requests to this server.
    Drain(ServerRef),
    /// `POST /servers/enable`: undoes a drain.
    Enable(ServerRef),
    /// `POST /recorder/dump`: writes the flight recorder out.
    Dump,
}

/// A server named by an admin request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerRef {
    /// Its upstream group's name.
    pub upstream: String,
    /// Its address.
    pub server: SocketAddr,
}

impl ServerRef {
    /// Checks that `plan` has this server in this group.
    pub fn check(&self, plan: &Plan) -> Result<(), Reply> {
        let Some(g) = plan
            .config
            .upstreams
            .iter()
            .find(|g| g.name == self.upstream)
        else {
            return Err(Reply::text(
                404,
                format!("no upstream named {:?}\n", self.upstream),
            ));
        };
        if !g.servers.iter().any(|(a, _)| *a == self.server) {
            return Err(Reply::text(
                404,
                format!(
                    "upstream {:?} has no server {}\n",
                    self.upstream, self.server
                ),
            ));
        }
        Ok(())
    }
}

/// `upstream=NAME&server=ADDR` from a query or form body.
fn server_ref(form: &[u8]) -> Result<ServerRef, Reply> {
    let (mut upstream, mut server) = (None, None);
    for (k, v) in form_urlencoded::parse(form) {
        match &*k {
            "upstream" => upstream = Some(v.into_owned()),
            "server" => server = Some(v.into_owned()),
            _ => {}
        }
    }
    let (Some(upstream), Some(server)) = (upstream, server) else {
        return Err(Reply::text(
            400,
            "name the server: upstream=NAME&server=ADDR (query or form body)\n",
        ));
    };
    let server = server
        .parse()
        .map_err(|_| Reply::text(400, format!("{server:?} is not an address:port\n")))?;
    Ok(ServerRef { upstream, server })
}

/// An answer: status, `Content-Type` and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Body.
    pub body: String,
}

impl Reply {
    /// A `text/plain` answer.
    pub fn text(status: u16, body: impl Into<String>) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }

    /// The bytes on the wire (the connection closes after it).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(self.body.len() + 160);
        let _ = write!(
            out,
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
            self.status,
            crate::http1::head::reason(self.status),
            self.content_type,
            self.body.len()
        );
        out.push_str(&self.body);
        out.into_bytes()
    }
}

/// Reads one admin request from `bytes`: `Ok(None)` while the head is
/// incomplete, the endpoint, or the answer to send at once (400, 401,
/// 404, 405, 431).
pub fn request(bytes: &[u8], token: Option<&str>) -> Result<Option<Endpoint>, Reply> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if bytes.len() >= MAX_REQUEST => {
            return Err(Reply::text(431, "request head too large\n"))
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(Reply::text(400, "malformed request\n")),
    };
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    if let Some(t) = token {
        let given = header("authorization")
            .and_then(|v| v.strip_prefix(b"Bearer "))
            .unwrap_or(b"");
        if !bool::from(given.ct_eq(t.as_bytes())) {
            return Err(Reply::text(401, "a bearer token is required\n"));
        }
    }
    // A small form body, read whole.
    let length = match header("content-length")
        .map(|v| std::str::from_utf8(v).ok()?.parse::<usize>().ok())
    {
        None => 0,
        Some(Some(n)) if n <= MAX_BODY => n,
        Some(_) => return Err(Reply::text(413, "a form body is at most 4 KiB\n")),
    };
    if bytes.len() < head_len + length {
        return Ok(None);
    }
    let body = &bytes[head_len..head_len + length];
    let target = req.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let form = if query.is_empty() {
        body
    } else {
        query.as_bytes()
    };
    let method = req.method.unwrap_or("");
    let endpoint = match path {
        "/servers/drain" => Endpoint::Drain(server_ref(form)?),
        "/servers/enable" => Endpoint::Enable(server_ref(form)?),
        "/" => Endpoint::Page,
        "/metrics" => Endpoint::Metrics(Format::from_accept(header("accept"))),
        "/status" => Endpoint::Status,
        "/healthz" => Endpoint::Healthz,
        "/ready" => Endpoint::Ready,
        "/reload" => Endpoint::Reload,
        "/recorder/dump" => Endpoint::Dump,
        _ => return Err(Reply::text(404, "no such admin endpoint\n")),
    };
    let wanted = match endpoint {
        Endpoint::Reload | Endpoint::Drain(_) | Endpoint::Enable(_) | Endpoint::Dump => "POST",
        _ => "GET",
    };
    if method != wanted && !(method == "HEAD" && wanted == "GET") {
        return Err(Reply::text(405, format!("use {wanted}\n")));
    }
    Ok(Some(endpoint))
}

/// The status page.
pub const PAGE: &str = include_str!("page.html");

/// The answer to `GET /`.
pub fn page() -> Reply {
    Reply {
        status: 200,
        content_type: "text/html; charset=utf-8",
        body: PAGE.to_owned(),
    }
}

/// The answer to `GET /metrics`.
pub fn metrics(snapshot: &Snapshot, process: &Process, format: Format) -> Reply {
    Reply {
        status: 200,
        content_type: format.content_type(),
        body: crate::metrics::render::render(snapshot, process, format),
    }
}

/// The answer to `GET /status`: generation, uptime, and every upstream
/// with its servers (weight, health, in-flight, failures) and the pool.
pub fn status(snapshot: &Snapshot, process: &Process, plan: &Plan) -> Reply {
    let upstreams: Vec<serde_json::Value> = plan
        .config
        .upstreams
        .iter()
        .map(|g| {
            let servers: Vec<serde_json::Value> = snapshot
                .servers
                .iter()
                .filter(|s| s.upstream == g.name)
                .map(|s| {
                    serde_json::json!({
                        "addr": s.addr.to_string(),
                        "weight": s.weight,
                        "up": s.up,
                        "drained": s.drained,
                        "backup": s.backup,
                        "in_flight": s.in_flight,
                        "failures": s.failures,
                        "requests": s.requests,
                    })
                })
                .collect();
            let fail_open = snapshot
                .metrics
                .upstreams
                .get(g.name.as_str())
                .map_or(0, |u| u.fail_open);
            serde_json::json!({
                "name": g.name,
                "fail_open_requests": fail_open,
                "balancer": g.strategy.name(),
                "servers": servers,
            })
        })
        .collect();
    let body = serde_json::json!({
        "generation": process.generation,
        "uptime_seconds": process.uptime.as_secs(),
        "reloads": { "success": process.reloads_ok, "failure": process.reloads_failed },
        "pooled_connections": snapshot.pooled,
        "client_connections": snapshot.metrics.connections_opened.saturating_sub(snapshot.metrics.connections_closed),
        "upstreams": upstreams,
    });
    Reply {
        status: 200,
        content_type: "application/json",
        body: format!("{body}\n"),
    }
}
