//! `sim --seeds N --from S`: the seeded world simulation
//! ([`weir_core::sim::seeded`]) over many seeds, on every core.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use weir_core::sim::seeded::{generate, run, shrink};

/// `sim`'s arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// How many seeds to run.
    #[arg(long, value_name = "N", default_value_t = 1_000)]
    pub seeds: u64,
    /// The first seed.
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub from: u64,
    /// Steps per seed.
    #[arg(long, value_name = "K", default_value_t = 40)]
    pub steps: usize,
}

/// Runs the seeds; exit 0 when every invariant held, 1 with the first
/// failing seed (lowest) and its shrunk reproduction.
pub fn run_seeds(name: &str, args: &Args) -> i32 {
    let started = Instant::now();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let next = AtomicU64::new(args.from);
    let end = args.from.saturating_add(args.seeds);
    let failed: Mutex<Option<u64>> = Mutex::new(None);
    let stop = AtomicBool::new(false);
    let totals = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= end || stop.load(Ordering::Relaxed) {
                    return;
                }
                match run(&generate(seed, args.steps), Instant::now()) {
                    Ok(t) => {
                        totals[0].fetch_add(1, Ordering::Relaxed);
                        totals[1].fetch_add(t.requests, Ordering::Relaxed);
                        totals[2].fetch_add(t.forwarded, Ordering::Relaxed);
                    }
                    Err(_) => {
                        let mut f = failed.lock().unwrap_or_else(|e| e.into_inner());
                        *f = Some(f.map_or(seed, |x| x.min(seed)));
                        stop.store(true, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let [passed, requests, forwarded] = totals.map(|t| t.into_inner());
    let failed = failed.into_inner().unwrap_or_else(|e| e.into_inner());
    let Some(seed) = failed else {
        println!(
            "{name}: sim: {passed} seeds ({}..{end}) held every invariant: {requests} requests, {forwarded} forwarded, {:.1} s",
            args.from,
            started.elapsed().as_secs_f64()
        );
        return 0;
    };
    let scenario = generate(seed, args.steps);
    let violation = run(&scenario, Instant::now()).err();
    let small = shrink(&scenario, Instant::now());
    println!(
        "{name}: sim: seed {seed} fails: {}",
        violation.map_or_else(|| "(not again)".into(), |v| v.to_string())
    );
    println!(
        "reproduction, {} of {} steps (weir_core::sim::seeded::run on these):",
        small.steps.len(),
        scenario.steps.len()
    );
    for (i, step) in small.steps.iter().enumerate() {
        println!("  {i}: {step:?}");
    }
    1
}
