//! Incremental, zero-copy reader of `Transfer-Encoding: chunked` bodies.
//!
//! The reader never buffers: it looks at the bytes at hand and says how
//! many of them, from the front, are framing (size lines, CRLFs, trailer
//! section) or chunk data, keeping its position between calls. A caller
//! that forwards the body as-is takes every piece; a caller that removes
//! the chunking (for an HTTP/1.0 client) takes only the `Data` pieces.
//!
//! Strict: hex sizes that overflow, sizes without digits, whitespace
//! inside a size, and line endings other than CRLF (bare LF, bare CR) are
//! errors. Extensions are checked for control bytes and bounded.

/// The run at the front of the input and what it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Piece {
    /// This many bytes of chunk framing.
    Framing(usize),
    /// This many bytes of chunk data.
    Data(usize),
    /// This many bytes of framing that complete the body.
    End(usize),
}

/// Why a chunked body is malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkError {
    /// A chunk size that is missing, not hex, or overflows.
    BadSize,
    /// A line that does not end in CRLF.
    BadLineEnding,
    /// A control byte in an extension or trailer, or one too long.
    BadExtensionOrTrailer,
}

impl ChunkError {
    /// What went wrong, for logs.
    pub fn reason(self) -> &'static str {
        match self {
            ChunkError::BadSize => "invalid chunk size",
            ChunkError::BadLineEnding => "chunk line not ended by CRLF",
            ChunkError::BadExtensionOrTrailer => "invalid chunk extension or trailer",
        }
    }
}

const MAX_EXTENSION: u16 = 4096;
const MAX_TRAILERS: u16 = 16 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Size {
        digits: u8,
        value: u64,
    },
    /// After the size: extensions, `len` bytes of the line so far.
    Ext {
        value: u64,
        len: u16,
        at: ExtAt,
    },
    SizeLf {
        value: u64,
    },
    Data(u64),
    DataCr,
    DataLf,
    TrailerStart {
        len: u16,
    },
    TrailerName {
        len: u16,
    },
    TrailerLine {
        len: u16,
    },
    TrailerLf {
        len: u16,
    },
    EndLf,
    Done,
}

/// Where in `*( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )` a chunk
/// line is (RFC 9112 §7.1.1; `ext-val` is a token or a quoted-string).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ExtAt {
    /// Whitespace before `;` or the line's end (after the size or a value).
    Between,
    /// After `;`: whitespace, then a name.
    BeforeName,
    /// In a name.
    Name,
    /// Whitespace after a name: `=`, `;` or the end follow.
    AfterName,
    /// After `=`: whitespace, then a token or a quoted-string.
    BeforeValue,
    /// In a token value.
    Token,
    /// In a quoted-string value.
    Quoted,
    /// After a backslash in a quoted-string.
    Escaped,
}

/// A `tchar` (RFC 9110 §5.6.2).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The chunked-body state machine of one message.
#[derive(Clone, Debug)]
pub struct ChunkedReader {
    state: State,
}

impl Default for ChunkedReader {
    fn default() -> Self {
        ChunkedReader {
            state: State::Size {
                digits: 0,
                value: 0,
            },
        }
    }
}

