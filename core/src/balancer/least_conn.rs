//! `least-conn`: the server with the fewest in-flight requests; ties go to
//! the higher weight, then round-robin.

use super::{Balancer, Outcome, ServerId};

/// The least-connections strategy. Each server's rank is one `u64`:
/// in-flight requests in the high half, `u32::MAX - weight` in the low
/// half, so the smallest rank is "fewest in flight, then heaviest".
#[derive(Debug, Default)]
pub struct LeastConn {
    ids: Vec<ServerId>,
    rank: Vec<u64>,
    next: usize,
    /// The smallest rank and how many servers hold it, kept up to date by
    /// picks and reports (`None`: unknown, rescan).
    min: Option<(u64, usize)>,
}

const ONE: u64 = 1 << 32;

impl LeastConn {
    /// In-flight requests counted for `server`.
    pub fn in_flight(&self, server: ServerId) -> u32 {
        self.rank
            .get(server.index())
            .map_or(0, |r| (r >> 32) as u32)
    }

    /// The first smallest rank among `range` that `usable` accepts.
    #[inline]
    fn best_in(
        &self,
        range: std::ops::Range<usize>,
        usable: &impl Fn(ServerId) -> bool,
        best: &mut (usize, u64),
    ) {
        for i in range {
            let r = self.rank[i];
            if r < best.1 && usable(self.ids[i]) {
                *best = (i, r);
            }
        }
    }

    #[inline]
    fn pick_with(&mut self, usable: impl Fn(ServerId) -> bool) -> Option<ServerId> {
        let n = self.ids.len();
        let start = self.next.min(n);
        // No real rank reaches u64::MAX (in-flight stays below 2^32).
        let mut best = (usize::MAX, u64::MAX);
        // In turn from the cursor: ties go to the first seen.
        self.best_in(start..n, &usable, &mut best);
        self.best_in(0..start, &usable, &mut best);
        let b = best.0;
        if b == usize::MAX {
            return None;
        }
        self.next = (b + 1) % n;
        self.rank[b] += ONE;
        self.min = None;
        Some(self.ids[b])
    }

    /// The smallest rank and how many servers hold it.
    fn minimum(&mut self) -> Option<(u64, usize)> {
        if self.min.is_none() {
            let m = *self.rank.iter().min()?;
            self.min = Some((m, self.rank.iter().filter(|&&r| r == m).count()));
        }
        self.min
    }
}

impl Balancer for LeastConn {
    fn add(&mut self, server: ServerId, _name: &str, weight: u32) {
        self.ids.push(server);
        self.rank.push(u64::from(u32::MAX - weight));
        self.min = None;
    }

    fn pick(&mut self, _key: Option<u64>, usable: &dyn Fn(ServerId) -> bool) -> Option<ServerId> {
        self.pick_with(usable)
    }

    /// Every server usable: the same choice as `pick`. The minimum is
    /// kept as picks and reports change ranks, so a pick only looks for its
    /// first place from the cursor (usually the next server).
    fn pick_any(&mut self, _key: Option<u64>) -> Option<ServerId> {
        let n = self.rank.len();
        let (min, holders) = self.minimum()?;
        self.min = (holders > 1).then_some((min, holders - 1));
        let start = self.next.min(n);
        let b = match self.rank[start..].iter().position(|&r| r == min) {
            Some(i) => start + i,
            None => self.rank[..start].iter().position(|&r| r == min)?,
        };
        self.next = (b + 1) % n;
        self.rank[b] += ONE;
        Some(self.ids[b])
    }

    fn report(&mut self, server: ServerId, _outcome: Outcome) {
        let Some(r) = self.rank.get_mut(server.index()) else {
            return;
        };
        if *r < ONE {
            return;
        }
        *r -= ONE;
        let r = *r;
        self.min = match self.min {
            Some((m, _)) if r < m => Some((r, 1)),
            Some((m, c)) if r == m => Some((m, c + 1)),
            other => other,
        };
    }
}
