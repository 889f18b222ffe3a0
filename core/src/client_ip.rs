//! Who the client is: the peer, unless the peer is a trusted proxy, in
//! which case the header it sets (`X-Forwarded-For`, `Forwarded` or
//! `X-Real-IP`) is walked from the right, trusted hops skipped, and the
//! first untrusted address is the client. The leftmost entry, which the
//! client itself wrote, is never believed on its own. Every policy keyed
//! on the client, the `client-ip` hash key, the access log and the
//! appended `X-Forwarded-For` use this one value.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use crate::http1::Headers;

/// The header a trusted proxy names the client in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// `X-Forwarded-For: client, proxy1, proxy2`.
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
    /// `X-Real-IP: client` (one address).
    XRealIp,
}

impl Source {
    /// The config names, in order.
    pub const NAMES: [&'static str; 3] = ["x-forwarded-for", "forwarded", "x-real-ip"];

    /// The source called `name` in config.
    pub fn named(name: &str) -> Option<Source> {
        match name {
            "x-forwarded-for" => Some(Source::XForwardedFor),
            "forwarded" => Some(Source::Forwarded),
            "x-real-ip" => Some(Source::XRealIp),
            _ => None,
        }
    }
}

/// `[client_ip]`: which peers are trusted to name the client, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientIpRules {
    /// Proxies whose word is taken (none by default: the peer is the client).
    pub trusted_proxies: Vec<IpNet>,
    /// Where they name the client.
    pub source: Source,
}

impl Default for ClientIpRules {
    fn default() -> ClientIpRules {
        ClientIpRules {
            trusted_proxies: Vec::new(),
            source: Source::XForwardedFor,
        }
    }
}

/// An address as a proxy writes it: `1.2.3.4`, `1.2.3.4:80`, `::1`,
/// `[::1]`, `[::1]:80`, quoted in `Forwarded`; `::ffff:a.b.c.d` is IPv4.
fn parse_hop(s: &[u8]) -> Option<IpAddr> {
    let s = std::str::from_utf8(s).ok()?.trim();
    let s = s
        .strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .unwrap_or(s);
    let ip = if let Some(rest) = s.strip_prefix('[') {
        rest.split_once(']')?.0.parse::<IpAddr>().ok()?
    } else if let Ok(ip) = s.parse::<IpAddr>() {
        ip
    } else {
        s.parse::<SocketAddr>().ok()?.ip()
    };
    Some(canonical(ip))
}

/// `::ffff:a.b.c.d` as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The `for=` value of one `Forwarded` element (`for=1.2.3.4;proto=http`).
fn forwarded_for(element: &[u8]) -> Option<&[u8]> {
    element.split(|&b| b == b';').find_map(|pair| {
        let pair = crate::http1::head::trim(pair);
        let eq = pair.iter().position(|&b| b == b'=')?;
        pair[..eq]
            .eq_ignore_ascii_case(b"for")
            .then(|| &pair[eq + 1..])
    })
}

