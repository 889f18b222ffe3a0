//! The command line of both binaries (DESIGN.md's interface contract).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use weir_core::balancer::Strategy;
use weir_core::Config;

use crate::reload::{Plans, Reloader};
use crate::shutdown::{Handlers, Shutdown};
use crate::{demo, Serve};

/// weir: an HTTP/1.1 reverse proxy and API gateway.
#[derive(Parser, Debug, Clone)]
#[command(version, about, long_about = None)]
pub struct Options {
    /// Run from this TOML config file.
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Quick mode (and `demo`): address to listen on.
    #[arg(long, value_name = "ADDR", global = true)]
    pub listen: Option<SocketAddr>,
    /// Quick mode: an upstream server (repeat for several).
    #[arg(long = "upstream", value_name = "ADDR")]
    pub upstreams: Vec<SocketAddr>,
    /// Quick mode: balancer (random, round-robin, weighted-round-robin,
    /// consistent-hash, least-conn, p2c; default round-robin).
    #[arg(long, value_name = "NAME")]
    pub balancer: Option<String>,
    /// Quick mode, consistent-hash: the request key (client-ip, path, uri,
    /// header:NAME, cookie:NAME, query:NAME; default client-ip).
    #[arg(long, value_name = "KEY")]
    pub hash_key: Option<String>,
    /// Worker threads (default: the config's `workers`, else one per core).
    #[arg(long, value_name = "N", global = true)]
    pub workers: Option<usize>,
    /// Validate the config, print every error, exit 0 (valid) or 1.
    #[arg(long)]
    pub check: bool,
    /// Do not write access-log lines to stdout.
    #[arg(long, global = true)]
    pub quiet: bool,
    /// Seconds in-flight requests get to finish after SIGINT/SIGTERM.
    #[arg(long, value_name = "SECS", default_value_t = 10, global = true)]
    pub grace: u64,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug, Clone)]
enum Command {
    /// Start two demo upstreams and the gateway on 127.0.0.1:8080.
    Demo,
    /// Run a recorded connection through the core offline and print the
    /// exchange: what reached each upstream, what went back to the
    /// client, the access records. Uses --config, or one upstream on
    /// 127.0.0.1:9001.
    Replay {
        /// Every byte the client sent on the connection.
        requests: PathBuf,
        /// Every byte the server sent back (default: answer 200 to all).
        responses: Option<PathBuf>,
        /// Deliver bytes in pieces of this size (default: as large as allowed).
        #[arg(long, value_name = "BYTES")]
        split: Option<usize>,
        /// Every byte the called services (Redis, an auth service) sent
        /// back, in call order (default: no reply; calls expire).
        #[arg(long, value_name = "FILE")]
        calls: Option<PathBuf>,
    },
    /// Run one request through the core offline and print every decision
    /// made for it, and the bytes that would go upstream or the local
    /// answer. Exit 0: it would be forwarded; 1: weir answers it itself.
    Explain(crate::explain::Args),
    /// Run recorded requests through two configs and print what changes
    /// for each (route, upstream, local answers, bytes sent upstream).
    /// Exit 0: nothing changes; 1: something does.
    Diff(crate::diff::Args),
    /// Run an upstream group's balancer offline on synthetic traffic with
    /// scripted faults; per server: share, peak in flight, failures;
    /// failovers and keys moved. Uses --config (or one upstream).
    Lab(crate::lab::Args),
    /// Run the seeded world simulation (clients, servers, faults and
    /// reloads over one gateway, invariants after every step) over many
    /// seeds; print the first failing seed with a shrunk reproduction.
    Sim(crate::simulate::Args),
}

/// Worker threads to run for a config: its `workers`, else one per core.
pub fn workers(config: &Config) -> usize {
    config.workers.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    })
}

/// Reads and validates a config file; errors are printed as
/// `FILE:LINE: key: message`, one per line.
pub fn load(path: &std::path::Path) -> Result<Config, Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![format!("cannot read {}: {e}", path.display())])?;
    // Files a layer names (a keys file, ...) are read here, relative to
    // the config file's directory; the core does no I/O.
    let dir = path
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let files = move |name: &str| {
        let p = dir.join(name);
        std::fs::read(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))
    };
    let names = |host: &str, dns: &weir_core::config::dns::Dns| {
        crate::dns::resolve(host, dns).map(|(ips, _)| ips)
    };
    Config::load(&text, &files, &names).map_err(|errs| {
        errs.iter()
            .map(|e| match e.line {
                Some(l) => format!("{}:{l}: {}", path.display(), ConfigErrorBody(e)),
                None => format!("{}: {}", path.display(), ConfigErrorBody(e)),
            })
            .collect()
    })
}

