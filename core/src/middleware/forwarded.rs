//! The built-in first layer: `X-Forwarded-For` (the address of the peer
//! the request came from appended, as every hop does: the client, or the
//! trusted proxy in front), `X-Forwarded-Proto` and `X-Forwarded-Host`.

use bytes::{BufMut, Bytes, BytesMut};

use super::{Cx, Flow, Layer};
use crate::http1::RequestHead;

/// Adds the `X-Forwarded-*` headers to every request.
pub struct Forwarded;

impl Layer for Forwarded {
    fn on_request(&self, req: &mut RequestHead, cx: &mut Cx<'_>) -> Flow {
        // The peer, not the client `[client_ip]` resolved behind it: the
        // list stays a record of the hops ("client, proxy"), as the next
        // hop's own right-to-left walk expects. Formatted only when the
        // two differ (a trusted proxy in front).
        let hop = if cx.peer == cx.client.ip() {
            cx.client_ip.clone()
        } else {
            Bytes::from(cx.peer.to_string())
        };
        let xff = if req.headers.contains("x-forwarded-for") {
            let mut xff = BytesMut::new();
            for v in req.headers.get_all("x-forwarded-for") {
                xff.put_slice(v);
                xff.put_slice(b", ");
            }
            xff.put_slice(&hop);
            xff.freeze()
        } else {
            hop
        };
        req.headers.set(Bytes::from_static(b"X-Forwarded-For"), xff);
        req.headers.set(
            Bytes::from_static(b"X-Forwarded-Proto"),
            Bytes::from_static(b"http"),
        );
        if let Some(host) = req.headers.get_bytes("host") {
            req.headers
                .set(Bytes::from_static(b"X-Forwarded-Host"), host);
        }
        Flow::Next
    }
}
