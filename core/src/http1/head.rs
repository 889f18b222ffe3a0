//! Parsed message heads. Header names keep their case and order; values and
//! names are `Bytes` slices of the received head (no copy per header).

use bytes::{BufMut, Bytes, BytesMut};

/// The HTTP version of a message: only 1.0 and 1.1 exist on this wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: close by default, no chunked framing.
    Http10,
    /// HTTP/1.1: keep-alive by default.
    Http11,
}

impl Version {
    /// The version as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

/// One header field, name case preserved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Field name as received (or as set by a layer).
    pub name: Bytes,
    /// Field value, without surrounding whitespace.
    pub value: Bytes,
}

/// An ordered header list with case-insensitive lookup.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers {
    list: Vec<Header>,
}

impl Headers {
    /// An empty list with room for `n` fields.
    pub fn with_capacity(n: usize) -> Headers {
        Headers {
            list: Vec::with_capacity(n),
        }
    }

    /// Removes every field, keeping the memory.
    pub fn clear(&mut self) {
        self.list.clear();
    }

    /// Makes room for `n` more fields.
    pub fn reserve(&mut self, n: usize) {
        self.list.reserve(n);
    }

    /// All fields in order.
    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.list.iter()
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// True when there is no field.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&Bytes> {
        self.list
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name.as_bytes()))
            .map(|h| &h.value)
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Bytes> + 'a {
        self.list
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name.as_bytes()))
            .map(|h| &h.value)
    }

    /// True when `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Appends a field at the end.
    pub fn append(&mut self, name: impl Into<Bytes>, value: impl Into<Bytes>) {
        self.list.push(Header {
            name: name.into(),
            value: value.into(),
        });
    }

    /// Removes every field called `name`; returns how many were removed.
    pub fn remove(&mut self, name: &[u8]) -> usize {
        let before = self.list.len();
        self.list.retain(|h| !h.name.eq_ignore_ascii_case(name));
        before - self.list.len()
    }

    /// Keeps only the fields for which `keep` is true.
    pub fn retain(&mut self, keep: impl FnMut(&Header) -> bool) {
        self.list.retain(keep);
    }

    /// Replaces every field called `name` by one field with `value`, kept at
    /// the place of the first one (or appended).
    pub fn set(&mut self, name: impl Into<Bytes>, value: impl Into<Bytes>) {
        let name = name.into();
        let value = value.into();
        match self
            .list
            .iter()
            .position(|h| h.name.eq_ignore_ascii_case(&name))
        {
            Some(i) => {
                self.list[i].value = value;
                let mut j = i + 1;
                while j < self.list.len() {
                    if self.list[j].name.eq_ignore_ascii_case(&name) {
                        self.list.remove(j);
                    } else {
                        j += 1;
                    }
                }
            }
            None => self.list.push(Header { name, value }),
        }
    }

    /// True when a comma-separated list header `name` holds `token`
    /// (case-insensitive), for example `Connection: keep-alive, Upgrade`.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.get_all(name).any(|v| {
            v.split(|&b| b == b',')
                .any(|t| trim(t).eq_ignore_ascii_case(token.as_bytes()))
        })
    }

    /// Writes `Name: value\r\n` for every field.
    pub fn write_to(&self, out: &mut BytesMut) {
        for h in &self.list {
            out.put_slice(&h.name);
            out.put_slice(b": ");
            out.put_slice(&h.value);
            out.put_slice(b"\r\n");
        }
    }

    /// Bytes `write_to` will produce.
    pub fn wire_len(&self) -> usize {
        self.list
            .iter()
            .map(|h| h.name.len() + h.value.len() + 4)
            .sum()
    }
}

/// Trims optional whitespace (SP, HTAB) around a list element.
pub fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// A request head: request line and fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// Method token, e.g. `GET`.
    pub method: Bytes,
    /// Request target in origin-form (`/path?query`), or `*` for `OPTIONS *`.
    pub target: Bytes,
    /// Protocol version of the request line.
    pub version: Version,
    /// Header fields in received order.
    pub headers: Headers,
}

impl RequestHead {
    /// The path part of the target (before `?`).
    pub fn path(&self) -> &[u8] {
        let t = &self.target[..];
        match t.iter().position(|&b| b == b'?') {
            Some(i) => &t[..i],
            None => t,
        }
    }

    /// The query part of the target (after `?`), if any.
    pub fn query(&self) -> Option<&[u8]> {
        let t = &self.target[..];
        t.iter().position(|&b| b == b'?').map(|i| &t[i + 1..])
    }

    /// True for methods that may be replayed on another server (RFC 9110 §9.2.2).
    pub fn is_idempotent(&self) -> bool {
        matches!(
            &self.method[..],
            b"GET" | b"HEAD" | b"OPTIONS" | b"PUT" | b"DELETE" | b"TRACE"
        )
    }

    /// Serialises the head as HTTP/1.1 (`extra` fields follow the head's own).
    pub fn write_to(&self, out: &mut BytesMut) {
        out.reserve(self.method.len() + self.target.len() + 13 + self.headers.wire_len() + 2);
        out.put_slice(&self.method);
        out.put_u8(b' ');
        out.put_slice(&self.target);
        out.put_slice(b" HTTP/1.1\r\n");
        self.headers.write_to(out);
    }
}

/// A response head: status line and fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    /// Protocol version of the status line as received.
    pub version: Version,
    /// Status code, 100..=999.
    pub status: u16,
    /// Reason phrase (may be empty).
    pub reason: Bytes,
    /// Header fields in received order.
    pub headers: Headers,
}

impl ResponseHead {
    /// A fresh head with the canonical reason phrase for `status`.
    pub fn new(status: u16) -> ResponseHead {
        ResponseHead {
            version: Version::Http11,
            status,
            reason: Bytes::from_static(reason(status).as_bytes()),
            headers: Headers::with_capacity(4),
        }
    }

    /// Serialises the status line and fields (without the final empty line).
    pub fn write_to(&self, out: &mut BytesMut) {
        out.reserve(self.reason.len() + 16 + self.headers.wire_len() + 2);
        out.put_slice(b"HTTP/1.1 ");
        let s = self.status;
        out.put_slice(&[
            b'0' + (s / 100 % 10) as u8,
            b'0' + (s / 10 % 10) as u8,
            b'0' + (s % 10) as u8,
            b' ',
        ]);
        out.put_slice(&self.reason);
        out.put_slice(b"\r\n");
        self.headers.write_to(out);
    }
}

/// The canonical reason phrase of the statuses weir itself produces.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}
