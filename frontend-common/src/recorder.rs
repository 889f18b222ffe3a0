//! The flight recorder's dumps: every worker registers its ring
//! ([`weir_core::recorder`]) here; SIGUSR2 and the admin endpoint
//! `POST /recorder/dump` write what the rings hold to a new directory in
//! the layout `replay` and `diff` read.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use weir_core::recorder::{redact, Recording, SharedRing};
use weir_core::Gateway;

/// Every worker's ring.
static RINGS: Mutex<Vec<SharedRing>> = Mutex::new(Vec::new());

/// Registers `gw`'s ring, if it records (each worker, once).
pub fn register(gw: &Gateway) {
    if let Some(ring) = gw.recordings() {
        RINGS.lock().unwrap_or_else(|p| p.into_inner()).push(ring);
    }
}

/// True when some worker records.
pub fn on() -> bool {
    !RINGS.lock().unwrap_or_else(|p| p.into_inner()).is_empty()
}

/// Writes every ring's recordings to a new directory under the
/// configured `dir` (else the system's temp dir): `requests/N.bin` (what
/// the client sent, credentials masked), `responses/N.bin` (what the
/// upstreams sent), `sent/N.bin` (what weir sent the client), and
/// `index.tsv`. Returns the directory and how many connections.
pub fn dump() -> io::Result<(PathBuf, usize)> {
    let rings: Vec<SharedRing> = RINGS.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut all: Vec<(usize, Recording)> = Vec::new();
    let mut names = Vec::new();
    let mut base = None;
    for (worker, ring) in rings.iter().enumerate() {
        let r = ring.lock().unwrap_or_else(|p| p.into_inner());
        names.clone_from(&r.spec.redact);
        base = base.or_else(|| r.spec.dir.clone());
        all.extend(r.recordings().map(|rec| (worker, rec.clone())));
    }
    all.sort_by_key(|(_, r)| r.opened);
    let base = base.unwrap_or_else(std::env::temp_dir);
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let dir = base.join(format!("weir-recording-{stamp}-{}", std::process::id()));
    write(&dir, &all, &names)?;
    Ok((dir, all.len()))
}

fn write(dir: &Path, all: &[(usize, Recording)], names: &[String]) -> io::Result<()> {
    for sub in ["requests", "responses", "sent"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    let mut index = String::from(
        "n\tworker\tclient\topened_unix_ms\tlasted_ms\tfrom_client\tto_client\tfrom_upstream\ttruncated\n",
    );
    for (i, (worker, r)) in all.iter().enumerate() {
        let n = i + 1;
        std::fs::write(
            dir.join(format!("requests/{n}.bin")),
            redact(&r.from_client, names),
        )?;
        std::fs::write(dir.join(format!("responses/{n}.bin")), &r.from_upstream)?;
        std::fs::write(dir.join(format!("sent/{n}.bin")), &r.to_client)?;
        let _ = writeln!(
            index,
            "{n}\t{worker}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            r.client,
            r.opened.map_or(0, |d| d.as_millis()),
            r.lasted.as_millis(),
            r.from_client.len(),
            r.to_client.len(),
            r.from_upstream.len(),
            r.truncated
        );
    }
    std::fs::write(dir.join("index.tsv"), index)
}

/// Dumps and says so in one line (SIGUSR2).
pub fn dump_and_say(name: &str) {
    match dump() {
        Ok((dir, n)) => eprintln!(
            "{name}: SIGUSR2: {n} recorded connections dumped to {}",
            dir.display()
        ),
        Err(e) => eprintln!("{name}: SIGUSR2: cannot dump the flight recorder: {e}"),
    }
}
