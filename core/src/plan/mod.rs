//! The plan: a validated config compiled for serving, immutable and
//! shared by every worker (`Arc<Plan>`). What changes while serving
//! (balancer and health state, pools, counters) lives in each worker's
//! [`crate::Gateway`], keyed by identity so that it carries across a
//! reload; every exchange pins the plan it started with.

mod changes;

use std::sync::Arc;

pub use changes::Changes;

use crate::config::Config;
use crate::middleware::{forwarded::Forwarded, Chain, Layer};
use crate::proxy::Router;

/// A config compiled for serving.
pub struct Plan {
    /// 1 for the config the process started with, +1 per reload.
    pub generation: u64,
    /// The validated config it was compiled from.
    pub config: Arc<Config>,
    /// The routes, in precedence order.
    pub router: Router,
    /// Runs for every request, before routing: the built-in
    /// forwarded-headers layer, then every unnamed `[[middleware]]`.
    pub global: Chain,
    /// Each route's own layers (config order of routes), after routing.
    pub chains: Vec<Chain>,
}

impl Plan {
    /// Compiles a validated config.
    pub fn compile(config: Arc<Config>, generation: u64) -> Plan {
        let mut global: Vec<Arc<dyn Layer>> = vec![Arc::new(Forwarded)];
        global.extend(
            config
                .middleware
                .iter()
                .filter(|l| l.name.is_none())
                .map(|l| l.layer.clone()),
        );
        let chains = config
            .routes
            .iter()
            .map(|r| {
                Chain::new(
                    r.middleware
                        .iter()
                        .map(|&i| config.middleware[i].layer.clone())
                        .collect(),
                )
            })
            .collect();
        Plan {
            generation,
            router: Router::new(config.routes.clone()),
            global: Chain::new(global),
            chains,
            config,
        }
    }

    /// The kind of the layer at `index` of the global chain (`route`
    /// None) or of a route's chain.
    pub fn layer_kind(&self, route: Option<usize>, index: usize) -> &'static str {
        let c = &self.config;
        let entry = match route {
            // The global chain: the built-in forwarded-headers layer, then
            // the unnamed entries.
            None if index == 0 => return "forwarded-headers",
            None => c
                .middleware
                .iter()
                .filter(|l| l.name.is_none())
                .nth(index - 1),
            Some(r) => c
                .routes
                .get(r)
                .and_then(|r| r.middleware.get(index))
                .and_then(|&i| c.middleware.get(i)),
        };
        entry.map_or("", |l| l.kind)
    }

    /// The plan that follows this one for `config` (a reload), and what
    /// changes between them.
    /// Layers whose entry is unchanged (name, kind, settings) are carried
    /// over as they are, with their state (a rate limit's counts).
    pub fn successor(&self, config: Arc<Config>) -> (Plan, Changes) {
        let changes = Changes::between(&self.config, &config);
        let mut config = Arc::unwrap_or_clone(config);
        for layer in &mut config.middleware {
            if let Some(old) = self.config.middleware.iter().find(|o| *o == layer) {
                layer.layer = old.layer.clone();
            }
        }
        (
            Plan::compile(Arc::new(config), self.generation + 1),
            changes,
        )
    }

    /// The same plan with another global chain (tests, embedding).
    pub fn with_global(mut self, global: Chain) -> Plan {
        self.global = global;
        self
    }
}
