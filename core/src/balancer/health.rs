//! Passive health: `max_fails` failures within `fail_timeout` mark a
//! server down for `fail_timeout`. The only part of balancing that sees
//! time; `now` is passed in.

use std::time::{Duration, Instant};

use super::ServerId;

#[derive(Clone, Copy, Debug, Default)]
struct ServerHealth {
    fails: u32,
    window_start: Option<Instant>,
    down_until: Option<Instant>,
    last_failure: Option<Instant>,
}

/// The passive health of one group's servers.
#[derive(Clone, Debug)]
pub struct Health {
    max_fails: u32,
    fail_timeout: Duration,
    servers: Vec<ServerHealth>,
    /// The latest `down_until` of any server: before it, some may be down.
    any_down_until: Option<Instant>,
}

impl Health {
    /// Health for `n` servers; `max_fails == 0` never marks a server down.
    pub fn new(n: usize, max_fails: u32, fail_timeout: Duration) -> Health {
        Health {
            max_fails,
            fail_timeout,
            servers: vec![ServerHealth::default(); n],
            any_down_until: None,
        }
    }

    /// True unless the server is marked down at `now`.
    pub fn is_up(&self, s: ServerId, now: Instant) -> bool {
        self.servers
            .get(s.index())
            .and_then(|h| h.down_until)
            .is_none_or(|t| now >= t)
    }

    /// When passive health last let the server up again (the end of its
    /// latest down period), if that is past at `now`.
    pub fn recovered_at(&self, s: ServerId, now: Instant) -> Option<Instant> {
        self.servers
            .get(s.index())
            .and_then(|h| h.down_until)
            .filter(|t| *t <= now)
    }

    /// True when no server can be down at `now` (a cheap check).
    pub fn all_up(&self, now: Instant) -> bool {
        self.any_down_until.is_none_or(|t| now >= t)
    }

    /// Records a failure; returns true when it marks the server down.
    pub fn failure(&mut self, s: ServerId, now: Instant) -> bool {
        let (max, window) = (self.max_fails, self.fail_timeout);
        let Some(h) = self.servers.get_mut(s.index()) else {
            return false;
        };
        h.last_failure = Some(now);
        if max == 0 {
            return false;
        }
        if h.window_start.is_none_or(|t| now >= t + window) {
            h.window_start = Some(now);
            h.fails = 0;
        }
        h.fails += 1;
        if h.fails >= max {
            h.fails = 0;
            h.window_start = None;
            h.down_until = Some(now + window);
            self.any_down_until = self.any_down_until.max(h.down_until);
            return true;
        }
        false
    }

    /// Records a success: the failure count starts over.
    pub fn success(&mut self, s: ServerId) {
        if let Some(h) = self.servers.get_mut(s.index()) {
            h.fails = 0;
            h.window_start = None;
        }
    }

    /// Takes over what `old` knew of its server `from` for our server `to`
    /// (a reload that changed the group but kept that server).
    pub fn carry(&mut self, to: ServerId, old: &Health, from: ServerId) {
        let (Some(h), Some(o)) = (
            self.servers.get_mut(to.index()),
            old.servers.get(from.index()),
        ) else {
            return;
        };
        *h = *o;
        self.any_down_until = self.any_down_until.max(o.down_until);
    }

    /// The server (among `candidates`) whose last failure is the oldest,
    /// for failing open when every server is down.
    pub fn least_recently_failed(
        &self,
        candidates: impl Iterator<Item = ServerId>,
    ) -> Option<ServerId> {
        candidates.min_by_key(|s| self.servers.get(s.index()).and_then(|h| h.last_failure))
    }
}
