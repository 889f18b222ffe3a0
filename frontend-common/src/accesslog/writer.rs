//! The access log's writer thread: sinks hand it batches of lines and it
//! writes them to the log file (or stdout), so an event loop never waits
//! on a disk or a pipe.
//!
//! Started by the first batch. Its queue is bounded ([`QUEUE`] batches);
//! a sink whose batch finds the queue full keeps its lines and tries
//! again later, and waits only when it holds more than [`HOLD_MAX`] (a
//! log that cannot keep up slows the gateway down rather than losing
//! lines or growing without bound). [`finish`] waits until everything
//! handed over is written; batches after it are written by the caller.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Batches waiting for the writer at most.
const QUEUE: usize = 64;
/// Lines a sink holds (the queue being full) before it waits.
pub(super) const HOLD_MAX: usize = 1 << 20;
/// Emptied batch buffers kept for sinks to fill again.
const SPARES: usize = 16;
/// How long [`finish`] waits for the writer.
const FINISH_WAIT: Duration = Duration::from_secs(5);

/// Set once a write of the access log failed: the failure is reported on
/// stderr once per process, not once per line or per worker.
static WRITE_FAILED: AtomicBool = AtomicBool::new(false);
/// [`finish`] ran: batches are written by whoever hands them over.
static FINISHED: AtomicBool = AtomicBool::new(false);

enum Msg {
    Lines(Vec<u8>),
    /// Everything before this is written.
    Sync(mpsc::Sender<()>),
}

struct Writer {
    queue: SyncSender<Msg>,
    spares: Mutex<Vec<Vec<u8>>>,
}

/// The writer, once started (`None` inside: no thread could be started,
/// and batches are written by the caller).
static WRITER: OnceLock<Option<Writer>> = OnceLock::new();

/// The writer, started on first use.
fn writer() -> Option<&'static Writer> {
    WRITER
        .get_or_init(|| {
            let (queue, batches) = mpsc::sync_channel(QUEUE);
            std::thread::Builder::new()
                .name("weir-log".into())
                .spawn(move || {
                    for msg in batches {
                        match msg {
                            Msg::Lines(mut lines) => {
                                write_lines(&lines);
                                lines.clear();
                                give_spare(lines);
                            }
                            Msg::Sync(done) => {
                                let _ = done.send(());
                            }
                        }
                    }
                })
                .ok()?;
            Some(Writer {
                queue,
                spares: Mutex::new(Vec::new()),
            })
        })
        .as_ref()
}

/// Hands `lines` to the writer, leaving an empty buffer in their place;
/// with `wait` false, a full queue leaves them where they are. True when
/// they were handed over (or written).
pub(super) fn hand_off(lines: &mut Vec<u8>, wait: bool) -> bool {
    let writer = match writer() {
        Some(w) if !FINISHED.load(Ordering::Acquire) => w,
        _ => {
            write_lines(lines);
            lines.clear();
            return true;
        }
    };
    let spare = take_spare(writer);
    let batch = std::mem::replace(lines, spare);
    match writer.queue.try_send(Msg::Lines(batch)) {
        Ok(()) => true,
        Err(TrySendError::Full(msg)) if wait => {
            let _ = writer.queue.send(msg);
            true
        }
        Err(TrySendError::Full(Msg::Lines(batch))) => {
            give_spare(std::mem::replace(lines, batch));
            false
        }
        // The writer is gone (it cannot be, short of a panic): write here
        // rather than hold lines without bound.
        Err(TrySendError::Disconnected(Msg::Lines(batch))) => {
            write_lines(&batch);
            true
        }
        Err(_) => false,
    }
}

fn take_spare(writer: &Writer) -> Vec<u8> {
    let spare = writer
        .spares
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .pop();
    spare.unwrap_or_default()
}

/// Keeps an emptied buffer for a later batch (if there is room).
pub(super) fn give_spare(lines: Vec<u8>) {
    // A connection's small buffer is no use as a batch.
    if lines.capacity() < super::BATCH || lines.capacity() > 2 * HOLD_MAX {
        return;
    }
    if let Some(Some(w)) = WRITER.get() {
        let mut spares = w.spares.lock().unwrap_or_else(|p| p.into_inner());
        if spares.len() < SPARES {
            spares.push(lines);
        }
    }
}

/// Waits until every batch handed over so far is written; from then on
/// batches are written by the sink that hands them over (the process is
/// about to exit).
pub fn finish() {
    if let Some(Some(w)) = WRITER.get() {
        let (done, written) = mpsc::channel();
        if w.queue.send(Msg::Sync(done)).is_ok() {
            let _ = written.recv_timeout(FINISH_WAIT);
        }
    }
    FINISHED.store(true, Ordering::Release);
}

/// Writes lines to the log file, else stdout; a failure is said once.
fn write_lines(lines: &[u8]) {
    if lines.is_empty() {
        return;
    }
    let mut file = super::FILE.lock().unwrap_or_else(|p| p.into_inner());
    let written = match file.as_mut() {
        Some((path, f)) => f
            .write_all(lines)
            .map_err(|e| (e, path.display().to_string())),
        None => {
            drop(file);
            let mut out = std::io::stdout().lock();
            out.write_all(lines)
                .and_then(|()| out.flush())
                .map_err(|e| (e, "stdout".to_owned()))
        }
    };
    if let Err((e, to)) = written {
        if !WRITE_FAILED.swap(true, Ordering::Relaxed) {
            eprintln!("weir: access log: cannot write to {to} ({e}); lines that cannot be written are dropped");
        }
    }
}
