//! The fuzz harnesses on the stable test runner: every regression ever
//! found (fuzz/regressions/) and every captured stream, then a bounded,
//! seeded mutation smoke test over the captures (WEIR_FUZZ_SECS, default 2).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use weir_core::sim::fuzz;

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(target: &str, data: &[u8], epoch: Instant) {
    match target {
        "proxy" => fuzz::proxy(data, epoch),
        "request_stream" => fuzz::request_stream(data),
        "response_stream" => fuzz::response_stream(data),
        "config" => fuzz::config(data),
        other => panic!("unknown target {other}"),
    }
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn every_regression_and_capture_passes_the_harnesses() {
    let epoch = Instant::now();
    let mut count = 0;
    for target in ["proxy", "request_stream", "response_stream", "config"] {
        for f in files(&root().join("fuzz/regressions").join(target)) {
            let data = std::fs::read(&f).unwrap();
            run(target, &data, epoch);
            count += 1;
        }
    }
    let caps = root().join("tests/captures");
    for f in files(&caps.join("requests")) {
        let req = std::fs::read(&f).unwrap();
        let resp = std::fs::read(caps.join("responses").join(f.file_name().unwrap())).unwrap();
        fuzz::request_stream(&req);
        fuzz::response_stream(&resp);
        let mut both = req.clone();
        both.extend_from_slice(b"\0\0\0\0");
        both.extend_from_slice(&resp);
        fuzz::proxy(&both, epoch);
        count += 3;
    }
    assert!(count > 200, "only {count} inputs");
}

/// The captures, each as the `proxy` target's input (client bytes,
/// `\0\0\0\0`, server bytes).
fn captured_exchanges() -> Vec<Vec<u8>> {
    let caps = root().join("tests/captures");
    files(&caps.join("requests"))
        .iter()
        .map(|f| {
            let mut both = std::fs::read(f).unwrap();
            both.extend_from_slice(b"\0\0\0\0");
            both.extend_from_slice(
                &std::fs::read(caps.join("responses").join(f.file_name().unwrap())).unwrap(),
            );
            both
        })
        .collect()
}

/// The harness can fail: with each deliberate smuggling bug switched on,
/// the `proxy` oracle rejects its crafted input and, where the captures
/// exercise the broken code, some captures too. With none on, all pass
/// (the test above).
#[test]
fn the_proxy_oracle_catches_each_deliberate_break() {
    use weir_core::mutant::Mutant;
    let epoch = Instant::now();
    let crafted: [(Mutant, &[u8]); 3] = [
        (
            Mutant::DropContentLength,
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 30\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n",
        ),
        (
            Mutant::RawChunkLine,
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
        ),
        (
            Mutant::KeepConnectionListed,
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Secret\r\nX-Secret: 1\r\n\r\n",
        ),
    ];
    let captures = captured_exchanges();
    let fails = |input: &[u8], m: Mutant| {
        std::panic::catch_unwind(|| fuzz::proxy_mutant(input, epoch, m)).is_err()
    };
    // The oracle's panics are expected here: keep them off the output.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut report = Vec::new();
    for (m, input) in crafted {
        let real_passes = !fails(input, Mutant::None);
        let caught = fails(input, m);
        let captures_caught = captures.iter().filter(|c| fails(c, m)).count();
        report.push((m, real_passes, caught, captures_caught));
    }
    std::panic::set_hook(hook);
    eprintln!("mutant, real code passes its input, crafted input caught, captures caught:");
    for r in &report {
        eprintln!("  {r:?}");
    }
    for (m, real_passes, caught, _) in &report {
        assert!(real_passes, "{m:?}: the real code fails the crafted input");
        assert!(caught, "{m:?}: the oracle missed the crafted input");
    }
    // Every capture with a request body catches a dropped Content-Length.
    assert!(report[0].3 > 0, "no capture caught DropContentLength");
}

/// A small deterministic mutator: bit flips, byte insertions and
/// deletions, range duplication, splicing, and HTTP tokens.
struct Mutator(u64);

impl Mutator {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn mutate(&mut self, mut d: Vec<u8>, other: &[u8]) -> Vec<u8> {
        const TOKENS: &[&[u8]] = &[
            b"\r\n",
            b"\n",
            b"\r",
            b"Transfer-Encoding: chunked\r\n",
            b"Content-Length: 99999999999\r\n",
            b"0\r\n\r\n",
            b"Connection: close\r\n",
            b"Upgrade: websocket\r\n",
            b"HTTP/1.0",
            b" ",
            b"\0\0\0\0",
            b"Expect: 100-continue\r\n",
            b"ffffffff\r\n",
            b";ext",
            b"HTTP/1.1 101 Switching Protocols\r\n",
        ];
        for _ in 0..1 + self.below(4) {
            let len = d.len();
            match self.below(6) {
                0 if len > 0 => {
                    let i = self.below(len);
                    d[i] ^= 1 << self.below(8);
                }
                1 => {
                    let i = self.below(len + 1);
                    d.insert(i, self.next() as u8);
                }
                2 if len > 0 => {
                    let i = self.below(len);
                    let n = 1 + self.below(16.min(len - i));
                    d.drain(i..i + n);
                }
                3 if len > 0 => {
                    let i = self.below(len);
                    let n = 1 + self.below(64.min(len - i));
                    let piece = d[i..i + n].to_vec();
                    let at = self.below(len + 1);
                    d.splice(at..at, piece);
                }
                4 if !other.is_empty() => {
                    let cut = self.below(len + 1);
                    let from = self.below(other.len());
                    d.truncate(cut);
                    d.extend_from_slice(&other[from..]);
                }
                _ => {
                    let t = TOKENS[self.below(TOKENS.len())];
                    let at = self.below(len + 1);
                    d.splice(at..at, t.iter().copied());
                }
            }
        }
        d.truncate(64 * 1024);
        d
    }
}

#[test]
fn mutated_captures_pass_the_harnesses() {
    let secs: u64 = std::env::var("WEIR_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let seed: u64 = std::env::var("WEIR_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let caps = root().join("tests/captures");
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    for f in files(&caps.join("requests")) {
        let mut both = std::fs::read(&f).unwrap();
        both.extend_from_slice(b"\0\0\0\0");
        both.extend_from_slice(
            &std::fs::read(caps.join("responses").join(f.file_name().unwrap())).unwrap(),
        );
        seeds.push(both);
    }
    let epoch = Instant::now();
    let end = Instant::now() + Duration::from_secs(secs);
    let mut m = Mutator(seed);
    let mut n = 0u64;
    while Instant::now() < end {
        let a = &seeds[m.below(seeds.len())];
        let b = &seeds[m.below(seeds.len())];
        let input = m.mutate(a.clone(), b);
        let target = ["proxy", "request_stream", "response_stream"][(n % 3) as usize];
        let result = std::panic::catch_unwind(|| run(target, &input, epoch));
        if result.is_err() && target == "proxy" {
            eprintln!("{}", fuzz::show(&input, epoch));
        }
        assert!(
            result.is_ok(),
            "seed {seed}, input #{n}, target {target}: {}",
            hex(&input)
        );
        n += 1;
    }
    eprintln!("mutation smoke: {n} inputs in {secs}s (seed {seed})");
}
