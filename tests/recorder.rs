//! The flight recorder end to end, on both binaries: traffic through a
//! running gateway, a dump on SIGUSR2 and on `POST /recorder/dump`, the
//! credentials masked, and the dump replayed offline giving the client
//! the same bytes it got live.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use support::upstream::Origin;
use support::Weir;

const SECS: Duration = Duration::from_secs(10);

/// The dump directory a stderr line or an admin reply names.
fn dumped_dir(text: &str) -> PathBuf {
    PathBuf::from(
        text.split(" dumped to ")
            .nth(1)
            .expect("a directory")
            .trim(),
    )
}

fn record_dump_replay(bin: &str) {
    let a = Origin::start("a");
    let dir = support::scratch_dir("recorder");
    let config = format!(
        "workers = 2\n[admin]\nlisten = \"127.0.0.1:0\"\n[recorder]\nconnections = 8\nredact = [\"X-Api-Key\"]\ndir = \"{}\"\n[[upstream]]\nname = \"app\"\nservers = [{{ addr = \"{}\" }}]\n[[route]]\nname = \"all\"\nupstream = \"app\"\n",
        dir.display(),
        a.addr
    );
    let path = Weir::write_config(&dir, &config);
    let mut cmd = Command::new(support::binary(bin));
    cmd.arg("--config").arg(&path).arg("--quiet");
    let w = Weir::spawn(cmd, dir.clone());
    // One connection: three requests, the last closing it; every byte
    // the client gets is kept.
    let sent = b"GET /one HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer s3cr3t-token\r\n\r\n\
POST /two HTTP/1.1\r\nHost: h\r\nX-Api-Key: k-999\r\nContent-Length: 5\r\n\r\nhello\
GET /three HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    let mut s = TcpStream::connect(w.addr).unwrap();
    s.set_read_timeout(Some(SECS)).unwrap();
    s.write_all(sent).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    assert_eq!(got.windows(8).filter(|w| w == b"HTTP/1.1").count(), 3);

    // SIGUSR2: a dump, said on stderr.
    let pid = w.child.id().to_string();
    // The connection reaches its worker's ring when its close is taken.
    support::wait_until(SECS, "the dump holds the connection", || {
        Command::new("kill").args(["-USR2", &pid]).status().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let lines = w.stderr.lock().unwrap().clone();
        lines
            .iter()
            .rev()
            .find(|l| l.contains("SIGUSR2: "))
            .is_some_and(|l| !l.contains(": 0 recorded"))
    });
    let line = w
        .stderr
        .lock()
        .unwrap()
        .iter()
        .rev()
        .find(|l| l.contains("recorded connections dumped to"))
        .cloned()
        .expect("the dump line");
    let dump = dumped_dir(&line);
    assert!(dump.starts_with(&dir), "{line}");
    let index = std::fs::read_to_string(dump.join("index.tsv")).unwrap();
    assert!(index.starts_with("n\tworker\tclient\t"), "{index}");
    let requests = std::fs::read(dump.join("requests/1.bin")).unwrap();
    let text = String::from_utf8_lossy(&requests);
    assert_eq!(requests.len(), sent.len());
    assert!(
        !text.contains("s3cr3t") && !text.contains("k-999"),
        "{text}"
    );
    assert!(
        text.contains("Authorization: ****** ************\r\n"),
        "{text}"
    );
    assert!(text.contains("hello"), "{text}");
    assert_eq!(std::fs::read(dump.join("sent/1.bin")).unwrap(), got);

    // Replayed offline, the dump gives the client the same bytes.
    let responses = std::fs::read(dump.join("responses/1.bin")).unwrap();
    let config = weir_core::Config::from_toml(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let sim = weir_core::sim::transcript::replay(
        config,
        Instant::now(),
        &requests,
        &responses,
        usize::MAX,
    );
    assert_eq!(sim.client_out, got);
    // And so does the `replay` command, reading the dump's files.
    let transcript = support::replay(
        bin,
        &[
            "--config".as_ref(),
            path.as_os_str(),
            dump.join("requests/1.bin").as_os_str(),
            dump.join("responses/1.bin").as_os_str(),
        ],
    );
    assert!(
        transcript.contains(&format!("== weir -> client ({} bytes)", got.len())),
        "{transcript}"
    );

    // The admin endpoint dumps too.
    let mut admin = TcpStream::connect(w.admin_addr()).unwrap();
    admin.set_read_timeout(Some(SECS)).unwrap();
    admin
        .write_all(b"POST /recorder/dump HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    admin.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200 "), "{reply}");
    let again = dumped_dir(reply.split("\r\n\r\n").nth(1).unwrap());
    assert!(again.join("requests/1.bin").exists(), "{reply}");
}

fn without_a_recorder_sigusr2_is_said_once_and_ignored(bin: &str) {
    let a = Origin::start("a");
    let dir = support::scratch_dir("norecorder");
    let config = format!(
        "[[upstream]]\nname = \"app\"\nservers = [{{ addr = \"{}\" }}]\n",
        a.addr
    );
    let path = Weir::write_config(&dir, &config);
    let mut cmd = Command::new(support::binary(bin));
    cmd.arg("--config").arg(&path).arg("--quiet");
    let w = Weir::spawn(cmd, dir);
    let pid = w.child.id().to_string();
    Command::new("kill").args(["-USR2", &pid]).status().unwrap();
    w.wait_stderr("SIGUSR2: no [recorder] configured", SECS);
    assert_eq!(support::client::get(w.addr, "/").status, 200);
}

each_frontend!(
    record_dump_replay,
    without_a_recorder_sigusr2_is_said_once_and_ignored,
);