/// A byte of a field value or quoted-string: HTAB, SP, VCHAR, obs-text.
fn is_text(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

impl ChunkedReader {
    /// True while chunk data is next (a size line just completed).
    pub fn in_data(&self) -> bool {
        matches!(self.state, State::Data(_))
    }

    /// The bytes of chunk data still to come in the current chunk, while
    /// in one.
    pub fn data_left(&self) -> Option<u64> {
        match self.state {
            State::Data(n) => Some(n),
            _ => None,
        }
    }

    /// A reader at the end of a chunk's data (its CRLF next).
    pub fn after_data() -> ChunkedReader {
        ChunkedReader {
            state: State::DataCr,
        }
    }

    /// Moves past `n` bytes of chunk data that were not shown to the
    /// reader (moved by someone else); at most [`Self::data_left`].
    pub fn skip_data(&mut self, n: u64) {
        if let State::Data(rem) = self.state {
            debug_assert!(n <= rem, "skipping {n} of {rem} data bytes");
            let left = rem.saturating_sub(n);
            self.state = if left == 0 {
                State::DataCr
            } else {
                State::Data(left)
            };
        }
    }

    /// True once the last chunk and the trailer section were read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Classifies the run at the front of `buf`; `None` when `buf` is empty
    /// or the body is already complete.
    pub fn next(&mut self, buf: &[u8]) -> Result<Option<Piece>, ChunkError> {
        if buf.is_empty() || self.state == State::Done {
            return Ok(None);
        }
        if let State::Data(rem) = self.state {
            let n = rem.min(buf.len() as u64);
            let left = rem - n;
            self.state = if left == 0 {
                State::DataCr
            } else {
                State::Data(left)
            };
            return Ok(Some(Piece::Data(n as usize)));
        }
        for (i, &b) in buf.iter().enumerate() {
            match self.transition(b) {
                Ok(Step::More) => {}
                Ok(Step::DataFollows) => return Ok(Some(Piece::Framing(i + 1))),
                Ok(Step::End) => return Ok(Some(Piece::End(i + 1))),
                // Report the good bytes before the bad one first; the bad
                // byte (left unconsumed) fails the next call. So what is
                // read before an error never depends on how input was split.
                Err(_) if i > 0 => return Ok(Some(Piece::Framing(i))),
                Err(e) => return Err(e),
            }
        }
        Ok(Some(Piece::Framing(buf.len())))
    }

    /// Moves past one framing byte; on error the state is unchanged.
    fn transition(&mut self, b: u8) -> Result<Step, ChunkError> {
        let next = match self.state {
            State::Size { digits, value } => match b {
                b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                    let d = (b as char).to_digit(16).unwrap_or(0) as u64;
                    let value = value
                        .checked_mul(16)
                        .and_then(|v| v.checked_add(d))
                        .ok_or(ChunkError::BadSize)?;
                    State::Size {
                        digits: digits.saturating_add(1),
                        value,
                    }
                }
                _ if digits == 0 => return Err(ChunkError::BadSize),
                b'\r' => State::SizeLf { value },
                #[cfg(feature = "test-mutants")]
                b'\n' if crate::mutant::raw_chunk_line() && value > 0 => {
                    self.state = State::Data(value);
                    return Ok(Step::DataFollows);
                }
                b'\n' => return Err(ChunkError::BadLineEnding),
                _ => {
                    let len = u16::from(digits);
                    let at = ExtAt::Between;
                    match Self::extension(at, b) {
                        Some(at) => State::Ext { value, len, at },
                        None => return Err(ChunkError::BadSize),
                    }
                }
            },
            State::Ext { value, len, at } => match b {
                b'\r'
                    if matches!(
                        at,
                        ExtAt::Between | ExtAt::Name | ExtAt::AfterName | ExtAt::Token
                    ) =>
                {
                    State::SizeLf { value }
                }
                b'\n' => return Err(ChunkError::BadLineEnding),
                _ if len >= MAX_EXTENSION => return Err(ChunkError::BadExtensionOrTrailer),
                _ => match Self::extension(at, b) {
                    Some(at) => State::Ext {
                        value,
                        len: len + 1,
                        at,
                    },
                    None => return Err(ChunkError::BadExtensionOrTrailer),
                },
            },
            State::SizeLf { value } => match b {
                b'\n' if value == 0 => State::TrailerStart { len: 0 },
                b'\n' => {
                    self.state = State::Data(value);
                    return Ok(Step::DataFollows);
                }
                _ => return Err(ChunkError::BadLineEnding),
            },
            State::DataCr => match b {
                b'\r' => State::DataLf,
                _ => return Err(ChunkError::BadLineEnding),
            },
            State::DataLf => match b {
                b'\n' => State::Size {
                    digits: 0,
                    value: 0,
                },
                _ => return Err(ChunkError::BadLineEnding),
            },
            State::TrailerStart { len }
            | State::TrailerName { len }
            | State::TrailerLine { len } => {
                if len >= MAX_TRAILERS {
                    return Err(ChunkError::BadExtensionOrTrailer);
                }
                let len = len + 1;
                // Each trailer line is a field line: `name ":" value`.
                match (self.state, b) {
                    (_, b'\n') => return Err(ChunkError::BadLineEnding),
                    (State::TrailerStart { .. }, b'\r') => State::EndLf,
                    (State::TrailerStart { .. } | State::TrailerName { .. }, _) if is_tchar(b) => {
                        State::TrailerName { len }
                    }
                    (State::TrailerName { .. }, b':') => State::TrailerLine { len },
                    (State::TrailerLine { .. }, b'\r') => State::TrailerLf { len },
                    (State::TrailerLine { .. }, _) if is_text(b) => State::TrailerLine { len },
                    _ => return Err(ChunkError::BadExtensionOrTrailer),
                }
            }
            State::TrailerLf { len } => match b {
                b'\n' => State::TrailerStart { len: len + 1 },
                _ => return Err(ChunkError::BadLineEnding),
            },
            State::EndLf => match b {
                b'\n' => {
                    self.state = State::Done;
                    return Ok(Step::End);
                }
                _ => return Err(ChunkError::BadLineEnding),
            },
            State::Data(_) | State::Done => unreachable!("handled by next()"),
        };
        self.state = next;
        Ok(Step::More)
    }
}

