//! `kind = "redirect"`: answers with a redirect to a URL made from the
//! request, without an upstream.
//!
//! ```toml
//! [[middleware]]
//! name = "moved"
//! kind = "redirect"
//! match = "^/old/(?P<rest>.*)$"          # a regex on the path; default: every path
//! to = "https://{host}/new/${rest}{?query}"
//! status = 301                           # 301 | 302 | 303 | 307 | 308 (default 302)
//! ```
//!
//! In `to`: `$1`, `${name}` (the regex's captures), `{host}` (the request's
//! `Host`), `{path}`, `{query}` (without `?`) and `{?query}` (`?` and the
//! query, or nothing). A path that does not match goes on inward.

use std::sync::Arc;

use bytes::Bytes;
use regex::Regex;
use serde::Deserialize;

use super::{Answer, Cx, Flow, Kind, Layer, Problems};
use crate::http1::RequestHead;

/// The registry entry.
pub const KIND: Kind = Kind {
    name: "redirect",
    build,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(rename = "match")]
    pattern: Option<String>,
    to: String,
    status: Option<u16>,
}

/// Redirects matching requests.
pub struct Redirect {
    pattern: Option<Regex>,
    to: String,
    status: u16,
}

/// A path regex, compiled with the routes' size limit.
pub(crate) fn path_regex(src: &str) -> Result<Regex, String> {
    regex::RegexBuilder::new(src)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| {
            format!(
                "invalid regex: {}",
                e.to_string().lines().last().unwrap_or("")
            )
        })
}

fn build(_env: &super::Env<'_>, table: &toml::Table) -> Result<Arc<dyn Layer>, Problems> {
    let raw: Raw = super::settings(table)?;
    let mut problems = Vec::new();
    let pattern = match raw.pattern.as_deref().map(path_regex) {
        Some(Err(m)) => {
            problems.push(("match".to_owned(), m));
            None
        }
        Some(Ok(re)) => Some(re),
        None => None,
    };
    let status = raw.status.unwrap_or(302);
    if ![301, 302, 303, 307, 308].contains(&status) {
        problems.push((
            "status".into(),
            format!("{status} is not a redirect (301, 302, 303, 307, 308)"),
        ));
    }
    if raw.to.is_empty() || !crate::config::is_header_value(&raw.to) {
        problems.push(("to".into(), "not a valid Location".into()));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Arc::new(Redirect {
        pattern,
        to: raw.to,
        status,
    }))
}

/// `template` with `$1`/`${name}` from `caps` (when a regex matched) and
/// the `{host}`, `{path}`, `{query}`, `{?query}` placeholders.
pub(crate) fn expand(
    template: &str,
    caps: Option<&regex::Captures<'_>>,
    req: &RequestHead,
) -> String {
    let mut out = String::new();
    match caps {
        Some(c) => c.expand(template, &mut out),
        None => out.push_str(template),
    }
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let query = req.query().map(text).unwrap_or_default();
    out.replace(
        "{host}",
        &req.headers.get("host").map(text).unwrap_or_default(),
    )
    .replace("{path}", &text(req.path()))
    .replace(
        "{?query}",
        &if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        },
    )
    .replace("{query}", &query)
}

impl Layer for Redirect {
    fn on_request(&self, req: &mut RequestHead, _cx: &mut Cx<'_>) -> Flow {
        let path = String::from_utf8_lossy(req.path()).into_owned();
        let caps = match &self.pattern {
            Some(re) => match re.captures(&path) {
                Some(c) => Some(c),
                None => return Flow::Next,
            },
            None => None,
        };
        let location = expand(&self.to, caps.as_ref(), req);
        if !crate::config::is_header_value(&location) {
            return Flow::Next;
        }
        let mut a = Answer::plain(self.status);
        a.head
            .headers
            .append(Bytes::from_static(b"Location"), Bytes::from(location));
        Flow::Answer(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        let p = build(
            &crate::middleware::Env::bare(None),
            &"match = \"(\"\nto = \"\"\nstatus = 200".parse().unwrap(),
        )
        .err()
        .unwrap();
        let keys: Vec<&str> = p.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["match", "status", "to"]);
    }
}
