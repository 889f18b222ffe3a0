//! A reference reading of HTTP/1.1 byte streams for the fuzz oracles,
//! written from RFC 9112 alone: it shares no code with `http1/` and does
//! not use httparse, so that it can disagree with the core. It is small
//! and strict (CRLF only, no obs-fold, the chunk grammar of §7.1 with its
//! extensions and trailer fields), and it says where a stream stops being
//! valid. Where the RFCs let a recipient choose, it takes the choice the
//! core documents: empty lines before a request are skipped (§2.2), and a
//! `Content-Length` list of identical numbers counts as one (RFC 9110 §8.6).

/// Returns early from a reading function with what a step said.
macro_rules! try_read {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(r) => return r.into(),
        }
    };
}

/// A header field as it was on the wire: name, and value without the
/// surrounding whitespace.
pub type Field = (Vec<u8>, Vec<u8>);

/// One message read whole from a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// For a request: method, target, version; for a response: version,
    /// status code, reason (each without the separating spaces).
    pub start: [Vec<u8>; 3],
    /// The header fields, in order.
    pub fields: Vec<Field>,
    /// The body after de-chunking.
    pub body: Vec<u8>,
    /// Trailer fields of a chunked body.
    pub trailers: Vec<Field>,
    /// Bytes of the stream this message took (with skipped empty lines).
    pub len: usize,
}

impl Message {
    /// The method of a request.
    pub fn method(&self) -> &[u8] {
        &self.start[0]
    }

    /// The target of a request.
    pub fn target(&self) -> &[u8] {
        &self.start[1]
    }

    /// The status code of a response.
    pub fn status(&self) -> u16 {
        std::str::from_utf8(&self.start[1])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// Every value of the field `name`.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.fields
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.as_slice())
    }

    /// True when the field `name` lists `token` (comma-separated, any case).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.values(name).any(|v| {
            v.split(|&b| b == b',')
                .any(|t| trim(t).eq_ignore_ascii_case(token.as_bytes()))
        })
    }
}

/// How the reading of one message ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Read {
    /// A whole message.
    Whole(Message),
    /// Valid so far; more bytes are needed.
    Partial,
    /// Not HTTP/1.1 by RFC 9112; the text says why.
    Invalid(&'static str),
}

/// How a stream of messages ends after its last whole message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rest {
    /// Nothing left.
    Empty,
    /// A valid beginning of one more message, from this offset.
    Partial(usize),
    /// Invalid from this offset (the message that starts there).
    Invalid(usize, &'static str),
}

/// What a stream holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stream {
    /// The whole messages, in order.
    pub messages: Vec<Message>,
    /// What follows them.
    pub rest: Rest,
}

/// Reads every request in a client byte stream; reading stops after the
/// request with index `upgraded` (answered with 101: what follows are
/// tunnel bytes), the rest then reported as `Partial`.
pub fn requests(stream: &[u8], upgraded: Option<usize>) -> Stream {
    let mut n = 0;
    read_all(
        stream,
        |buf, _| request(buf),
        |_| {
            n += 1;
            upgraded == Some(n - 1)
        },
    )
}

/// Reads every response in a server byte stream; `head[i]` says whether
/// the i-th final response answers a HEAD request, and `eof` whether the
/// stream is closed (a body without length then ends there). Interim 1xx
/// responses are messages of their own; reading stops after a 101.
pub fn responses(stream: &[u8], head: &[bool], eof: bool) -> Stream {
    let mut finals = 0;
    read_all(
        stream,
        |buf, _| {
            let r = response(buf, head.get(finals).copied().unwrap_or(false), eof);
            if let Read::Whole(m) = &r {
                if !(100..200).contains(&m.status()) {
                    finals += 1;
                }
            }
            r
        },
        |m| m.status() == 101,
    )
}

/// One connection read both ways: the requests sent on it and the
/// responses to them. A request answered with 101 is the last: the bytes
/// after it, both ways, are a tunnel.
pub fn exchange(requests_bytes: &[u8], responses_bytes: &[u8], eof: bool) -> (Stream, Stream) {
    let all = requests(requests_bytes, None);
    let heads: Vec<bool> = all.messages.iter().map(|m| m.method() == b"HEAD").collect();
    let resp = responses(responses_bytes, &heads, eof);
    let finals = resp
        .messages
        .iter()
        .filter(|m| !(100..200).contains(&m.status()) || m.status() == 101);
    match finals.clone().position(|m| m.status() == 101) {
        Some(k) => (requests(requests_bytes, Some(k)), resp),
        None => (all, resp),
    }
}

fn read_all(
    stream: &[u8],
    mut one: impl FnMut(&[u8], usize) -> Read,
    mut last: impl FnMut(&Message) -> bool,
) -> Stream {
    let mut messages = Vec::new();
    let mut at = 0;
    while at < stream.len() {
        match one(&stream[at..], messages.len()) {
            Read::Whole(m) => {
                at += m.len;
                let stop = last(&m);
                messages.push(m);
                if stop {
                    let rest = if at < stream.len() {
                        Rest::Partial(at)
                    } else {
                        Rest::Empty
                    };
                    return Stream { messages, rest };
                }
            }
            Read::Partial => {
                return Stream {
                    messages,
                    rest: Rest::Partial(at),
                }
            }
            Read::Invalid(why) => {
                return Stream {
                    messages,
                    rest: Rest::Invalid(at, why),
                }
            }
        }
    }
    Stream {
        messages,
        rest: Rest::Empty,
    }
}

