//! Hop-by-hop removal and the route's rewrites, applied to heads.

use bytes::{BufMut, Bytes, BytesMut};

use crate::http1::head::trim;
use crate::http1::{Headers, RequestHead, Version};

/// Always hop-by-hop, whatever `Connection` says (RFC 9110 §7.6.1), plus
/// the framing headers the core re-creates itself.
const HOP_BY_HOP: &[&[u8]] = &[
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"te",
    b"trailer",
    b"upgrade",
    b"transfer-encoding",
    b"content-length",
    b"http2-settings",
];

/// What a message's `Connection` header said, read before removal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectionOptions {
    /// `Connection: close`.
    pub close: bool,
    /// `Connection: keep-alive` (meaningful for HTTP/1.0).
    pub keep_alive: bool,
    /// `Connection: upgrade` with `Upgrade: websocket`.
    pub websocket: bool,
}

impl ConnectionOptions {
    /// Whether the peer allows the connection to be reused afterwards.
    pub fn persistent(self, version: Version) -> bool {
        match version {
            Version::Http11 => !self.close,
            Version::Http10 => self.keep_alive && !self.close,
        }
    }
}

/// Removes every hop-by-hop field (the fixed list and every name listed
/// in `Connection`, except `Host`) and reports what `Connection` said.
pub fn strip_hop_by_hop(headers: &mut Headers) -> ConnectionOptions {
    let mut opts = ConnectionOptions::default();
    // Names listed in Connection (rare; copied, so the list can be edited).
    let mut listed: Vec<Vec<u8>> = Vec::new();
    for v in headers.get_all("connection") {
        for token in v.split(|&b| b == b',').map(trim) {
            if token.eq_ignore_ascii_case(b"close") {
                opts.close = true;
            } else if token.eq_ignore_ascii_case(b"keep-alive") {
                opts.keep_alive = true;
            } else if token.eq_ignore_ascii_case(b"upgrade") {
                opts.websocket = true;
            } else if !token.is_empty() && !token.eq_ignore_ascii_case(b"host") {
                listed.push(token.to_vec());
            }
        }
    }
    opts.websocket = opts.websocket && headers.has_token("upgrade", "websocket");
    let drop =
        |name: &[u8]| is_hop_by_hop(name) || listed.iter().any(|n| name.eq_ignore_ascii_case(n));
    // Most heads carry none, or only `Connection`: look before rewriting.
    if headers.names().any(drop) {
        headers.retain(|name, _| !drop(name));
    }
    opts
}

/// True for a name in [`HOP_BY_HOP`].
fn is_hop_by_hop(name: &[u8]) -> bool {
    HOP_BY_HOP
        .iter()
        .any(|n| n.len() == name.len() && name.eq_ignore_ascii_case(n))
}

/// The target with `prefix` removed, always keeping a leading `/`:
/// `/api/users?q=1` with `/api/` gives `/users?q=1`.
pub fn strip_prefix(target: &Bytes, prefix: &str) -> Bytes {
    let rest = &target[prefix.len().min(target.len())..];
    if rest.first() == Some(&b'/') {
        return target.slice_ref(rest);
    }
    let mut t = BytesMut::with_capacity(rest.len() + 1);
    t.put_u8(b'/');
    t.put_slice(rest);
    t.freeze()
}

/// Serialises the request as it goes upstream: head, then the framing the
/// core decided and, for a WebSocket handshake, the upgrade fields.
pub fn upstream_head(
    out: &mut BytesMut,
    req: &RequestHead,
    framing: crate::http1::Framing,
    websocket: bool,
) {
    use crate::http1::Framing;
    req.write_to(out);
    match framing {
        Framing::Length(n) => {
            out.put_slice(b"Content-Length: ");
            put_decimal(out, n);
            out.put_slice(b"\r\n");
        }
        Framing::Chunked => out.put_slice(b"Transfer-Encoding: chunked\r\n"),
        Framing::None | Framing::UntilClose => {}
    }
    if websocket {
        out.put_slice(b"Connection: Upgrade\r\nUpgrade: websocket\r\n");
    }
    out.put_slice(b"\r\n");
}

/// Writes `n` in decimal.
pub fn put_decimal(out: &mut BytesMut, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.put_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_the_fixed_list_and_what_connection_names() {
        let mut h = Headers::default();
        for (n, v) in [
            ("Host", "a"),
            ("Connection", "keep-alive, X-Secret, host"),
            ("X-Secret", "1"),
            ("Keep-Alive", "timeout=5"),
            ("TE", "trailers"),
            ("Trailer", "X"),
            ("Proxy-Connection", "keep-alive"),
            ("Upgrade", "h2c"),
            ("HTTP2-Settings", "AAA"),
            ("X-Kept", "yes"),
        ] {
            h.append(n.as_bytes(), v.as_bytes());
        }
        let o = strip_hop_by_hop(&mut h);
        assert!(o.keep_alive && !o.close && !o.websocket);
        let names: Vec<_> = h.iter().map(|(n, _)| n.to_vec()).collect();
        assert_eq!(names, [b"Host".to_vec(), b"X-Kept".to_vec()]);
    }

    #[test]
    fn persistence_by_version_and_connection() {
        let o = |close, keep_alive| ConnectionOptions {
            close,
            keep_alive,
            websocket: false,
        };
        assert!(o(false, false).persistent(Version::Http11));
        assert!(!o(true, false).persistent(Version::Http11));
        assert!(!o(false, false).persistent(Version::Http10));
        assert!(o(false, true).persistent(Version::Http10));
        assert!(!o(true, true).persistent(Version::Http10));
    }

    #[test]
    fn websocket_needs_both_headers() {
        let mut h = Headers::default();
        h.append(&b"Connection"[..], &b"Upgrade"[..]);
        h.append(&b"Upgrade"[..], &b"websocket"[..]);
        assert!(strip_hop_by_hop(&mut h).websocket);
        let mut h = Headers::default();
        h.append(&b"Upgrade"[..], &b"websocket"[..]);
        assert!(!strip_hop_by_hop(&mut h).websocket);
    }

    #[test]
    fn prefix_stripping_keeps_a_leading_slash() {
        let t = Bytes::from_static(b"/api/users?q=1");
        assert_eq!(&strip_prefix(&t, "/api/")[..], b"/users?q=1");
        assert_eq!(&strip_prefix(&t, "/api")[..], b"/users?q=1");
        assert_eq!(
            &strip_prefix(&Bytes::from_static(b"/api/"), "/api/")[..],
            b"/"
        );
        assert_eq!(
            &strip_prefix(&Bytes::from_static(b"/api?x"), "/api")[..],
            b"/?x"
        );
    }
}
