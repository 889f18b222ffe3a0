//! Calls out of the core: what an exchange asks the outside world while
//! it waits (a Redis script, a forward-auth request).
//!
//! ```text
//!   layer ── Flow::Call ──► exchange parks ── Output::Call { id, call } ──► frontend
//!                               │ deadline in its timer slot                  │ one socket,
//!   layer ◄── on_reply ◄──── Reply::Expired                                   │ its own loop
//!   layer ◄── on_reply ◄──────────────────── Input::Reply { id, reply } ◄─────┘
//! ```
//!
//! The frontend does the I/O and nothing else: connect to [`Call::addr`]
//! (reusing an idle connection when [`Call::reuse`] says it may), write
//! [`Call::request`], read until [`reply_end`] says the reply is complete
//! (or the peer closes, for an HTTP reply without a length), and feed the
//! bytes back. Framing, deadlines and what a reply means stay here, so a
//! replay or the simulator scripts replies and stays deterministic.

pub mod resp;

use std::net::SocketAddr;

use bytes::Bytes;

use crate::http1::{
    parse::parse_response, response_framing, BodyReader, Framing, HeadScanner, ResponseHead,
};

/// One call of one connection (unique within it, with upstream ids).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CallId(pub u32);

/// How a call's reply is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Redis: this many RESP values, one per command sent.
    Resp {
        /// Values to read.
        replies: u8,
    },
    /// One HTTP/1.1 response.
    Http,
}

/// An outside call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// Where to connect.
    pub addr: SocketAddr,
    /// How the reply is framed.
    pub protocol: Protocol,
    /// The bytes to write.
    pub request: Bytes,
    /// The connection may be taken from, and given back to, a pool of
    /// idle connections to `addr` (Redis); false: a fresh connection,
    /// closed after the reply.
    pub reuse: bool,
}

/// How a call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The complete reply.
    Done(Bytes),
    /// No reply: refused, reset, closed early, malformed or too long
    /// (the frontend's reason, for a log line).
    Failed(&'static str),
    /// The deadline passed first (the core's own; frontends never send it).
    Expired,
}

/// Most bytes a reply may have.
pub const MAX_REPLY: usize = 64 * 1024;

/// Where the reply in `buf` ends: `Ok(Some(n))` when the first `n`
/// bytes are the whole reply, `Ok(None)` while more are needed, `Err`
/// when it can never be one (or is longer than [`MAX_REPLY`]).
pub fn reply_end(protocol: Protocol, buf: &[u8]) -> Result<Option<usize>, &'static str> {
    let end = match protocol {
        Protocol::Resp { replies } => resp::values_end(buf, replies)?,
        Protocol::Http => http_end(buf)?,
    };
    match end {
        None if buf.len() > MAX_REPLY => Err("reply too long"),
        end => Ok(end),
    }
}

/// The reply in `buf` when the peer closed: complete only for an HTTP
/// response delimited by the close.
pub fn reply_at_close(protocol: Protocol, buf: &[u8]) -> Option<usize> {
    match reply_end(protocol, buf) {
        Ok(Some(n)) => Some(n),
        Ok(None) if protocol == Protocol::Http && http_head(buf).is_ok_and(|h| h.is_some()) => {
            Some(buf.len())
        }
        _ => None,
    }
}

/// The head of the HTTP response in `buf` and where it ends, if complete.
fn http_head(buf: &[u8]) -> Result<Option<(ResponseHead, usize)>, &'static str> {
    let span = match HeadScanner::default().scan(buf, MAX_REPLY) {
        Ok(Some(span)) => span,
        Ok(None) => return Ok(None),
        Err(_) => return Err("malformed response head"),
    };
    let head = parse_response(&Bytes::copy_from_slice(&buf[span.skip..span.end]))
        .map_err(|_| "malformed response head")?;
    if head.status < 200 {
        return Err("interim response");
    }
    Ok(Some((head, span.end)))
}

fn http_end(buf: &[u8]) -> Result<Option<usize>, &'static str> {
    let Some((head, at)) = http_head(buf)? else {
        return Ok(None);
    };
    let framing = response_framing(false, head.status, head.version, &head.headers)
        .map_err(|e| e.reason())?;
    match framing {
        Framing::None => Ok(Some(at)),
        Framing::Length(n) => {
            let end = at as u64 + n;
            Ok((buf.len() as u64 >= end).then_some(end as usize))
        }
        Framing::Chunked => {
            let mut rest = Bytes::copy_from_slice(&buf[at..]);
            let total = rest.len();
            let mut reader = BodyReader::new(Framing::Chunked, true);
            while !rest.is_empty() && !reader.is_done() {
                reader.take(&mut rest).map_err(|e| e.reason())?;
            }
            Ok(reader.is_done().then(|| at + total - rest.len()))
        }
        Framing::UntilClose => Ok(None),
    }
}

/// An HTTP reply split into its head and its (de-chunked) body.
pub fn http_reply(bytes: &Bytes) -> Result<(ResponseHead, Bytes), &'static str> {
    let Some((head, at)) = http_head(bytes)? else {
        return Err("incomplete response");
    };
    let framing = response_framing(false, head.status, head.version, &head.headers)
        .map_err(|e| e.reason())?;
    let mut rest = bytes.slice(at..);
    let body = match framing {
        Framing::None => Bytes::new(),
        Framing::UntilClose => rest,
        Framing::Length(n) if rest.len() as u64 >= n => rest.slice(..n as usize),
        Framing::Length(_) => return Err("incomplete response"),
        Framing::Chunked => {
            let mut reader = BodyReader::new(Framing::Chunked, true);
            let mut body = bytes::BytesMut::new();
            while !rest.is_empty() && !reader.is_done() {
                body.extend_from_slice(&reader.take(&mut rest).map_err(|e| e.reason())?);
            }
            if !reader.is_done() {
                return Err("incomplete response");
            }
            body.freeze()
        }
    };
    Ok((head, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http_reply_ends_where_its_framing_says() {
        let end = |b: &[u8]| reply_end(Protocol::Http, b);
        assert_eq!(end(b"HTTP/1.1 200 OK\r\nContent-Le"), Ok(None));
        assert_eq!(end(b"HTTP/1.1 204 No Content\r\n\r\n"), Ok(Some(27)));
        let full = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 4\r\n\r\nnope";
        assert_eq!(end(&full[..full.len() - 1]), Ok(None));
        assert_eq!(end(full), Ok(Some(full.len())));
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
        assert_eq!(end(&chunked[..chunked.len() - 2]), Ok(None));
        assert_eq!(end(chunked), Ok(Some(chunked.len())));
        let (head, body) = http_reply(&Bytes::from_static(chunked)).unwrap();
        assert_eq!((head.status, &body[..]), (200, &b"ok"[..]));
        // No length: complete when the service closes.
        let open = b"HTTP/1.1 200 OK\r\n\r\nsome";
        assert_eq!(end(open), Ok(None));
        assert_eq!(reply_at_close(Protocol::Http, open), Some(open.len()));
        assert_eq!(reply_at_close(Protocol::Http, b"HTTP/1.1 200"), None);
        assert!(end(b"HTTP/1.1 100 Continue\r\n\r\n").is_err());
        assert!(end(b"junk\r\n\r\n").is_err());
        assert_eq!(
            end(&vec![b'x'; MAX_REPLY + 1]),
            Err("malformed response head")
        );
    }
}
