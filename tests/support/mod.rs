//! End-to-end test support: the real binaries, real upstream servers,
//! raw-socket clients.

#![allow(dead_code)]

pub mod client;
pub mod recorder;
pub mod upstream;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
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

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A running gateway process, killed on drop.
pub struct Weir {
    pub child: Child,
    pub addr: SocketAddr,
    pub dir: PathBuf,
}

impl Weir {
    /// Starts `bin` with `config` (its `listen` line is added here).
    pub fn start(bin: &str, config: &str) -> Weir {
        Self::start_with(bin, config, &[])
    }

    pub fn start_with(bin: &str, config: &str, args: &[&str]) -> Weir {
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let dir = std::env::temp_dir().join(format!("weir-test-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("weir.toml");
        std::fs::write(&path, format!("listen = \"{addr}\"\n{config}")).unwrap();
        let child = Command::new(binary(bin))
            .arg("--config")
            .arg(&path)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn gateway");
        let w = Weir { child, addr, dir };
        w.wait_ready();
        w
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect(self.addr).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("gateway did not start listening on {}", self.addr);
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
