//! Path normalisation before routing (RFC 3986 §6.2.2, RFC 9110 §4.2.3):
//! routing decides on the normalised path and the upstream receives that
//! same path, so `/public/../admin` or `/%61dmin` cannot reach a route's
//! upstream without matching that route.
//!
//! In order: percent-encoded unreserved characters are decoded (`%41` is
//! `A`, `%2E` is `.`) and other percent-encodings get upper-case hex;
//! `%2F` is kept, decoded or refused as configured; empty segments are
//! merged when configured; dot-segments are removed. A path that climbs
//! above the root, or a `%` not followed by two hex digits, is refused.
//! The query is left as it is.

use bytes::Bytes;

/// What to do with an encoded slash (`%2F`) in a path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EncodedSlash {
    /// Keep it encoded: it is not a segment separator (default).
    #[default]
    Keep,
    /// Decode it into a `/`, which then separates segments.
    Decode,
    /// Refuse the request (400).
    Reject,
}

/// The operator's choices (`[http]` in the config).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathRules {
    /// `//` counts as `/` (default true, as nginx's `merge_slashes`).
    pub merge_slashes: bool,
    /// What `%2F` means.
    pub encoded_slash: EncodedSlash,
}

impl Default for PathRules {
    fn default() -> Self {
        PathRules {
            merge_slashes: true,
            encoded_slash: EncodedSlash::Keep,
        }
    }
}

/// Why a path was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathError {
    /// More `..` than segments.
    AboveRoot,
    /// `%2F` where the config refuses it.
    EncodedSlash,
    /// `%` not followed by two hex digits.
    BadPercent,
}

impl PathError {
    /// What went wrong, for logs.
    pub fn reason(self) -> &'static str {
        match self {
            PathError::AboveRoot => "path climbs above the root",
            PathError::EncodedSlash => "encoded slash in path",
            PathError::BadPercent => "malformed percent-encoding in path",
        }
    }
}

/// The normalised origin-form `target`, or `None` when it is already
/// normal (the common case costs one scan and no allocation).
pub fn normalise(target: &Bytes, rules: &PathRules) -> Result<Option<Bytes>, PathError> {
    let end = target
        .iter()
        .position(|&b| b == b'?')
        .unwrap_or(target.len());
    let path = &target[..end];
    if path.first() != Some(&b'/') || already_normal(path, rules) {
        return Ok(None);
    }
    let decoded = decode(path, rules)?;
    let mut out = remove_dots(&decoded, rules.merge_slashes)?;
    out.extend_from_slice(&target[end..]);
    Ok((out != target[..]).then(|| Bytes::from(out)))
}

/// No `%`, no dot-segment, no empty segment (when merging). This runs on
/// every request: one pass, looking ahead only at slashes.
fn already_normal(path: &[u8], rules: &PathRules) -> bool {
    for (i, &b) in path.iter().enumerate() {
        if b == b'%' {
            return false;
        }
        if b == b'/' {
            match &path[i + 1..] {
                [b'/', ..] if rules.merge_slashes => return false,
                [b'.'] | [b'.', b'/', ..] | [b'.', b'.'] | [b'.', b'.', b'/', ..] => return false,
                _ => {}
            }
        }
    }
    true
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Decodes unreserved characters (and `%2F` when so configured), writes
/// every other percent-encoding with upper-case hex.
fn decode(path: &[u8], rules: &PathRules) -> Result<Vec<u8>, PathError> {
    let mut out = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        if path[i] != b'%' {
            out.push(path[i]);
            i += 1;
            continue;
        }
        let (Some(h), Some(l)) = (
            path.get(i + 1).copied().and_then(hex),
            path.get(i + 2).copied().and_then(hex),
        ) else {
            return Err(PathError::BadPercent);
        };
        let c = h * 16 + l;
        if c.is_ascii_alphanumeric() || b"-._~".contains(&c) {
            out.push(c);
        } else if c == b'/' && rules.encoded_slash == EncodedSlash::Decode {
            out.push(b'/');
        } else if c == b'/' && rules.encoded_slash == EncodedSlash::Reject {
            return Err(PathError::EncodedSlash);
        } else {
            out.push(b'%');
            out.extend_from_slice(format!("{c:02X}").as_bytes());
        }
        i += 3;
    }
    Ok(out)
}

