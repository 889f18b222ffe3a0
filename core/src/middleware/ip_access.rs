//! `kind = "ip-access"`: allow and deny lists of CIDRs, checked against
//! the client as `[client_ip]` resolves it. Deny wins; with a non-empty
//! `allow`, an address it does not hold is refused too. Refused: 403.
//!
//! ```toml
//! [[middleware]]
//! name = "office"
//! kind = "ip-access"
//! allow = ["192.0.2.0/24"]
//! deny = ["192.0.2.66/32"]
//! ```

use std::sync::Arc;

use ipnet::IpNet;
use serde::Deserialize;

use super::{Answer, Cx, Flow, Kind, Layer, Problems};
use crate::config::client_ip::cidr;
use crate::http1::RequestHead;

/// The registry entry.
pub const KIND: Kind = Kind {
    name: "ip-access",
    build,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    deny: Vec<String>,
}

/// Who may pass.
pub struct IpAccess {
    allow: Vec<IpNet>,
    deny: Vec<IpNet>,
}

fn build(_env: &super::Env<'_>, table: &toml::Table) -> Result<Arc<dyn Layer>, Problems> {
    let raw: Raw = super::settings(table)?;
    let mut problems = Vec::new();
    let mut nets = |key: &str, list: &[String]| {
        let mut out = Vec::new();
        for s in list {
            match cidr(s) {
                Ok(n) => out.push(n),
                Err(m) => problems.push((key.to_owned(), m)),
            }
        }
        out
    };
    let allow = nets("allow", &raw.allow);
    let deny = nets("deny", &raw.deny);
    if raw.allow.is_empty() && raw.deny.is_empty() {
        problems.push((String::new(), "give allow, deny or both".into()));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Arc::new(IpAccess { allow, deny }))
}

impl IpAccess {
    /// True when `ip` may pass.
    pub fn admits(&self, ip: std::net::IpAddr) -> bool {
        let listed = |nets: &[IpNet]| nets.iter().any(|n| n.contains(&ip));
        !listed(&self.deny) && (self.allow.is_empty() || listed(&self.allow))
    }
}

impl Layer for IpAccess {
    fn on_request(&self, _req: &mut RequestHead, cx: &mut Cx<'_>) -> Flow {
        if self.admits(cx.client.ip()) {
            Flow::Next
        } else {
            Flow::Answer(Answer::plain(403))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(text: &str) -> Result<Arc<dyn Layer>, Problems> {
        build(
            &crate::middleware::Env::bare(None),
            &text.parse::<toml::Table>().unwrap(),
        )
    }

    #[test]
    fn deny_wins_and_a_non_empty_allow_refuses_the_rest() {
        let t: toml::Table =
            "allow = [\"192.0.2.0/24\", \"2001:db8::/32\"]\ndeny = [\"192.0.2.66\"]"
                .parse()
                .unwrap();
        let raw: Raw = toml::Value::Table(t).try_into().unwrap();
        let l = IpAccess {
            allow: raw.allow.iter().map(|s| cidr(s).unwrap()).collect(),
            deny: raw.deny.iter().map(|s| cidr(s).unwrap()).collect(),
        };
        let ok = |s: &str| l.admits(s.parse().unwrap());
        assert!(ok("192.0.2.1") && ok("2001:db8::9"));
        assert!(!ok("192.0.2.66"), "deny wins");
        assert!(!ok("198.51.100.1"), "not in allow");
        let deny_only = IpAccess {
            allow: vec![],
            deny: vec![cidr("10.0.0.0/8").unwrap()],
        };
        assert!(deny_only.admits("192.0.2.1".parse().unwrap()));
        assert!(!deny_only.admits("10.1.2.3".parse().unwrap()));
    }

    #[test]
    fn host_bits_and_junk_are_config_errors() {
        let p = layer("allow = [\"192.0.2.1/24\", \"nope\"]").err().unwrap();
        assert_eq!(
            p,
            [
                (
                    "allow".to_owned(),
                    "\"192.0.2.1/24\" has host bits set (did you mean 192.0.2.0/24?)".to_owned()
                ),
                (
                    "allow".to_owned(),
                    "\"nope\" is not an address or CIDR (e.g. \"10.0.0.0/8\")".to_owned()
                ),
            ]
        );
        assert!(layer("").is_err());
        assert!(layer("allow = [\"::1\"]").is_ok());
    }
}