struct ConfigErrorBody<'a>(&'a weir_core::ConfigError);

impl std::fmt::Display for ConfigErrorBody<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.key.is_empty() {
            write!(f, "{}", self.0.message)
        } else {
            write!(f, "{}: {}", self.0.key, self.0.message)
        }
    }
}

fn config_for(opts: &Options) -> Result<Config, Vec<String>> {
    // One rule: the quick-mode flags describe the whole gateway, so they
    // go with no --config (--workers and the rest apply to both).
    let quick_flags = opts.listen.is_some()
        || !opts.upstreams.is_empty()
        || opts.balancer.is_some()
        || opts.hash_key.is_some();
    let mut config = match (&opts.config, opts.listen) {
        (Some(path), _) if !quick_flags => load(path)?,
        (Some(_), _) => {
            return Err(vec![
                "--config cannot be combined with the quick-mode flags --listen, --upstream, --balancer, --hash-key".into(),
            ])
        }
        (None, Some(listen)) => {
            if opts.upstreams.is_empty() {
                return Err(vec!["quick mode needs at least one --upstream ADDR".into()]);
            }
            let name = opts.balancer.as_deref().unwrap_or("round-robin");
            let strategy: Strategy = name.parse().map_err(|e| vec![e])?;
            let mut config = Config::quick(listen, &opts.upstreams, strategy);
            match (&opts.hash_key, strategy) {
                (Some(key), Strategy::ConsistentHash) => {
                    config.upstreams[0].hash_key = Some(key.parse().map_err(|e| vec![e])?);
                }
                (Some(_), _) => {
                    return Err(vec!["--hash-key needs --balancer consistent-hash".into()])
                }
                (None, _) => {}
            }
            config
        }
        (None, None) => {
            let what = if quick_flags {
                "quick mode needs --listen ADDR"
            } else {
                "nothing to run: give --config FILE, or --listen ADDR --upstream ADDR, or `demo` (see --help)"
            };
            return Err(vec![what.into()]);
        }
    };
    if let Some(w) = opts.workers {
        if w == 0 {
            return Err(vec!["--workers must be at least 1".into()]);
        }
        config.workers = Some(w);
    }
    Ok(config)
}

/// Parses the process arguments and runs; returns the exit code.
pub fn run(name: &'static str, serve: Serve) -> i32 {
    use clap::{CommandFactory, FromArgMatches};
    // The binary's own name in --help and --version, not this crate's.
    let command = Options::command().name(name).bin_name(name).about(
        "weir: an HTTP/1.1 reverse proxy and API gateway (reverse proxy, load balancing, policies)",
    );
    let parsed = command
        .try_get_matches()
        .and_then(|m| Options::from_arg_matches(&m));
    let opts = match parsed {
        Ok(o) => o,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                print!("{e}");
                return 0;
            }
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            eprintln!(
                "{name}: {} (see --help)",
                first.trim_start_matches("error: ")
            );
            return 2;
        }
    };
    match &opts.command {
        Some(Command::Demo) => return demo::run(name, &opts, serve),
        Some(Command::Replay {
            requests,
            responses,
            split,
            calls,
        }) => {
            let files = ReplayFiles {
                requests,
                responses: responses.as_deref(),
                calls: calls.as_deref(),
            };
            return replay(name, &opts, files, *split);
        }
        Some(Command::Diff(args)) => return crate::diff::run(name, args),
        Some(Command::Sim(args)) => return crate::simulate::run_seeds(name, args),
        Some(Command::Lab(args)) => {
            return match offline_config(&opts) {
                Ok(config) => crate::lab::run(name, &config, args),
                Err(errs) => {
                    for e in &errs {
                        eprintln!("{name}: {e}");
                    }
                    2
                }
            };
        }
        Some(Command::Explain(args)) => {
            return match offline_config(&opts) {
                Ok(config) => crate::explain::run(name, config, args),
                Err(errs) => {
                    for e in &errs {
                        eprintln!("{name}: {e}");
                    }
                    2
                }
            };
        }
        None => {}
    }
    let config = match config_for(&opts) {
        Ok(c) => c,
        Err(errs) => {
            for e in &errs {
                eprintln!("{name}: {e}");
            }
            return 1;
        }
    };
    if opts.check {
        println!("{name}: config OK");
        return 0;
    }
    if opts.config.is_none() && opts.balancer.as_deref() == Some("consistent-hash") {
        let key = opts.hash_key.as_deref().unwrap_or("client-ip");
        eprintln!("{name}: consistent-hash keyed on {key} (--hash-key to change)");
    }
    start(name, Arc::new(config), &opts, serve)
}

