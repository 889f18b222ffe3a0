//! Incremental head scanning and strict parsing with httparse.
//!
//! [`HeadScanner`] remembers how far it has looked, so a head that drips in
//! one byte at a time is scanned once in total (no quadratic re-scan), and
//! it enforces the size limit before anything is parsed. It also refuses
//! bare LF and bare CR line endings, which httparse would tolerate.
//! httparse then runs exactly once per head, on the complete bytes.

use std::mem::MaybeUninit;

use bytes::Bytes;

use super::head::{Headers, RequestHead, ResponseHead, Version};

/// Most header fields a head may carry (more gives 431 / 502).
pub const MAX_HEADERS: usize = 100;

/// Most header fields a client request may carry: the proxy adds up to
/// four (`X-Forwarded-For`, `-Proto`, `-Host`, and `Host` for HTTP/1.0),
/// and what it forwards must stay within [`MAX_HEADERS`] too.
pub const MAX_REQUEST_HEADERS: usize = MAX_HEADERS - 4;

/// `bytes` after the empty lines (CRLF pairs) a client may send before a
/// request line, at most as many as the scanner skips.
fn after_empty_lines(mut bytes: &[u8]) -> &[u8] {
    for _ in 0..MAX_EMPTY_LINES {
        match bytes.strip_prefix(b"\r\n") {
            Some(rest) => bytes = rest,
            None => break,
        }
    }
    bytes
}

/// False when the start of a head (perhaps still partial) cannot begin
/// an HTTP/1.1 request: after the empty lines the scanner skips, the bytes
/// before the first space must be a method token (RFC 9110 §9.1). A TLS
/// ClientHello (0x16) or binary garbage is refused at its first byte
/// instead of waiting for a head that will never end.
pub fn could_start_request(bytes: &[u8]) -> bool {
    let bytes = after_empty_lines(bytes);
    if bytes == b"\r" {
        return true; // perhaps one more empty line
    }
    let method_end = bytes.iter().position(|&b| b == b' ').unwrap_or(bytes.len());
    let tchar = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b);
    bytes[..method_end].iter().all(tchar) && (method_end > 0 || bytes.is_empty())
}

/// True when the bytes of a request (perhaps partial or malformed) begin
/// with the method `HEAD`, so that an error answered to it carries no
/// body. It reads only what every split of the same stream holds when
/// the scanner stops, so the answer never depends on how reads were cut.
pub fn begins_head_request(bytes: &[u8]) -> bool {
    after_empty_lines(bytes).starts_with(b"HEAD ")
}

/// Most empty lines (CRLF) skipped before a request line (RFC 9112 §2.2
/// asks to ignore at least one); more is refused, wherever reads are cut.
pub const MAX_EMPTY_LINES: usize = 32;

/// Why a head could not be accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadError {
    /// The head is larger than the configured limit.
    TooLarge,
    /// More than [`MAX_HEADERS`] fields.
    TooManyHeaders,
    /// Not HTTP/1.x syntax; the text says what was wrong.
    Malformed(&'static str),
}

impl HeadError {
    /// What went wrong, for logs and error bodies.
    pub fn reason(self) -> &'static str {
        match self {
            HeadError::TooLarge => "head too large",
            HeadError::TooManyHeaders => "too many header fields",
            HeadError::Malformed(why) => why,
        }
    }
}

/// Finds the end of a head in a growing buffer, resuming where it stopped.
#[derive(Clone, Debug, Default)]
pub struct HeadScanner {
    pos: usize,
    line_start: usize,
    skip: usize,
}

/// Where a complete head lies in the scanned buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadSpan {
    /// Empty lines before the head (ignored, RFC 9112 §2.2).
    pub skip: usize,
    /// Index one past the head's final CRLF CRLF.
    pub end: usize,
}

impl HeadScanner {
    /// Forgets all progress, for the next head.
    pub fn reset(&mut self) {
        *self = HeadScanner::default();
    }

    /// Scans `buf` (the same buffer as before, possibly longer) for the end
    /// of a head no longer than `limit` bytes.
    pub fn scan(&mut self, buf: &[u8], limit: usize) -> Result<Option<HeadSpan>, HeadError> {
        // Jump from LF to LF; each must follow a CR. (A bare CR is left to
        // httparse, which refuses a CR not followed by LF anywhere in a head.)
        let mut at = self.pos;
        while let Some(off) = memchr::memchr(b'\n', &buf[at..]) {
            let i = at + off;
            at = i + 1;
            if i == 0 || buf[i - 1] != b'\r' {
                return Err(HeadError::Malformed("bare LF in head"));
            }
            if i - 1 != self.line_start {
                self.line_start = i + 1;
                continue;
            }
            if self.line_start == self.skip {
                // An empty line before any request line.
                self.skip = i + 1;
                self.line_start = i + 1;
                if self.skip > 2 * MAX_EMPTY_LINES {
                    return Err(HeadError::Malformed("too many empty lines before the head"));
                }
                continue;
            }
            self.pos = i + 1;
            if i + 1 - self.skip > limit {
                return Err(HeadError::TooLarge);
            }
            return Ok(Some(HeadSpan {
                skip: self.skip,
                end: i + 1,
            }));
        }
        self.pos = buf.len();
        if buf.len() - self.skip > limit {
            return Err(HeadError::TooLarge);
        }
        Ok(None)
    }
}

