//! The per-worker shared state every connection is driven against.

use std::sync::Arc;

use super::route::Router;
use crate::balancer::Group;
use crate::config::Config;
use crate::middleware::Chain;
use crate::rng::Rng;

/// Routes, upstream groups (balancer + health), the middleware chain and a
/// seeded RNG. One per worker; passed as `&mut` to every `Connection` call.
pub struct Gateway {
    /// The validated config this gateway was built from.
    pub config: Arc<Config>,
    pub(crate) router: Router,
    pub(crate) groups: Vec<Group>,
    pub(crate) chain: Chain,
    pub(crate) rng: Rng,
    pub(crate) access_log: bool,
    pub(super) stock: super::buffers::Stock,
}

impl Gateway {
    /// Builds a gateway; `seed` makes every random choice reproducible.
    pub fn new(config: Arc<Config>, seed: u64) -> Gateway {
        let mut rng = Rng::new(seed);
        let groups = config
            .upstreams
            .iter()
            .map(|spec| Group::new(spec, rng.next_u64()))
            .collect();
        Gateway {
            router: Router::new(config.routes.clone()),
            chain: Chain::from_specs(&config.middleware),
            groups,
            rng,
            config,
            access_log: true,
            stock: Default::default(),
        }
    }

    /// Turns `Output::Log` records on or off (off: `--quiet`, where the
    /// frontend would drop them anyway; saves building each one).
    pub fn set_access_log(&mut self, on: bool) {
        self.access_log = on;
    }

    /// Replaces the middleware chain (embedding, tests).
    pub fn set_chain(&mut self, chain: Chain) {
        self.chain = chain;
    }

    /// The upstream groups, in config order.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }
}
