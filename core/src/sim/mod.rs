//! The simulator: a scripted client and scripted upstream servers talk to
//! one core [`Connection`] through its own inputs and outputs, with a
//! virtual clock and no sockets. Every peer honours the core's read
//! budgets, as a real frontend must, and delivers bytes in pieces of any
//! size. Tests, the fuzz targets and `replay` all run on it.
//!
//! ```
//! use std::time::Instant;
//! use weir_core::sim::{config, Sim};
//!
//! let mut sim = Sim::from_toml(&config(1, ""), Instant::now()).unwrap();
//! sim.script(9001, &[b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"]);
//! sim.client(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
//! assert!(sim.client_text().ends_with("\r\n\r\nhi"));
//! ```

mod bench;
pub mod diff;
pub mod fuzz;
pub mod lab;
pub mod oracle;
mod peers;
pub mod reference;
pub mod seeded;
pub mod transcript;
pub mod wire;
pub mod world;

pub use bench::{as_read, drain_pooled, round_trip};
pub use wire::complete_request;
pub use world::World;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::call::{Call, CallId, Reply};
use crate::{
    AccessRecord, Config, ConfigError, Connection, Gateway, Input, Output, Peer, UpstreamId,
};
use bytes::Bytes;

/// One upstream socket as the simulator sees it.
#[derive(Debug)]
pub struct Sock {
    /// The id the core knows it by (changes when reused from the pool).
    pub id: UpstreamId,
    /// The server it connects to.
    pub addr: SocketAddr,
    /// Every byte the server received on it.
    pub received: Vec<u8>,
    /// Every byte the server delivered on it.
    pub sent: Vec<u8>,
    /// How far `received` has been answered.
    pub answered: usize,
    /// Bytes the server has still to deliver.
    pub pending: VecDeque<u8>,
    /// Closed by the core.
    pub closed: bool,
    /// Idle in the pool.
    pub pooled: bool,
    /// Taken from the pool at least once.
    pub reused: bool,
    /// Bytes of an `Output::Pass` still to go from this server straight
    /// to the client (copied by the simulator, not fed to the core).
    pub pass_left: u64,
}

/// A simulated client connection with its upstream servers.
pub struct Sim {
    /// The gateway (routes, balancers, middleware).
    pub gw: Gateway,
    /// The connection under test.
    pub conn: Connection,
    /// The virtual clock.
    pub now: Instant,
    /// Where the clock started.
    pub epoch: Instant,
    /// Size of the pieces in which peers deliver bytes.
    pub split: usize,
    /// When set, piece sizes are taken from here in turn instead.
    pub splits: Vec<usize>,
    /// Position in `splits`.
    pub split_at: usize,
    /// Every byte the client received.
    pub client_out: Vec<u8>,
    /// Bytes the client has still to send.
    pub client_pending: VecDeque<u8>,
    /// The core closed the client.
    pub client_closed: bool,
    /// The client half-closes once its bytes are in.
    pub client_eof_pending: bool,
    /// Every upstream socket ever opened.
    pub socks: Vec<Sock>,
    /// Pooled sockets by server.
    pub pool: HashMap<SocketAddr, Vec<usize>>,
    /// Responses each server gives, one per complete request, in order.
    pub scripts: HashMap<SocketAddr, VecDeque<Vec<u8>>>,
    /// Servers that answer from another server's script: (server, script owner).
    pub shared_scripts: Vec<(SocketAddr, SocketAddr)>,
    /// Servers whose connects are refused.
    pub refuse: Vec<SocketAddr>,
    /// Servers that never answer a connect (for connect timeouts).
    pub blackhole: Vec<SocketAddr>,
    /// Close the upstream after sending its scripted response.
    pub close_after_response: bool,
    /// Close an upstream once its server's script is used up and its
    /// last response delivered (a server that has nothing more to say).
    pub close_when_script_done: bool,
    /// Access records, in order.
    pub logs: Vec<AccessRecord>,
    /// Every `Connect` (server, pooled_ok), in order.
    pub connects: Vec<(SocketAddr, bool)>,
    /// Every send to an upstream, in order: (index in `socks`, where the
    /// bytes start in its `received`). Orders requests across sockets.
    pub sends: Vec<(usize, usize)>,
    /// The most the core held at once, after any input: buffered bytes
    /// plus bytes queued for sending.
    pub peak_held: usize,
    /// Every outside call the core made, in order.
    pub calls: Vec<(CallId, Call)>,
    /// Scripted replies to calls, by the address called, in order; a call
    /// with none waits (answer it with [`Sim::reply`], or let it expire).
    pub call_replies: HashMap<SocketAddr, VecDeque<Reply>>,
    /// Recorded replies of every called service, in the order the calls
    /// were made, back to back (each is cut off as its framing says):
    /// what a call with no scripted reply gets (`replay --calls`).
    pub call_stream: VecDeque<u8>,
    /// Bytes carried out as `Output::Pass` (copied server to client,
    /// never fed to the core).
    pub passed: u64,
    /// Bytes carried out as `Output::Pass` from the client (copied
    /// client to server, never fed to the core).
    pub passed_in: u64,
    /// A pass from the client in progress: the server socket (index in
    /// `socks`) and the bytes still to go.
    pub client_pass: Option<(usize, u64)>,
    /// How servers answer a whole request when their script is empty:
    /// the function and a mode it is handed (`None` from it: no answer,
    /// the server hangs). Unset: they wait for a script.
    pub responder: Option<(Responder, u8)>,
}

