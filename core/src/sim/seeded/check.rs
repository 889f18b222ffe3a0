//! The seeded world's invariants, checked after every step.

use std::time::Instant;

use super::wire::{answer_len, body_of, id_of};
use super::{Req, Tally, World, LIMIT_BURST, LIMIT_RATE_PER_S, MAX_HELD};
use crate::sim::reference;

/// What the checker knows of one client connection.
#[derive(Default)]
pub(super) struct Client {
    /// The requests written on the current connection, in order.
    pub(super) sent: Vec<Req>,
    /// Every request any server of this client received, by id (over
    /// every connection the client had).
    pub(super) forwarded: fxhash::FxHashMap<u64, u32>,
    /// Requests and responses of the previous connections.
    pub(super) tally: Tally,
    /// Requests the rate limit let through on the previous connections.
    pub(super) limited_done: u64,
    /// Tunnel bytes written after a 101 on the current connection.
    pub(super) tunnel: Vec<u8>,
}

/// Requests and responses of client `i`'s current connection.
pub(super) fn current(world: &World, i: usize, sent: &[Req]) -> Tally {
    let s = &world.clients[i];
    let heads: Vec<bool> = sent.iter().map(|r| r.method == "HEAD").collect();
    let got = reference::responses(&s.client_out, &heads, false);
    Tally {
        requests: sent.len() as u64,
        responses: got.messages.len() as u64,
        forwarded: 0,
        tunneled: 0,
    }
}

/// Adds what client `i`'s servers received since last time to its
/// per-id counts (a fresh connection forgets its sockets).
pub(super) fn count_forwarded(world: &World, i: usize, c: &mut Client) {
    let s = &world.clients[i];
    for sock in &s.socks {
        for m in reference::requests(&sock.received, None).messages {
            if let Some(id) = id_of(&m, "x-id") {
                *c.forwarded.entry(id).or_default() += 1;
            }
        }
    }
}

