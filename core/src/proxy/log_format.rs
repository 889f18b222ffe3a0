//! `[log] format`: how an [`AccessRecord`] is written as one line.
//!
//! - `"text"` (the default): the fixed line of [`AccessRecord::write_line`].
//! - `"json"`: one JSON object per line, every field below, the time in
//!   RFC 3339 (UTC, milliseconds); absent values are `null`.
//! - anything else is a template: `{name}` is replaced by the field of that
//!   name, `{{` and `}}` are braces, the rest is copied. An unknown name is
//!   a config error. Values are written with quotes and control characters
//!   as `?`, so a line stays one line; an absent value is `-`.
//!
//! Fields: `time` (RFC 3339), `time_unix` (seconds.millis), `client_ip`
//! (as `[client_ip]` resolved it), `peer` (the TCP peer, address:port),
//! `method`, `target`, `version` (`HTTP/1.1`), `host`, `status` (0: none
//! sent), `route`, `upstream` (the group's name), `server` (address of the
//! last server tried), `bytes_in`, `bytes_out`, `duration_ms`,
//! `upstream_ms` (from picking the server to its response head), `tries`,
//! `request_id`, `user_agent`, `principal`, `note`.

use std::time::Duration;

use super::log::AccessRecord;
use crate::plan::Plan;

/// How access records are written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// The fixed text line.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
    /// An operator's template.
    Template(Vec<Piece>),
}

/// One part of a template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// Copied as it is.
    Literal(String),
    /// A field's value.
    Field(Field),
}

/// A field a record can be asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// RFC 3339 time.
    Time,
    /// Unix seconds with milliseconds.
    TimeUnix,
    /// The resolved client IP.
    ClientIp,
    /// The TCP peer.
    Peer,
    /// Request method.
    Method,
    /// Request target.
    Target,
    /// `HTTP/1.0` or `HTTP/1.1`.
    Version,
    /// The Host field.
    Host,
    /// Status sent.
    Status,
    /// Route name.
    Route,
    /// Upstream group name.
    Upstream,
    /// Server address.
    Server,
    /// Bytes from the client.
    BytesIn,
    /// Bytes to the client.
    BytesOut,
    /// Exchange duration in ms.
    DurationMs,
    /// Upstream time in ms.
    UpstreamMs,
    /// Servers tried.
    Tries,
    /// Request id.
    RequestId,
    /// User-Agent.
    UserAgent,
    /// Authenticated principal.
    Principal,
    /// Why it ended abnormally.
    Note,
}

/// Every field with its name, in the order the JSON form writes them.
pub const FIELDS: [(&str, Field); 21] = [
    ("time", Field::Time),
    ("time_unix", Field::TimeUnix),
    ("client_ip", Field::ClientIp),
    ("peer", Field::Peer),
    ("method", Field::Method),
    ("target", Field::Target),
    ("version", Field::Version),
    ("host", Field::Host),
    ("status", Field::Status),
    ("route", Field::Route),
    ("upstream", Field::Upstream),
    ("server", Field::Server),
    ("bytes_in", Field::BytesIn),
    ("bytes_out", Field::BytesOut),
    ("duration_ms", Field::DurationMs),
    ("upstream_ms", Field::UpstreamMs),
    ("tries", Field::Tries),
    ("request_id", Field::RequestId),
    ("user_agent", Field::UserAgent),
    ("principal", Field::Principal),
    ("note", Field::Note),
];

/// A field's value: text, a number, or nothing.
enum Value {
    Text(String),
    Number(String),
    Absent,
}

