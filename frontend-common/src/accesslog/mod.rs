//! The access log: one line per request, on stdout or in the file of
//! `[log] path` (reopened on SIGUSR1, for logrotate), in the `[log] format`
//! of `weir_core::proxy::LogFormat` (text, JSON or a template). The text
//! line:
//!
//! ```text
//! 1764153600.123 10.0.0.7:40000 "GET /a?b=1" 200 127.0.0.1:9001 57 131 0.412ms route=api rid=- user=- tries=1 -
//! ```
//!
//! Fields, space-separated: wall-clock time (Unix seconds, milliseconds);
//! client address; method and target, quoted; status (0: no response was
//! sent); upstream address or `-`; bytes received from the client; bytes
//! sent to the client; duration; `route=` and the route's name (`-`: none);
//! `rid=` and the request id (`-`: none); `user=` and who an
//! authentication layer found the client to be (`-`: none); servers
//! tried; a note or `-`.

mod writer;

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use weir_core::{AccessRecord, Plan};

pub use writer::finish;

/// Lines a sink gathers before it hands them to the writer thread.
const BATCH: usize = 32 * 1024;
/// Longest a line waits in a sink (see [`LogSink::due`]).
pub const LINGER: Duration = Duration::from_millis(50);

/// The log file, when `[log] path` names one: its path and the open file
/// (appended to). One per process, written by the writer thread.
static FILE: Mutex<Option<(PathBuf, File)>> = Mutex::new(None);

/// Sends the access log to `path` (created if need be, appended to).
pub fn open(path: &Path) -> std::io::Result<()> {
    let f = OpenOptions::new().create(true).append(true).open(path)?;
    *FILE.lock().unwrap_or_else(|p| p.into_inner()) = Some((path.to_owned(), f));
    Ok(())
}

/// Opens the log file's path again (after logrotate moved the file):
/// lines from now on go to the new file. Returns the path, if any.
pub fn reopen() -> std::io::Result<Option<PathBuf>> {
    let mut guard = FILE.lock().unwrap_or_else(|p| p.into_inner());
    let Some((path, file)) = guard.as_mut() else {
        return Ok(None);
    };
    *file = OpenOptions::new().create(true).append(true).open(&*path)?;
    Ok(Some(path.clone()))
}

/// A worker's access-log lines, gathered and handed to the writer thread
/// in batches: when [`BATCH`] bytes are waiting, or when the oldest line
/// has waited [`LINGER`] (the loop calls [`LogSink::flush_due`] and
/// wakes at [`LogSink::due`]). Nothing here writes to a file.
pub struct LogSink {
    quiet: bool,
    buf: Vec<u8>,
    /// When the oldest line waiting was recorded.
    since: Option<Instant>,
}

impl LogSink {
    /// A sink; `quiet` drops every record.
    pub fn new(quiet: bool) -> LogSink {
        // No buffer until the first record.
        LogSink {
            quiet,
            buf: Vec::new(),
            since: None,
        }
    }

