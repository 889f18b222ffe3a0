//! The reference reader against RFC 9112's own examples and refusals.

use super::*;

fn whole(r: Read) -> Message {
    match r {
        Read::Whole(m) => m,
        other => panic!("not whole: {other:?}"),
    }
}

#[test]
fn reads_a_request_with_a_length_body() {
    let m = whole(request(
        b"\r\nPOST /a?b HTTP/1.1\r\nHost: x\r\nContent-Length:  3 \r\n\r\nabcGET",
    ));
    assert_eq!(m.method(), b"POST");
    assert_eq!(m.target(), b"/a?b");
    assert_eq!(m.fields[1], (b"Content-Length".to_vec(), b"3".to_vec()));
    assert_eq!(m.body, b"abc");
    assert_eq!(m.len, 2 + 55);
}

#[test]
fn reads_chunks_with_extensions_and_trailers() {
    let b = b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
              3 ; a=b;c = \"q\\\"x\"\r\nabc\r\n0\r\nT: 1\r\n\r\n";
    let m = whole(request(b));
    assert_eq!(m.body, b"abc");
    assert_eq!(m.trailers, vec![(b"T".to_vec(), b"1".to_vec())]);
    assert_eq!(m.len, b.len());
}

#[test]
fn refuses_what_rfc_9112_refuses() {
    for (bad, why) in [
        (&b"GET / HTTP/1.1\nHost: x\r\n\r\n"[..], "bare LF"),
        (b"GET  / HTTP/1.1\r\n\r\n", "double space"),
        (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", "space before colon"),
        (b"GET / HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n", "obs-fold"),
        (b"GET / HTTP/1.1\r\nA: 1\0\r\n\r\n", "NUL in value"),
        (
            b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "two lengths",
        ),
        (
            b"GET / HTTP/1.1\r\nContent-Length: +1\r\n\r\n",
            "signed length",
        ),
        (
            b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n",
            "TE+CL",
        ),
        (
            b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            "not last",
        ),
        (
            b"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            "1.0 TE",
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\nx\r\n0\r\n\r\n",
            "bare LF size",
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;a b\r\nx\r\n0\r\n\r\n",
            "ext",
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxy\r\n0\r\n\r\n",
            "no CRLF after data",
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nnot a field\r\n\r\n",
            "trailer",
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n 1\r\nx\r\n0\r\n\r\n",
            "space before size",
        ),
    ] {
        assert!(matches!(request(bad), Read::Invalid(_)), "{why} accepted");
    }
}

#[test]
fn partial_is_told_apart_from_invalid() {
    let full = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2;x=\"a\"\r\nab\r\n0\r\n\r\n";
    for cut in 0..full.len() {
        assert_eq!(request(&full[..cut]), Read::Partial, "cut at {cut}");
    }
    assert!(matches!(request(full), Read::Whole(_)));
}

#[test]
fn streams_stop_at_the_first_invalid_message() {
    let s = requests(
        b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\nContent-Length: x\r\n\r\nGET /3 HTTP/1.1\r\n\r\n",
        None,
    );
    assert_eq!(s.messages.len(), 1);
    assert_eq!(s.rest, Rest::Invalid(19, "Content-Length is not a number"));
}

#[test]
fn a_101_starts_a_tunnel_and_a_refused_upgrade_does_not() {
    let up = b"GET /1 HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
    let next = b"GET /2 HTTP/1.1\r\n\r\n";
    let stream = [&up[..], next].concat();
    let (req, resp) = exchange(&stream, b"HTTP/1.1 101 Switching\r\n\r\n\x81\x00", false);
    assert_eq!((req.messages.len(), req.rest), (1, Rest::Partial(60)));
    assert_eq!((resp.messages.len(), resp.rest), (1, Rest::Partial(26)));
    let refused =
        b"HTTP/1.1 400 No\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let (req, resp) = exchange(&stream, refused, false);
    assert_eq!((req.messages.len(), req.rest), (2, Rest::Empty));
    assert_eq!((resp.messages.len(), resp.rest), (2, Rest::Empty));
}

#[test]
fn reads_responses_by_their_framing() {
    let stream = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi\
                   HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n\
                   HTTP/1.1 204 \r\n\r\nHTTP/1.1 200 OK\r\n\r\nrest";
    let s = responses(stream, &[false, true, false, false], true);
    let codes: Vec<u16> = s.messages.iter().map(Message::status).collect();
    assert_eq!(codes, [100, 200, 200, 204, 200]);
    assert_eq!(s.messages[4].body, b"rest");
    assert_eq!(s.rest, Rest::Empty);
    let s = responses(b"HTTP/1.1 200 OK\r\n\r\nrest", &[false], false);
    assert_eq!(s.rest, Rest::Partial(0));
    assert!(matches!(
        response(b"HTTP/1.1 200\r\n\r\n", false, true),
        Read::Whole(_)
    ));
    assert!(matches!(
        response(b"HTTP/1.1 2000 OK\r\n\r\n", false, true),
        Read::Invalid(_)
    ));
}
