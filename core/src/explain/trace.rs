//! What the core decided for one exchange, step by step, as it decided
//! it. Recorded only when a [`crate::Gateway`] is told to trace (by
//! `explain`); otherwise every recording point is one branch on `None`.

use serde::Serialize;

use crate::http1::{Framing, RequestHead};
use crate::middleware::Flow;

/// The decisions of the exchanges run while tracing, in order.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Trace {
    /// Each decision, in the order it was made.
    pub steps: Vec<Step>,
    /// What the layer being run was handed: the head, the reply, the note.
    #[serde(skip)]
    layer_seen: Option<Box<LayerSeen>>,
}

type LayerSeen = (
    RequestHead,
    Option<crate::call::Reply>,
    Option<&'static str>,
    usize,
);

/// One decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum Step {
    /// The head parsed, with the framing chosen and the client found.
    Head {
        /// Method token.
        method: String,
        /// The target as routing sees it (normalised).
        target: String,
        /// `HTTP/1.1` or `HTTP/1.0`.
        version: String,
        /// How the request body is delimited.
        framing: String,
        /// The resolved client IP.
        client: String,
    },
    /// A layer ran (`depth` counts the global chain first, then the
    /// route's).
    Layer {
        /// Its position among the exchange's layers.
        depth: usize,
        /// `next`, `answer STATUS`, `call ADDR`.
        decision: String,
        /// What it got back, when it was resuming on a call's reply.
        reply: Option<String>,
        /// The note it left for the access record, if any.
        note: Option<String>,
        /// How it changed the request head (`+ name: value`, `- name: value`,
        /// `target: old -> new`).
        changes: Vec<String>,
        /// Fields it left for the response (a rate limit's state, CORS).
        response_fields: Vec<String>,
    },
    /// Every route, best first, and whether it matched.
    Routes {
        /// One per route, in precedence order.
        checks: Vec<RouteCheck>,
        /// The route taken, or what happens instead.
        chosen: String,
    },
    /// The balancer's pick.
    Pick {
        /// The upstream group.
        upstream: String,
        /// The strategy.
        balancer: String,
        /// The request's hash key, when the group hashes.
        key: Option<String>,
        /// The balancer's state before the pick.
        state: String,
        /// How the server was chosen (`balancer`, `sticky cookie`,
        /// `fail open`).
        how: String,
        /// The server picked.
        server: String,
    },
}

/// One route as the router weighed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RouteCheck {
    /// The route's name.
    pub route: String,
    /// It matched (the first that does is taken).
    pub matched: bool,
    /// Why it did or did not.
    pub why: String,
}

/// A layer's decision in words.
pub fn decision(flow: &Flow) -> String {
    match flow {
        Flow::Next => "next".into(),
        Flow::Answer(a) => format!("answer {}", a.head.status),
        Flow::Call { call, deadline } => {
            format!("call {} (deadline {} ms)", call.addr, deadline.as_millis())
        }
    }
}

/// A framing in words.
pub fn framing(f: Framing) -> String {
    match f {
        Framing::None => "no body".into(),
        Framing::Length(n) => format!("Content-Length: {n}"),
        Framing::Chunked => "chunked".into(),
        Framing::UntilClose => "until close".into(),
    }
}

/// How `after` differs from `before`: the target, then removed and
/// added header fields.
pub fn changes(before: &RequestHead, after: &RequestHead) -> Vec<String> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut out = Vec::new();
    if before.target != after.target {
        out.push(format!(
            "target: {} -> {}",
            text(&before.target),
            text(&after.target)
        ));
    }
    let fields = |h: &RequestHead| -> Vec<(String, String)> {
        h.headers.iter().map(|(n, v)| (text(n), text(v))).collect()
    };
    let (old, new) = (fields(before), fields(after));
    for f in &old {
        if !new.contains(f) {
            out.push(format!("- {}: {}", f.0, f.1));
        }
    }
    for f in &new {
        if !old.contains(f) {
            out.push(format!("+ {}: {}", f.0, f.1));
        }
    }
    out
}

