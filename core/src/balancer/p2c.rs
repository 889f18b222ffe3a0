//! `p2c`: power of two random choices. Two distinct usable servers are
//! drawn; the one with fewer in-flight requests wins, then the one with
//! the lower EWMA of response latency.

use std::time::Duration;

use super::{Balancer, Outcome, ServerId};
use crate::rng::Rng;

/// Latency charged to a server for a failure, so failing servers lose ties.
const FAILURE_PENALTY: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Peer {
    id: ServerId,
    in_flight: u32,
    /// EWMA of latency in microseconds.
    ewma_us: f64,
}

/// The power-of-two-choices strategy.
#[derive(Debug)]
pub struct P2c {
    rng: Rng,
    peers: Vec<Peer>,
}

impl P2c {
    /// A strategy whose draws follow `seed`.
    pub fn new(seed: u64) -> P2c {
        P2c {
            rng: Rng::new(seed),
            peers: Vec::new(),
        }
    }

    fn draw(&mut self, usable: &dyn Fn(ServerId) -> bool, not: Option<usize>) -> Option<usize> {
        let n = self.peers.len();
        for _ in 0..4 {
            let i = self.rng.below(n as u64) as usize;
            if Some(i) != not && usable(self.peers[i].id) {
                return Some(i);
            }
        }
        let start = self.rng.below(n as u64) as usize;
        (0..n)
            .map(|s| (start + s) % n)
            .find(|&i| Some(i) != not && usable(self.peers[i].id))
    }

    fn load(&self, i: usize) -> (u32, f64) {
        (self.peers[i].in_flight, self.peers[i].ewma_us)
    }
}

impl Balancer for P2c {
    fn add(&mut self, server: ServerId, _name: &str, _weight: u32) {
        self.peers.push(Peer {
            id: server,
            in_flight: 0,
            ewma_us: 0.0,
        });
    }

    fn pick(&mut self, _key: Option<u64>, usable: &dyn Fn(ServerId) -> bool) -> Option<ServerId> {
        if self.peers.is_empty() {
            return None;
        }
        let a = self.draw(usable, None)?;
        let chosen = match self.draw(usable, Some(a)) {
            Some(b) if self.load(b) < self.load(a) => b,
            _ => a,
        };
        self.peers[chosen].in_flight += 1;
        Some(self.peers[chosen].id)
    }

    fn report(&mut self, server: ServerId, outcome: Outcome) {
        let Some(p) = self.peers.get_mut(server.index()) else {
            return;
        };
        p.in_flight = p.in_flight.saturating_sub(1);
        let sample = match outcome {
            Outcome::Success { latency } => latency,
            Outcome::Failure => FAILURE_PENALTY,
            Outcome::Abandoned => return,
        };
        let us = sample.as_secs_f64() * 1e6;
        p.ewma_us = if p.ewma_us == 0.0 {
            us
        } else {
            0.7 * p.ewma_us + 0.3 * us
        };
    }
}

#[cfg(test)]
mod tests {
    use super::super::least_conn::LeastConn;
    use super::*;

    /// A simulated run: server 0 takes 10 ticks per request, the others 1.
    /// Requests arrive one per tick; returns how many each server got.
    fn simulate(b: &mut dyn Balancer, servers: u16) -> Vec<u32> {
        for i in 0..servers {
            b.add(ServerId(i), "", 1);
        }
        let mut counts = vec![0u32; servers as usize];
        let mut running: Vec<(u32, ServerId)> = Vec::new();
        for tick in 0..3000u32 {
            running.retain(|&(done, s)| {
                if done <= tick {
                    let cost = if s.0 == 0 { 10 } else { 1 };
                    b.report(
                        s,
                        Outcome::Success {
                            latency: Duration::from_millis(cost),
                        },
                    );
                    false
                } else {
                    true
                }
            });
            for _ in 0..2 {
                let s = b.pick(None, &|_| true).unwrap();
                counts[s.index()] += 1;
                let cost = if s.0 == 0 { 10 } else { 1 };
                running.push((tick + cost, s));
            }
        }
        counts
    }

    #[test]
    fn least_conn_avoids_the_slow_server() {
        let counts = simulate(&mut LeastConn::default(), 3);
        assert!(counts[0] * 3 < counts[1], "{counts:?}");
        assert!(counts[0] * 3 < counts[2], "{counts:?}");
    }

    #[test]
    fn p2c_avoids_the_slow_server() {
        let counts = simulate(&mut P2c::new(5), 3);
        assert!(counts[0] * 2 < counts[1], "{counts:?}");
        assert!(counts[0] * 2 < counts[2], "{counts:?}");
    }

    #[test]
    fn least_conn_breaks_ties_by_weight_then_in_turn() {
        let mut b = LeastConn::default();
        b.add(ServerId(0), "", 1);
        b.add(ServerId(1), "", 3);
        b.add(ServerId(2), "", 1);
        assert_eq!(b.pick(None, &|_| true), Some(ServerId(1)));
        b.report(ServerId(1), Outcome::Abandoned);
        assert_eq!(b.pick(None, &|_| true), Some(ServerId(1)));
        // Now 1 has one in flight: 0 and 2 tie and take turns.
        assert_eq!(b.pick(None, &|_| true), Some(ServerId(2)));
        assert_eq!(b.pick(None, &|_| true), Some(ServerId(0)));
        assert_eq!(b.in_flight(ServerId(1)), 1);
    }
}
