//! Load balancing: every strategy behind one small trait, built by name.
//!
//! A strategy only chooses. It never sees time or health: the group asks
//! it to pick among servers a `usable` predicate accepts (not down, not
//! already tried for this request), and reports each pick's outcome back.
//! Passive health lives in [`health`]; the request key of
//! `consistent-hash` in [`key`].
//!
//! | name | file | choice |
//! |---|---|---|
//! | `random` | `random.rs` | uniform, or weighted when weights differ |
//! | `round-robin` | `round_robin.rs` | a cursor that wraps around |
//! | `weighted-round-robin` | `weighted.rs` | nginx's smooth WRR |
//! | `consistent-hash` | `ring.rs` | ketama ring, 160 points per weight |
//! | `least-conn` | `least_conn.rs` | fewest in-flight requests |
//! | `p2c` | `p2c.rs` | power of two choices: in-flight, then latency |

pub mod group;
pub mod health;
pub mod key;
pub mod least_conn;
pub mod p2c;
pub mod random;
pub mod ring;
pub mod round_robin;
pub mod weighted;

use std::str::FromStr;
use std::time::Duration;

pub use group::{Group, Pick};
pub use health::Health;
pub use key::HashKey;

/// A server's index in its group, in config order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerId(pub u16);

impl ServerId {
    /// The index as a `usize`.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// How an exchange with a picked server ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A response head arrived after this long.
    Success {
        /// Time from the pick to the response head.
        latency: Duration,
    },
    /// Refused, reset, timed out or malformed.
    Failure,
    /// The exchange ended without a verdict on the server (client left).
    Abandoned,
}

/// One load-balancing strategy.
pub trait Balancer: Send {
    /// Registers a server; called once per server, in config order.
    /// `name` is the server's identity (its address as configured), which
    /// placement-based strategies hash so that order does not matter.
    fn add(&mut self, server: ServerId, name: &str, weight: u32);
    /// Picks a server among those `usable` accepts. `key` is the request's
    /// hash key (`consistent-hash` only; `None` when the request lacks it).
    fn pick(&mut self, key: Option<u64>, usable: &dyn Fn(ServerId) -> bool) -> Option<ServerId>;
    /// [`Balancer::pick`] when every server is usable: the common case,
    /// which the O(n) strategies serve without a call per server.
    fn pick_any(&mut self, key: Option<u64>) -> Option<ServerId> {
        self.pick(key, &|_| true)
    }
    /// The outcome of one earlier pick; exactly one per pick.
    fn report(&mut self, _server: ServerId, _outcome: Outcome) {}
    /// The state the next pick for `key` starts from, in words, servers
    /// named by `name` (`explain`); empty when there is nothing to say.
    fn describe(&self, _key: Option<u64>, _name: &dyn Fn(ServerId) -> String) -> String {
        String::new()
    }
}

/// A strategy by its config name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// `random`
    Random,
    /// `round-robin`
    RoundRobin,
    /// `weighted-round-robin`
    WeightedRoundRobin,
    /// `consistent-hash`
    ConsistentHash,
    /// `least-conn`
    LeastConn,
    /// `p2c`
    P2c,
}

impl Strategy {
    /// Every config name, for error messages and docs.
    pub const NAMES: &'static str =
        "random, round-robin, weighted-round-robin, consistent-hash, least-conn, p2c";

    /// Its config name.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Random => "random",
            Strategy::RoundRobin => "round-robin",
            Strategy::WeightedRoundRobin => "weighted-round-robin",
            Strategy::ConsistentHash => "consistent-hash",
            Strategy::LeastConn => "least-conn",
            Strategy::P2c => "p2c",
        }
    }
}

impl FromStr for Strategy {
    type Err = String;

    fn from_str(s: &str) -> Result<Strategy, String> {
        Ok(match s {
            "random" => Strategy::Random,
            "round-robin" => Strategy::RoundRobin,
            "weighted-round-robin" => Strategy::WeightedRoundRobin,
            "consistent-hash" => Strategy::ConsistentHash,
            "least-conn" => Strategy::LeastConn,
            "p2c" => Strategy::P2c,
            other => {
                return Err(format!(
                    "unknown balancer {other:?} (expected one of: {})",
                    Strategy::NAMES
                ))
            }
        })
    }
}