    /// Formats one record into the buffer, as the `[log] format` of
    /// `plan` (the one its exchange ran on) says.
    pub fn record(&mut self, r: &AccessRecord, plan: &Plan) {
        if self.quiet {
            return;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        plan.config.log_format.write(r, plan, &mut self.buf, now);
        self.since.get_or_insert(r.end);
        if self.buf.len() >= BATCH {
            self.hand_off();
        }
    }

    /// When the oldest waiting line is due to be handed over.
    pub fn due(&self) -> Option<Instant> {
        self.since.map(|t| t + LINGER)
    }

    /// Hands the lines over if the oldest has waited [`LINGER`].
    pub fn flush_due(&mut self, now: Instant) {
        if self.due().is_some_and(|t| now >= t) {
            self.hand_off();
        }
    }

    /// Hands every waiting line over now.
    pub fn flush(&mut self) {
        if !self.buf.is_empty() {
            self.hand_off();
        }
    }

    fn hand_off(&mut self) {
        // A full queue (the writer is behind) leaves the lines here, to
        // be tried again with the next batch; past HOLD_MAX, wait.
        let wait = self.buf.len() >= writer::HOLD_MAX;
        if writer::hand_off(&mut self.buf, wait) {
            self.since = None;
        }
    }
}

impl Drop for LogSink {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// The line format the README documents, field by field.
    #[test]
    fn a_record_is_one_line_in_the_documented_format() {
        let start = Instant::now();
        let mut r = AccessRecord::new("10.0.0.7:40000".parse().unwrap(), start);
        r.method = "GET".into();
        r.target = "/a?b=\"1\"\n".into();
        r.status = 200;
        r.upstream = Some("127.0.0.1:9001".parse().unwrap());
        r.bytes_in = 57;
        r.bytes_out = 131;
        r.end = start + Duration::from_micros(412);
        r.tries = 1;
        r.route = "api".into();
        let plan = Plan::compile(
            std::sync::Arc::new(weir_core::Config::from_toml("listen = \"127.0.0.1:1\"\n[[upstream]]\nname = \"a\"\nservers = [{ addr = \"127.0.0.1:2\" }]\n").unwrap()),
            1,
        );
        let mut sink = LogSink::new(false);
        sink.record(&r, &plan);
        r.note = "upstream timeout";
        r.upstream = None;
        r.route = bytes::Bytes::new();
        r.request_id = "7f-1".into();
        r.principal = "ann".into();
        sink.record(&r, &plan);
        let text = String::from_utf8(std::mem::take(&mut sink.buf)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let (time, rest) = lines[0].split_once(' ').unwrap();
        let (secs, millis) = time.split_once('.').unwrap();
        assert!(secs.parse::<u64>().unwrap() > 1_700_000_000 && millis.len() == 3);
        // Quotes and control characters in the target cannot break the line.
        assert_eq!(
            rest,
            "10.0.0.7:40000 \"GET /a?b=?1??\" 200 127.0.0.1:9001 57 131 0.412ms route=api rid=- user=- tries=1 -"
        );
        assert!(lines[1].ends_with(
            "\" 200 - 57 131 0.412ms route=- rid=7f-1 user=ann tries=1 upstream timeout"
        ));
        assert!(LogSink::new(true).buf.capacity() == 0);
    }

    /// The only test that hands lines over (the log file is the
    /// process's): a line waits LINGER, not a millisecond less; a full
    /// batch goes at once; `finish` leaves every line in the file.
    #[test]
    fn lines_go_after_linger_or_a_full_batch_and_finish_writes_them() {
        let path = std::env::temp_dir().join(format!("weir-accesslog-{}.log", std::process::id()));
        let _ = std::fs::remove_file(&path);
        open(&path).unwrap();
        let plan = Plan::compile(
            std::sync::Arc::new(weir_core::Config::from_toml("listen = \"127.0.0.1:1\"\n[[upstream]]\nname = \"a\"\nservers = [{ addr = \"127.0.0.1:2\" }]\n").unwrap()),
            1,
        );
        let t0 = Instant::now();
        let mut r = AccessRecord::new("10.0.0.7:40000".parse().unwrap(), t0);
        r.target = "/x".into();
        r.end = t0;
        let mut sink = LogSink::new(false);
        sink.record(&r, &plan);
        assert_eq!(sink.due(), Some(t0 + LINGER));
        sink.flush_due(t0 + LINGER - Duration::from_millis(1));
        assert!(!sink.buf.is_empty());
        sink.flush_due(t0 + LINGER);
        assert!(sink.buf.is_empty() && sink.due().is_none());
        // Later lines: no time passes, yet the line that fills a batch
        // sends it.
        let mut lines = 1;
        loop {
            let before = sink.buf.len();
            sink.record(&r, &plan);
            lines += 1;
            if sink.buf.is_empty() {
                assert!(before < BATCH && before + 200 > BATCH, "{before}");
                break;
            }
        }
        sink.record(&r, &plan);
        lines += 1;
        drop(sink);
        finish();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), lines);
        let _ = std::fs::remove_file(&path);
    }
}
