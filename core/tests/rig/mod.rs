//! An in-memory rig: a scripted client and scripted upstream servers talk
//! to one core `Connection` through its own inputs and outputs, with a
//! virtual clock. Every peer honours the core's read budgets, as a real
//! frontend must, and can feed bytes in pieces of any size.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use weir_core::{AccessRecord, Config, Connection, Gateway, Input, Output, Peer, UpstreamId};

/// One upstream socket as the rig sees it.
#[derive(Debug)]
pub struct Sock {
    pub id: UpstreamId,
    pub addr: SocketAddr,
    pub received: Vec<u8>,
    /// How far `received` has been answered.
    pub answered: usize,
    pub pending: VecDeque<u8>,
    pub closed: bool,
    pub pooled: bool,
    pub reused: bool,
}

/// The rig.
pub struct Rig {
    pub gw: Gateway,
    pub conn: Connection,
    pub now: Instant,
    pub epoch: Instant,
    /// Size of the pieces in which peers deliver bytes.
    pub split: usize,
    /// When set, piece sizes are taken from here in turn instead.
    pub splits: Vec<usize>,
    pub split_at: usize,
    pub client_out: Vec<u8>,
    pub client_pending: VecDeque<u8>,
    pub client_closed: bool,
    pub client_eof_pending: bool,
    pub socks: Vec<Sock>,
    pub pool: HashMap<SocketAddr, Vec<usize>>,
    /// Responses each server gives, one per complete request, in order.
    pub scripts: HashMap<SocketAddr, VecDeque<Vec<u8>>>,
    /// Servers whose connects are refused.
    pub refuse: Vec<SocketAddr>,
    /// Servers that never answer a connect (for connect timeouts).
    pub blackhole: Vec<SocketAddr>,
    /// Close the upstream after sending its scripted response.
    pub close_after_response: bool,
    pub logs: Vec<AccessRecord>,
    pub connects: Vec<(SocketAddr, bool)>,
}

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

impl Rig {
    pub fn new(toml: &str) -> Rig {
        let config = Config::from_toml(toml).unwrap_or_else(|e| panic!("{e:?}"));
        let gw = Gateway::new(Arc::new(config), 0);
        let epoch = Instant::now();
        let conn = Connection::new(&gw, "10.0.0.7:40000".parse().unwrap(), epoch);
        Rig {
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
            refuse: Vec::new(),
            blackhole: Vec::new(),
            close_after_response: false,
            logs: Vec::new(),
            connects: Vec::new(),
        }
    }

    /// Scripts the responses of the server on `port`.
    pub fn script(&mut self, port: u16, responses: &[&[u8]]) {
        self.scripts
            .entry(addr(port))
            .or_default()
            .extend(responses.iter().map(|r| r.to_vec()));
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

    pub fn input(&mut self, input: Input) {
        self.conn.handle_input(&mut self.gw, self.now, input);
        self.drive();
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
                                answered: 0,
                                pending: VecDeque::new(),
                                closed: false,
                                pooled: false,
                                reused: false,
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
                        self.socks[i].pooled = true;
                        let a = self.socks[i].addr;
                        self.pool.entry(a).or_default().push(i);
                    }
                    Output::Close(Peer::Client) => self.client_closed = true,
                    Output::Close(Peer::Upstream(id)) => {
                        if let Some(i) = self.sock(id) {
                            self.socks[i].closed = true;
                        }
                    }
                    Output::Log(r) => self.logs.push(*r),
                }
                moved = true;
            }
            for i in inputs {
                self.conn.handle_input(&mut self.gw, self.now, i);
                moved = true;
            }
            moved |= self.serve_upstreams();
            moved |= self.feed_peers();
            if !moved {
                return;
            }
        }
        panic!("livelock: the rig never settled");
    }

    /// Servers answer each complete request they received.
    fn serve_upstreams(&mut self) -> bool {
        let mut moved = false;
        for s in &mut self.socks {
            if s.closed || s.pooled {
                continue;
            }
            while let Some(n) = complete_request(&s.received[s.answered..]) {
                let Some(resp) = self.scripts.get_mut(&s.addr).and_then(|q| q.pop_front()) else {
                    break;
                };
                s.answered += n;
                s.pending.extend(resp);
                moved = true;
            }
        }
        moved
    }

    fn piece(&mut self) -> usize {
        if self.splits.is_empty() {
            return self.split;
        }
        self.split_at += 1;
        self.splits[self.split_at % self.splits.len()]
    }

    /// Delivers pending bytes within the core's budgets, `split` at a time.
    fn feed_peers(&mut self) -> bool {
        let mut moved = false;
        if !self.client_closed {
            let piece = self.piece();
            let budget = self.conn.read_budget(Peer::Client).min(piece);
            let n = budget.min(self.client_pending.len());
            if n > 0 {
                let b: Vec<u8> = self.client_pending.drain(..n).collect();
                self.conn.handle_input(
                    &mut self.gw,
                    self.now,
                    Input::Received(Peer::Client, b.into()),
                );
                return true;
            }
            if self.client_pending.is_empty() && self.client_eof_pending {
                self.client_eof_pending = false;
                self.conn
                    .handle_input(&mut self.gw, self.now, Input::Closed(Peer::Client));
                return true;
            }
        }
        for i in 0..self.socks.len() {
            if self.socks[i].closed || self.socks[i].pooled {
                continue;
            }
            let id = self.socks[i].id;
            let piece = self.piece();
            let budget = self.conn.read_budget(Peer::Upstream(id)).min(piece);
            let n = budget.min(self.socks[i].pending.len());
            if n > 0 {
                let b: Vec<u8> = self.socks[i].pending.drain(..n).collect();
                self.conn.handle_input(
                    &mut self.gw,
                    self.now,
                    Input::Received(Peer::Upstream(id), Bytes::from(b)),
                );
                moved = true;
                if self.close_after_response
                    && self.socks[i].pending.is_empty()
                    && !self.socks[i].closed
                {
                    self.conn.handle_input(
                        &mut self.gw,
                        self.now,
                        Input::Closed(Peer::Upstream(id)),
                    );
                }
                return moved;
            }
        }
        moved
    }

    /// Everything every upstream received, as text.
    pub fn upstream_text(&self) -> String {
        self.socks
            .iter()
            .map(|s| String::from_utf8_lossy(&s.received).into_owned())
            .collect()
    }

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

/// Length of the first complete request in `buf` (head plus CL or chunked
/// body), parsed independently of the core with httparse.
pub fn complete_request(buf: &[u8]) -> Option<usize> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let head = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => return None,
    };
    let mut len = 0usize;
    let mut chunked = false;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            len = std::str::from_utf8(h.value).ok()?.trim().parse().ok()?;
        }
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = true;
        }
    }
    if chunked {
        return chunked_len(&buf[head..]).map(|n| head + n);
    }
    (buf.len() >= head + len).then_some(head + len)
}

/// Length of a complete chunked body (with trailers), independently parsed.
fn chunked_len(b: &[u8]) -> Option<usize> {
    let line_end = |from: usize| {
        b[from..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|i| from + i)
    };
    let mut at = 0;
    loop {
        let end = line_end(at)?;
        let line = std::str::from_utf8(&b[at..end]).ok()?;
        let size = usize::from_str_radix(line.split(';').next()?.trim(), 16).ok()?;
        at = end + 2;
        if size == 0 {
            loop {
                let end = line_end(at)?;
                let empty = end == at;
                at = end + 2;
                if empty {
                    return Some(at);
                }
            }
        }
        at += size + 2;
        if at > b.len() {
            return None;
        }
    }
}
