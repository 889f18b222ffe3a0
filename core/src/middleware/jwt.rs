//! `kind = "jwt"`: a bearer token (RFC 7519) signed with HS256, RS256 or
//! ES256, its signature checked with the `jsonwebtoken` crate and its
//! times (`exp`, `nbf`) against the time of day the frontend tells the
//! core, never the system clock.
//!
//! ```toml
//! [[middleware]]
//! name = "tokens"
//! kind = "jwt"
//! algorithm = "HS256"                  # | "RS256" | "ES256"
//! key_file = "secret.key"              # HS256: the secret; RS256/ES256: a PEM public key
//! # jwks_file = "jwks.json"            # or a JWKS (the token's kid picks the key)
//! issuer = "https://auth.example.com"  # optional: iss must be this
//! audience = "api"                     # optional: aud must hold this
//! leeway = 30                          # seconds of clock skew allowed (default 30)
//! claims_to_headers = { "sub" = "X-User" }   # copied into the upstream request
//! ```
//!
//! The token is taken from `Authorization: Bearer ...`, which is removed
//! before the upstream. No, malformed, badly signed (including
//! `alg: none` and any algorithm but the configured one), expired or
//! not-yet-valid token: 401 with `WWW-Authenticate: Bearer
//! error="invalid_token"`. Preflights pass.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::{Answer, Cx, Env, Flow, Kind, Layer, Problems};
use crate::http1::RequestHead;

/// The registry entry.
pub const KIND: Kind = Kind { name: "jwt", build };

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    algorithm: String,
    key_file: Option<String>,
    jwks_file: Option<String>,
    issuer: Option<String>,
    audience: Option<String>,
    leeway: Option<u64>,
    #[serde(default)]
    claims_to_headers: BTreeMap<String, String>,
}

/// Where the keys come from.
enum Keys {
    One(DecodingKey),
    /// By `kid`.
    Set(Vec<(Option<String>, DecodingKey)>),
}

/// Checks bearer tokens.
pub struct Jwt {
    keys: Keys,
    validation: Validation,
    leeway: u64,
    claims: Vec<(String, Bytes)>,
}

fn build(env: &Env<'_>, table: &toml::Table) -> Result<Arc<dyn Layer>, Problems> {
    let raw: Raw = super::settings(table)?;
    let mut problems: Problems = Vec::new();
    let alg = match raw.algorithm.as_str() {
        "HS256" => Algorithm::HS256,
        "RS256" => Algorithm::RS256,
        "ES256" => Algorithm::ES256,
        other => {
            problems.push((
                "algorithm".into(),
                format!("unknown algorithm {other:?} (expected: HS256, RS256, ES256)"),
            ));
            Algorithm::HS256
        }
    };
    let keys = match (&raw.key_file, &raw.jwks_file) {
        (Some(path), None) => env
            .file(path)
            .and_then(|bytes| match alg {
                Algorithm::HS256 => Ok(DecodingKey::from_secret(trim_newline(&bytes))),
                Algorithm::RS256 => {
                    DecodingKey::from_rsa_pem(&bytes).map_err(|e| format!("{path}: {e}"))
                }
                _ => DecodingKey::from_ec_pem(&bytes).map_err(|e| format!("{path}: {e}")),
            })
            .map(Keys::One)
            .map_err(|m| problems.push(("key_file".into(), m))),
        (None, Some(path)) => env
            .file(path)
            .and_then(|bytes| {
                serde_json::from_slice::<JwkSet>(&bytes).map_err(|e| format!("{path}: {e}"))
            })
            .and_then(|set| {
                set.keys
                    .iter()
                    .map(|k| DecodingKey::from_jwk(k).map(|d| (k.common.key_id.clone(), d)))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("{path}: {e}"))
            })
            .map(Keys::Set)
            .map_err(|m| problems.push(("jwks_file".into(), m))),
        _ => {
            problems.push(("key_file".into(), "one of key_file or jwks_file".into()));
            Err(())
        }
    };
    let mut claims = Vec::new();
    for (claim, header) in &raw.claims_to_headers {
        if !crate::config::is_header_name(header)
            || crate::config::FRAMING
                .iter()
                .any(|f| f.eq_ignore_ascii_case(header))
        {
            problems.push((
                "claims_to_headers".into(),
                format!("{header:?} cannot carry a claim"),
            ));
        }
        claims.push((claim.clone(), Bytes::from(header.clone())));
    }
    let keys = match keys {
        Ok(k) if problems.is_empty() => k,
        _ => return Err(problems),
    };
    let mut validation = Validation::new(alg);
    // Times are checked against the core's clock below, not the system's.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.required_spec_claims.clear();
    validation.validate_aud = raw.audience.is_some();
    if let Some(aud) = &raw.audience {
        validation.set_audience(&[aud]);
    }
    if let Some(iss) = &raw.issuer {
        validation.set_issuer(&[iss]);
    }
    Ok(Arc::new(Jwt {
        keys,
        validation,
        leeway: raw.leeway.unwrap_or(30),
        claims,
    }))
}

fn trim_newline(b: &[u8]) -> &[u8] {
    b.strip_suffix(b"\n")
        .map_or(b, |b| b.strip_suffix(b"\r").unwrap_or(b))
}

impl Jwt {
    /// The token's claims when it is valid at `now` (Unix seconds).
    pub fn claims(
        &self,
        token: &str,
        now: Option<Duration>,
    ) -> Option<serde_json::Map<String, serde_json::Value>> {
        let key = match &self.keys {
            Keys::One(k) => k,
            Keys::Set(set) => {
                let kid = jsonwebtoken::decode_header(token).ok()?.kid;
                &set.iter().find(|(id, _)| *id == kid || set.len() == 1)?.1
            }
        };
        let data = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token,
            key,
            &self.validation,
        )
        .ok()?;
        let claims = data.claims;
        let time = |name: &str| claims.get(name).and_then(serde_json::Value::as_u64);
        let (exp, nbf) = (time("exp"), time("nbf"));
        if exp.is_some() || nbf.is_some() {
            // Without the time of day, a token that has times is refused.
            let now = now?.as_secs();
            if exp.is_some_and(|e| now >= e + self.leeway)
                || nbf.is_some_and(|n| now + self.leeway < n)
            {
                return None;
            }
        }
        Some(claims)
    }
}

impl Layer for Jwt {
    fn on_request(&self, req: &mut RequestHead, cx: &mut Cx<'_>) -> Flow {
        if super::is_preflight(req) {
            return Flow::Next;
        }
        let token = (req.headers.get_all("authorization").count() == 1)
            .then(|| req.headers.get("authorization"))
            .flatten()
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(|t| t.trim().to_owned());
        let claims = token.and_then(|t| self.claims(&t, cx.wall()));
        let Some(claims) = claims else {
            let mut a = Answer::plain(401);
            a.head.headers.append(
                Bytes::from_static(b"WWW-Authenticate"),
                Bytes::from_static(b"Bearer error=\"invalid_token\""),
            );
            return Flow::Answer(a);
        };
        req.headers.remove(b"authorization");
        if let Some(serde_json::Value::String(sub)) = claims.get("sub") {
            cx.principal = Some(Bytes::from(sub.clone()));
        }
        for (claim, header) in &self.claims {
            req.headers.remove(header);
            let value = match claims.get(claim) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Number(n)) => n.to_string(),
                Some(serde_json::Value::Bool(b)) => b.to_string(),
                _ => continue,
            };
            if crate::config::is_header_value(&value) {
                req.headers.append(header.clone(), Bytes::from(value));
            }
        }
        Flow::Next
    }
}
