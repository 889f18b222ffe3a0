//! Driving one worker's executor and async-io's reactor on one thread.
//!
//! `block_on(ex.run(..))` polls the reactor only when the executor has
//! run out of tasks or after 200 of them. Under load that leaves the
//! reactor idle long enough for async-io's helper thread ("async-io")
//! to take it and block in `epoll_wait` holding it: every readiness
//! event is then handed to the worker across threads (a futex wake and
//! an eventfd write per event, measured with `strace -f`). Here the
//! worker gives the reactor a non-blocking poll every [`BATCH`] tasks,
//! so it keeps the reactor busy itself and the helper thread stays
//! asleep.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use smol::LocalExecutor;

/// Tasks run between two non-blocking polls of the reactor.
const BATCH: usize = 32;

/// Wakes the driver and notes that `main` asked to be polled.
struct MainWaker {
    woken: AtomicBool,
    driver: Waker,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        self.driver.wake_by_ref();
    }
}

/// Runs `ex` on this thread until `main` completes (`main` is polled
/// only when it was woken: its accept loop would otherwise try an
/// `accept` on every pass).
pub fn drive<T>(ex: &LocalExecutor<'_>, main: impl Future<Output = T>) -> T {
    let mut main = pin!(main);
    let mut next = pin!(ex.tick());
    let mut main_waker: Option<(Arc<MainWaker>, Waker)> = None;
    async_io::block_on(std::future::poll_fn(|cx| loop {
        let (flag, waker) = main_waker.get_or_insert_with(|| {
            let flag = Arc::new(MainWaker {
                woken: AtomicBool::new(true),
                driver: cx.waker().clone(),
            });
            (flag.clone(), Waker::from(flag))
        });
        if flag.woken.swap(false, Ordering::SeqCst) {
            if let Poll::Ready(t) = main.as_mut().poll(&mut Context::from_waker(waker)) {
                return Poll::Ready(t);
            }
        }
        let mut ran = 0;
        while ran < BATCH && ex.try_tick() {
            ran += 1;
        }
        if ran == BATCH {
            // More may be ready: let block_on poll the reactor without
            // blocking (it does when the future woke itself), then come back.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        // Nothing ready: wait for a task to be scheduled (block_on blocks
        // on the reactor meanwhile).
        match next.as_mut().poll(cx) {
            Poll::Ready(()) => next.set(ex.tick()),
            Poll::Pending => {
                if flag.woken.load(Ordering::SeqCst) {
                    continue;
                }
                return Poll::Pending;
            }
        }
    }))
}
