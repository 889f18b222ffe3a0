//! `[http]`: how request paths are normalised before routing.

use serde::Deserialize;
use toml::Spanned;

use super::Errors;
use crate::http1::path::{EncodedSlash, PathRules};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttp {
    merge_slashes: Option<bool>,
    encoded_slash: Option<Spanned<String>>,
}

/// `[http]`: how paths are normalised before routing.
pub(super) fn path_rules(raw: &RawHttp, errs: &mut Errors<'_>) -> PathRules {
    let d = PathRules::default();
    let encoded_slash = match &raw.encoded_slash {
        None => d.encoded_slash,
        Some(v) => match v.get_ref().as_str() {
            "keep" => EncodedSlash::Keep,
            "decode" => EncodedSlash::Decode,
            "reject" => EncodedSlash::Reject,
            other => {
                errs.at(
                    v.span(),
                    "http.encoded_slash".into(),
                    format!("unknown value {other:?} (expected: keep, decode, reject)"),
                );
                d.encoded_slash
            }
        },
    };
    PathRules {
        merge_slashes: raw.merge_slashes.unwrap_or(d.merge_slashes),
        encoded_slash,
    }
}
