//! Room at `max_connections` for weir-smol: each connection task holds a
//! seat that says what closing it would lose (the core's
//! `Connection::worth`, kept current by the task with one relaxed store
//! when it changes); when no permit is left, the accept loop kicks the
//! seat worth the least among a bounded sample, and the task closes its
//! connection at once. A kick is a flag and a waker in the seat (32 bytes),
//! not a channel per connection (768 bytes of heap each). A stop reaches
//! every connection the same way: the phase is set once for all, then
//! every seat's waker is woken (no channel listener per connection).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Context;
use std::time::Instant;

use atomic_waker::AtomicWaker;
use slab::Slab;
use weir_core::proxy::Worth;

/// One connection's seat.
pub struct Seat {
    /// `Worth` in the top 2 bits, then milliseconds since the seats'
    /// epoch (when it became so).
    worth: AtomicU64,
    /// Set to tell the task to close its connection.
    kicked: AtomicBool,
    /// The task waiting on this seat.
    waker: AtomicWaker,
}

impl Seat {
    /// Wakes the task of `cx` on a kick or a change of [`Phase`]; check
    /// both after this call, not before (no wake-up is lost between).
    pub fn watch(&self, cx: &Context<'_>) {
        self.waker.register(cx.waker());
    }

    /// True once the seat was kicked.
    pub fn kicked(&self) -> bool {
        self.kicked.load(Ordering::Acquire)
    }

    fn kick(&self) {
        self.kicked.store(true, Ordering::Release);
        self.waker.wake();
    }
}

/// Where a stop stands, for every connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Serving.
    Serving = 0,
    /// Stopping: finish the exchange in flight, take no new one.
    Stopping = 1,
    /// The grace period is over: cut what is in flight.
    Cut = 2,
}

/// Every connection's seat, shared by the accept loops.
pub struct Seats {
    epoch: Instant,
    /// A [`Phase`].
    phase: AtomicU8,
    seats: Mutex<Slab<Arc<Seat>>>,
    cursor: AtomicU64,
    said: Mutex<weir_frontend::io::Evictions>,
}

fn pack(epoch: Instant, worth: Worth, since: Instant) -> u64 {
    let class = match worth {
        Worth::Idle => 0,
        Worth::Silent => 1,
        Worth::Busy => 2,
    };
    let ms = since.saturating_duration_since(epoch).as_millis() as u64;
    class << 62 | ms.min((1 << 62) - 1)
}

impl Seats {
    /// No seat taken.
    pub fn new() -> Seats {
        Seats {
            epoch: Instant::now(),
            phase: AtomicU8::new(Phase::Serving as u8),
            seats: Mutex::new(Slab::new()),
            cursor: AtomicU64::new(0),
            said: Mutex::new(Default::default()),
        }
    }

    /// A seat for a new connection: its key and the seat.
    pub fn take(&self) -> (usize, Arc<Seat>) {
        let seat = Arc::new(Seat {
            worth: AtomicU64::new(pack(self.epoch, Worth::Silent, Instant::now())),
            kicked: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        });
        let key = self
            .seats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(seat.clone());
        (key, seat)
    }

    /// The connection ended.
    pub fn leave(&self, key: usize) {
        let mut seats = self.seats.lock().unwrap_or_else(|p| p.into_inner());
        if seats.contains(key) {
            seats.remove(key);
        }
    }

    /// Where the stop stands.
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Serving,
            1 => Phase::Stopping,
            _ => Phase::Cut,
        }
    }

    /// Moves every connection on to `phase` (never back) and wakes each.
    pub fn enter(&self, phase: Phase) {
        self.phase.fetch_max(phase as u8, Ordering::AcqRel);
        let seats = self.seats.lock().unwrap_or_else(|p| p.into_inner());
        for (_, seat) in seats.iter() {
            seat.waker.wake();
        }
    }

    /// Says what the connection is worth now.
    pub fn set(&self, seat: &Seat, worth: Worth, since: Instant) {
        let v = pack(self.epoch, worth, since);
        if seat.worth.load(Ordering::Relaxed) != v {
            seat.worth.store(v, Ordering::Relaxed);
        }
    }

    /// Kicks the seat worth the least among a sample; false when every
    /// sampled connection is busy. `limit` is for the log line.
    pub fn make_room(&self, limit: usize) -> bool {
        const SAMPLE: usize = 64;
        let seats = self.seats.lock().unwrap_or_else(|p| p.into_inner());
        let cap = seats.capacity().max(1);
        let start = self.cursor.load(Ordering::Relaxed) as usize % cap;
        let busy = 2u64 << 62;
        // SAMPLE seats from the cursor on (vacant slots skipped).
        let mut looked = 0;
        let best = (0..cap)
            .filter_map(|i| {
                looked = i + 1;
                seats.get((start + i) % cap)
            })
            .take(SAMPLE)
            .map(|s| (s.worth.load(Ordering::Relaxed), s))
            .filter(|(w, _)| *w < busy)
            .min_by_key(|(w, _)| *w);
        self.cursor
            .store(((start + looked) % cap) as u64, Ordering::Relaxed);
        let Some((_, seat)) = best else {
            return false;
        };
        seat.kick();
        // Not picked twice while it closes.
        seat.worth.store(busy, Ordering::Relaxed);
        drop(seats);
        self.said
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .note(Instant::now(), limit);
        true
    }
}
