//! One body reader per framing, each with an explicit end-of-stream rule.
//!
//! A reader takes slices off the front of received `Bytes` (zero-copy) and
//! hands back what is to be forwarded.

use bytes::{Bytes, BytesMut};

use super::chunked::{ChunkError, ChunkedReader, Piece};
use super::framing::Framing;

/// Reads one message body off a stream of received bytes.
#[derive(Clone, Debug)]
pub enum BodyReader {
    /// Exactly this many bytes remain.
    Length(u64),
    /// Chunked; `dechunk` strips the framing (for HTTP/1.0 receivers),
    /// else the framing is forwarded re-framed (see [`reframe`]).
    Chunked {
        /// The chunk state machine.
        reader: ChunkedReader,
        /// Forward only chunk data.
        dechunk: bool,
        /// Framing bytes of a run that is not complete yet (a line split
        /// across reads): held back until the run is whole and valid (a
        /// slice of the read it came in; copied only when a run spans
        /// more than two reads, or must be rebuilt). Boxed to keep every
        /// connection small, and the box kept once made (empty: nothing
        /// held), so a body allocates it at most once.
        held: Option<Box<Bytes>>,
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
                held: None,
            },
            Framing::UntilClose => BodyReader::UntilClose,
        }
    }

    /// True once the whole body was read.
    pub fn is_done(&self) -> bool {
        matches!(self, BodyReader::Done)
    }

    /// How many of the next bytes are body bytes that go out exactly as
    /// they come (the rest of a body of known length, or the rest of the
    /// current chunk's data), so that someone else may move them; `None`
    /// when the next bytes are framing or their number is unknown.
    pub fn verbatim(&self) -> Option<u64> {
        match self {
            BodyReader::Length(n) => Some(*n),
            BodyReader::Chunked { reader, held, .. }
                if held.as_ref().is_none_or(|h| h.is_empty()) =>
            {
                reader.data_left()
            }
            _ => None,
        }
    }

    /// The reader turned into its verbatim run (see [`Self::verbatim`]),
    /// smaller than the reader while someone else moves it; the reader
    /// handed back when the next bytes are not verbatim.
    pub fn into_verbatim(self) -> Result<Verbatim, BodyReader> {
        let Some(left) = self.verbatim() else {
            return Err(self);
        };
        let then = match self {
            BodyReader::Chunked { dechunk, .. } => Then::ChunkEnd { dechunk },
            _ => Then::End,
        };
        Ok(Verbatim { left, then })
    }

    /// Moves past `n` of the bytes [`Self::verbatim`] announced, which
    /// someone else moved.
    pub fn moved(&mut self, n: u64) {
        match self {
            BodyReader::Length(left) => {
                *left = left.saturating_sub(n);
                if *left == 0 {
                    *self = BodyReader::Done;
                }
            }
            BodyReader::Chunked { reader, .. } => reader.skip_data(n),
            _ => debug_assert!(false, "moved({n}) with nothing verbatim"),
        }
    }

    /// Drops as much of the body as `input` holds (a body nobody
    /// forwards); how many bytes of `input` that took.
    pub fn skip(&mut self, input: &mut Bytes) -> Result<usize, ChunkError> {
        let start = input.len();
        while !input.is_empty() && !self.is_done() {
            let before = input.len();
            let piece = self.take(input)?;
            if piece.is_empty() && input.len() == before {
                break;
            }
        }
        Ok(start - input.len())
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
            BodyReader::Chunked {
                reader,
                dechunk: true,
                ..
            } => {
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
            }
            BodyReader::Chunked { reader, held, .. } => {
                // One piece per call: chunk data as it came (zero-copy), or
                // a whole framing run (the end of the data before, the next
                // size line, or the last chunk and its trailers), re-framed.
                let before = reader.clone();
                let Some(p) = reader.next(input)? else {
                    return Ok(Bytes::new());
                };
                let (n, ended) = match p {
                    Piece::Data(n) => return Ok(input.split_to(n)),
                    Piece::Framing(n) => (n, false),
                    Piece::End(n) => (n, true),
                };
                if !ended && !reader.in_data() {
                    // The run goes on in the next read (or is bad there):
                    // nothing of it is forwarded yet.
                    let part = input.split_to(n);
                    let h = held.get_or_insert_with(Default::default);
                    **h = match h.is_empty() {
                        true => part,
                        false => [&h[..], &part[..]].concat().into(),
                    };
                    return Ok(Bytes::new());
                }
                let first = held
                    .as_deref_mut()
                    .filter(|h| !h.is_empty())
                    .map(std::mem::take);
                let run = match first {
                    None => input.split_to(n),
                    Some(h) if is_plain(&h) && is_plain(&input[..n]) => {
                        // Whole and plain: its first part goes out now and
                        // the rest is read again on the next call (no copy).
                        *reader = before;
                        return Ok(h);
                    }
                    Some(h) => [&h[..], &input.split_to(n)[..]].concat().into(),
                };
                if ended {
                    *self = BodyReader::Done;
                }
                Ok(reframe(run))
            }
        }
    }
}

/// A run of body bytes that go out exactly as they come, being moved by
/// someone else, and what follows it.
#[derive(Clone, Copy, Debug)]
pub struct Verbatim {
    left: u64,
    then: Then,
}

/// What follows a verbatim run.
#[derive(Clone, Copy, Debug)]
enum Then {
    /// The body's end.
    End,
    /// The CRLF that ends a chunk's data.
    ChunkEnd { dechunk: bool },
}

impl Verbatim {
    /// Bytes of the run still to come.
    pub fn left(&self) -> u64 {
        self.left
    }

