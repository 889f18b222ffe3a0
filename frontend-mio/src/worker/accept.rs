//! Taking new clients: accepting up to the worker's share of
//! `max_connections`, backing off when the process is out of descriptors.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use mio::net::TcpStream;
use weir_core::proxy::Worth;
use weir_core::Connection;
use weir_frontend::io::is_out_of_resources;

use super::{Conn, Worker, ACCEPT_BACKOFF};
use crate::sock::{Owner, Sock, NO_SERVER};

impl Worker {
    /// Accepts on every listener (after a pause or a blocked accept),
    /// the client that waited for room first.
    pub(super) fn accept_all(&mut self, now: Instant) {
        if let Some((stream, addr, i)) = self.waiting.take() {
            if !self.seat(stream, addr, i, now) {
                return;
            }
        }
        for i in 0..self.listeners.len() {
            self.accept(i, now);
        }
    }

    /// Accepts what waits on listener `i`.
    pub(super) fn accept(&mut self, i: usize, now: Instant) {
        if !self.listening || self.accept_paused_until.is_some() || self.waiting.is_some() {
            return;
        }
        loop {
            let Some(listener) = self.listeners.get(i) else {
                return;
            };
            match listener.accept() {
                Ok((stream, addr)) => {
                    if !self.seat(stream, addr, i, now) {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_out_of_resources(&e) => {
                    if self.accept_paused_until.is_none() {
                        eprintln!("weir: accept: {e}; pausing accepts for {ACCEPT_BACKOFF:?}");
                    }
                    self.accept_paused_until = Some(now + ACCEPT_BACKOFF);
                    return;
                }
                // The peer gave up before we accepted (ECONNABORTED) and the like.
                Err(_) => {}
            }
        }
    }

    /// Takes an accepted client in, making room at `max_connections`; when
    /// every connection is busy it waits (one, here; the rest in the
    /// backlog) until one closes. False then.
    fn seat(&mut self, stream: TcpStream, addr: SocketAddr, listener: usize, now: Instant) -> bool {
        if self.conns.len() >= self.limit && !self.make_room(now) {
            self.waiting = Some((stream, addr, listener));
            self.accept_blocked = true;
            return false;
        }
        self.adopt(stream, addr, listener, now);
        true
    }

    /// At `max_connections`: closes the idle or silent connection worth
    /// the least among a bounded sample (the core's `Connection::worth`),
    /// so that a new client is served at once. False when every sampled
    /// connection is busy.
    fn make_room(&mut self, now: Instant) -> bool {
        const SAMPLE: usize = 64;
        let cap = self.conns.capacity().max(1);
        let mut best: Option<(Worth, Instant, usize)> = None;
        // SAMPLE connections from the cursor on (vacant slots skipped).
        let (mut seen, mut i) = (0, 0);
        while seen < SAMPLE && i < cap {
            let ck = (self.evict_cursor + i) % cap;
            i += 1;
            let Some(c) = self.conns.get(ck) else {
                continue;
            };
            seen += 1;
            let (worth, since) = c.core.worth();
            if worth != Worth::Busy && best.is_none_or(|(w, s, _)| (worth, since) < (w, s)) {
                best = Some((worth, since, ck));
            }
        }
        self.evict_cursor = (self.evict_cursor + i) % cap;
        let Some((_, _, ck)) = best else {
            return false;
        };
        if let Some(c) = self.conns.get_mut(ck) {
            c.core.evict(&mut self.gw);
        }
        self.service(ck, now);
        self.evictions.note(now, self.limit);
        // Gone once its socket is closed (a plain close: nothing was asked).
        self.conns.get(ck).is_none()
    }

    pub(super) fn adopt(
        &mut self,
        stream: TcpStream,
        addr: SocketAddr,
        listener: usize,
        now: Instant,
    ) {
        let ck = self.conns.vacant_key();
        let Some(k) = self.register(Sock::new(stream, Owner::client(ck), NO_SERVER)) else {
            return;
        };
        let core = Connection::on_listener(&self.gw, addr, now, listener);
        self.conns.insert(Conn {
            core,
            client: Some(k as u32),
            ups: Vec::new(),
            armed: None,
            queued: 0,
        });
        self.service(ck, now);
    }
}
