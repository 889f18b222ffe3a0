//! One body reader per framing, each with an explicit end-of-stream rule.
//!
//! A reader takes slices off the front of received `Bytes` (zero-copy) and
//! hands back what is to be forwarded.

use bytes::Bytes;

use super::chunked::{ChunkError, ChunkedReader, Piece};
use super::framing::Framing;

/// Reads one message body off a stream of received bytes.
#[derive(Clone, Debug)]
pub enum BodyReader {
    /// Exactly this many bytes remain.
    Length(u64),
    /// Chunked; `dechunk` strips the framing (for HTTP/1.0 receivers).
    Chunked {
        /// The chunk state machine.
        reader: ChunkedReader,
        /// Forward only chunk data.
        dechunk: bool,
    },
    /// Everything until the sender closes.
    UntilClose,
    /// Nothing (left).
    Done,
}

impl BodyReader {
    /// The reader for a framing.
    pub fn new(framing: Framing, dechunk: bool) -> BodyReader {
        match framing {
            Framing::None | Framing::Length(0) => BodyReader::Done,
            Framing::Length(n) => BodyReader::Length(n),
            Framing::Chunked => BodyReader::Chunked {
                reader: ChunkedReader::default(),
                dechunk,
            },
            Framing::UntilClose => BodyReader::UntilClose,
        }
    }

    /// True once the whole body was read.
    pub fn is_done(&self) -> bool {
        matches!(self, BodyReader::Done)
    }

    /// Takes the next piece to forward off the front of `input`. Returns an
    /// empty `Bytes` when `input` held only framing or is exhausted; call
    /// again while `input` is non-empty and the body is not done.
    pub fn take(&mut self, input: &mut Bytes) -> Result<Bytes, ChunkError> {
        match self {
            BodyReader::Done => Ok(Bytes::new()),
            BodyReader::UntilClose => Ok(input.split_to(input.len())),
            BodyReader::Length(rem) => {
                let n = (*rem).min(input.len() as u64);
                *rem -= n;
                let piece = input.split_to(n as usize);
                if *rem == 0 {
                    *self = BodyReader::Done;
                }
                Ok(piece)
            }
            BodyReader::Chunked { reader, dechunk } => {
                if *dechunk {
                    while let Some(p) = reader.next(input)? {
                        match p {
                            Piece::Data(n) => return Ok(input.split_to(n)),
                            Piece::Framing(n) => drop(input.split_to(n)),
                            Piece::End(n) => {
                                drop(input.split_to(n));
                                *self = BodyReader::Done;
                                return Ok(Bytes::new());
                            }
                        }
                    }
                    Ok(Bytes::new())
                } else {
                    let mut used = 0;
                    let mut ended = false;
                    loop {
                        let p = match reader.next(&input[used..]) {
                            Ok(Some(p)) => p,
                            Ok(None) => break,
                            // Hand out the valid prefix first: the error comes
                            // again on the next call, so the bytes forwarded
                            // before it never depend on how reads were split.
                            Err(_) if used > 0 => break,
                            Err(e) => return Err(e),
                        };
                        match p {
                            Piece::Data(n) | Piece::Framing(n) => used += n,
                            Piece::End(n) => {
                                used += n;
                                ended = true;
                                break;
                            }
                        }
                    }
                    let piece = input.split_to(used);
                    if ended {
                        *self = BodyReader::Done;
                    }
                    Ok(piece)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_valid_prefix_comes_before_the_error() {
        // Read whole or in pieces, the same bytes are handed out before
        // the error: the good chunk first, the error on the next call.
        let mut r = BodyReader::new(Framing::Chunked, false);
        let mut input = Bytes::from_static(b"2\r\nab\r\nzz\r\n");
        assert_eq!(&r.take(&mut input).unwrap()[..], b"2\r\nab\r\n");
        assert_eq!(r.take(&mut input), Err(ChunkError::BadSize));
        assert_eq!(&input[..], b"zz\r\n");
    }

    #[test]
    fn dechunking_hands_out_only_data_and_lengths_end_exactly() {
        let mut r = BodyReader::new(Framing::Chunked, true);
        let mut input = Bytes::from_static(b"2\r\nab\r\n1\r\nc\r\n0\r\n\r\nNEXT");
        let mut out = Vec::new();
        while !r.is_done() {
            out.extend_from_slice(&r.take(&mut input).unwrap());
        }
        assert_eq!((&out[..], &input[..]), (&b"abc"[..], &b"NEXT"[..]));
        let mut r = BodyReader::new(Framing::Length(3), false);
        let mut input = Bytes::from_static(b"abcdef");
        assert_eq!(&r.take(&mut input).unwrap()[..], b"abc");
        assert!(r.is_done());
        assert_eq!(&input[..], b"def");
    }
}
