//! The flight recorder: when `[recorder]` is configured, each connection
//! keeps the raw bytes it exchanged with its client and what its
//! upstreams sent back (each direction up to `max_bytes`), with times;
//! when the client side closes, the recording goes to its worker's
//! [`Ring`], which keeps the last `connections` of them. A dump is in the
//! layout `replay` and `diff` read (`requests/N.bin`, `responses/N.bin`),
//! with the configured request fields masked.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::recorder::RecorderSpec;

/// One worker's finished recordings, oldest first.
#[derive(Debug)]
pub struct Ring {
    /// The settings it was made with.
    pub spec: RecorderSpec,
    done: VecDeque<Recording>,
}

/// A worker's ring, shared with whoever dumps it (locked once per
/// finished connection by its worker, and by a dump).
pub type SharedRing = Arc<Mutex<Ring>>;

impl Ring {
    /// An empty ring for `spec`.
    pub fn shared(spec: RecorderSpec) -> SharedRing {
        Arc::new(Mutex::new(Ring {
            spec,
            done: VecDeque::new(),
        }))
    }

    /// The recordings kept, oldest first.
    pub fn recordings(&self) -> impl Iterator<Item = &Recording> {
        self.done.iter()
    }

    fn keep(&mut self, r: Recording) {
        while self.done.len() >= self.spec.connections {
            self.done.pop_front();
        }
        self.done.push_back(r);
    }
}

/// Who sent a recorded piece.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The client, to weir.
    FromClient,
    /// Weir, to the client.
    ToClient,
    /// An upstream, to weir.
    FromUpstream,
}

/// One connection's bytes.
#[derive(Clone, Debug)]
pub struct Recording {
    /// The client's address.
    pub client: SocketAddr,
    /// The time of day it opened, when the frontend said (since the Unix epoch).
    pub opened: Option<Duration>,
    /// How long it lasted.
    pub lasted: Duration,
    /// Every byte the client sent (up to the cap).
    pub from_client: Vec<u8>,
    /// Every byte weir sent the client (up to the cap).
    pub to_client: Vec<u8>,
    /// Every byte its upstreams sent, in order (up to the cap).
    pub from_upstream: Vec<u8>,
    /// A direction reached the cap: what follows was not kept.
    pub truncated: bool,
    /// Each piece: milliseconds since the connection opened, who sent it,
    /// how many bytes.
    pub pieces: Vec<(u32, Direction, u32)>,
}

impl Recording {
    /// Nothing recorded yet.
    fn empty(client: SocketAddr, opened: Option<Duration>) -> Recording {
        Recording {
            client,
            opened,
            lasted: Duration::ZERO,
            from_client: Vec::new(),
            to_client: Vec::new(),
            from_upstream: Vec::new(),
            truncated: false,
            pieces: Vec::new(),
        }
    }
}

/// A connection's recording in progress.
#[derive(Debug)]
pub(crate) struct Recorder {
    rec: Recording,
    started: Instant,
    last: Instant,
    max: usize,
    ring: SharedRing,
}

impl Recorder {
    /// Starts recording a connection from `client` at `now`, each
    /// direction capped at `max` bytes.
    pub(crate) fn start(
        ring: &SharedRing,
        max: usize,
        client: SocketAddr,
        now: Instant,
        wall: Option<Duration>,
    ) -> Box<Recorder> {
        Box::new(Recorder {
            rec: Recording::empty(client, wall),
            started: now,
            last: now,
            max,
            ring: ring.clone(),
        })
    }

    /// Notes the time of the input being handled.
    pub(crate) fn at(&mut self, now: Instant) {
        self.last = now;
    }

    /// Keeps `bytes` sent by `who`.
    pub(crate) fn piece(&mut self, who: Direction, bytes: &[u8]) {
        let into = match who {
            Direction::FromClient => &mut self.rec.from_client,
            Direction::ToClient => &mut self.rec.to_client,
            Direction::FromUpstream => &mut self.rec.from_upstream,
        };
        let room = self.max.saturating_sub(into.len());
        if room < bytes.len() {
            self.rec.truncated = true;
        }
        let kept = &bytes[..bytes.len().min(room)];
        into.extend_from_slice(kept);
        let ms = self
            .last
            .saturating_duration_since(self.started)
            .as_millis();
        self.rec
            .pieces
            .push((ms.min(u128::from(u32::MAX)) as u32, who, bytes.len() as u32));
    }

    /// The client side closed: the recording goes to the ring.
    pub(crate) fn finish(self: Box<Self>) {
        drop(self);
    }
}

/// However a connection ends (closed by the core, or dropped by its
/// frontend), its recording goes to the ring.
impl Drop for Recorder {
    fn drop(&mut self) {
        let client = self.rec.client;
        let mut rec = std::mem::replace(&mut self.rec, Recording::empty(client, None));
        rec.lasted = self.last.saturating_duration_since(self.started);
        let kept = self.ring.lock().map(|mut r| r.keep(rec));
        drop(kept);
    }
}

/// `stream` (a client's bytes) with the values of the fields named in
/// `names` (lower case) in every request head replaced by `*`s of the
/// same length, so that offsets and lengths stay as they were.
pub fn redact(stream: &[u8], names: &[String]) -> Vec<u8> {
    let mut out = stream.to_vec();
    let mut at = 0;
    while at < out.len() {
        let Some(head_end) = find(&out[at..], b"\r\n\r\n").map(|i| at + i) else {
            break;
        };
        let mut line = match find(&out[at..head_end], b"\r\n") {
            Some(i) => at + i + 2,
            None => head_end,
        };
        while line < head_end {
            let end = find(&out[line..head_end], b"\r\n").map_or(head_end, |i| line + i);
            if let Some(colon) = out[line..end].iter().position(|&b| b == b':') {
                let name = String::from_utf8_lossy(&out[line..line + colon]).to_ascii_lowercase();
                if names.iter().any(|n| *n == name.trim()) {
                    for b in &mut out[line + colon + 1..end] {
                        if *b != b' ' && *b != b'\t' {
                            *b = b'*';
                        }
                    }
                }
            }
            line = end + 2;
        }
        // The body (if any) follows; the next head is found after it.
        let body = crate::sim::complete_request(&out[at..])
            .map_or(head_end + 4, |n| at + n)
            .max(head_end + 4);
        at = body;
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_masked_to_the_same_length_in_every_head_and_bodies_kept() {
        let names = vec!["authorization".to_string(), "x-api-key".to_string()];
        let stream = b"POST /a HTTP/1.1\r\nAuthorization: Basic dXNlcjpw\r\nContent-Length: 17\r\n\r\nAuthorization: no\
GET /b HTTP/1.1\r\nx-api-KEY:k-1\r\nHost: h\r\n\r\n";
        let out = redact(stream, &names);
        assert_eq!(out.len(), stream.len());
        assert_eq!(
            String::from_utf8_lossy(&out),
            "POST /a HTTP/1.1\r\nAuthorization: ***** ********\r\nContent-Length: 17\r\n\r\nAuthorization: no\
GET /b HTTP/1.1\r\nx-api-KEY:***\r\nHost: h\r\n\r\n"
        );
    }
}