/// Removes `.` and `..` segments (and empty ones when merging); a path
/// that ended in a separator or a dot-segment keeps a trailing `/`.
fn remove_dots(path: &[u8], merge: bool) -> Result<Vec<u8>, PathError> {
    let segments: Vec<&[u8]> = path[1..].split(|&b| b == b'/').collect();
    let mut kept: Vec<&[u8]> = Vec::with_capacity(segments.len());
    let last = segments.len() - 1;
    let mut trailing = false;
    for (i, seg) in segments.iter().enumerate() {
        trailing = false;
        match *seg {
            b"." => trailing = true,
            b".." => {
                kept.pop().ok_or(PathError::AboveRoot)?;
                trailing = true;
            }
            b"" if i == last => trailing = true,
            b"" if merge => {}
            s => kept.push(s),
        }
    }
    let mut out = Vec::with_capacity(path.len());
    for s in &kept {
        out.push(b'/');
        out.extend_from_slice(s);
    }
    if trailing || kept.is_empty() {
        out.push(b'/');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(t: &'static str, rules: PathRules) -> Result<String, PathError> {
        let t = Bytes::from_static(t.as_bytes());
        normalise(&t, &rules)
            .map(|n| String::from_utf8_lossy(&n.unwrap_or_else(|| t.clone())).into_owned())
    }

    #[test]
    fn normal_paths_are_left_alone_without_allocating() {
        for t in ["/", "/a", "/a/b/", "/a.b/c..d/.e", "/a?x=../..//%zz", "*"] {
            let b = Bytes::from_static(t.as_bytes());
            assert_eq!(normalise(&b, &PathRules::default()), Ok(None), "{t}");
        }
    }

    #[test]
    fn dot_segments_encodings_and_slashes() {
        let d = PathRules::default();
        for (t, want) in [
            ("/public/../admin", "/admin"),
            ("/a/./b/../c", "/a/c"),
            ("/a/b/..", "/a/"),
            ("/a/.", "/a/"),
            ("/a/%2E%2E/x", "/x"),
            ("/a/%2e%2E/b", "/b"),
            ("/%61dmin?q=%61", "/admin?q=%61"),
            ("/a%2fb", "/a%2Fb"),
            ("/a%c3%a9", "/a%C3%A9"),
            ("//admin//x/", "/admin/x/"),
            ("/a//", "/a/"),
            ("/a/..//b", "/b"),
        ] {
            assert_eq!(norm(t, d).as_deref(), Ok(want), "{t}");
        }
        let keep_slashes = PathRules {
            merge_slashes: false,
            ..d
        };
        assert_eq!(norm("//a//b", keep_slashes).as_deref(), Ok("//a//b"));
        assert_eq!(norm("//a/./b", keep_slashes).as_deref(), Ok("//a/b"));
        let decode = PathRules {
            encoded_slash: EncodedSlash::Decode,
            ..d
        };
        assert_eq!(norm("/a%2F..%2Fb", decode).as_deref(), Ok("/b"));
        let reject = PathRules {
            encoded_slash: EncodedSlash::Reject,
            ..d
        };
        assert_eq!(norm("/a%2fb", reject), Err(PathError::EncodedSlash));
    }

    #[test]
    fn refuses_what_climbs_above_the_root_or_is_not_percent_encoding() {
        let d = PathRules::default();
        for t in ["/..", "/../a", "/a/../..", "/%2e%2e/", "/a/./../../b"] {
            assert_eq!(norm(t, d), Err(PathError::AboveRoot), "{t}");
        }
        for t in ["/%", "/%4", "/%zz", "/a%g1"] {
            assert_eq!(norm(t, d), Err(PathError::BadPercent), "{t}");
        }
        // What the access log says.
        assert_eq!(PathError::AboveRoot.reason(), "path climbs above the root");
        assert_eq!(PathError::EncodedSlash.reason(), "encoded slash in path");
        assert_eq!(
            PathError::BadPercent.reason(),
            "malformed percent-encoding in path"
        );
    }
}
