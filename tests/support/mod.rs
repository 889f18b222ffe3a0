//! End-to-end test support: the real binaries, real upstream servers,
//! raw-socket clients.

#![allow(dead_code)]

pub mod client;
pub mod recorder;
pub mod upstream;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Every frontend binary the suite runs against.
pub const FRONTENDS: &[&str] = &["weir-mio", "weir-smol"];

/// Generates one `#[test]` per frontend for a `fn(&str)` test body.
#[macro_export]
macro_rules! each_frontend {
    ($($name:ident),* $(,)?) => {
        mod mio { $( #[test] fn $name() { super::$name("weir-mio") } )* }
        mod smol { $( #[test] fn $name() { super::$name("weir-smol") } )* }
    };
}

/// Runs `BIN replay ARGS...` and returns its transcript (stdout),
/// asserting that it exits 0.
pub fn replay(bin: &str, args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(binary(bin))
        .arg("replay")
        .args(args)
        .output()
        .expect("run replay");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Path of a frontend binary, built once per test run.
pub fn binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", "weir-mio", "-p", "weir-smol"])
            .current_dir(&root)
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building the frontends failed");
    });
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    target.join("debug").join(name)
}

/// A loopback address that refuses connections for as long as the
/// returned socket lives (bound, never listening): a dead upstream.
pub fn refusing_addr() -> (socket2::Socket, SocketAddr) {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    s.bind(&any.into()).expect("bind");
    let addr = s.local_addr().unwrap().as_socket().unwrap();
    (s, addr)
}

/// Polls `done` every 10 ms until it holds; panics with `what` after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A running gateway process, killed on drop.
pub struct Weir {
    pub child: Child,
    /// Where it listens, as it announced (its config asks for port 0).
    pub addr: SocketAddr,
    pub dir: PathBuf,
    /// Every line it wrote to stderr so far.
    pub stderr: Arc<Mutex<Vec<String>>>,
}

/// A fresh directory for one gateway's files.
pub fn scratch_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("weir-test-{}-{tag}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Weir {
    /// Starts `bin` with `config` (its `listen` line is added here).
    pub fn start(bin: &str, config: &str) -> Weir {
        Self::start_with(bin, config, &[])
    }

    pub fn start_with(bin: &str, config: &str, args: &[&str]) -> Weir {
        let dir = scratch_dir(bin);
        let path = Self::write_config(&dir, config);
        let mut cmd = Command::new(binary(bin));
        cmd.arg("--config").arg(&path).args(args);
        Self::spawn(cmd, dir)
    }

    /// Writes `config` with `listen = "127.0.0.1:0"` into `dir`.
    pub fn write_config(dir: &std::path::Path, config: &str) -> PathBuf {
        let path = dir.join("weir.toml");
        std::fs::write(&path, format!("listen = \"127.0.0.1:0\"\n{config}")).unwrap();
        path
    }

    /// Runs `cmd` (a gateway whose config listens on port 0) and waits
    /// for it to announce its address; its stderr is collected from then on.
    pub fn spawn(mut cmd: Command, dir: PathBuf) -> Weir {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn gateway");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let pipe = child.stderr.take().expect("stderr");
        let lines = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Some(a) = line.strip_prefix("weir: listening on ") {
                    let _ = tx.send(a.parse::<SocketAddr>().ok());
                }
                lines.lock().unwrap().push(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Some(addr)) => addr,
            _ => {
                let _ = child.kill();
                panic!(
                    "the gateway did not announce its address; stderr: {:?}",
                    stderr.lock().unwrap()
                );
            }
        };
        Weir {
            child,
            addr,
            dir,
            stderr,
        }
    }

    /// The admin listener's address, as the gateway announced it.
    pub fn admin_addr(&self) -> SocketAddr {
        self.wait_stderr("admin listening on ", Duration::from_secs(10));
        let lines = self.stderr.lock().unwrap();
        let addr = lines
            .iter()
            .find_map(|l| l.split("admin listening on ").nth(1))
            .expect("announced");
        addr.parse().expect("an address")
    }

    /// Every address the gateway announced it listens on, in order
    /// (waits for `n` of them).
    pub fn listen_addrs(&self, n: usize) -> Vec<SocketAddr> {
        let found = || -> Vec<SocketAddr> {
            self.stderr
                .lock()
                .unwrap()
                .iter()
                .filter_map(|l| l.strip_prefix("weir: listening on "))
                .filter_map(|a| a.parse().ok())
                .collect()
        };
        wait_until(Duration::from_secs(10), "every listener announced", || {
            found().len() >= n
        });
        found()
    }

    /// Waits until a stderr line contains `needle`.
    pub fn wait_stderr(&self, needle: &str, limit: Duration) {
        wait_until(limit, needle, || {
            self.stderr
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains(needle))
        });
    }

    /// Waits for the process to exit; its status.
    pub fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let mut status = None;
        wait_until(limit, "the gateway to exit", || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        status.unwrap()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }
}

impl Drop for Weir {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An `[[upstream]]` section named `app` over these servers.
pub fn upstream_section(balancer: &str, servers: &[(SocketAddr, u32)], extra: &str) -> String {
    let list: Vec<String> = servers
        .iter()
        .map(|(a, w)| format!("{{ addr = \"{a}\", weight = {w} }}"))
        .collect();
    format!(
        "workers = 1\n[[upstream]]\nname = \"app\"\nbalancer = \"{balancer}\"\nservers = [{}]\n{extra}\n",
        list.join(", ")
    )
}

/// A one-worker gateway with `settings` (top-level keys first, then
/// tables) and an access log to a file, in front of one origin: the
/// origin, the gateway and the log's path.
pub fn logged_gateway(bin: &str, tag: &str, settings: &str) -> (upstream::Origin, Weir, PathBuf) {
    let o = upstream::Origin::start("a");
    let dir = scratch_dir(tag);
    let log = dir.join("access.log");
    let config = format!(
        "workers = 1\n{settings}[log]\npath = \"{}\"\n[[upstream]]\nname = \"app\"\nservers = [{{ addr = \"{}\" }}]\n",
        log.display(),
        o.addr
    );
    let path = Weir::write_config(&dir, &config);
    let mut cmd = Command::new(binary(bin));
    cmd.arg("--config").arg(&path);
    (o, Weir::spawn(cmd, dir), log)
}

/// Waits (10 s at most) until the text of the log file at `path` says
/// what `done` looks for; returns that text.
pub fn wait_for_log(path: &std::path::Path, what: &str, done: impl Fn(&str) -> bool) -> String {
    let text = || std::fs::read_to_string(path).unwrap_or_default();
    wait_until(Duration::from_secs(10), what, || done(&text()));
    text()
}
