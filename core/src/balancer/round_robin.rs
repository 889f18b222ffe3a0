//! `round-robin`: a cursor over the servers that wraps around, skipping
//! unusable ones.

use super::{Balancer, ServerId};

/// The round-robin cursor.
#[derive(Debug, Default)]
pub struct RoundRobin {
    servers: Vec<ServerId>,
    next: usize,
}

impl Balancer for RoundRobin {
    fn add(&mut self, server: ServerId, _name: &str, _weight: u32) {
        self.servers.push(server);
    }

    fn pick(&mut self, _key: Option<u64>, usable: &dyn Fn(ServerId) -> bool) -> Option<ServerId> {
        let n = self.servers.len();
        for step in 0..n {
            let i = (self.next + step) % n;
            if usable(self.servers[i]) {
                self.next = (i + 1) % n;
                return Some(self.servers[i]);
            }
        }
        None
    }

    fn describe(&self, _key: Option<u64>, name: &dyn Fn(ServerId) -> String) -> String {
        match self.servers.get(self.next) {
            Some(&s) => format!("round robin: next in turn {}", name(s)),
            None => "round robin: no servers".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rr(n: u16) -> RoundRobin {
        let mut b = RoundRobin::default();
        for i in 0..n {
            b.add(ServerId(i), "", 1);
        }
        b
    }

    fn picks(b: &mut RoundRobin, n: usize, usable: &dyn Fn(ServerId) -> bool) -> Vec<u16> {
        (0..n).map(|_| b.pick(None, usable).unwrap().0).collect()
    }

    #[test]
    fn exact_order_wraps_around() {
        let mut b = rr(3);
        assert_eq!(picks(&mut b, 7, &|_| true), [0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn skips_a_down_server_and_takes_it_back() {
        let mut b = rr(3);
        assert_eq!(picks(&mut b, 4, &|s| s.0 != 1), [0, 2, 0, 2]);
        assert_eq!(picks(&mut b, 3, &|_| true), [0, 1, 2]);
    }
}
