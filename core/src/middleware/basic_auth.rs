//! `kind = "basic-auth"`: HTTP Basic authentication (RFC 7617) against an
//! Apache `htpasswd` file (bcrypt, `$apr1$` MD5, `{SHA}`; plaintext is
//! refused when the file is read).
//!
//! ```toml
//! [[middleware]]
//! name = "users"
//! kind = "basic-auth"
//! users_file = "users.htpasswd"   # relative to the config file
//! realm = "weir"
//! keep_authorization = false      # true: the upstream gets Authorization too
//! ```
//!
//! No, malformed or wrong credentials: 401 with `WWW-Authenticate: Basic
//! realm="..."`. A verified user and password are remembered (a 64-bit
//! digest in a fixed table of atomic cells shared by the workers), so
//! bcrypt's deliberate cost is paid once per credential, not per request;
//! the table goes with the layer when the file changes. Preflights pass.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::htpasswd::{parse, Hash};
use super::{Answer, Cx, Env, Flow, Kind, Layer, Problems};
use crate::http1::RequestHead;

/// The registry entry.
pub const KIND: Kind = Kind {
    name: "basic-auth",
    build,
};

/// Verified credentials remembered.
const CACHE: usize = 4096;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    users_file: String,
    realm: Option<String>,
    #[serde(default)]
    keep_authorization: bool,
}

/// Checks Basic credentials.
pub struct BasicAuth {
    users: HashMap<String, Hash>,
    challenge: Bytes,
    keep: bool,
    verified: Box<[AtomicU64]>,
}

fn build(env: &Env<'_>, table: &toml::Table) -> Result<Arc<dyn Layer>, Problems> {
    let raw: Raw = super::settings(table)?;
    let mut problems = Vec::new();
    let realm = raw.realm.unwrap_or_else(|| "weir".into());
    if realm.contains('"') || realm.contains('\\') || !crate::config::is_header_value(&realm) {
        problems.push((
            "realm".into(),
            "no quotes, backslashes or control characters".into(),
        ));
    }
    let users = env.parsed_file(
        "users_file",
        &raw.users_file,
        "users",
        parse,
        HashMap::is_empty,
        &mut problems,
    );
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Arc::new(BasicAuth {
        users,
        challenge: Bytes::from(format!("Basic realm=\"{realm}\", charset=\"UTF-8\"")),
        keep: raw.keep_authorization,
        verified: (0..CACHE).map(|_| AtomicU64::new(0)).collect(),
    }))
}

/// `Basic <base64(user:password)>` decoded.
fn credentials(value: &[u8]) -> Option<(String, Vec<u8>)> {
    let v = std::str::from_utf8(value).ok()?.trim();
    let (scheme, token) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .ok()?;
    let colon = raw.iter().position(|&b| b == b':')?;
    let user = String::from_utf8(raw[..colon].to_vec()).ok()?;
    Some((user, raw[colon + 1..].to_vec()))
}

impl BasicAuth {
    fn admits(&self, user: &str, password: &[u8]) -> bool {
        let Some(hash) = self.users.get(user) else {
            return false;
        };
        let digest = Sha256::new()
            .chain_update(user.as_bytes())
            .chain_update([0u8])
            .chain_update(password)
            .finalize();
        let tag = u64::from_le_bytes(digest[..8].try_into().unwrap_or_default()).max(1);
        let cell = &self.verified[(tag as usize) % CACHE];
        if cell.load(Ordering::Relaxed) == tag {
            return true;
        }
        let ok = hash.check(password);
        if ok {
            cell.store(tag, Ordering::Relaxed);
        }
        ok
    }
}

impl Layer for BasicAuth {
    fn on_request(&self, req: &mut RequestHead, cx: &mut Cx<'_>) -> Flow {
        if super::is_preflight(req) {
            return Flow::Next;
        }
        let user = (req.headers.get_all("authorization").count() == 1)
            .then(|| req.headers.get("authorization").and_then(credentials))
            .flatten()
            .filter(|(user, password)| self.admits(user, password))
            .map(|(user, _)| user);
        if let Some(user) = user {
            cx.principal = Some(Bytes::from(user));
            if !self.keep {
                req.headers.remove(b"authorization");
            }
            return Flow::Next;
        }
        let mut a = Answer::plain(401);
        a.head.headers.append(
            Bytes::from_static(b"WWW-Authenticate"),
            self.challenge.clone(),
        );
        Flow::Answer(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_decoded_or_refused() {
        assert_eq!(
            credentials(b"Basic dXNlcjpwYXNz"),
            Some(("user".into(), b"pass".to_vec()))
        );
        assert_eq!(
            credentials(b"basic  dXNlcjpwOnc="),
            Some(("user".into(), b"p:w".to_vec()))
        );
        for bad in [
            &b"Bearer dXNlcjpwYXNz"[..],
            b"Basic",
            b"Basic !!!",
            b"Basic dXNlcg==",
        ] {
            assert_eq!(credentials(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
