//! The request key of `consistent-hash`, from `hash_key`.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use crate::http1::head::trim;
use crate::http1::RequestHead;
use crate::rng::hash;

/// Where the consistent-hash key of a request comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HashKey {
    /// `client-ip`: the client's IP address (not its port).
    ClientIp,
    /// `path`: the target's path, without the query.
    Path,
    /// `uri`: the whole target, query included.
    Uri,
    /// `header:NAME`: the first value of a request header.
    Header(String),
    /// `cookie:NAME`: a cookie's value.
    Cookie(String),
    /// `query:NAME`: a query parameter's raw value.
    Query(String),
}

impl FromStr for HashKey {
    type Err = String;

    fn from_str(s: &str) -> Result<HashKey, String> {
        let named = |prefix: &str| {
            s.strip_prefix(prefix)
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_graphic()))
                .map(str::to_owned)
        };
        Ok(match s {
            "client-ip" => HashKey::ClientIp,
            "path" => HashKey::Path,
            "uri" => HashKey::Uri,
            _ => {
                if let Some(n) = named("header:") {
                    HashKey::Header(n)
                } else if let Some(n) = named("cookie:") {
                    HashKey::Cookie(n)
                } else if let Some(n) = named("query:") {
                    HashKey::Query(n)
                } else {
                    return Err(format!(
                        "unknown hash_key {s:?} (expected client-ip, path, uri, header:NAME, cookie:NAME or query:NAME)"
                    ));
                }
            }
        })
    }
}

impl HashKey {
    /// The hashed key of `req`, or `None` when the request does not carry it.
    pub fn of(&self, req: &RequestHead, client: SocketAddr) -> Option<u64> {
        match self {
            HashKey::ClientIp => Some(match client.ip() {
                IpAddr::V4(ip) => hash(&ip.octets()),
                IpAddr::V6(ip) => hash(&ip.octets()),
            }),
            HashKey::Path => Some(hash(req.path())),
            HashKey::Uri => Some(hash(&req.target)),
            HashKey::Header(name) => req.headers.get(name).map(hash),
            HashKey::Cookie(name) => cookie(req, name).map(hash),
            HashKey::Query(name) => req
                .query()
                .and_then(|q| q.split(|&b| b == b'&').find_map(|p| pair_value(p, name)))
                .map(hash),
        }
    }
}

/// The value of the request's cookie `name`, if it has one.
pub fn cookie<'a>(req: &'a RequestHead, name: &str) -> Option<&'a [u8]> {
    req.headers
        .get_all("cookie")
        .flat_map(|v| v.split(|&b| b == b';'))
        .find_map(|pair| pair_value(trim(pair), name))
}

/// The value of `name=value` when the name matches.
fn pair_value<'a>(pair: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let eq = pair.iter().position(|&b| b == b'=')?;
    (&pair[..eq] == name.as_bytes()).then(|| &pair[eq + 1..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn req(target: &'static str, headers: &[(&'static str, &'static str)]) -> RequestHead {
        let mut r = RequestHead {
            method: Bytes::from_static(b"GET"),
            target: Bytes::from_static(target.as_bytes()),
            version: crate::http1::Version::Http11,
            headers: Default::default(),
        };
        for (n, v) in headers {
            r.headers.append(n.as_bytes(), v.as_bytes());
        }
        r
    }

    #[test]
    fn every_form_finds_its_key() {
        let client: SocketAddr = "10.1.2.3:5555".parse().unwrap();
        let other_port: SocketAddr = "10.1.2.3:6666".parse().unwrap();
        let r = req(
            "/a/b?x=1&user=42",
            &[("X-User", "alice"), ("Cookie", "a=1; sid=xyz")],
        );
        let k = |s: &str| s.parse::<HashKey>().unwrap();
        assert_eq!(
            k("client-ip").of(&r, client),
            k("client-ip").of(&r, other_port)
        );
        assert_eq!(k("path").of(&r, client), Some(hash(b"/a/b")));
        assert_eq!(k("uri").of(&r, client), Some(hash(b"/a/b?x=1&user=42")));
        assert_eq!(k("header:x-user").of(&r, client), Some(hash(b"alice")));
        assert_eq!(k("cookie:sid").of(&r, client), Some(hash(b"xyz")));
        assert_eq!(k("query:user").of(&r, client), Some(hash(b"42")));
        assert_eq!(k("query:nope").of(&r, client), None);
        assert_eq!(k("header:X-None").of(&r, client), None);
        assert!("header:".parse::<HashKey>().is_err());
        assert!("ip".parse::<HashKey>().is_err());
    }
}
