//! Active health checks, sans IO: `health = { path, interval, timeout,
//! rise, fall, expect, host }` on an upstream. A [`Target`] is one server's
//! checker: it says when the next probe is due and what bytes it sends,
//! judges the bytes that came back, and turns results into verdicts with
//! HAProxy's hysteresis (`fall` failures in a row mark a server down,
//! `rise` successes in a row bring it back; new servers start up). A
//! frontend does the connecting, writing and reading, and feeds every
//! worker the verdicts.
//!
//! ```toml
//! [[upstream]]
//! name = "app"
//! servers = [{ addr = "127.0.0.1:9001" }]
//! health = { path = "/healthz", interval = 2000, timeout = 1000, rise = 2, fall = 3 }
//! # expect = "200-399" (default) | "2xx" | "204"; host = "app.internal" (default: the address)
//! ```

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::Deserialize;
use toml::Spanned;

/// One upstream's check settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckSpec {
    /// The path probed with `GET`.
    pub path: String,
    /// The `Host` sent (default: the server's address).
    pub host: Option<String>,
    /// Between the starts of two probes.
    pub interval: Duration,
    /// For connecting, sending and reading the answer's head.
    pub timeout: Duration,
    /// Successes in a row that bring a down server back.
    pub rise: u32,
    /// Failures in a row that mark an up server down.
    pub fall: u32,
    /// Statuses that count as success, inclusive.
    pub expect: (u16, u16),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCheck {
    path: String,
    host: Option<String>,
    interval: Option<u64>,
    timeout: Option<u64>,
    rise: Option<u32>,
    fall: Option<u32>,
    expect: Option<String>,
}

/// The statuses an `expect` value names: `"200-399"`, `"2xx"`, `"204"`.
fn expect(s: &str) -> Option<(u16, u16)> {
    let status = |t: &str| t.parse::<u16>().ok().filter(|n| (100..=599).contains(n));
    if let Some((a, b)) = s.split_once('-') {
        let (a, b) = (status(a)?, status(b)?);
        return (a <= b).then_some((a, b));
    }
    if let Some(c) = s.strip_suffix("xx") {
        let c = c.parse::<u16>().ok().filter(|c| (1..=5).contains(c))?;
        return Some((c * 100, c * 100 + 99));
    }
    status(s).map(|n| (n, n))
}

/// Validates a `health` table; `Err` lists the problems.
pub(crate) fn spec(raw: &RawCheck) -> Result<CheckSpec, String> {
    let ms = |v: Option<u64>, default: u64| Duration::from_millis(v.unwrap_or(default));
    let spec = CheckSpec {
        path: raw.path.clone(),
        host: raw.host.clone(),
        interval: ms(raw.interval, 2000),
        timeout: ms(raw.timeout, 1000),
        rise: raw.rise.unwrap_or(2),
        fall: raw.fall.unwrap_or(3),
        expect: match &raw.expect {
            None => (200, 399),
            Some(e) => expect(e).ok_or_else(|| {
                format!("expect {e:?}: a status, a range (\"200-399\") or a class (\"2xx\")")
            })?,
        },
    };
    if !spec.path.starts_with('/') || !spec.path.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "path {:?} must start with / and hold no space or control",
            spec.path
        ));
    }
    if let Some(h) = &spec.host {
        if h.is_empty() || !h.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!("host {h:?} is not a valid Host value"));
        }
    }
    if spec.interval < Duration::from_millis(100) || spec.timeout.is_zero() {
        return Err("interval is at least 100 ms and timeout more than 0".into());
    }
    if spec.timeout > spec.interval {
        return Err("timeout must not exceed interval".into());
    }
    if !(1..=100).contains(&spec.rise) || !(1..=100).contains(&spec.fall) {
        return Err("rise and fall are from 1 to 100".into());
    }
    Ok(spec)
}

/// The type serde reads a `health` value into.
pub(crate) type RawHealth = Option<Spanned<RawCheck>>;

/// One server's checker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Its settings.
    pub spec: CheckSpec,
    /// The server.
    pub addr: SocketAddr,
    /// Its state as the checks see it.
    pub up: bool,
    /// Results in a row that disagree with `up`.
    streak: u32,
    /// When the next probe starts.
    pub next_at: Instant,
}

impl Target {
    /// A checker for `addr`, up, its first probe due at `now`.
    pub fn new(spec: CheckSpec, addr: SocketAddr, now: Instant) -> Target {
        Target {
            spec,
            addr,
            up: true,
            streak: 0,
            next_at: now,
        }
    }

    /// The probe's bytes: `GET path` with `Host` and `Connection: close`.
    pub fn request(&self) -> Vec<u8> {
        let host = self
            .spec
            .host
            .clone()
            .unwrap_or_else(|| self.addr.to_string());
        format!(
            "GET {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: weir-health-check\r\nConnection: close\r\n\r\n",
            self.spec.path
        )
        .into_bytes()
    }

    /// Judges what came back: `Some(ok)` once a status line and head are
    /// complete, `None` while more bytes are needed (a frontend that
    /// reaches the timeout or the end of the stream counts a failure).
    pub fn judge(&self, bytes: &[u8]) -> Option<bool> {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(bytes) {
            Ok(httparse::Status::Complete(_)) => {
                let status = resp.code.unwrap_or(0);
                Some(self.spec.expect.0 <= status && status <= self.spec.expect.1)
            }
            Ok(httparse::Status::Partial) if bytes.len() < 64 * 1024 => None,
            _ => Some(false),
        }
    }

    /// Counts a probe's result at `now` (it started at `next_at`); the
    /// next one is due an interval after this one started. Returns the
    /// new state when it changes.
    pub fn record(&mut self, ok: bool, now: Instant) -> Option<bool> {
        self.next_at = (self.next_at + self.spec.interval).max(now);
        if ok == self.up {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let needed = if self.up {
            self.spec.fall
        } else {
            self.spec.rise
        };
        if self.streak >= needed {
            self.up = ok;
            self.streak = 0;
            return Some(ok);
        }
        None
    }

    /// Takes over an earlier checker's state for the same server (a reload).
    pub fn carry(&mut self, old: &Target) {
        self.up = old.up;
        self.streak = old.streak;
        self.next_at = old.next_at;
    }
}
