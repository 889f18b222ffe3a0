//! Every captured connection in tests/captures/ replayed through the core,
//! compared byte for byte with its golden transcript in tests/golden/.
//!
//! When behaviour changes on purpose, regenerate the golden files with
//! `WEIR_BLESS=1 cargo test --test replay` and review the diff.

use std::path::PathBuf;
use std::time::Instant;

use weir_core::sim::transcript::{render, replay};
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
    let bless = std::env::var_os("WEIR_BLESS").is_some();
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
        if bless {
            std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
            std::fs::write(&golden, &whole).unwrap();
            continue;
        }
        match std::fs::read_to_string(&golden) {
            Ok(want) if want == whole => {}
            Ok(_) => failures.push(format!("{name}: differs from {}", golden.display())),
            Err(_) => failures.push(format!("{name}: no golden file (WEIR_BLESS=1 to create)")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
