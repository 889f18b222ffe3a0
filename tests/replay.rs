//! Every captured connection in tests/captures/ replayed through the core,
//! compared byte for byte with its golden transcript in tests/golden/.
//!
//! The answers weir makes itself (400, 405, 408, 413, 431, 502, 504) are
//! pinned the same way, from crafted exchanges, in tests/golden/answers/.
//!
//! When behaviour changes on purpose, regenerate the golden files with
//! `WEIR_BLESS=1 cargo test --test replay` (exactly `1`) and review the
//! diff by the rule in tests/golden/README.md.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use weir_core::sim::transcript::{render, replay};
use weir_core::sim::{addr, Sim};
use weir_core::Config;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// The config every capture is replayed with.
fn config() -> Config {
    Config::from_toml(
        "listen = \"127.0.0.1:8080\"\n[[upstream]]\nname = \"origin\"\nservers = [{ addr = \"127.0.0.1:9001\" }]\n",
    )
    .expect("valid")
}

#[test]
fn every_capture_replays_as_its_golden_transcript() {
    let bless = blessing();
    let mut names: Vec<String> = std::fs::read_dir(root().join("captures/requests"))
        .expect("tests/captures/requests (scripts/import-captures.sh)")
        .map(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".bin")
                .to_string()
        })
        .collect();
    names.sort();
    assert!(names.len() >= 70, "only {} captures", names.len());
    let mut failures = Vec::new();
    for name in &names {
        let client = std::fs::read(root().join(format!("captures/requests/{name}.bin"))).unwrap();
        let server = std::fs::read(root().join(format!("captures/responses/{name}.bin"))).unwrap();
        let whole = render(&replay(
            config(),
            Instant::now(),
            &client,
            &server,
            usize::MAX,
        ));
        // The same capture fed 7 bytes at a time gives the same transcript.
        let pieces = render(&replay(config(), Instant::now(), &client, &server, 7));
        if whole != pieces {
            failures.push(format!("{name}: transcript depends on the read size"));
        }
        let golden = root().join(format!("golden/{name}.txt"));
        compare(&golden, &whole, bless, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// True when the goldens are to be rewritten: `WEIR_BLESS=1`, exactly.
fn blessing() -> bool {
    std::env::var("WEIR_BLESS").as_deref() == Ok("1")
}

/// Compares `text` with the golden file (or rewrites it when blessing).
fn compare(golden: &Path, text: &str, bless: bool, failures: &mut Vec<String>) {
    if bless {
        std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
        std::fs::write(golden, text).unwrap();
        return;
    }
    match std::fs::read_to_string(golden) {
        Ok(want) if want == text => {}
        Ok(_) => failures.push(format!("differs from {}", golden.display())),
        Err(_) => failures.push(format!(
            "no golden file {} (WEIR_BLESS=1 to create)",
            golden.display()
        )),
    }
}

/// A crafted exchange that weir answers itself.
struct Answer {
    name: &'static str,
    config: &'static str,
    client: &'static [u8],
    /// The server's one response, if it gives one.
    server: Option<&'static [u8]>,
    refused: bool,
    /// How long virtual time runs after the client's bytes.
    wait: Duration,
}

const ANSWERS: &[Answer] = &[
    Answer {
        name: "400-both-lengths",
        config: "",
        client: b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        server: None,
        refused: false,
        wait: Duration::ZERO,
    },
    Answer {
        name: "400-bad-chunk-extension",
        config: "",
        client: b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;a b\r\nabc\r\n0\r\n\r\n",
        server: None,
        refused: false,
        wait: Duration::ZERO,
    },
    Answer {
        name: "400-head-without-host",
        config: "",
        client: b"HEAD / HTTP/1.1\r\n\r\n",
        server: None,
        refused: false,
        wait: Duration::ZERO,
    },
    Answer {
        name: "405-connect",
        config: "",
        client: b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        server: None,
        refused: false,
        wait: Duration::ZERO,
    },
    Answer {
        name: "408-slow-head",
        config: "[timeouts]\nclient_header = 1000\n",
        client: b"GET / HTTP/1.1\r\nHost: a\r\n",
        server: None,
        refused: false,
        wait: Duration::from_millis(1000),
    },
    Answer {
        name: "413-body-too-large",
        config: "[limits]\nmax_request_body = 4\n",
        client: b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789",
        server: None,
        refused: false,
        wait: Duration::ZERO,
    },
    Answer {
        name: "431-head-too-large",
        config: "[limits]\nmax_request_head = 64\n",
        client: b"GET / HTTP/1.1\r\nHost: a\r\nCookie: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n",
        server: None,
        refused: false,
        wait: Duration::ZERO,
    },
    Answer {
        name: "502-refused",
        config: "",
        client: b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        server: None,
        refused: true,
        wait: Duration::ZERO,
    },
    Answer {
        name: "502-malformed-response",
        config: "",
        client: b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        server: Some(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"),
        refused: false,
        wait: Duration::ZERO,
    },
    Answer {
        name: "504-silent-upstream",
        config: "[timeouts]\nupstream_response = 2000\n",
        client: b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        server: None,
        refused: false,
        wait: Duration::from_millis(2000),
    },
];

#[test]
fn weir_s_own_answers_match_their_golden_transcripts() {
    let bless = blessing();
    let mut failures = Vec::new();
    for a in ANSWERS {
        let toml = format!(
            "listen = \"127.0.0.1:8080\"\n{}[[upstream]]\nname = \"origin\"\nservers = [{{ addr = \"127.0.0.1:9001\" }}]\n",
            a.config
        );
        let mut sim = Sim::from_toml(&toml, Instant::now()).expect("valid");
        if let Some(resp) = a.server {
            sim.script(9001, &[resp]);
        }
        if a.refused {
            sim.refuse.push(addr(9001));
        }
        sim.client(a.client);
        sim.advance(a.wait);
        let golden = root().join(format!("golden/answers/{}.txt", a.name));
        compare(&golden, &render(&sim), bless, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
