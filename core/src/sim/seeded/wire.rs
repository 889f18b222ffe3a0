//! The bytes of a seeded world: what its clients write and how its
//! servers answer, each derived from a request's id so that the checker
//! can tell whose bytes it sees.

use super::Req;
use crate::rng::hash;
use crate::sim::reference::Message;

/// The body a request with this id carries, `n` bytes.
pub(super) fn body_of(id: u64, n: usize) -> Vec<u8> {
    let unit = format!("<{id}>");
    let mut body = unit.repeat(n / unit.len() + 1).into_bytes();
    body.truncate(n);
    body
}

/// The length of the body a server answers request `id` with.
pub(super) fn answer_len(id: u64) -> usize {
    (hash(&id.to_le_bytes()) % 3000) as usize
}

pub(super) fn field<'a>(m: &'a Message, name: &'a str) -> Option<&'a [u8]> {
    m.values(name).next()
}

pub(super) fn id_of(m: &Message, name: &str) -> Option<u64> {
    std::str::from_utf8(field(m, name)?).ok()?.parse().ok()
}

/// How the servers of a seeded world answer (see [`Mode`]).
pub(super) fn respond(m: &Message, mode: u8) -> Option<Vec<u8>> {
    let id = id_of(m, "x-id").unwrap_or(0);
    let n = answer_len(id);
    let body = if m.method() == b"HEAD" {
        Vec::new()
    } else {
        body_of(id, n)
    };
    let mut out = format!("HTTP/1.1 200 OK\r\nX-Echo: {id}\r\n").into_bytes();
    if mode != 1 && m.has_token("upgrade", "websocket") {
        return Some(
            format!("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nX-Echo: {id}\r\n\r\n")
                .into_bytes(),
        );
    }
    match mode {
        1 => None,
        2 => {
            out.extend_from_slice(format!("Content-Length: {n}\r\n\r\n").as_bytes());
            out.extend_from_slice(&body[..body.len() / 2]);
            Some(out)
        }
        _ if id % 2 == 0 && m.method() != b"HEAD" => {
            chunked(&mut out, &body, 700);
            Some(out)
        }
        _ => {
            out.extend_from_slice(format!("Content-Length: {n}\r\n\r\n").as_bytes());
            out.extend_from_slice(&body);
            Some(out)
        }
    }
}

/// Ends a head with `Transfer-Encoding: chunked` and appends `body` in
/// chunks of `piece` bytes and the last chunk.
pub(super) fn chunked(out: &mut Vec<u8>, body: &[u8], piece: usize) {
    out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
    for p in body.chunks(piece) {
        out.extend_from_slice(format!("{:x}\r\n", p.len()).as_bytes());
        out.extend_from_slice(p);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
}

/// The bytes a client writes for `r`.
pub(super) fn request_bytes(r: &Req) -> Vec<u8> {
    let path = if r.limited { "/limited/x" } else { "/x" };
    let mut out = format!(
        "{} {path}?id={} HTTP/1.1\r\nHost: h\r\nX-Id: {}\r\n",
        r.method, r.id, r.id
    )
    .into_bytes();
    if r.close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    if r.upgrade {
        out.extend_from_slice(
            b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
        );
    }
    let body = body_of(r.id, r.body);
    if r.chunked {
        chunked(&mut out, &body, 1000);
    } else {
        if r.body > 0 || matches!(r.method, "POST" | "PUT") {
            out.extend_from_slice(format!("Content-Length: {}\r\n", r.body).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&body);
    }
    out
}
