//! A raw-socket HTTP/1.1 client that reads responses exactly.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// One parsed response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A client connection.
pub struct Client {
    pub r: BufReader<TcpStream>,
    pub w: TcpStream,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).expect("connect to gateway");
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Client {
            w: s.try_clone().unwrap(),
            r: BufReader::new(s),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).expect("write to gateway");
    }

    /// Reads one response (for a request that was not HEAD).
    pub fn read(&mut self) -> Response {
        self.try_read().expect("read response")
    }

    pub fn try_read(&mut self) -> std::io::Result<Response> {
        let mut line = String::new();
        if self.r.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            self.r.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').unwrap_or((h, ""));
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        let mut resp = Response {
            status,
            headers,
            body: Vec::new(),
        };
        if status < 200 || status == 204 || status == 304 {
            return Ok(resp);
        }
        if let Some(n) = resp.header("content-length") {
            let mut b = vec![0; n.parse().unwrap_or(0)];
            self.r.read_exact(&mut b)?;
            resp.body = b;
        } else if resp.header("transfer-encoding").is_some() {
            loop {
                let mut l = String::new();
                self.r.read_line(&mut l)?;
                let size = usize::from_str_radix(l.trim(), 16).map_err(std::io::Error::other)?;
                if size == 0 {
                    let mut end = String::new();
                    self.r.read_line(&mut end)?;
                    break;
                }
                let start = resp.body.len();
                resp.body.resize(start + size, 0);
                self.r.read_exact(&mut resp.body[start..])?;
                let mut crlf = [0; 2];
                self.r.read_exact(&mut crlf)?;
            }
        } else {
            self.r.read_to_end(&mut resp.body)?;
        }
        Ok(resp)
    }

    /// True when the gateway closed the connection (EOF within 2 s).
    pub fn is_closed(&mut self) -> bool {
        self.r
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut b = [0; 1];
        matches!(self.r.read(&mut b), Ok(0))
    }
}

/// One GET on a fresh connection.
pub fn get(addr: SocketAddr, path: &str) -> Response {
    let mut c = Client::connect(addr);
    c.send(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
    c.read()
}

/// One GET on a fresh connection, or `None` when the connection or the
/// read fails (for polling a gateway that may not accept yet).
pub fn try_get(addr: SocketAddr, path: &str) -> Option<Response> {
    let s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let mut c = Client {
        w: s.try_clone().ok()?,
        r: BufReader::new(s),
    };
    c.w.write_all(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes())
        .ok()?;
    c.try_read().ok()
}
