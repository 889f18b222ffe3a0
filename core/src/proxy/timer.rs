//! The connection's timers: a small table indexed by an enum.

use std::time::Instant;

/// Every timer a connection can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// A request head is arriving (408) — or a new connection is silent.
    ClientHead = 0,
    /// Gap between request body bytes (408).
    ClientBody,
    /// An idle keep-alive client (close).
    ClientIdle,
    /// Connecting upstream (next server, else 502).
    UpstreamConnect,
    /// Waiting for the response head (504).
    UpstreamResponse,
    /// Gap between response body bytes (close).
    UpstreamIdle,
    /// An upgraded tunnel with no bytes either way (close).
    TunnelIdle,
}

const COUNT: usize = 7;
const ALL: [Timer; COUNT] = [
    Timer::ClientHead,
    Timer::ClientBody,
    Timer::ClientIdle,
    Timer::UpstreamConnect,
    Timer::UpstreamResponse,
    Timer::UpstreamIdle,
    Timer::TunnelIdle,
];

/// Deadlines by timer, as nanoseconds after the connection's start
/// (0 = disarmed): 8 bytes a timer instead of 16 for an `Option<Instant>`.
#[derive(Clone, Debug)]
pub struct Timers {
    base: Instant,
    at: [u64; COUNT],
}

impl Timers {
    /// No timer armed; deadlines are kept relative to `base`, which no
    /// deadline precedes (a connection's start).
    pub fn new(base: Instant) -> Timers {
        Timers {
            base,
            at: [0; COUNT],
        }
    }

    fn encode(&self, at: Instant) -> u64 {
        let nanos = at.saturating_duration_since(self.base).as_nanos();
        u64::try_from(nanos).unwrap_or(u64::MAX - 1) + 1
    }

    fn decode(&self, v: u64) -> Option<Instant> {
        (v != 0).then(|| self.base + std::time::Duration::from_nanos(v - 1))
    }

    /// Arms `t` for `at`.
    pub fn set(&mut self, t: Timer, at: Instant) {
        self.at[t as usize] = self.encode(at);
    }

    /// Disarms `t`.
    pub fn clear(&mut self, t: Timer) {
        self.at[t as usize] = 0;
    }

    /// Disarms every timer.
    pub fn clear_all(&mut self) {
        self.at = [0; COUNT];
    }

    /// True when `t` is armed.
    pub fn is_set(&self, t: Timer) -> bool {
        self.at[t as usize] != 0
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        let v = self.at.iter().copied().filter(|v| *v != 0).min()?;
        self.decode(v)
    }

    /// The first timer that has expired at `now`, disarmed.
    pub fn expired(&mut self, now: Instant) -> Option<Timer> {
        let now = self.encode(now);
        let t = ALL
            .into_iter()
            .filter(|t| self.at[*t as usize] != 0 && self.at[*t as usize] <= now)
            .min_by_key(|t| self.at[*t as usize])?;
        self.at[t as usize] = 0;
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn deadlines_round_trip_exactly_and_expire_earliest_first() {
        let base = Instant::now();
        let mut timers = Timers::new(base);
        assert_eq!(timers.next(), None);
        let a = base + Duration::from_nanos(1_000_000_007);
        timers.set(Timer::ClientIdle, a);
        timers.set(Timer::UpstreamResponse, a - Duration::from_nanos(1));
        timers.set(Timer::ClientHead, base);
        assert_eq!(timers.next(), Some(base), "a deadline at the base is armed");
        assert_eq!(timers.expired(base), Some(Timer::ClientHead));
        assert_eq!(timers.expired(base), None);
        assert_eq!(timers.next(), Some(a - Duration::from_nanos(1)));
        assert_eq!(timers.expired(a - Duration::from_nanos(2)), None);
        assert_eq!(timers.expired(a), Some(Timer::UpstreamResponse));
        assert_eq!(timers.expired(a), Some(Timer::ClientIdle));
        assert!(!timers.is_set(Timer::ClientIdle));
    }
}
