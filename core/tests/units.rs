//! Unit behaviour that needs a real `Instant` as its epoch (the core
//! itself never reads a clock, so these live outside `core/src`).

mod onion {
    use bytes::Bytes;
    use std::sync::{Arc, Mutex};
    use std::time::Instant;
    use weir_core::http1::{RequestHead, ResponseHead};
    use weir_core::middleware::{Answer, Chain, Cx, Flow, Layer};
    use weir_core::rng::Rng;

    struct Trace {
        name: &'static str,
        seen: Arc<Mutex<Vec<String>>>,
        answer: bool,
    }

    impl Layer for Trace {
        fn on_request(&self, _req: &mut RequestHead, _cx: &mut Cx<'_>) -> Flow {
            self.seen.lock().unwrap().push(format!("in:{}", self.name));
            if self.answer {
                Flow::Answer(Answer {
                    head: ResponseHead::new(403),
                    body: Bytes::new(),
                })
            } else {
                Flow::Next
            }
        }
        fn on_response(&self, _req: &RequestHead, _resp: &mut ResponseHead, _cx: &mut Cx<'_>) {
            self.seen.lock().unwrap().push(format!("out:{}", self.name));
        }
    }

    #[test]
    fn the_onion_unwinds_in_reverse_through_passed_layers_only() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let layer = |name, answer| -> Arc<dyn Layer> {
            Arc::new(Trace {
                name,
                seen: seen.clone(),
                answer,
            })
        };
        let chain = Chain::new(vec![layer("a", false), layer("b", true), layer("c", false)]);
        let mut req = weir_core::http1::parse_request(&Bytes::from_static(
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        ))
        .unwrap();
        let mut rng = Rng::new(0);
        let ip = Bytes::from_static(b"127.0.0.1");
        let mut cx = Cx::new(
            "127.0.0.1:1".parse().unwrap(),
            &ip,
            Instant::now(),
            None,
            &mut rng,
        );
        let (depth, flow) = chain.request(&mut req, &mut cx);
        assert!(matches!(flow, Flow::Answer(_)));
        assert_eq!(depth, 1);
        let mut resp = ResponseHead::new(403);
        chain.response(depth, &req, &mut resp, &mut cx);
        assert_eq!(*seen.lock().unwrap(), ["in:a", "in:b", "out:a"]);
    }
}

mod health {
    use std::time::{Duration, Instant};
    use weir_core::balancer::{Health, ServerId};

    #[test]
    fn max_fails_within_the_window_marks_down_for_the_window() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut h = Health::new(2, 3, ms(1000));
        let s = ServerId(0);
        assert!(!h.failure(s, t0));
        assert!(!h.failure(s, t0 + ms(100)));
        assert!(h.is_up(s, t0 + ms(100)));
        assert!(h.failure(s, t0 + ms(200)));
        assert!(!h.is_up(s, t0 + ms(200)));
        assert!(!h.is_up(s, t0 + ms(1199)));
        assert!(h.is_up(s, t0 + ms(1200)));
        // Failures spread wider than the window never add up.
        let mut h = Health::new(1, 2, ms(1000));
        assert!(!h.failure(s, t0));
        assert!(!h.failure(s, t0 + ms(1500)));
        assert!(h.is_up(s, t0 + ms(1500)));
    }
}

mod timers {
    use std::time::{Duration, Instant};
    use weir_core::proxy::timer::{Timer, Timers};

    #[test]
    fn one_deadline_per_side_earliest_expires_first() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut timers = Timers::default();
        assert_eq!(timers.next(), None);
        timers.set(Timer::ClientBody, t0 + 2 * s);
        timers.set(Timer::UpstreamResponse, t0 + s);
        assert_eq!(timers.next(), Some(t0 + s));
        assert!(timers.is_set(Timer::ClientBody) && !timers.is_set(Timer::ClientHead));
        timers.clear(Timer::ClientHead); // not armed: nothing happens
        assert!(timers.is_set(Timer::ClientBody));
        assert_eq!(timers.expired(t0), None);
        assert_eq!(timers.expired(t0 + 3 * s), Some(Timer::UpstreamResponse));
        assert_eq!(timers.expired(t0 + 3 * s), Some(Timer::ClientBody));
        assert_eq!(timers.expired(t0 + 3 * s), None);
        // Same instant: the client's first.
        timers.set(Timer::UpstreamIdle, t0);
        timers.set(Timer::ClientIdle, t0);
        assert_eq!(timers.expired(t0), Some(Timer::ClientIdle));
        assert_eq!(timers.expired(t0), Some(Timer::UpstreamIdle));
        // Re-arming the same timer moves it.
        timers.set(Timer::ClientHead, t0 + s);
        timers.set(Timer::ClientHead, t0 + 2 * s);
        assert_eq!(timers.next(), Some(t0 + 2 * s));
        timers.clear_all();
        assert_eq!(timers.next(), None);
    }

    /// Every connection carries its timers: both instants side by side,
    /// then which timer each is.
    #[test]
    fn the_timers_take_40_bytes() {
        assert_eq!(std::mem::size_of::<Timers>(), 40);
    }
}

