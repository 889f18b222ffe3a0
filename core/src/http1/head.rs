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

/// Where a field's bytes are: inside the received head, or owned.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Text {
    /// `len` bytes at `at` in the head the fields were parsed from: no
    /// reference count is touched per field.
    In { at: u32, len: u32 },
    /// Set by the core or a layer.
    Own(Bytes),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Field {
    name: Text,
    value: Text,
}

impl Text {
    fn len(&self) -> usize {
        match self {
            Text::In { len, .. } => *len as usize,
            Text::Own(b) => b.len(),
        }
    }
}

/// An ordered header list with case-insensitive lookup. Names keep their
/// case and order. Parsed fields are ranges of the received head (one
/// shared `Bytes` for all of them); fields set later own their bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers {
    src: Bytes,
    list: Vec<Field>,
}

impl Headers {
    /// An empty list with room for `n` fields.
    pub fn with_capacity(n: usize) -> Headers {
        Headers {
            src: Bytes::new(),
            list: Vec::with_capacity(n),
        }
    }

    /// Removes every field, keeping the memory.
    pub fn clear(&mut self) {
        self.list.clear();
        self.src = Bytes::new();
    }

    /// Makes room for `n` more fields.
    pub fn reserve(&mut self, n: usize) {
        self.list.reserve(n);
    }

    /// Starts a list over the fields of `head` (see [`Headers::push_in`]).
    pub(crate) fn set_source(&mut self, head: Bytes) {
        self.src = head;
    }

    /// Appends a field whose name and value are sub-slices of the source head.
    pub(crate) fn push_in(&mut self, name: &[u8], value: &[u8]) {
        let span = |s: &[u8]| {
            let base = self.src.as_ptr() as usize;
            let at = (s.as_ptr() as usize).wrapping_sub(base);
            debug_assert!(at + s.len() <= self.src.len(), "not inside the source head");
            Text::In {
                at: at as u32,
                len: s.len() as u32,
            }
        };
        let field = Field {
            name: span(name),
            value: span(value),
        };
        self.list.push(field);
    }

    fn text<'a>(&'a self, t: &'a Text) -> &'a [u8] {
        slice(&self.src, t)
    }

    /// The fields called `name` (length compared before any byte).
    fn named<'a>(&'a self, name: &'a [u8]) -> impl Iterator<Item = &'a Field> + 'a {
        self.list.iter().filter(move |f| {
            f.name.len() == name.len() && slice(&self.src, &f.name).eq_ignore_ascii_case(name)
        })
    }

    /// All fields in order, as (name, value).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.list
            .iter()
            .map(move |f| (self.text(&f.name), self.text(&f.value)))
    }

    /// All field names in order.
    pub fn names(&self) -> impl Iterator<Item = &[u8]> {
        self.list.iter().map(move |f| self.text(&f.name))
    }

    /// The fields whose name has a length `keep` accepts, as (name,
    /// value): lengths are compared before any byte is looked at.
    pub fn by_name_len(
        &self,
        keep: impl Fn(usize) -> bool,
    ) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.list
            .iter()
            .filter(move |f| keep(f.name.len()))
            .map(move |f| (self.text(&f.name), self.text(&f.value)))
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
    pub fn get<'a>(&'a self, name: &str) -> Option<&'a [u8]> {
        let name = name.as_bytes();
        self.list
            .iter()
            .find(|f| {
                f.name.len() == name.len() && slice(&self.src, &f.name).eq_ignore_ascii_case(name)
            })
            .map(|f| slice(&self.src, &f.value))
    }

    /// The first value of `name` as `Bytes` (shares the head's memory).
    pub fn get_bytes(&self, name: &str) -> Option<Bytes> {
        let f = self.named(name.as_bytes()).next()?;
        Some(match &f.value {
            Text::In { at, len } => self.src.slice(*at as usize..(*at + *len) as usize),
            Text::Own(b) => b.clone(),
        })
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.named(name.as_bytes())
            .map(move |f| slice(&self.src, &f.value))
    }

    /// True when `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Appends a field at the end.
    pub fn append(&mut self, name: impl Into<Bytes>, value: impl Into<Bytes>) {
        self.list.push(Field {
            name: Text::Own(name.into()),
            value: Text::Own(value.into()),
        });
    }

    /// Removes every field called `name`; returns how many were removed.
    pub fn remove(&mut self, name: &[u8]) -> usize {
        let before = self.list.len();
        self.retain(|n, _| !n.eq_ignore_ascii_case(name));
        before - self.list.len()
    }

    /// Keeps only the fields for which `keep(name, value)` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8], &[u8]) -> bool) {
        let src = &self.src;
        self.list
            .retain(|f| keep(slice(src, &f.name), slice(src, &f.value)));
    }

    /// Replaces every field called `name` by one field with `value`, kept at
    /// the place of the first one (or appended).
    pub fn set(&mut self, name: impl Into<Bytes>, value: impl Into<Bytes>) {
        let name = name.into();
        let value = value.into();
        let first = self.list.iter().position(|f| {
            f.name.len() == name.len() && slice(&self.src, &f.name).eq_ignore_ascii_case(&name)
        });
        match first {
            Some(i) => {
                self.list[i].value = Text::Own(value);
                let src = &self.src;
                let later = self.list[i + 1..]
                    .iter()
                    .any(|f| slice(src, &f.name).eq_ignore_ascii_case(&name));
                if later {
                    let mut seen = 0;
                    self.retain(|n, _| {
                        let same = n.eq_ignore_ascii_case(&name);
                        seen += usize::from(same);
                        !same || seen == 1
                    });
                }
            }
            None => self.append(name, value),
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
        for (name, value) in self.iter() {
            out.put_slice(name);
            out.put_slice(b": ");
            out.put_slice(value);
            out.put_slice(b"\r\n");
        }
    }

    /// Bytes `write_to` will produce.
    pub fn wire_len(&self) -> usize {
        self.iter().map(|(n, v)| n.len() + v.len() + 4).sum()
    }
}

