//! One worker: a mio event loop that owns its connections, its upstream
//! pool, its timers and its own `Gateway`.
//!
//! The loop turns readiness into core inputs and core outputs into socket
//! work, and decides nothing about HTTP. Readiness is edge-triggered: a
//! socket's `readable`/`writable` flags stay set until a read or write
//! returns `WouldBlock`, so a side the core paused (budget 0) is read again
//! as soon as the core un-pauses it, without waiting for a new edge.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;
use weir_core::{Connection, Gateway, Input, Output, Peer, UpstreamId};
use weir_frontend::memory::HeapTrim;
use weir_frontend::pool::Pool;
use weir_frontend::{LogSink, Plans, Shutdown};

use weir_frontend::io::{AfterFlush, ReadBuf};

mod accept;
mod calls;
mod pass;
mod socks;
mod stop;
mod upstream;

use crate::sock::{Owner, Sock};
use crate::timers::{Due, Stamp, TimerHeap};

const WAKER: Token = Token(usize::MAX - 2);
/// Listener `i` is `Token(FIRST_LISTENER - i)`.
const FIRST_LISTENER: usize = usize::MAX - 3;
/// Most listeners (config::listen's bound).
const MAX_LISTENERS: usize = 64;
/// How long accepting pauses when the process is out of descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

struct Conn {
    core: Connection,
    /// The client socket's key (`u32`: 8 bytes, not 16; see
    /// [`Conn::client`]).
    client: Option<u32>,
    /// Upstream sockets, attached or still flushing towards pool/close.
    ups: Vec<(UpstreamId, usize)>,
    /// The earliest wake-up this connection has in the timer heap. A
    /// later core deadline needs no entry of its own: that wake-up ticks
    /// the core, which names its real deadline again. Keep-alive traffic
    /// so pushes a timer about every 100 ms per connection instead of two
    /// per request, and idle connections leave fewer stale entries.
    armed: Option<Stamp>,
    /// The loop pass in which this connection was last queued for service.
    queued: u64,
}

impl Conn {
    /// The client socket's key, while it is open.
    fn client(&self) -> Option<usize> {
        self.client.map(|k| k as usize)
    }
}

/// A worker thread's whole state.
pub struct Worker {
    poll: Poll,
    /// One handle of each listener, in config order.
    listeners: Vec<TcpListener>,
    listening: bool,
    gw: Gateway,
    /// The process's plans; a wake-up looks for a newer one.
    plans: Plans,
    conns: Slab<Conn>,
    socks: Slab<Sock>,
    /// Idle upstream sockets (their keys in `socks`), by server number.
    pool: Pool<usize>,
    /// A [`Due::PoolSweep`] is in the timer heap.
    pool_sweep: bool,
    timers: TimerHeap,
    buf: ReadBuf,
    log: LogSink,
    trim: HeapTrim,
    limit: usize,
    accept_paused_until: Option<Instant>,
    accept_blocked: bool,
    shutdown: Shutdown,
    grace: Duration,
    stop_at: Option<Instant>,
    /// A client accepted while every connection was busy, adopted when
    /// one closes.
    waiting: Option<(mio::net::TcpStream, std::net::SocketAddr, usize)>,
    /// Where the next sample of connections to close for room starts.
    evict_cursor: usize,
    /// Connections closed for room, said at most once a second.
    evictions: weir_frontend::io::Evictions,
    /// Outside calls in progress, by connection (one each at most).
    calls: std::collections::HashMap<usize, calls::Calling>,
    /// Idle connections to called services: (address, socket key).
    idle_calls: Vec<(std::net::SocketAddr, usize)>,
    /// The pipe pass-throughs go through (`None`: pass-through is off).
    pipe: Option<weir_frontend::splice::Pipe>,
    /// Passes in progress (few at a time: a linear search, and none at
    /// all on a plain request's path).
    passes: Vec<pass::Passing>,
    /// Scrapes waiting for this worker's snapshot.
    asks: std::sync::mpsc::Receiver<std::sync::mpsc::Sender<weir_core::metrics::Snapshot>>,
}

