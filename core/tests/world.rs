//! The seeded world simulation: 1 000 seeds, every invariant after every
//! step (`core/src/sim/seeded/`).

use std::time::Instant;

use weir_core::sim::seeded::{generate, run, shrink, Action, Req, Scenario};

/// Steps per seed.
const STEPS: usize = 40;

#[test]
fn a_thousand_seeds_hold_every_invariant() {
    let started = Instant::now();
    let mut requests = 0;
    let mut forwarded = 0;
    let mut tunneled = 0;
    for seed in 0..1_000 {
        let s = generate(seed, STEPS);
        match run(&s, Instant::now()) {
            Ok(t) => {
                requests += t.requests;
                forwarded += t.forwarded;
                tunneled += t.tunneled;
            }
            Err(v) => {
                let small = shrink(&s, Instant::now());
                panic!(
                    "seed {seed}: {v}\nshrunk to {} steps: {:#?}",
                    small.steps.len(),
                    small.steps
                );
            }
        }
    }
    // The worlds did something: thousands of requests, most forwarded.
    assert!(requests > 20_000, "{requests}");
    assert!(forwarded > requests / 3, "{forwarded} of {requests}");
    assert!(tunneled > 10_000, "{tunneled} tunnel bytes");
    eprintln!(
        "1000 seeds: {requests} requests, {forwarded} forwarded, {tunneled} tunnel bytes, {:?}",
        started.elapsed()
    );
}

#[test]
fn a_seed_is_the_same_world_every_time() {
    let a = generate(42, STEPS);
    let b = generate(42, STEPS);
    assert_eq!(a.steps, b.steps);
    assert_eq!(
        run(&a, Instant::now()).unwrap(),
        run(&b, Instant::now()).unwrap()
    );
}

#[test]
fn a_broken_world_is_caught_and_shrunk() {
    // A POST whose request reaches a server twice would break the
    // no-resend invariant; a client that reuses an id makes the checker
    // see exactly that, and the shrinker keeps only the sends needed.
    let post = |id| Req {
        id,
        method: "POST",
        limited: false,
        body: 10,
        chunked: false,
        close: false,
        upgrade: false,
    };
    let s = Scenario {
        seed: 0,
        steps: vec![
            Action::Advance(5),
            Action::Send(0, vec![post(7)]),
            Action::Advance(5),
            Action::Send(0, vec![post(7)]),
            Action::Reload(1),
        ],
    };
    let v = run(&s, Instant::now()).unwrap_err();
    assert!(
        v.what.contains("non-idempotent request 7 sent 2 times"),
        "{v}"
    );
    let small = shrink(&s, Instant::now());
    assert_eq!(
        small.steps,
        vec![
            Action::Send(0, vec![post(7)]),
            Action::Send(0, vec![post(7)])
        ]
    );
}
