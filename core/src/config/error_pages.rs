//! `[error_pages]`: the bodies of the answers weir makes itself, by status
//! or class, from files read when the config is loaded.
//!
//! ```toml
//! [error_pages]
//! "404" = "errors/404.html"   # relative to the config file, at most 64 KiB
//! "5xx" = "errors/5xx.html"   # any 5xx without a page of its own
//! replace_upstream = true      # also replace an upstream's error body
//! ```
//!
//! In a page, `{status}` and `{request_id}` are replaced (the id of a
//! `request-id` layer, else empty). The type follows the file's extension
//! (`.html`, `.json`, else text). Without a page, an answer to a request
//! that accepts JSON (and not HTML) is `{"status":..,"error":"..",
//! "request_id":".."}`, else the plain text it always was. A `HEAD` request,
//! 1xx, 204 and 304 never get a body.
//!
//! With `replace_upstream`, an upstream response whose status has a page
//! (its own or its class's) is answered with that page instead of the
//! upstream's body: decided at the response head, before anything went
//! to the client. The upstream's status and fields are kept, except the
//! ones that describe the replaced body (`Content-Type`,
//! `Content-Encoding`, `Content-Language`, `Content-Location`, `ETag`,
//! `Last-Modified`, `Content-Range`). The upstream's body is read and
//! dropped (up to 64 KiB, so its connection can be reused; past that the
//! connection is closed) before the page is sent. A `HEAD` request's
//! answer is never replaced.

use std::collections::BTreeMap;

use bytes::Bytes;
use toml::Spanned;

use super::Errors;
use crate::middleware::Files;

/// Largest page.
const MAX_PAGE: usize = 64 * 1024;

pub(super) type RawErrorPages = BTreeMap<String, Spanned<toml::Value>>;

/// One page: its `Content-Type` and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    /// `text/html; charset=utf-8`, `application/json` or `text/plain; charset=utf-8`.
    pub content_type: Bytes,
    /// The file as read.
    pub body: String,
}

/// Every configured page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorPages {
    by_status: BTreeMap<u16, Page>,
    /// `4xx` and `5xx`.
    by_class: [Option<Page>; 2],
    /// Upstream error bodies are replaced by the page for their status.
    pub replace_upstream: Replace,
}

/// Whether an upstream's error body gives way to the configured page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Replace {
    /// Upstream responses pass as they are (the default).
    #[default]
    Never,
    /// A status with a page is answered with the page.
    WithPage,
}

impl ErrorPages {
    /// The page for `status`, its own or its class's.
    pub fn page(&self, status: u16) -> Option<&Page> {
        self.by_status.get(&status).or(match status {
            400..=499 => self.by_class[0].as_ref(),
            500..=599 => self.by_class[1].as_ref(),
            _ => None,
        })
    }

    /// `(Content-Type, body)` for an answer with `status`: the page, with
    /// its placeholders filled, or a JSON body when `json` and no page.
    pub fn render(&self, status: u16, request_id: &[u8], json: bool) -> Option<(Bytes, Bytes)> {
        let rid = String::from_utf8_lossy(request_id);
        if let Some(p) = self.page(status) {
            let body = p
                .body
                .replace("{status}", &status.to_string())
                .replace("{request_id}", &rid);
            return Some((p.content_type.clone(), Bytes::from(body)));
        }
        json.then(|| {
            let reason = crate::http1::head::reason(status);
            let body = format!(
                "{{\"status\":{status},\"error\":\"{reason}\",\"request_id\":\"{rid}\"}}\n"
            );
            (Bytes::from_static(b"application/json"), Bytes::from(body))
        })
    }
}

/// True when the request's `Accept` asks for JSON before HTML.
pub fn wants_json(accept: Option<&[u8]>) -> bool {
    let Some(a) = accept else { return false };
    let a = String::from_utf8_lossy(a).to_ascii_lowercase();
    let json = a.find("application/json").or_else(|| a.find("+json"));
    match (json, a.find("text/html")) {
        (Some(j), Some(h)) => j < h,
        (Some(_), None) => true,
        _ => false,
    }
}

/// Validates `[error_pages]` and reads its files.
pub(super) fn pages(raw: &RawErrorPages, files: Files<'_>, errs: &mut Errors<'_>) -> ErrorPages {
    let mut out = ErrorPages::default();
    for (key, value) in raw {
        let at = value.span();
        let name = format!("error_pages.{key}");
        if key == "replace_upstream" {
            match value.get_ref() {
                toml::Value::Boolean(true) => out.replace_upstream = Replace::WithPage,
                toml::Value::Boolean(false) => {}
                _ => errs.at(at, name, "expected true or false".into()),
            }
            continue;
        }
        let Some(path) = value.get_ref().as_str() else {
            errs.at(at, name, "expected the path of a page file".into());
            continue;
        };
        let bytes = match files(path) {
            Ok(b) if b.len() > MAX_PAGE => {
                errs.at(at, name, format!("{path} is larger than 64 KiB"));
                continue;
            }
            Ok(b) => b,
            Err(m) => {
                errs.at(at, name, m);
                continue;
            }
        };
        let content_type: &'static [u8] = match path.rsplit('.').next() {
            Some("html" | "htm") => b"text/html; charset=utf-8",
            Some("json") => b"application/json",
            _ => b"text/plain; charset=utf-8",
        };
        let page = Page {
            content_type: Bytes::from_static(content_type),
            body: String::from_utf8_lossy(&bytes).into_owned(),
        };
        match key.as_str() {
            "4xx" => out.by_class[0] = Some(page),
            "5xx" => out.by_class[1] = Some(page),
            k => match k.parse::<u16>() {
                Ok(s) if (400..=599).contains(&s) => {
                    out.by_status.insert(s, page);
                }
                _ => errs.at(
                    at,
                    name,
                    "expected a status from 400 to 599, \"4xx\" or \"5xx\"".into(),
                ),
            },
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_chosen_only_when_asked_for_before_html() {
        assert!(wants_json(Some(b"application/json")));
        assert!(wants_json(Some(b"application/problem+json, */*")));
        assert!(!wants_json(Some(
            b"text/html,application/xhtml+xml,application/json;q=0.9"
        )));
        assert!(!wants_json(Some(b"*/*")) && !wants_json(None));
    }
}
