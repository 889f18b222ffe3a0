//! The offline commands end to end on both binaries: `explain` (a
//! request from a flag, a file or standard input, text and JSON, the exit
//! status), `diff` (two configs over captured traffic), `lab` and `sim`.

mod support;

use std::io::Write as _;
use std::process::{Command, Stdio};

use support::{binary, scratch_dir};

const CONFIG: &str = r#"listen = "127.0.0.1:8080"
[[upstream]]
name = "app"
servers = [{ addr = "127.0.0.1:9001" }]
[[middleware]]
name = "office"
kind = "ip-access"
allow = ["192.0.2.0/24"]
[[route]]
name = "admin"
path_prefix = "/admin/"
upstream = "app"
middleware = ["office"]
[[route]]
name = "rest"
path_prefix = "/"
upstream = "app"
"#;

fn run(bin: &str, args: &[&str], stdin: Option<&[u8]>) -> (i32, String, String) {
    let dir = scratch_dir("explain");
    let config = dir.join("weir.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let mut child = Command::new(binary(bin))
        .arg("--config")
        .arg(&config)
        .arg("explain")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run explain");
    let mut input = child.stdin.take().unwrap();
    if let Some(b) = stdin {
        input.write_all(b).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn forwarded_from_a_line_exits_0(bin: &str) {
    let (code, out, err) = run(
        bin,
        &["--line", "GET /x HTTP/1.1", "--header", "Host: a"],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("route taken: rest\n"), "{out}");
    assert!(
        out.contains("== weir -> upstream 127.0.0.1:9001 ("),
        "{out}"
    );
    assert!(out.ends_with("== forwarded\n"), "{out}");
}

fn answered_from_stdin_exits_1_and_json_parses(bin: &str) {
    let req = b"GET /admin/x HTTP/1.1\r\nHost: a\r\n\r\n";
    let (code, out, err) = run(bin, &["--client", "203.0.113.1:9", "-"], Some(req));
    assert_eq!(code, 1, "{err}");
    assert!(
        out.contains("layer route admin: ip-access \"office\": answer 403\n"),
        "{out}"
    );
    let (code, out, _) = run(
        bin,
        &["--json", "--client", "203.0.113.1:9", "-"],
        Some(req),
    );
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(v["forwarded"], false);
    assert!(v["bytes"]
        .as_str()
        .unwrap()
        .starts_with("HTTP/1.1 403 Forbidden\r\n"));
    let layer = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["decision"] == "answer 403")
        .expect("the answering layer");
    assert_eq!(layer["layer"], "route admin: ip-access \"office\"");
}

fn a_file_with_bare_line_feeds_reads_as_crlf(bin: &str) {
    let dir = scratch_dir("explain-file");
    let file = dir.join("req.http");
    std::fs::write(&file, "POST /x HTTP/1.1\nHost: a\nContent-Length: 2\n\nhi").unwrap();
    let (code, out, err) = run(bin, &[file.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("body: Content-Length: 2\n"), "{out}");
    assert!(out.contains("\\r\\n\nhi\n== access log"), "{out}");
}

fn bad_input_exits_2(bin: &str) {
    let (code, _, err) = run(bin, &["/no/such/file"], None);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read /no/such/file"), "{err}");
    let (code, _, err) = run(bin, &[], None);
    assert_eq!(code, 2);
    assert!(err.contains("give a REQUEST file"), "{err}");
}

fn diff_reports_what_changes_and_exits_by_it(bin: &str) {
    let dir = scratch_dir("diff");
    let old = dir.join("old.toml");
    let new = dir.join("new.toml");
    std::fs::write(&old, CONFIG).unwrap();
    std::fs::write(
        &new,
        CONFIG.replace("allow = [\"192.0.2.0/24\"]", "allow = [\"10.0.0.0/8\"]"),
    )
    .unwrap();
    let traffic = dir.join("traffic.bin");
    std::fs::write(
        &traffic,
        "GET /admin/a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n",
    )
    .unwrap();
    let captures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/captures/requests");
    let diff = |a: &std::path::Path, b: &std::path::Path| {
        Command::new(binary(bin))
            .arg("diff")
            .args([a, b, &traffic, &captures])
            .output()
            .expect("run diff")
    };
    let same = diff(&old, &old);
    assert_eq!(same.status.code(), Some(0));
    let out = String::from_utf8_lossy(&same.stdout);
    assert!(
        out.starts_with("== 0 of ") && out.ends_with(" requests change\n"),
        "{out}"
    );
    // The simulated client (10.0.0.7) leaves the allowed network.
    let changed = diff(&old, &new);
    assert_eq!(changed.status.code(), Some(1));
    let out = String::from_utf8_lossy(&changed.stdout);
    assert!(
        out.contains("traffic.bin#1 GET /admin/a HTTP/1.1\n    upstream: - -> app\n    answer: 403 (ip-access) -> forwarded, 200\n"),
        "{out}"
    );
    assert!(out.contains("== 1 of "), "{out}");
    let bad = Command::new(binary(bin))
        .args(["diff", "/no/old.toml"])
        .arg(&new)
        .arg(&traffic)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

fn lab_reports_shares_and_moved_keys_side_by_side(bin: &str) {
    let dir = scratch_dir("lab");
    let ch = dir.join("ch.toml");
    let rr = dir.join("rr.toml");
    let servers =
        "servers = [{ addr = \"127.0.0.1:9001\" }, { addr = \"127.0.0.1:9002\" }]\nretries = 1\n";
    std::fs::write(&ch, format!("listen = \"127.0.0.1:8080\"\n[[upstream]]\nname = \"u\"\nbalancer = \"consistent-hash\"\nhash_key = \"path\"\n{servers}")).unwrap();
    std::fs::write(
        &rr,
        format!("listen = \"127.0.0.1:8080\"\n[[upstream]]\nname = \"u\"\n{servers}"),
    )
    .unwrap();
    let lab = |extra: &[&str]| {
        Command::new(binary(bin))
            .arg("--config")
            .arg(&ch)
            .args([
                "lab",
                "--requests",
                "4000",
                "--keys",
                "100",
                "--rate",
                "1000",
            ])
            .args(extra)
            .output()
            .expect("run lab")
    };
    let out = lab(&[
        "--fail",
        "127.0.0.1:9002@1..2",
        "--compare",
        rr.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("u (consistent-hash)") && text.contains("u (round-robin)"),
        "{text}"
    );
    assert!(text.contains("\n127.0.0.1:9002 "), "{text}");
    assert!(text.contains("\n  moved while down "), "{text}");
    // Deterministic: the same run prints the same report.
    let again = lab(&[
        "--fail",
        "127.0.0.1:9002@1..2",
        "--compare",
        rr.to_str().unwrap(),
    ]);
    assert_eq!(String::from_utf8_lossy(&again.stdout), text);
    let bad = lab(&["--fail", "127.0.0.1:9002@5..2"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("expected ADDR@START..END"));
}

fn sim_runs_seeds_and_says_so(bin: &str) {
    let out = Command::new(binary(bin))
        .args(["sim", "--seeds", "200", "--from", "5000"])
        .output()
        .expect("run sim");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.starts_with(&format!(
            "{bin}: sim: 200 seeds (5000..5200) held every invariant: "
        )),
        "{text}"
    );
    let bad = Command::new(binary(bin))
        .args(["sim", "--seeds", "x"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

each_frontend!(
    sim_runs_seeds_and_says_so,
    lab_reports_shares_and_moved_keys_side_by_side,
    diff_reports_what_changes_and_exits_by_it,
    forwarded_from_a_line_exits_0,
    answered_from_stdin_exits_1_and_json_parses,
    a_file_with_bare_line_feeds_reads_as_crlf,
    bad_input_exits_2,
);
