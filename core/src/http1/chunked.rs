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

const MAX_EXTENSION: usize = 4096;
const MAX_TRAILERS: usize = 16 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Size { digits: u8, value: u64 },
    SizeWs { value: u64 },
    Ext { value: u64, len: usize },
    SizeLf { value: u64 },
    Data(u64),
    DataCr,
    DataLf,
    TrailerStart { len: usize },
    TrailerLine { len: usize },
    TrailerLf { len: usize },
    EndLf,
    Done,
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

fn is_text(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

impl ChunkedReader {
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
                b' ' | b'\t' => State::SizeWs { value },
                b';' => State::Ext { value, len: 0 },
                b'\r' => State::SizeLf { value },
                b'\n' => return Err(ChunkError::BadLineEnding),
                _ => return Err(ChunkError::BadSize),
            },
            State::SizeWs { value } => match b {
                b' ' | b'\t' => State::SizeWs { value },
                b';' => State::Ext { value, len: 0 },
                b'\r' => State::SizeLf { value },
                b'\n' => return Err(ChunkError::BadLineEnding),
                _ => return Err(ChunkError::BadSize),
            },
            State::Ext { value, len } => match b {
                b'\r' => State::SizeLf { value },
                b'\n' => return Err(ChunkError::BadLineEnding),
                _ if is_text(b) && len < MAX_EXTENSION => State::Ext {
                    value,
                    len: len + 1,
                },
                _ => return Err(ChunkError::BadExtensionOrTrailer),
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
            State::TrailerStart { len } | State::TrailerLine { len } => {
                if len >= MAX_TRAILERS {
                    return Err(ChunkError::BadExtensionOrTrailer);
                }
                let at_start = matches!(self.state, State::TrailerStart { .. });
                match b {
                    b'\r' if at_start => State::EndLf,
                    b'\r' => State::TrailerLf { len: len + 1 },
                    b'\n' => return Err(ChunkError::BadLineEnding),
                    // A trailer line may not start with whitespace (obs-fold).
                    b' ' | b'\t' if at_start => return Err(ChunkError::BadExtensionOrTrailer),
                    _ if is_text(b) || b >= 0x80 => State::TrailerLine { len: len + 1 },
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
        ] {
            assert!(decode(bad, bad.len()).is_err(), "accepted {:?}", bad);
        }
    }
}