mod budgets {
    /// An idle keep-alive connection is this struct and nothing on the
    /// heap (`idle_memory.rs`): every byte here is paid by each of them.
    #[test]
    fn a_connection_fits_its_budget() {
        let size = std::mem::size_of::<weir_core::Connection>();
        assert!(size <= 152, "Connection is {size} bytes");
    }
}

mod gcra {
    //! The rate-limit store on real threads and a real `Instant` epoch.
    use std::time::{Duration, Instant};
    use weir_core::middleware::gcra::{Gcra, Verdict};

    /// The GCRA sequence of 10/s with burst 5: five at once, then one
    /// every 100 ms, and the refusals say exactly how long to wait.
    #[test]
    fn ten_per_second_burst_five() {
        let g = Gcra::new(10, Duration::from_secs(1), 5, 16);
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        for i in 0..5 {
            assert_eq!(
                g.check(7, t0),
                Verdict::Admit {
                    remaining: 4 - i,
                    reset: Duration::from_millis(100 * (i + 1)),
                }
            );
        }
        assert_eq!(
            g.check(7, t0),
            Verdict::Refuse {
                wait: Duration::from_millis(100)
            }
        );
        assert_eq!(
            g.check(7, ms(99)),
            Verdict::Refuse {
                wait: Duration::from_millis(1)
            }
        );
        assert!(matches!(
            g.check(7, ms(100)),
            Verdict::Admit { remaining: 0, .. }
        ));
        assert!(matches!(g.check(7, ms(150)), Verdict::Refuse { .. }));
        // Over 3 s of a request every 10 ms: 5 + 30 admitted (the burst,
        // then one per 100 ms), the rest refused.
        let g = Gcra::new(10, Duration::from_secs(1), 5, 16);
        let admitted = (0..300)
            .filter(|&i| matches!(g.check(1, ms(i * 10)), Verdict::Admit { .. }))
            .count();
        assert_eq!(admitted, 5 + 29);
        // Other keys have their own quota.
        assert!(matches!(
            g.check(2 << 48 | 1, ms(10)),
            Verdict::Admit { remaining: 4, .. }
        ));
    }

    #[test]
    fn memory_is_bounded_and_a_flood_of_keys_evicts_the_soonest_free() {
        let g = Gcra::new(1, Duration::from_secs(60), 1, 8);
        let t0 = Instant::now();
        assert!(matches!(g.check(1 << 48, t0), Verdict::Admit { .. }));
        assert!(matches!(g.check(1 << 48, t0), Verdict::Refuse { .. }));
        for k in 2..=10_000u64 {
            assert!(matches!(g.check(k << 48 | k, t0), Verdict::Admit { .. }));
        }
        assert_eq!(g.capacity(), 8);
        // Key 1's cell went to another key: forgotten, so admitted again.
        assert!(matches!(g.check(1 << 48, t0), Verdict::Admit { .. }));
    }

    #[test]
    fn workers_on_threads_admit_exactly_the_limit_between_them() {
        let g = std::sync::Arc::new(Gcra::new(100, Duration::from_secs(1), 100, 1024));
        let t0 = Instant::now();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let g = g.clone();
                std::thread::spawn(move || {
                    (0..1000)
                        .filter(|_| matches!(g.check(42, t0), Verdict::Admit { .. }))
                        .count()
                })
            })
            .collect();
        let total: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(total, 100);
    }
}

mod concurrency {
    //! Concurrency counts on real threads.
    use std::sync::Arc;
    use weir_core::middleware::concurrency::{Concurrency, Entry};
    use weir_core::middleware::limit_key::LimitKey;

    #[test]
    fn threads_never_exceed_max_together() {
        let c = Arc::new(Concurrency::new(LimitKey::parse(None, &mut vec![]), 3, 64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        if let Entry::Counted(at) = c.enter(7 << 48 | 7) {
                            assert!(c.in_flight(7 << 48 | 7) <= 3);
                            c.leave(at);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(c.in_flight(7 << 48 | 7), 0);
    }
}
