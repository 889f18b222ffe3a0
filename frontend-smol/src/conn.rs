//! One client connection as one task: the core's drain loop over
//! non-blocking sockets (`side.rs`), waiting on readiness, connects and
//! one re-armable timer in a single `poll_fn` over the task's `State`.

use std::future::Future;
use std::net::{SocketAddr, TcpStream};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use async_io::{Async, Timer};
use weir_core::call::{CallId, Reply};
use weir_core::{Connection, Input, Output, Peer, UpstreamId};
use weir_frontend::io::AfterFlush;

use crate::seats::Phase;
use crate::shard::Shard;
use crate::side::{client_backed_up, linger_close, pump, wants, Origin, Side};

type Connecting = Pin<Box<dyn Future<Output = std::io::Result<Async<TcpStream>>> + Send>>;
/// An outside call in progress (at most one per connection: a new one
/// replaces one whose exchange stopped waiting for it).
type Calling = (CallId, Pin<Box<dyn Future<Output = Reply> + Send>>);

struct Up {
    id: UpstreamId,
    addr: SocketAddr,
    side: Option<Side>,
    connecting: Option<Connecting>,
}

enum Event {
    Io,
    Tick,
    Stop,
    Cut,
    Connected(usize, std::io::Result<Async<TcpStream>>),
    Replied(CallId, Reply),
    Evicted,
}

/// What a connection's task keeps between waits. The wait borrows it
/// whole: a closure borrowing each part would hold a pointer to each in
/// every idle connection's future.
struct State {
    core: Connection,
    client: Option<Side>,
    ups: Vec<Up>,
    /// Boxed: rare, and 8 bytes in every idle connection instead of 32.
    calling: Option<Box<Calling>>,
    timer: Timer,
    armed: Option<Instant>,
    evicted: bool,
    stopping: bool,
    cut: bool,
}

