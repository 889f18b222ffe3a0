//! `lab`: the command line around [`weir_core::sim::lab`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use weir_core::sim::lab::{self, Fault, FaultKind, Keys, Traffic};

/// `lab`'s arguments (the config comes from `--config`).
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The upstream group to run (default: the config's first).
    #[arg(long, value_name = "NAME")]
    pub upstream: Option<String>,
    /// Requests to send.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub requests: u64,
    /// Distinct request keys.
    #[arg(long, value_name = "K", default_value_t = 1_000)]
    pub keys: u64,
    /// Requests per second (virtual time).
    #[arg(long, value_name = "R", default_value_t = 1_000.0)]
    pub rate: f64,
    /// Key distribution: uniform, or zipf[:S] (S default 1.0).
    #[arg(long, value_name = "DIST", default_value = "uniform")]
    pub dist: String,
    /// Milliseconds a server takes to answer.
    #[arg(long, value_name = "MS", default_value_t = 20)]
    pub latency: u64,
    /// A server down from START to END seconds: ADDR@START..END (repeat).
    #[arg(long, value_name = "ADDR@START..END")]
    pub fail: Vec<String>,
    /// A slow server: ADDR@START..END=MS (repeat).
    #[arg(long, value_name = "ADDR@START..END=MS")]
    pub slow: Vec<String>,
    /// Seeds the draws and the balancer.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Another config whose group of the same name runs the same traffic,
    /// reported side by side.
    #[arg(long, value_name = "OTHER.toml")]
    pub compare: Option<PathBuf>,
}

/// `ADDR@START..END`, seconds.
fn window(text: &str) -> Result<(SocketAddr, Duration, Duration), String> {
    let bad = || format!("{text:?}: expected ADDR@START..END (seconds), e.g. 127.0.0.1:9001@2..5");
    let (addr, span) = text.split_once('@').ok_or_else(bad)?;
    let (a, b) = span.split_once("..").ok_or_else(bad)?;
    let secs = |s: &str| {
        s.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(Duration::from_secs_f64)
    };
    match (addr.parse(), secs(a), secs(b)) {
        (Ok(addr), Some(start), Some(end)) if start < end => Ok((addr, start, end)),
        _ => Err(bad()),
    }
}

fn faults(args: &Args) -> Result<Vec<Fault>, String> {
    let mut out = Vec::new();
    for f in &args.fail {
        let (server, start, end) = window(f)?;
        out.push(Fault {
            server,
            start,
            end,
            kind: FaultKind::Down,
        });
    }
    for s in &args.slow {
        let (w, ms) = s
            .rsplit_once('=')
            .ok_or_else(|| format!("{s:?}: expected ADDR@START..END=MS"))?;
        let ms: u64 = ms
            .parse()
            .map_err(|_| format!("{s:?}: MS must be a whole number"))?;
        let (server, start, end) = window(w)?;
        let kind = FaultKind::Slow(Duration::from_millis(ms));
        out.push(Fault {
            server,
            start,
            end,
            kind,
        });
    }
    Ok(out)
}

fn traffic(args: &Args) -> Result<Traffic, String> {
    let dist = match args.dist.split_once(':') {
        None if args.dist == "uniform" => Keys::Uniform,
        None if args.dist == "zipf" => Keys::Zipf(1.0),
        Some(("zipf", s)) => match s.parse::<f64>() {
            Ok(v) if v.is_finite() && v > 0.0 => Keys::Zipf(v),
            _ => return Err(format!("--dist {}: S must be a positive number", args.dist)),
        },
        _ => {
            return Err(format!(
                "--dist {}: expected uniform or zipf[:S]",
                args.dist
            ))
        }
    };
    if !(args.rate.is_finite() && args.rate > 0.0) {
        return Err("--rate must be a positive number".into());
    }
    if args.keys == 0 || args.requests == 0 {
        return Err("--keys and --requests must be at least 1".into());
    }
    Ok(Traffic {
        requests: args.requests,
        keys: args.keys,
        dist,
        rate: args.rate,
        latency: Duration::from_millis(args.latency),
        seed: args.seed,
        start: std::time::Instant::now(),
    })
}

/// Runs `lab` over `config`; exit 0, or 2 for bad input.
pub fn run(name: &str, config: &weir_core::Config, args: &Args) -> i32 {
    let fail = |e: String| {
        eprintln!("{name}: lab: {e}");
        2
    };
    let (traffic, faults) = match (traffic(args), faults(args)) {
        (Ok(t), Ok(f)) => (t, f),
        (Err(e), _) | (_, Err(e)) => return fail(e),
    };
    let pick = |c: &weir_core::Config| {
        let found = match &args.upstream {
            Some(n) => c.upstreams.iter().find(|g| &g.name == n),
            None => c.upstreams.first(),
        };
        found.cloned().ok_or_else(|| {
            format!(
                "no upstream {:?} (there are: {})",
                args.upstream.as_deref().unwrap_or(""),
                c.upstreams
                    .iter()
                    .map(|g| g.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    };
    let group = match pick(config) {
        Ok(g) => g,
        Err(e) => return fail(e),
    };
    let mut reports = vec![("this config", lab::run(&group, &traffic, &faults))];
    if let Some(path) = &args.compare {
        let other = match crate::cli::load(path) {
            Ok(c) => c,
            Err(errs) => return fail(errs.join("; ")),
        };
        let name_wanted = args.upstream.clone().unwrap_or(group.name.clone());
        let g = other
            .upstreams
            .iter()
            .find(|g| g.name == name_wanted)
            .cloned();
        let Some(g) = g.or_else(|| other.upstreams.first().cloned()) else {
            return fail(format!("{} has no upstream", path.display()));
        };
        reports.push(("--compare", lab::run(&g, &traffic, &faults)));
    }
    print!("{}", lab::render(&reports));
    0
}
