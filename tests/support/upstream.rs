//! A real, threaded HTTP/1.1 origin for the end-to-end tests.
//!
//! Paths: `/name` answers the server's name; `/echo` echoes the request
//! body as a chunked response; `/big?n=N` sends N pattern bytes chunked;
//! `/sized?n=N` sends them with a Content-Length; `/cut?n=N&at=M`
//! announces N, sends M and closes;
//! `/slow?ms=N` waits, then answers; `/ws` accepts a WebSocket upgrade
//! and echoes raw bytes. Anything else answers `ok`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A running origin.
pub struct Origin {
    pub addr: SocketAddr,
    pub name: String,
    /// TCP connections accepted so far.
    pub accepted: Arc<AtomicUsize>,
    /// TCP connections open now.
    live: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Origin {
    pub fn start(name: &str) -> Origin {
        Origin::start_at(name, "127.0.0.1:0".parse().unwrap())
    }

    /// An origin on `addr` (a killed origin's address: it comes back).
    pub fn start_at(name: &str, addr: SocketAddr) -> Origin {
        let listener = TcpListener::bind(addr).unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let live = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (n, a, l, s) = (
            name.to_string(),
            accepted.clone(),
            live.clone(),
            stop.clone(),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                a.fetch_add(1, Ordering::SeqCst);
                l.fetch_add(1, Ordering::SeqCst);
                let (n, l, s) = (n.clone(), l.clone(), s.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &n, &s);
                    l.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Origin {
            addr,
            name: name.into(),
            accepted,
            live,
            stop,
        }
    }

    /// Stops accepting and closes every live connection; returns once the
    /// port refuses connects and no connection is left open.
    pub fn kill(&self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which then drops the listener.
        let _ = TcpStream::connect(self.addr);
        super::wait_until(Duration::from_secs(5), "the origin to close", || {
            self.live.load(Ordering::SeqCst) == 0 && TcpStream::connect(self.addr).is_err()
        });
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// The test pattern: byte `i` is `i % 251`.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

fn read_chunked(r: &mut BufReader<TcpStream>) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line)?;
        let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
            .map_err(|_| std::io::Error::other("bad chunk"))?;
        if size == 0 {
            loop {
                line.clear();
                r.read_line(&mut line)?;
                if line == "\r\n" || line.is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..])?;
        let mut crlf = [0; 2];
        r.read_exact(&mut crlf)?;
    }
}

/// Writes `body` chunked, in chunks of `chunk` bytes (16 KiB when 0).
fn write_chunked(w: &mut TcpStream, head: &str, body: &[u8], chunk: usize) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(body.len() + 1024);
    out.extend_from_slice(head.as_bytes());
    let size = if chunk == 0 { 16 * 1024 } else { chunk };
    for chunk in body.chunks(size) {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    w.write_all(&out)
}

fn serve(stream: TcpStream, name: &str, stop: &AtomicBool) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_millis(200)))?;
    let mut w = stream.try_clone()?;
    let mut r = BufReader::new(stream);
    loop {
        let mut line = String::new();
        // Poll for the next request so a kill() closes idle connections.
        loop {
            if stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            match r.read_line(&mut line) {
                Ok(0) => return Ok(()),
                Ok(_) => break,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(e),
            }
        }
        r.get_ref()
            .set_read_timeout(Some(Duration::from_secs(30)))?;
        let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
        let mut length = 0usize;
        let mut chunked = false;
        let mut upgrade = false;
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            r.read_line(&mut h)?;
            let h = h.trim_end().to_string();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
                match k.as_str() {
                    "content-length" => length = v.parse().unwrap_or(0),
                    "transfer-encoding" => chunked = true,
                    "upgrade" => upgrade = v.eq_ignore_ascii_case("websocket"),
                    _ => {}
                }
                headers.push((k, v));
            }
        }
        let body = if chunked {
            read_chunked(&mut r)?
        } else {
            let mut b = vec![0; length];
            r.read_exact(&mut b)?;
            b
        };
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let param = |k: &str| {
            query
                .split('&')
                .find_map(|p| p.strip_prefix(&format!("{k}=")))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        match path {
            "/echo" => write_chunked(
                &mut w,
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                &body,
                param("chunk") as usize,
            )?,
            "/big" => write_chunked(
                &mut w,
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                &pattern(param("n") as usize),
                param("chunk") as usize,
            )?,
            "/sized" | "/cut" => {
                let n = param("n") as usize;
                let body = pattern(n);
                let at = match path {
                    "/cut" => (param("at") as usize).min(n),
                    _ => n,
                };
                w.write_all(format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n").as_bytes())?;
                w.write_all(&body[..at])?;
                if at < n {
                    return Ok(());
                }
            }
            "/slow" => {
                std::thread::sleep(Duration::from_millis(param("ms")));
                w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow")?;
            }
            "/headers" => {
                let text: String = headers.iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
                w.write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{text}",
                        text.len()
                    )
                    .as_bytes(),
                )?;
            }
            "/ws" if upgrade => {
                w.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")?;
                let mut buf = [0u8; 4096];
                r.get_ref().set_read_timeout(None)?;
                // Whatever BufReader already holds, then raw echo.
                let pending = r.buffer().to_vec();
                r.consume(pending.len());
                w.write_all(&pending)?;
                loop {
                    let n = r.get_mut().read(&mut buf)?;
                    if n == 0 {
                        return Ok(());
                    }
                    w.write_all(&buf[..n])?;
                }
            }
            _ => {
                let body = if path == "/name" {
                    name.to_string()
                } else {
                    "ok".to_string()
                };
                w.write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                )?;
            }
        }
        r.get_ref()
            .set_read_timeout(Some(Duration::from_millis(200)))?;
    }
}
