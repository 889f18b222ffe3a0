//! Many client connections over one [`Gateway`]: what a worker is. Each
//! client is a [`Sim`] (its connection, its scripted servers, its clock);
//! the world owns the one gateway and lends it to the client being
//! driven, so balancer and health state, and reloads, are shared by all.

use std::time::{Duration, Instant};

use super::Sim;
use crate::plan::Changes;
use crate::{ConfigError, Gateway};

/// A gateway and the client connections driven against it.
pub struct World {
    /// The shared gateway (the clients' own are placeholders).
    pub gw: Gateway,
    /// The client connections, each with its servers.
    pub clients: Vec<Sim>,
}

impl World {
    /// `n` client connections over one gateway for `toml`, from `epoch`.
    pub fn from_toml(toml: &str, n: usize, epoch: Instant) -> Result<World, Vec<ConfigError>> {
        let mut clients = (0..n.max(1))
            .map(|_| Sim::from_toml(toml, epoch))
            .collect::<Result<Vec<_>, _>>()?;
        let placeholder = Gateway::new(clients[0].gw.plan().config.clone(), 0);
        let gw = std::mem::replace(&mut clients[0].gw, placeholder);
        Ok(World { gw, clients })
    }

    /// Runs `f` on client `i` with the shared gateway lent to it.
    pub fn on<T>(&mut self, i: usize, f: impl FnOnce(&mut Sim) -> T) -> T {
        let sim = &mut self.clients[i];
        std::mem::swap(&mut sim.gw, &mut self.gw);
        let out = f(sim);
        std::mem::swap(&mut sim.gw, &mut self.gw);
        out
    }

    /// Client `i` sends bytes.
    pub fn client(&mut self, i: usize, bytes: &[u8]) {
        self.on(i, |s| s.client(bytes));
    }

    /// Server `port` of client `i`'s world gets responses to give, and
    /// whatever was waiting for them moves.
    pub fn script(&mut self, i: usize, port: u16, responses: &[&[u8]]) {
        self.on(i, |s| {
            s.script(port, responses);
            s.drive();
        });
    }

    /// Every client's clock moves on by `by`, one client after the other.
    pub fn advance(&mut self, by: Duration) {
        for i in 0..self.clients.len() {
            self.on(i, |s| s.advance(by));
        }
    }

    /// Reloads the shared gateway (see [`Sim::reload`]); pooled
    /// connections to removed servers close in every client's world.
    pub fn reload(&mut self, toml: &str) -> Result<Changes, Vec<ConfigError>> {
        let config = crate::Config::from_toml(toml)?;
        let (plan, changes) = self.gw.plan().successor(std::sync::Arc::new(config));
        for gone in self.gw.install(std::sync::Arc::new(plan)) {
            for c in &mut self.clients {
                c.close_pooled(gone);
            }
        }
        Ok(changes)
    }
}
