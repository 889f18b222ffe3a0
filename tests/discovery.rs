//! DNS discovery end to end: a DNS server the test controls (UDP on
//! loopback, messages by `hickory-proto`) named by `[dns] resolver`;
//! changing the name's address moves traffic without dropping requests;
//! a name that stops resolving keeps its last addresses; one that never
//! resolves is a start-up error.

mod support;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::{rdata::A, RData, Record, RecordType};
use support::{client::Client, upstream::Origin, Weir};

/// What the test DNS server says about `app.test.`: an address, or NXDOMAIN.
type Answer = Arc<Mutex<Option<Ipv4Addr>>>;

/// A DNS server answering A queries for `app.test.` (TTL 1 s) from
/// `answer`; AAAA gets no record.
fn dns_server(answer: Answer) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind dns");
    let addr = socket.local_addr().expect("addr");
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let Ok(q) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut r = Message::new();
            r.set_id(q.id())
                .set_message_type(MessageType::Response)
                .set_recursion_desired(true)
                .set_recursion_available(true);
            for query in q.queries() {
                r.add_query(query.clone());
                let ours = query.name().to_ascii() == "app.test.";
                match *answer.lock().unwrap() {
                    Some(ip) if ours => {
                        if query.query_type() == RecordType::A {
                            r.add_answer(Record::from_rdata(
                                query.name().clone(),
                                1,
                                RData::A(A(ip)),
                            ));
                        }
                    }
                    _ => {
                        r.set_response_code(ResponseCode::NXDomain);
                    }
                }
            }
            if let Ok(bytes) = r.to_vec() {
                let _ = socket.send_to(&bytes, from);
            }
        }
    });
    addr
}

fn config(dns: SocketAddr, port: u16) -> String {
    format!(
        "workers = 2\n[dns]\nresolver = \"{dns}\"\nrefresh = 300\n[[upstream]]\nname = \"app\"\nservers = [{{ addr = \"app.test:{port}\" }}]\n"
    )
}

fn a_name_that_changes_address_moves_traffic_without_dropping_requests(bin: &str) {
    // Two origins on one port of two loopback addresses.
    let a = Origin::start_at("a", "127.0.0.2:0".parse().unwrap());
    let port = a.addr.port();
    let b = Origin::start_at("b", SocketAddr::from(([127, 0, 0, 3], port)));
    let answer: Answer = Arc::new(Mutex::new(Some(Ipv4Addr::new(127, 0, 0, 2))));
    let dns = dns_server(answer.clone());
    let w = Weir::start_with(bin, &config(dns, port), &["--quiet"]);
    let mut c = Client::connect(w.addr);
    let ask = |c: &mut Client| {
        c.send(b"GET /name HTTP/1.1\r\nHost: t\r\n\r\n");
        let r = c.read();
        assert_eq!(r.status, 200, "no request dropped");
        r.text()
    };
    for _ in 0..5 {
        assert_eq!(ask(&mut c), "a");
    }
    *answer.lock().unwrap() = Some(Ipv4Addr::new(127, 0, 0, 3));
    let changed = Instant::now();
    let mut seen_b = false;
    while changed.elapsed() < Duration::from_secs(10) {
        if ask(&mut c) == "b" {
            seen_b = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(seen_b, "traffic never moved to the new address");
    w.wait_stderr(
        "dns: \"app.test\" now resolves to 127.0.0.3",
        Duration::from_secs(5),
    );
    for _ in 0..5 {
        assert_eq!(ask(&mut c), "b", "the old address is gone");
    }
    // Stops resolving: the last good address stays, said once.
    *answer.lock().unwrap() = None;
    w.wait_stderr("cannot resolve \"app.test\"", Duration::from_secs(5));
    for _ in 0..5 {
        assert_eq!(ask(&mut c), "b");
    }
    *answer.lock().unwrap() = Some(Ipv4Addr::new(127, 0, 0, 2));
    w.wait_stderr("\"app.test\" resolves again", Duration::from_secs(5));
    drop(b);
}

fn a_name_that_never_resolves_is_a_start_up_error(bin: &str) {
    let answer: Answer = Arc::new(Mutex::new(None));
    let dns = dns_server(answer);
    let dir = support::scratch_dir("dns-never");
    let path = Weir::write_config(&dir, &config(dns, 80));
    let out = Command::new(support::binary(bin))
        .arg("--config")
        .arg(&path)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("weir.toml:8: upstream[0].servers[0].addr: cannot resolve \"app.test\": "),
        "{err}"
    );
}

each_frontend!(
    a_name_that_changes_address_moves_traffic_without_dropping_requests,
    a_name_that_never_resolves_is_a_start_up_error,
);