fn version(v: Option<u8>) -> Result<Version, HeadError> {
    match v {
        Some(0) => Ok(Version::Http10),
        Some(1) => Ok(Version::Http11),
        _ => Err(HeadError::Malformed("unsupported HTTP version")),
    }
}

fn map_err(e: httparse::Error) -> HeadError {
    match e {
        httparse::Error::TooManyHeaders => HeadError::TooManyHeaders,
        httparse::Error::HeaderName => HeadError::Malformed("invalid header name"),
        httparse::Error::HeaderValue => HeadError::Malformed("invalid header value"),
        httparse::Error::NewLine => HeadError::Malformed("invalid line ending"),
        httparse::Error::Status => HeadError::Malformed("invalid status line"),
        httparse::Error::Token => HeadError::Malformed("invalid token"),
        httparse::Error::Version => HeadError::Malformed("unsupported HTTP version"),
    }
}

fn headers_from(head: &Bytes, raw: &[httparse::Header<'_>], mut headers: Headers) -> Headers {
    headers.clear();
    headers.reserve(raw.len() + 4);
    headers.set_source(head.clone());
    for h in raw {
        headers.push_in(h.name.as_bytes(), h.value);
    }
    headers
}

/// Parses a complete request head (request line through the empty line).
///
/// `absolute-form` targets are turned into origin-form with the authority
/// moved into `Host` (RFC 9112 §3.2.2). An HTTP/1.1 request must carry
/// exactly one `Host`.
pub fn parse_request(head: &Bytes) -> Result<RequestHead, HeadError> {
    parse_request_into(head, Headers::default())
}

/// [`parse_request`], reusing the memory of `spare` for the fields.
pub fn parse_request_into(head: &Bytes, spare: Headers) -> Result<RequestHead, HeadError> {
    let mut raw = [const { MaybeUninit::uninit() }; MAX_REQUEST_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(head, &mut raw) {
        Ok(httparse::Status::Complete(n)) if n == head.len() => {}
        Ok(_) => return Err(HeadError::Malformed("incomplete head")),
        Err(e) => return Err(map_err(e)),
    }
    let version = version(req.version)?;
    let method = head.slice_ref(req.method.unwrap_or("").as_bytes());
    let target_raw = req.path.unwrap_or("").as_bytes();
    let mut headers = headers_from(head, req.headers, spare);
    // A URI is ASCII (RFC 3986 §2), and a request target carries no
    // fragment (RFC 9112 §3.2); httparse lets both through.
    if target_raw
        .iter()
        .any(|&b| !(0x21..0x7f).contains(&b) || b == b'#')
    {
        return Err(HeadError::Malformed("invalid byte in request target"));
    }
    let origin_form = target_raw.first() == Some(&b'/');
    let asterisk_form = target_raw == b"*" && &method[..] == b"OPTIONS";
    // Authority-form (`host:port`) belongs to CONNECT, which the proxy
    // then answers 405; parsing it lets the answer be 405, not 400.
    let authority_form = &method[..] == b"CONNECT";
    let target = if origin_form || asterisk_form || authority_form {
        head.slice_ref(target_raw)
    } else if let Some((authority, path)) = absolute_form(target_raw) {
        if authority.is_empty() {
            return Err(HeadError::Malformed(
                "absolute-form target without authority",
            ));
        }
        headers.set(&b"Host"[..], head.slice_ref(authority));
        if path.is_empty() {
            Bytes::from_static(b"/")
        } else if path[0] == b'?' {
            let mut t = Vec::with_capacity(path.len() + 1);
            t.push(b'/');
            t.extend_from_slice(path);
            Bytes::from(t)
        } else {
            head.slice_ref(path)
        }
    } else {
        return Err(HeadError::Malformed("invalid request target"));
    };
    let hosts = headers.get_all("host").count();
    if hosts > 1 || (hosts == 0 && version == Version::Http11) {
        return Err(HeadError::Malformed("a request needs exactly one Host"));
    }
    if headers
        .get("host")
        .is_some_and(|h| !super::host::is_valid_host(h))
    {
        return Err(HeadError::Malformed("invalid Host"));
    }
    Ok(RequestHead {
        method,
        target,
        version,
        headers,
    })
}

/// Splits `http://authority/path?q` into authority and the rest.
fn absolute_form(t: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = if t.len() >= 7 && t[..7].eq_ignore_ascii_case(b"http://") {
        &t[7..]
    } else if t.len() >= 8 && t[..8].eq_ignore_ascii_case(b"https://") {
        &t[8..]
    } else {
        return None;
    };
    let end = rest
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.contains(&b'@') {
        return None; // userinfo is deprecated and a spoofing vector
    }
    Some((authority, &rest[end..]))
}

/// Parses a complete response head.
pub fn parse_response(head: &Bytes) -> Result<ResponseHead, HeadError> {
    parse_response_into(head, Headers::default())
}

/// [`parse_response`], reusing the memory of `spare` for the fields.
pub fn parse_response_into(head: &Bytes, spare: Headers) -> Result<ResponseHead, HeadError> {
    let mut raw = [const { MaybeUninit::uninit() }; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    match httparse::ParserConfig::default()
        .parse_response_with_uninit_headers(&mut resp, head, &mut raw)
    {
        Ok(httparse::Status::Complete(n)) if n == head.len() => {}
        Ok(_) => return Err(HeadError::Malformed("incomplete head")),
        Err(e) => return Err(map_err(e)),
    }
    let version = version(resp.version)?;
    let status = resp.code.unwrap_or(0);
    if !(100..=999).contains(&status) {
        return Err(HeadError::Malformed("invalid status code"));
    }
    let reason = head.slice_ref(resp.reason.unwrap_or("").as_bytes());
    Ok(ResponseHead {
        version,
        status,
        reason,
        headers: headers_from(head, resp.headers, spare),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(input: &[u8], limit: usize) -> Result<Option<HeadSpan>, HeadError> {
        HeadScanner::default().scan(input, limit)
    }

    #[test]
    fn finds_the_end_in_one_go_and_byte_by_byte() {
        let msg = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nrest";
        assert_eq!(scan_all(msg, 1000), Ok(Some(HeadSpan { skip: 0, end: 27 })));
        let mut s = HeadScanner::default();
        let mut found = None;
        for n in 1..=msg.len() {
            if let Some(span) = s.scan(&msg[..n], 1000).unwrap() {
                found = Some((n, span));
                break;
            }
        }
        assert_eq!(found, Some((27, HeadSpan { skip: 0, end: 27 })));
    }

    #[test]
    fn skips_leading_empty_lines() {
        let msg = b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(scan_all(msg, 1000), Ok(Some(HeadSpan { skip: 4, end: 31 })));
        // Up to MAX_EMPTY_LINES, whole or byte by byte; one more is refused
        // both ways (it once passed when the head came in one read).
        for (lines, ok) in [(MAX_EMPTY_LINES, true), (MAX_EMPTY_LINES + 1, false)] {
            let mut msg = b"\r\n".repeat(lines);
            msg.extend_from_slice(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
            assert_eq!(scan_all(&msg, 1000).is_ok(), ok, "{lines} whole");
            let mut s = HeadScanner::default();
            let bytewise = (1..=msg.len()).try_for_each(|n| s.scan(&msg[..n], 1000).map(|_| ()));
            assert_eq!(bytewise.is_ok(), ok, "{lines} byte by byte");
        }
    }

    #[test]
    fn refuses_bare_lf_and_bare_cr() {
        assert!(matches!(
            scan_all(b"GET / HTTP/1.1\nHost: a\r\n\r\n", 1000),
            Err(HeadError::Malformed(_))
        ));
        // A bare CR passes the scan and is refused by the parse.
        for bare_cr in [
            &b"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n"[..],
            b"GET /\r HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\r\nHo\rst: a\r\n\r\n",
        ] {
            let span = scan_all(bare_cr, 1000).unwrap().unwrap();
            let head = Bytes::copy_from_slice(&bare_cr[..span.end]);
            assert!(parse_request(&head).is_err());
        }
    }

    #[test]
    fn enforces_the_limit_before_the_end_arrives() {
        let msg = b"GET / HTTP/1.1\r\nHost: aaaaaaaaaaaaaaaaaaaaaaa";
        assert_eq!(scan_all(msg, 20), Err(HeadError::TooLarge));
        assert_eq!(scan_all(msg, 100), Ok(None));
        // A complete head one byte over the limit.
        let msg = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(scan_all(msg, 26), Err(HeadError::TooLarge));
        assert!(scan_all(msg, 27).unwrap().is_some());
    }

    #[test]
    fn parses_and_keeps_case_and_order() {
        let head = Bytes::from_static(b"GET /a?b HTTP/1.1\r\nhOsT: x\r\nX-B: 1\r\nX-A: 2\r\n\r\n");
        let r = parse_request(&head).unwrap();
        let names: Vec<_> = r.headers.iter().map(|(n, _)| n.to_vec()).collect();
        assert_eq!(
            names,
            vec![b"hOsT".to_vec(), b"X-B".to_vec(), b"X-A".to_vec()]
        );
        assert_eq!(r.path(), b"/a");
        assert_eq!(r.query(), Some(&b"b"[..]));
    }

    #[test]
    fn the_limit_counts_from_the_request_line_before_and_after_the_end() {
        // Partial heads: `limit` bytes may wait for more, one more may not,
        // and empty lines before the request line do not count.
        assert_eq!(scan_all(b"GET / HTTP/1.1\r\nHost: a", 23), Ok(None));
        assert_eq!(
            scan_all(b"GET / HTTP/1.1\r\nHost: a", 22),
            Err(HeadError::TooLarge)
        );
        assert_eq!(scan_all(b"\r\n\r\nGET / HTTP/1.1\r\nHost: a", 23), Ok(None));
        let whole = b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(scan_all(whole, 27), Ok(Some(HeadSpan { skip: 2, end: 29 })));
        assert_eq!(scan_all(whole, 26), Err(HeadError::TooLarge));
    }

    #[test]
    fn errors_say_what_was_wrong() {
        // These are the access log's notes.
        assert_eq!(HeadError::TooLarge.reason(), "head too large");
        assert_eq!(HeadError::TooManyHeaders.reason(), "too many header fields");
        assert_eq!(
            HeadError::Malformed("bare LF in head").reason(),
            "bare LF in head"
        );
    }

    #[test]
    fn what_cannot_start_a_request_is_told_at_once() {
        for could in [
            &b""[..],
            b"G",
            b"GET",
            b"GET /",
            b"\r\n\r\nPOST / HT",
            b"\r",
        ] {
            assert!(
                could_start_request(could),
                "{:?}",
                String::from_utf8_lossy(could)
            );
        }
        for cannot in [
            &b"\x16\x03\x01\x02\x00"[..],
            b"\x00",
            b" GET /",
            b"GE(T /",
            b"\r\n\x80",
            b"{\"json\": 1}",
        ] {
            assert!(
                !could_start_request(cannot),
                "{:?}",
                String::from_utf8_lossy(cannot)
            );
        }
    }

    #[test]
    fn a_head_is_parsed_only_whole_and_alone() {
        let extra = Bytes::from_static(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nX");
        assert!(parse_request(&extra).is_err());
        let extra = Bytes::from_static(b"HTTP/1.1 200 OK\r\n\r\nX");
        assert!(parse_response(&extra).is_err());
        let r = parse_request(&Bytes::from_static(
            b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
        ));
        assert_eq!(&r.unwrap().target[..], b"*");
        for bad in [
            &b"GET * HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            b"OPTIONS *x HTTP/1.1\r\nHost: a\r\n\r\n",
        ] {
            assert!(parse_request(&Bytes::copy_from_slice(bad)).is_err());
        }
    }

    #[test]
    fn absolute_form_becomes_origin_form() {
        let head = Bytes::from_static(b"GET HTTPS://b.example/p?q HTTP/1.1\r\nHost: other\r\n\r\n");
        let r = parse_request(&head).unwrap();
        assert_eq!(
            (&r.target[..], r.headers.get("host")),
            (&b"/p?q"[..], Some(&b"b.example"[..]))
        );
        for short in [
            &b"GET http:/ HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            b"GET h HTTP/1.1\r\nHost: a\r\n\r\n",
        ] {
            assert!(parse_request(&Bytes::copy_from_slice(short)).is_err());
        }
        let head =
            Bytes::from_static(b"GET http://example.com:81?x=1 HTTP/1.1\r\nHost: other\r\n\r\n");
        let r = parse_request(&head).unwrap();
        assert_eq!(&r.target[..], b"/?x=1");
        assert_eq!(r.headers.get("host"), Some(&b"example.com:81"[..]));
    }

    #[test]
    fn rejects_what_strict_parsing_must_reject() {
        for bad in [
            &b"GET / HTTP/1.1\r\nHost : a\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHo\x01st: a\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n",
            b"GET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
            b"GET example.com HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET /a\xcf\x8b HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n",
        ] {
            let r = parse_request(&Bytes::copy_from_slice(bad));
            assert!(r.is_err(), "accepted {:?}", String::from_utf8_lossy(bad));
        }
    }
}
