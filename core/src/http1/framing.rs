//! How a message body is delimited, decided once per message.
//!
//! The precedence list of RFC 9112 §6.3, applied in this order:
//!
//! 1. A response to HEAD, and every 1xx, 204 and 304 response: no body.
//! 2. (2xx to CONNECT: weir refuses CONNECT before it gets here.)
//! 3. `Transfer-Encoding` together with `Content-Length`: rejected
//!    (a smuggling vector; RFC 9112 §6.1 allows treating it as an error).
//! 4. `Transfer-Encoding`: a token list whose final (and, in weir, only)
//!    coding is `chunked`; anything else is rejected. HTTP/1.0 messages
//!    may not use it.
//! 5. `Content-Length`: digits only, every copy equal; else rejected.
//! 6. A request with neither: no body.
//! 7. A response with neither: read until the upstream closes.

use super::head::{trim, Headers, Version};

/// The body delimitation of one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body at all.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the sender closes (responses only).
    UntilClose,
}

/// Why a message's framing is not acceptable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FramingError {
    /// Both Transfer-Encoding and Content-Length.
    BothLengths,
    /// A Transfer-Encoding that is not exactly `chunked`.
    BadTransferEncoding,
    /// Transfer-Encoding on an HTTP/1.0 message.
    TransferEncodingInHttp10,
    /// Content-Length copies disagree.
    ConflictingLengths,
    /// Content-Length is not a plain decimal number that fits.
    BadLength,
}

impl FramingError {
    /// What went wrong, for logs and error bodies.
    pub fn reason(self) -> &'static str {
        match self {
            FramingError::BothLengths => "both Transfer-Encoding and Content-Length",
            FramingError::BadTransferEncoding => "Transfer-Encoding other than chunked",
            FramingError::TransferEncodingInHttp10 => "Transfer-Encoding in HTTP/1.0",
            FramingError::ConflictingLengths => "conflicting Content-Length values",
            FramingError::BadLength => "malformed Content-Length",
        }
    }
}

/// The framing of a request body.
pub fn request_framing(version: Version, headers: &Headers) -> Result<Framing, FramingError> {
    match delimited(version, headers)? {
        Some(f) => Ok(f),
        None => Ok(Framing::None),
    }
}

/// The framing of a response body, given the request method and status.
pub fn response_framing(
    request_was_head: bool,
    status: u16,
    version: Version,
    headers: &Headers,
) -> Result<Framing, FramingError> {
    if request_was_head || status < 200 || status == 204 || status == 304 {
        return Ok(Framing::None);
    }
    match delimited(version, headers)? {
        Some(f) => Ok(f),
        None => Ok(Framing::UntilClose),
    }
}

/// Rules 3 to 5, shared by both directions. One pass over the fields
/// finds both framing headers and checks every Content-Length value;
/// which error wins is decided after it, as the rules order them.
fn delimited(version: Version, headers: &Headers) -> Result<Option<Framing>, FramingError> {
    let mut has_te = false;
    let mut has_cl = false;
    let mut length = None;
    let mut cl_error = None;
    for (name, value) in headers.by_name_len(|n| n == 17 || n == 14) {
        if name.len() == 17 && name.eq_ignore_ascii_case(b"transfer-encoding") {
            has_te = true;
        } else if name.len() == 14 && name.eq_ignore_ascii_case(b"content-length") {
            has_cl = true;
            if cl_error.is_none() {
                cl_error = check_lengths(value, &mut length).err();
            }
        }
    }
    if has_te && has_cl {
        return Err(FramingError::BothLengths);
    }
    if has_te {
        if version == Version::Http10 {
            return Err(FramingError::TransferEncodingInHttp10);
        }
        let mut codings = headers
            .get_all("transfer-encoding")
            .flat_map(|v| v.split(|&b| b == b','))
            .map(trim)
            .filter(|t| !t.is_empty());
        return match (codings.next(), codings.next()) {
            (Some(only), None) if only.eq_ignore_ascii_case(b"chunked") => {
                Ok(Some(Framing::Chunked))
            }
            _ => Err(FramingError::BadTransferEncoding),
        };
    }
    match cl_error {
        Some(e) => Err(e),
        None => Ok(length.map(Framing::Length)),
    }
}

/// Checks one Content-Length value (a comma-separated list of equal
/// decimal lengths) against the length seen so far.
fn check_lengths(value: &[u8], length: &mut Option<u64>) -> Result<(), FramingError> {
    for item in value.split(|&b| b == b',') {
        let n = parse_length(trim(item)).ok_or(FramingError::BadLength)?;
        match *length {
            None => *length = Some(n),
            Some(m) if m == n => {}
            Some(_) => return Err(FramingError::ConflictingLengths),
        }
    }
    Ok(())
}

