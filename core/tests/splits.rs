//! Property: the same traffic delivered in random pieces gives identical
//! bytes to the client and to the upstream.

use proptest::prelude::*;
use std::time::Instant;

use weir_core::sim::{config, Sim as Rig};

const CLIENT: &[u8] = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;e=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-T: t\r\n\r\nPUT /3 HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\n\r\n1234567HEAD /4 HTTP/1.1\r\nHost: a\r\n\r\nGET /5 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
const RESPONSES: &[&[u8]] = &[
    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\ntw\r\n1\r\no\r\n0\r\n\r\n",
    b"HTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfive",
];

fn run(splits: Vec<usize>) -> (String, String, usize) {
    let mut r = Rig::from_toml(&config(1, ""), Instant::now()).unwrap();
    r.splits = splits;
    r.script(9001, RESPONSES);
    r.client(CLIENT);
    (r.client_text(), r.upstream_text(), r.logs.len())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_split_gives_the_same_exchange(splits in prop::collection::vec(1usize..40, 1..20)) {
        let reference = run(vec![usize::MAX]);
        prop_assert_eq!(reference.2, 5, "{:?}", reference);
        prop_assert_eq!(run(splits), reference);
    }
}