/// The bytes of a field part, given the head it may point into.
fn slice<'a>(src: &'a Bytes, t: &'a Text) -> &'a [u8] {
    match t {
        Text::In { at, len } => &src[*at as usize..(*at + *len) as usize],
        Text::Own(b) => b,
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

    /// The raw value of query parameter `name`, its first occurrence
    /// (`a` in `?a` is present and empty).
    pub fn query_param(&self, name: &str) -> Option<&[u8]> {
        self.query()?.split(|&b| b == b'&').find_map(|pair| {
            let (n, v) = match pair.iter().position(|&b| b == b'=') {
                Some(eq) => (&pair[..eq], &pair[eq + 1..]),
                None => (pair, &pair[pair.len()..]),
            };
            (n == name.as_bytes()).then_some(v)
        })
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
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
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

#[cfg(test)]
mod tests {
    use super::*;

    fn names_values(h: &Headers) -> Vec<(String, String)> {
        h.iter()
            .map(|(n, v)| {
                (
                    String::from_utf8_lossy(n).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn set_replaces_in_place_and_drops_later_copies() {
        let mut h = Headers::default();
        for (n, v) in [
            ("A", "1"),
            ("X-F", "a"),
            ("B", "2"),
            ("x-f", "b"),
            ("C", "3"),
        ] {
            h.append(n.as_bytes(), v.as_bytes());
        }
        h.set(&b"X-F"[..], &b"new"[..]);
        let want = [("A", "1"), ("X-F", "new"), ("B", "2"), ("C", "3")];
        let want: Vec<_> = want
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        assert_eq!(names_values(&h), want);
        assert_eq!((h.len(), h.is_empty()), (4, false));
        h.set(&b"D"[..], &b"4"[..]);
        assert_eq!(names_values(&h).last().unwrap(), &("D".into(), "4".into()));
        assert_eq!(h.remove(b"a"), 1);
        assert_eq!(h.remove(b"a"), 0);
        assert_eq!(h.len(), 4);
        assert!(Headers::default().is_empty());
        assert_eq!(Headers::with_capacity(8).len(), 0);
    }

    #[test]
    fn heads_serialise_exactly() {
        let mut h = Headers::default();
        h.append(&b"Host"[..], &b"a"[..]);
        assert_eq!(h.wire_len(), "Host: a\r\n".len());
        let req = RequestHead {
            method: Bytes::from_static(b"GET"),
            target: Bytes::from_static(b"/x"),
            version: Version::Http10,
            headers: h.clone(),
        };
        let mut out = BytesMut::new();
        req.write_to(&mut out);
        assert_eq!(&out[..], b"GET /x HTTP/1.1\r\nHost: a\r\n");
        let mut resp = ResponseHead::new(404);
        resp.headers = h;
        let mut out = BytesMut::new();
        resp.write_to(&mut out);
        assert_eq!(&out[..], b"HTTP/1.1 404 Not Found\r\nHost: a\r\n");
        assert_eq!(Version::Http10.as_str(), "HTTP/1.0");
        assert_eq!(Version::Http11.as_str(), "HTTP/1.1");
    }

    #[test]
    fn only_rfc_9110_idempotent_methods_are_replayable() {
        let idempotent = |m: &'static [u8]| {
            RequestHead {
                method: Bytes::from_static(m),
                target: Bytes::from_static(b"/"),
                version: Version::Http11,
                headers: Headers::default(),
            }
            .is_idempotent()
        };
        for m in [
            &b"GET"[..],
            b"HEAD",
            b"OPTIONS",
            b"PUT",
            b"DELETE",
            b"TRACE",
        ] {
            assert!(idempotent(m));
        }
        for m in [&b"POST"[..], b"PATCH", b"CONNECT", b"get"] {
            assert!(!idempotent(m));
        }
    }

    #[test]
    fn reason_phrases_are_rfc_9110_s() {
        for (status, phrase) in [
            (100, "Continue"),
            (101, "Switching Protocols"),
            (200, "OK"),
            (204, "No Content"),
            (301, "Moved Permanently"),
            (302, "Found"),
            (304, "Not Modified"),
            (400, "Bad Request"),
            (401, "Unauthorized"),
            (403, "Forbidden"),
            (404, "Not Found"),
            (405, "Method Not Allowed"),
            (408, "Request Timeout"),
            (413, "Content Too Large"),
            (429, "Too Many Requests"),
            (431, "Request Header Fields Too Large"),
            (500, "Internal Server Error"),
            (501, "Not Implemented"),
            (502, "Bad Gateway"),
            (503, "Service Unavailable"),
            (504, "Gateway Timeout"),
            (505, "HTTP Version Not Supported"),
            (299, ""),
        ] {
            assert_eq!(reason(status), phrase, "{status}");
        }
    }
}
