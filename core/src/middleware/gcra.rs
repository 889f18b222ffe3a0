//! The rate-limit store: GCRA (the generic cell rate algorithm) over a
//! fixed table of atomic cells, shared by every worker of the process, so
//! a limit is exact per instance (100/s with two workers admits 100/s).
//!
//! One cell per key: a 16-bit fingerprint of the key and its theoretical
//! arrival time (TAT) in microseconds since the store's first request,
//! packed into one `AtomicU64` and updated with compare-and-swap: no lock,
//! and a cell never holds one key's fingerprint with another's time. A
//! request is admitted iff `max(TAT, now) - now <= (burst - 1) * T`, and
//! then `TAT = max(TAT, now) + T`, `T = per / rate`.
//!
//! A cell whose TAT has passed is as good as empty (its key would be
//! admitted fresh), so it is reused at once: memory is the table, fixed
//! at `max_keys`, whatever the number of distinct keys. A key looks at 8
//! cells from its hash; when all 8 hold live keys, the one that frees
//! soonest is taken over (that key's history is forgotten: it can only be
//! admitted more, never less). Two keys with the same cell and the same
//! fingerprint (1 in 65 536 of those that meet) share a limit.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Cells looked at per key.
const PROBES: usize = 8;
/// Bits of the TAT (microseconds): 2^48 µs is about 8.9 years of uptime.
const TAT_BITS: u32 = 48;
const TAT_MASK: u64 = (1 << TAT_BITS) - 1;

/// The verdict on one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Admitted; this many more would be admitted right now, and the
    /// quota is whole again after `reset`.
    Admit {
        /// Requests left in the burst now.
        remaining: u64,
        /// Until the burst is whole again.
        reset: Duration,
    },
    /// Refused; the next request of this key is admitted after `wait`.
    Refuse {
        /// Until a request would be admitted.
        wait: Duration,
    },
}

/// A limit's settings and its table.
pub struct Gcra {
    /// The emission interval `T`, microseconds.
    interval: u64,
    /// The burst (at least 1).
    burst: u64,
    cells: Box<[AtomicU64]>,
    /// The time the TATs count from (the first request's).
    epoch: OnceLock<Instant>,
}

impl Gcra {
    /// `rate` requests per `per`, `burst` at once, room for `max_keys`.
    pub fn new(rate: u64, per: Duration, burst: u64, max_keys: usize) -> Gcra {
        let per_us = per.as_micros().min(u128::from(u64::MAX)) as u64;
        Gcra {
            interval: (per_us / rate.max(1)).max(1),
            burst: burst.max(1),
            cells: (0..max_keys.max(PROBES))
                .map(|_| AtomicU64::new(0))
                .collect(),
            epoch: OnceLock::new(),
        }
    }

    /// The emission interval `T` and the burst tolerance `(burst - 1) × T`,
    /// microseconds (what a shared store computes with).
    pub fn interval_and_tolerance(&self) -> (u64, u64) {
        (self.interval, (self.burst - 1) * self.interval)
    }

    /// The verdict a store gives as "admitted, the key's TAT now `ahead`
    /// of now" or "refused, admitted again after `wait`".
    pub fn verdict(&self, admitted: bool, us: u64) -> Verdict {
        match admitted {
            true => Verdict::Admit {
                remaining: (self.burst * self.interval).saturating_sub(us) / self.interval,
                reset: Duration::from_micros(us),
            },
            false => Verdict::Refuse {
                wait: Duration::from_micros(us),
            },
        }
    }

    /// Learns that the key hashed to `key` is used up to `ahead` past
    /// `now` elsewhere (a shared store's view): its TAT becomes at least
    /// `now + ahead`.
    pub fn raise(&self, key: u64, now: Instant, ahead: Duration) {
        let epoch = *self.epoch.get_or_init(|| now);
        let now_us = now.saturating_duration_since(epoch).as_micros() as u64 + 1;
        let fingerprint = (key >> 48).max(1);
        let want = (now_us + ahead.as_micros() as u64).min(TAT_MASK);
        loop {
            let (at, cell) = self.slot(key, fingerprint);
            let tat = match cell >> TAT_BITS == fingerprint {
                true => cell & TAT_MASK,
                false => 0,
            };
            if tat >= want {
                return;
            }
            let packed = fingerprint << TAT_BITS | want;
            if self.cells[at]
                .compare_exchange(cell, packed, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return;
            }
        }
    }

    /// The key's own cell, else an expired or empty one, else the live
    /// one that frees soonest: its index and what it holds.
    fn slot(&self, key: u64, fingerprint: u64) -> (usize, u64) {
        let start = (key as usize) % self.cells.len();
        let mut chosen: Option<(usize, u64)> = None;
        for i in 0..PROBES {
            let at = (start + i) % self.cells.len();
            let cell = self.cells[at].load(Ordering::Acquire);
            let (fp, tat) = (cell >> TAT_BITS, cell & TAT_MASK);
            if fp == fingerprint {
                return (at, cell);
            }
            let better = match chosen {
                None => true,
                Some((_, c)) => tat < (c & TAT_MASK),
            };
            if better {
                chosen = Some((at, cell));
            }
        }
        chosen.unwrap_or((start, 0))
    }

    /// How many keys it can hold.
    pub fn capacity(&self) -> usize {
        self.cells.len()
    }

    /// Decides on one request of the key hashed to `key` at `now`.
    pub fn check(&self, key: u64, now: Instant) -> Verdict {
        let epoch = *self.epoch.get_or_init(|| now);
        // 1 so that a live cell never reads as empty (0).
        let now_us = now.saturating_duration_since(epoch).as_micros() as u64 + 1;
        let fingerprint = (key >> 48).max(1);
        let tolerance = (self.burst - 1) * self.interval;
        loop {
            let (at, cell) = self.slot(key, fingerprint);
            let tat = if cell >> TAT_BITS == fingerprint {
                (cell & TAT_MASK).max(now_us)
            } else {
                now_us
            };
            if tat - now_us > tolerance {
                return Verdict::Refuse {
                    wait: Duration::from_micros(tat - now_us - tolerance),
                };
            }
            let next = (tat + self.interval).min(TAT_MASK);
            let packed = fingerprint << TAT_BITS | next;
            if self.cells[at]
                .compare_exchange(cell, packed, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                let ahead = next - now_us;
                let room = (self.burst * self.interval).saturating_sub(ahead);
                return Verdict::Admit {
                    remaining: room / self.interval,
                    reset: Duration::from_micros(ahead),
                };
            }
            // Another worker changed the cell: decide again on what it holds.
        }
    }
}
