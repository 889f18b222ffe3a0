//! `kind = "forwarded"`: the standard `Forwarded` field (RFC 7239) and
//! `Via` (RFC 9110 7.6.3), opt-in; the `X-Forwarded-*` fields stay as
//! they are (the built-in first layer sets them).
//!
//! ```toml
//! [[middleware]]
//! name = "std"
//! kind = "forwarded"
//! forwarded = true        # append for=<client>;proto=http;host=<host>[;by=<by>]
//! by = "_weir"            # optional: this proxy's (obfuscated) identifier
//! hide_client = false     # true: for=unknown instead of the address
//! via = true              # Via: 1.1 <pseudonym>, on requests and responses
//! pseudonym = "weir"
//! ```
//!
//! The element is appended to any `Forwarded` the request brought (a
//! comma-separated list, as proxies do); an IPv6 client is quoted and
//! bracketed (`for="[2001:db8::1]"`).

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;

use super::{Cx, Flow, Kind, Layer, Problems};
use crate::http1::{RequestHead, ResponseHead};

/// The registry entry.
pub const KIND: Kind = Kind {
    name: "forwarded",
    build,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    forwarded: Option<bool>,
    by: Option<String>,
    #[serde(default)]
    hide_client: bool,
    via: Option<bool>,
    pseudonym: Option<String>,
}

/// Appends `Forwarded` and `Via`.
pub struct Standard {
    forwarded: bool,
    by: Option<String>,
    hide_client: bool,
    via: Option<Bytes>,
}

/// An RFC 7239 `node` we may write: `unknown`, or `_` and token characters.
fn obfuscated(s: &str) -> bool {
    s == "unknown"
        || (s.len() > 1
            && s.starts_with('_')
            && s.bytes()
                .skip(1)
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)))
}

fn build(_env: &super::Env<'_>, table: &toml::Table) -> Result<Arc<dyn Layer>, Problems> {
    let raw: Raw = super::settings(table)?;
    let mut problems = Vec::new();
    if let Some(by) = &raw.by {
        if !obfuscated(by) {
            problems.push((
                "by".into(),
                format!("{by:?}: an obfuscated identifier (\"_name\") or \"unknown\""),
            ));
        }
    }
    let pseudonym = raw.pseudonym.unwrap_or_else(|| "weir".into());
    if !crate::config::is_header_name(&pseudonym) {
        problems.push(("pseudonym".into(), format!("{pseudonym:?} is not a token")));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Arc::new(Standard {
        forwarded: raw.forwarded.unwrap_or(true),
        by: raw.by,
        hide_client: raw.hide_client,
        via: raw
            .via
            .unwrap_or(true)
            .then(|| Bytes::from(format!("1.1 {pseudonym}"))),
    }))
}

/// Appends `value` to the list field `name` (a new line after any).
fn append(headers: &mut crate::http1::Headers, name: &'static str, value: Bytes) {
    headers.append(Bytes::from_static(name.as_bytes()), value);
}

impl Layer for Standard {
    fn on_request(&self, req: &mut RequestHead, cx: &mut Cx<'_>) -> Flow {
        if self.forwarded {
            let mut element = match (self.hide_client, cx.client.ip()) {
                (true, _) => "for=unknown".to_owned(),
                (false, IpAddr::V4(ip)) => format!("for={ip}"),
                (false, IpAddr::V6(ip)) => format!("for=\"[{ip}]\""),
            };
            if let Some(by) = &self.by {
                element.push_str(";by=");
                element.push_str(by);
            }
            element.push_str(";proto=http");
            if let Some(host) = req.headers.get("host") {
                // A host is a token or needs quoting (a port's ':' does).
                let host = String::from_utf8_lossy(host);
                if host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b))
                {
                    element.push_str(&format!(";host={host}"));
                } else {
                    element.push_str(&format!(";host=\"{host}\""));
                }
            }
            append(&mut req.headers, "Forwarded", Bytes::from(element));
        }
        if let Some(via) = &self.via {
            append(&mut req.headers, "Via", via.clone());
        }
        Flow::Next
    }

    fn on_response(&self, _req: &RequestHead, resp: &mut ResponseHead, _cx: &mut Cx<'_>) {
        if let Some(via) = &self.via {
            append(&mut resp.headers, "Via", via.clone());
        }
    }
}
