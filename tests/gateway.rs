//! End-to-end: the real binaries over real sockets, against real origins,
//! with raw-socket clients and curl. Every test runs against both
//! frontends.

mod support;

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use support::client::{self as client, get, Client};
use support::upstream::{pattern, Origin};
use support::{upstream_section, Weir};

fn one(bin: &str, origin: &Origin, extra: &str) -> Weir {
    Weir::start(
        bin,
        &upstream_section("round-robin", &[(origin.addr, 1)], extra),
    )
}

fn keep_alive_reuses_connections(bin: &str) {
    let o = Origin::start("a");
    let w = one(bin, &o, "");
    let mut c = Client::connect(w.addr);
    for _ in 0..5 {
        c.send(b"GET /name HTTP/1.1\r\nHost: t\r\n\r\n");
        let r = c.read();
        assert_eq!((r.status, r.text().as_str()), (200, "a"));
    }
    // A second client after the first: the pooled upstream is reused.
    assert_eq!(get(w.addr, "/name").text(), "a");
    assert_eq!(o.accepted(), 1, "one upstream connection for six requests");
}

fn pipelined_requests_come_back_in_order(bin: &str) {
    let o = Origin::start("a");
    let w = one(bin, &o, "");
    let mut c = Client::connect(w.addr);
    c.send(b"GET /slow?ms=50 HTTP/1.1\r\nHost: t\r\n\r\nGET /name HTTP/1.1\r\nHost: t\r\n\r\nPOST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nxyz");
    assert_eq!(c.read().text(), "slow");
    assert_eq!(c.read().text(), "a");
    assert_eq!(c.read().text(), "xyz");
}

