//! The proxy oracle: after a simulated connection, what the upstreams
//! received, read by the [reference](super::reference) parser, must be
//! exactly what the client sent, read the same way; and what the client
//! received must be a valid sequence of responses, one per request.
//! A violation panics with what differed (the fuzz targets and the
//! corpus tests call [`check`]).

use super::reference::{self, Field, Message, Rest};
use super::Sim;

/// How the gateway under test rewrites requests (what the oracle expects).
#[derive(Clone, Copy, Debug)]
pub struct Expect {
    /// The route prefix that is stripped from targets (`strip_prefix`).
    pub strip: &'static str,
    /// The client's IP as it must end `X-Forwarded-For`.
    pub client_ip: &'static str,
    /// Most bytes the core may hold at once (heads, windows, queues).
    pub max_held: usize,
}

/// Checks one finished simulation of the client stream `client`.
pub fn check(client: &[u8], sim: &Sim, expect: &Expect) {
    assert!(
        sim.peak_held <= expect.max_held,
        "the core held {} bytes at once (bound {})",
        sim.peak_held,
        expect.max_held
    );
    let (sent, got) = reference::exchange(client, &sim.client_out, sim.client_closed);
    let matched = check_upstreams(&sent, sim, expect);
    check_client(&sent, &got, sim, &matched);
    assert!(
        sim.logs.len() <= sent.messages.len() + 1,
        "{} log records for {} requests",
        sim.logs.len(),
        sent.messages.len()
    );
}

/// Every request the upstreams received, in the order it was sent.
fn upstream_requests(sim: &Sim, client: &reference::Stream) -> Vec<(usize, Message)> {
    let mut all = Vec::new();
    for (i, s) in sim.socks.iter().enumerate() {
        let (got, answers) = reference::exchange(&s.received, &s.sent, s.closed);
        let upgraded = answers.messages.iter().any(|m| m.status() == 101);
        let mut at = 0;
        for m in got.messages {
            // The send that carried this request's first byte orders it.
            let order = sim
                .sends
                .iter()
                .rposition(|&(sock, start)| sock == i && start <= at)
                .expect("bytes without a send");
            at += m.len;
            all.push((order, m));
        }
        match got.rest {
            Rest::Empty => {}
            Rest::Invalid(at, why) => panic!(
                "upstream #{i} received bytes that are not HTTP/1.1 at {at} ({why}): {:?}",
                String::from_utf8_lossy(&s.received[at..])
            ),
            // A request still on its way, or cut off by closing the
            // upstream, or bytes after an upgrade.
            Rest::Partial(at) => {
                let client_partial = !matches!(client.rest, Rest::Empty);
                assert!(
                    s.closed || upgraded || client_partial,
                    "upstream #{i} holds a partial request the client completed: {:?}",
                    String::from_utf8_lossy(&s.received[at..])
                );
            }
        }
    }
    all.sort_by_key(|(order, _)| *order);
    all
}

/// Matches each upstream request to the client request it forwards, in
/// order; a request may repeat only as a retry (bodyless, idempotent).
/// Returns the client index of each upstream request.
fn check_upstreams(sent: &reference::Stream, sim: &Sim, expect: &Expect) -> Vec<usize> {
    let mut matched: Vec<usize> = Vec::new();
    let mut next = 0;
    for (_, up) in upstream_requests(sim, sent) {
        if let Some(&last) = matched.last() {
            let c = &sent.messages[last];
            let retry = c.body.is_empty()
                && matches!(
                    c.method(),
                    b"GET" | b"HEAD" | b"OPTIONS" | b"PUT" | b"DELETE" | b"TRACE"
                )
                && forwards(c, &up, expect).is_ok();
            if retry {
                matched.push(last);
                continue;
            }
        }
        let mut why = "no request left";
        let found =
            (next..sent.messages.len()).find(|&j| match forwards(&sent.messages[j], &up, expect) {
                Ok(()) => true,
                Err(w) => {
                    if j == next {
                        why = w;
                    }
                    false
                }
            });
        let Some(j) = found else {
            panic!(
                "an upstream received a request the client did not send \
                 (next client request #{next}: {why}): {}\nclient requests: {:?}",
                show(&up),
                sent.messages.iter().map(show).collect::<Vec<_>>()
            );
        };
        matched.push(j);
        next = j + 1;
    }
    matched
}

fn show(m: &Message) -> String {
    format!(
        "{} {} {:?} body {:?}",
        String::from_utf8_lossy(m.method()),
        String::from_utf8_lossy(m.target()),
        m.fields
            .iter()
            .map(|(n, v)| format!(
                "{}: {}",
                String::from_utf8_lossy(n),
                String::from_utf8_lossy(v)
            ))
            .collect::<Vec<_>>(),
        String::from_utf8_lossy(&m.body)
    )
}

