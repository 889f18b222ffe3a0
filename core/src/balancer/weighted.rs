//! `weighted-round-robin`: nginx's smooth weighted round robin.
//!
//! Each server has `weight`, `current_weight` and `effective_weight`. On
//! each pick every usable server's `current_weight` grows by its
//! `effective_weight`; the largest wins and loses the total. Weights 5,1,1
//! give `a a b a c a a`: the heavy server is spread out, never five in a
//! row. A failure lowers `effective_weight` by `weight / max_fails`-like
//! steps (here: by a third of the weight, at least 1); each success gives
//! one unit back until it reaches `weight` again.

use super::{Balancer, Outcome, ServerId};

/// The smooth weighted round robin state, one array per quantity.
#[derive(Debug, Default)]
pub struct SmoothWeighted {
    ids: Vec<ServerId>,
    weight: Vec<i64>,
    current: Vec<i64>,
    effective: Vec<i64>,
    /// One period of picks from all-zero current weights at full weights
    /// (the sequence repeats with period `sum(weight)`).
    cycle: Vec<u16>,
    /// `Some(p)`: the state is `p` picks into `cycle` (and `current` is
    /// stale); `None`: `current` is the state.
    at: Option<usize>,
}

/// Longest period worth precomputing (sum of weights).
const MAX_CYCLE: i64 = 4096;

impl SmoothWeighted {
    /// The effective weight of `server` (for tests and introspection).
    pub fn effective_weight(&self, server: ServerId) -> Option<i64> {
        self.effective.get(server.index()).copied()
    }

    /// Leaves cycle mode: rebuilds `current` as it stands `p` picks in.
    fn materialize(&mut self) {
        if self.at.is_some() {
            self.current = self.current_weights();
            self.at = None;
        }
    }

    /// The current weights as they stand (rebuilt in cycle mode).
    fn current_weights(&self) -> Vec<i64> {
        let Some(p) = self.at else {
            return self.current.clone();
        };
        let total: i64 = self.effective.iter().sum();
        let mut current = vec![0; self.current.len()];
        for &s in &self.cycle[..p] {
            for (c, e) in current.iter_mut().zip(&self.effective) {
                *c += *e;
            }
            current[usize::from(s)] -= total;
        }
        current
    }

    /// Enters cycle mode when the state is the period's start: all
    /// current weights zero, every server at full weight.
    fn try_enter_cycle(&mut self) -> bool {
        let total: i64 = self.weight.iter().sum();
        if total == 0
            || total > MAX_CYCLE
            || self.effective != self.weight
            || self.current.iter().any(|&c| c != 0)
        {
            return false;
        }
        if self.cycle.is_empty() {
            for _ in 0..total {
                let b = self.scalar_pick_any();
                self.cycle.push(b as u16);
            }
        }
        self.at = Some(0);
        true
    }

    /// One pick over the arrays, every server usable; returns the index.
    fn scalar_pick_any(&mut self) -> usize {
        let mut total = 0;
        for (c, e) in self.current.iter_mut().zip(&self.effective) {
            *c += *e;
            total += *e;
        }
        let max = self.current.iter().copied().max().unwrap_or(0);
        let b = self.current.iter().position(|&c| c == max).unwrap_or(0);
        self.current[b] -= total;
        b
    }

    #[inline]
    fn pick_with(&mut self, usable: impl Fn(ServerId) -> bool) -> Option<ServerId> {
        self.materialize();
        let (mut total, mut best, mut best_current) = (0, usize::MAX, i64::MIN);
        let n = self.ids.len();
        let (current, effective) = (&mut self.current[..n], &self.effective[..n]);
        for i in 0..n {
            if !usable(self.ids[i]) {
                continue;
            }
            let c = current[i] + effective[i];
            current[i] = c;
            total += effective[i];
            // Branch-free select; ties keep the first (config order).
            let better = c > best_current;
            best = if better { i } else { best };
            best_current = if better { c } else { best_current };
        }
        let c = current.get_mut(best)?;
        *c -= total;
        Some(self.ids[best])
    }
}

impl Balancer for SmoothWeighted {
    fn add(&mut self, server: ServerId, _name: &str, weight: u32) {
        let w = i64::from(weight.max(1));
        self.ids.push(server);
        self.weight.push(w);
        self.current.push(0);
        self.effective.push(w);
        self.materialize();
        self.cycle.clear();
    }

    fn pick(&mut self, _key: Option<u64>, usable: &dyn Fn(ServerId) -> bool) -> Option<ServerId> {
        self.pick_with(usable)
    }