impl Worker {
    /// A worker over its own handle of the listening socket.
    pub fn new(
        plans: &Plans,
        listeners: Vec<std::net::TcpListener>,
        index: u64,
        quiet: bool,
        limit: usize,
        shutdown: Shutdown,
        grace: Duration,
    ) -> io::Result<Worker> {
        let poll = Poll::new()?;
        let mut mine = Vec::new();
        for (i, l) in listeners.into_iter().take(MAX_LISTENERS).enumerate() {
            let mut l = TcpListener::from_std(l);
            poll.registry()
                .register(&mut l, Token(FIRST_LISTENER - i), Interest::READABLE)?;
            mine.push(l);
        }
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let wake = waker.clone();
        shutdown.on_trigger(move || {
            let _ = wake.wake();
        });
        let (ask, asks) = std::sync::mpsc::channel();
        let wake = waker.clone();
        plans.on_scrape(Box::new(move |reply| {
            let _ = ask.send(reply);
            let _ = wake.wake();
        }));
        let wake = waker.clone();
        plans.on_marks(move |_| {
            let _ = wake.wake();
        });
        plans.on_publish(move |_| {
            let _ = waker.wake();
        });
        let mut gw = Gateway::with_plan(plans.current(), 0x5745_4952 ^ index);
        weir_frontend::io::tell_the_time(&mut gw);
        weir_frontend::recorder::register(&gw);
        gw.set_access_log(!quiet);
        // Long verbatim body runs are spliced (`WEIR_SPLICE=off`: every
        // byte goes through the core, for comparison; a pipe that cannot
        // be made has the same effect).
        let pipe = match std::env::var_os("WEIR_SPLICE").is_some_and(|v| v == "off") {
            true => None,
            false => weir_frontend::splice::Pipe::new().ok(),
        };
        if pipe.is_some() {
            gw.set_pass_through(Some(pass::PASS_MIN));
        }
        Ok(Worker {
            pipe,
            passes: Vec::new(),
            poll,
            listeners: mine,
            listening: true,
            gw,
            plans: plans.clone(),
            conns: Slab::new(),
            socks: Slab::new(),
            pool: Pool::new(plans.current().config.timeouts.pool_idle),
            pool_sweep: false,
            timers: TimerHeap::new(Instant::now()),
            buf: ReadBuf::default(),
            log: LogSink::new(quiet),
            trim: HeapTrim::default(),
            asks,
            calls: Default::default(),
            idle_calls: Vec::new(),
            waiting: None,
            evict_cursor: 0,
            evictions: Default::default(),
            limit,
            accept_paused_until: None,
            accept_blocked: false,
            shutdown,
            grace,
            stop_at: None,
        })
    }

