//! `kind = "headers"`: set and remove request and response headers.
//!
//! ```toml
//! [[middleware]]
//! kind = "headers"
//! request_set = { "X-Env" = "prod" }    # replaces any field of that name
//! request_remove = ["Cookie"]
//! response_set = { "X-Served-By" = "weir" }
//! response_remove = ["Server"]
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;

use super::{Cx, Flow, Kind, Layer, Problems};
use crate::config::{is_header_name, is_header_value, FRAMING};
use crate::http1::{RequestHead, ResponseHead};

/// The registry entry.
pub const KIND: Kind = Kind {
    name: "headers",
    build,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    request_set: BTreeMap<String, String>,
    #[serde(default)]
    request_remove: Vec<String>,
    #[serde(default)]
    response_set: BTreeMap<String, String>,
    #[serde(default)]
    response_remove: Vec<String>,
}

/// Header edits on the way in and on the way out.
pub struct HeaderRules {
    request_set: Vec<(Bytes, Bytes)>,
    request_remove: Vec<Bytes>,
    response_set: Vec<(Bytes, Bytes)>,
    response_remove: Vec<Bytes>,
}

fn pairs(map: &BTreeMap<String, String>) -> Vec<(Bytes, Bytes)> {
    map.iter()
        .map(|(k, v)| (Bytes::from(k.clone()), Bytes::from(v.clone())))
        .collect()
}

fn names(list: &[String]) -> Vec<Bytes> {
    list.iter().map(|k| Bytes::from(k.clone())).collect()
}

fn build(_env: &super::Env<'_>, table: &toml::Table) -> Result<Arc<dyn Layer>, Problems> {
    let raw: Raw = super::settings(table)?;
    let mut problems = Vec::new();
    let named = [
        ("request_set", raw.request_set.keys().collect::<Vec<_>>()),
        ("response_set", raw.response_set.keys().collect()),
        ("request_remove", raw.request_remove.iter().collect()),
        ("response_remove", raw.response_remove.iter().collect()),
    ];
    for (key, list) in named {
        for n in list {
            if !is_header_name(n) {
                problems.push((key.to_owned(), format!("invalid header name {n:?}")));
            } else if FRAMING.iter().any(|f| f.eq_ignore_ascii_case(n)) {
                problems.push((
                    key.to_owned(),
                    format!("{n:?} is a framing or hop-by-hop header that only the core sets"),
                ));
            }
        }
    }
    for (key, map) in [
        ("request_set", &raw.request_set),
        ("response_set", &raw.response_set),
    ] {
        for v in map.values().filter(|v| !is_header_value(v)) {
            problems.push((key.to_owned(), format!("invalid header value {v:?}")));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Arc::new(HeaderRules {
        request_set: pairs(&raw.request_set),
        request_remove: names(&raw.request_remove),
        response_set: pairs(&raw.response_set),
        response_remove: names(&raw.response_remove),
    }))
}

impl Layer for HeaderRules {
    fn on_request(&self, req: &mut RequestHead, _cx: &mut Cx<'_>) -> Flow {
        for n in &self.request_remove {
            req.headers.remove(n);
        }
        for (n, v) in &self.request_set {
            req.headers.set(n.clone(), v.clone());
        }
        Flow::Next
    }

    fn on_response(&self, _req: &RequestHead, resp: &mut ResponseHead, _cx: &mut Cx<'_>) {
        for n in &self.response_remove {
            resp.headers.remove(n);
        }
        for (n, v) in &self.response_set {
            resp.headers.set(n.clone(), v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<(String, String)> {
        let table: toml::Table = text.parse().unwrap();
        match build(&crate::middleware::Env::bare(None), &table) {
            Ok(_) => vec![],
            Err(p) => p,
        }
    }

    #[test]
    fn names_values_and_framing_fields_are_checked() {
        assert!(problems("request_set = { \"X-A\" = \"1\" }").is_empty());
        assert_eq!(
            problems("request_set = { \"X A\" = \"1\" }\nresponse_remove = [\"Content-Length\"]"),
            [
                (
                    "request_set".to_owned(),
                    "invalid header name \"X A\"".to_owned()
                ),
                (
                    "response_remove".to_owned(),
                    "\"Content-Length\" is a framing or hop-by-hop header that only the core sets"
                        .to_owned()
                ),
            ]
        );
        assert_eq!(
            problems("response_set = { \"X-A\" = \"a\\nb\" }"),
            [(
                "response_set".to_owned(),
                "invalid header value \"a\\nb\"".to_owned()
            )]
        );
        let unknown = problems("request_sett = {}");
        assert!(
            unknown[0].1.contains("unknown field `request_sett`"),
            "{unknown:?}"
        );
    }
}
