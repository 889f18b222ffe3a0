//! `[client_ip]`: the proxies trusted to name the client, and the header
//! they name it in (see [`crate::client_ip`]).

use serde::Deserialize;
use toml::Spanned;

use super::Errors;
use crate::client_ip::{ClientIpRules, Source};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawClientIp {
    trusted_proxies: Option<Spanned<Vec<String>>>,
    source: Option<Spanned<String>>,
}

/// A CIDR (or a bare address, a /32 or /128) with no host bits set.
pub(crate) fn cidr(s: &str) -> Result<ipnet::IpNet, String> {
    let net = match s.parse::<ipnet::IpNet>() {
        Ok(n) => n,
        Err(_) => match s.parse::<std::net::IpAddr>() {
            Ok(ip) => ipnet::IpNet::from(ip),
            Err(_) => {
                return Err(format!(
                    "{s:?} is not an address or CIDR (e.g. \"10.0.0.0/8\")"
                ))
            }
        },
    };
    if net.trunc() != net {
        return Err(format!(
            "{s:?} has host bits set (did you mean {}?)",
            net.trunc()
        ));
    }
    Ok(net)
}

/// Validates `[client_ip]`.
pub(super) fn rules(raw: &RawClientIp, errs: &mut Errors<'_>) -> ClientIpRules {
    let mut rules = ClientIpRules::default();
    if let Some(list) = &raw.trusted_proxies {
        for s in list.get_ref() {
            match cidr(s) {
                Ok(n) => rules.trusted_proxies.push(n),
                Err(m) => errs.at(list.span(), "client_ip.trusted_proxies".into(), m),
            }
        }
    }
    if let Some(s) = &raw.source {
        match Source::named(s.get_ref()) {
            Some(src) => rules.source = src,
            None => errs.at(
                s.span(),
                "client_ip.source".into(),
                format!(
                    "unknown source {:?} (expected: {})",
                    s.get_ref(),
                    Source::NAMES.join(", ")
                ),
            ),
        }
    }
    rules
}
