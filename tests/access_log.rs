//! End-to-end access-log formats, on both binaries: with `format =
//! "json"` every line the running gateway writes parses as one JSON
//! object (a real JSON parser), with the resolved client, the host, the
//! user agent, the upstream's name and an RFC 3339 time; a malformed
//! request is logged with what arrived. The log is written off the
//! event loop: a reader that stops reading does not stop requests, and
//! every line handed over is written before the process exits.

mod support;

use std::process::Command;
use std::time::Duration;

use support::client::Client;
use support::upstream::Origin;
use support::Weir;

const SECS: Duration = Duration::from_secs(10);

fn json_lines_parse(bin: &str) {
    let dir = support::scratch_dir("jsonlog");
    let log = dir.join("access.log");
    let (_a, w) = gateway_logging_to(bin, dir, &log, "format = \"json\"\n");
    let mut c = Client::connect(w.addr);
    c.send(b"GET /one HTTP/1.1\r\nHost: example.com\r\nUser-Agent: tester \"1\"\\\r\n\r\n");
    assert_eq!(c.read().status, 200);
    c.send(b"GET /two?x=\xff HTTP/1.1\r\nHost: example.com\r\n\r\n");
    let _ = c.try_read();
    let mut bad = Client::connect(w.addr);
    bad.send(b"\x16\x03\x01\x00\x05hello\r\n\r\n");
    let _ = bad.try_read();
    let lines = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    support::wait_until(SECS, "three log lines", || lines().len() >= 3);
    let parsed: Vec<serde_json::Value> = lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let one = parsed.iter().find(|v| v["target"] == "/one").expect("/one");
    assert_eq!(one["status"], 200);
    assert_eq!(one["host"], "example.com");
    assert_eq!(one["user_agent"], "tester \"1\"\\");
    assert_eq!(one["upstream"], "app");
    assert_eq!(one["route"], "all");
    assert_eq!(one["version"], "HTTP/1.1");
    assert_eq!(one["client_ip"], "127.0.0.1");
    let time = one["time"].as_str().unwrap();
    assert!(
        time.len() == 24 && time.ends_with('Z') && &time[10..11] == "T",
        "{time}"
    );
    // Bytes that are not HTTP: logged with what arrived, counted in.
    let bad = parsed
        .iter()
        .find(|v| {
            v["target"]
                .as_str()
                .is_some_and(|t| t.starts_with("\\x16\\x03\\x01"))
        })
        .unwrap_or_else(|| panic!("the TLS bytes in {parsed:?}"));
    assert_eq!(bad["status"], 400);
    assert_eq!(bad["bytes_in"], 14);
    assert!(bad["method"].is_null());
}

/// A two-worker gateway in front of one origin, its access log going to
/// `log` (which may exist already, e.g. as a FIFO) with `settings` added
/// to the `[log]` table.
fn gateway_logging_to(
    bin: &str,
    dir: std::path::PathBuf,
    log: &std::path::Path,
    settings: &str,
) -> (Origin, Weir) {
    let a = Origin::start("a");
    let config = format!(
        "workers = 2\n[log]\n{settings}path = \"{}\"\n[[upstream]]\nname = \"app\"\nservers = [{{ addr = \"{}\" }}]\n[[route]]\nname = \"all\"\nupstream = \"app\"\n",
        log.display(),
        a.addr
    );
    let path = Weir::write_config(&dir, &config);
    let mut cmd = Command::new(support::binary(bin));
    cmd.arg("--config").arg(&path);
    (a, Weir::spawn(cmd, dir))
}

/// The log is a FIFO whose reader reads nothing for a while: 3 000
/// requests (about 350 KiB of lines, five times what the pipe holds) are
/// all answered meanwhile, and then every line arrives. A gateway that
/// wrote its log on the event loop stopped at the pipe's 64 KiB.
fn a_stalled_log_reader_does_not_stall_requests(bin: &str) {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = support::scratch_dir("fifolog");
    let log = dir.join("access.log");
    let made = Command::new("mkfifo").arg(&log).status().expect("mkfifo");
    assert!(made.success());
    // Opened for reading first (without blocking), so that the gateway's
    // open for writing finds a reader.
    const O_NONBLOCK: i32 = 0o4000;
    let mut reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(O_NONBLOCK)
        .open(&log)
        .expect("open the FIFO");
    let (_a, w) = gateway_logging_to(bin, dir, &log, "");
    let mut c = Client::connect(w.addr);
    let n = 3000;
    for i in 0..n {
        c.send(format!("GET /request-number-{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        assert_eq!(c.read().status, 200, "request {i}");
    }
    let mut text = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    support::wait_until(SECS, "every line through the FIFO", || {
        match reader.read(&mut chunk) {
            Ok(got) => text.extend_from_slice(&chunk[..got]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("reading the FIFO: {e}"),
        }
        text.iter().filter(|&&b| b == b'\n').count() >= n
    });
    let text = String::from_utf8(text).unwrap();
    for i in [0, 1234, n - 1] {
        assert!(
            text.contains(&format!(" /request-number-{i}\"")),
            "line {i}"
        );
    }
    assert_eq!(text.lines().count(), n);
}

/// Stopped at once after 500 requests: all 500 lines are in the file when
/// the process has exited (the writer thread is waited for).
fn every_line_is_written_before_exit(bin: &str) {
    let dir = support::scratch_dir("exitlog");
    let log = dir.join("access.log");
    let (_a, mut w) = gateway_logging_to(bin, dir, &log, "");
    let mut c = Client::connect(w.addr);
    let n = 500;
    for _ in 0..n {
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(c.read().status, 200);
    }
    drop(c);
    w.terminate();
    assert!(w.wait_exit(SECS).success());
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(text.lines().count(), n);
}

each_frontend!(
    json_lines_parse,
    a_stalled_log_reader_does_not_stall_requests,
    every_line_is_written_before_exit
);