/// Whether `up` is `client` as the gateway must forward it; if not, why.
fn forwards(client: &Message, up: &Message, expect: &Expect) -> Result<(), &'static str> {
    if up.method() != client.method() {
        return Err("method differs");
    }
    let (authority, origin) = origin_form(client.target());
    let Some(origin) = normalised(&origin) else {
        return Err("the client's path is refused by normalisation");
    };
    if up.target() != expected_target(&origin, expect.strip) {
        return Err("target differs");
    }
    if up.start[2] != b"HTTP/1.1" {
        return Err("not sent as HTTP/1.1");
    }
    if up.body != client.body {
        return Err("body differs");
    }
    if up.trailers != may_trail(&client.trailers) {
        return Err("trailers differ (the client's, less those that must not trail)");
    }
    if end_to_end(client, false) != end_to_end(up, true) {
        return Err("end-to-end fields differ");
    }
    // The authority of an absolute-form target wins over Host (RFC 9112
    // §3.2.2); without either (HTTP/1.0) the gateway names one.
    let hosts: Vec<&[u8]> = up.values("host").collect();
    let mut client_hosts: Vec<&[u8]> = client.values("host").collect();
    if let Some(a) = authority {
        client_hosts = vec![a];
    }
    if hosts.len() != 1 || (!client_hosts.is_empty() && client_hosts != hosts) {
        return Err("Host differs");
    }
    let xff: Vec<&[u8]> = up.values("x-forwarded-for").collect();
    if xff.len() != 1 || !xff[0].ends_with(expect.client_ip.as_bytes()) {
        return Err("X-Forwarded-For is not one field ending in the client");
    }
    Ok(())
}

/// The trailer fields a gateway may forward (RFC 9110 §6.5.1): not
/// framing, routing, request modifiers, authentication, response control
/// or content description; the oracle's own list.
fn may_trail(fields: &[Field]) -> Vec<Field> {
    const NEVER: &[&str] = &[
        "transfer-encoding",
        "content-length",
        "host",
        "cache-control",
        "expect",
        "max-forwards",
        "pragma",
        "range",
        "te",
        "if-match",
        "if-none-match",
        "if-modified-since",
        "if-unmodified-since",
        "if-range",
        "authorization",
        "proxy-authorization",
        "proxy-authenticate",
        "www-authenticate",
        "cookie",
        "set-cookie",
        "age",
        "expires",
        "date",
        "location",
        "retry-after",
        "vary",
        "warning",
        "content-encoding",
        "content-type",
        "content-range",
        "trailer",
        "connection",
        "keep-alive",
        "upgrade",
    ];
    fields
        .iter()
        .filter(|(n, _)| !NEVER.iter().any(|x| x.as_bytes().eq_ignore_ascii_case(n)))
        .cloned()
        .collect()
}

/// An absolute-form target (`http://authority/path?q`) as its authority
/// and origin-form; any other target as it is.
fn origin_form(target: &[u8]) -> (Option<&[u8]>, Vec<u8>) {
    let lower = target.to_ascii_lowercase();
    let scheme = [&b"http://"[..], b"https://"]
        .into_iter()
        .find(|s| lower.starts_with(s));
    let Some(scheme) = scheme else {
        return (None, target.to_vec());
    };
    let rest = &target[scheme.len()..];
    let end = rest
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(rest.len());
    let mut path = rest[end..].to_vec();
    if path.first() != Some(&b'/') {
        path.insert(0, b'/');
    }
    (Some(&rest[..end]), path)
}

/// The target normalised as RFC 3986 §6.2.2 says and the gateway's
/// defaults ask (`merge_slashes`, `%2F` kept): unreserved characters
/// decoded, other percent-encodings in upper case, runs of `/` as one,
/// dot-segments removed by §5.2.4's own buffer algorithm. `None` when the
/// path climbs above the root or a `%` is not followed by two hex digits.
fn normalised(target: &[u8]) -> Option<Vec<u8>> {
    if target.first() != Some(&b'/') {
        return Some(target.to_vec());
    }
    let q = target
        .iter()
        .position(|&b| b == b'?')
        .unwrap_or(target.len());
    let (path, query) = target.split_at(q);
    let mut decoded = Vec::new();
    let mut i = 0;
    while i < path.len() {
        if path[i] == b'%' {
            let hex = std::str::from_utf8(path.get(i + 1..i + 3)?).ok()?;
            let c = u8::from_str_radix(hex, 16)
                .ok()
                .filter(|_| !hex.starts_with('+'))?;
            if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
                decoded.push(c);
            } else {
                decoded.extend_from_slice(format!("%{c:02X}").as_bytes());
            }
            i += 3;
        } else {
            decoded.push(path[i]);
            i += 1;
        }
    }
    let mut input: Vec<u8> = Vec::new();
    for &b in &decoded {
        if !(b == b'/' && input.last() == Some(&b'/')) {
            input.push(b);
        }
    }
    // RFC 3986 §5.2.4, for an absolute path (rules B, C, E).
    let mut output: Vec<u8> = Vec::new();
    while !input.is_empty() {
        if input.starts_with(b"/./") {
            input.drain(..2);
        } else if input == b"/." {
            input = b"/".to_vec();
        } else if input.starts_with(b"/../") || input == b"/.." {
            if output.is_empty() {
                return None;
            }
            let cut = output.iter().rposition(|&b| b == b'/').unwrap_or(0);
            output.truncate(cut);
            if input == b"/.." {
                input = b"/".to_vec();
            } else {
                input.drain(..3);
            }
        } else {
            let next = input[1..]
                .iter()
                .position(|&b| b == b'/')
                .map_or(input.len(), |p| p + 1);
            output.extend(input.drain(..next));
        }
    }
    output.extend_from_slice(query);
    Some(output)
}

