//! weir-core: the sans-IO heart of the weir HTTP/1.1 gateway.
//!
//! It never touches a socket, a thread, a clock or OS randomness: a
//! frontend feeds a [`Connection`] inputs with the current time and drains
//! its outputs until [`Output::Wait`], which names the next deadline.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Instant;
//! use bytes::Bytes;
//! use weir_core::{Config, Connection, Gateway, Input, Output, Peer};
//!
//! let config = Config::from_toml(r#"
//!     listen = "127.0.0.1:8080"
//!     [[upstream]]
//!     name = "app"
//!     servers = [{ addr = "127.0.0.1:9001" }]
//! "#).unwrap();
//! let mut gw = Gateway::new(Arc::new(config), 1);
//! let now = Instant::now();
//! let mut conn = Connection::new(&gw, "10.0.0.1:5555".parse().unwrap(), now);
//! let req = Bytes::from_static(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
//! conn.handle_input(&mut gw, now, Input::Received(Peer::Client, req));
//! let mut outputs = vec![];
//! loop {
//!     match conn.poll_output() {
//!         Output::Wait(_) => break,
//!         o => outputs.push(o),
//!     }
//! }
//! // The core asks for a connection to the one server.
//! assert!(matches!(outputs[0], Output::Connect { .. }));
//! ```
//!
//! | module | what |
//! |---|---|
//! | [`http1`] | heads, framing, chunked bodies |
//! | [`balancer`] | strategies, health, the hash key |
//! | [`client_ip`] | who the client is, behind trusted proxies |
//! | [`middleware`] | the onion chain and its layers |
//! | [`proxy`] | the connection state machine |
//! | [`config`] | the validated config model |
//! | [`plan`] | a config compiled for serving, shared by the workers |
//! | [`rng`] | the seeded PRNG and the fixed hash |
//! | [`recorder`] | the flight recorder: each connection's bytes, the last ones kept per worker |
//! | [`explain`] | every decision for one request, written down as it is made |
//! | [`sim`] | the in-memory simulator: scripted peers, virtual clock, replay, fuzz harnesses |

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod admin;
pub mod balancer;
pub mod call;
pub mod client_ip;
pub mod config;
pub mod explain;
pub mod health_check;
pub mod http1;
pub mod metrics;
pub mod middleware;
#[cfg(feature = "test-mutants")]
pub mod mutant;
pub mod plan;
pub mod proxy;
pub mod recorder;
pub mod rng;
pub mod sim;

pub use config::{Config, ConfigError};
pub use plan::Plan;
pub use proxy::{AccessRecord, Connection, Fault, Gateway, Input, Output, Peer, UpstreamId};
