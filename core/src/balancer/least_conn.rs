//! `least-conn`: the server with the fewest in-flight requests; ties go to
//! the higher weight, then round-robin.

use super::{Balancer, Outcome, ServerId};

#[derive(Debug)]
struct Peer {
    id: ServerId,
    weight: u32,
    in_flight: u32,
}

/// The least-connections strategy.
#[derive(Debug, Default)]
pub struct LeastConn {
    peers: Vec<Peer>,
    next: usize,
}

impl LeastConn {
    /// In-flight requests counted for `server`.
    pub fn in_flight(&self, server: ServerId) -> u32 {
        self.peers
            .iter()
            .find(|p| p.id == server)
            .map_or(0, |p| p.in_flight)
    }
}

impl Balancer for LeastConn {
    fn add(&mut self, server: ServerId, _name: &str, weight: u32) {
        self.peers.push(Peer {
            id: server,
            weight,
            in_flight: 0,
        });
    }

    fn pick(&mut self, _key: Option<u64>, usable: &dyn Fn(ServerId) -> bool) -> Option<ServerId> {
        let n = self.peers.len();
        let mut best: Option<usize> = None;
        for step in 0..n {
            let i = (self.next + step) % n;
            let p = &self.peers[i];
            if !usable(p.id) {
                continue;
            }
            let better = match best {
                None => true,
                Some(b) => {
                    let q = &self.peers[b];
                    (p.in_flight, std::cmp::Reverse(p.weight))
                        < (q.in_flight, std::cmp::Reverse(q.weight))
                }
            };
            if better {
                best = Some(i);
            }
        }
        let b = best?;
        self.next = (b + 1) % n;
        self.peers[b].in_flight += 1;
        Some(self.peers[b].id)
    }

    fn report(&mut self, server: ServerId, _outcome: Outcome) {
        if let Some(p) = self.peers.iter_mut().find(|p| p.id == server) {
            p.in_flight = p.in_flight.saturating_sub(1);
        }
    }
}
