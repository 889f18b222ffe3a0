//! An [`Explanation`] as text for a person and as JSON for tools.

use std::fmt::Write as _;

use super::{Explanation, Outcome, Step};
use crate::sim::transcript::escape;

/// The most bytes of a request or answer shown (the rest is summarised
/// with its length and hash).
const SHOWN: usize = 4096;

/// The explanation as text, one decision per paragraph.
pub fn text(e: &Explanation) -> String {
    let mut out = String::new();
    let name = |i: usize| {
        e.layer_names
            .iter()
            .find(|(at, _)| *at == i)
            .map_or("layer", |(_, n)| n.as_str())
    };
    for (i, step) in e.steps.iter().enumerate() {
        match step {
            Step::Head {
                method,
                target,
                version,
                framing,
                client,
            } => {
                let _ = writeln!(out, "request: {method} {target} {version}; body: {framing}");
                let _ = writeln!(out, "client: {client}, {}", e.client_why);
            }
            Step::Layer {
                decision,
                reply,
                note,
                changes,
                response_fields,
                ..
            } => {
                let _ = write!(out, "layer {}: ", name(i));
                if let Some(r) = reply {
                    let _ = write!(out, "reply {r}; ");
                }
                let _ = write!(out, "{decision}");
                if let Some(n) = note {
                    let _ = write!(out, " ({n})");
                }
                out.push('\n');
                for c in changes {
                    let _ = writeln!(out, "    {c}");
                }
                for f in response_fields {
                    let _ = writeln!(out, "    for the response: {f}");
                }
            }
            Step::Routes { checks, chosen } => {
                let _ = writeln!(out, "routes, best first:");
                for c in checks {
                    let mark = if c.matched { "match" } else { "no" };
                    let _ = writeln!(out, "    {:<5} {}: {}", mark, c.route, c.why);
                }
                let _ = writeln!(out, "route taken: {chosen}");
            }
            Step::Pick {
                upstream,
                balancer,
                key,
                state,
                how,
                server,
            } => {
                let _ = writeln!(out, "upstream {upstream} ({balancer}):");
                if let Some(k) = key {
                    let _ = writeln!(out, "    hash key {k}");
                }
                let _ = writeln!(out, "    before the pick: {state}");
                if server.is_empty() {
                    let _ = writeln!(out, "    picked: nothing ({how})");
                } else {
                    let _ = writeln!(out, "    picked: {server} ({how})");
                }
            }
        }
    }
    match &e.outcome {
        Outcome::Forwarded(server, bytes) => {
            let _ = writeln!(out, "== weir -> upstream {server} ({} bytes)", bytes.len());
            out.push_str(&escape(bytes, SHOWN));
        }
        Outcome::Answered(bytes) => {
            let _ = writeln!(out, "== weir -> client ({} bytes)", bytes.len());
            out.push_str(&escape(bytes, SHOWN));
        }
    }
    if !e.access_log.is_empty() {
        let _ = writeln!(out, "== access log\n{}", e.access_log.trim_end());
    }
    let verdict = match e.outcome {
        Outcome::Forwarded(..) => "forwarded",
        Outcome::Answered(_) => "answered by weir, not forwarded",
    };
    let _ = writeln!(out, "== {verdict}");
    out
}

/// The explanation as one JSON object.
pub fn json(e: &Explanation) -> serde_json::Value {
    let steps: Vec<serde_json::Value> = e
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut v = serde_json::to_value(s).unwrap_or_default();
            if let (Some(obj), Some((_, n))) = (
                v.as_object_mut(),
                e.layer_names.iter().find(|(at, _)| *at == i),
            ) {
                obj.insert("layer".into(), n.clone().into());
            }
            v
        })
        .collect();
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let (forwarded, server, bytes) = match &e.outcome {
        Outcome::Forwarded(s, b) => (true, Some(s.to_string()), lossy(b)),
        Outcome::Answered(b) => (false, None, lossy(b)),
    };
    serde_json::json!({
        "forwarded": forwarded,
        "server": server,
        "bytes": bytes,
        "client_why": e.client_why,
        "steps": steps,
        "access_log": e.access_log.trim_end(),
    })
}
