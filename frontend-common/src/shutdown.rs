//! Signals: SIGINT/SIGTERM stop accepting, let in-flight requests finish
//! and exit; SIGHUP and SIGUSR1 run the handlers they are given.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

type Waker = Box<dyn Fn() + Send>;

/// What SIGHUP and SIGUSR1 do (`None`: said once, then ignored).
#[derive(Default)]
pub struct Handlers {
    /// SIGHUP: reload the config file.
    pub reload: Option<Box<dyn Fn() + Send>>,
    /// SIGUSR1: reopen the access-log file.
    pub reopen: Option<Box<dyn Fn() + Send>>,
    /// SIGUSR2: dump the flight recorder.
    pub dump: Option<Box<dyn Fn() + Send>>,
}

struct Inner {
    fired: AtomicBool,
    /// The signal that fired it (0: fired by hand).
    signal: AtomicI32,
    /// Exchanges in flight when it fired, and those cut when the grace
    /// period ran out (touched only while stopping).
    in_flight: AtomicU64,
    cut: AtomicU64,
    wakers: Mutex<Vec<Waker>>,
}

/// A shared "stop now" flag that also wakes every registered worker.
#[derive(Clone)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

impl Shutdown {
    /// A flag that only [`Shutdown::trigger`] fires (embedding, tests).
    pub fn manual() -> Shutdown {
        Shutdown {
            inner: Arc::new(Inner {
                fired: AtomicBool::new(false),
                signal: AtomicI32::new(0),
                in_flight: AtomicU64::new(0),
                cut: AtomicU64::new(0),
                wakers: Mutex::new(Vec::new()),
            }),
        }
    }

    /// A flag fired by SIGINT or SIGTERM (a thread waits for them). The
    /// signals an operator's tools send for other reasons are caught too,
    /// so that none kills the process by surprise: SIGHUP (`systemctl
    /// reload`) runs `on.reload`, SIGUSR1 (logrotate) runs `on.reopen`,
    /// SIGUSR2 runs `on.dump`; without one, it is said once on stderr
    /// and otherwise ignored. (SIGPIPE is ignored by the Rust runtime: a
    /// closed peer is a write error.)
    pub fn install(on: Handlers) -> std::io::Result<Shutdown> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
        let s = Shutdown::manual();
        let mut signals =
            signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2])?;
        let fire = s.clone();
        std::thread::Builder::new()
            .name("weir-signals".into())
            .spawn(move || {
                let mut said = [false; 3];
                for signal in signals.forever() {
                    let (i, handler, text) = match signal {
                        SIGHUP => (0, &on.reload, "SIGHUP: no config file to reload (quick mode or demo); ignored"),
                        SIGUSR1 => (1, &on.reopen, "SIGUSR1: the access log goes to stdout, there is no log file to reopen; ignored"),
                        SIGUSR2 => (2, &on.dump, "SIGUSR2: no [recorder] configured, nothing to dump; ignored"),
                        _ => {
                            if !fire.is_fired() {
                                fire.inner.signal.store(signal, Ordering::SeqCst);
                                fire.trigger();
                            }
                            continue;
                        }
                    };
                    match handler {
                        Some(run) => run(),
                        None if !std::mem::replace(&mut said[i], true) => eprintln!("weir: {text}"),
                        None => {}
                    }
                }
            })?;
        Ok(s)
    }

    /// Fires the flag and wakes every worker.
    pub fn trigger(&self) {
        self.inner.fired.store(true, Ordering::SeqCst);
        if let Ok(w) = self.inner.wakers.lock() {
            for wake in w.iter() {
                wake();
            }
        }
    }

    /// True once fired.
    pub fn is_fired(&self) -> bool {
        self.inner.fired.load(Ordering::SeqCst)
    }

    /// Notes one exchange that was in flight when the stop began.
    pub fn note_in_flight(&self) {
        self.inner.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// Notes one exchange cut when the grace period ran out.
    pub fn note_cut(&self) {
        self.inner.cut.fetch_add(1, Ordering::Relaxed);
    }

    /// The one line said on stderr once a stop is complete, e.g.
    /// `stopped on SIGTERM: 3 in-flight requests finished, 1 cut`.
    pub fn report(&self) -> String {
        let signal = match self.inner.signal.load(Ordering::SeqCst) {
            signal_hook::consts::SIGINT => "on SIGINT",
            signal_hook::consts::SIGTERM => "on SIGTERM",
            _ => "",
        };
        let in_flight = self.inner.in_flight.load(Ordering::SeqCst);
        let cut = self.inner.cut.load(Ordering::SeqCst).min(in_flight);
        let finished = in_flight - cut;
        let s = if finished == 1 { "" } else { "s" };
        format!("stopped {signal}: {finished} in-flight request{s} finished, {cut} cut")
            .replace("stopped :", "stopped:")
    }

    /// Registers a function that wakes one worker (called on trigger;
    /// at once when already fired).
    pub fn on_trigger(&self, wake: impl Fn() + Send + 'static) {
        if self.is_fired() {
            wake();
        }
        if let Ok(mut w) = self.inner.wakers.lock() {
            w.push(Box::new(wake));
        }
    }
}