impl ClientIpRules {
    /// True when `ip` is a trusted proxy.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|n| n.contains(&ip))
    }

    /// The client of a request that came from `peer` with `headers`.
    pub fn resolve(&self, peer: IpAddr, headers: &Headers) -> IpAddr {
        let peer = canonical(peer);
        if self.trusted_proxies.is_empty() || !self.trusts(peer) {
            return peer;
        }
        let name = match self.source {
            Source::XForwardedFor => "x-forwarded-for",
            Source::Forwarded => "forwarded",
            Source::XRealIp => "x-real-ip",
        };
        if self.source == Source::XRealIp {
            let mut values = headers.get_all(name);
            return match (values.next().and_then(parse_hop), values.next()) {
                (Some(ip), None) => ip,
                _ => peer,
            };
        }
        // Every entry of every field line, in order; walked from the right.
        let entries: Vec<&[u8]> = headers
            .get_all(name)
            .flat_map(|v| v.split(|&b| b == b','))
            .collect();
        let mut client = peer;
        for entry in entries.iter().rev() {
            let hop = match self.source {
                Source::Forwarded => forwarded_for(entry).and_then(parse_hop),
                _ => parse_hop(entry),
            };
            // A malformed entry: stop, the hop to its right stands.
            let Some(hop) = hop else { break };
            client = hop;
            if !self.trusts(hop) {
                break;
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn rules(trusted: &[&str], source: Source) -> ClientIpRules {
        ClientIpRules {
            trusted_proxies: trusted.iter().map(|n| n.parse().unwrap()).collect(),
            source,
        }
    }

    fn headers(lines: &[(&'static str, &'static str)]) -> Headers {
        let mut h = Headers::default();
        for (n, v) in lines {
            h.append(
                Bytes::from_static(n.as_bytes()),
                Bytes::from_static(v.as_bytes()),
            );
        }
        h
    }

    #[test]
    fn trusted_proxy_resolution_table() {
        let xff = rules(&["10.0.0.0/8", "::1/128"], Source::XForwardedFor);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        type Row = (
            &'static str,
            &'static [(&'static str, &'static str)],
            &'static str,
        );
        let table: &[Row] = &[
            // An untrusted peer is the client, whatever it writes.
            (
                "203.0.113.9",
                &[("X-Forwarded-For", "1.1.1.1")],
                "203.0.113.9",
            ),
            // A trusted peer: the first untrusted hop from the right.
            (
                "10.0.0.2",
                &[("X-Forwarded-For", "198.51.100.7")],
                "198.51.100.7",
            ),
            (
                "10.0.0.2",
                &[("X-Forwarded-For", "198.51.100.7, 10.1.1.1")],
                "198.51.100.7",
            ),
            // A spoofed leftmost entry is not believed.
            (
                "10.0.0.2",
                &[("X-Forwarded-For", "6.6.6.6, 198.51.100.7, 10.1.1.1")],
                "198.51.100.7",
            ),
            // Several field lines are one list.
            (
                "10.0.0.2",
                &[
                    ("X-Forwarded-For", "6.6.6.6"),
                    ("X-Forwarded-For", "198.51.100.7"),
                ],
                "198.51.100.7",
            ),
            // Every hop trusted: the leftmost.
            (
                "10.0.0.2",
                &[("X-Forwarded-For", "10.9.9.9, 10.1.1.1")],
                "10.9.9.9",
            ),
            // Malformed: stop there, the hop to its right stands.
            (
                "10.0.0.2",
                &[("X-Forwarded-For", "6.6.6.6, garbage, 10.1.1.1")],
                "10.1.1.1",
            ),
            (
                "10.0.0.2",
                &[("X-Forwarded-For", "6.6.6.6, nope")],
                "10.0.0.2",
            ),
            // No header: the peer.
            ("10.0.0.2", &[], "10.0.0.2"),
            // Ports, brackets, IPv4-mapped IPv6.
            (
                "::1",
                &[("X-Forwarded-For", "198.51.100.7:5555")],
                "198.51.100.7",
            ),
            (
                "::1",
                &[("X-Forwarded-For", "[2001:db8::7]:443")],
                "2001:db8::7",
            ),
            (
                "::ffff:10.0.0.2",
                &[("X-Forwarded-For", "::ffff:198.51.100.7")],
                "198.51.100.7",
            ),
        ];
        for (peer, h, want) in table {
            assert_eq!(xff.resolve(ip(peer), &headers(h)), ip(want), "{peer} {h:?}");
        }
        let fwd = rules(&["10.0.0.0/8"], Source::Forwarded);
        let h = headers(&[(
            "Forwarded",
            "for=6.6.6.6, for=\"[2001:db8::7]:443\";proto=https, For=10.1.1.1",
        )]);
        assert_eq!(fwd.resolve(ip("10.0.0.2"), &h), ip("2001:db8::7"));
        let real = rules(&["10.0.0.0/8"], Source::XRealIp);
        assert_eq!(
            real.resolve(ip("10.0.0.2"), &headers(&[("X-Real-IP", "198.51.100.7")])),
            ip("198.51.100.7")
        );
        // Two X-Real-IP lines: ambiguous, the peer.
        let two = headers(&[("X-Real-IP", "1.1.1.1"), ("X-Real-IP", "2.2.2.2")]);
        assert_eq!(real.resolve(ip("10.0.0.2"), &two), ip("10.0.0.2"));
        // Nothing trusted: always the peer.
        let none = ClientIpRules::default();
        let h = headers(&[("X-Forwarded-For", "1.1.1.1")]);
        assert_eq!(none.resolve(ip("10.0.0.2"), &h), ip("10.0.0.2"));
    }
}
