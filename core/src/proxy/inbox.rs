//! Unparsed bytes from one peer.
//!
//! While nothing is buffered, a received `Bytes` is kept as it is, so a
//! head that arrives in one read is parsed and forwarded without a copy;
//! bytes are copied into one growing buffer only when a head spans reads.

use bytes::{Bytes, BytesMut};

/// Received bytes not yet consumed.
#[derive(Debug, Default)]
pub(super) struct Inbox {
    whole: Bytes,
    buf: BytesMut,
}

impl Inbox {
    /// Appends received bytes.
    pub fn push(&mut self, b: Bytes) {
        if self.buf.is_empty() && self.whole.is_empty() {
            self.whole = b;
            return;
        }
        if !self.whole.is_empty() {
            let whole = std::mem::take(&mut self.whole);
            self.buf.extend_from_slice(&whole);
        }
        self.buf.extend_from_slice(&b);
    }

    /// Everything held, contiguous.
    pub fn bytes(&self) -> &[u8] {
        if self.whole.is_empty() {
            &self.buf
        } else {
            &self.whole
        }
    }

    pub fn len(&self) -> usize {
        self.whole.len() + self.buf.len()
    }

    /// Takes the first `n` bytes.
    pub fn split_to(&mut self, n: usize) -> Bytes {
        if self.whole.is_empty() {
            self.buf.split_to(n).freeze()
        } else {
            self.whole.split_to(n)
        }
    }

    /// Takes everything.
    pub fn take(&mut self) -> Bytes {
        let n = self.len();
        self.split_to(n)
    }

    /// Drops everything.
    pub fn clear(&mut self) {
        self.whole = Bytes::new();
        self.buf = BytesMut::new();
    }
}
