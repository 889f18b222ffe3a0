//! `kind = "concurrency"`: at most `max` requests in flight per key
//! (nginx `limit_conn`, Traefik `InFlightReq`), across the workers of the
//! process; a slot is given back when the exchange ends, however it ends
//! (answered, failed upstream, client reset, cut at shutdown).
//!
//! ```toml
//! [[middleware]]
//! name = "one-at-a-time"
//! kind = "concurrency"
//! key = ["client-ip"]   # as rate-limit's
//! max = 10              # requests in flight per key
//! max_keys = 100000     # keys held at once
//! ```
//!
//! Refused: 429 with a problem+json body; the connection stays open.
//!
//! The counts live in a fixed table of atomic cells (a 16-bit key
//! fingerprint and a count in one `AtomicU64`, compare-and-swap, no
//! lock). A cell whose count is 0 is free. A key that finds its 8
//! candidate cells all busy with other keys is admitted without being
//! counted (memory stays bounded; such a flood is what rate limits are for).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;

use super::limit_key::LimitKey;
use super::{Answer, Cx, Flow, Kind, Layer, Problems};
use crate::http1::RequestHead;

/// The registry entry.
pub const KIND: Kind = Kind {
    name: "concurrency",
    build,
};

const PROBES: usize = 8;
const COUNT_BITS: u32 = 48;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    key: Option<Vec<String>>,
    max: u64,
    max_keys: Option<usize>,
}

/// In-flight counts per key.
pub struct Concurrency {
    key: LimitKey,
    max: u64,
    cells: Box<[AtomicU64]>,
}

fn build(_env: &super::Env<'_>, table: &toml::Table) -> Result<Arc<dyn Layer>, Problems> {
    let raw: Raw = super::settings(table)?;
    let mut problems = Vec::new();
    let key = LimitKey::parse(raw.key, &mut problems);
    if raw.max == 0 || raw.max > 1_000_000 {
        problems.push(("max".into(), "must be between 1 and 1000000".into()));
    }
    let max_keys = raw.max_keys.unwrap_or(100_000);
    if !(8..=100_000_000).contains(&max_keys) {
        problems.push(("max_keys".into(), "must be between 8 and 100000000".into()));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Arc::new(Concurrency::new(key, raw.max, max_keys)))
}

/// What [`Concurrency::enter`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// Counted in this cell: give it back at the end.
    Counted(usize),
    /// Admitted without a cell (every candidate busy).
    Uncounted,
    /// The key is at `max`.
    Full,
}

impl Concurrency {
    /// `max` in flight per key of `key`, room for `max_keys` keys.
    pub fn new(key: LimitKey, max: u64, max_keys: usize) -> Concurrency {
        Concurrency {
            key,
            max,
            cells: (0..max_keys.max(PROBES))
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }

    /// One more request of the key hashed to `key`, if there is room.
    pub fn enter(&self, key: u64) -> Entry {
        let fingerprint = (key >> COUNT_BITS).max(1);
        let start = (key as usize) % self.cells.len();
        'again: loop {
            let mut free = None;
            for i in 0..PROBES {
                let at = (start + i) % self.cells.len();
                let cell = self.cells[at].load(Ordering::Acquire);
                let (fp, count) = (cell >> COUNT_BITS, cell & COUNT_MASK);
                if fp == fingerprint && count > 0 {
                    if count >= self.max {
                        return Entry::Full;
                    }
                    let next = cell + 1;
                    if self.cells[at]
                        .compare_exchange(cell, next, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                    {
                        return Entry::Counted(at);
                    }
                    continue 'again;
                }
                if count == 0 && free.is_none() {
                    free = Some((at, cell));
                }
            }
            let Some((at, cell)) = free else {
                return Entry::Uncounted;
            };
            if self.cells[at]
                .compare_exchange(
                    cell,
                    fingerprint << COUNT_BITS | 1,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
            {
                return Entry::Counted(at);
            }
        }
    }

    /// Gives back a slot [`Concurrency::enter`] counted in cell `at`.
    pub fn leave(&self, at: usize) {
        if let Some(cell) = self.cells.get(at) {
            // Counted cells hold at least the one being given back.
            let _ = cell.fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
                (c & COUNT_MASK > 0).then(|| if c & COUNT_MASK == 1 { 0 } else { c - 1 })
            });
        }
    }

    /// Requests in flight for the key hashed to `key` (tests, status).
    pub fn in_flight(&self, key: u64) -> u64 {
        let fingerprint = (key >> COUNT_BITS).max(1);
        let start = (key as usize) % self.cells.len();
        (0..PROBES)
            .map(|i| self.cells[(start + i) % self.cells.len()].load(Ordering::Acquire))
            .find(|c| c >> COUNT_BITS == fingerprint)
            .map_or(0, |c| c & COUNT_MASK)
    }
}

impl Layer for Concurrency {
    fn on_request(&self, req: &mut RequestHead, cx: &mut Cx<'_>) -> Flow {
        match self.enter(self.key.of(req, cx)) {
            Entry::Counted(at) => {
                cx.hold = Some(at as u64);
                Flow::Next
            }
            Entry::Uncounted => Flow::Next,
            Entry::Full => {
                let mut a = Answer::plain(429);
                a.head.headers.set(
                    Bytes::from_static(b"Content-Type"),
                    Bytes::from_static(b"application/problem+json"),
                );
                a.body = Bytes::from_static(
                    b"{\"type\":\"https://iana.org/assignments/http-problem-types#quota-exceeded\",\"title\":\"Too Many Requests\",\"status\":429,\"detail\":\"too many requests in flight\"}\n",
                );
                Flow::Answer(a)
            }
        }
    }

    fn on_end(&self, token: u64) {
        self.leave(token as usize);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(max: u64, keys: usize) -> Concurrency {
        Concurrency::new(LimitKey::parse(None, &mut vec![]), max, keys)
    }

    #[test]
    fn counts_up_to_max_and_gives_back() {
        let c = layer(2, 16);
        let k = 5 << 48 | 3;
        let a = c.enter(k);
        let b = c.enter(k);
        assert!(matches!((a, b), (Entry::Counted(x), Entry::Counted(y)) if x == y));
        assert_eq!(c.enter(k), Entry::Full);
        assert_eq!(c.in_flight(k), 2);
        let Entry::Counted(at) = a else {
            unreachable!()
        };
        c.leave(at);
        assert_eq!(c.in_flight(k), 1);
        assert!(matches!(c.enter(k), Entry::Counted(_)));
        c.leave(at);
        c.leave(at);
        assert_eq!(c.in_flight(k), 0);
        c.leave(at); // never below zero
        assert_eq!(c.in_flight(k), 0);
    }

    #[test]
    fn a_full_table_admits_uncounted() {
        let c = layer(1, 8);
        for k in 1..=8u64 {
            assert!(matches!(c.enter(k << 48 | k), Entry::Counted(_)));
        }
        assert_eq!(c.enter(99 << 48 | 9), Entry::Uncounted);
    }
}