/// Writes down a layer's decision into the context's trace (after
/// [`Trace::before_layer`]).
#[cold]
#[inline(never)]
pub(crate) fn layer(
    cx: &mut crate::middleware::Cx<'_>,
    depth: usize,
    after: &RequestHead,
    flow: &Flow,
) {
    use crate::call::Reply;
    let now_note = cx.note;
    let Some(seen) = cx.trace.as_deref_mut().and_then(|t| t.layer_seen.take()) else {
        return;
    };
    let (before, replied, note_before, fields_before) = *seen;
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let response_fields = cx
        .response_fields
        .get(fields_before..)
        .unwrap_or_default()
        .iter()
        .map(|(n, v)| format!("{}: {}", text(n), text(v)))
        .collect();
    let Some(t) = cx.trace.as_deref_mut() else {
        return;
    };
    let note = now_note.filter(|n| Some(*n) != note_before);
    let reply = replied.map(|r| match r {
        Reply::Done(b) => format!("{} bytes", b.len()),
        Reply::Failed(why) => format!("failed: {why}"),
        Reply::Expired => "none before the deadline".into(),
    });
    t.steps.push(Step::Layer {
        depth,
        decision: decision(flow),
        reply,
        note: note.map(String::from),
        changes: changes(&before, after),
        response_fields,
    });
}

impl Trace {
    /// Notes what a layer is about to be handed.
    #[cold]
    #[inline(never)]
    pub(crate) fn before_layer(
        &mut self,
        req: &RequestHead,
        reply: &Option<crate::call::Reply>,
        note: Option<&'static str>,
        fields: usize,
    ) {
        self.layer_seen = Some(Box::new((req.clone(), reply.clone(), note, fields)));
    }

    /// Writes down the parsed head.
    #[cold]
    #[inline(never)]
    pub(crate) fn head(&mut self, req: &RequestHead, f: Framing, client: std::net::IpAddr) {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        self.steps.push(Step::Head {
            method: text(&req.method),
            target: text(&req.target),
            version: req.version.as_str().into(),
            framing: framing(f),
            client: client.to_string(),
        });
    }
}

impl Trace {
    /// Writes down every route's verdict for `req` and the router's.
    #[cold]
    #[inline(never)]
    pub(crate) fn routes(&mut self, plan: &crate::Plan, req: &RequestHead) {
        use crate::proxy::Found;
        let (checks, found) = plan.router.explain(req);
        let chosen = match found {
            Found::Route(r) => plan.router.routes()[r].name.clone(),
            Found::WrongMethod(allow) => {
                format!("none: 405, Allow: {}", String::from_utf8_lossy(&allow))
            }
            Found::Nothing => "none: 404".into(),
        };
        self.steps.push(Step::Routes { checks, chosen });
    }

    /// Writes down the state of `group` before it picks for `key`.
    #[cold]
    #[inline(never)]
    pub(crate) fn before_pick(
        &mut self,
        group: &crate::balancer::Group,
        key: Option<u64>,
        now: std::time::Instant,
    ) {
        self.steps.push(Step::Pick {
            upstream: group.name.clone(),
            balancer: group.spec.strategy.name().into(),
            key: key.map(|k| format!("{k:016x}")),
            state: group.describe(key, now),
            how: String::new(),
            server: String::new(),
        });
    }

    /// Completes the pick [`Trace::before_pick`] began: the server, if
    /// any, and whether a sticky cookie or failing open chose it.
    #[cold]
    #[inline(never)]
    pub(crate) fn picked(&mut self, sticky: bool, pick: Option<(bool, std::net::SocketAddr)>) {
        let Some(Step::Pick { how, server, .. }) = self.steps.last_mut() else {
            return;
        };
        let (h, s) = match pick {
            None => ("none usable", String::new()),
            Some((true, a)) => ("fail open: every server is down", a.to_string()),
            Some((false, a)) if sticky => ("sticky cookie", a.to_string()),
            Some((false, a)) => ("balancer", a.to_string()),
        };
        *how = h.into();
        *server = s;
    }
}
