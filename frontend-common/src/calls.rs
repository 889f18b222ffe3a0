//! Carrying out the core's outside calls (`Output::Call`), the part both
//! frontends share: the reply's bytes as they arrive and when they are
//! complete (the core says how replies are framed), and one log line per
//! incident when a called service stops answering, one more when it is back.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use bytes::{Bytes, BytesMut};
use weir_core::call::{reply_at_close, reply_end, Call, Reply};

/// What reading a reply came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Not complete yet.
    More,
    /// The whole reply; the connection may be reused when `reusable`
    /// (nothing follows the reply and the call allows reuse).
    Done(Reply, Reusable),
}

/// Whether a call's connection can serve another call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reusable {
    /// Back to the idle connections of its address.
    Yes,
    /// Close it.
    No,
}

/// One call's reply as it arrives.
#[derive(Debug)]
pub struct Incoming {
    call: Box<Call>,
    buf: BytesMut,
}

impl Incoming {
    /// For `call`.
    pub fn new(call: Box<Call>) -> Incoming {
        Incoming {
            call,
            buf: BytesMut::new(),
        }
    }

    /// The call.
    pub fn call(&self) -> &Call {
        &self.call
    }

    /// Bytes read from the service.
    pub fn received(&mut self, bytes: &[u8]) -> Step {
        self.buf.extend_from_slice(bytes);
        match reply_end(self.call.protocol, &self.buf) {
            Ok(None) => Step::More,
            Ok(Some(n)) => {
                let reusable = match self.call.reuse && n == self.buf.len() {
                    true => Reusable::Yes,
                    false => Reusable::No,
                };
                Step::Done(Reply::Done(self.buf.split_to(n).freeze()), reusable)
            }
            Err(why) => Step::Done(Reply::Failed(why), Reusable::No),
        }
    }

    /// The service closed its side (or reset: `failed`).
    pub fn closed(&mut self, failed: bool) -> Reply {
        match (failed, reply_at_close(self.call.protocol, &self.buf)) {
            (false, Some(n)) => Reply::Done(self.buf.split_to(n).freeze()),
            (true, _) => Reply::Failed("connection reset by the service"),
            (false, None) => Reply::Failed("the service closed the connection early"),
        }
    }

    /// The request to write.
    pub fn request(&self) -> Bytes {
        self.call.request.clone()
    }
}

/// Services that stopped answering, shared by the workers of a process:
/// the first failure of a call to an address logs a line, and so does
/// the first success after.
pub struct Incidents {
    any: AtomicBool,
    down: Mutex<Vec<SocketAddr>>,
}

/// The process's incidents (what both frontends' workers note calls in).
pub static INCIDENTS: Incidents = Incidents {
    any: AtomicBool::new(false),
    down: Mutex::new(Vec::new()),
};

impl Incidents {
    /// How a call to `addr` ended (`name` prefixes the log lines).
    pub fn note(&self, name: &str, addr: SocketAddr, reply: &Reply) {
        let failed = match reply {
            Reply::Failed(why) => Some(*why),
            Reply::Done(_) => None,
            Reply::Expired => return,
        };
        if failed.is_none() && !self.any.load(Ordering::Relaxed) {
            return;
        }
        let Ok(mut down) = self.down.lock() else {
            return;
        };
        let was = down.iter().position(|a| *a == addr);
        match (failed, was) {
            (Some(why), None) => {
                down.push(addr);
                eprintln!(
                    "{name}: calls to {addr} fail: {why} (logged once until it answers again)"
                );
            }
            (None, Some(i)) => {
                down.swap_remove(i);
                eprintln!("{name}: calls to {addr} succeed again");
            }
            _ => {}
        }
        self.any.store(!down.is_empty(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_core::call::{resp, Protocol};

    fn redis_call() -> Box<Call> {
        Box::new(Call {
            addr: "127.0.0.1:6379".parse().unwrap(),
            protocol: Protocol::Resp { replies: 1 },
            request: resp::command(&[b"PING"]),
            reuse: true,
        })
    }

    #[test]
    fn a_reply_completes_in_pieces_and_its_connection_is_reused_only_when_clean() {
        let mut r = Incoming::new(redis_call());
        assert_eq!(r.received(b"+PO"), Step::More);
        assert_eq!(
            r.received(b"NG\r\n"),
            Step::Done(Reply::Done(Bytes::from_static(b"+PONG\r\n")), Reusable::Yes)
        );
        let mut r = Incoming::new(redis_call());
        assert_eq!(
            r.received(b"+PONG\r\n+extra\r\n"),
            Step::Done(Reply::Done(Bytes::from_static(b"+PONG\r\n")), Reusable::No)
        );
        let mut r = Incoming::new(redis_call());
        assert_eq!(r.received(b"+PO"), Step::More);
        assert!(matches!(r.closed(false), Reply::Failed(_)));
    }
}
