//! Scale-out end to end: a real `redis-server` (started and stopped by
//! the tests on a loopback port) shared by a weir-mio and a weir-smol
//! instance, in both modes; Redis killed mid-run and back; forward auth
//! against a small auth service.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{client::Client, upstream::Origin, Weir};

/// A redis-server of the test's own.
struct Redis {
    child: Child,
    port: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Redis {
    fn start(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Debian package redis-server) must be installed");
        let r = Redis { child, port };
        support::wait_until(Duration::from_secs(10), "redis answers PING", || r.ping());
        r
    }

    fn ping(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        let mut got = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut got).is_ok() && &got == b"+PONG\r\n"
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn limited(redis_port: u16, origin: SocketAddr, mode: &str) -> String {
    format!(
        r#"workers = 2
[redis]
url = "redis://127.0.0.1:{redis_port}/0"
timeout = 200
[[upstream]]
name = "app"
servers = [{{ addr = "{origin}" }}]
[[middleware]]
name = "shared"
kind = "rate-limit"
key = ["route"]
rate = 100
per = 1000
burst = 100
store = "redis"
{mode}
on_store_error = "allow"
[[route]]
name = "api"
upstream = "app"
middleware = ["shared"]
"#
    )
}

/// Keep-alive clients against `addrs` until `stop`: counts of 200 and 429.
fn hammer(
    addrs: &[SocketAddr],
    clients: usize,
    stop: Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<(u64, u64)>> {
    let mut handles = Vec::new();
    for i in 0..clients {
        let addr = addrs[i % addrs.len()];
        let stop = stop.clone();
        handles.push(std::thread::spawn(move || {
            let (mut ok, mut refused) = (0, 0);
            let mut c = Client::connect(addr);
            while !stop.load(Ordering::Relaxed) {
                c.send(b"GET /name HTTP/1.1\r\nHost: t\r\n\r\n");
                match c.try_read() {
                    Ok(r) if r.status == 200 => ok += 1,
                    Ok(r) if r.status == 429 => refused += 1,
                    Ok(r) => panic!("unexpected status {}", r.status),
                    Err(_) => c = Client::connect(addr),
                }
                // Not a flood: about 400 requests per second in all.
                std::thread::sleep(Duration::from_millis(20));
            }
            (ok, refused)
        }));
    }
    handles
}

fn two_instances(config: &str) -> (Weir, Weir) {
    (
        Weir::start_with("weir-mio", config, &["--quiet"]),
        Weir::start_with("weir-smol", config, &["--quiet"]),
    )
}

/// Two instances (weir-mio and weir-smol) share one limit of 100/s
/// (burst 100) through Redis for 5 s: combined admissions within the
/// bound README's "Running several instances" gives for the mode.
fn shared_limit_holds_across_instances(mode: &str, bound: u64) {
    let mut redis = Redis::start(free_port());
    let o = Origin::start("a");
    let (a, b) = two_instances(&limited(redis.port, o.addr, mode));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let handles = hammer(&[a.addr, b.addr], 8, stop.clone());
    std::thread::sleep(Duration::from_secs(5));
    stop.store(true, Ordering::Relaxed);
    let (mut ok, mut refused) = (0, 0);
    for h in handles {
        let (o, r) = h.join().expect("client thread");
        ok += o;
        refused += r;
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!("{mode}: {ok} admitted, {refused} refused in {secs:.2} s");
    assert!(refused > 0, "the limit refused nothing: {ok} admitted");
    assert!(
        ok <= bound,
        "{mode}: {ok} admitted over {secs:.2} s, bound {bound}"
    );
    // And the limit is shared, not per instance (which would admit ~1000+200).
    assert!(ok >= 450, "{mode}: only {ok} admitted");
    redis.kill();
}

#[test]
fn an_exact_limit_is_shared_by_a_mio_and_a_smol_instance() {
    // rate × D + burst, D = 5 s plus the clients' last round trip.
    shared_limit_holds_across_instances("mode = \"exact\"", 100 * 5 + 100 + 10);
}

#[test]
fn a_local_first_limit_is_shared_within_its_bound() {
    // rate × D + burst + (n − 1) × (burst + rate × sync), n = 2, sync 0.1 s.
    shared_limit_holds_across_instances(
        "mode = \"local-first\"\nsync_ms = 100",
        100 * 5 + 100 + (100 + 10) + 10,
    );
}

/// Redis killed mid-run: `on_store_error = "allow"` admits everything,
/// one log line says so; Redis back on the same port: limited again,
/// without a restart.
#[test]
fn redis_killed_mid_run_fails_open_and_recovers() {
    let port = free_port();
    let mut redis = Redis::start(port);
    let o = Origin::start("a");
    let config = limited(port, o.addr, "mode = \"exact\"");
    let w = Weir::start_with("weir-mio", &config, &["--quiet"]);
    let mut c = Client::connect(w.addr);
    // (admitted, refused, the most a 100/s limit with burst 100 admits
    // in the time the run took).
    let mut statuses = |n: usize| -> (u64, u64, u64) {
        let started = Instant::now();
        let (mut ok, mut refused) = (0, 0);
        for _ in 0..n {
            c.send(b"GET /name HTTP/1.1\r\nHost: t\r\n\r\n");
            match c.read().status {
                200 => ok += 1,
                429 => refused += 1,
                s => panic!("status {s}"),
            }
        }
        let most = 100 + (started.elapsed().as_secs_f64() * 100.0).ceil() as u64;
        (ok, refused, most)
    };
    let (ok, refused, most) = statuses(500);
    assert!(
        ok >= 100 && ok <= most && refused > 0,
        "{ok} admitted, {refused} refused, at most {most}"
    );
    redis.kill();
    let (ok, refused, _) = statuses(50);
    assert_eq!((ok, refused), (50, 0), "fail open while Redis is down");
    w.wait_stderr("fail: connection refused", Duration::from_secs(5));
    let _redis = Redis::start(port);
    let (ok, refused, most) = statuses(500);
    assert!(
        ok >= 100 && ok <= most && refused > 0,
        "a fresh Redis, limited again: {ok} admitted, {refused} refused, at most {most}"
    );
    w.wait_stderr("succeed again", Duration::from_secs(5));
}

/// A small auth service: `Bearer good` is ada; `Bearer slow` waits 3 s;
/// anything else is 401 with a body. Counts the requests it got.
fn auth_service() -> (SocketAddr, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind auth");
    let addr = listener.local_addr().expect("addr");
    let asked = Arc::new(AtomicU64::new(0));
    let count = asked.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let count = count.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(&stream);
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                count.fetch_add(1, Ordering::Relaxed);
                let answer = if head.contains("Authorization: Bearer good\r\n")
                    && head.contains("X-Forwarded-Uri: /name\r\n")
                {
                    "HTTP/1.1 200 OK\r\nX-User: ada\r\nContent-Length: 0\r\n\r\n".to_owned()
                } else if head.contains("Bearer slow") {
                    std::thread::sleep(Duration::from_secs(3));
                    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_owned()
                } else {
                    "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\nContent-Length: 7\r\n\r\ndenied\n".to_owned()
                };
                let _ = (&stream).write_all(answer.as_bytes());
            });
        }
    });
    (addr, asked)
}

