//! Chunked bodies are forwarded re-framed, in both directions: chunk
//! extensions dropped, trailer fields re-serialised from what was parsed
//! and those that must not be trailers dropped, and nothing of a bad chunk
//! line forwarded, however the bytes are cut.

use std::time::Instant;

use weir_core::sim::oracle::{check, Expect};
use weir_core::sim::{config, Sim};

const UPLOAD: &[u8] = b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3 ; a=\"q;x\"\r\nabc\r\n2;b\r\nde\r\n0\r\nX-Sum: 5\r\nContent-Length: 99\r\nHost: evil\r\nAuthorization: Basic eA==\r\n\r\n";
const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

#[test]
fn a_request_body_goes_upstream_re_framed_for_every_split() {
    for split in [usize::MAX, 1, 2, 3, 5, 7, 13] {
        let mut sim = Sim::from_toml(&config(1, ""), Instant::now()).unwrap();
        sim.split = split;
        sim.script(9001, &[OK]);
        sim.client(UPLOAD);
        let up = sim.upstream_text();
        assert!(
            up.ends_with("\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 5\r\n\r\n"),
            "split {split}: {up}"
        );
        assert!(sim.client_text().ends_with("ok"));
        assert_eq!(
            sim.logs[0].bytes_in,
            UPLOAD.len() as u64,
            "the client's bytes"
        );
        check(
            UPLOAD,
            &sim,
            &Expect {
                strip: "",
                client_ip: "10.0.0.7",
                max_held: 1 << 20,
            },
        );
    }
}

#[test]
fn a_response_body_reaches_the_client_re_framed() {
    let resp: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext\r\nbody\r\n0\r\nX-Digest: abc\r\nSet-Cookie: s=1\r\nContent-Type: x\r\n\r\n";
    for split in [usize::MAX, 1, 4, 9] {
        let mut sim = Sim::from_toml(&config(1, ""), Instant::now()).unwrap();
        sim.split = split;
        sim.script(9001, &[resp]);
        sim.client(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        let text = sim.client_text();
        assert!(
            text.ends_with("\r\n\r\n4\r\nbody\r\n0\r\nX-Digest: abc\r\n\r\n"),
            "split {split}: {text}"
        );
    }
}

#[test]
fn nothing_of_a_bad_chunk_line_reaches_the_upstream() {
    let bad: &[u8] = b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n5;ok=1;x=\"a\rb\"\r\nhello\r\n0\r\n\r\n";
    for split in [usize::MAX, 1, 2, 6, 11] {
        let mut sim = Sim::from_toml(&config(1, ""), Instant::now()).unwrap();
        sim.split = split;
        sim.script(9001, &[OK]);
        sim.client(bad);
        let up = sim.upstream_text();
        assert!(up.ends_with("\r\n\r\n2\r\nab"), "split {split}: {up:?}");
        assert!(sim.client_text().starts_with("HTTP/1.1 400 Bad Request"));
        assert!(sim.socks[0].closed);
    }
}
