//! A lenient splitter of recorded HTTP/1.1 streams, for scripting: it
//! cuts a server's recorded bytes into one response per request (replay,
//! the fuzz target's server half) and counts a capture's requests. It
//! reads whatever it is given, valid or not, so it is no oracle: the fuzz
//! invariants use the strict [reference](super::reference) reader.

/// Length of the first complete request in `buf` (head plus a
/// `Content-Length` or chunked body), if it is all there.
pub fn complete_request(buf: &[u8]) -> Option<usize> {
    request_at(buf).map(|(n, _)| n)
}

/// Length of the first complete request and whether it is a HEAD.
fn request_at(buf: &[u8]) -> Option<(usize, bool)> {
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut req = httparse::Request::new(&mut headers);
    let head = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => return None,
    };
    let is_head = req.method == Some("HEAD");
    let mut len = 0usize;
    let mut chunked = false;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            len = list_length(h.value)?;
        }
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = true;
        }
    }
    if chunked {
        return chunked_len(&buf[head..]).map(|n| (head + n, is_head));
    }
    let end = head.checked_add(len)?;
    (buf.len() >= end).then_some((end, is_head))
}

/// A Content-Length value, which RFC 9110 §8.6 lets be a list of
/// identical numbers (`5, 5`).
fn list_length(v: &[u8]) -> Option<usize> {
    let mut n = None;
    for item in std::str::from_utf8(v).ok()?.split(',') {
        let m: usize = item.trim().parse().ok()?;
        if n.is_some_and(|n| n != m) {
            return None;
        }
        n = Some(m);
    }
    n
}

/// Splits a client stream into requests; returns each request's bytes and
/// whether it is a HEAD. Trailing bytes that do not form a request are
/// returned as a last, incomplete piece.
pub fn split_requests(stream: &[u8]) -> Vec<(Vec<u8>, bool)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < stream.len() {
        match request_at(&stream[at..]) {
            Some((n, head)) if n > 0 => {
                out.push((stream[at..at + n].to_vec(), head));
                at += n;
            }
            _ => {
                out.push((stream[at..].to_vec(), false));
                break;
            }
        }
    }
    out
}

/// Splits a server stream into one piece per request (interim 1xx
/// responses stay with their final response). `heads` says which
/// requests were HEAD. A response without length takes the rest.
pub fn split_responses(stream: &[u8], heads: &[bool]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut current = Vec::new();
    let mut i = 0;
    while at < stream.len() {
        let mut headers = [httparse::EMPTY_HEADER; 128];
        let mut resp = httparse::Response::new(&mut headers);
        let head = match resp.parse(&stream[at..]) {
            Ok(httparse::Status::Complete(n)) => n,
            _ => {
                current.extend_from_slice(&stream[at..]);
                break;
            }
        };
        let code = resp.code.unwrap_or(0);
        let mut len = None;
        let mut chunked = false;
        for h in resp.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                len = std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.trim().parse::<usize>().ok());
            }
            if h.name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = true;
            }
        }
        let no_body =
            heads.get(i).copied().unwrap_or(false) || code < 200 || code == 204 || code == 304;
        let body = if no_body {
            0
        } else if chunked {
            chunked_len(&stream[at + head..]).unwrap_or(stream.len() - at - head)
        } else {
            len.unwrap_or(stream.len() - at - head)
        };
        let end = at
            .saturating_add(head)
            .saturating_add(body)
            .min(stream.len());
        current.extend_from_slice(&stream[at..end]);
        at = end;
        if (100..200).contains(&code) && code != 101 {
            continue;
        }
        out.push(std::mem::take(&mut current));
        i += 1;
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Length of a complete chunked body (with trailers), if it is all there.
pub fn chunked_len(b: &[u8]) -> Option<usize> {
    let line_end = |from: usize| {
        b.get(from..)?
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|i| from + i)
    };
    let mut at = 0;
    loop {
        let end = line_end(at)?;
        // The size is the hex digits before any extension (whose bytes
        // need not be UTF-8).
        let line = &b[at..end];
        let digits = line.split(|&c| c == b';').next()?;
        let size = usize::from_str_radix(std::str::from_utf8(digits).ok()?.trim(), 16).ok()?;
        at = end + 2;
        if size == 0 {
            loop {
                let end = line_end(at)?;
                let empty = end == at;
                at = end + 2;
                if empty {
                    return Some(at);
                }
            }
        }
        at = at.checked_add(size)?.checked_add(2)?;
        if at > b.len() {
            return None;
        }
    }
}