/// A server's answer to a whole request, given a mode (see
/// [`Sim::responder`]).
pub type Responder = fn(&reference::Message, u8) -> Option<Vec<u8>>;

/// The time of day the simulator's gateway is told at its epoch.
pub const WALL_AT_EPOCH: Duration = Duration::from_secs(1_764_153_600);

/// `GET path` with `Host: h`, as a client sends it.
pub fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: h\r\n\r\n").into_bytes()
}

/// Every server of every upstream of `config`, in config order.
pub fn servers(config: &Config) -> Vec<SocketAddr> {
    config
        .upstreams
        .iter()
        .flat_map(|g| g.servers.iter().map(|(a, _)| *a))
        .collect()
}

/// `127.0.0.1:port`.
pub fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A config with `n` servers on ports 9001.. behind one round-robin group.
pub fn config(n: u16, extra: &str) -> String {
    let servers: Vec<String> = (0..n)
        .map(|i| format!("{{ addr = \"127.0.0.1:{}\" }}", 9001 + i))
        .collect();
    format!(
        "listen = \"127.0.0.1:8080\"\n{extra}\n[[upstream]]\nname = \"app\"\nservers = [{}]\n",
        servers.join(", ")
    )
}

impl Sim {
    /// A simulator over a config given as TOML text, starting at `epoch`.
    pub fn from_toml(toml: &str, epoch: Instant) -> Result<Sim, Vec<ConfigError>> {
        Ok(Sim::new(Config::from_toml(toml)?, epoch))
    }

    /// A simulator over a config; the client is `10.0.0.7:40000`.
    pub fn new(config: Config, epoch: Instant) -> Sim {
        Sim::with_client(config, epoch, SocketAddr::from(([10, 0, 0, 7], 40000)))
    }

    /// A simulator over a config whose client connects from `client`.
    pub fn with_client(config: Config, epoch: Instant, client: SocketAddr) -> Sim {
        let mut gw = Gateway::new(Arc::new(config), 0);
        // A fixed time of day (2025-11-26 10:40 UTC) at the epoch: replays
        // and tests see the same time-stamped ids on every run.
        gw.set_wall_clock(epoch, WALL_AT_EPOCH);
        let conn = Connection::new(&gw, client, epoch);
        Sim {
            gw,
            conn,
            now: epoch,
            epoch,
            split: usize::MAX,
            splits: Vec::new(),
            split_at: 0,
            client_out: Vec::new(),
            client_pending: VecDeque::new(),
            client_closed: false,
            client_eof_pending: false,
            socks: Vec::new(),
            pool: HashMap::new(),
            scripts: HashMap::new(),
            shared_scripts: Vec::new(),
            refuse: Vec::new(),
            blackhole: Vec::new(),
            close_after_response: false,
            close_when_script_done: false,
            logs: Vec::new(),
            connects: Vec::new(),
            sends: Vec::new(),
            peak_held: 0,
            calls: Vec::new(),
            call_replies: HashMap::new(),
            call_stream: VecDeque::new(),
            passed: 0,
            passed_in: 0,
            client_pass: None,
            responder: None,
        }
    }

    /// Scripts the replies of the service at `addr` to the calls made to it.
    pub fn script_calls(&mut self, addr: SocketAddr, replies: impl IntoIterator<Item = Reply>) {
        self.call_replies.entry(addr).or_default().extend(replies);
    }

    /// The next recorded reply for `call`, cut from [`Sim::call_stream`]
    /// (`None` when the recording is used up: the call waits).
    fn recorded_reply(&mut self, call: &Call) -> Option<Reply> {
        if self.call_stream.is_empty() {
            return None;
        }
        let bytes = self.call_stream.make_contiguous();
        let n = match crate::call::reply_end(call.protocol, bytes) {
            Ok(Some(n)) => n,
            Ok(None) => match crate::call::reply_at_close(call.protocol, bytes) {
                Some(n) => n,
                None => {
                    self.call_stream.clear();
                    return Some(Reply::Failed("the recorded reply is incomplete"));
                }
            },
            Err(why) => {
                self.call_stream.clear();
                return Some(Reply::Failed(why));
            }
        };
        let reply: Vec<u8> = self.call_stream.drain(..n).collect();
        Some(Reply::Done(Bytes::from(reply)))
    }

