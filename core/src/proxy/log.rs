//! The access record: one per exchange, handed out as `Output::Log`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

/// What happened to one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessRecord {
    /// The client's address (the IP as `[client_ip]` resolved it).
    pub client: SocketAddr,
    /// The TCP peer (or the PROXY protocol's source).
    pub peer: SocketAddr,
    /// The request's HTTP version, once a head was parsed.
    pub version: Option<crate::http1::Version>,
    /// The request's `Host` field.
    pub host: Bytes,
    /// The request's `User-Agent` field.
    pub user_agent: Bytes,
    /// The upstream group (its index in the plan's config), once a
    /// server was picked.
    pub group: Option<usize>,
    /// From picking the server to its response head.
    pub upstream_time: Option<Duration>,
    /// Request method (empty when no head could be parsed).
    pub method: Bytes,
    /// Request target as received (empty when no head could be parsed).
    pub target: Bytes,
    /// Status sent to the client; 0 when none was (client left first).
    pub status: u16,
    /// The server that answered (the last one tried).
    pub upstream: Option<SocketAddr>,
    /// Request bytes received from the client (head and body).
    pub bytes_in: u64,
    /// Response bytes sent to the client (head and body).
    pub bytes_out: u64,
    /// When the request's first byte arrived.
    pub start: Instant,
    /// When the exchange ended.
    pub end: Instant,
    /// The name of the route taken (empty: none was).
    pub route: Bytes,
    /// The request's id, when a `request-id` layer gave it one.
    pub request_id: Bytes,
    /// Who an authentication layer found the client to be.
    pub principal: Bytes,
    /// The kind of the layer that answered the request itself (a 401, a
    /// 429, a preflight), else empty.
    pub answered_by: &'static str,
    /// How many servers were tried.
    pub tries: u8,
    /// Why it ended abnormally, or a balancing note ("fail-open"); empty if normal.
    pub note: &'static str,
}

impl AccessRecord {
    /// A record for a request from `client` that started at `start`.
    pub fn new(client: SocketAddr, start: Instant) -> AccessRecord {
        AccessRecord {
            client,
            peer: client,
            version: None,
            host: Bytes::new(),
            user_agent: Bytes::new(),
            group: None,
            upstream_time: None,
            method: Bytes::new(),
            target: Bytes::new(),
            status: 0,
            upstream: None,
            bytes_in: 0,
            bytes_out: 0,
            start,
            end: start,
            route: Bytes::new(),
            request_id: Bytes::new(),
            principal: Bytes::new(),
            answered_by: "",
            tries: 0,
            note: "",
        }
    }

    /// How long the exchange took.
    pub fn duration(&self) -> Duration {
        self.end.saturating_duration_since(self.start)
    }

    /// Writes the record as one access-log line (the format README.md
    /// documents), `wall` being the time of day to print as Unix seconds
    /// (the frontend's clock, or virtual time in replays: the core reads
    /// none). Quotes and control characters in the method and target are
    /// written as `?`, so a line is always one line.
    pub fn write_line(&self, out: &mut Vec<u8>, wall: Duration) {
        // Written piece by piece into `out`, numbers and IPv4 addresses
        // by `itoa` (the `fmt` machinery cost ~5 000 instructions a line,
        // most of a logged request's extra cost): no allocation per line.
        put_int(out, wall.as_secs());
        out.push(b'.');
        put_3_digits(out, wall.subsec_millis());
        out.push(b' ');
        put_addr(out, &self.client);
        out.extend_from_slice(b" \"");
        put_clean(out, &self.method, false);
        out.push(b' ');
        put_clean(out, &self.target, false);
        out.extend_from_slice(b"\" ");
        put_int(out, self.status);
        out.push(b' ');
        match &self.upstream {
            Some(a) => put_addr(out, a),
            None => out.push(b'-'),
        }
        // Milliseconds with three decimals, rounded to the microsecond.
        let micros = (self.duration().as_nanos() + 500) / 1000;
        out.push(b' ');
        put_int(out, self.bytes_in);
        out.push(b' ');
        put_int(out, self.bytes_out);
        out.push(b' ');
        put_int(out, micros / 1000);
        out.push(b'.');
        put_3_digits(out, (micros % 1000) as u32);
        out.extend_from_slice(b"ms route=");
        match self.route.is_empty() {
            true => out.push(b'-'),
            false => out.extend_from_slice(String::from_utf8_lossy(&self.route).as_bytes()),
        }
        out.extend_from_slice(b" rid=");
        match self.request_id.is_empty() {
            true => out.push(b'-'),
            false => put_clean(out, &self.request_id, false),
        }
        out.extend_from_slice(b" user=");
        match self.principal.is_empty() {
            true => out.push(b'-'),
            false => put_clean(out, &self.principal, true),
        }
        out.extend_from_slice(b" tries=");
        put_int(out, self.tries);
        out.push(b' ');
        let note = if self.note.is_empty() { "-" } else { self.note };
        out.extend_from_slice(note.as_bytes());
        out.push(b'\n');
    }
}

