//! Resolving server names (`addr = "NAME:PORT"`), the frontend's part:
//! the system's resolver, or the DNS server `[dns] resolver` names, asked
//! over UDP with messages built and read by `hickory-proto` (which also
//! gives the records' TTL).

use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use weir_core::config::dns::Dns;

/// How long one question may wait for its answer (asked twice).
const ASK_TIMEOUT: Duration = Duration::from_millis(1000);

/// The addresses of `host`, and the shortest TTL among them when known.
pub fn resolve(host: &str, dns: &Dns) -> Result<(Vec<IpAddr>, Option<Duration>), String> {
    let Some(server) = dns.resolver else {
        let ips: Vec<IpAddr> = (host, 0u16)
            .to_socket_addrs()
            .map_err(|e| e.to_string())?
            .map(|a| a.ip())
            .collect();
        return Ok((dedup(ips), None));
    };
    let mut ips = Vec::new();
    let mut ttl: Option<u32> = None;
    let mut failure = None;
    for kind in [RecordType::A, RecordType::AAAA] {
        match ask(server, host, kind) {
            Ok((mut found, t)) => {
                ips.append(&mut found);
                if let Some(t) = t {
                    ttl = Some(ttl.map_or(t, |x| x.min(t)));
                }
            }
            Err(e) => failure = Some(e),
        }
    }
    if ips.is_empty() {
        return Err(failure.unwrap_or_else(|| "no address".into()));
    }
    Ok((dedup(ips), ttl.map(|t| Duration::from_secs(u64::from(t)))))
}

fn dedup(mut ips: Vec<IpAddr>) -> Vec<IpAddr> {
    let mut seen = Vec::new();
    ips.retain(|ip| {
        let new = !seen.contains(ip);
        seen.push(*ip);
        new
    });
    ips
}

/// One question to `server`: the records of `kind` for `host`.
fn ask(
    server: SocketAddr,
    host: &str,
    kind: RecordType,
) -> Result<(Vec<IpAddr>, Option<u32>), String> {
    let name = Name::from_ascii(host).map_err(|e| e.to_string())?;
    let id = (std::process::id() as u16)
        ^ (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos() as u16);
    let mut query = Message::new();
    query
        .set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(name, kind));
    let bytes = query.to_vec().map_err(|e| e.to_string())?;
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => ([0, 0, 0, 0], 0).into(),
        SocketAddr::V6(_) => ([0u16; 8], 0).into(),
    };
    let socket = UdpSocket::bind(local).map_err(|e| e.to_string())?;
    socket
        .set_read_timeout(Some(ASK_TIMEOUT))
        .map_err(|e| e.to_string())?;
    socket.connect(server).map_err(|e| e.to_string())?;
    let mut buf = [0u8; 4096];
    for _ in 0..2 {
        socket.send(&bytes).map_err(|e| e.to_string())?;
        let Ok(n) = socket.recv(&mut buf) else {
            continue;
        };
        let Ok(answer) = Message::from_vec(&buf[..n]) else {
            continue;
        };
        if answer.id() != id {
            continue;
        }
        match answer.response_code() {
            ResponseCode::NoError => {}
            code => return Err(format!("{code}")),
        }
        let mut ips = Vec::new();
        let mut ttl = None;
        for r in answer.answers() {
            let ip = match r.data() {
                RData::A(a) => IpAddr::V4(a.0),
                RData::AAAA(a) => IpAddr::V6(a.0),
                _ => continue,
            };
            ips.push(ip);
            ttl = Some(ttl.map_or(r.ttl(), |t: u32| t.min(r.ttl())));
        }
        return Ok((ips, ttl));
    }
    Err(format!("no answer from {server}"))
}
