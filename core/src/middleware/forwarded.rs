//! The built-in first layer: `X-Forwarded-For` (the client address
//! appended), `X-Forwarded-Proto` and `X-Forwarded-Host`.

use bytes::{BufMut, Bytes, BytesMut};

use super::{Cx, Flow, Layer};
use crate::http1::RequestHead;

/// Adds the `X-Forwarded-*` headers to every request.
pub struct Forwarded;

impl Layer for Forwarded {
    fn on_request(&self, req: &mut RequestHead, cx: &mut Cx<'_>) -> Flow {
        let xff = if req.headers.contains("x-forwarded-for") {
            let mut xff = BytesMut::new();
            for v in req.headers.get_all("x-forwarded-for") {
                xff.put_slice(v);
                xff.put_slice(b", ");
            }
            xff.put_slice(cx.client_ip);
            xff.freeze()
        } else {
            cx.client_ip.clone()
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
