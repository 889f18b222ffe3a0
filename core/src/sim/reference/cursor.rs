//! The byte grammar of the reference reader: a cursor over the buffer
//! that reads tokens, field lines, the version and chunked bodies, and
//! says whether it stopped for want of bytes or at an invalid one.

use super::{Body, Field, Message, Read};

/// A position in the buffer being read.
pub(super) struct Cursor<'a> {
    buf: &'a [u8],
    at: usize,
}

/// Why a step of reading stopped.
pub(super) enum Stop {
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

pub(super) type Step<T> = Result<T, Stop>;

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

pub(super) fn is_vchar_or_obs(b: u8) -> bool {
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
    pub(super) fn new(buf: &'a [u8], at: usize) -> Self {
        Cursor { buf, at }
    }

    fn peek(&self) -> Step<u8> {
        self.buf.get(self.at).copied().ok_or(Stop::Partial)
    }

    /// The exact bytes `s`.
    pub(super) fn expect(&mut self, s: &[u8]) -> Step<()> {
        for &want in s {
            if self.peek()? != want {
                return Err(Stop::Invalid("unexpected byte"));
            }
            self.at += 1;
        }
        Ok(())
    }

    /// One or more bytes accepted by `ok`, then `end` (consumed).
    pub(super) fn run(&mut self, end: u8, ok: impl Fn(u8) -> bool) -> Step<Vec<u8>> {
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

    pub(super) fn token(&mut self, end: u8) -> Step<Vec<u8>> {
        self.run(end, is_tchar)
    }

    /// `HTTP/d.d` then `end`.
    pub(super) fn version(&mut self, end: &[u8]) -> Step<Vec<u8>> {
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
    pub(super) fn fields(&mut self) -> Step<Vec<Field>> {
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
    pub(super) fn body(
        mut self,
        body: Body,
        start: [Vec<u8>; 3],
        fields: Vec<Field>,
        eof: bool,
    ) -> Read {
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
    pub(super) fn chunks(&mut self, out: &mut Vec<u8>) -> Step<Vec<Field>> {
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
