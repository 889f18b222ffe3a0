//! `kind = "headers"`: set and remove request and response headers.

use bytes::Bytes;

use super::{Cx, Flow, Layer};
use crate::config::LayerSpec;
use crate::http1::{RequestHead, ResponseHead};

/// Header edits on the way in and on the way out.
pub struct HeaderRules {
    request_set: Vec<(Bytes, Bytes)>,
    request_remove: Vec<Bytes>,
    response_set: Vec<(Bytes, Bytes)>,
    response_remove: Vec<Bytes>,
}

fn pairs(list: &[(String, String)]) -> Vec<(Bytes, Bytes)> {
    list.iter()
        .map(|(k, v)| (Bytes::from(k.clone()), Bytes::from(v.clone())))
        .collect()
}

fn names(list: &[String]) -> Vec<Bytes> {
    list.iter().map(|k| Bytes::from(k.clone())).collect()
}

impl HeaderRules {
    /// The layer for a `headers` spec.
    pub fn new(spec: &LayerSpec) -> HeaderRules {
        let LayerSpec::Headers {
            request_set,
            request_remove,
            response_set,
            response_remove,
        } = spec;
        HeaderRules {
            request_set: pairs(request_set),
            request_remove: names(request_remove),
            response_set: pairs(response_set),
            response_remove: names(response_remove),
        }
    }
}

impl Layer for HeaderRules {
    fn on_request(&mut self, req: &mut RequestHead, _cx: &mut Cx<'_>) -> Flow {
        for n in &self.request_remove {
            req.headers.remove(n);
        }
        for (n, v) in &self.request_set {
            req.headers.set(n.clone(), v.clone());
        }
        Flow::Next
    }

    fn on_response(&mut self, _req: &RequestHead, resp: &mut ResponseHead, _cx: &mut Cx<'_>) {
        for n in &self.response_remove {
            resp.headers.remove(n);
        }
        for (n, v) in &self.response_set {
            resp.headers.set(n.clone(), v.clone());
        }
    }
}
