//! End-to-end hot reload and signals, on both binaries: SIGHUP reloads
//! the config file under traffic without losing a request, upgraded
//! tunnels live across reloads, an invalid file or a change of `listen`
//! keeps the running config, SIGUSR1 reopens the access-log file.

mod support;

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::client::{get, Client};
use support::upstream::Origin;
use support::Weir;

const SECS: Duration = Duration::from_secs(10);

fn signal(w: &Weir, sig: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{sig}"), &w.child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// Starts `bin` on `config` (written to a file it reloads); `workers = 2`.
fn start(bin: &str, config: &str) -> Weir {
    let dir = support::scratch_dir("reload");
    let path = Weir::write_config(&dir, config);
    let mut cmd = Command::new(support::binary(bin));
    cmd.arg("--config").arg(&path).arg("--quiet");
    Weir::spawn(cmd, dir)
}

/// Rewrites the config file, sends SIGHUP and waits for generation `gen`.
fn reload(w: &Weir, config: &str, gen: u64) {
    Weir::write_config(&w.dir, config);
    signal(w, "HUP");
    w.wait_stderr(&format!(": generation {gen}: "), SECS);
}

/// Everything to `to`; responses carry `X-Gen: tag`.
fn to(origin: &Origin, tag: u32) -> String {
    format!(
        "workers = 2\n[[upstream]]\nname = \"app\"\nservers = [{{ addr = \"{}\" }}]\n[[middleware]]\nkind = \"headers\"\nresponse_set = {{ \"X-Gen\" = \"{tag}\" }}\n",
        origin.addr
    )
}

fn twenty_reloads_under_keep_alive_traffic_lose_nothing(bin: &str) {
    let (a, b) = (Origin::start("a"), Origin::start("b"));
    let w = start(bin, &to(&a, 0));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (addr, stop) = (w.addr, stop.clone());
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                let mut answered = 0;
                while !stop.load(Ordering::SeqCst) {
                    c.send(b"GET /name HTTP/1.1\r\nHost: t\r\n\r\n");
                    let r = c.try_read().expect("every request is answered");
                    assert_eq!(r.status, 200);
                    assert!(r.text() == "a" || r.text() == "b", "{}", r.text());
                    answered += 1;
                }
                answered
            })
        })
        .collect();
    for i in 1..=20 {
        let origin = if i % 2 == 1 { &b } else { &a };
        reload(&w, &to(origin, i), u64::from(i) + 1);
    }
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        let answered = c.join().expect("a client saw an error");
        assert!(answered > 0);
    }
    // The last file is in force, for new connections and old ones alike.
    let r = get(w.addr, "/name");
    assert_eq!((r.text().as_str(), r.header("x-gen")), ("a", Some("20")));
    let line = w
        .stderr
        .lock()
        .unwrap()
        .iter()
        .find(|l| l.contains("generation 2:"))
        .cloned();
    assert!(
        line.is_some_and(|l| l.contains("upstreams ~app; middleware ~global chain")),
        "{:?}",
        w.stderr.lock().unwrap()
    );
}

fn a_tunnel_lives_across_three_reloads(bin: &str) {
    let a = Origin::start("a");
    let w = start(bin, &to(&a, 0));
    let mut c = Client::connect(w.addr);
    c.send(b"GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: x\r\nSec-WebSocket-Version: 13\r\n\r\n");
    assert_eq!(c.read().status, 101);
    for gen in 2..=5 {
        let msg = format!("frame {gen}");
        c.send(msg.as_bytes());
        let mut back = vec![0; msg.len()];
        std::io::Read::read_exact(&mut c.r, &mut back).unwrap();
        assert_eq!(back, msg.as_bytes());
        if gen < 5 {
            reload(&w, &to(&a, gen as u32), gen);
        }
    }
}

fn an_invalid_file_or_a_new_listen_keeps_the_running_config(bin: &str) {
    let a = Origin::start("a");
    let w = start(bin, &to(&a, 0));
    Weir::write_config(
        &w.dir,
        "workers = 2\n[[upstream]]\nname = \"app\"\nservers = [{ addr = \"nowhere\" }]\n",
    );
    signal(&w, "HUP");
    w.wait_stderr("failed; generation 1 stays in force", SECS);
    w.wait_stderr(
        "weir.toml:5: upstream[0].servers[0].addr: invalid address \"nowhere\" (expected IP:PORT or NAME:PORT)",
        SECS,
    );
    let r = get(w.addr, "/name");
    assert_eq!((r.text().as_str(), r.header("x-gen")), ("a", Some("0")));
    // listen and workers are the process's, not the plan's.
    let moved = format!("listen = \"127.0.0.1:1\"\n{}", to(&a, 1));
    std::fs::write(w.dir.join("weir.toml"), moved).unwrap();
    signal(&w, "HUP");
    w.wait_stderr(
        "listen cannot change on reload (127.0.0.1:0 -> 127.0.0.1:1)",
        SECS,
    );
    assert_eq!(get(w.addr, "/name").header("x-gen"), Some("0"));
    // A good file after that is generation 2.
    reload(&w, &to(&a, 7), 2);
    assert_eq!(get(w.addr, "/name").header("x-gen"), Some("7"));
}

fn usr1_reopens_a_moved_access_log(bin: &str) {
    let a = Origin::start("a");
    let dir = support::scratch_dir("log");
    let log = dir.join("access.log");
    let config = format!("{}[log]\npath = \"{}\"\n", to(&a, 0), log.display());
    let path = Weir::write_config(&dir, &config);
    let mut cmd = Command::new(support::binary(bin));
    cmd.arg("--config").arg(&path);
    let w = Weir::spawn(cmd, dir.clone());
    let lines = |p: &std::path::Path| {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(get(w.addr, "/first").status, 200);
    support::wait_until(SECS, "the first line in the log", || lines(&log).len() == 1);
    let rotated = dir.join("access.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    signal(&w, "USR1");
    w.wait_stderr(&format!("SIGUSR1: reopened {}", log.display()), SECS);
    assert_eq!(get(w.addr, "/second").status, 200);
    support::wait_until(SECS, "the second line in the new log", || {
        lines(&log).len() == 1
    });
    assert!(
        lines(&rotated)[0].contains("\"GET /first\" 200"),
        "{:?}",
        lines(&rotated)
    );
    assert!(
        lines(&log)[0].contains("\"GET /second\" 200"),
        "{:?}",
        lines(&log)
    );
}

fn hup_usr1_usr2_never_kill(bin: &str) {
    let a = Origin::start("a");
    let w = start(bin, &to(&a, 0));
    for sig in ["HUP", "USR1", "USR2", "USR1", "USR2", "PIPE"] {
        signal(&w, sig);
    }
    w.wait_stderr("SIGUSR2: no [recorder] configured", SECS);
    w.wait_stderr("SIGUSR1: the access log goes to stdout", SECS);
    w.wait_stderr("generation 2: no changes", SECS);
    let mut w = w;
    assert!(w.child.try_wait().unwrap().is_none(), "a signal killed it");
    assert_eq!(get(w.addr, "/name").text(), "a");
    let said = |what: &str| {
        w.stderr
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(what))
            .count()
    };
    assert_eq!((said("SIGUSR1"), said("SIGUSR2")), (1, 1), "each said once");
    w.terminate();
    assert!(w.wait_exit(SECS).success());
}

each_frontend!(
    twenty_reloads_under_keep_alive_traffic_lose_nothing,
    a_tunnel_lives_across_three_reloads,
    an_invalid_file_or_a_new_listen_keeps_the_running_config,
    usr1_reopens_a_moved_access_log,
    hup_usr1_usr2_never_kill,
);