/// Runs `serve` with signal handling (SIGHUP reloads the config file,
/// SIGUSR1 reopens the log file); turns an error into one line.
pub fn start(name: &'static str, config: Arc<Config>, opts: &Options, serve: Serve) -> i32 {
    if let Some(path) = &config.log_path {
        if let Err(e) = crate::accesslog::open(path) {
            eprintln!("{name}: log.path: cannot open {}: {e}", path.display());
            return 1;
        }
    }
    let plans = Plans::new(config.clone());
    let mut on = Handlers::default();
    let reloader = opts.config.as_ref().map(|path| Reloader {
        name,
        path: path.clone(),
        workers: opts.workers,
        plans: plans.clone(),
    });
    if let Some(r) = reloader.clone() {
        on.reload = Some(Box::new(move || r.reload_and_say()));
    }
    if config.log_path.is_some() {
        on.reopen = Some(Box::new(move || match crate::accesslog::reopen() {
            Ok(Some(path)) => eprintln!("{name}: SIGUSR1: reopened {}", path.display()),
            Ok(None) => {}
            Err(e) => eprintln!(
                "{name}: SIGUSR1: cannot reopen the access log: {e}; lines go to the old file"
            ),
        }));
    }
    if config.recorder.is_some() {
        on.dump = Some(Box::new(move || crate::recorder::dump_and_say(name)));
    }
    let shutdown = match Shutdown::install(on) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{name}: cannot install signal handlers: {e}");
            return 1;
        }
    };
    if let Err(e) = crate::discovery::start(name, &plans) {
        eprintln!("{name}: cannot start the DNS refresh: {e}");
        return 1;
    }
    if let Err(e) = crate::store_sync::start(name, &plans) {
        eprintln!("{name}: cannot start the rate-limit store sync: {e}");
        return 1;
    }
    if let Err(e) = crate::health::start(name, &plans) {
        eprintln!("{name}: cannot start the health checks: {e}");
        return 1;
    }
    if let Err(e) = crate::admin::start(name, &plans, reloader, shutdown.clone()) {
        eprintln!("{name}: {e}");
        return 1;
    }
    let stopping = shutdown.clone();
    let served = serve(&plans, opts, shutdown);
    // Every worker has handed its last lines over: write them.
    crate::accesslog::finish();
    match served {
        Ok(()) => {
            if stopping.is_fired() {
                eprintln!("{name}: {}", stopping.report());
            }
            0
        }
        Err(e) => {
            eprintln!("{name}: {e}");
            1
        }
    }
}

/// The config the offline commands run: `--config`, or one upstream on
/// 127.0.0.1:9001.
fn offline_config(opts: &Options) -> Result<Config, Vec<String>> {
    match &opts.config {
        Some(path) => load(path),
        None => Ok(Config::quick(
            SocketAddr::from(([127, 0, 0, 1], 8080)),
            &[SocketAddr::from(([127, 0, 0, 1], 9001))],
            Strategy::RoundRobin,
        )),
    }
}

/// The recordings `replay` reads.
struct ReplayFiles<'a> {
    requests: &'a std::path::Path,
    responses: Option<&'a std::path::Path>,
    calls: Option<&'a std::path::Path>,
}

fn replay(name: &str, opts: &Options, files: ReplayFiles<'_>, split: Option<usize>) -> i32 {
    let ReplayFiles {
        requests,
        responses,
        calls,
    } = files;
    let config = match offline_config(opts) {
        Ok(c) => c,
        Err(errs) => {
            for e in &errs {
                eprintln!("{name}: {e}");
            }
            return 1;
        }
    };
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
    };
    let client = match read(requests) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{name}: {e}");
            return 1;
        }
    };
    let server = match responses.map(read).transpose() {
        Ok(b) => {
            b.unwrap_or_else(|| b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".repeat(10_000))
        }
        Err(e) => {
            eprintln!("{name}: {e}");
            return 1;
        }
    };
    let calls = match calls.map(read).transpose() {
        Ok(b) => b.unwrap_or_default(),
        Err(e) => {
            eprintln!("{name}: {e}");
            return 1;
        }
    };
    let epoch = std::time::Instant::now();
    let sim = weir_core::sim::transcript::replay_with_calls(
        config,
        epoch,
        &client,
        &server,
        &calls,
        split.unwrap_or(usize::MAX),
    );
    print!("{}", weir_core::sim::transcript::render(&sim));
    0
}
