//! The PROXY protocol (HAProxy's spec, versions 1 and 2): the header an
//! L4 balancer sends before the client's bytes, naming the client's
//! address. Parsed from the first bytes of a connection; anything
//! malformed is refused (the connection is closed without an answer).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The version 2 signature.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// The longest version 1 header, CRLF included.
const V1_MAX: usize = 107;

/// What the first bytes of a connection say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header {
    /// More bytes are needed.
    Partial,
    /// A header of this many bytes naming the client (`None`: `UNKNOWN`
    /// or `LOCAL`, a health check: the peer is the client).
    Done(usize, Option<SocketAddr>),
    /// Not a valid PROXY header.
    Invalid,
}

/// Reads a PROXY header (v1 or v2) at the start of `bytes`.
pub fn parse(bytes: &[u8]) -> Header {
    if bytes.first() == Some(&b'\r') {
        return parse_v2(bytes);
    }
    let prefix = &b"PROXY "[..bytes.len().min(6)];
    if !bytes.starts_with(prefix) {
        return Header::Invalid;
    }
    let Some(end) = bytes.windows(2).position(|w| w == b"\r\n") else {
        return if bytes.len() >= V1_MAX {
            Header::Invalid
        } else {
            Header::Partial
        };
    };
    if end + 2 > V1_MAX {
        return Header::Invalid;
    }
    let Ok(line) = std::str::from_utf8(&bytes[6..end]) else {
        return Header::Invalid;
    };
    let parts: Vec<&str> = line.split(' ').collect();
    let addr = match parts.as_slice() {
        ["UNKNOWN", ..] => None,
        [family @ ("TCP4" | "TCP6"), src, _dst, sport, _dport] => {
            let ip = match (*family, src.parse::<IpAddr>()) {
                ("TCP4", Ok(ip @ IpAddr::V4(_))) | ("TCP6", Ok(ip @ IpAddr::V6(_))) => ip,
                _ => return Header::Invalid,
            };
            // Ports are 0..=65535 in decimal, without a leading zero or sign.
            let port_ok = |p: &str| {
                !p.is_empty()
                    && p.bytes().all(|b| b.is_ascii_digit())
                    && (p == "0" || !p.starts_with('0'))
            };
            if !port_ok(sport) || !port_ok(_dport) {
                return Header::Invalid;
            }
            match sport.parse::<u16>() {
                Ok(port) if _dport.parse::<u16>().is_ok() => Some(SocketAddr::new(ip, port)),
                _ => return Header::Invalid,
            }
        }
        _ => return Header::Invalid,
    };
    Header::Done(end + 2, addr)
}

fn parse_v2(bytes: &[u8]) -> Header {
    let n = bytes.len().min(12);
    if bytes[..n] != V2_SIGNATURE[..n] {
        return Header::Invalid;
    }
    if bytes.len() < 16 {
        return Header::Partial;
    }
    let (ver_cmd, family) = (bytes[12], bytes[13]);
    let len = usize::from(u16::from_be_bytes([bytes[14], bytes[15]]));
    if ver_cmd >> 4 != 2 || ver_cmd & 0x0f > 1 {
        return Header::Invalid;
    }
    if bytes.len() < 16 + len {
        return Header::Partial;
    }
    let body = &bytes[16..16 + len];
    let total = 16 + len;
    if ver_cmd & 0x0f == 0 {
        // LOCAL: the balancer's own connection (a health check).
        return Header::Done(total, None);
    }
    let addr = match family {
        // TCP over IPv4: src, dst, sport, dport.
        0x11 if len >= 12 => {
            let ip = Ipv4Addr::new(body[0], body[1], body[2], body[3]);
            Some(SocketAddr::new(
                IpAddr::V4(ip),
                u16::from_be_bytes([body[8], body[9]]),
            ))
        }
        0x21 if len >= 36 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&body[..16]);
            let ip = Ipv6Addr::from(octets);
            Some(SocketAddr::new(
                IpAddr::V6(ip),
                u16::from_be_bytes([body[32], body[33]]),
            ))
        }
        // UNSPEC, UDP, UNIX: no client address to take.
        0x00 | 0x12 | 0x22 | 0x31 | 0x32 => None,
        _ => return Header::Invalid,
    };
    Header::Done(total, addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_1() {
        let h = b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET /";
        assert_eq!(
            parse(h),
            Header::Done(45, Some("192.0.2.1:56324".parse().unwrap()))
        );
        assert_eq!(
            parse(b"PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n"),
            Header::Done(40, Some("[2001:db8::1]:1".parse().unwrap()))
        );
        assert_eq!(parse(b"PROXY UNKNOWN\r\n"), Header::Done(15, None));
        for partial in [&b"PRO"[..], b"PROXY TCP4 192.0.2.1"] {
            assert_eq!(parse(partial), Header::Partial, "{partial:?}");
        }
        for bad in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"PROXY TCP4 2001:db8::1 192.0.2.2 1 2\r\n",
            b"PROXY TCP4 192.0.2.1 192.0.2.2 01 2\r\n",
            b"PROXY TCP4 192.0.2.1 192.0.2.2 70000 2\r\n",
            b"PROXY TCP4 192.0.2.1 192.0.2.2 1\r\n",
            b"PROXY TCP5 a b 1 2\r\n",
            &[b'P', b'R', b'O', b'X', b'Y', b' ', b'x', b'x'].repeat(20),
        ] {
            assert_eq!(
                parse(bad),
                Header::Invalid,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn version_2() {
        let mut h = V2_SIGNATURE.to_vec();
        h.extend_from_slice(&[
            0x21, 0x11, 0, 12, 192, 0, 2, 1, 198, 51, 100, 2, 0xdc, 0x04, 0x01, 0xbb,
        ]);
        assert_eq!(
            parse(&h),
            Header::Done(28, Some("192.0.2.1:56324".parse().unwrap()))
        );
        assert_eq!(parse(&h[..20]), Header::Partial);
        let mut local = V2_SIGNATURE.to_vec();
        local.extend_from_slice(&[0x20, 0x00, 0, 0]);
        assert_eq!(parse(&local), Header::Done(16, None));
        let mut bad = h.clone();
        bad[12] = 0x11; // version 1 in a v2 header
        assert_eq!(parse(&bad), Header::Invalid);
        let mut short = V2_SIGNATURE.to_vec();
        short.extend_from_slice(&[0x21, 0x11, 0, 4, 1, 2, 3, 4]);
        assert_eq!(
            parse(&short),
            Header::Invalid,
            "too short for its addresses"
        );
    }
}