/// The target the upstream must see: the route's prefix stripped.
fn expected_target(target: &[u8], strip: &str) -> Vec<u8> {
    let path_end = target
        .iter()
        .position(|&b| b == b'?')
        .unwrap_or(target.len());
    if !target[..path_end].starts_with(strip.as_bytes()) {
        return target.to_vec();
    }
    let rest = &target[strip.len()..];
    let mut t = Vec::with_capacity(rest.len() + 1);
    if rest.first() != Some(&b'/') {
        t.push(b'/');
    }
    t.extend_from_slice(rest);
    t
}

/// The fields that must pass unchanged, in order: all but the hop-by-hop
/// ones (RFC 9110 §7.6.1: the fixed list and what `Connection` names),
/// framing, `X-Forwarded-*` (set by the gateway) and `Host` (compared
/// apart); `Expect` is dropped from HTTP/1.0 requests.
fn end_to_end(m: &Message, upstream: bool) -> Vec<Field> {
    const HOP: &[&str] = &[
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
        "transfer-encoding",
        "content-length",
        "http2-settings",
        "host",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
    ];
    let listed: Vec<Vec<u8>> = if upstream {
        Vec::new()
    } else {
        m.values("connection")
            .flat_map(|v| v.split(|&b| b == b','))
            .map(|t| reference::trim(t).to_ascii_lowercase())
            .filter(|t| !t.is_empty() && t != b"close" && t != b"host")
            .collect()
    };
    let http10 = m.start[2] == b"HTTP/1.0";
    m.fields
        .iter()
        .filter(|(n, _)| {
            let lower = n.to_ascii_lowercase();
            let dropped = HOP.iter().any(|h| h.as_bytes() == lower)
                || listed.contains(&lower)
                || (http10 && lower == b"expect");
            !dropped
        })
        .cloned()
        .collect()
}

/// The client received a valid sequence of responses, at most one per
/// request, and nothing after one that closes; no request after that one
/// reached an upstream.
fn check_client(sent: &reference::Stream, got: &reference::Stream, sim: &Sim, matched: &[usize]) {
    if let Rest::Invalid(at, why) = got.rest {
        panic!(
            "the client received bytes that are not a response at {at} ({why}): {:?}",
            String::from_utf8_lossy(&sim.client_out[at..])
        );
    }
    let finals: Vec<&Message> = got
        .messages
        .iter()
        .filter(|m| !(100..200).contains(&m.status()) || m.status() == 101)
        .collect();
    let framed = sent.messages.len() + usize::from(!matches!(sent.rest, Rest::Empty));
    assert!(
        finals.len() <= framed,
        "{} responses for {} requests",
        finals.len(),
        framed
    );
    if let Some(k) = finals
        .iter()
        .position(|m| m.has_token("connection", "close"))
    {
        assert!(
            k + 1 == finals.len() && matches!(got.rest, Rest::Empty),
            "bytes after a response that closes the connection"
        );
        if let Some(&j) = matched.iter().find(|&&j| j > k) {
            panic!("request #{j} reached an upstream after response #{k} closed the connection");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::normalised;
    use crate::http1::path::{normalise, PathRules};
    use crate::rng::Rng;

    /// The oracle's path normaliser (RFC 3986's buffer algorithm) and the
    /// core's (segments) agree on paths made of the bytes that matter.
    #[test]
    fn the_two_path_normalisers_agree() {
        let alphabet = b"/./a%2eEfF?";
        let mut rng = Rng::new(7);
        for _ in 0..200_000 {
            let len = 1 + rng.below(12) as usize;
            let mut t = vec![b'/'];
            t.extend((0..len).map(|_| alphabet[rng.below(alphabet.len() as u64) as usize]));
            let core = normalise(&bytes::Bytes::from(t.clone()), &PathRules::default())
                .map(|n| n.map_or_else(|| t.clone(), |b| b.to_vec()))
                .ok();
            assert_eq!(core, normalised(&t), "{:?}", String::from_utf8_lossy(&t));
        }
    }
}
