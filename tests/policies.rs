//! End-to-end policies on both binaries: a rate limit holds exactly
//! across workers, local answers keep keep-alive connections.

mod support;

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::client::Client;
use support::upstream::Origin;
use support::Weir;

/// With 2 workers, 20 keep-alive clients hammering one 50/s limit (burst
/// 5, which absorbs the scheduling jitter of the 20 ms slots) for 5 s get
/// 50/s admitted between them beyond the burst, within 2%; every refusal is
/// a 429 on a connection that stays open.
fn a_rate_limit_is_exact_across_workers(bin: &str) {
    let o = Origin::start("a");
    let config = format!(
        "workers = 2\n[[upstream]]\nname = \"app\"\nservers = [{{ addr = \"{}\" }}]\n[[middleware]]\nname = \"limit\"\nkind = \"rate-limit\"\nkey = [\"route\"]\nrate = 50\nper = 1000\nburst = 5\n[[route]]\nupstream = \"app\"\nmiddleware = [\"limit\"]\n",
        o.addr
    );
    let dir = support::scratch_dir("limit");
    let path = Weir::write_config(&dir, &config);
    let mut cmd = Command::new(support::binary(bin));
    cmd.arg("--config").arg(&path).arg("--quiet");
    let w = Weir::spawn(cmd, dir);
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let clients: Vec<_> = (0..20)
        .map(|_| {
            let (addr, stop) = (w.addr, stop.clone());
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                let (mut admitted, mut refused) = (0u32, 0u32);
                while !stop.load(Ordering::SeqCst) {
                    c.send(b"GET /name HTTP/1.1\r\nHost: t\r\n\r\n");
                    match c
                        .try_read()
                        .expect("answered on the same connection")
                        .status
                    {
                        200 => admitted += 1,
                        429 => refused += 1,
                        s => panic!("status {s}"),
                    }
                }
                (admitted, refused)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(5));
    stop.store(true, Ordering::SeqCst);
    let results: Vec<(u32, u32)> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let secs = start.elapsed().as_secs_f64();
    let admitted: u32 = results.iter().map(|r| r.0).sum();
    let refused: u32 = results.iter().map(|r| r.1).sum();
    let per_sec = f64::from(admitted - 5) / secs;
    eprintln!("{bin}: {admitted} admitted, {refused} refused in {secs:.2} s: {per_sec:.2}/s");
    assert!(
        (per_sec - 50.0).abs() <= 1.0,
        "{admitted} admitted in {secs:.2} s = {per_sec:.2}/s ({refused} refused)"
    );
    assert!(
        refused > admitted,
        "the clients did hammer: {refused} refused"
    );
}

/// A keys file read next to the config; a reload reads it again (the
/// layer is rebuilt when the file changed, even if its entry did not).
fn api_keys_from_a_file_and_a_reload_that_changes_it(bin: &str) {
    let o = Origin::start("a");
    let dir = support::scratch_dir("keys");
    let sha = |k: &str| {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {k} | sha256sum"))
            .output()
            .unwrap();
        format!(
            "sha256:{}",
            String::from_utf8_lossy(&out.stdout)
                .split(' ')
                .next()
                .unwrap()
        )
    };
    std::fs::write(dir.join("keys.txt"), format!("one {}\n", sha("k1"))).unwrap();
    let config = format!(
        "workers = 1\n[[upstream]]\nname = \"app\"\nservers = [{{ addr = \"{}\" }}]\n[[middleware]]\nname = \"keys\"\nkind = \"api-key\"\nkeys_file = \"keys.txt\"\n[[route]]\nupstream = \"app\"\nmiddleware = [\"keys\"]\n",
        o.addr
    );
    let path = Weir::write_config(&dir, &config);
    let mut cmd = Command::new(support::binary(bin));
    cmd.arg("--config").arg(&path).arg("--quiet");
    let w = Weir::spawn(cmd, dir.clone());
    let with = |key: &str| {
        let mut c = Client::connect(w.addr);
        c.send(format!("GET /name HTTP/1.1\r\nHost: t\r\nX-Api-Key: {key}\r\n\r\n").as_bytes());
        c.read().status
    };
    assert_eq!((with("k1"), with("k2")), (200, 401));
    std::fs::write(dir.join("keys.txt"), format!("two {}\n", sha("k2"))).unwrap();
    let sent = Command::new("kill")
        .args(["-HUP", &w.child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    w.wait_stderr("generation 2: middleware ~keys", Duration::from_secs(10));
    assert_eq!((with("k1"), with("k2")), (401, 200));
}

/// curl against basic auth over a file made by Apache's own `htpasswd`
/// (bcrypt, MD5 and SHA entries).
fn curl_against_basic_auth_with_a_real_htpasswd_file(bin: &str) {
    let o = Origin::start("a");
    let dir = support::scratch_dir("htpasswd");
    let file = dir.join("users.htpasswd");
    for (flags, user) in [("-cbB", "bc"), ("-bm", "md5"), ("-bs", "sha")] {
        let made = Command::new("htpasswd")
            .arg(flags)
            .arg(&file)
            .arg(user)
            .arg("s3cret")
            .output()
            .expect("htpasswd (apache2-utils) is installed");
        assert!(made.status.success(), "{made:?}");
    }
    let config = format!(
        "workers = 1\n[[upstream]]\nname = \"app\"\nservers = [{{ addr = \"{}\" }}]\n[[middleware]]\nname = \"users\"\nkind = \"basic-auth\"\nusers_file = \"users.htpasswd\"\n[[route]]\nupstream = \"app\"\nmiddleware = [\"users\"]\n",
        o.addr
    );
    let path = Weir::write_config(&dir, &config);
    let mut cmd = Command::new(support::binary(bin));
    cmd.arg("--config").arg(&path).arg("--quiet");
    let w = Weir::spawn(cmd, dir);
    let curl = |user: &str| {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-u", user])
            .arg(format!("http://{}/name", w.addr))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for user in ["bc", "md5", "sha"] {
        assert_eq!(curl(&format!("{user}:s3cret")), "200", "{user}");
        assert_eq!(curl(&format!("{user}:wrong")), "401", "{user}");
    }
    assert_eq!(curl("nobody:s3cret"), "401");
}

/// A real socket sends PROXY v1 and v2 headers: the access log shows the
/// client they name; a connection without one gets no answer.
fn proxy_protocol_v1_and_v2_end_to_end(bin: &str) {
    use std::io::{Read, Write};
    let (_o, w, log) = support::logged_gateway(bin, "proxy-protocol", "proxy_protocol = true\n");
    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
    v2.extend_from_slice(&[203, 0, 113, 9, 10, 0, 0, 1, 0x30, 0x39, 0x01, 0xbb]);
    for header in [
        b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n".to_vec(),
        v2,
    ] {
        let mut c = Client::connect(w.addr);
        let mut bytes = header;
        bytes.extend_from_slice(b"GET /name HTTP/1.1\r\nHost: t\r\n\r\n");
        c.send(&bytes);
        assert_eq!(c.read().text(), "a");
    }
    let text = support::wait_for_log(&log, "two log lines", |t| t.lines().count() == 2);
    assert!(
        text.contains(" 192.0.2.1:56324 \"GET /name\" 200"),
        "{text}"
    );
    assert!(
        text.contains(" 203.0.113.9:12345 \"GET /name\" 200"),
        "{text}"
    );
    let mut raw = std::net::TcpStream::connect(w.addr).unwrap();
    raw.write_all(b"GET /name HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let _ = raw.read_to_end(&mut got);
    assert!(got.is_empty(), "no answer without a PROXY header");
}

/// Behind a trusted proxy: the client is the address the proxy names (the
/// access log says so), and the entry appended to `X-Forwarded-For` is
/// the proxy the request came from, so the upstream sees both hops.
fn a_trusted_proxy_is_the_hop_appended_to_x_forwarded_for(bin: &str) {
    let settings = "[client_ip]\ntrusted_proxies = [\"127.0.0.0/8\"]\n";
    let (_o, w, log) = support::logged_gateway(bin, "trusted-proxy", settings);
    let mut c = Client::connect(w.addr);
    c.send(b"GET /headers HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 198.51.100.4\r\n\r\n");
    let seen = c.read().text().to_ascii_lowercase();
    assert!(
        seen.contains("x-forwarded-for: 198.51.100.4, 127.0.0.1\n"),
        "{seen}"
    );
    support::wait_for_log(&log, "a log line", |t| t.contains(" 198.51.100.4:"));
}

each_frontend!(
    a_trusted_proxy_is_the_hop_appended_to_x_forwarded_for,
    proxy_protocol_v1_and_v2_end_to_end,
    curl_against_basic_auth_with_a_real_htpasswd_file,
    a_rate_limit_is_exact_across_workers,
    api_keys_from_a_file_and_a_reload_that_changes_it,
    several_listeners_each_with_its_own_proxy_protocol,
    chunk_extensions_and_forbidden_trailers_never_reach_the_upstream,
);

/// `listen` as a list: a plain listener and a PROXY-protocol one on the
/// same gateway, each applying its own setting.
fn several_listeners_each_with_its_own_proxy_protocol(bin: &str) {
    let o = Origin::start("a");
    let dir = support::scratch_dir("listeners");
    let log = dir.join("access.log");
    let config = format!(
        "listen = [\"127.0.0.1:0\", {{ addr = \"127.0.0.1:0\", proxy_protocol = true }}]\nworkers = 2\n[log]\npath = \"{}\"\n[[upstream]]\nname = \"app\"\nservers = [{{ addr = \"{}\" }}]\n",
        log.display(),
        o.addr
    );
    let path = dir.join("weir.toml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = Command::new(support::binary(bin));
    cmd.arg("--config").arg(&path);
    let w = Weir::spawn(cmd, dir);
    let addrs = w.listen_addrs(2);
    assert_eq!(addrs.len(), 2, "{addrs:?}");
    assert_ne!(addrs[0], addrs[1]);
    for _ in 0..3 {
        let mut plain = Client::connect(addrs[0]);
        plain.send(b"GET /name HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(plain.read().text(), "a");
        let mut proxied = Client::connect(addrs[1]);
        proxied.send(
            b"PROXY TCP4 192.0.2.7 198.51.100.2 40000 443\r\nGET /name HTTP/1.1\r\nHost: t\r\n\r\n",
        );
        assert_eq!(proxied.read().text(), "a");
    }
    let text = support::wait_for_log(&log, "six log lines", |t| t.lines().count() == 6);
    assert_eq!(
        text.matches(" 192.0.2.7:40000 \"GET /name\" 200").count(),
        3,
        "{text}"
    );
    assert_eq!(
        text.lines().filter(|l| !l.contains("192.0.2.7")).count(),
        3,
        "{text}"
    );
}

/// Chunked uploads go upstream re-framed: extensions dropped, trailers
/// re-serialised and filtered (a real socket on both sides).
fn chunk_extensions_and_forbidden_trailers_never_reach_the_upstream(bin: &str) {
    let origin = support::recorder::Recorder::start();
    let w = Weir::start_with(
        bin,
        &format!(
            "workers = 1\n[[upstream]]\nname = \"app\"\nservers = [{{ addr = \"{}\" }}]\n",
            origin.addr
        ),
        &["--quiet"],
    );
    let mut c = Client::connect(w.addr);
    c.send(b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3 ; a=\"q;x\"\r\nabc\r\n2;b\r\nde\r\n0\r\nX-Sum: 5\r\nContent-Length: 99\r\nHost: evil\r\n\r\n");
    let r = c.read();
    assert_eq!((r.status, r.text()), (200, "POST /up 5\n".to_owned()));
    let got = origin.received.lock().unwrap().concat();
    let got = String::from_utf8_lossy(&got);
    assert!(
        got.ends_with("\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 5\r\n\r\n"),
        "{got}"
    );
}