impl State {
    /// What the connection waits for: readiness, a connect, a call's
    /// reply, the timer, an eviction or the gateway stopping.
    fn next_event(
        &mut self,
        seats: &crate::seats::Seats,
        seat: &crate::seats::Seat,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Event> {
        seat.watch(cx);
        if !self.evicted && seat.kicked() {
            return Poll::Ready(Event::Evicted);
        }
        match seats.phase() {
            Phase::Stopping | Phase::Cut if !self.stopping => return Poll::Ready(Event::Stop),
            Phase::Cut if !self.cut => return Poll::Ready(Event::Cut),
            _ => {}
        }
        if self.armed.is_some() && Pin::new(&mut self.timer).poll(cx).is_ready() {
            self.armed = None;
            return Poll::Ready(Event::Tick);
        }
        let mut ready = false;
        let held = client_backed_up(&self.client);
        if let Some(c) = &mut self.client {
            ready |= wants(&self.core, Peer::Client, c, false, cx);
        }
        if let Some((id, f)) = self.calling.as_deref_mut() {
            if let Poll::Ready(reply) = f.as_mut().poll(cx) {
                return Poll::Ready(Event::Replied(*id, reply));
            }
        }
        for (i, u) in self.ups.iter_mut().enumerate() {
            if let Some(f) = &mut u.connecting {
                if let Poll::Ready(r) = f.as_mut().poll(cx) {
                    return Poll::Ready(Event::Connected(i, r));
                }
            }
            if let Some(s) = &mut u.side {
                ready |= wants(&self.core, Peer::Upstream(u.id), s, held, cx);
            }
        }
        if ready {
            Poll::Ready(Event::Io)
        } else {
            Poll::Pending
        }
    }
}

/// How a connection learns that the gateway stops.
pub struct Ending {
    /// Where the stop's counts go, if anywhere.
    pub stopping: Option<weir_frontend::Shutdown>,
    /// Where the connection says what closing it would lose, and hears
    /// that it is closed for room or that the gateway stops.
    pub seats: Arc<crate::seats::Seats>,
}

/// Runs one client connection to its end; `hold` is kept until then.
/// Not an `async fn`: its arguments would stay in the future beside the
/// values made from them (the address alone is 32 bytes) for as long as
/// the connection lives; the future captures only what it goes on using.
pub fn run(
    shard: Arc<Shard>,
    stream: Async<TcpStream>,
    addr: SocketAddr,
    listener: usize,
    ending: Ending,
    hold: impl Send + 'static,
) -> impl Future<Output = ()> + Send + 'static {
    let Ending {
        stopping: counts,
        seats,
    } = ending;
    let (seat_key, seat) = seats.take();
    let mut st = State {
        core: Connection::on_listener(&shard.gateway(), addr, Instant::now(), listener),
        client: Some(Side::client(stream)),
        ups: Vec::new(),
        calling: None,
        timer: Timer::never(),
        armed: None,
        evicted: false,
        stopping: false,
        cut: false,
    };
    async move {
        let leave = Leave(&seats, seat_key);
        let mut inputs: Vec<Input> = Vec::new();
        // The buffers were given back during this idle period.
        let mut released = false;
        loop {
            // Take every output of the st.core.
            loop {
                match st.core.poll_output() {
                    Output::Wait(at) => {
                        // The st.timer is re-st.armed only when the deadline moves
                        // earlier: a later one waits for the st.armed st.timer to
                        // fire (a harmless Tick) and is set then. This spares
                        // the reactor a timerfd update on most requests.
                        let earlier = match (at, st.armed) {
                            (Some(t), Some(a)) => t < a,
                            (Some(_), None) => true,
                            (None, _) => false,
                        };
                        if earlier {
                            if let Some(t) = at {
                                st.timer.set_at(t);
                                st.armed = Some(t);
                            }
                        }
                        break;
                    }
                    Output::Send(Peer::Client, b) => {
                        if let Some(c) = &mut st.client {
                            c.queue.push(b);
                        }
                    }
                    Output::Send(Peer::Upstream(id), b) => {
                        if let Some(s) = st
                            .ups
                            .iter_mut()
                            .find(|u| u.id == id)
                            .and_then(|u| u.side.as_mut())
                        {
                            s.queue.push(b);
                        }
                    }
                    Output::Connect {
                        id,
                        addr,
                        pooled_ok,
                    } => {
                        let pooled = pooled_ok
                            .then(|| shard.take(addr, Instant::now()))
                            .flatten();
                        match pooled {
                            Some(s) => {
                                st.ups.push(Up {
                                    id,
                                    addr,
                                    side: Some(Side::upstream(s, Origin::Pooled)),
                                    connecting: None,
                                });
                                inputs.push(Input::Connected { id, reused: true });
                            }
                            None => st.ups.push(Up {
                                id,
                                addr,
                                side: None,
                                connecting: Some(Box::pin(Async::<TcpStream>::connect(addr))),
                            }),
                        }
                    }
                    Output::Pool(id) => set_after(&mut st.ups, id, AfterFlush::Pool),
                    Output::Close(Peer::Upstream(id)) => {
                        set_after(&mut st.ups, id, AfterFlush::Close)
                    }
                    Output::Close(Peer::Client) => {
                        if let Some(c) = &mut st.client {
                            c.after_flush = AfterFlush::Close;
                        }
                    }
                    Output::Log(r) => shard.log(&r, st.core.plan()),
                    // weir-smol leaves pass-through off (every body byte goes
                    // through the st.core), so the st.core never hands one out.
                    Output::Pass { .. } => {
                        debug_assert!(false, "Output::Pass with pass-through off");
                        st.core.handle_input(
                            &mut shard.gateway(),
                            Instant::now(),
                            Input::Failed(Peer::Client),
                        );
                    }
                    Output::Call { id, call } => {
                        st.calling = Some(Box::new((
                            id,
                            Box::pin(crate::calls::perform(shard.clone(), call)),
                        )));
                    }
                }
            }
            if !inputs.is_empty() {
                let mut gw = shard.gateway();
                let now = Instant::now();
                for i in inputs.drain(..) {
                    st.core.handle_input(&mut gw, now, i);
                }
                continue;
            }

            // Non-blocking I/O until everything would block.
            let mut moved = false;
            if let Some(c) = &mut st.client {
                moved |= pump(&mut st.core, Peer::Client, c, false, &mut inputs);
                if c.queue.is_empty() && c.after_flush == AfterFlush::Close {
                    if c.readable || st.core.client_may_send() {
                        linger_close(c);
                    }
                    st.client = None;
                }
            }
            let held = client_backed_up(&st.client);
            for u in &mut st.ups {
                if let Some(s) = &mut u.side {
                    moved |= pump(&mut st.core, Peer::Upstream(u.id), s, held, &mut inputs);
                }
            }
            let now = Instant::now();
            st.ups.retain_mut(|u| {
                let Some(s) = &u.side else {
                    return u.connecting.is_some();
                };
                if !s.queue.is_empty() {
                    return true;
                }
                match s.after_flush {
                    AfterFlush::Keep => true,
                    AfterFlush::Pool => {
                        if let Some(s) = u.side.take() {
                            if !st.stopping {
                                shard.put(u.addr, s.stream, now);
                            }
                        }
                        false
                    }
                    AfterFlush::Close => false,
                }
            });
            if moved || !inputs.is_empty() {
                continue;
            }
            if st.core.is_finished() && st.client.is_none() {
                st.core.retire(&mut shard.gateway());
                shard.note_release();
                break;
            }
            let compact = st.core.is_compact() && st.ups.is_empty();
            if compact && !released {
                shard.note_release();
            }
            released = compact;
            if compact {
                // Idle for a while: the task holds no buffers either.
                st.ups = Vec::new();
                inputs = Vec::new();
                if let Some(c) = &mut st.client {
                    c.queue.release();
                }
            }

            let (worth, since) = st.core.worth();
            seats.set(&seat, worth, since);
            // Wait for readiness, a connect, the st.timer, or shutdown.
            let event = std::future::poll_fn(|cx| st.next_event(&seats, &seat, cx)).await;
            match event {
                Event::Io => {}
                Event::Tick => inputs.push(Input::Tick),
                Event::Stop => {
                    st.stopping = true;
                    if st.core.shutdown() {
                        if let Some(c) = &counts {
                            c.note_in_flight();
                        }
                    }
                    inputs.push(Input::Tick);
                }
                Event::Cut => {
                    st.cut = true;
                    if st.core.cut(&mut shard.gateway(), Instant::now()) {
                        if let Some(c) = &counts {
                            c.note_cut();
                        }
                    }
                }
                Event::Evicted => {
                    st.evicted = true;
                    st.core.evict(&mut shard.gateway());
                }
                Event::Replied(id, reply) => {
                    st.calling = None;
                    inputs.push(Input::Reply { id, reply });
                }
                Event::Connected(i, result) => {
                    let u = &mut st.ups[i];
                    u.connecting = None;
                    match result {
                        Ok(s) => {
                            u.side = Some(Side::upstream(s, Origin::Fresh));
                            inputs.push(Input::Connected {
                                id: u.id,
                                reused: false,
                            });
                        }
                        Err(_) => inputs.push(Input::Failed(Peer::Upstream(u.id))),
                    }
                }
            }
        }
        // The client socket is closed by now. The seat goes, then what
        // was held (the permit and the live count that shutdown waits
        // on): dropped here rather than bound at the start, which would
        // keep `hold` twice in the future.
        drop(leave);
        drop(hold);
    }
}