fn text(b: &[u8]) -> Value {
    if b.is_empty() {
        Value::Absent
    } else {
        Value::Text(String::from_utf8_lossy(b).into_owned())
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

/// `wall` as RFC 3339, UTC, milliseconds.
pub fn rfc3339(wall: Duration) -> String {
    let nanos = i128::try_from(wall.as_nanos()).unwrap_or(0);
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

fn value(r: &AccessRecord, f: Field, wall: Duration, plan: &Plan) -> Value {
    use Value::{Absent, Number, Text};
    match f {
        Field::Time => Text(rfc3339(wall)),
        Field::TimeUnix => Number(format!("{}.{:03}", wall.as_secs(), wall.subsec_millis())),
        Field::ClientIp => Text(r.client.ip().to_string()),
        Field::Peer => Text(r.peer.to_string()),
        Field::Method => text(&r.method),
        Field::Target => text(&r.target),
        Field::Version => r.version.map_or(Absent, |v| Text(v.as_str().to_owned())),
        Field::Host => text(&r.host),
        Field::Status => Number(r.status.to_string()),
        Field::Route => text(&r.route),
        Field::Upstream => r
            .group
            .and_then(|g| plan.config.upstreams.get(g))
            .map_or(Absent, |g| Text(g.name.clone())),
        Field::Server => r.upstream.map_or(Absent, |a| Text(a.to_string())),
        Field::BytesIn => Number(r.bytes_in.to_string()),
        Field::BytesOut => Number(r.bytes_out.to_string()),
        Field::DurationMs => Number(ms(r.duration())),
        Field::UpstreamMs => r.upstream_time.map_or(Absent, |d| Number(ms(d))),
        Field::Tries => Number(r.tries.to_string()),
        Field::RequestId => text(&r.request_id),
        Field::UserAgent => text(&r.user_agent),
        Field::Principal => text(&r.principal),
        Field::Note => text(r.note.as_bytes()),
    }
}

impl LogFormat {
    /// Reads a `format` setting: `text`, `json` or a template.
    pub fn parse(s: &str) -> Result<LogFormat, String> {
        match s {
            "text" => return Ok(LogFormat::Text),
            "json" => return Ok(LogFormat::Json),
            _ => {}
        }
        if s.contains(['\n', '\r']) {
            return Err("a template is one line".into());
        }
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut rest = s;
        while let Some(c) = rest.chars().next() {
            if let Some(r) = rest.strip_prefix("{{") {
                lit.push('{');
                rest = r;
            } else if let Some(r) = rest.strip_prefix("}}") {
                lit.push('}');
                rest = r;
            } else if let Some(r) = rest.strip_prefix('{') {
                let Some((name, after)) = r.split_once('}') else {
                    return Err("a `{` without its `}` (write `{{` for a brace)".into());
                };
                let Some((_, f)) = FIELDS.iter().find(|(n, _)| *n == name) else {
                    let names: Vec<&str> = FIELDS.iter().map(|(n, _)| *n).collect();
                    return Err(format!(
                        "unknown field {{{name}}}; the fields: {}",
                        names.join(", ")
                    ));
                };
                if !lit.is_empty() {
                    pieces.push(Piece::Literal(std::mem::take(&mut lit)));
                }
                pieces.push(Piece::Field(*f));
                rest = after;
            } else if c == '}' {
                return Err("a `}` without its `{` (write `}}` for a brace)".into());
            } else {
                lit.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        if !lit.is_empty() {
            pieces.push(Piece::Literal(lit));
        }
        Ok(LogFormat::Template(pieces))
    }

    /// Writes `r` as one line, `wall` being the time of day (the
    /// frontend's clock, or virtual time in replays); `plan` is the plan
    /// the exchange ran on (it names the upstream group).
    pub fn write(&self, r: &AccessRecord, plan: &Plan, out: &mut Vec<u8>, wall: Duration) {
        match self {
            LogFormat::Text => r.write_line(out, wall),
            LogFormat::Json => {
                out.push(b'{');
                for (i, (name, f)) in FIELDS.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(b"\"");
                    out.extend_from_slice(name.as_bytes());
                    out.extend_from_slice(b"\":");
                    match value(r, *f, wall, plan) {
                        // serde_json escapes quotes, backslashes and controls.
                        Value::Text(s) => {
                            let _ = serde_json::to_writer(&mut *out, &s);
                        }
                        Value::Number(n) => out.extend_from_slice(n.as_bytes()),
                        Value::Absent => out.extend_from_slice(b"null"),
                    }
                }
                out.extend_from_slice(b"}\n");
            }
            LogFormat::Template(pieces) => {
                for p in pieces {
                    match p {
                        Piece::Literal(s) => out.extend_from_slice(s.as_bytes()),
                        Piece::Field(f) => match value(r, *f, wall, plan) {
                            Value::Text(s) => {
                                for c in s.chars() {
                                    let c = if c == '"' || c.is_control() { '?' } else { c };
                                    let mut b = [0; 4];
                                    out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
                                }
                            }
                            Value::Number(n) => out.extend_from_slice(n.as_bytes()),
                            Value::Absent => out.push(b'-'),
                        },
                    }
                }
                out.push(b'\n');
            }
        }
    }
}
