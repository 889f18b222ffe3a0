//! `random`: a uniformly random server, or one drawn in proportion to
//! `weight` when weights differ. The RNG is seeded by the caller.

use super::{Balancer, ServerId};
use crate::rng::Rng;

/// The random strategy.
#[derive(Debug)]
pub struct Random {
    rng: Rng,
    servers: Vec<ServerId>,
    /// Running sums of weights, for a binary search; empty when all are equal.
    cumulative: Vec<u64>,
    weights: Vec<u32>,
}

impl Random {
    /// A strategy whose draws follow `seed`.
    pub fn new(seed: u64) -> Random {
        Random {
            rng: Rng::new(seed),
            servers: Vec::new(),
            cumulative: Vec::new(),
            weights: Vec::new(),
        }
    }

    fn draw(&mut self) -> usize {
        match self.cumulative.last() {
            Some(&total) => {
                let r = self.rng.below(total);
                self.cumulative.partition_point(|&c| c <= r)
            }
            None => self.rng.below(self.servers.len() as u64) as usize,
        }
    }
}

impl Balancer for Random {
    fn add(&mut self, server: ServerId, _name: &str, weight: u32) {
        self.servers.push(server);
        self.weights.push(weight.max(1));
        self.cumulative.clear();
        if self.weights.iter().any(|&w| w != self.weights[0]) {
            let mut sum = 0;
            for &w in &self.weights {
                sum += u64::from(w);
                self.cumulative.push(sum);
            }
        }
    }

    fn pick(&mut self, _key: Option<u64>, usable: &dyn Fn(ServerId) -> bool) -> Option<ServerId> {
        let n = self.servers.len();
        if n == 0 {
            return None;
        }
        // A few draws; if they all land on unusable servers, walk on from
        // the last draw so that a mostly-down group still answers.
        let mut i = 0;
        for _ in 0..4 {
            i = self.draw();
            if usable(self.servers[i]) {
                return Some(self.servers[i]);
            }
        }
        (1..n)
            .map(|s| self.servers[(i + s) % n])
            .find(|&s| usable(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(weights: &[u32], seed: u64) -> Random {
        let mut b = Random::new(seed);
        for (i, &w) in weights.iter().enumerate() {
            b.add(ServerId(i as u16), "", w);
        }
        b
    }

    #[test]
    fn a_fixed_seed_gives_a_fixed_sequence() {
        let seq = |seed| {
            let mut b = random(&[1, 1, 1], seed);
            (0..12)
                .map(|_| b.pick(None, &|_| true).unwrap().0)
                .collect::<Vec<_>>()
        };
        assert_eq!(seq(42), seq(42));
        assert_ne!(seq(42), seq(43));
        assert_eq!(seq(42), [2, 0, 0, 1, 0, 2, 0, 2, 1, 1, 0, 1]);
    }

    #[test]
    fn shares_follow_weights_within_two_percent() {
        for weights in [&[1u32, 1, 1, 1][..], &[5, 1, 1], &[1, 2, 3, 4]] {
            let mut b = random(weights, 9);
            let mut counts = vec![0u32; weights.len()];
            let n = 100_000;
            for _ in 0..n {
                counts[b.pick(None, &|_| true).unwrap().index()] += 1;
            }
            let total: u32 = weights.iter().sum();
            for (c, w) in counts.iter().zip(weights) {
                let share = f64::from(*c) / f64::from(n);
                let fair = f64::from(*w) / f64::from(total);
                assert!((share - fair).abs() < 0.02, "{weights:?}: {counts:?}");
            }
        }
    }

    #[test]
    fn never_picks_an_unusable_server() {
        let mut b = random(&[1, 1, 1], 3);
        for _ in 0..1000 {
            assert_eq!(b.pick(None, &|s| s.0 == 2), Some(ServerId(2)));
        }
    }
}
