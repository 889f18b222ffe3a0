//! The upstream keep-alive pool of both frontends, one set of rules: at
//! most [`PER_SERVER`] idle connections per server, the most recently
//! pooled taken first (the one least likely to have been closed by its
//! server), none older than the plan's `pool_idle`, none kept for a
//! server a reload removed. Generic over what a frontend keeps: weir-mio
//! keeps socket keys, weir-smol the sockets themselves.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use fxhash::FxHashMap;

/// Idle connections kept per server.
pub const PER_SERVER: usize = 256;

/// Idle upstream connections by server.
pub struct Pool<T> {
    /// Server numbers, in order of first use.
    ids: FxHashMap<SocketAddr, u32>,
    /// By server number: (connection, pooled at), oldest first.
    lists: Vec<Vec<(T, Instant)>>,
    idle: Duration,
}

impl<T> Pool<T> {
    /// An empty pool whose connections live `idle` at most.
    pub fn new(idle: Duration) -> Pool<T> {
        Pool {
            ids: FxHashMap::default(),
            lists: Vec::new(),
            idle,
        }
    }

    /// Idle connections kept, all servers.
    pub fn len(&self) -> usize {
        self.lists.iter().map(Vec::len).sum()
    }

    /// True when none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How long a connection may stay idle (a reload may change it).
    pub fn set_idle(&mut self, idle: Duration) {
        self.idle = idle;
    }

    /// How long a connection may stay idle.
    pub fn idle(&self) -> Duration {
        self.idle
    }

    /// The number of server `addr` (given on first use; stable).
    pub fn server(&mut self, addr: SocketAddr) -> u32 {
        let next = self.lists.len() as u32;
        let n = *self.ids.entry(addr).or_insert(next);
        if n == next {
            self.lists.push(Vec::new());
        }
        n
    }

    /// Keeps `conn` for server `server`; gives it back when that server's
    /// list is full (the caller closes it).
    pub fn put(&mut self, server: u32, conn: T, now: Instant) -> Result<(), T> {
        match self.lists.get_mut(server as usize) {
            Some(list) if list.len() < PER_SERVER => {
                list.push((conn, now));
                Ok(())
            }
            _ => Err(conn),
        }
    }

    /// The most recently pooled connection to `server` that is within its
    /// idle time and `usable`; the others looked at are handed to `drop`.
    pub fn take(
        &mut self,
        server: u32,
        now: Instant,
        mut usable: impl FnMut(&T) -> bool,
        mut drop: impl FnMut(T),
    ) -> Option<T> {
        let idle = self.idle;
        let list = self.lists.get_mut(server as usize)?;
        while let Some((conn, since)) = list.pop() {
            if since + idle > now && usable(&conn) {
                return Some(conn);
            }
            drop(conn);
        }
        None
    }

    /// Takes out the connection of `server` that `is` picks, if pooled.
    pub fn remove(&mut self, server: u32, mut is: impl FnMut(&T) -> bool) -> Option<(T, Instant)> {
        let list = self.lists.get_mut(server as usize)?;
        let i = list.iter().position(|(c, _)| is(c))?;
        Some(list.remove(i))
    }

    /// When the connection of `server` that `is` picks was pooled.
    pub fn since(&self, server: u32, mut is: impl FnMut(&T) -> bool) -> Option<Instant> {
        let list = self.lists.get(server as usize)?;
        list.iter().find(|(c, _)| is(c)).map(|(_, t)| *t)
    }

    /// Takes out every connection idle for `idle` or more at `now`, or
    /// not `usable`.
    pub fn expire(&mut self, now: Instant, mut usable: impl FnMut(&T) -> bool) -> Vec<T> {
        let idle = self.idle;
        let mut out = Vec::new();
        for list in &mut self.lists {
            let mut i = 0;
            while i < list.len() {
                if list[i].1 + idle > now && usable(&list[i].0) {
                    i += 1;
                } else {
                    out.push(list.remove(i).0);
                }
            }
        }
        out
    }

    /// When the oldest connection kept reaches its idle time, if any.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.lists
            .iter()
            .filter_map(|l| l.first().map(|(_, t)| *t + self.idle))
            .min()
    }

    /// Takes out every connection to `addr` (a server a reload removed).
    pub fn remove_server(&mut self, addr: SocketAddr) -> Vec<T> {
        match self.ids.get(&addr) {
            Some(&n) => self.lists[n as usize].drain(..).map(|(c, _)| c).collect(),
            None => Vec::new(),
        }
    }

    /// Every kept connection, all servers.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.lists.iter().flatten().map(|(c, _)| c)
    }

    /// Takes out every connection (shutdown).
    pub fn drain(&mut self) -> Vec<T> {
        self.lists
            .iter_mut()
            .flat_map(|l| l.drain(..).map(|(c, _)| c))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_first_capped_expired_and_removed_by_server() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut p: Pool<u32> = Pool::new(ms(100));
        let a = p.server("127.0.0.1:1".parse().unwrap());
        let b = p.server("127.0.0.1:2".parse().unwrap());
        assert_eq!((a, b, p.server("127.0.0.1:1".parse().unwrap())), (0, 1, 0));
        for i in 0..PER_SERVER as u32 {
            assert!(p.put(a, i, t0 + ms(u64::from(i % 50))).is_ok());
        }
        assert_eq!(p.put(a, 999, t0), Err(999), "full");
        let mut dropped = Vec::new();
        // Newest first; the unusable one is dropped on the way.
        let got = p.take(a, t0, |&c| c != 255, |c| dropped.push(c));
        assert_eq!((got, dropped), (Some(254), vec![255]));
        assert_eq!(p.since(a, |&c| c == 3), Some(t0 + ms(3)));
        assert_eq!(p.remove(a, |&c| c == 3), Some((3, t0 + ms(3))));
        // At t0 + 100 ms, those pooled at t0 are expired.
        let expired = p.expire(t0 + ms(100), |_| true);
        assert_eq!(expired, [0, 50, 100, 150, 200, 250]);
        p.put(b, 7, t0).unwrap();
        assert_eq!(p.remove_server("127.0.0.1:2".parse().unwrap()), [7]);
        assert_eq!(p.take(b, t0, |_| true, |_| {}), None);
        let left = p.drain().len();
        assert_eq!(left, PER_SERVER - 1 - 1 - 1 - 6);
    }
}