    /// The event loop; returns after shutdown.
    pub fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut dirty: Vec<usize> = Vec::new();
        let mut pass: u64 = 0;
        loop {
            pass += 1;
            let now = Instant::now();
            self.log.flush_due(now);
            let wake_at = [
                self.timers.next(),
                self.accept_paused_until,
                self.stop_at,
                self.trim.wake_at(),
                self.log.due(),
            ]
            .into_iter()
            .flatten()
            .min();
            let timeout = wake_at.map(|t| t.saturating_duration_since(now));
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let now = Instant::now();
            for ev in events.iter() {
                match ev.token() {
                    Token(t) if t <= FIRST_LISTENER && t > FIRST_LISTENER - MAX_LISTENERS => {
                        self.accept(FIRST_LISTENER - t, now)
                    }
                    WAKER => {
                        self.install_newer_plan();
                        self.gw.set_marks(&self.plans.marks());
                        self.answer_scrapes(now);
                    }
                    Token(k) => {
                        let Some(s) = self.socks.get_mut(k) else {
                            continue;
                        };
                        if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                            s.readable = true;
                        }
                        if ev.is_read_closed() || ev.is_error() {
                            s.read_closed = true;
                        }
                        if ev.is_writable() || ev.is_write_closed() || ev.is_error() {
                            s.writable = true;
                        }
                        match s.owner.conn() {
                            Some(ck) => {
                                // Once per pass, in the order events came:
                                // no connection is always served last.
                                if let Some(c) = self.conns.get_mut(ck) {
                                    if c.queued != pass {
                                        c.queued = pass;
                                        dirty.push(ck);
                                    }
                                }
                            }
                            None => match s.owner {
                                Owner::Call(ck) => {
                                    let ck = ck as usize;
                                    if self.drive_call(ck, now) {
                                        if let Some(c) = self.conns.get_mut(ck) {
                                            if c.queued != pass {
                                                c.queued = pass;
                                                dirty.push(ck);
                                            }
                                        }
                                    }
                                }
                                Owner::CallIdle => self.close_sock(k),
                                _ => self.check_pooled(k),
                            },
                        }
                    }
                }
            }
            for ck in dirty.drain(..) {
                self.service(ck, now);
            }
            // Bounded: entries pushed while ticking wait for the next pass.
            let mut budget = self.timers.len();
            while budget > 0 {
                budget -= 1;
                let Some((at, due)) = self.timers.pop_due(now) else {
                    break;
                };
                match due {
                    Due::Conn(ck) => {
                        let Some(c) = self.conns.get_mut(ck) else {
                            continue;
                        };
                        if c.armed == Some(self.timers.stamp(at)) {
                            c.armed = None;
                            self.input(ck, now, Input::Tick);
                            self.service(ck, now);
                            self.release_if_compact(ck);
                        }
                    }
                    Due::PoolSweep => self.sweep_pool(now),
                }
            }
            self.trim.maybe_trim(now, events.is_empty(), || {
                shed_spares(&mut self.gw, &self.pool, &mut self.socks);
                let conns = &self.conns;
                self.timers.retain(|at, due| match due {
                    Due::Conn(ck) => conns.get(ck).is_some_and(|c| c.armed == Some(at)),
                    Due::PoolSweep => true,
                });
            });
            if self.accept_paused_until.is_some_and(|t| t <= now) {
                self.accept_paused_until = None;
                self.accept_all(now);
            }
            if self.shutdown.is_fired() {
                if self.stop_at.is_none() {
                    self.begin_shutdown(now);
                }
                if self.stop_at.is_some_and(|t| t <= now) {
                    self.cut_all(now);
                    return Ok(());
                }
                if self.conns.is_empty() {
                    return Ok(());
                }
            }
        }
    }

    /// An idle connection whose core gave back its buffers: so do we.
    fn release_if_compact(&mut self, ck: usize) {
        let Some(c) = self.conns.get_mut(ck) else {
            return;
        };
        if !c.core.is_compact() {
            return;
        }
        self.trim.note_release();
        if c.ups.is_empty() {
            c.ups = Vec::new();
        }
        if let Some(s) = c.client().and_then(|k| self.socks.get_mut(k)) {
            s.queue.release();
        }
    }

    /// Registers a socket for edge-triggered reads and writes and stores
    /// it; its key, or `None` when the registry refused it.
    fn register(&mut self, mut sock: Sock) -> Option<usize> {
        let k = self.socks.vacant_key();
        let interest = Interest::READABLE | Interest::WRITABLE;
        self.poll
            .registry()
            .register(&mut sock.stream, Token(k), interest)
            .ok()?;
        Some(self.socks.insert(sock))
    }

    fn input(&mut self, ck: usize, now: Instant, input: Input) {
        if let Some(c) = self.conns.get_mut(ck) {
            c.core.handle_input(&mut self.gw, now, input);
        }
    }

    fn sock_of(&self, ck: usize, peer: Peer) -> Option<usize> {
        let c = self.conns.get(ck)?;
        match peer {
            Peer::Client => c.client(),
            Peer::Upstream(id) => c.ups.iter().find(|(i, _)| *i == id).map(|(_, k)| *k),
        }
    }

    /// Runs one connection until neither the core nor its sockets can move.
    fn service(&mut self, ck: usize, now: Instant) {
        loop {
            if !self.conns.contains(ck) {
                return;
            }
            let mut moved = self.drain_outputs(ck, now);
            // The client, then each upstream; looked up afresh each time,
            // since handling one socket can detach another.
            let mut i = 0;
            while let Some(c) = self.conns.get(ck) {
                let (peer, k) = if i == 0 {
                    match c.client() {
                        Some(k) => (Peer::Client, k),
                        None => {
                            i += 1;
                            continue;
                        }
                    }
                } else {
                    match c.ups.get(i - 1) {
                        Some(&(id, k)) => (Peer::Upstream(id), k),
                        None => break,
                    }
                };
                moved |= self.flush_sock(ck, peer, k, now);
                moved |= self.read_sock(ck, peer, k, now);
                i += 1;
            }
            if !moved {
                break;
            }
        }
        self.maybe_finish(ck, now);
    }

    /// Takes every output of the core; true if there was any.
    fn drain_outputs(&mut self, ck: usize, now: Instant) -> bool {
        let mut any = false;
        loop {
            let Some(c) = self.conns.get_mut(ck) else {
                return any;
            };
            let out = c.core.poll_output();
            match out {
                Output::Wait(at) => {
                    if let Some(t) = at {
                        let stamp = self.timers.stamp(t);
                        if c.armed.is_none_or(|a| stamp < a) {
                            c.armed = Some(stamp);
                            self.timers.push(t, Due::Conn(ck));
                        }
                    }
                    return any;
                }
                Output::Send(peer, b) => {
                    if let Some(k) = self.sock_of(ck, peer) {
                        self.socks[k].queue.push(b);
                    }
                }
                Output::Connect {
                    id,
                    addr,
                    pooled_ok,
                } => self.connect(ck, id, addr, pooled_ok, now),
                Output::Pool(id) => {
                    if let Some(k) = self.sock_of(ck, Peer::Upstream(id)) {
                        self.socks[k].after_flush = AfterFlush::Pool;
                    }
                }
                Output::Close(peer) => {
                    if let Some(k) = self.sock_of(ck, peer) {
                        self.socks[k].after_flush = AfterFlush::Close;
                    }
                }
                Output::Log(r) => self.log.record(&r, self.conns[ck].core.plan()),
                Output::Pass { from, to, len } => self.start_pass(ck, from, to, len),
                Output::Call { id, call } => self.start_call(ck, id, call, now),
            }
            any = true;
        }
    }

    /// Removes a finished connection and whatever sockets it still holds.
    fn maybe_finish(&mut self, ck: usize, now: Instant) {
        let Some(c) = self.conns.get(ck) else { return };
        if self.waiting.is_some() && c.core.worth().0 != weir_core::proxy::Worth::Busy {
            // A client waits for room and this one can make it.
            self.accept_blocked = false;
            self.accept_all(now);
            return;
        }
        if !c.core.is_finished() || c.client.is_some() {
            return;
        }
        let c = self.conns.remove(ck);
        c.core.retire(&mut self.gw);
        self.cancel_call(ck);
        self.trim.note_release();
        for (_, k) in c.ups {
            let poolable = self
                .socks
                .get(k)
                .is_some_and(|s| s.after_flush == AfterFlush::Pool && s.queue.is_empty());
            if poolable {
                self.pool_sock(k, now);
            } else {
                self.close_sock(k);
            }
        }
        if self.accept_blocked {
            self.accept_blocked = false;
            self.accept_all(now);
        }
    }
}

