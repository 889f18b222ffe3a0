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
pub fn response(buf: &[u8], to_head: bool, eof: bool) -> Read {
    let mut c = Cursor::new(buf, 0);
    let version = try_read!(c.version(b" "));
    let status = try_read!(c.run(b' ', |b| b.is_ascii_digit()));
    if status.len() != 3 {
        return Read::Invalid("status code is not three digits");
    }
    let reason = try_read!(c.run(b'\r', |b| b == b'\t' || b == b' ' || is_vchar_or_obs(b)));
    try_read!(c.expect(b"\n"));
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
            for t in v.split(|&b| b == b',') {
                let t = trim(t);
                if !t.is_empty() {
                    codings.push(t);
                }
            }
            if codings.is_empty() {
                return Err("empty Transfer-Encoding");
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

/// A position in the buffer being read.
struct Cursor<'a> {
    buf: &'a [u8],
    at: usize,
}

/// Why a step of reading stopped.
enum Stop {
    Partial,
    Invalid(&'static str),
}

impl From<Stop> for Read {
    fn from(s: Stop) -> Read {
        match s {
            Stop::Partial => Read::Partial,
            Stop::Invalid(why) => Read::Invalid(why),
        }
    }
}

type Step<T> = Result<T, Stop>;

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_vchar_or_obs(b: u8) -> bool {
    (0x21..0x7f).contains(&b) || b >= 0x80
}

/// `s` without leading and trailing spaces and tabs.
pub fn trim(s: &[u8]) -> &[u8] {
    let ws = |b: &u8| *b == b' ' || *b == b'\t';
    let start = s.iter().position(|b| !ws(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !ws(b)).map_or(start, |i| i + 1);
    &s[start..end]
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a [u8], at: usize) -> Self {
        Cursor { buf, at }
    }

    fn peek(&self) -> Step<u8> {
        self.buf.get(self.at).copied().ok_or(Stop::Partial)
    }

    /// The exact bytes `s`.
    fn expect(&mut self, s: &[u8]) -> Step<()> {
        for &want in s {
            if self.peek()? != want {
                return Err(Stop::Invalid("unexpected byte"));
            }
            self.at += 1;
        }
        Ok(())
    }

    /// One or more bytes accepted by `ok`, then `end` (consumed).
    fn run(&mut self, end: u8, ok: impl Fn(u8) -> bool) -> Step<Vec<u8>> {
        let start = self.at;
        loop {
            let b = self.peek()?;
            if b == end && (self.at > start || end == b'\r') {
                let v = self.buf[start..self.at].to_vec();
                self.at += 1;
                return Ok(v);
            }
            if !ok(b) {
                return Err(Stop::Invalid("byte outside the grammar"));
            }
            self.at += 1;
        }
    }

    fn token(&mut self, end: u8) -> Step<Vec<u8>> {
        self.run(end, is_tchar)
    }

    /// `HTTP/d.d` then `end`.
    fn version(&mut self, end: &[u8]) -> Step<Vec<u8>> {
        let start = self.at;
        self.expect(b"HTTP/")?;
        for digit in [true, false, true] {
            let b = self.peek()?;
            let ok = if digit { b.is_ascii_digit() } else { b == b'.' };
            if !ok {
                return Err(Stop::Invalid("bad HTTP version"));
            }
            self.at += 1;
        }
        let v = self.buf[start..self.at].to_vec();
        self.expect(end)?;
        Ok(v)
    }

    /// Field lines up to and including the empty line (§5).
    fn fields(&mut self) -> Step<Vec<Field>> {
        let mut fields = Vec::new();
        loop {
            if self.peek()? == b'\r' {
                self.at += 1;
                self.expect(b"\n")?;
                return Ok(fields);
            }
            let name = self.token(b':')?;
            let start = self.at;
            loop {
                let b = self.peek()?;
                if b == b'\r' {
                    break;
                }
                if !(b == b' ' || b == b'\t' || is_vchar_or_obs(b)) {
                    return Err(Stop::Invalid("byte outside a field value"));
                }
                self.at += 1;
            }
            let value = trim(&self.buf[start..self.at]).to_vec();
            self.at += 1;
            self.expect(b"\n")?;
            fields.push((name, value));
        }
    }

    /// The body, then the whole message.
    fn body(mut self, body: Body, start: [Vec<u8>; 3], fields: Vec<Field>, eof: bool) -> Read {
        let mut out = Vec::new();
        let mut trailers = Vec::new();
        match body {
            Body::Length(n) => {
                let rest = (self.buf.len() - self.at) as u64;
                if rest < n {
                    return Read::Partial;
                }
                out.extend_from_slice(&self.buf[self.at..self.at + n as usize]);
                self.at += n as usize;
            }
            Body::UntilClose => {
                if !eof {
                    return Read::Partial;
                }
                out.extend_from_slice(&self.buf[self.at..]);
                self.at = self.buf.len();
            }
            Body::Chunked => {
                trailers = try_read!(self.chunks(&mut out));
            }
        }
        Read::Whole(Message {
            start,
            fields,
            body: out,
            trailers,
            len: self.at,
        })
    }

    /// `*chunk last-chunk trailer-section CRLF` (§7.1), data into `out`.
    fn chunks(&mut self, out: &mut Vec<u8>) -> Step<Vec<Field>> {
        loop {
            let start = self.at;
            let mut size: u64 = 0;
            while let Some(d) = (self.peek()? as char).to_digit(16) {
                // Any number of digits, as long as the size is a number.
                size = size
                    .checked_mul(16)
                    .and_then(|s| s.checked_add(d as u64))
                    .ok_or(Stop::Invalid("chunk size too large"))?;
                self.at += 1;
            }
            if self.at == start {
                return Err(Stop::Invalid("chunk size without digits"));
            }
            self.chunk_ext()?;
            self.expect(b"\r\n")?;
            if size == 0 {
                return self.fields();
            }
            let rest = (self.buf.len() - self.at) as u64;
            if rest < size {
                return Err(Stop::Partial);
            }
            out.extend_from_slice(&self.buf[self.at..self.at + size as usize]);
            self.at += size as usize;
            self.expect(b"\r\n")?;
        }
    }

    /// `*( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )`, up to the CR.
    fn chunk_ext(&mut self) -> Step<()> {
        loop {
            self.bws()?;
            match self.peek()? {
                b'\r' => return Ok(()),
                b';' => self.at += 1,
                _ => return Err(Stop::Invalid("bad chunk extension")),
            }
            self.bws()?;
            self.tokens()?;
            self.bws()?;
            if self.peek()? != b'=' {
                continue;
            }
            self.at += 1;
            self.bws()?;
            if self.peek()? == b'"' {
                self.quoted()?;
            } else {
                self.tokens()?;
            }
        }
    }

    fn bws(&mut self) -> Step<()> {
        while matches!(self.peek()?, b' ' | b'\t') {
            self.at += 1;
        }
        Ok(())
    }

    /// One or more tchar.
    fn tokens(&mut self) -> Step<()> {
        let start = self.at;
        while is_tchar(self.peek()?) {
            self.at += 1;
        }
        if self.at == start {
            return Err(Stop::Invalid("bad chunk extension"));
        }
        Ok(())
    }

    /// `DQUOTE *( qdtext / quoted-pair ) DQUOTE` (RFC 9110 §5.6.4).
    fn quoted(&mut self) -> Step<()> {
        self.at += 1;
        loop {
            let b = self.peek()?;
            self.at += 1;
            match b {
                b'"' => return Ok(()),
                b'\\' => {
                    let q = self.peek()?;
                    if !(q == b'\t' || q == b' ' || is_vchar_or_obs(q)) {
                        return Err(Stop::Invalid("bad quoted-pair"));
                    }
                    self.at += 1;
                }
                b'\t' | b' ' => {}
                b if is_vchar_or_obs(b) => {}
                _ => return Err(Stop::Invalid("bad quoted-string")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(r: Read) -> Message {
        match r {
            Read::Whole(m) => m,
            other => panic!("not whole: {other:?}"),
        }
    }

    #[test]
    fn reads_a_request_with_a_length_body() {
        let m = whole(request(
            b"\r\nPOST /a?b HTTP/1.1\r\nHost: x\r\nContent-Length:  3 \r\n\r\nabcGET",
        ));
        assert_eq!(m.method(), b"POST");
        assert_eq!(m.target(), b"/a?b");
        assert_eq!(m.fields[1], (b"Content-Length".to_vec(), b"3".to_vec()));
        assert_eq!(m.body, b"abc");
        assert_eq!(m.len, 2 + 55);
    }

    #[test]
    fn reads_chunks_with_extensions_and_trailers() {
        let b = b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
                  3 ; a=b;c = \"q\\\"x\"\r\nabc\r\n0\r\nT: 1\r\n\r\n";
        let m = whole(request(b));
        assert_eq!(m.body, b"abc");
        assert_eq!(m.trailers, vec![(b"T".to_vec(), b"1".to_vec())]);
        assert_eq!(m.len, b.len());
    }

    #[test]
    fn refuses_what_rfc_9112_refuses() {
        for (bad, why) in [
            (&b"GET / HTTP/1.1\nHost: x\r\n\r\n"[..], "bare LF"),
            (b"GET  / HTTP/1.1\r\n\r\n", "double space"),
            (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", "space before colon"),
            (b"GET / HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n", "obs-fold"),
            (b"GET / HTTP/1.1\r\nA: 1\0\r\n\r\n", "NUL in value"),
            (
                b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                "two lengths",
            ),
            (
                b"GET / HTTP/1.1\r\nContent-Length: +1\r\n\r\n",
                "signed length",
            ),
            (
                b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n",
                "TE+CL",
            ),
            (
                b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                "not last",
            ),
            (
                b"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
                "1.0 TE",
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\nx\r\n0\r\n\r\n",
                "bare LF size",
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;a b\r\nx\r\n0\r\n\r\n",
                "ext",
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxy\r\n0\r\n\r\n",
                "no CRLF after data",
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nnot a field\r\n\r\n",
                "trailer",
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n 1\r\nx\r\n0\r\n\r\n",
                "space before size",
            ),
        ] {
            assert!(matches!(request(bad), Read::Invalid(_)), "{why} accepted");
        }
    }

    #[test]
    fn partial_is_told_apart_from_invalid() {
        let full =
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2;x=\"a\"\r\nab\r\n0\r\n\r\n";
        for cut in 0..full.len() {
            assert_eq!(request(&full[..cut]), Read::Partial, "cut at {cut}");
        }
        assert!(matches!(request(full), Read::Whole(_)));
    }

    #[test]
    fn streams_stop_at_the_first_invalid_message() {
        let s = requests(
            b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\nContent-Length: x\r\n\r\nGET /3 HTTP/1.1\r\n\r\n",
            None,
        );
        assert_eq!(s.messages.len(), 1);
        assert_eq!(s.rest, Rest::Invalid(19, "Content-Length is not a number"));
    }

    #[test]
    fn a_101_starts_a_tunnel_and_a_refused_upgrade_does_not() {
        let up = b"GET /1 HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
        let next = b"GET /2 HTTP/1.1\r\n\r\n";
        let stream = [&up[..], next].concat();
        let (req, resp) = exchange(&stream, b"HTTP/1.1 101 Switching\r\n\r\n\x81\x00", false);
        assert_eq!((req.messages.len(), req.rest), (1, Rest::Partial(60)));
        assert_eq!((resp.messages.len(), resp.rest), (1, Rest::Partial(26)));
        let refused = b"HTTP/1.1 400 No\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        let (req, resp) = exchange(&stream, refused, false);
        assert_eq!((req.messages.len(), req.rest), (2, Rest::Empty));
        assert_eq!((resp.messages.len(), resp.rest), (2, Rest::Empty));
    }

    #[test]
    fn reads_responses_by_their_framing() {
        let stream = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi\
                       HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n\
                       HTTP/1.1 204 \r\n\r\nHTTP/1.1 200 OK\r\n\r\nrest";
        let s = responses(stream, &[false, true, false, false], true);
        let codes: Vec<u16> = s.messages.iter().map(Message::status).collect();
        assert_eq!(codes, [100, 200, 200, 204, 200]);
        assert_eq!(s.messages[4].body, b"rest");
        assert_eq!(s.rest, Rest::Empty);
        let s = responses(b"HTTP/1.1 200 OK\r\n\r\nrest", &[false], false);
        assert_eq!(s.rest, Rest::Partial(0));
        assert!(matches!(
            response(b"HTTP/1.1 200\r\n\r\n", false, true),
            Read::Invalid(_)
        ));
    }
}
