//! `[dns]`, and servers named by DNS: a server `addr` may be
//! `NAME:PORT`; the frontend resolves names (the core does no I/O) when
//! the config loads and again every `refresh` (or a record's TTL when
//! shorter), and a changed set is applied like a reload of that upstream.
//!
//! ```toml
//! [dns]
//! resolver = "127.0.0.1:53"   # ask this server over UDP (default: the system's resolver)
//! refresh = 5000              # ms between resolutions (default 5000; a shorter TTL wins)
//! ```

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::Errors;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDns {
    resolver: Option<Spanned<String>>,
    refresh: Option<Spanned<u64>>,
}

/// How names are resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dns {
    /// The DNS server to ask; `None`: the system's resolver.
    pub resolver: Option<SocketAddr>,
    /// The longest time between two resolutions of a name.
    pub refresh: Duration,
}

impl Dns {
    /// The defaults: the system's resolver, every 5 s.
    pub const DEFAULT: Dns = Dns {
        resolver: None,
        refresh: Duration::from_millis(5000),
    };
}

impl Default for Dns {
    fn default() -> Dns {
        Dns::DEFAULT
    }
}

/// What resolves names while a config loads: the function and the settings.
pub type Resolver<'a> = (Names<'a>, &'a Dns);

/// `IP:PORT`, `localhost:PORT` or `NAME:PORT` (resolved once, now: the
/// first address), for a service the config names (Redis, an auth service).
pub fn service_addr(s: &str, (names, dns): Resolver<'_>) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Some(port) = s
        .strip_prefix("localhost:")
        .and_then(|p| p.parse::<u16>().ok())
    {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    let Some((host, port)) = split_name(s) else {
        return Err(format!("{s:?} is not IP:PORT or NAME:PORT"));
    };
    match names(host, dns)?.first() {
        Some(ip) => Ok(SocketAddr::new(*ip, port)),
        None => Err(format!("{host:?} resolves to no address")),
    }
}

/// Resolves a name to its addresses with the given settings (the
/// frontend's resolver: the core does no I/O).
pub type Names<'a> = &'a dyn Fn(&str, &Dns) -> Result<Vec<IpAddr>, String>;

/// The resolver of configs built without a frontend: names are refused.
pub fn no_names(name: &str, _: &Dns) -> Result<Vec<IpAddr>, String> {
    Err(format!("cannot resolve {name:?} here (no resolver)"))
}

/// Validates `[dns]`.
pub(super) fn dns(raw: &RawDns, errs: &mut Errors<'_>) -> Dns {
    let mut d = Dns::default();
    if let Some(r) = &raw.resolver {
        match r.get_ref().parse::<SocketAddr>() {
            Ok(a) => d.resolver = Some(a),
            Err(_) => errs.at(
                r.span(),
                "dns.resolver".into(),
                format!("{:?} is not IP:PORT", r.get_ref()),
            ),
        }
    }
    if let Some(r) = &raw.refresh {
        match *r.get_ref() {
            100..=86_400_000 => d.refresh = Duration::from_millis(*r.get_ref()),
            _ => errs.at(
                r.span(),
                "dns.refresh".into(),
                "must be between 100 and 86400000 (ms)".into(),
            ),
        }
    }
    d
}

/// `NAME:PORT` with NAME a DNS name (letters, digits, `-`, `.`).
pub fn split_name(addr: &str) -> Option<(&str, u16)> {
    let (host, port) = addr.rsplit_once(':')?;
    let port = port.parse().ok()?;
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let ok = !host.is_empty()
        && host.len() <= 253
        && host.trim_end_matches('.').split('.').all(label_ok)
        && host.bytes().any(|b| b.is_ascii_alphabetic());
    ok.then_some((host, port))
}

/// Servers of one upstream that come from one name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Named {
    /// The name.
    pub host: String,
    /// The port.
    pub port: u16,
    /// Each address's weight.
    pub weight: u32,
    /// They are backups.
    pub backup: bool,
    /// What it resolves to now (at least one address).
    pub addrs: Vec<SocketAddr>,
}

/// The config with every server named `host` now at `ips` (its port
/// kept); `None` when that changes nothing. Another entry's address is
/// not taken twice.
pub fn renamed(config: &super::Config, host: &str, ips: &[IpAddr]) -> Option<super::Config> {
    let mut next = config.clone();
    let mut changed = false;
    for g in &mut next.upstreams {
        for n in 0..g.named.len() {
            if g.named[n].host != host {
                continue;
            }
            let named = &g.named[n];
            let mut addrs: Vec<SocketAddr> = ips
                .iter()
                .map(|ip| SocketAddr::new(*ip, named.port))
                .collect();
            addrs.dedup();
            if addrs.is_empty() || addrs == named.addrs {
                continue;
            }
            let old = std::mem::take(&mut g.named[n].addrs);
            g.servers.retain(|(a, _)| !old.contains(a));
            g.backups.retain(|a| !old.contains(a));
            let (weight, backup) = (g.named[n].weight, g.named[n].backup);
            let mut kept = Vec::new();
            for a in addrs {
                if g.servers.iter().any(|(s, _)| *s == a) {
                    continue;
                }
                g.servers.push((a, weight));
                if backup {
                    g.backups.push(a);
                }
                kept.push(a);
            }
            g.named[n].addrs = kept;
            changed = true;
        }
    }
    changed.then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_told_from_addresses() {
        assert_eq!(
            split_name("app.internal:8080"),
            Some(("app.internal", 8080))
        );
        assert_eq!(split_name("localhost:1"), Some(("localhost", 1)));
        assert_eq!(split_name("127.0.0.1:80"), None, "an address, not a name");
        assert_eq!(split_name("app:http"), None);
        assert_eq!(split_name("a b:80"), None);
        assert_eq!(split_name("-x:80"), None);
        assert_eq!(split_name("[::1]:80"), None);
    }
}
