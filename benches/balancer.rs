//! Criterion benches of one pick (plus its report) per strategy, with 3
//! and 100 servers, every server usable.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use weir_core::balancer::{build, Outcome, Strategy};
use weir_core::rng::Rng;

fn picks(c: &mut Criterion) {
    let strategies = [
        ("random", Strategy::Random),
        ("round-robin", Strategy::RoundRobin),
        ("weighted-round-robin", Strategy::WeightedRoundRobin),
        ("consistent-hash", Strategy::ConsistentHash),
        ("least-conn", Strategy::LeastConn),
        ("p2c", Strategy::P2c),
    ];
    for n in [3usize, 100] {
        let names: Vec<String> = (0..n)
            .map(|i| format!("10.0.{}.{}:80", i / 256, i % 256))
            .collect();
        let servers: Vec<(&str, u32)> = names
            .iter()
            .enumerate()
            .map(|(i, s)| (s.as_str(), 1 + (i % 3) as u32))
            .collect();
        for (name, s) in strategies {
            let mut b = build(s, &servers, 7);
            let mut rng = Rng::new(3);
            c.bench_function(&format!("balancer/{name}/{n} servers"), |bench| {
                bench.iter(|| {
                    let key = Some(rng.next_u64());
                    let picked = b.pick_any(key);
                    if let Some(p) = picked {
                        b.report(
                            p,
                            Outcome::Success {
                                latency: Duration::from_micros(100),
                            },
                        );
                    }
                    picked
                })
            });
        }
    }
}

criterion_group!(benches, picks);
criterion_main!(benches);
