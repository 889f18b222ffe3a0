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

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Set once a write of the access log failed: the failure is reported on
/// stderr once per process, not once per line or per worker.
static WRITE_FAILED: AtomicBool = AtomicBool::new(false);

use weir_core::{AccessRecord, Plan};

/// The log file, when `[log] path` names one: its path and the open file
/// (appended to). One per process; workers take the lock once per batch
/// of lines, as they would stdout's.
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

/// A buffered access-log writer, one per worker; flushed when the worker
/// goes idle, so a busy worker writes many lines per system call.
pub struct LogSink {
    quiet: bool,
    buf: Vec<u8>,
}

impl LogSink {
    /// A sink; `quiet` drops every record.
    pub fn new(quiet: bool) -> LogSink {
        // No buffer until the first record: weir-smol has a sink per
        // connection, and an idle one should hold nothing.
        LogSink {
            quiet,
            buf: Vec::new(),
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
        if self.buf.len() > 64 * 1024 {
            self.flush();
        }
    }

    /// Gives the buffer's memory back (an idle connection's sink).
    pub fn release(&mut self) {
        self.flush();
        self.buf = Vec::new();
    }

    /// Writes buffered lines to the log file, else stdout.
    pub fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let mut file = FILE.lock().unwrap_or_else(|p| p.into_inner());
        let written = match file.as_mut() {
            Some((path, f)) => f
                .write_all(&self.buf)
                .map_err(|e| (e, path.display().to_string())),
            None => {
                drop(file);
                let mut out = std::io::stdout().lock();
                out.write_all(&self.buf)
                    .and_then(|()| out.flush())
                    .map_err(|e| (e, "stdout".to_owned()))
            }
        };
        if let Err((e, to)) = written {
            if !WRITE_FAILED.swap(true, Ordering::Relaxed) {
                eprintln!("weir: access log: cannot write to {to} ({e}); lines that cannot be written are dropped");
            }
        }
        self.buf.clear();
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
}