/// Gives the seat back however the task ends.
struct Leave<'a>(&'a crate::seats::Seats, usize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.leave(self.1);
    }
}

fn set_after(ups: &mut [Up], id: UpstreamId, after: AfterFlush) {
    if let Some(u) = ups.iter_mut().find(|u| u.id == id) {
        match &mut u.side {
            Some(s) => s.after_flush = after,
            // Still connecting: dropping the connect future abandons it.
            None => u.connecting = None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every idle connection is a task holding this future, made as the
    /// accept loop makes it (besides async-io's `Source` and timer entry,
    /// and the task's header): this keeps it from creeping up unnoticed.
    #[test]
    fn a_connection_task_fits_its_budget() {
        let config = weir_core::Config::from_toml(
            "listen = \"127.0.0.1:0\"\n[[upstream]]\nname = \"a\"\nservers = [{ addr = \"127.0.0.1:9\" }]\n",
        )
        .expect("config");
        let plan = Arc::new(weir_core::Plan::compile(Arc::new(config), 1));
        let shard = Arc::new(Shard::new(plan, 0, false));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let stream = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let addr = stream.local_addr().expect("addr");
        let ending = Ending {
            stopping: None,
            seats: Arc::new(crate::seats::Seats::new()),
        };
        let permits = Arc::new(smol::lock::Semaphore::new(1));
        let alive = crate::Alive {
            live: Arc::new(std::sync::atomic::AtomicUsize::new(1)),
            _permit: permits.try_acquire_arc().expect("a permit"),
        };
        let task = run(
            shard,
            Async::new(stream).expect("async"),
            addr,
            0,
            ending,
            alive,
        );
        let size = std::mem::size_of_val(&task);
        assert!(size <= 440, "the connection future is {size} bytes");
    }
}