/// Builds a strategy over servers given as (identity, weight), in config order.
pub fn build(strategy: Strategy, servers: &[(&str, u32)], seed: u64) -> Box<dyn Balancer> {
    let mut b: Box<dyn Balancer> = match strategy {
        Strategy::Random => Box::new(random::Random::new(seed)),
        Strategy::RoundRobin => Box::new(round_robin::RoundRobin::default()),
        Strategy::WeightedRoundRobin => Box::new(weighted::SmoothWeighted::default()),
        Strategy::ConsistentHash => Box::new(ring::Ring::default()),
        Strategy::LeastConn => Box::new(least_conn::LeastConn::default()),
        Strategy::P2c => Box::new(p2c::P2c::new(seed)),
    };
    for (i, &(name, w)) in servers.iter().enumerate() {
        b.add(ServerId(i as u16), name, w.max(1));
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_strategy_returns_none_when_nothing_is_usable() {
        for s in [
            Strategy::Random,
            Strategy::RoundRobin,
            Strategy::WeightedRoundRobin,
            Strategy::ConsistentHash,
            Strategy::LeastConn,
            Strategy::P2c,
        ] {
            let mut b = build(s, &[("a", 1), ("b", 2), ("c", 3)], 1);
            assert_eq!(b.pick(Some(7), &|_| false), None, "{s:?}");
            assert_eq!(b.pick(None, &|_| false), None, "{s:?}");
            let mut empty = build(s, &[], 1);
            assert_eq!(empty.pick(Some(7), &|_| true), None, "{s:?}");
        }
    }

    #[test]
    fn pick_any_chooses_exactly_like_pick() {
        for s in [
            Strategy::WeightedRoundRobin,
            Strategy::LeastConn,
            Strategy::RoundRobin,
        ] {
            let servers = [("a", 5), ("b", 1), ("c", 3), ("d", 1)];
            let (mut x, mut y) = (build(s, &servers, 1), build(s, &servers, 1));
            for i in 0..200 {
                let (p, q) = (x.pick(None, &|_| true), y.pick_any(None));
                assert_eq!(p, q, "{s:?} pick {i}");
                if i % 3 == 0 {
                    let o = if i % 2 == 0 {
                        Outcome::Failure
                    } else {
                        Outcome::Abandoned
                    };
                    x.report(p.unwrap(), o);
                    y.report(q.unwrap(), o);
                }
            }
        }
    }

    #[test]
    fn pick_any_matches_pick_under_random_load() {
        let mut rng = crate::rng::Rng::new(11);
        for s in [Strategy::WeightedRoundRobin, Strategy::LeastConn] {
            let servers = [("a", 3), ("b", 1), ("c", 3), ("d", 2), ("e", 1)];
            let (mut x, mut y) = (build(s, &servers, 1), build(s, &servers, 1));
            let mut in_flight: Vec<ServerId> = Vec::new();
            for i in 0..3000 {
                if rng.below(3) > 0 || in_flight.is_empty() {
                    let (p, q) = (x.pick(None, &|_| true), y.pick_any(None));
                    assert_eq!(p, q, "{s:?} step {i}");
                    in_flight.push(p.unwrap());
                } else {
                    let k = rng.below(in_flight.len() as u64) as usize;
                    let done = in_flight.swap_remove(k);
                    let o = match rng.below(3) {
                        0 => Outcome::Failure,
                        1 => Outcome::Abandoned,
                        _ => Outcome::Success {
                            latency: Duration::from_millis(1),
                        },
                    };
                    x.report(done, o);
                    y.report(done, o);
                }
            }
        }
    }

    #[test]
    fn unknown_names_are_refused() {
        assert!("least-con".parse::<Strategy>().is_err());
        assert_eq!("p2c".parse::<Strategy>(), Ok(Strategy::P2c));
    }
}
