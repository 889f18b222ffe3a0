//! `kind = "rewrite"`: replaces the request's path by a regex replacement
//! before it goes on (the query is kept).
//!
//! ```toml
//! [[middleware]]
//! name = "v1"
//! kind = "rewrite"
//! match = "^/api/v1/(.*)$"
//! replace = "/v1/$1"
//! ```
//!
//! A path that does not match is left alone. The new path is normalised
//! as a client's is (dot-segments removed, `//` merged); one that is not a
//! path (no leading `/`, bytes outside printable ASCII, climbing above
//! the root) is refused with 500 and the request goes nowhere: a rewrite
//! never sends the upstream what a client could not.

use std::sync::Arc;

use bytes::Bytes;
use regex::Regex;
use serde::Deserialize;

use super::redirect::{expand, path_regex};
use super::{Answer, Cx, Flow, Kind, Layer, Problems};
use crate::http1::path::{normalise, PathRules};
use crate::http1::RequestHead;

/// The registry entry.
pub const KIND: Kind = Kind {
    name: "rewrite",
    build,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(rename = "match")]
    pattern: String,
    replace: String,
}

/// Rewrites matching paths.
pub struct Rewrite {
    pattern: Regex,
    replace: String,
}

fn build(_env: &super::Env<'_>, table: &toml::Table) -> Result<Arc<dyn Layer>, Problems> {
    let raw: Raw = super::settings(table)?;
    let mut problems = Vec::new();
    let pattern = path_regex(&raw.pattern).map_err(|m| problems.push(("match".to_owned(), m)));
    if !raw.replace.starts_with('/') {
        problems.push(("replace".into(), "must start with \"/\"".into()));
    }
    match pattern {
        Ok(pattern) if problems.is_empty() => Ok(Arc::new(Rewrite {
            pattern,
            replace: raw.replace,
        })),
        _ => Err(problems),
    }
}

impl Layer for Rewrite {
    fn on_request(&self, req: &mut RequestHead, _cx: &mut Cx<'_>) -> Flow {
        let path = String::from_utf8_lossy(req.path()).into_owned();
        let Some(caps) = self.pattern.captures(&path) else {
            return Flow::Next;
        };
        let mut target = expand(&self.replace, Some(&caps), req);
        if let Some(q) = req.query() {
            target.push('?');
            target.push_str(&String::from_utf8_lossy(q));
        }
        let ok = target.starts_with('/') && target.bytes().all(|b| (0x21..0x7f).contains(&b));
        let target = Bytes::from(target);
        match normalise(&target, &PathRules::default()) {
            Ok(normal) if ok => {
                req.target = normal.unwrap_or(target);
                Flow::Next
            }
            _ => Flow::Answer(Answer::plain(500)),
        }
    }
}
