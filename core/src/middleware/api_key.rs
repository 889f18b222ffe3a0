//! `kind = "api-key"`: a request must carry a known key, in a header or a
//! query parameter; the key is removed before the upstream.
//!
//! ```toml
//! [[middleware]]
//! name = "keys"
//! kind = "api-key"
//! header = "X-Api-Key"     # or: query = "api_key" (one of the two)
//! keys_file = "keys.txt"   # relative to the config file
//! ```
//!
//! The keys file holds hashes, never keys: one per line, `sha256:` and 64
//! hex digits (`printf %s "$KEY" | sha256sum`), optionally after a name
//! and a space (`billing sha256:...`); `#` starts a comment. A plaintext
//! line is refused at load. The file is read by the frontend when the
//! config is loaded (and on reload).
//!
//! Missing or unknown key: 401 with `WWW-Authenticate: ApiKey`.
//! Preflights (`OPTIONS` with `Access-Control-Request-Method`) pass, so a
//! `cors` layer after this one can answer them.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{Answer, Cx, Env, Flow, Kind, Layer, Problems};
use crate::http1::RequestHead;

/// The registry entry.
pub const KIND: Kind = Kind {
    name: "api-key",
    build,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    header: Option<String>,
    query: Option<String>,
    keys_file: String,
}

/// Where the key is.
enum Carrier {
    Header(String),
    Query(String),
}

/// Admits requests with a known key.
pub struct ApiKey {
    carrier: Carrier,
    /// Key hashes and the names given to them (empty: none).
    hashes: HashMap<[u8; 32], String>,
}

/// The hashes of a keys file, or what is wrong with it (by line).
fn parse_keys(text: &str) -> Result<HashMap<[u8; 32], String>, Vec<String>> {
    let mut hashes = HashMap::new();
    let mut problems = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (name, hash) = match line.rsplit_once(' ') {
            Some((name, hash)) => (name.trim(), hash),
            None => ("", line),
        };
        let hex = hash.strip_prefix("sha256:").filter(|h| h.len() == 64);
        let bytes = hex.and_then(|h| {
            let mut out = [0u8; 32];
            for (j, pair) in h.as_bytes().chunks(2).enumerate() {
                out[j] = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
            }
            Some(out)
        });
        match bytes {
            Some(b) => {
                hashes.insert(b, name.to_owned());
            }
            None => problems.push(format!(
                "line {}: expected \"sha256:\" and 64 hex digits (keys are stored hashed: printf %s KEY | sha256sum)",
                i + 1
            )),
        }
    }
    if problems.is_empty() {
        Ok(hashes)
    } else {
        Err(problems)
    }
}

fn build(env: &Env<'_>, table: &toml::Table) -> Result<Arc<dyn Layer>, Problems> {
    let raw: Raw = super::settings(table)?;
    let mut problems = Vec::new();
    let carrier = match (raw.header, raw.query) {
        (Some(h), None) if crate::config::is_header_name(&h) => {
            Carrier::Header(h.to_ascii_lowercase())
        }
        (None, Some(q)) if !q.is_empty() => Carrier::Query(q),
        (None, None) => Carrier::Header("x-api-key".into()),
        _ => {
            problems.push((
                "header".into(),
                "one of header (a field name) or query".into(),
            ));
            Carrier::Header(String::new())
        }
    };
    let hashes = env.parsed_file(
        "keys_file",
        &raw.keys_file,
        "keys",
        parse_keys,
        HashMap::is_empty,
        &mut problems,
    );
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Arc::new(ApiKey { carrier, hashes }))
}

impl ApiKey {
    /// The key's name ("" when unnamed) when it is a known key.
    fn known(&self, key: &[u8]) -> Option<&str> {
        let hash: [u8; 32] = Sha256::digest(key).into();
        self.hashes.get(&hash).map(String::as_str)
    }
}

impl Layer for ApiKey {
    fn on_request(&self, req: &mut RequestHead, cx: &mut Cx<'_>) -> Flow {
        if super::is_preflight(req) {
            return Flow::Next;
        }
        let name = match &self.carrier {
            Carrier::Header(n) => {
                let name = (req.headers.get_all(n).count() == 1)
                    .then(|| req.headers.get(n).and_then(|k| self.known(k)))
                    .flatten()
                    .map(str::to_owned);
                req.headers.remove(n.as_bytes());
                name
            }
            Carrier::Query(q) => {
                let name = req
                    .query_param(q)
                    .and_then(|k| self.known(k))
                    .map(str::to_owned);
                if name.is_some() {
                    req.target = without_param(&req.target, q);
                }
                name
            }
        };
        if let Some(name) = name {
            if !name.is_empty() {
                cx.principal = Some(Bytes::from(name));
            }
            return Flow::Next;
        }
        let mut a = Answer::plain(401);
        a.head.headers.append(
            Bytes::from_static(b"WWW-Authenticate"),
            Bytes::from_static(b"ApiKey"),
        );
        Flow::Answer(a)
    }
}

/// `target` without every `name=...` (or bare `name`) query parameter.
fn without_param(target: &Bytes, name: &str) -> Bytes {
    let Some(q) = target.iter().position(|&b| b == b'?') else {
        return target.clone();
    };
    let kept: Vec<&[u8]> = target[q + 1..]
        .split(|&b| b == b'&')
        .filter(|pair| {
            let n = pair.split(|&b| b == b'=').next().unwrap_or(pair);
            n != name.as_bytes()
        })
        .collect();
    let mut out = target[..q].to_vec();
    if !kept.is_empty() {
        out.push(b'?');
        out.extend_from_slice(&kept.join(&b'&'));
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_files_hold_hashes_only() {
        let h = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";
        let ok = parse_keys(&format!("# keys\nbilling {h}\n\n{h} # again\n")).unwrap();
        assert_eq!(ok.len(), 1);
        let bad = parse_keys("foo\nsha256:12\n").err().unwrap();
        assert_eq!(bad.len(), 2);
        assert!(bad[0].starts_with("line 1: expected"), "{bad:?}");
    }

    #[test]
    fn the_key_parameter_leaves_the_target() {
        let t = |s: &'static str| without_param(&Bytes::from_static(s.as_bytes()), "k");
        assert_eq!(&t("/a?k=1&b=2")[..], b"/a?b=2");
        assert_eq!(&t("/a?b=2&k")[..], b"/a?b=2");
        assert_eq!(&t("/a?k=1")[..], b"/a");
        assert_eq!(&t("/a?kk=1")[..], b"/a?kk=1");
    }
}
