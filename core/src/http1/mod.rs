//! HTTP/1.1 messages: incremental heads (httparse), framing and chunked bodies.
//!
//! Everything here is role-aware but socket-free: it reads byte slices and
//! says how much of them belongs to what.

pub mod body;
pub mod chunked;
pub mod framing;
pub mod head;
pub mod host;
pub mod parse;
pub mod path;
pub mod proxy_protocol;

pub use body::BodyReader;
pub use chunked::{ChunkError, ChunkedReader, Piece};
pub use framing::{request_framing, response_framing, Framing, FramingError};
pub use head::{Headers, RequestHead, ResponseHead, Version};
pub use parse::{
    parse_request, parse_request_into, parse_response, parse_response_into, HeadError, HeadScanner,
};