    /// Answers call `id` by hand (as a frontend would when it completes).
    pub fn reply(&mut self, id: CallId, reply: Reply) {
        self.input(Input::Reply { id, reply });
    }

    /// Reloads: compiles `toml` as the next generation and installs it in
    /// the gateway, as a frontend does on SIGHUP; pooled connections to
    /// servers no group has any more are closed. Returns what changed.
    pub fn reload(&mut self, toml: &str) -> Result<crate::plan::Changes, Vec<ConfigError>> {
        let config = Config::from_toml(toml)?;
        let (plan, changes) = self.gw.plan().successor(Arc::new(config));
        for gone in self.gw.install(Arc::new(plan)) {
            self.close_pooled(gone);
        }
        Ok(changes)
    }

    /// Starts over with a new client connection at `now` over the same
    /// gateway (balancer, health and rate-limit state carry on): what
    /// the old one sent, got, opened and logged is forgotten.
    pub fn fresh_connection(&mut self, now: Instant) {
        let client = self.conn.client_addr();
        self.now = self.now.max(now);
        self.conn = Connection::new(&self.gw, client, self.now);
        self.client_out.clear();
        self.client_pending.clear();
        self.client_closed = false;
        self.client_eof_pending = false;
        self.socks.clear();
        self.pool.clear();
        self.logs.clear();
        self.connects.clear();
        self.sends.clear();
        self.calls.clear();
    }

    /// Lets virtual time run, 100 ms at a time, until an exchange has
    /// been logged or `patience` is spent (calls out expire on the way).
    pub fn run_until_logged(&mut self, patience: Duration) {
        let step = Duration::from_millis(100);
        let mut waited = Duration::ZERO;
        while self.logs.is_empty() && waited < patience {
            self.advance(step);
            waited += step;
        }
    }

    /// Closes the pooled sockets to `addr` (a server a reload removed).
    pub fn close_pooled(&mut self, addr: SocketAddr) {
        for i in self.pool.remove(&addr).unwrap_or_default() {
            self.socks[i].closed = true;
            self.socks[i].pooled = false;
        }
    }

    /// Scripts the responses of the server on `127.0.0.1:port`.
    pub fn script(&mut self, port: u16, responses: &[&[u8]]) {
        self.script_addr(addr(port), responses.iter().map(|r| r.to_vec()));
    }

    /// Scripts the responses of the server at `addr`, one per request.
    pub fn script_addr(&mut self, addr: SocketAddr, responses: impl IntoIterator<Item = Vec<u8>>) {
        self.scripts.entry(addr).or_default().extend(responses);
    }

    /// The client sends bytes.
    pub fn client(&mut self, bytes: &[u8]) {
        self.client_pending.extend(bytes);
        self.drive();
    }

    /// The client shuts down its sending side once its bytes are in.
    pub fn client_eof(&mut self) {
        self.client_eof_pending = true;
        self.drive();
    }

