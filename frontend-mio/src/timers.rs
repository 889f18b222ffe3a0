//! The worker's timers: a min-heap of deadlines with lazy deletion.
//!
//! An entry is 16 bytes (nanoseconds after the worker started, and a
//! tagged key) rather than 32: idle connections leave stale entries
//! behind until their deadlines pass, so the entry size counts.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::num::NonZeroU64;
use std::time::{Duration, Instant};

/// A deadline as the heap keeps it: nanoseconds after the worker started,
/// plus one. Ordered as the instants are; 8 bytes, and `None` is free
/// (an `Option<Instant>` takes 16): every connection holds one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stamp(NonZeroU64);

/// What a deadline belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    /// A connection's core asked to be woken (connection key).
    Conn(usize),
    /// The oldest pooled upstream socket's idle time ends: the pool is
    /// swept (one entry for the whole pool, armed while it holds any, so
    /// pooling a socket per request adds nothing to the heap).
    PoolSweep,
}

/// The packed key of [`Due::PoolSweep`].
const POOL_SWEEP: u32 = 1 << 31;

impl Due {
    /// Slab keys stay far below 2^31 (each entry is ~100 bytes or more).
    fn pack(self) -> u32 {
        match self {
            Due::Conn(k) => k as u32 & !POOL_SWEEP,
            Due::PoolSweep => POOL_SWEEP,
        }
    }

    fn unpack(v: u32) -> Due {
        if v & POOL_SWEEP != 0 {
            Due::PoolSweep
        } else {
            Due::Conn(v as usize)
        }
    }
}

/// Deadlines; stale entries are skipped by the caller's check.
pub struct TimerHeap {
    epoch: Instant,
    heap: BinaryHeap<Reverse<(u64, u32)>>,
}

impl TimerHeap {
    /// No deadlines; none will precede `epoch` (the worker's start).
    pub fn new(epoch: Instant) -> TimerHeap {
        TimerHeap {
            epoch,
            heap: BinaryHeap::new(),
        }
    }

    fn decode(&self, nanos: u64) -> Instant {
        self.epoch + Duration::from_nanos(nanos)
    }

    /// `at` as the heap keeps it.
    pub fn stamp(&self, at: Instant) -> Stamp {
        let nanos = at.saturating_duration_since(self.epoch).as_nanos();
        let nanos = u64::try_from(nanos).unwrap_or(u64::MAX);
        Stamp(NonZeroU64::MIN.saturating_add(nanos))
    }

    /// Adds a deadline.
    pub fn push(&mut self, at: Instant, due: Due) {
        let Stamp(s) = self.stamp(at);
        self.heap.push(Reverse((s.get() - 1, due.pack())));
    }

    /// Drops every entry `keep` refuses (stale ones: deadlines that were
    /// moved or whose connection closed) and gives back the memory the
    /// heap no longer needs. A burst leaves entries behind until their
    /// deadlines pass, and the heap keeps the pages its peak touched.
    pub fn retain(&mut self, mut keep: impl FnMut(Stamp, Due) -> bool) {
        self.heap.retain(|Reverse((nanos, due))| {
            keep(
                Stamp(NonZeroU64::MIN.saturating_add(*nanos)),
                Due::unpack(*due),
            )
        });
        if self.heap.capacity() > 2 * self.heap.len() {
            self.heap.shrink_to_fit();
        }
    }

    /// Entries held (stale ones included).
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((t, _))| self.decode(*t))
    }

    /// Removes and returns one entry due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, Due)> {
        let at = self.next()?;
        if at > now {
            return None;
        }
        let Reverse((_, due)) = self.heap.pop()?;
        Some((at, Due::unpack(due)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_come_back_exactly_in_order() {
        let t0 = Instant::now();
        let mut heap = TimerHeap::new(t0);
        let a = t0 + Duration::from_nanos(1_500_000_003);
        heap.push(a, Due::PoolSweep);
        heap.push(t0 + Duration::from_millis(1), Due::Conn(3));
        assert_eq!(heap.next(), Some(t0 + Duration::from_millis(1)));
        assert_eq!(heap.pop_due(t0), None);
        assert_eq!(
            heap.pop_due(a),
            Some((t0 + Duration::from_millis(1), Due::Conn(3)))
        );
        assert_eq!(heap.pop_due(a), Some((a, Due::PoolSweep)));
        assert_eq!(heap.pop_due(a), None);
    }

    #[test]
    fn stale_entries_are_dropped_and_their_memory_given_back() {
        let t0 = Instant::now();
        let mut heap = TimerHeap::new(t0);
        for k in 0..1000 {
            heap.push(t0 + Duration::from_millis(k as u64), Due::Conn(k));
        }
        heap.push(t0, Due::PoolSweep);
        let live = heap.stamp(t0 + Duration::from_millis(7));
        assert!(live < heap.stamp(t0 + Duration::from_millis(8)));
        heap.retain(|at, due| due == Due::PoolSweep || at == live);
        assert_eq!(heap.len(), 2);
        assert!(heap.heap.capacity() < 1000, "memory given back");
        assert_eq!(heap.pop_due(t0), Some((t0, Due::PoolSweep)));
        let at = t0 + Duration::from_millis(7);
        assert_eq!(heap.pop_due(at), Some((at, Due::Conn(7))));
    }
}
