//! The connection's timers: which one is armed on each side and when
//! (public so that tests outside the sans-IO core can give it real instants).

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
    /// A parked exchange waits for a call's reply (its layer decides).
    Call,
}

impl Timer {
    /// Timers of one side replace each other: a client is either sending
    /// a head, sending a body or idle; an upstream link is connecting,
    /// awaiting its response or sending its body, and a tunnel has only
    /// its idle timer; an exchange parked on a call has no link yet. So
    /// one slot per side holds every deadline a
    /// connection can have (checked in debug builds, which the tests and
    /// the fuzz targets run).
    fn is_client(self) -> bool {
        matches!(
            self,
            Timer::ClientHead | Timer::ClientBody | Timer::ClientIdle
        )
    }
}

/// Deadlines: at most one per side (48 bytes instead of 112 for a
/// deadline per timer).
#[derive(Clone, Debug, Default)]
pub struct Timers {
    client: Option<(Timer, Instant)>,
    upstream: Option<(Timer, Instant)>,
}

impl Timers {
    fn slot(&mut self, t: Timer) -> &mut Option<(Timer, Instant)> {
        if t.is_client() {
            &mut self.client
        } else {
            &mut self.upstream
        }
    }

    /// Arms `t` for `at`.
    pub fn set(&mut self, t: Timer, at: Instant) {
        let slot = self.slot(t);
        debug_assert!(
            slot.is_none_or(|(armed, _)| armed == t),
            "{t:?} would replace the armed {slot:?}"
        );
        *slot = Some((t, at));
    }

    /// Disarms `t`.
    pub fn clear(&mut self, t: Timer) {
        let slot = self.slot(t);
        if slot.is_some_and(|(armed, _)| armed == t) {
            *slot = None;
        }
    }

    /// Disarms every timer.
    pub fn clear_all(&mut self) {
        *self = Timers::default();
    }

    /// True when `t` is armed.
    pub fn is_set(&self, t: Timer) -> bool {
        let slot = if t.is_client() {
            &self.client
        } else {
            &self.upstream
        };
        slot.is_some_and(|(armed, _)| armed == t)
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        [self.client, self.upstream]
            .into_iter()
            .flatten()
            .map(|(_, at)| at)
            .min()
    }

    /// The first timer that has expired at `now`, disarmed (the client's
    /// first when both expire at the same instant).
    pub fn expired(&mut self, now: Instant) -> Option<Timer> {
        let due = |slot: Option<(Timer, Instant)>| slot.filter(|(_, at)| *at <= now);
        let slot = match (due(self.client), due(self.upstream)) {
            (Some((_, c)), Some((_, u))) if u < c => &mut self.upstream,
            (Some(_), _) => &mut self.client,
            (None, Some(_)) => &mut self.upstream,
            (None, None) => return None,
        };
        slot.take().map(|(t, _)| t)
    }
}
