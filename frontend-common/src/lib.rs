//! What both weir frontends share, written once: the command line, config
//! loading and `--check`, hot reload, the access log format and file,
//! signal handling and the demo upstreams, and giving freed heap back to the OS. A frontend
//! supplies only a [`Serve`] function that runs the gateway over its own
//! I/O.

// `unsafe` only in `memory::release_free_heap` and `splice`.
#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod accesslog;
pub mod admin;
pub mod calls;
pub mod cli;
pub mod demo;
pub mod diff;
pub mod discovery;
pub mod dns;
pub mod explain;
pub mod health;
pub mod io;
pub mod lab;
pub mod memory;
pub mod pool;
pub mod recorder;
pub mod reload;
pub mod shutdown;
pub mod simulate;
pub mod splice;
pub mod store_sync;

pub use accesslog::LogSink;
pub use cli::Options;
pub use reload::Plans;
pub use shutdown::Shutdown;

/// Runs the gateway until `shutdown` fires and the grace period ends,
/// installing every plan `plans` publishes (reloads) as it comes.
pub type Serve = fn(&Plans, &Options, Shutdown) -> std::io::Result<()>;

/// The whole program of a frontend binary: parses the command line and
/// runs the chosen command; returns the process exit code.
pub fn main(name: &'static str, serve: Serve) -> i32 {
    cli::run(name, serve)
}
