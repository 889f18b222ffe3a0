//! `[[middleware]]`: each entry names its `kind`; the kind's own file
//! (`core/src/middleware/KIND.rs`) reads and validates the rest of the
//! table. Entries without a `name` form the global chain, in file order;
//! named ones run only where a route lists them.

use std::fmt;
use std::sync::Arc;

use toml::Spanned;

use super::Errors;
use crate::middleware::{Env, Files, Layer, KINDS};

/// One validated `[[middleware]]` entry and the layer built from it.
#[derive(Clone)]
pub struct LayerConfig {
    /// The name routes list it by; `None`: a global layer.
    pub name: Option<String>,
    /// Its `kind`.
    pub kind: &'static str,
    /// The table as written (what a reload compares).
    pub settings: toml::Table,
    /// A digest of the files it read (a reload compares it too).
    pub files_read: u64,
    /// The layer, ready to run.
    pub layer: Arc<dyn Layer>,
}

impl PartialEq for LayerConfig {
    fn eq(&self, other: &LayerConfig) -> bool {
        self.name == other.name
            && self.kind == other.kind
            && self.settings == other.settings
            && self.files_read == other.files_read
    }
}

impl fmt::Debug for LayerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LayerConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("settings", &self.settings)
            .finish()
    }
}

/// Validates every `[[middleware]]` entry; errors name the entry's line.
pub(super) fn layers(
    raw: &[Spanned<toml::Table>],
    files: Files<'_>,
    redis: Option<&super::redis::Redis>,
    names: super::dns::Resolver<'_>,
    errs: &mut Errors<'_>,
) -> Vec<LayerConfig> {
    let mut out: Vec<LayerConfig> = Vec::new();
    for (i, entry) in raw.iter().enumerate() {
        let span = entry.span();
        let mut table = entry.get_ref().clone();
        let name = match table.remove("name") {
            None => None,
            Some(toml::Value::String(n)) if is_name(&n) => Some(n),
            Some(_) => {
                errs.at(
                    errs.key_span(span.clone(), "name"),
                    format!("middleware[{i}].name"),
                    "expected a name of at most 64 letters, digits, '-', '_' and '.'".into(),
                );
                continue;
            }
        };
        if let Some(n) = &name {
            if out.iter().any(|l| l.name.as_ref() == Some(n)) {
                errs.at(
                    errs.key_span(span.clone(), "name"),
                    format!("middleware[{i}].name"),
                    format!("duplicate middleware name {n:?}"),
                );
            }
        }
        let kinds = || KINDS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ");
        let kind = match table.remove("kind") {
            Some(toml::Value::String(k)) => k,
            _ => {
                errs.at(
                    span.clone(),
                    format!("middleware[{i}].kind"),
                    format!("missing kind (one of: {})", kinds()),
                );
                continue;
            }
        };
        let Some(k) = KINDS.iter().find(|k| k.name == kind) else {
            errs.at(
                errs.key_span(span.clone(), "kind"),
                format!("middleware[{i}].kind"),
                format!(
                    "unknown middleware kind {kind:?} (the kinds are: {})",
                    kinds()
                ),
            );
            continue;
        };
        let env = Env {
            name: name.as_deref(),
            files,
            redis,
            names,
            read: std::cell::Cell::new(0),
        };
        match (k.build)(&env, &table) {
            Ok(layer) => out.push(LayerConfig {
                files_read: env.read.get(),
                name,
                kind: k.name,
                settings: table,
                layer,
            }),
            Err(problems) => {
                for (key, message) in problems {
                    let (at, key) = if key.is_empty() {
                        (span.clone(), format!("middleware[{i}]"))
                    } else {
                        (
                            errs.key_span(span.clone(), &key),
                            format!("middleware[{i}].{key}"),
                        )
                    };
                    errs.at(at, key, message);
                }
            }
        }
    }
    out
}

/// Names of routes and layers: what logs and metrics can carry as is.
pub(crate) fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}
