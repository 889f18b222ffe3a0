//! The grammar of a `Host` value (RFC 9110 §7.2, RFC 9112 §3.2):
//! `uri-host [ ":" port ]` of RFC 3986 §3.2, without userinfo. Anything
//! else is refused before routing, so that routing, the upstream and any
//! later hop all read the same authority.

/// True when `v` is `uri-host [ ":" port ]`, or empty (the value a client
/// sends for a target URI without authority). Refused: userinfo (`@`), a
/// comma-separated list, a backslash, whitespace or any byte outside
/// reg-name, an unclosed or malformed IP-literal, a port that is not
/// 0..=65535 in digits (so a second `:` too).
pub fn is_valid_host(v: &[u8]) -> bool {
    if v.is_empty() {
        return true;
    }
    if v[0] == b'[' {
        return is_ip_literal_and_port(v);
    }
    // One pass over a reg-name or IPv4 address, then the port if any.
    let mut i = 0;
    while i < v.len() {
        let b = v[i];
        if REG_NAME[b as usize] {
            i += 1;
        } else if b == b'%'
            && v.get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
        {
            i += 3;
        } else if b == b':' {
            return i > 0 && is_port(&v[i + 1..]);
        } else {
            return false;
        }
    }
    true
}

/// `"[" ( IPv6address / IPv4-mapped ) "]" [ ":" port ]`, loosely: hex
/// digits, colons and dots inside, at least one colon.
fn is_ip_literal_and_port(v: &[u8]) -> bool {
    let Some(close) = v.iter().position(|&b| b == b']') else {
        return false;
    };
    let inside = &v[1..close];
    let literal = inside.contains(&b':')
        && inside
            .iter()
            .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
    literal
        && match &v[close + 1..] {
            [] => true,
            [b':', port @ ..] => is_port(port),
            _ => false,
        }
}

/// 1 to 5 digits, at most 65535.
fn is_port(p: &[u8]) -> bool {
    !p.is_empty()
        && p.len() <= 5
        && p.iter().all(u8::is_ascii_digit)
        && p.iter().fold(0u32, |a, d| a * 10 + u32::from(d - b'0')) <= 65535
}

/// Bytes allowed as they are in a reg-name: unreserved and sub-delims
/// without the comma (a list of hosts is refused whatever RFC 3986
/// allows in a name). A table: this runs on every request.
const REG_NAME: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(c, b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'&' | b'\'')
            || matches!(c, b'(' | b')' | b'*' | b'+' | b';' | b'=');
        b += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_names_addresses_and_ports() {
        for good in [
            &b"example.com"[..],
            b"example.com:8080",
            b"EXAMPLE.com:0",
            b"10.0.0.1:65535",
            b"[::1]",
            b"[2001:db8::1]:443",
            b"[::ffff:10.0.0.1]",
            b"a-b_c~d",
            b"caf%C3%A9.example",
            b"",
        ] {
            assert!(is_valid_host(good), "{:?}", String::from_utf8_lossy(good));
        }
    }

    #[test]
    fn refuses_what_is_not_uri_host_and_port() {
        for bad in [
            &b"user@example.com"[..],
            b"a.com,a.com",
            b"a.com, b.com",
            b"a.com:80:80",
            b"a.com:8o",
            b"a.com:",
            b"a.com:65536",
            b"a.com:123456",
            b"a\\b.com",
            b"a b.com",
            b"a.com\t",
            b"a/b",
            b"a?b",
            b"a#b",
            b"[::1",
            b"[::1]x",
            b"[::1]:",
            b"[]",
            b"[zz::1]",
            b"[v1.x]",
            b":80",
            b"a%2",
            b"a%zz",
            b"ab%41@",
        ] {
            assert!(!is_valid_host(bad), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
