//! Taking new clients: accepting up to the worker's share of
//! `max_connections`, backing off when the process is out of descriptors.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use mio::net::TcpStream;
use weir_core::Connection;
use weir_frontend::io::is_out_of_resources;

use super::{Conn, Worker, ACCEPT_BACKOFF};
use crate::sock::{Owner, Sock, NO_SERVER};

impl Worker {
    /// Accepts on every listener (after a pause or a blocked accept).
    pub(super) fn accept_all(&mut self, now: Instant) {
        for i in 0..self.listeners.len() {
            self.accept(i, now);
        }
    }

    /// Accepts what waits on listener `i`.
    pub(super) fn accept(&mut self, i: usize, now: Instant) {
        if !self.listening || self.accept_paused_until.is_some() {
            return;
        }
        loop {
            if self.conns.len() >= self.limit {
                // Over max_connections: leave them in the backlog until a
                // connection closes (accept() is retried then).
                self.accept_blocked = true;
                return;
            }
            let Some(listener) = self.listeners.get(i) else {
                return;
            };
            match listener.accept() {
                Ok((stream, addr)) => self.adopt(stream, addr, i, now),
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
            client: Some(k),
            ups: Vec::new(),
            armed: None,
            queued: 0,
        });
        self.service(ck, now);
    }
}