/// Frees what a worker keeps for reuse, before its heap is trimmed: the
/// core's buffer sets and the write queues of pooled upstream sockets
/// (kept from a burst, they lie scattered through the heap it grew and
/// pin its pages: together ~50 bytes of RSS per connection after 5 000
/// went idle, 490–505 → 432–454).
fn shed_spares(gw: &mut Gateway, pool: &Pool<usize>, socks: &mut Slab<Sock>) {
    gw.shed_spares();
    for &k in pool.iter() {
        if let Some(s) = socks.get_mut(k) {
            s.queue.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What every idle keep-alive connection costs besides kernel memory:
    /// its entry in each slab (the core holds no heap when idle, see
    /// `core/tests/idle_memory.rs`). benches/load.sh (e) measures the
    /// whole; this keeps the parts from creeping up unnoticed.
    #[test]
    fn an_idle_connection_fits_its_budget() {
        let conn = std::mem::size_of::<Conn>();
        let sock = std::mem::size_of::<Sock>();
        assert!(conn <= 200, "Conn is {conn} bytes");
        assert!(sock <= 48, "Sock is {sock} bytes");
    }

    /// Pooling an upstream socket per request must not add a timer entry
    /// per request: they lived `pool_idle` (30 s) each, so the heap grew
    /// with the request rate (1 MiB after a few seconds of wrk).
    #[test]
    fn pooled_sockets_share_one_sweep_which_closes_the_idle_ones() {
        let config = weir_core::Config::from_toml(
            "listen = \"127.0.0.1:0\"\n[timeouts]\npool_idle = 1000\n[[upstream]]\nname = \"a\"\nservers = [{ addr = \"127.0.0.1:9\" }]\n",
        )
        .expect("config");
        let plans = Plans::new(Arc::new(config));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut w = Worker::new(
            &plans,
            vec![listener],
            0,
            true,
            100,
            Shutdown::manual(),
            Duration::from_secs(1),
        )
        .expect("worker");
        let server = w.pool.server(addr);
        let t0 = Instant::now();
        let mut keys = Vec::new();
        for i in 0..50 {
            let stream = mio::net::TcpStream::connect(addr).expect("connect");
            let k = w
                .register(Sock::new(stream, Owner::Pooled, server))
                .expect("register");
            w.pool_sock(k, t0 + Duration::from_millis(i));
            keys.push(k);
        }
        assert_eq!(w.pool.len(), 50);
        assert_eq!(w.timers.len(), 1, "one sweep for the whole pool");
        // The sweep at the first one's idle time closes it alone and is
        // armed again for the next oldest.
        let (at, due) = w.timers.pop_due(t0 + Duration::from_secs(1)).expect("due");
        assert_eq!((at, due), (t0 + Duration::from_secs(1), Due::PoolSweep));
        w.sweep_pool(at);
        assert_eq!(w.pool.len(), 49);
        assert!(!w.socks.contains(keys[0]));
        assert_eq!(w.timers.next(), Some(t0 + Duration::from_millis(1001)));
        assert_eq!(w.timers.len(), 1);
        let end = t0 + Duration::from_secs(2);
        assert_eq!(w.timers.pop_due(end).map(|(_, d)| d), Some(Due::PoolSweep));
        w.sweep_pool(end);
        assert!(w.pool.is_empty());
        assert_eq!(w.timers.len(), 0);
    }
}
