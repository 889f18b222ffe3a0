//! `[redis]`: the Redis server that rate limits with `store = "redis"`
//! share their counts through.
//!
//! ```toml
//! [redis]
//! url = "redis://127.0.0.1:6379/0"   # redis://[[USER]:PASSWORD@]IP:PORT[/DB]
//! timeout = 100                      # ms a call may take (default 100)
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use serde::Deserialize;
use toml::Spanned;

use super::Errors;
use crate::call::{resp, Call, Protocol};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRedis {
    url: Spanned<String>,
    timeout: Option<Spanned<u64>>,
}

/// Where Redis is and how to talk to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redis {
    /// The server.
    pub addr: SocketAddr,
    /// `AUTH` and `SELECT` sent before each command when the URL asks
    /// for them (RESP bytes), and how many replies they add.
    prelude: (Bytes, u8),
    /// How long a call may take.
    pub timeout: Duration,
}

impl Redis {
    /// A call running `command` (RESP bytes, one reply) after the prelude.
    pub fn call(&self, command: &[u8], replies: u8) -> Call {
        let mut request = BytesMut::with_capacity(self.prelude.0.len() + command.len());
        request.extend_from_slice(&self.prelude.0);
        request.extend_from_slice(command);
        Call {
            addr: self.addr,
            protocol: Protocol::Resp {
                replies: self.prelude.1 + replies,
            },
            request: request.freeze(),
            reuse: true,
        }
    }

    /// The replies of a call's own commands (the prelude's skipped).
    pub fn skip_prelude<'a>(&self, values: &'a [resp::Value]) -> &'a [resp::Value] {
        values.get(usize::from(self.prelude.1)..).unwrap_or(&[])
    }
}

/// `redis://[[USER]:PASSWORD@]HOST:PORT[/DB]`, HOST an IP, localhost or
/// a name (resolved as the config loads).
fn parse(
    url: &str,
    names: super::dns::Resolver<'_>,
) -> Result<(SocketAddr, Option<String>, Option<String>, u32), String> {
    let rest = url
        .strip_prefix("redis://")
        .ok_or_else(|| format!("{url:?}: expected redis://IP:PORT[/DB]"))?;
    let (auth, rest) = match rest.rsplit_once('@') {
        Some((a, r)) => (Some(a), r),
        None => (None, rest),
    };
    let (host, db) = match rest.split_once('/') {
        Some((h, "")) => (h, 0),
        Some((h, d)) => (
            h,
            d.parse::<u32>()
                .map_err(|_| format!("{url:?}: the database must be a number"))?,
        ),
        None => (rest, 0),
    };
    let addr = super::dns::service_addr(host, names).map_err(|m| format!("{url:?}: {m}"))?;
    let (user, password) = match auth.map(|a| a.split_once(':')) {
        None => (None, None),
        Some(Some((u, p))) => ((!u.is_empty()).then(|| u.to_owned()), Some(p.to_owned())),
        Some(None) => (None, auth.map(str::to_owned)),
    };
    Ok((addr, user, password, db))
}

/// Validates `[redis]`.
pub(super) fn redis(
    raw: &RawRedis,
    names: super::dns::Resolver<'_>,
    errs: &mut Errors<'_>,
) -> Option<Redis> {
    let timeout = match &raw.timeout {
        Some(t) if !(1..=10_000).contains(t.get_ref()) => {
            errs.at(
                t.span(),
                "redis.timeout".into(),
                "must be between 1 and 10000 (ms)".into(),
            );
            100
        }
        Some(t) => *t.get_ref(),
        None => 100,
    };
    let (addr, user, password, db) = match parse(raw.url.get_ref(), names) {
        Ok(p) => p,
        Err(m) => {
            errs.at(raw.url.span(), "redis.url".into(), m);
            return None;
        }
    };
    let mut prelude = BytesMut::new();
    let mut n = 0;
    match (&user, &password) {
        (Some(u), Some(p)) => {
            prelude.extend_from_slice(&resp::command(&[b"AUTH", u.as_bytes(), p.as_bytes()]))
        }
        (None, Some(p)) => prelude.extend_from_slice(&resp::command(&[b"AUTH", p.as_bytes()])),
        _ => {}
    }
    n += u8::from(password.is_some());
    if db != 0 {
        prelude.extend_from_slice(&resp::command(&[b"SELECT", db.to_string().as_bytes()]));
        n += 1;
    }
    Some(Redis {
        addr,
        prelude: (prelude.freeze(), n),
        timeout: Duration::from_millis(timeout),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<(SocketAddr, Option<String>, Option<String>, u32), String> {
        let names = |host: &str, _: &super::super::dns::Dns| match host {
            "cache.internal" => Ok(vec!["10.1.2.3".parse().unwrap()]),
            _ => Err("NXDOMAIN".to_owned()),
        };
        super::parse(url, (&names, &super::super::dns::Dns::DEFAULT))
    }

    #[test]
    fn urls_parse_into_an_address_a_prelude_and_a_database() {
        assert_eq!(
            parse("redis://127.0.0.1:6379/0"),
            Ok(("127.0.0.1:6379".parse().unwrap(), None, None, 0))
        );
        assert_eq!(
            parse("redis://u:p@localhost:7000/3"),
            Ok((
                "127.0.0.1:7000".parse().unwrap(),
                Some("u".into()),
                Some("p".into()),
                3
            ))
        );
        assert_eq!(
            parse("redis://:secret@[::1]:6379"),
            Ok((
                "[::1]:6379".parse().unwrap(),
                None,
                Some("secret".into()),
                0
            ))
        );
        assert!(parse("http://127.0.0.1:6379").is_err());
        assert_eq!(
            parse("redis://cache.internal:6379").map(|p| p.0),
            Ok("10.1.2.3:6379".parse().unwrap())
        );
        assert_eq!(
            parse("redis://nowhere.internal:6379"),
            Err("\"redis://nowhere.internal:6379\": NXDOMAIN".into())
        );
        assert!(parse("redis://127.0.0.1:6379/x").is_err());
    }
}
