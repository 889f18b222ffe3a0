//! N proxied keep-alive GET/200 round trips through one `Connection`, for
//! exact instruction counts under `valgrind --tool=callgrind`:
//!
//! ```sh
//! cargo build --release -p weir-core --example roundtrip
//! valgrind --tool=callgrind target/release/examples/roundtrip 100000
//! ```
//! Divide the total by N (the program's own setup is a few hundred
//! thousand instructions). `GATEWAY=1`: the same round trip through the
//! gateway config of `benches/load.sh` scenario (g) (20 routes; request
//! id, CORS, apr1 basic auth, an admit-all rate limit on the route).

use std::sync::Arc;
use std::time::Instant;

use weir_core::sim::{as_read, round_trip};
use weir_core::{Config, Connection, Gateway};

fn main() {
    if std::env::var_os("SIZES").is_some() {
        sizes();
        return;
    }
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let gateway = std::env::var_os("GATEWAY").is_some();
    let mut text = "listen = \"127.0.0.1:8080\"\n[[upstream]]\nname = \"app\"\nservers = [{ addr = \"127.0.0.1:9001\" }, { addr = \"127.0.0.1:9002\" }]\n".to_owned();
    if gateway {
        text += "[[middleware]]\nname = \"rid\"\nkind = \"request-id\"\n[[middleware]]\nname = \"web\"\nkind = \"cors\"\nallow_origins = [\"https://app.example.com\"]\nallow_methods = [\"GET\", \"POST\"]\nexpose_headers = [\"X-Request-Id\"]\n[[middleware]]\nname = \"users\"\nkind = \"basic-auth\"\nusers_file = \"users.htpasswd\"\nrealm = \"weir\"\n[[middleware]]\nname = \"limit\"\nkind = \"rate-limit\"\nkey = [\"client-ip\"]\nrate = 1000000\nper = 1000\nburst = 1000000\n";
        for i in 0..20 {
            text += &format!("[[route]]\nname = \"svc{i}\"\npath_prefix = \"/svc{i}/\"\nupstream = \"app\"\nmiddleware = [\"rid\", \"web\", \"users\", \"limit\"]\n");
        }
    }
    let files = |_: &str| Ok(b"bench:$apr1$Ir8wak0J$WJZU/FaiZHywVtpyiyZ1f0\n".to_vec());
    let cfg = Config::from_toml_with(&text, &files).expect("config");
    let mut gw = Gateway::new(Arc::new(cfg), 1);
    let now = Instant::now();
    let mut conn = Connection::new(&gw, "10.0.0.1:1234".parse().expect("addr"), now);
    let req = as_read(if gateway {
        &b"GET /svc19/item HTTP/1.1\r\nHost: bench.example\r\nUser-Agent: wrk\r\nAccept: */*\r\nAuthorization: Basic YmVuY2g6czNjcmV0\r\nOrigin: https://app.example.com\r\n\r\n"[..]
    } else {
        b"GET /index.html HTTP/1.1\r\nHost: bench.example\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n"
    });
    let resp = as_read(
        b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nhello world\n",
    );
    let mut up = None;
    for _ in 0..n {
        round_trip(&mut conn, &mut gw, now, &req, &resp, &mut up);
    }
}

#[allow(dead_code)]
fn sizes() {
    eprintln!("Connection {}", std::mem::size_of::<Connection>());
}
