//! `kind = "request-id"`: every request gets an id, sent upstream in a
//! header, back to the client in the same header, and into the access
//! log (`rid=`).
//!
//! ```toml
//! [[middleware]]
//! name = "rid"
//! kind = "request-id"
//! header = "X-Request-Id"   # the default
//! format = "uuid7"          # | "uuid4"; the default uuid7 when the time
//!                           #   of day is known, from the seeded RNG
//! trust_incoming = false    # true: keep a well-formed id the request
//!                           #   brings (1..=128 visible ASCII)
//! ```
//!
//! Ids come from the worker's seeded RNG and, for `uuid7`, the time of
//! day the frontend gave the core: replays give the same ids.

use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;
use uuid::Builder;

use super::{Cx, Flow, Kind, Layer, Problems};
use crate::config::FRAMING;
use crate::http1::{RequestHead, ResponseHead};

/// The registry entry.
pub const KIND: Kind = Kind {
    name: "request-id",
    build,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    header: Option<String>,
    format: Option<String>,
    #[serde(default)]
    trust_incoming: bool,
}

/// How ids are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// Random (RFC 9562 version 4).
    Uuid4,
    /// Time-ordered: Unix milliseconds, then random (version 7).
    Uuid7,
}

/// Gives every request an id.
pub struct RequestId {
    header: Bytes,
    name: String,
    format: Format,
    trust_incoming: bool,
}

fn build(_env: &super::Env<'_>, table: &toml::Table) -> Result<Arc<dyn Layer>, Problems> {
    let raw: Raw = super::settings(table)?;
    let mut problems = Vec::new();
    let header = raw.header.unwrap_or_else(|| "X-Request-Id".into());
    if !crate::config::is_header_name(&header)
        || FRAMING.iter().any(|f| f.eq_ignore_ascii_case(&header))
    {
        problems.push((
            "header".into(),
            format!("{header:?} cannot carry a request id"),
        ));
    }
    let format = match raw.format.as_deref() {
        None | Some("uuid7") => Format::Uuid7,
        Some("uuid4") => Format::Uuid4,
        Some(other) => {
            problems.push((
                "format".into(),
                format!("unknown format {other:?} (expected: uuid7, uuid4)"),
            ));
            Format::Uuid7
        }
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Arc::new(RequestId {
        name: header.to_ascii_lowercase(),
        header: Bytes::from(header),
        format,
        trust_incoming: raw.trust_incoming,
    }))
}

/// An id a client may bring: 1..=128 visible ASCII characters.
fn well_formed(id: &[u8]) -> bool {
    (1..=128).contains(&id.len()) && id.iter().all(|&b| (0x21..0x7f).contains(&b))
}

impl RequestId {
    fn fresh(&self, cx: &mut Cx<'_>) -> Bytes {
        let mut random = [0u8; 16];
        random[..8].copy_from_slice(&cx.rng.next_u64().to_le_bytes());
        random[8..].copy_from_slice(&cx.rng.next_u64().to_le_bytes());
        let uuid = match (self.format, cx.wall()) {
            (Format::Uuid7, Some(wall)) => {
                let mut tail = [0u8; 10];
                tail.copy_from_slice(&random[..10]);
                Builder::from_unix_timestamp_millis(wall.as_millis() as u64, &tail).into_uuid()
            }
            // Without the time of day a v7 id would claim 1970: random.
            _ => Builder::from_random_bytes(random).into_uuid(),
        };
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        Bytes::copy_from_slice(uuid.hyphenated().encode_lower(&mut text).as_bytes())
    }
}

impl Layer for RequestId {
    fn on_request(&self, req: &mut RequestHead, cx: &mut Cx<'_>) -> Flow {
        let incoming = req.headers.get_bytes(&self.name).filter(|id| {
            self.trust_incoming && well_formed(id) && req.headers.get_all(&self.name).count() == 1
        });
        let id = match incoming {
            Some(id) => id,
            None => self.fresh(cx),
        };
        req.headers.set(self.header.clone(), id.clone());
        cx.request_id = Some(id);
        Flow::Next
    }

    fn on_response(&self, req: &RequestHead, resp: &mut ResponseHead, _cx: &mut Cx<'_>) {
        if let Some(id) = req.headers.get_bytes(&self.name) {
            resp.headers.set(self.header.clone(), id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_a_client_may_bring() {
        assert!(well_formed(b"abc-123") && well_formed(&[b'a'; 128]));
        assert!(!well_formed(b"") && !well_formed(&[b'a'; 129]));
        assert!(!well_formed(b"a b") && !well_formed(b"a\x7f") && !well_formed("é".as_bytes()));
    }

    #[test]
    fn bad_settings_are_named() {
        let p = build(
            &crate::middleware::Env::bare(None),
            &"header = \"Content-Length\"\nformat = \"hex\""
                .parse()
                .unwrap(),
        )
        .err()
        .unwrap();
        assert_eq!(
            p,
            [
                (
                    "header".to_owned(),
                    "\"Content-Length\" cannot carry a request id".to_owned()
                ),
                (
                    "format".to_owned(),
                    "unknown format \"hex\" (expected: uuid7, uuid4)".to_owned()
                ),
            ]
        );
    }
}
