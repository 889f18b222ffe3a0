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
}
