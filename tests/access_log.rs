//! End-to-end access-log formats, on both binaries: with `format =
//! "json"` every line the running gateway writes parses as one JSON
//! object (a real JSON parser), with the resolved client, the host, the
//! user agent, the upstream's name and an RFC 3339 time; a malformed
//! request is logged with what arrived.

mod support;

use std::process::Command;
use std::time::Duration;

use support::client::Client;
use support::upstream::Origin;
use support::Weir;

const SECS: Duration = Duration::from_secs(10);

fn json_lines_parse(bin: &str) {
    let a = Origin::start("a");
    let dir = support::scratch_dir("jsonlog");
    let log = dir.join("access.log");
    let config = format!(
        "workers = 2\n[log]\nformat = \"json\"\npath = \"{}\"\n[[upstream]]\nname = \"app\"\nservers = [{{ addr = \"{}\" }}]\n[[route]]\nname = \"all\"\nupstream = \"app\"\n",
        log.display(),
        a.addr
    );
    let path = Weir::write_config(&dir, &config);
    let mut cmd = Command::new(support::binary(bin));
    cmd.arg("--config").arg(&path);
    let w = Weir::spawn(cmd, dir);
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

each_frontend!(json_lines_parse);