    /// Every server usable: the same choice as `pick`. While every server
    /// is at full weight the period is precomputed and a pick is one step
    /// along it; otherwise passes over the arrays (add, sum, max, first max).
    fn pick_any(&mut self, _key: Option<u64>) -> Option<ServerId> {
        if self.ids.is_empty() {
            return None;
        }
        if self.at.is_none() && !self.try_enter_cycle() {
            let b = self.scalar_pick_any();
            return Some(self.ids[b]);
        }
        let p = self.at.unwrap_or(0);
        let s = self.cycle[p];
        self.at = Some(if p + 1 == self.cycle.len() { 0 } else { p + 1 });
        Some(self.ids[usize::from(s)])
    }

    fn describe(&self, _key: Option<u64>, name: &dyn Fn(ServerId) -> String) -> String {
        let current = self.current_weights();
        let each: Vec<String> = (0..self.ids.len())
            .map(|i| {
                format!(
                    "{} current {} effective {} weight {}",
                    name(self.ids[i]),
                    current[i],
                    self.effective[i],
                    self.weight[i]
                )
            })
            .collect();
        format!(
            "smooth weighted round robin: each pick adds every usable server's effective weight to its current weight, takes the largest and subtracts the total; {}",
            each.join("; ")
        )
    }

    fn report(&mut self, server: ServerId, outcome: Outcome) {
        if matches!(outcome, Outcome::Failure) {
            self.materialize();
        }
        let i = server.index();
        let (Some(&w), Some(e)) = (self.weight.get(i), self.effective.get_mut(i)) else {
            return;
        };
        match outcome {
            Outcome::Failure => *e = (*e - (w / 3).max(1)).max(1),
            Outcome::Success { .. } if *e < w => *e += 1,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrr(weights: &[u32]) -> SmoothWeighted {
        let mut b = SmoothWeighted::default();
        for (i, &w) in weights.iter().enumerate() {
            b.add(ServerId(i as u16), "", w);
        }
        b
    }

    fn names(b: &mut SmoothWeighted, n: usize) -> String {
        (0..n)
            .map(|_| (b'a' + b.pick(None, &|_| true).unwrap().0 as u8) as char)
            .collect()
    }

    #[test]
    fn five_one_one_is_smooth_and_repeats() {
        let mut b = wrr(&[5, 1, 1]);
        assert_eq!(names(&mut b, 7), "aabacaa");
        assert_eq!(names(&mut b, 7), "aabacaa");
        assert_eq!(names(&mut b, 14), "aabacaaaabacaa");
    }

    #[test]
    fn the_precomputed_period_gives_the_same_sequence() {
        let mut b = wrr(&[5, 1, 1]);
        let seq: String = (0..14)
            .map(|_| (b'a' + b.pick_any(None).unwrap().0 as u8) as char)
            .collect();
        assert_eq!(seq, "aabacaaaabacaa");
        // Leaving the period mid-way (a failure) continues from the same state.
        let mut x = wrr(&[5, 1, 1]);
        let mut y = wrr(&[5, 1, 1]);
        for i in 0..40 {
            let (p, q) = (x.pick(None, &|_| true), y.pick_any(None));
            assert_eq!(p, q, "pick {i}");
            if i == 10 || i == 23 {
                x.report(p.unwrap(), Outcome::Failure);
                y.report(q.unwrap(), Outcome::Failure);
            }
        }
    }

    #[test]
    fn seven_thousand_picks_split_by_weight() {
        let mut b = wrr(&[5, 1, 1]);
        let mut counts = [0; 3];
        for _ in 0..7000 {
            counts[b.pick(None, &|_| true).unwrap().index()] += 1;
        }
        assert_eq!(counts, [5000, 1000, 1000]);
    }

    #[test]
    fn failures_lower_effective_weight_and_successes_restore_it() {
        let mut b = wrr(&[6, 1]);
        b.report(ServerId(0), Outcome::Failure);
        b.report(ServerId(0), Outcome::Failure);
        assert_eq!(b.effective_weight(ServerId(0)), Some(2));
        let mut counts = [0; 2];
        for _ in 0..30 {
            counts[b.pick(None, &|_| true).unwrap().index()] += 1;
        }
        assert_eq!(counts, [20, 10]);
        for _ in 0..10 {
            b.report(
                ServerId(0),
                Outcome::Success {
                    latency: std::time::Duration::ZERO,
                },
            );
        }
        assert_eq!(b.effective_weight(ServerId(0)), Some(6));
    }

    #[test]
    fn skips_unusable_servers() {
        let mut b = wrr(&[5, 1, 1]);
        let picks: String = (0..4)
            .map(|_| (b'a' + b.pick(None, &|s| s.0 != 0).unwrap().0 as u8) as char)
            .collect();
        assert_eq!(picks, "bcbc");
    }
}