impl ChunkedReader {
    /// The extension grammar's next place after byte `b` (not CR or LF),
    /// or `None` when `b` may not stand there.
    fn extension(at: ExtAt, b: u8) -> Option<ExtAt> {
        let ws = b == b' ' || b == b'\t';
        Some(match at {
            ExtAt::Between if ws => ExtAt::Between,
            ExtAt::Between | ExtAt::Name | ExtAt::AfterName | ExtAt::Token if b == b';' => {
                ExtAt::BeforeName
            }
            ExtAt::BeforeName if ws => ExtAt::BeforeName,
            ExtAt::BeforeName | ExtAt::Name if is_tchar(b) => ExtAt::Name,
            ExtAt::Name | ExtAt::AfterName if ws => ExtAt::AfterName,
            ExtAt::Name | ExtAt::AfterName if b == b'=' => ExtAt::BeforeValue,
            ExtAt::BeforeValue if ws => ExtAt::BeforeValue,
            ExtAt::BeforeValue if b == b'"' => ExtAt::Quoted,
            ExtAt::BeforeValue | ExtAt::Token if is_tchar(b) => ExtAt::Token,
            ExtAt::Token if ws => ExtAt::Between,
            ExtAt::Quoted if b == b'"' => ExtAt::Between,
            ExtAt::Quoted if b == b'\\' => ExtAt::Escaped,
            ExtAt::Quoted | ExtAt::Escaped if is_text(b) => ExtAt::Quoted,
            _ => return None,
        })
    }
}

/// What one framing byte did.
enum Step {
    More,
    DataFollows,
    End,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the whole input, feeding it in pieces of `step` bytes; returns
    /// the data bytes and the count of bytes consumed through the end.
    fn decode(input: &[u8], step: usize) -> Result<(Vec<u8>, usize, bool), ChunkError> {
        let mut r = ChunkedReader::default();
        let mut data = Vec::new();
        let mut used = 0;
        let mut avail = 0;
        while used < input.len() && !r.is_done() {
            avail = (avail + step)
                .min(input.len())
                .max(used + 1)
                .min(input.len());
            while let Some(p) = r.next(&input[used..avail])? {
                match p {
                    Piece::Data(n) => {
                        data.extend_from_slice(&input[used..used + n]);
                        used += n;
                    }
                    Piece::Framing(n) | Piece::End(n) => used += n,
                }
            }
        }
        Ok((data, used, r.is_done()))
    }

