//! `listen`: one address, or a list of listeners, each with its own
//! PROXY-protocol setting.
//!
//! ```toml
//! listen = "127.0.0.1:8080"
//! # or several:
//! listen = ["127.0.0.1:8080", { addr = "127.0.0.1:8443", proxy_protocol = true }]
//! proxy_protocol = false   # the default of entries that do not say
//! ```

use std::net::SocketAddr;

use toml::Spanned;

use super::Errors;

/// One listening address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listener {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// Every connection starts with a PROXY protocol header (v1 or v2).
    pub proxy_protocol: bool,
}

/// Most listeners one gateway has.
const MAX_LISTENERS: usize = 64;

/// Validates `listen` (a string or a list of strings and tables);
/// `proxy_protocol` is the top-level default.
pub(super) fn listeners(
    raw: &Spanned<toml::Value>,
    proxy_protocol: bool,
    errs: &mut Errors<'_>,
) -> Vec<Listener> {
    let mut out = Vec::new();
    let bad = |errs: &mut Errors<'_>, what: String| {
        errs.at(raw.span(), "listen".into(), what);
    };
    let entries: Vec<&toml::Value> = match raw.get_ref() {
        toml::Value::Array(items) if items.is_empty() => {
            bad(errs, "needs at least one address".into());
            return vec![fallback()];
        }
        toml::Value::Array(items) => items.iter().collect(),
        one => vec![one],
    };
    if entries.len() > MAX_LISTENERS {
        bad(errs, format!("at most {MAX_LISTENERS} listeners"));
    }
    for (i, entry) in entries.into_iter().enumerate() {
        match entry {
            toml::Value::String(s) => match s.parse::<SocketAddr>() {
                Ok(addr) => out.push(Listener {
                    addr,
                    proxy_protocol,
                }),
                Err(_) => bad(
                    errs,
                    format!("invalid address {s:?} (expected IP:PORT)"),
                ),
            },
            toml::Value::Table(t) => match table(t, proxy_protocol) {
                Ok(l) => out.push(l),
                Err(m) => bad(errs, format!("entry {}: {m}", i + 1)),
            },
            _ => bad(
                errs,
                format!(
                    "entry {}: expected \"IP:PORT\" or {{ addr = \"IP:PORT\", proxy_protocol = true }}",
                    i + 1
                ),
            ),
        }
    }
    for (i, l) in out.iter().enumerate() {
        // Port 0 (any free port) may be asked for more than once.
        if l.addr.port() != 0 && out[..i].iter().any(|o| o.addr == l.addr) {
            bad(errs, format!("{} is listed twice", l.addr));
        }
    }
    if out.is_empty() {
        out.push(fallback());
    }
    out
}

fn fallback() -> Listener {
    Listener {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        proxy_protocol: false,
    }
}

fn table(t: &toml::Table, proxy_protocol: bool) -> Result<Listener, String> {
    if let Some(k) = t.keys().find(|k| *k != "addr" && *k != "proxy_protocol") {
        return Err(format!(
            "unknown key {k:?} (expected: addr, proxy_protocol)"
        ));
    }
    let addr = match t.get("addr") {
        Some(toml::Value::String(s)) => s
            .parse::<SocketAddr>()
            .map_err(|_| format!("invalid address {s:?} (expected IP:PORT)"))?,
        Some(_) => return Err("addr must be a string \"IP:PORT\"".into()),
        None => return Err("missing addr".into()),
    };
    let proxy_protocol = match t.get("proxy_protocol") {
        None => proxy_protocol,
        Some(toml::Value::Boolean(b)) => *b,
        Some(_) => return Err("proxy_protocol must be true or false".into()),
    };
    Ok(Listener {
        addr,
        proxy_protocol,
    })
}