    /// Moves past `n` bytes of the run.
    pub fn moved(&mut self, n: u64) {
        debug_assert!(n <= self.left, "moved({n}) of {}", self.left);
        self.left = self.left.saturating_sub(n);
    }

    /// The reader for what follows the run (once it is over): done, or
    /// reading the end of the chunk.
    pub fn after(self) -> BodyReader {
        match self.then {
            Then::End => BodyReader::Done,
            Then::ChunkEnd { dechunk } => BodyReader::Chunked {
                reader: ChunkedReader::after_data(),
                dechunk,
                held: None,
            },
        }
    }
}

/// Framing that goes out as it came: hex digits and line ends only (no
/// extension, no trailer, no whitespace).
fn is_plain(run: &[u8]) -> bool {
    run.iter()
        .all(|&b| b.is_ascii_hexdigit() || b == b'\r' || b == b'\n')
}

/// A complete framing run as it is forwarded: as it came when it is
/// already plain (hex digits and line ends only: no extension, no
/// trailer, no whitespace), else rebuilt: chunk extensions dropped (no hop
/// needs them), trailer fields re-serialised from what was parsed, and
/// the fields that must not be trailers (RFC 9110 §6.5.1: framing,
/// routing, request modifiers, authentication, response control, content
/// description) dropped.
pub fn reframe(run: Bytes) -> Bytes {
    if is_plain(&run) {
        return run;
    }
    let mut out = BytesMut::with_capacity(run.len());
    let mut rest = &run[..];
    if let Some(r) = rest.strip_prefix(b"\r\n") {
        out.extend_from_slice(b"\r\n");
        rest = r;
    }
    let digits = rest.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    out.extend_from_slice(&rest[..digits]);
    out.extend_from_slice(b"\r\n");
    let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") else {
        return out.freeze();
    };
    let last_chunk = rest[..digits].iter().all(|&b| b == b'0');
    if !last_chunk {
        return out.freeze();
    }
    // The trailer section: field lines up to the empty line.
    for line in rest[line_end + 2..].split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = &line[..colon];
        if name.is_empty() || !may_trail(name) {
            continue;
        }
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(super::head::trim(&line[colon + 1..]));
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.freeze()
}

/// Whether a field may be sent as a trailer (RFC 9110 §6.5.1).
fn may_trail(name: &[u8]) -> bool {
    const NEVER: &[&[u8]] = &[
        b"transfer-encoding",
        b"content-length",
        b"host",
        b"cache-control",
        b"expect",
        b"max-forwards",
        b"pragma",
        b"range",
        b"te",
        b"if-match",
        b"if-none-match",
        b"if-modified-since",
        b"if-unmodified-since",
        b"if-range",
        b"authorization",
        b"proxy-authorization",
        b"proxy-authenticate",
        b"www-authenticate",
        b"cookie",
        b"set-cookie",
        b"age",
        b"expires",
        b"date",
        b"location",
        b"retry-after",
        b"vary",
        b"warning",
        b"content-encoding",
        b"content-type",
        b"content-range",
        b"trailer",
        b"connection",
        b"keep-alive",
        b"upgrade",
    ];
    !NEVER.iter().any(|n| n.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything `r` hands out for `input` fed in pieces of `step`
    /// bytes, and the error that stopped it, if any.
    fn forward(input: &[u8], step: usize) -> (Vec<u8>, Option<ChunkError>) {
        let mut r = BodyReader::new(Framing::Chunked, false);
        let mut out = Vec::new();
        for piece in input.chunks(step) {
            let mut b = Bytes::copy_from_slice(piece);
            while !b.is_empty() && !r.is_done() {
                match r.take(&mut b) {
                    Ok(p) => out.extend_from_slice(&p),
                    Err(e) => return (out, Some(e)),
                }
            }
        }
        (out, None)
    }

    #[test]
    fn the_valid_prefix_comes_before_the_error_and_nothing_of_a_bad_line() {
        // However the input is cut, the same bytes go out before the
        // error: the whole chunks before the bad line, nothing of it.
        for step in 1..12 {
            let (out, e) = forward(b"2\r\nab\r\n3;a=\x01\r\nabc\r\n", step);
            assert_eq!(
                (&out[..], e),
                (&b"2\r\nab"[..], Some(ChunkError::BadExtensionOrTrailer)),
                "step {step}"
            );
            let (out, e) = forward(b"2\r\nab\r\nzz\r\n", step);
            assert_eq!(
                (&out[..], e),
                (&b"2\r\nab"[..], Some(ChunkError::BadSize)),
                "step {step}"
            );
        }
    }

    #[test]
    fn extensions_are_dropped_and_trailers_re_serialised_and_filtered() {
        let input = b"3 ; name=\"quoted\" ; x\r\nabc\r\n002\r\nde\r\n0;last\r\nX-Sum:  12 \r\nContent-Length: 5\r\nhost:evil\r\nX-Other:\tv\r\n\r\nNEXT";
        let want = b"3\r\nabc\r\n002\r\nde\r\n0\r\nX-Sum: 12\r\nX-Other: v\r\n\r\n";
        for step in [1, 2, 5, 7, 100] {
            let (out, e) = forward(&input[..input.len() - 4], step);
            assert_eq!(
                (String::from_utf8_lossy(&out), e),
                (String::from_utf8_lossy(want), None),
                "step {step}"
            );
        }
        // Plain framing goes out as it came, zero-copy.
        let plain = Bytes::from_static(b"\r\n0\r\n\r\n");
        assert_eq!(reframe(plain.clone()).as_ptr(), plain.as_ptr());
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
