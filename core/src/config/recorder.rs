//! `[recorder]`: the flight recorder, off unless configured.
//!
//! ```toml
//! [recorder]
//! connections = 64        # each worker keeps its last 64 finished connections
//! max_bytes = 65536       # at most this much of each direction of each one
//! redact = ["X-Api-Key"]  # besides Authorization and Cookie
//! dir = "/var/tmp"        # where dumps go (default: the system's temp dir)
//! ```

use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::Errors;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRecorder {
    connections: Spanned<i64>,
    max_bytes: Option<Spanned<i64>>,
    #[serde(default)]
    redact: Vec<Spanned<String>>,
    dir: Option<String>,
}

/// The flight recorder's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecorderSpec {
    /// Finished connections each worker keeps.
    pub connections: usize,
    /// Most bytes kept of each direction of one connection.
    pub max_bytes: usize,
    /// Request fields whose values a dump masks (lower case), always
    /// with `authorization`, `cookie` and `proxy-authorization`.
    pub redact: Vec<String>,
    /// Where dumps are written (`None`: the system's temp dir).
    pub dir: Option<PathBuf>,
}

/// Validates `[recorder]`.
pub(super) fn recorder(raw: &RawRecorder, errs: &mut Errors<'_>) -> Option<RecorderSpec> {
    let mut ok = true;
    let n = *raw.connections.get_ref();
    if !(1..=100_000).contains(&n) {
        errs.at(
            raw.connections.span(),
            "recorder.connections".into(),
            "expected a whole number from 1 to 100000".into(),
        );
        ok = false;
    }
    let max_bytes = match &raw.max_bytes {
        None => 64 * 1024,
        Some(m) if (1..=64 * 1024 * 1024).contains(m.get_ref()) => *m.get_ref() as usize,
        Some(m) => {
            errs.at(
                m.span(),
                "recorder.max_bytes".into(),
                "expected a whole number of bytes from 1 to 67108864".into(),
            );
            ok = false;
            0
        }
    };
    let mut redact: Vec<String> = ["authorization", "proxy-authorization", "cookie"]
        .map(String::from)
        .to_vec();
    for r in &raw.redact {
        let name = r.get_ref();
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_!#$%&'*+.^`|~".contains(&b))
        {
            errs.at(
                r.span(),
                "recorder.redact".into(),
                format!("{name:?} is not a header field name"),
            );
            ok = false;
        }
        redact.push(name.to_ascii_lowercase());
    }
    ok.then(|| RecorderSpec {
        connections: n as usize,
        max_bytes,
        redact,
        dir: raw.dir.as_ref().map(PathBuf::from),
    })
}
