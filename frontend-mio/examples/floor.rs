//! The floor: the smallest relay that makes the system calls weir-mio
//! makes for a keep-alive request, and does nothing else.
//!
//! Each client connection gets one upstream connection of its own, made
//! when it is accepted; bytes go across as they are read, unparsed. A
//! readable socket is read once per wake-up unless the read filled the
//! buffer (weir-mio's rule), and what was read is sent at once: per
//! request one `recvfrom` and one `sendto` each way plus the event
//! loop's share of `epoll_wait`, as `strace -c` shows for weir-mio.
//! What weir spends above this relay's CPU per request is what parsing,
//! routing, balancing, rewriting and logging cost.
//!
//! `floor LISTEN UPSTREAM WORKERS` (benches/load.sh runs it as `floor-N`).
//! A bench tool, not a proxy: no HTTP, no timeouts, no limits.

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

const LISTENER: Token = Token(usize::MAX);
/// weir-mio's largest read.
const READ_MAX: usize = 64 * 1024;

/// A client and its upstream; `pending[i]` is what side `i` has not taken yet.
struct Pair {
    side: [TcpStream; 2],
    pending: [Vec<u8>; 2],
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let parse = |i: usize| -> Option<SocketAddr> { args.get(i)?.parse().ok() };
    let (Some(listen), Some(upstream)) = (parse(1), parse(2)) else {
        eprintln!("usage: floor LISTEN UPSTREAM [WORKERS]");
        std::process::exit(2);
    };
    let workers: usize = args.get(3).and_then(|w| w.parse().ok()).unwrap_or(1);
    let threads: Vec<_> = (0..workers.max(1))
        .map(|_| {
            let listener = weir_frontend::io::bind_reuseport(listen);
            std::thread::spawn(move || match listener.and_then(|l| run(l, upstream)) {
                Ok(()) => {}
                Err(e) => eprintln!("floor: {e}"),
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}

fn run(listener: std::net::TcpListener, upstream: SocketAddr) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut listener = TcpListener::from_std(listener);
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut pairs: Slab<Pair> = Slab::new();
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; READ_MAX];
    loop {
        match poll.poll(&mut events, None) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => r?,
        }
        for ev in events.iter() {
            if ev.token() == LISTENER {
                accept(&poll, &listener, upstream, &mut pairs);
                continue;
            }
            let (key, side) = (ev.token().0 / 2, ev.token().0 % 2);
            let Some(pair) = pairs.get_mut(key) else {
                continue;
            };
            let mut open = true;
            if ev.is_writable() {
                open &= flush(pair, side);
            }
            if open && (ev.is_readable() || ev.is_read_closed()) {
                open &= relay(pair, side, &mut buf);
            }
            if !open {
                pairs.remove(key);
            }
        }
    }
}

fn accept(poll: &Poll, listener: &TcpListener, upstream: SocketAddr, pairs: &mut Slab<Pair>) {
    while let Ok((client, _)) = listener.accept() {
        let Ok(up) = TcpStream::connect(upstream) else {
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = up.set_nodelay(true);
        let entry = pairs.vacant_entry();
        let key = entry.key();
        let mut pair = Pair {
            side: [client, up],
            pending: [Vec::new(), Vec::new()],
        };
        let both = Interest::READABLE | Interest::WRITABLE;
        let registered = (0..2).all(|i| {
            poll.registry()
                .register(&mut pair.side[i], Token(key * 2 + i), both)
                .is_ok()
        });
        if registered {
            entry.insert(pair);
        }
    }
}

/// Reads side `from` and sends what came to the other side; false when
/// the pair is done.
fn relay(pair: &mut Pair, from: usize, buf: &mut [u8]) -> bool {
    let to = 1 - from;
    loop {
        let n = match pair.side[from].read(buf) {
            Ok(0) => return false,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        };
        let mut sent = 0;
        if pair.pending[to].is_empty() {
            match pair.side[to].write(&buf[..n]) {
                Ok(w) => sent = w,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {}
                Err(_) => return false,
            }
        }
        pair.pending[to].extend_from_slice(&buf[sent..n]);
        if n < buf.len() {
            return true;
        }
    }
}

/// Sends what side `to` has pending; false when the pair is done.
fn flush(pair: &mut Pair, to: usize) -> bool {
    while !pair.pending[to].is_empty() {
        match pair.side[to].write(&pair.pending[to]) {
            Ok(0) => return false,
            Ok(w) => {
                pair.pending[to].drain(..w);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}