/// Reads one request from the front of `buf` (RFC 9112 §3, §6).
pub fn request(buf: &[u8]) -> Read {
    let mut skip = 0;
    while buf[skip..].starts_with(b"\r\n") {
        skip += 2;
    }
    let mut c = Cursor::new(buf, skip);
    let method = try_read!(c.token(b' '));
    let target = try_read!(c.run(b' ', |b| (0x21..0x7f).contains(&b)));
    let version = try_read!(c.version(b"\r\n"));
    let fields = try_read!(c.fields());
    let body = match request_length(&version, &fields) {
        Ok(b) => b,
        Err(why) => return Read::Invalid(why),
    };
    c.body(body, [method, target, version], fields, false)
}

/// Reads one response from the front of `buf` (RFC 9112 §4, §6.3).
/// Empty lines before the status line are skipped, as the gateway does
/// (RFC 9112 §2.2 asks it of servers; clients in use do it too).
pub fn response(buf: &[u8], to_head: bool, eof: bool) -> Read {
    let mut skip = 0;
    while buf[skip..].starts_with(b"\r\n") {
        skip += 2;
    }
    let mut c = Cursor::new(buf, skip);
    let version = try_read!(c.version(b" "));
    // `status-code SP [ reason-phrase ]`; like the clients in use, a line
    // that ends right after the code (no SP) is read too.
    let line = try_read!(c.run(b'\r', |b| b == b'\t' || b == b' ' || is_vchar_or_obs(b)));
    try_read!(c.expect(b"\n"));
    if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) {
        return Read::Invalid("status code is not three digits");
    }
    let (status, rest) = line.split_at(3);
    let reason = match rest {
        [] => Vec::new(),
        [b' ', reason @ ..] => reason.to_vec(),
        _ => return Read::Invalid("status code is not three digits"),
    };
    let status = status.to_vec();
    let fields = try_read!(c.fields());
    let code: u16 = (status[0] - b'0') as u16 * 100
        + (status[1] - b'0') as u16 * 10
        + (status[2] - b'0') as u16;
    let body = if to_head || (100..200).contains(&code) || code == 204 || code == 304 {
        Ok(Body::Length(0))
    } else {
        response_length(&fields)
    };
    let body = match body {
        Ok(b) => b,
        Err(why) => return Read::Invalid(why),
    };
    c.body(body, [version, status, reason], fields, eof)
}

/// How a message body is delimited.
enum Body {
    Length(u64),
    Chunked,
    UntilClose,
}

fn request_length(version: &[u8], fields: &[Field]) -> Result<Body, &'static str> {
    let te = transfer_coding(fields)?;
    let cl = content_length(fields)?;
    match (te, cl) {
        (Some(_), Some(_)) => Err("both Transfer-Encoding and Content-Length"),
        (Some(_), None) if version == b"HTTP/1.0" => Err("Transfer-Encoding in HTTP/1.0"),
        (Some(true), None) => Ok(Body::Chunked),
        (Some(false), None) => Err("request coding does not end in chunked"),
        (None, Some(n)) => Ok(Body::Length(n)),
        (None, None) => Ok(Body::Length(0)),
    }
}

fn response_length(fields: &[Field]) -> Result<Body, &'static str> {
    let te = transfer_coding(fields)?;
    let cl = content_length(fields)?;
    match (te, cl) {
        (Some(_), Some(_)) => Err("both Transfer-Encoding and Content-Length"),
        (Some(true), None) => Ok(Body::Chunked),
        (Some(false), None) | (None, None) => Ok(Body::UntilClose),
        (None, Some(n)) => Ok(Body::Length(n)),
    }
}

/// `Some(true)` when the codings end in a single `chunked`, `Some(false)`
/// for other codings, `None` without the field.
fn transfer_coding(fields: &[Field]) -> Result<Option<bool>, &'static str> {
    let mut codings = Vec::new();
    for (n, v) in fields {
        if n.eq_ignore_ascii_case(b"transfer-encoding") {
            // Empty list elements (and empty fields) are ignored, RFC
            // 9110 §5.6.1.2; a field with no coding at all is refused below.
            for t in v.split(|&b| b == b',') {
                let t = trim(t);
                if !t.is_empty() {
                    codings.push(t);
                }
            }
        }
    }
    if codings.is_empty() {
        let present = fields
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(b"transfer-encoding"));
        return if present {
            Err("empty Transfer-Encoding")
        } else {
            Ok(None)
        };
    }
    let chunked = |t: &[u8]| t.eq_ignore_ascii_case(b"chunked");
    let count = codings.iter().filter(|t| chunked(t)).count();
    let last = codings.last().is_some_and(|t| chunked(t));
    match (count, last) {
        (0, _) => Ok(Some(false)),
        (1, true) => Ok(Some(true)),
        _ => Err("chunked applied other than once, last"),
    }
}

fn content_length(fields: &[Field]) -> Result<Option<u64>, &'static str> {
    let mut n = None;
    for (name, v) in fields {
        if !name.eq_ignore_ascii_case(b"content-length") {
            continue;
        }
        for item in v.split(|&b| b == b',') {
            let item = trim(item);
            if item.is_empty() || !item.iter().all(u8::is_ascii_digit) {
                return Err("Content-Length is not a number");
            }
            // Any number of digits (leading zeros too) while it fits.
            let m = item
                .iter()
                .try_fold(0u64, |a, d| {
                    a.checked_mul(10)?.checked_add((d - b'0') as u64)
                })
                .ok_or("Content-Length too large")?;
            if n.is_some_and(|n| n != m) {
                return Err("differing Content-Length values");
            }
            n = Some(m);
        }
    }
    Ok(n)
}

mod cursor;
#[cfg(test)]
mod tests;

pub use cursor::trim;
use cursor::{is_vchar_or_obs, Cursor};