/// Writes an integer in decimal.
fn put_int(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Writes `n` (below 1000) as three digits, zeros first.
fn put_3_digits(out: &mut Vec<u8>, n: u32) {
    let n = n.min(999);
    out.extend_from_slice(&[
        b'0' + (n / 100) as u8,
        b'0' + (n / 10 % 10) as u8,
        b'0' + (n % 10) as u8,
    ]);
}

/// Writes an address as `Display` does (`1.2.3.4:80`, `[::1]:80`); IPv4
/// without the `fmt` machinery.
fn put_addr(out: &mut Vec<u8>, a: &SocketAddr) {
    match a {
        SocketAddr::V4(v4) => {
            let [a, b, c, d] = v4.ip().octets();
            put_int(out, a);
            for octet in [b, c, d] {
                out.push(b'.');
                put_int(out, octet);
            }
            out.push(b':');
            put_int(out, v4.port());
        }
        SocketAddr::V6(_) => {
            use std::io::Write;
            let _ = write!(out, "{a}");
        }
    }
}

/// Writes `b` as UTF-8 (invalid sequences as U+FFFD) with quotes and
/// control characters as `?` (and spaces too when `no_spaces`), so that a
/// field cannot break the line or its quoting.
fn put_clean(out: &mut Vec<u8>, b: &[u8], no_spaces: bool) {
    let unsafe_char = |c: char| c == '"' || c.is_control() || (no_spaces && c == ' ');
    if b.is_ascii() {
        out.extend(b.iter().map(|&x| match unsafe_char(x as char) {
            true => b'?',
            false => x,
        }));
        return;
    }
    for c in String::from_utf8_lossy(b).chars() {
        let c = if unsafe_char(c) { '?' } else { c };
        let mut utf8 = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
    }
}

/// What arrived of a request that could not be parsed, for its log line:
/// at most 64 bytes, printable ASCII as it is, anything else (and `"`,
/// `\\`) as `\\xNN`, `...` when there was more.
pub fn arrived(bytes: &[u8]) -> Bytes {
    const SHOWN: usize = 64;
    let mut out = Vec::with_capacity(SHOWN + 3);
    for &b in &bytes[..bytes.len().min(SHOWN)] {
        match b {
            b'"' | b'\\' => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    if bytes.len() > SHOWN {
        out.extend_from_slice(b"...");
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::arrived;

    #[test]
    fn what_arrived_is_shown_escaped_and_capped() {
        assert_eq!(
            &arrived(b"\x16\x03\x01ab\"\\\r\n")[..],
            br#"\x16\x03\x01ab\x22\x5c\x0d\x0a"#
        );
        let long = arrived(&[b'a'; 100]);
        assert_eq!(long.len(), 64 + 3);
        assert!(long.ends_with(b"a..."));
    }
}
