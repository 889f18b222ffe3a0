//! A worker's side towards upstream servers: connecting (or taking a
//! pooled connection), pooling, noticing a pooled connection the server
//! closed, and putting a reloaded plan in force.

use std::net::SocketAddr;
use std::time::Instant;

use mio::net::TcpStream;
use weir_core::{Input, Peer, UpstreamId};
use weir_frontend::io::{AfterFlush, ReadBuf, ReadOutcome};

use super::Worker;
use crate::sock::{Owner, Sock, NO_SERVER};
use crate::timers::Due;

impl Worker {
    /// Sends this worker's snapshot to every scrape that asked.
    pub(super) fn answer_scrapes(&mut self, now: std::time::Instant) {
        while let Ok(reply) = self.asks.try_recv() {
            let _ = reply.send(self.gw.snapshot(now, self.pool.len() as u64));
        }
    }

    /// A reload published a newer plan: install it; pooled connections to
    /// servers that no group has any more are closed.
    pub(super) fn install_newer_plan(&mut self) {
        let plan = self.plans.current();
        if plan.generation == self.gw.plan().generation {
            return;
        }
        self.pool.set_idle(plan.config.timeouts.pool_idle);
        if let Some(at) = self.pool.next_expiry() {
            // A shorter idle time sweeps sooner (an extra sweep is harmless).
            self.pool_sweep = true;
            self.timers.push(at, Due::PoolSweep);
        }
        for addr in self.gw.install(plan) {
            for k in self.pool.remove_server(addr) {
                self.close_sock(k);
            }
        }
    }

    pub(super) fn connect(
        &mut self,
        ck: usize,
        id: UpstreamId,
        addr: SocketAddr,
        pooled_ok: bool,
        now: Instant,
    ) {
        let server = self.pool.server(addr);
        if pooled_ok {
            let mut stale = Vec::new();
            let taken = self.pool.take(server, now, |_| true, |k| stale.push(k));
            for k in stale {
                self.close_sock(k);
            }
            if let Some(k) = taken {
                self.socks[k].owner = Owner::upstream(ck, id);
                self.conns[ck].ups.push((id, k));
                self.input(ck, now, Input::Connected { id, reused: true });
                return;
            }
        }
        let stream = match TcpStream::connect(addr) {
            Ok(s) => s,
            Err(_) => {
                self.input(ck, now, Input::Failed(Peer::Upstream(id)));
                return;
            }
        };
        let mut sock = Sock::new(stream, Owner::upstream(ck, id), server);
        sock.connecting = true;
        sock.nodelay = sock.stream.set_nodelay(true).is_ok();
        let Some(k) = self.register(sock) else {
            self.input(ck, now, Input::Failed(Peer::Upstream(id)));
            return;
        };
        self.conns[ck].ups.push((id, k));
    }

    pub(super) fn pool_sock(&mut self, k: usize, now: Instant) {
        self.end_pass(k);
        let server = self.socks[k].server;
        if server == NO_SERVER || self.stop_at.is_some() || self.pool.put(server, k, now).is_err() {
            self.close_sock(k);
            return;
        }
        let s = &mut self.socks[k];
        s.owner = Owner::Pooled;
        s.after_flush = AfterFlush::Keep;
        if !self.pool_sweep {
            self.pool_sweep = true;
            self.timers.push(now + self.pool.idle(), Due::PoolSweep);
        }
    }

    /// The pool's sweep is due: closes the sockets idle too long and arms
    /// the next sweep for the oldest left, if any.
    pub(super) fn sweep_pool(&mut self, now: Instant) {
        for k in self.pool.expire(now, |_| true) {
            self.close_sock(k);
        }
        self.pool_sweep = false;
        if let Some(at) = self.pool.next_expiry() {
            self.pool_sweep = true;
            self.timers.push(at, Due::PoolSweep);
        }
    }

    /// A pooled socket became readable: the server closed it or sent
    /// bytes nobody asked for; either way it is no longer reusable.
    pub(super) fn check_pooled(&mut self, k: usize) {
        let s = &mut self.socks[k];
        if !s.readable {
            return;
        }
        let mut scratch = ReadBuf::default();
        if let ReadOutcome::WouldBlock = s.read(&mut scratch, 1) {
            return;
        }
        self.close_sock(k);
    }
}