fn ten_mib_chunked_both_ways_byte_exact(bin: &str) {
    let o = Origin::start("a");
    let w = one(bin, &o, "");
    let data = pattern(10 << 20);
    let mut c = Client::connect(w.addr);
    let mut req = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for chunk in data.chunks(100_000) {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let mut writer = c.w.try_clone().unwrap();
    let sender = std::thread::spawn(move || writer.write_all(&req).unwrap());
    let r = c.read();
    sender.join().unwrap();
    assert_eq!(r.status, 200);
    assert!(
        r.body == data,
        "upload echo differs ({} bytes back)",
        r.body.len()
    );
    c.send(format!("GET /big?n={} HTTP/1.1\r\nHost: t\r\n\r\n", 10 << 20).as_bytes());
    let r = c.read();
    assert!(r.body == data, "download differs ({} bytes)", r.body.len());
}

fn curl_gets_and_uploads(bin: &str) {
    let o = Origin::start("a");
    let w = one(bin, &o, "");
    let out = Command::new("curl")
        .args(["-sS", "--fail", &format!("http://{}/name", w.addr)])
        .output()
        .expect("curl is installed (.ci/run installs it)");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a");
    let out = Command::new("curl")
        .args([
            "-sS",
            "--fail",
            "-H",
            "Transfer-Encoding: chunked",
            "--data-binary",
            "hello curl",
        ])
        .arg(format!("http://{}/echo", w.addr))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello curl");
}

fn dead_upstream_gives_502(bin: &str) {
    let (_held, addr) = support::refusing_addr();
    let w = Weir::start(bin, &upstream_section("round-robin", &[(addr, 1)], ""));
    let r = get(w.addr, "/");
    assert_eq!(r.status, 502);
}

fn slow_upstream_gives_504(bin: &str) {
    let o = Origin::start("a");
    let w = one(bin, &o, "[timeouts]\nupstream_response = 300\n");
    let t = Instant::now();
    let r = get(w.addr, "/slow?ms=3000");
    assert_eq!(r.status, 504);
    assert!(t.elapsed() < Duration::from_millis(2500));
}

/// `pool_idle`: a pooled upstream connection is closed after this long
/// (weir-smol sweeps its pools every half `pool_idle`, so up to 1.5x).
fn pooled_connection_closes_after_pool_idle(bin: &str) {
    use std::io::{BufRead, BufReader, Read};
    let up = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = up.local_addr().unwrap();
    let w = Weir::start(
        bin,
        &upstream_section("round-robin", &[(addr, 1)], "[timeouts]\npool_idle = 400\n"),
    );
    let gw = w.addr;
    let asker = std::thread::spawn(move || get(gw, "/").status);
    let (s, _) = up.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    while r.read_line(&mut line).unwrap() > 0 && !line.ends_with("\r\n\r\n") {}
    (&s).write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        .unwrap();
    let pooled_at = Instant::now();
    assert_eq!(asker.join().unwrap(), 200);
    let mut b = [0; 1];
    assert_eq!(
        r.read(&mut b).unwrap(),
        0,
        "weir sent more on a pooled connection"
    );
    let idle = pooled_at.elapsed();
    assert!(
        idle >= Duration::from_millis(350) && idle < Duration::from_millis(1500),
        "closed after {idle:?}"
    );
}

/// The stricter request rules on real sockets: each gets its status and
/// a close, and nothing reaches the origin.
fn strict_request_rules_hold_end_to_end(bin: &str) {
    let o = Origin::start("a");
    let w = one(bin, &o, "");
    for (req, status) in [
        (&b"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n"[..], 400),
        (b"GET / HTTP/1.1\r\nHost: a, a\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a:80:80\r\n\r\n", 400),
        (b"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 405),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;a b\r\nx\r\n0\r\n\r\n",
            400,
        ),
    ] {
        let mut c = Client::connect(w.addr);
        c.send(req);
        let r = c.read();
        assert_eq!(r.status, status, "{:?}", String::from_utf8_lossy(req));
        assert!(c.is_closed());
    }
    // The chunked one reached the origin's socket only as far as its bad
    // line, then was closed: the origin answered nothing.
    let r = get(w.addr, "/name");
    assert_eq!((r.status, r.text().as_str()), (200, "a"));
    // Not HTTP at all (a TLS ClientHello's first bytes): 400 at once, not
    // after the header timeout (10 s by default).
    let t = Instant::now();
    let mut c = Client::connect(w.addr);
    c.send(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03");
    assert_eq!(c.read().status, 400);
    assert!(t.elapsed() < Duration::from_secs(2));
}

/// Routing decides on the normalised path, and the upstream gets it.
fn paths_are_normalised_before_routing(bin: &str) {
    let (a, b) = (Origin::start("a"), Origin::start("b"));
    let w = Weir::start(
        bin,
        &format!(
            "workers = 1\n[[upstream]]\nname = \"a\"\nservers = [{{ addr = \"{}\" }}]\n\
             [[upstream]]\nname = \"b\"\nservers = [{{ addr = \"{}\" }}]\n\
             [[route]]\npath_prefix = \"/b/\"\nupstream = \"b\"\nstrip_prefix = true\n\
             [[route]]\nupstream = \"a\"\n",
            a.addr, b.addr
        ),
    );
    for (path, name) in [
        ("/x/../b/name", "b"),
        ("//b//name", "b"),
        ("/%62/name", "b"),
        ("/name", "a"),
    ] {
        let r = get(w.addr, path);
        assert_eq!((r.status, r.text().as_str()), (200, name), "{path}");
    }
    assert_eq!(get(w.addr, "/b/../../name").status, 400);
}

fn slow_head_gives_408(bin: &str) {
    let o = Origin::start("a");
    let w = one(bin, &o, "[timeouts]\nclient_header = 300\n");
    let mut c = Client::connect(w.addr);
    c.send(b"GET / HTTP/1.1\r\nHo");
    let r = c.read();
    assert_eq!(r.status, 408);
    assert!(c.is_closed());
}

fn names(addr: std::net::SocketAddr, n: usize) -> String {
    (0..n).map(|_| get(addr, "/name").text()).collect()
}

/// A request refused at its head (413) while most of its body is unread
/// in the gateway's socket: the answer still arrives whole (the gateway
/// half-closes and drains before closing).
fn early_answer_survives_an_unread_body(bin: &str) {
    let o = Origin::start("a");
    let w = one(bin, &o, "[limits]\nmax_request_body = 1000\n");
    for _ in 0..5 {
        let mut c = Client::connect(w.addr);
        let mut req = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 200000\r\n\r\n".to_vec();
        req.extend(std::iter::repeat_n(b'x', 100_000));
        c.send(&req);
        let r = c.read();
        assert_eq!(r.status, 413);
    }
}

fn round_robin_and_smooth_weighted(bin: &str) {
    let (a, b, c) = (Origin::start("a"), Origin::start("b"), Origin::start("c"));
    let w = Weir::start(
        bin,
        &upstream_section("round-robin", &[(a.addr, 1), (b.addr, 1), (c.addr, 1)], ""),
    );
    assert_eq!(names(w.addr, 6), "abcabc");
    drop(w);
    let w = Weir::start(
        bin,
        &upstream_section(
            "weighted-round-robin",
            &[(a.addr, 5), (b.addr, 1), (c.addr, 1)],
            "",
        ),
    );
    assert_eq!(names(w.addr, 14), "aabacaaaabacaa");
}

fn consistent_hash_sticks_by_header(bin: &str) {
    let origins: Vec<Origin> = ["a", "b", "c", "d"]
        .iter()
        .map(|n| Origin::start(n))
        .collect();
    let servers: Vec<_> = origins.iter().map(|o| (o.addr, 1)).collect();
    let w = Weir::start(
        bin,
        &upstream_section("consistent-hash", &servers, "hash_key = \"header:X-User\""),
    );
    let mut seen = std::collections::HashSet::new();
    for user in 0..20 {
        let who = |_| {
            let mut c = Client::connect(w.addr);
            c.send(format!("GET /name HTTP/1.1\r\nHost: t\r\nX-User: u{user}\r\n\r\n").as_bytes());
            c.read().text()
        };
        let first = who(0);
        for i in 1..4 {
            assert_eq!(who(i), first, "user u{user} moved");
        }
        seen.insert(first);
    }
    assert!(seen.len() >= 3, "20 users landed on {seen:?}");
}

fn failover_when_an_upstream_dies(bin: &str) {
    let (a, b) = (Origin::start("a"), Origin::start("b"));
    let w = Weir::start(
        bin,
        &upstream_section("round-robin", &[(a.addr, 1), (b.addr, 1)], ""),
    );
    assert_eq!(names(w.addr, 2), "ab");
    a.kill();
    for _ in 0..6 {
        let r = get(w.addr, "/name");
        assert_eq!((r.status, r.text().as_str()), (200, "b"));
    }
}

fn websocket_upgrade_tunnels(bin: &str) {
    let o = Origin::start("a");
    let w = one(bin, &o, "");
    let mut c = Client::connect(w.addr);
    c.send(b"GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: x\r\nSec-WebSocket-Version: 13\r\n\r\n");
    let r = c.read();
    assert_eq!(r.status, 101);
    assert_eq!(r.header("upgrade"), Some("websocket"));
    for msg in [&b"frame-one"[..], b"\x81\x05hello", &[0u8; 3000]] {
        c.send(msg);
        let mut back = vec![0; msg.len()];
        std::io::Read::read_exact(&mut c.r, &mut back).unwrap();
        assert_eq!(back, msg);
    }
}

fn graceful_shutdown_completes_in_flight(bin: &str) {
    let o = Origin::start("a");
    let mut w = one(bin, &o, "");
    let mut c = Client::connect(w.addr);
    c.send(b"GET /slow?ms=700 HTTP/1.1\r\nHost: t\r\n\r\n");
    // In flight: weir has reached the origin.
    support::wait_until(
        Duration::from_secs(5),
        "the request to reach the origin",
        || o.accepted() == 1,
    );
    w.terminate();
    let r = c.read();
    assert_eq!((r.status, r.text().as_str()), (200, "slow"));
    assert_eq!(r.header("connection"), Some("close"));
    let status = w.wait_exit(Duration::from_secs(5));
    assert!(status.success(), "exit status {status}");
    w.wait_stderr(
        &format!("{bin}: stopped on SIGTERM: 1 in-flight request finished, 0 cut"),
        Duration::from_secs(5),
    );
}

/// The signals an operator's tools send for other reasons never kill:
/// SIGHUP (logrotate, `systemctl reload`), SIGUSR1, SIGUSR2, each said
/// once on stderr; the gateway goes on serving.
/// When the grace period runs out, what is still in flight is cut: the
/// client's connection closes, the request still gets its access-log line
/// (status 0, a note), and the stop line counts it.
fn a_grace_period_that_runs_out_cuts_and_says_so(bin: &str) {
    use std::io::Read;
    let o = Origin::start("a");
    let dir = support::scratch_dir("grace");
    let cfg = Weir::write_config(&dir, &upstream_section("round-robin", &[(o.addr, 1)], ""));
    let mut cmd = Command::new(support::binary(bin));
    cmd.arg("--config").arg(&cfg).args(["--grace", "1"]);
    let mut w = Weir::spawn(cmd, dir);
    let mut c = Client::connect(w.addr);
    c.send(b"GET /slow?ms=5000 HTTP/1.1\r\nHost: t\r\n\r\n");
    support::wait_until(
        Duration::from_secs(5),
        "the request to reach the origin",
        || o.accepted() == 1,
    );
    let t = Instant::now();
    w.terminate();
    assert!(c.try_read().is_err(), "a response came after all");
    let status = w.wait_exit(Duration::from_secs(5));
    assert!(status.success(), "exit status {status}");
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t.elapsed()
    );
    w.wait_stderr(
        &format!("{bin}: stopped on SIGTERM: 0 in-flight requests finished, 1 cut"),
        Duration::from_secs(5),
    );
    let mut log = String::new();
    w.child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(
        log.contains("\"GET /slow?ms=5000\" 0 ") && log.contains("cut: grace period over"),
        "{log}"
    );
}

fn check_reports_a_broken_config(bin: &str) {
    let dir = support::scratch_dir("check");
    let path = dir.join("bad.toml");
    let check = |text: &str| {
        std::fs::write(&path, text).unwrap();
        let out = Command::new(support::binary(bin))
            .args(["--check", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), err)
    };
    let (code, err) = check("listen = \"127.0.0.1:1\"\n[[upstream]]\nname = \"a\"\nbalancer = \"fastest\"\nservers = [{ addr = \"nope\" }]\n");
    assert_eq!(code, Some(1));
    assert!(
        err.contains("bad.toml:4: upstream[0].balancer: unknown balancer \"fastest\""),
        "{err}"
    );
    assert!(
        err.contains("bad.toml:5: upstream[0].servers[0].addr"),
        "{err}"
    );
    // A key the schema does not know, a value of the wrong type and what
    // the rest of the file has: all of it, each on its line.
    let (code, err) = check("listen = \"127.0.0.1:1\"\nworkers = \"two\"\n[[upstream]]\nname = \"a\"\nbalancer = \"fastest\"\nbogus = 1\nservers = [{ addr = \"127.0.0.1:2\" }]\n");
    assert_eq!(code, Some(1));
    assert!(
        err.contains("bad.toml:2: workers: string \"two\", expected a positive whole number")
            && err.contains("bad.toml:5: upstream[0].balancer: unknown balancer \"fastest\"")
            && err.contains("bad.toml:6: bogus: unknown field `bogus`")
            && err.lines().count() == 3,
        "{err}"
    );
    let (code, _) = check("listen = \"127.0.0.1:1\"\n[[upstream]]\nname = \"a\"\nservers = [{ addr = \"127.0.0.1:2\" }]\n");
    assert_eq!(code, Some(0));
    let out = Command::new(support::binary(bin))
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

fn version_and_help_name_the_binary(bin: &str) {
    let run = |arg: &str| {
        let out = Command::new(support::binary(bin))
            .arg(arg)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{arg}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(
        run("--version"),
        format!("{bin} {}\n", env!("CARGO_PKG_VERSION"))
    );
    let help = run("--help");
    assert!(
        help.starts_with("weir: an HTTP/1.1 reverse proxy and API gateway"),
        "{help}"
    );
    assert!(help.contains(&format!("Usage: {bin} ")), "{help}");
}

/// `demo --listen ADDR` works, and the demo does what its banner says.
fn demo_does_what_its_banner_says(bin: &str) {
    let mut cmd = Command::new(support::binary(bin));
    cmd.args(["demo", "--listen", "127.0.0.1:0", "--quiet"]);
    let w = Weir::spawn(cmd, support::scratch_dir("demo"));
    let seen: String = (0..6)
        .map(|_| {
            get(w.addr, "/")
                .text()
                .trim_start_matches("hello from ")
                .trim()
                .to_string()
        })
        .collect();
    assert_eq!(seen, "abaaba");
}

/// `replay` takes its options after the subcommand, as the README shows.
fn replay_takes_options_after_the_subcommand(bin: &str) {
    let dir = support::scratch_dir("replay");
    let cfg = Weir::write_config(
        &dir,
        "[[upstream]]\nname = \"o\"\nservers = [{ addr = \"127.0.0.1:9009\" }]\n",
    );
    let req = dir.join("req.bin");
    std::fs::write(&req, b"GET /r HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let text = support::replay(
        bin,
        &["--config".as_ref(), cfg.as_os_str(), req.as_os_str()],
    );
    assert!(
        text.contains("== weir -> upstream 127.0.0.1:9009"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A closed stdout (the access log's reader went away) is said once on
/// stderr, and the gateway keeps serving.
fn a_broken_access_log_pipe_is_reported_once(bin: &str) {
    let o = Origin::start("a");
    let mut w = one(bin, &o, "");
    drop(w.child.stdout.take());
    for _ in 0..5 {
        assert_eq!(get(w.addr, "/name").text(), "a");
    }
    w.wait_stderr("access log: cannot write", Duration::from_secs(5));
    // More requests, more failed writes: still the one line.
    for _ in 0..5 {
        assert_eq!(get(w.addr, "/name").text(), "a");
    }
    let lines = w.stderr.lock().unwrap();
    let reports = lines.iter().filter(|l| l.contains("access log")).count();
    assert_eq!(reports, 1, "{lines:?}");
}

/// Quick-mode flags follow one rule: never with --config.
fn quick_mode_flags_never_mix_with_a_config(bin: &str) {
    let run = |args: &[&str]| {
        let out = Command::new(support::binary(bin))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for flags in [
        &["--balancer", "p2c"][..],
        &["--hash-key", "path"],
        &["--listen", "127.0.0.1:1"],
        &["--upstream", "127.0.0.1:1"],
    ] {
        let mut args = vec!["--check", "--config", "weir.toml"];
        args.extend_from_slice(flags);
        let (code, err) = run(&args);
        assert_eq!(code, Some(1), "{flags:?}");
        assert!(
            err.contains("cannot be combined with the quick-mode flags"),
            "{err}"
        );
    }
    let quick = [
        "--check",
        "--listen",
        "127.0.0.1:1",
        "--upstream",
        "127.0.0.1:2",
    ];
    let (code, err) = run(&[&quick[..], &["--hash-key", "path"]].concat());
    assert_eq!(
        (code, err.trim()),
        (
            Some(1),
            format!("{bin}: --hash-key needs --balancer consistent-hash").as_str()
        )
    );
    let (code, _) = run(&[
        &quick[..],
        &["--balancer", "consistent-hash", "--hash-key", "header:X-U"],
    ]
    .concat());
    assert_eq!(code, Some(0));
    let (code, _) = run(&[
        &quick[..],
        &["--balancer", "consistent-hash", "--hash-key", "nope"],
    ]
    .concat());
    assert_eq!(code, Some(1));
}

fn address_in_use_is_one_clear_line(bin: &str) {
    let o = Origin::start("a");
    let w = one(bin, &o, "");
    let out = Command::new(support::binary(bin))
        .args([
            "--listen",
            &w.addr.to_string(),
            "--upstream",
            &o.addr.to_string(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("address already in use") && err.lines().count() == 1,
        "{err}"
    );
}

fn forwarded_headers_reach_the_upstream(bin: &str) {
    let o = Origin::start("a");
    let w = one(bin, &o, "");
    let mut c = Client::connect(w.addr);
    c.send(b"GET /headers HTTP/1.1\r\nHost: front\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n\r\n");
    let text = c.read().text();
    assert!(text.contains("x-forwarded-for: 127.0.0.1\n"), "{text}");
    assert!(text.contains("x-forwarded-host: front\n"), "{text}");
    assert!(
        !text.contains("x-hop") && !text.contains("connection"),
        "{text}"
    );
}

fn max_connections_holds(bin: &str) {
    let o = Origin::start("a");
    let w = one(bin, &o, "[limits]\nmax_connections = 2\n");
    // Two connections busy with a slow request each: never closed for
    // room, so a third waits in the backlog until one is done.
    let mut a = Client::connect(w.addr);
    let mut b = Client::connect(w.addr);
    for c in [&mut a, &mut b] {
        c.send(b"GET /slow?ms=1500 HTTP/1.1\r\nHost: t\r\n\r\n");
    }
    std::thread::sleep(Duration::from_millis(100));
    let mut third = Client::connect(w.addr);
    third.send(b"GET /name HTTP/1.1\r\nHost: t\r\n\r\n");
    third
        .r
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(third.try_read().is_err(), "a third connection was served");
    // Once one is answered it is idle, and closed to make room.
    for c in [&mut a, &mut b] {
        assert_eq!(c.read().status, 200);
    }
    third
        .r
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(third.read().text(), "a");
    // The first of them to be idle made room; the other one goes on.
    let mut alive = 0;
    for c in [&mut a, &mut b] {
        c.send(b"GET /name HTTP/1.1\r\nHost: t\r\n\r\n");
        alive += usize::from(c.try_read().is_ok_and(|r| r.status == 200));
    }
    assert_eq!(alive, 1, "exactly one was closed for room");
}

fn out_of_descriptors_backs_off_and_recovers(bin: &str) {
    let o = Origin::start("a");
    let dir = support::scratch_dir("emfile");
    let cfg = Weir::write_config(&dir, &upstream_section("round-robin", &[(o.addr, 1)], ""));
    // 64 descriptors: a few go to the process itself, the rest run out fast.
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!(
        "ulimit -n 64 && exec {} --quiet --config {}",
        support::binary(bin).display(),
        cfg.display()
    ));
    let mut w = Weir::spawn(cmd, dir);
    let hogs: Vec<_> = (0..100)
        .filter_map(|_| std::net::TcpStream::connect(w.addr).ok())
        .collect();
    w.wait_stderr("pausing accepts", Duration::from_secs(10));
    assert!(
        w.child.try_wait().unwrap().is_none(),
        "the gateway died out of descriptors"
    );
    drop(hogs);
    // Accepts resume after the back-off: a request gets through.
    support::wait_until(
        Duration::from_secs(10),
        "a request after the back-off",
        || client::try_get(w.addr, "/name").is_some_and(|r| r.status == 200 && r.text() == "a"),
    );
}

each_frontend!(
    out_of_descriptors_backs_off_and_recovers,
    max_connections_holds,
    keep_alive_reuses_connections,
    pipelined_requests_come_back_in_order,
    ten_mib_chunked_both_ways_byte_exact,
    curl_gets_and_uploads,
    dead_upstream_gives_502,
    slow_upstream_gives_504,
    slow_head_gives_408,
    strict_request_rules_hold_end_to_end,
    paths_are_normalised_before_routing,
    pooled_connection_closes_after_pool_idle,
    early_answer_survives_an_unread_body,
    round_robin_and_smooth_weighted,
    consistent_hash_sticks_by_header,
    failover_when_an_upstream_dies,
    websocket_upgrade_tunnels,
    graceful_shutdown_completes_in_flight,
    a_grace_period_that_runs_out_cuts_and_says_so,
    check_reports_a_broken_config,
    address_in_use_is_one_clear_line,
    version_and_help_name_the_binary,
    quick_mode_flags_never_mix_with_a_config,
    demo_does_what_its_banner_says,
    a_broken_access_log_pipe_is_reported_once,
    replay_takes_options_after_the_subcommand,
    forwarded_headers_reach_the_upstream,
);
