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

/// Deadlines by timer.
#[derive(Clone, Debug, Default)]
pub struct Timers {
    at: [Option<Instant>; COUNT],
}

impl Timers {
    /// Arms `t` for `at`.
    pub fn set(&mut self, t: Timer, at: Instant) {
        self.at[t as usize] = Some(at);
    }

    /// Disarms `t`.
    pub fn clear(&mut self, t: Timer) {
        self.at[t as usize] = None;
    }

    /// Disarms every timer.
    pub fn clear_all(&mut self) {
        self.at = [None; COUNT];
    }

    /// True when `t` is armed.
    pub fn is_set(&self, t: Timer) -> bool {
        self.at[t as usize].is_some()
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }

    /// The first timer that has expired at `now`, disarmed.
    pub fn expired(&mut self, now: Instant) -> Option<Timer> {
        let t = ALL
            .into_iter()
            .filter(|t| self.at[*t as usize].is_some_and(|d| d <= now))
            .min_by_key(|t| self.at[*t as usize])?;
        self.at[t as usize] = None;
        Some(t)
    }
}
