//! A deterministic origin that records every byte it receives, for the
//! differential test: each request is answered with its method, target
//! and body length, so identical traffic gives identical answers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The bytes received, one entry per upstream connection, in accept order.
pub type Received = Arc<Mutex<Vec<Vec<u8>>>>;

pub struct Recorder {
    pub addr: SocketAddr,
    pub received: Received,
}

impl Recorder {
    pub fn start() -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let received: Received = Arc::default();
        let rec = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let slot = {
                    let mut r = rec.lock().unwrap();
                    r.push(Vec::new());
                    r.len() - 1
                };
                let rec = rec.clone();
                std::thread::spawn(move || serve(stream, &rec, slot));
            }
        });
        Recorder { addr, received }
    }
}

/// Reads one line, recording it.
fn line(r: &mut BufReader<TcpStream>, rec: &Received, slot: usize) -> Option<String> {
    let mut l = Vec::new();
    if r.read_until(b'\n', &mut l).ok()? == 0 {
        return None;
    }
    rec.lock().unwrap()[slot].extend_from_slice(&l);
    Some(String::from_utf8_lossy(&l).into_owned())
}

fn exact(r: &mut BufReader<TcpStream>, n: usize, rec: &Received, slot: usize) -> Option<()> {
    let mut b = vec![0; n];
    r.read_exact(&mut b).ok()?;
    rec.lock().unwrap()[slot].extend_from_slice(&b);
    Some(())
}

fn serve(stream: TcpStream, rec: &Received, slot: usize) -> Option<()> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut w = stream.try_clone().ok()?;
    let mut r = BufReader::new(stream);
    loop {
        let request_line = line(&mut r, rec, slot)?;
        let mut parts = request_line.split_whitespace();
        let (method, target) = (parts.next()?.to_string(), parts.next()?.to_string());
        let (mut length, mut chunked) = (0usize, false);
        loop {
            let h = line(&mut r, rec, slot)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().ok()?;
                }
                if k.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = true;
                }
            }
        }
        let mut body = 0;
        if chunked {
            loop {
                let size_line = line(&mut r, rec, slot)?;
                let size = usize::from_str_radix(size_line.trim().split(';').next()?, 16).ok()?;
                if size == 0 {
                    while line(&mut r, rec, slot)?.trim_end() != "" {}
                    break;
                }
                exact(&mut r, size + 2, rec, slot)?;
                body += size;
            }
        } else {
            exact(&mut r, length, rec, slot)?;
            body = length;
        }
        let text = format!("{method} {target} {body}\n");
        let resp = if method == "HEAD" {
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", text.len())
        } else {
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{text}",
                text.len()
            )
        };
        w.write_all(resp.as_bytes()).ok()?;
    }
}