    #[test]
    fn decodes_with_extensions_and_trailers_in_any_split() {
        let body = b"5;name=\"v\"\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        for step in 1..body.len() {
            let (data, used, done) = decode(body, step).unwrap();
            assert_eq!(data, b"hello0123456789");
            assert_eq!(used, body.len() - 4);
            assert!(done);
        }
    }

    #[test]
    fn accepts_the_whole_extension_grammar() {
        for good in [
            &b"1;a\r\nx\r\n0\r\n\r\n"[..],
            b"1 ; a ; b = c\t;d=\"q \\\" \xe9;\"\r\nx\r\n0 ;z\r\n\r\n",
            b"1\t\r\nx\r\n0\r\nT:\r\nU: v \xe9\r\n\r\n",
        ] {
            let (data, used, done) = decode(good, good.len()).unwrap();
            assert_eq!((data, used, done), (b"x".to_vec(), good.len(), true));
        }
    }

    #[test]
    fn says_what_is_wrong() {
        for (bad, want) in [
            (&b"5\nhello\r\n"[..], ChunkError::BadLineEnding),
            (b"1;a\n", ChunkError::BadLineEnding),
            (b"1\r\nx\r\n0\r\nX: 1\n", ChunkError::BadLineEnding),
            (b"1\r\nx\r\n0\r\nX\n", ChunkError::BadLineEnding),
            (b"1;a=\x01\r\n", ChunkError::BadExtensionOrTrailer),
            (b"1;a= \x01\r\n", ChunkError::BadExtensionOrTrailer),
            (
                b"1\r\nx\r\n0\r\nX: a\x01b\r\n\r\n",
                ChunkError::BadExtensionOrTrailer,
            ),
            (
                b"1\r\nx\r\n0\r\nX: a\x7f\r\n\r\n",
                ChunkError::BadExtensionOrTrailer,
            ),
            (b"g\r\n", ChunkError::BadSize),
        ] {
            assert_eq!(
                decode(bad, bad.len()),
                Err(want),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(ChunkError::BadSize.reason(), "invalid chunk size");
        assert_eq!(
            ChunkError::BadLineEnding.reason(),
            "chunk line not ended by CRLF"
        );
        assert_eq!(
            ChunkError::BadExtensionOrTrailer.reason(),
            "invalid chunk extension or trailer"
        );
    }

    #[test]
    fn caps_the_trailer_section() {
        let field = |n: usize| format!("X-{n}: {}\r\n", "v".repeat(100));
        // 16 KiB: about 15 KiB of fields pass, about 17 KiB do not.
        let fits: String = (0..140).map(field).collect();
        let over: String = (0..160).map(field).collect();
        let ok = format!("0\r\n{fits}\r\n");
        assert!(decode(ok.as_bytes(), 7).unwrap().2);
        let bad = format!("0\r\n{over}\r\n");
        assert_eq!(
            decode(bad.as_bytes(), 7),
            Err(ChunkError::BadExtensionOrTrailer)
        );
    }

    #[test]
    fn caps_a_chunk_line() {
        let mut line = b"1;a=".to_vec();
        line.resize(usize::from(MAX_EXTENSION) + 10, b'b');
        line.extend_from_slice(b"\r\nx\r\n");
        assert_eq!(
            decode(&line, line.len()),
            Err(ChunkError::BadExtensionOrTrailer)
        );
    }

    #[test]
    fn rejects_bad_sizes_and_line_endings() {
        for bad in [
            &b"\r\n"[..],
            b"g\r\n",
            b"-1\r\n",
            b"1 2\r\nx\r\n",
            b"0x5\r\n",
            b"10000000000000000\r\n",
            b"5\nhello\r\n",
            b"5\rhello\r\n",
            b"5\r\nhelloXX",
            b"5\r\nhello\n0\r\n\r\n",
            b"0\r\nX: 1\n\r\n",
            b"0\r\n\n",
            b"0\r\n folded\r\n\r\n",
            b"1;a\x01\r\n",
            // Outside the extension grammar (RFC 9112 §7.1.1).
            b"1;\r\nx\r\n",
            b"1;a b\r\nx\r\n",
            b"1;a=\r\nx\r\n",
            b"1;a=b c\r\nx\r\n",
            b"1;a=\"b\r\nx\r\n",
            b"1;a=\"b\x00\"\r\nx\r\n",
            b"1;\xe9=1\r\nx\r\n",
            b"1;a=\xe9\r\nx\r\n",
            b"1 x\r\nx\r\n",
            b"1;a=b@\r\nx\r\n",
            b"1;a@\r\nx\r\n",
            b"1;a=\"b\"@\r\nx\r\n",
            // Trailers are field lines.
            b"0\r\nno colon\r\n\r\n",
            b"0\r\n: empty name\r\n\r\n",
            b"0\r\nX : 1\r\n\r\n",
        ] {
            assert!(decode(bad, bad.len()).is_err(), "accepted {:?}", bad);
        }
    }
}
