//! `explain`: the command line around [`weir_core::explain`].

use std::io::Read as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use weir_core::explain::{self, Outcome};
use weir_core::Config;

/// `explain`'s arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// A file holding the raw request (`-`: standard input). A file with
    /// no CR at all is read as lines ending in CRLF.
    #[arg(value_name = "REQUEST")]
    pub request: Option<PathBuf>,
    /// The request line instead of a file, e.g. 'GET /x HTTP/1.1'.
    #[arg(long, value_name = "LINE", conflicts_with = "request")]
    pub line: Option<String>,
    /// A header field for --line, e.g. 'Host: a' (repeat for several).
    #[arg(long = "header", value_name = "FIELD", requires = "line")]
    pub headers: Vec<String>,
    /// A body for --line (Content-Length is added unless a framing field is given).
    #[arg(long, value_name = "TEXT", requires = "line")]
    pub body: Option<String>,
    /// The address the request comes from (default 192.0.2.10:40000).
    #[arg(long, value_name = "ADDR")]
    pub client: Option<SocketAddr>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The request bytes the arguments describe.
fn request(args: &Args) -> Result<Vec<u8>, String> {
    if let Some(line) = &args.line {
        let mut out = format!("{line}\r\n");
        for h in &args.headers {
            out.push_str(h);
            out.push_str("\r\n");
        }
        let framed = args.headers.iter().any(|h| {
            let name = h.split(':').next().unwrap_or("").trim();
            name.eq_ignore_ascii_case("content-length")
                || name.eq_ignore_ascii_case("transfer-encoding")
        });
        let body = args.body.as_deref().unwrap_or("");
        if args.body.is_some() && !framed {
            out.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        out.push_str("\r\n");
        out.push_str(body);
        return Ok(out.into_bytes());
    }
    let bytes = match args.request.as_deref() {
        None => return Err("give a REQUEST file (or -), or --line".into()),
        Some(p) if p.as_os_str() == "-" => {
            let mut b = Vec::new();
            std::io::stdin()
                .read_to_end(&mut b)
                .map_err(|e| format!("cannot read standard input: {e}"))?;
            b
        }
        Some(p) => std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?,
    };
    if bytes.contains(&b'\n') && !bytes.contains(&b'\r') {
        let mut crlf = Vec::with_capacity(bytes.len() + 16);
        for &b in &bytes {
            if b == b'\n' {
                crlf.push(b'\r');
            }
            crlf.push(b);
        }
        return Ok(crlf);
    }
    Ok(bytes)
}

/// Runs `explain`; exit 0 when the request would be forwarded, 1 when
/// weir answers it itself, 2 for bad input.
pub fn run(name: &str, config: Config, args: &Args) -> i32 {
    let bytes = match request(args) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{name}: explain: {e}");
            return 2;
        }
    };
    let peer = args.client.unwrap_or(explain::DEFAULT_PEER);
    let e = explain::explain(config, &bytes, peer, std::time::Instant::now());
    if args.json {
        println!("{}", explain::json(&e));
    } else {
        print!("{}", explain::text(&e));
    }
    match e.outcome {
        Outcome::Forwarded(..) => 0,
        Outcome::Answered(_) => 1,
    }
}
