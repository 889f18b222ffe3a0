//! `[admin]`: the admin listener (metrics, status, health), off unless
//! configured.
//!
//! ```toml
//! [admin]
//! listen = "127.0.0.1:9901"   # a loopback address, or any with a token
//! token = "s3cret"            # then every request needs Authorization: Bearer s3cret
//! ```

use std::net::SocketAddr;

use serde::Deserialize;
use toml::Spanned;

use super::Errors;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAdmin {
    listen: Spanned<String>,
    token: Option<Spanned<String>>,
}

/// The admin listener's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admin {
    /// Where it listens.
    pub listen: SocketAddr,
    /// The bearer token every request must carry, if set.
    pub token: Option<String>,
}

/// Validates `[admin]`: a listen address; a token when it is not loopback.
pub(super) fn admin(raw: &RawAdmin, errs: &mut Errors<'_>) -> Option<Admin> {
    let listen = match raw.listen.get_ref().parse::<SocketAddr>() {
        Ok(a) => a,
        Err(_) => {
            errs.at(
                raw.listen.span(),
                "admin.listen".into(),
                format!(
                    "{:?} is not an address:port (e.g. \"127.0.0.1:9901\")",
                    raw.listen.get_ref()
                ),
            );
            return None;
        }
    };
    let token = raw.token.as_ref().map(|t| t.get_ref().clone());
    if let Some(t) = &raw.token {
        let v = t.get_ref();
        if v.len() < 16 || !v.bytes().all(|b| b.is_ascii_graphic()) {
            errs.at(
                t.span(),
                "admin.token".into(),
                "a token is at least 16 visible ASCII characters".into(),
            );
        }
    }
    if !listen.ip().is_loopback() && token.is_none() {
        errs.at(
            raw.listen.span(),
            "admin.listen".into(),
            format!("{listen} is not a loopback address: set admin.token to expose it"),
        );
    }
    Some(Admin { listen, token })
}
