//! Every error the proxy answers with, from one place that knows its
//! status, who caused it, and whether the client stream is still trusted.

use bytes::{BufMut, Bytes, BytesMut};

use crate::http1::{HeadError, ResponseHead};

/// Who caused a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The client sent something wrong or too slowly.
    Client,
    /// The upstream refused, failed, was slow or malformed.
    Upstream,
    /// The gateway's own config (no route, no usable server).
    Gateway,
}

/// A protocol or proxying error that ends an exchange with a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Malformed request (400); the text says what.
    BadRequest(&'static str),
    /// No route matches the host and path (404).
    NoRoute,
    /// A method weir does not proxy, such as CONNECT (405).
    MethodNotAllowed,
    /// The head or the body did not arrive in time (408).
    ClientTimeout,
    /// The body is larger than `max_request_body` (413).
    BodyTooLarge,
    /// The head is larger than `max_request_head` (431).
    HeadTooLarge,
    /// The upstream refused, reset, or sent a malformed response (502).
    BadGateway(&'static str),
    /// No server of the group is usable (503).
    NoServer,
    /// The upstream did not answer in time (504).
    UpstreamTimeout,
}

impl Fault {
    /// The status code sent for this fault.
    pub fn status(self) -> u16 {
        match self {
            Fault::BadRequest(_) => 400,
            Fault::NoRoute => 404,
            Fault::MethodNotAllowed => 405,
            Fault::ClientTimeout => 408,
            Fault::BodyTooLarge => 413,
            Fault::HeadTooLarge => 431,
            Fault::BadGateway(_) => 502,
            Fault::NoServer => 503,
            Fault::UpstreamTimeout => 504,
        }
    }

    /// Who caused it.
    pub fn origin(self) -> Origin {
        match self {
            Fault::BadRequest(_)
            | Fault::MethodNotAllowed
            | Fault::ClientTimeout
            | Fault::BodyTooLarge
            | Fault::HeadTooLarge => Origin::Client,
            Fault::BadGateway(_) | Fault::UpstreamTimeout => Origin::Upstream,
            Fault::NoRoute | Fault::NoServer => Origin::Gateway,
        }
    }

    /// A short explanation for logs.
    pub fn reason(self) -> &'static str {
        match self {
            Fault::BadRequest(why) | Fault::BadGateway(why) => why,
            Fault::NoRoute => "no route",
            Fault::MethodNotAllowed => "method not allowed",
            Fault::ClientTimeout => "client timeout",
            Fault::BodyTooLarge => "request body too large",
            Fault::HeadTooLarge => "request head too large",
            Fault::NoServer => "no usable server",
            Fault::UpstreamTimeout => "upstream timeout",
        }
    }

    /// True when the client stream can no longer be trusted (its framing
    /// is unknown), so the connection must close after the answer.
    pub fn closes_client(self) -> bool {
        self.origin() == Origin::Client
    }

    /// The answer's head, before framing and `Connection` are added.
    pub fn head(self) -> ResponseHead {
        let mut head = ResponseHead::new(self.status());
        head.headers.append(
            Bytes::from_static(b"Content-Type"),
            Bytes::from_static(b"text/plain"),
        );
        if self == Fault::MethodNotAllowed {
            // Required with a 405 (RFC 9110 §15.5.6); only CONNECT gets one.
            head.headers.append(
                Bytes::from_static(b"Allow"),
                Bytes::from_static(b"GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH, TRACE"),
            );
        }
        head
    }

    /// The answer's body: `"<status> <reason phrase>\n"`.
    pub fn body(self) -> Bytes {
        let head = ResponseHead::new(self.status());
        let mut b = BytesMut::with_capacity(head.reason.len() + 5);
        b.put_slice(self.status().to_string().as_bytes());
        b.put_u8(b' ');
        b.put_slice(&head.reason);
        b.put_u8(b'\n');
        b.freeze()
    }
}

impl From<HeadError> for Fault {
    fn from(e: HeadError) -> Fault {
        match e {
            HeadError::TooLarge | HeadError::TooManyHeaders => Fault::HeadTooLarge,
            HeadError::Malformed(why) => Fault::BadRequest(why),
        }
    }
}
