//! `weir-* demo`: two demo upstreams on loopback, the gateway in front.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;

use weir_core::balancer::Strategy;
use weir_core::Config;

use crate::cli::{start, Options};
use crate::Serve;

/// Starts a tiny HTTP/1.1 server on an ephemeral loopback port that
/// answers every request with `hello from NAME` (keep-alive, one thread per
/// connection). For demos and tests, not for production.
pub fn spawn_upstream(name: &str) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let body = Arc::new(format!("hello from {name}\n"));
    std::thread::Builder::new()
        .name(format!("demo-{name}"))
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                let body = body.clone();
                let _ = std::thread::Builder::new().spawn(move || serve_demo(stream, &body));
            }
        })?;
    Ok(addr)
}

fn serve_demo(stream: TcpStream, body: &str) {
    let Ok(mut write) = stream.try_clone() else {
        return;
    };
    let mut read = BufReader::new(stream);
    loop {
        let mut length = 0usize;
        let mut close = false;
        let mut line = String::new();
        let mut first = true;
        loop {
            line.clear();
            match read.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let l = line.trim_end();
            if l.is_empty() {
                if first {
                    continue;
                }
                break;
            }
            first = false;
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if k.eq_ignore_ascii_case("connection") && v.trim().eq_ignore_ascii_case("close") {
                    close = true;
                }
            }
        }
        if std::io::copy(&mut (&mut read).take(length as u64), &mut std::io::sink()).is_err() {
            return;
        }
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if write.write_all(resp.as_bytes()).is_err() || close {
            return;
        }
    }
}

/// Runs the demo: upstreams `a` (weight 2) and `b` (weight 1) behind
/// `weighted-round-robin` on 127.0.0.1:8080.
pub fn run(name: &'static str, opts: &Options, serve: Serve) -> i32 {
    let (a, b) = match (spawn_upstream("a"), spawn_upstream("b")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{name}: cannot start the demo upstreams: {e}");
            return 1;
        }
    };
    let wanted = opts
        .listen
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    // Bind first, so the banner only shows once the address is ours (and
    // names the real port when `--listen` asks for port 0).
    let listen = match crate::io::bind(wanted).and_then(|l| l.local_addr()) {
        Ok(a) => a,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            eprintln!(
                "{name}: cannot listen on {wanted}: address already in use (try --listen ADDR)"
            );
            return 1;
        }
        Err(e) => {
            eprintln!("{name}: cannot listen on {wanted}: {e}");
            return 1;
        }
    };
    let mut config = Config::quick(listen, &[a, b], Strategy::WeightedRoundRobin);
    config.upstreams[0].servers[0].1 = 2;
    config.workers = Some(opts.workers.unwrap_or(1));
    let workers = config.workers.unwrap_or(1);
    println!("{name} demo: upstream a on {a} (weight 2), upstream b on {b} (weight 1)");
    println!("gateway on http://{listen} with smooth weighted-round-robin; try:");
    println!("  for i in 1 2 3 4 5 6; do curl -s http://{listen}/; done");
    if workers == 1 {
        println!("                                  # hello from a, b, a, a, b, a");
    } else {
        println!("                                  # a twice as often as b ({workers} workers, each its own a b a)");
    }
    println!("  curl -si http://{listen}/ -H 'Connection: close'");
    println!("Ctrl-C stops it.");
    start(name, Arc::new(config), opts, serve)
}