/// A decimal length: 1 to 19 ASCII digits, nothing else.
fn parse_length(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&'static str, &'static str)]) -> Headers {
        let mut hs = Headers::default();
        for (n, v) in pairs {
            hs.append(n.as_bytes(), v.as_bytes());
        }
        hs
    }

    #[test]
    fn lengths_have_one_to_nineteen_digits() {
        assert_eq!(
            parse_length(b"1234567890123456789"),
            Some(1_234_567_890_123_456_789)
        );
        assert_eq!(parse_length(b"12345678901234567890"), None);
        assert_eq!(parse_length(b""), None);
        assert_eq!(parse_length(b"0"), Some(0));
        // The reasons are what access logs and 400 notes say.
        assert_eq!(
            FramingError::BothLengths.reason(),
            "both Transfer-Encoding and Content-Length"
        );
        assert_eq!(FramingError::BadLength.reason(), "malformed Content-Length");
    }

    #[test]
    fn request_precedence() {
        let v = Version::Http11;
        assert_eq!(request_framing(v, &h(&[])), Ok(Framing::None));
        assert_eq!(
            request_framing(v, &h(&[("Content-Length", "12")])),
            Ok(Framing::Length(12))
        );
        assert_eq!(
            request_framing(v, &h(&[("Transfer-Encoding", "Chunked")])),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            request_framing(
                v,
                &h(&[("Content-Length", "5"), ("content-length", "5, 5")])
            ),
            Ok(Framing::Length(5))
        );
    }

    #[test]
    fn request_rejections() {
        let v = Version::Http11;
        let cases: &[(&[(&str, &str)], FramingError)] = &[
            (
                &[("Transfer-Encoding", "chunked"), ("Content-Length", "3")],
                FramingError::BothLengths,
            ),
            (
                &[("Transfer-Encoding", "gzip")],
                FramingError::BadTransferEncoding,
            ),
            (
                &[("Transfer-Encoding", "chunked, gzip")],
                FramingError::BadTransferEncoding,
            ),
            (
                &[
                    ("Transfer-Encoding", "chunked"),
                    ("Transfer-Encoding", "chunked"),
                ],
                FramingError::BadTransferEncoding,
            ),
            (
                &[("Transfer-Encoding", "xchunked")],
                FramingError::BadTransferEncoding,
            ),
            (
                &[("Transfer-Encoding", "")],
                FramingError::BadTransferEncoding,
            ),
            (
                &[("Content-Length", "5"), ("Content-Length", "6")],
                FramingError::ConflictingLengths,
            ),
            (
                &[("Content-Length", "5, 6")],
                FramingError::ConflictingLengths,
            ),
            (&[("Content-Length", "+5")], FramingError::BadLength),
            (&[("Content-Length", "-1")], FramingError::BadLength),
            (&[("Content-Length", "5 5")], FramingError::BadLength),
            (&[("Content-Length", "0x10")], FramingError::BadLength),
            (&[("Content-Length", "")], FramingError::BadLength),
            (
                &[("Content-Length", "99999999999999999999")],
                FramingError::BadLength,
            ),
            (
                &[("Content-Length", "18446744073709551616")],
                FramingError::BadLength,
            ),
        ];
        for (hs, want) in cases {
            assert_eq!(request_framing(v, &h(hs)), Err(*want), "{hs:?}");
        }
        assert_eq!(
            request_framing(Version::Http10, &h(&[("Transfer-Encoding", "chunked")])),
            Err(FramingError::TransferEncodingInHttp10)
        );
    }

    #[test]
    fn response_precedence() {
        let v = Version::Http11;
        let cl = h(&[("Content-Length", "10")]);
        assert_eq!(response_framing(true, 200, v, &cl), Ok(Framing::None));
        for s in [100, 103, 204, 304] {
            assert_eq!(response_framing(false, s, v, &cl), Ok(Framing::None));
        }
        assert_eq!(
            response_framing(false, 200, v, &cl),
            Ok(Framing::Length(10))
        );
        assert_eq!(
            response_framing(false, 200, v, &h(&[])),
            Ok(Framing::UntilClose)
        );
        assert_eq!(
            response_framing(false, 200, v, &h(&[("Transfer-Encoding", "chunked")])),
            Ok(Framing::Chunked)
        );
    }
}