    /// Advances the clock, stepping through every deadline on the way.
    pub fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        loop {
            let next = self.next_deadline();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.input(Input::Tick);
                }
                _ => break,
            }
        }
        self.now = end;
        self.input(Input::Tick);
    }

    fn next_deadline(&mut self) -> Option<Instant> {
        // Wait is the last output of a drain, so poll once more.
        match self.conn.poll_output() {
            Output::Wait(t) => t,
            other => panic!("undrained output {other:?}"),
        }
    }

    /// Lets the core hand bodies (response or request) with at least
    /// `min_len` bytes left to the simulator as `Output::Pass`, which it
    /// carries out by copying (as weir-mio does with `splice(2)`).
    pub fn pass_through(&mut self, min_len: u64) {
        self.gw.set_pass_through(Some(min_len));
    }

    /// Feeds one input by hand, then drives.
    pub fn input(&mut self, input: Input) {
        self.feed(input);
        self.drive();
    }

    /// Hands one input to the core and notes what it holds afterwards.
    fn feed(&mut self, input: Input) {
        self.conn.handle_input(&mut self.gw, self.now, input);
        self.peak_held = self.peak_held.max(self.conn.held());
    }

    /// Index of the socket behind `id`.
    fn sock(&self, id: UpstreamId) -> Option<usize> {
        self.socks.iter().rposition(|s| s.id == id && !s.pooled)
    }

    /// Routes outputs and feeds peers until nothing moves.
    pub fn drive(&mut self) {
        for _round in 0..100_000 {
            let mut moved = false;
            let mut inputs = Vec::new();
            loop {
                match self.conn.poll_output() {
                    Output::Wait(_) => break,
                    Output::Send(Peer::Client, b) => {
                        assert!(!self.client_closed, "send after close");
                        self.client_out.extend_from_slice(&b);
                        inputs.push(Input::Drained(Peer::Client));
                    }
                    Output::Send(Peer::Upstream(id), b) => {
                        let i = self.sock(id).expect("send to unknown upstream");
                        assert!(!self.socks[i].closed, "send to closed upstream");
                        self.sends.push((i, self.socks[i].received.len()));
                        self.socks[i].received.extend_from_slice(&b);
                        inputs.push(Input::Drained(Peer::Upstream(id)));
                    }
                    Output::Connect {
                        id,
                        addr,
                        pooled_ok,
                    } => {
                        self.connects.push((addr, pooled_ok));
                        let pooled = if pooled_ok {
                            self.pool.get_mut(&addr).and_then(|v| v.pop())
                        } else {
                            None
                        };
                        if let Some(i) = pooled {
                            let s = &mut self.socks[i];
                            s.id = id;
                            s.pooled = false;
                            s.reused = true;
                            inputs.push(Input::Connected { id, reused: true });
                        } else {
                            self.socks.push(Sock {
                                id,
                                addr,
                                received: Vec::new(),
                                sent: Vec::new(),
                                answered: 0,
                                pending: VecDeque::new(),
                                closed: false,
                                pooled: false,
                                reused: false,
                                pass_left: 0,
                            });
                            if self.refuse.contains(&addr) {
                                inputs.push(Input::Failed(Peer::Upstream(id)));
                            } else if !self.blackhole.contains(&addr) {
                                inputs.push(Input::Connected { id, reused: false });
                            }
                        }
                    }
                    Output::Pool(id) => {
                        let i = self.sock(id).expect("pool unknown upstream");
                        if self.socks[i].pending.is_empty() {
                            self.socks[i].pooled = true;
                            let a = self.socks[i].addr;
                            self.pool.entry(a).or_default().push(i);
                        } else {
                            // The server already sent more: like a real
                            // frontend seeing a pooled socket readable, drop it.
                            self.socks[i].closed = true;
                        }
                    }
                    Output::Close(Peer::Client) => {
                        self.client_closed = true;
                        self.client_pass = None;
                    }
                    Output::Close(Peer::Upstream(id)) => {
                        if let Some(i) = self.sock(id) {
                            self.socks[i].closed = true;
                            if self.client_pass.is_some_and(|(p, _)| p == i) {
                                self.client_pass = None;
                            }
                        }
                    }
                    Output::Pass {
                        from: Peer::Upstream(id),
                        to: Peer::Client,
                        len,
                    } => {
                        let i = self.sock(id).expect("pass from unknown upstream");
                        self.socks[i].pass_left = len;
                    }
                    Output::Pass {
                        from: Peer::Client,
                        to: Peer::Upstream(id),
                        len,
                    } => {
                        let i = self.sock(id).expect("pass to unknown upstream");
                        assert!(self.client_pass.is_none(), "two passes from the client");
                        self.client_pass = Some((i, len));
                    }
                    Output::Pass { from, to, .. } => {
                        panic!("no pass between peers of one kind: {from:?} to {to:?}")
                    }
                    Output::Log(r) => self.logs.push(*r),
                    Output::Call { id, call } => {
                        let scripted = self
                            .call_replies
                            .get_mut(&call.addr)
                            .and_then(|q| q.pop_front());
                        if let Some(reply) = scripted.or_else(|| self.recorded_reply(&call)) {
                            inputs.push(Input::Reply { id, reply });
                        }
                        self.calls.push((id, *call));
                    }
                }
                moved = true;
            }
            for i in inputs {
                self.feed(i);
                moved = true;
            }
            moved |= self.serve_upstreams();
            moved |= self.feed_peers();
            if !moved {
                return;
            }
        }
        panic!("livelock: the simulation never settled");
    }

    /// Everything every upstream received, as text.
    pub fn upstream_text(&self) -> String {
        self.socks
            .iter()
            .map(|s| String::from_utf8_lossy(&s.received).into_owned())
            .collect()
    }

    /// The port of the server each logged request went to (0: none).
    pub fn ports(&self) -> Vec<u16> {
        self.logs
            .iter()
            .map(|l| l.upstream.map_or(0, |a| a.port()))
            .collect()
    }

    /// Everything the client received, as text.
    pub fn client_text(&self) -> String {
        String::from_utf8_lossy(&self.client_out).into_owned()
    }

    /// The upstream socket that currently belongs to the connection.
    pub fn live_upstream(&self) -> Option<UpstreamId> {
        self.socks
            .iter()
            .rev()
            .find(|s| !s.closed && !s.pooled)
            .map(|s| s.id)
    }
}