/// Checks every invariant; the per-connection ones for client `only`
/// (the one the step touched) or, with `None`, for all.
pub(super) fn check(
    world: &World,
    clients: &mut [Client],
    epoch: Instant,
    only: Option<usize>,
    settled: bool,
) -> Result<(), String> {
    let mut limited_forwarded = 0u64;
    for (i, c) in clients.iter_mut().enumerate() {
        let s = &world.clients[i];
        limited_forwarded += c.limited_done + limited_passed(world, i);
        if only.is_some_and(|o| o != i) {
            continue;
        }
        if s.peak_held > MAX_HELD {
            return Err(format!(
                "client {i}: the core held {} bytes (bound {MAX_HELD})",
                s.peak_held
            ));
        }
        // Responses, in order, each answering the request at its place.
        let heads: Vec<bool> = c.sent.iter().map(|r| r.method == "HEAD").collect();
        // Read as if still open: a response cut short by a close (its
        // server closed early) is a partial one, which is allowed.
        let got = reference::responses(&s.client_out, &heads, false);
        if let reference::Rest::Invalid(at, why) = got.rest {
            return Err(format!("client {i}: invalid response at byte {at}: {why}"));
        }
        if got.messages.len() > c.sent.len() {
            return Err(format!(
                "client {i}: {} responses to {} requests",
                got.messages.len(),
                c.sent.len()
            ));
        }
        for (m, r) in got.messages.iter().zip(&c.sent) {
            if let Some(echo) = id_of(m, "x-echo") {
                if echo != r.id {
                    return Err(format!(
                        "client {i}: request {} got the response to {echo}",
                        r.id
                    ));
                }
                let want = if r.method == "HEAD" {
                    Vec::new()
                } else {
                    body_of(r.id, answer_len(r.id))
                };
                if m.status() == 200 && m.body != want {
                    return Err(format!(
                        "client {i}: request {}: the body is not its own",
                        r.id
                    ));
                }
            }
        }
        if settled && !s.client_closed && got.messages.len() != c.sent.len() {
            return Err(format!(
                "client {i}: {} of {} requests answered and the connection still open after settling",
                got.messages.len(),
                c.sent.len()
            ));
        }
        // The access log holds a record for every response (a tunnel's
        // when it ends).
        let open_tunnel =
            !s.client_closed && got.messages.last().is_some_and(|m| m.status() == 101);
        let logged = got.messages.len() - usize::from(open_tunnel);
        if s.logs.len() < logged {
            return Err(format!(
                "client {i}: {logged} responses but {} access records",
                s.logs.len()
            ));
        }
        // What reached the servers is what the client sent, whole.
        for sock in &s.socks {
            for m in reference::requests(&sock.received, None).messages {
                let Some(id) = id_of(&m, "x-id") else {
                    return Err(format!("client {i}: a server got a request without its id"));
                };
                let Some(r) = c.sent.iter().find(|r| r.id == id) else {
                    return Err(format!(
                        "client {i}: a server got request {id}, not sent on this connection"
                    ));
                };
                if m.method() != r.method.as_bytes() || m.body != body_of(id, r.body) {
                    return Err(format!("client {i}: request {id} reached a server altered"));
                }
            }
        }
        let mut counts = c.forwarded.clone();
        let mut here = fxhash::FxHashSet::default();
        for sock in &s.socks {
            for m in reference::requests(&sock.received, None).messages {
                if let Some(id) = id_of(&m, "x-id") {
                    *counts.entry(id).or_default() += 1;
                    here.insert(id);
                }
            }
        }
        // Tunnel bytes reach the server after the handshake, unaltered.
        if let Some(up) = c.sent.last().filter(|r| r.upgrade) {
            for sock in &s.socks {
                let msgs = reference::requests(&sock.received, None).messages;
                let Some(k) = msgs.iter().position(|m| id_of(m, "x-id") == Some(up.id)) else {
                    continue;
                };
                let at: usize = msgs[..=k].iter().map(|m| m.len).sum();
                let tail = &sock.received[at.min(sock.received.len())..];
                if !c.tunnel.starts_with(tail) {
                    return Err(format!(
                        "client {i}: the tunnel after request {} carried bytes the client did not send",
                        up.id
                    ));
                }
                if tail.len() < c.tunnel.len() && !s.client_closed && !sock.closed {
                    return Err(format!(
                        "client {i}: {} of {} tunnel bytes reached the server",
                        tail.len(),
                        c.tunnel.len()
                    ));
                }
            }
        }
        // Once settled, every request that reached a server is in the log.
        if settled && s.logs.len() < here.len() {
            return Err(format!(
                "client {i}: {} requests reached servers but {} access records",
                here.len(),
                s.logs.len()
            ));
        }
        for (id, n) in &counts {
            let non_idempotent = c
                .sent
                .iter()
                .find(|r| r.id == *id)
                .is_some_and(|r| r.method == "POST");
            if non_idempotent && *n > 1 {
                return Err(format!(
                    "client {i}: non-idempotent request {id} sent {n} times"
                ));
            }
        }
    }
    // The limit is shared by every client (its key is the route): no more
    // got through than the burst and the rate allow.
    let elapsed = world.clients[0].now.saturating_duration_since(epoch);
    let allowed = LIMIT_BURST + LIMIT_RATE_PER_S * elapsed.as_millis() as u64 / 1000 + 1;
    if limited_forwarded > allowed {
        return Err(format!(
            "{limited_forwarded} requests passed the rate limit in {elapsed:?} (at most {allowed})"
        ));
    }
    Ok(())
}

/// The last request on client `i`'s connection got a 101.
pub(super) fn switched(world: &World, i: usize, sent: &[Req]) -> bool {
    let heads: Vec<bool> = sent.iter().map(|r| r.method == "HEAD").collect();
    let got = reference::responses(&world.clients[i].client_out, &heads, false);
    got.messages.len() == sent.len() && got.messages.last().is_some_and(|m| m.status() == 101)
}

/// Requests of client `i`'s current connection the rate limit let through.
pub(super) fn limited_passed(world: &World, i: usize) -> u64 {
    world.clients[i]
        .logs
        .iter()
        .filter(|r| &r.route[..] == b"limited" && r.answered_by != "rate-limit")
        .count() as u64
}
