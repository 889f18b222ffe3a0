//! Giving freed heap back to the operating system.
//!
//! glibc keeps memory freed in the middle of its heap: after a burst of
//! connections goes idle (each gave back its buffers), the process keeps
//! the burst's peak RSS for good. HAProxy answers this with
//! `malloc_trim` in its pool garbage collector; so do we, at a bounded
//! rate and only when something was released since the last trim.

use std::time::{Duration, Instant};

/// Shortest time between two trims of a quiet worker.
const QUIET_EVERY: Duration = Duration::from_millis(100);
/// Shortest time between two trims of a busy worker.
const BUSY_EVERY: Duration = Duration::from_secs(1);
/// Releases after which a busy worker trims anyway.
const BUSY_RELEASES: u32 = 1024;

/// Decides when a worker hands free heap pages back.
#[derive(Debug, Default)]
pub struct HeapTrim {
    released: u32,
    last: Option<Instant>,
}

impl HeapTrim {
    /// A connection gave back its buffers or closed.
    pub fn note_release(&mut self) {
        self.released = self.released.saturating_add(1);
    }

    /// Trims if something was released: when the worker is `quiet` (no
    /// socket was ready) and the last trim is 100 ms old, or after many
    /// releases and a second; true if it trimmed. `shed` runs first, to
    /// free what the worker keeps for reuse (`Gateway::shed_spares`):
    /// kept allocations from a burst pin the pages around them.
    pub fn maybe_trim(&mut self, now: Instant, quiet: bool, shed: impl FnOnce()) -> bool {
        let since = |gap| self.last.is_none_or(|t| now >= t + gap);
        let due = (quiet && self.released > 0 && since(QUIET_EVERY))
            || (self.released >= BUSY_RELEASES && since(BUSY_EVERY));
        if !due {
            return false;
        }
        self.released = 0;
        self.last = Some(now);
        shed();
        release_free_heap();
        true
    }

    /// When a worker with nothing else to do should wake to trim.
    pub fn wake_at(&self) -> Option<Instant> {
        match self.last {
            Some(t) if self.released > 0 => Some(t + QUIET_EVERY),
            _ => None,
        }
    }
}

/// How the process's allocator gives free pages back, when it is not the
/// system's (a binary that sets a `#[global_allocator]` says so once, at
/// start, with [`release_with`]).
static RELEASE: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Makes [`release_free_heap`] call `release` (the binary's allocator's
/// own way) instead of glibc's `malloc_trim`. The first call wins.
pub fn release_with(release: fn()) {
    let _ = RELEASE.set(release);
}

/// Returns the allocator's free pages to the operating system.
pub fn release_free_heap() {
    match RELEASE.get() {
        Some(release) => release(),
        None => trim_system_heap(),
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn trim_system_heap() {
    // SAFETY: malloc_trim only walks glibc's own arenas under their locks;
    // it takes no pointer and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Nothing to do on system allocators other than glibc's.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_system_heap() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_only_after_releases_every_100_ms_when_quiet_every_second_when_busy() {
        let t0 = Instant::now();
        let mut trim = HeapTrim::default();
        assert!(!trim.maybe_trim(t0, true, || {}), "nothing released");
        trim.note_release();
        assert!(!trim.maybe_trim(t0, false, || {}), "busy, one release");
        assert!(trim.maybe_trim(t0, true, || {}));
        trim.note_release();
        assert_eq!(trim.wake_at(), Some(t0 + QUIET_EVERY));
        assert!(!trim.maybe_trim(t0 + Duration::from_millis(50), true, || {}));
        assert!(trim.maybe_trim(t0 + QUIET_EVERY, true, || {}));
        assert_eq!(trim.wake_at(), None);
        for _ in 0..BUSY_RELEASES {
            trim.note_release();
        }
        assert!(!trim.maybe_trim(t0 + Duration::from_millis(500), false, || {}));
        assert!(trim.maybe_trim(t0 + QUIET_EVERY + BUSY_EVERY, false, || {}));
    }

    #[test]
    fn what_the_worker_keeps_is_shed_only_when_it_trims() {
        let t0 = Instant::now();
        let mut trim = HeapTrim::default();
        let mut shed = 0;
        trim.maybe_trim(t0, true, || shed += 1);
        assert_eq!(shed, 0, "nothing released, nothing trimmed");
        trim.note_release();
        trim.maybe_trim(t0, true, || shed += 1);
        assert_eq!(shed, 1);
    }
}
