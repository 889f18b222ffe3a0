//! SIGINT/SIGTERM: stop accepting, let in-flight requests finish, exit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

type Waker = Box<dyn Fn() + Send>;

struct Inner {
    fired: AtomicBool,
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
                wakers: Mutex::new(Vec::new()),
            }),
        }
    }

    /// A flag fired by SIGINT or SIGTERM (a thread waits for them).
    pub fn install() -> std::io::Result<Shutdown> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let s = Shutdown::manual();
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
        let fire = s.clone();
        std::thread::Builder::new()
            .name("weir-signals".into())
            .spawn(move || {
                if signals.forever().next().is_some() {
                    fire.trigger();
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