fn forward_auth_allows_relays_a_refusal_and_times_out(bin: &str) {
    let (auth, asked) = auth_service();
    let o = Origin::start("a");
    let config = format!(
        r#"[[upstream]]
name = "app"
servers = [{{ addr = "{}" }}]
[[middleware]]
name = "sso"
kind = "forward-auth"
url = "http://{auth}/check"
copy_response_headers = ["X-User"]
timeout = 500
[[route]]
upstream = "app"
middleware = ["sso"]
"#,
        o.addr
    );
    let w = Weir::start_with(bin, &config, &["--quiet"]);
    let mut c = Client::connect(w.addr);
    c.send(b"GET /name HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer good\r\n\r\n");
    let r = c.read();
    assert_eq!((r.status, r.text()), (200, "a".to_owned()));
    // The upstream saw the user the service named.
    c.send(b"GET /headers HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer good\r\n\r\n");
    let r = c.read();
    assert_eq!(
        r.status, 401,
        "X-Forwarded-Uri /headers is not allowed by this service"
    );
    c.send(b"GET /name HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer bad\r\n\r\n");
    let r = c.read();
    assert_eq!((r.status, r.text()), (401, "denied\n".to_owned()));
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    let started = Instant::now();
    c.send(b"GET /name HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer slow\r\n\r\n");
    let r = c.read();
    assert_eq!(r.status, 500);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_millis(2000),
        "{took:?}"
    );
    // The connection goes on after all of it.
    c.send(b"GET /name HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer good\r\n\r\n");
    assert_eq!(c.read().status, 200);
    assert_eq!(asked.load(Ordering::Relaxed), 5);
}

/// `replay --calls`: the recorded replies of the auth service drive the
/// same decisions offline, and the transcript shows each call.
fn replay_scripts_the_calls_from_a_recording(bin: &str) {
    let dir = support::scratch_dir("replay-calls");
    let cfg = Weir::write_config(
        &dir,
        "[[upstream]]\nname = \"o\"\nservers = [{ addr = \"127.0.0.1:9009\" }]\n[[middleware]]\nkind = \"forward-auth\"\nurl = \"http://127.0.0.1:9100/check\"\ncopy_response_headers = [\"X-User\"]\n",
    );
    let req = dir.join("req.bin");
    std::fs::write(
        &req,
        b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
    )
    .unwrap();
    let calls = dir.join("calls.bin");
    std::fs::write(
        &calls,
        b"HTTP/1.1 200 OK\r\nX-User: ada\r\nContent-Length: 0\r\n\r\nHTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\n\r\nnope\n",
    )
    .unwrap();
    let text = support::replay(
        bin,
        &[
            "--config".as_ref(),
            cfg.as_os_str(),
            "--calls".as_ref(),
            calls.as_os_str(),
            req.as_os_str(),
        ],
    );
    assert!(
        text.contains("== weir -> service 127.0.0.1:9100 (call 1, "),
        "{text}"
    );
    assert!(
        text.contains("== weir -> service 127.0.0.1:9100 (call 2, "),
        "{text}"
    );
    assert!(text.contains("X-User: ada\\r\\n"), "{text}");
    assert!(text.contains("HTTP/1.1 403 Forbidden"), "{text}");
    assert!(text.contains("nope"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

each_frontend!(
    forward_auth_allows_relays_a_refusal_and_times_out,
    replay_scripts_the_calls_from_a_recording,
);
