//! The simulated peers' side: servers answering the requests they
//! received, and every peer delivering its pending bytes within the
//! core's budgets (or as a pass), a piece at a time.

use bytes::Bytes;

use super::{reference, Sim};
use crate::{Input, Peer};

impl Sim {
    /// Servers answer each complete request they received.
    pub(super) fn serve_upstreams(&mut self) -> bool {
        let mut moved = false;
        for s in &mut self.socks {
            if s.closed || s.pooled {
                continue;
            }
            let owner = self
                .shared_scripts
                .iter()
                .find(|(a, _)| *a == s.addr)
                .map_or(s.addr, |(_, o)| *o);
            // A strict server: it answers whole requests as RFC 9112
            // reads them, and nothing else.
            while let reference::Read::Whole(m) = reference::request(&s.received[s.answered..]) {
                let n = m.len;
                let scripted = self.scripts.get_mut(&owner).and_then(|q| q.pop_front());
                let answer = scripted.or_else(|| self.responder.and_then(|(f, mode)| f(&m, mode)));
                let Some(resp) = answer else {
                    break;
                };
                s.answered += n;
                s.pending.extend(resp);
                moved = true;
            }
        }
        moved
    }

    fn piece(&mut self) -> usize {
        if self.splits.is_empty() {
            return self.split;
        }
        self.split_at += 1;
        self.splits[self.split_at % self.splits.len()]
    }

    /// Delivers pending bytes within the core's budgets, `split` at a time.
    pub(super) fn feed_peers(&mut self) -> bool {
        let mut moved = false;
        if !self.client_closed {
            let piece = self.piece();
            let n = match self.client_pass {
                // A frontend moves a pass when the server's side can take it.
                Some((_, left)) => usize::try_from(left).map_or(piece, |l| l.min(piece)),
                None => self.conn.read_budget(Peer::Client).min(piece),
            };
            let n = n.min(self.client_pending.len());
            if n > 0 {
                let b: Vec<u8> = self.client_pending.drain(..n).collect();
                match self.client_pass {
                    Some((i, left)) => {
                        assert!(!self.socks[i].closed, "pass to a closed upstream");
                        self.sends.push((i, self.socks[i].received.len()));
                        self.socks[i].received.extend_from_slice(&b);
                        self.passed_in += n as u64;
                        self.client_pass = Some((i, left - n as u64)).filter(|p| p.1 > 0);
                        self.feed(Input::Passed(Peer::Client, n as u64));
                    }
                    None => self.feed(Input::Received(Peer::Client, b.into())),
                }
                return true;
            }
            if self.client_pending.is_empty() && self.client_eof_pending {
                self.client_eof_pending = false;
                self.feed(Input::Closed(Peer::Client));
                return true;
            }
        }
        for i in 0..self.socks.len() {
            if self.socks[i].closed || self.socks[i].pooled {
                continue;
            }
            let id = self.socks[i].id;
            let piece = self.piece();
            let passing = self.socks[i].pass_left > 0;
            let budget = match passing {
                // A frontend moves a pass when the client can take it.
                true => piece.min(usize::try_from(self.socks[i].pass_left).unwrap_or(usize::MAX)),
                false => self.conn.read_budget(Peer::Upstream(id)).min(piece),
            };
            let n = budget.min(self.socks[i].pending.len());
            if n > 0 {
                let b: Vec<u8> = self.socks[i].pending.drain(..n).collect();
                self.socks[i].sent.extend_from_slice(&b);
                if passing {
                    self.socks[i].pass_left -= n as u64;
                    assert!(!self.client_closed, "pass after close");
                    self.client_out.extend_from_slice(&b);
                    self.passed += n as u64;
                    self.feed(Input::Passed(Peer::Upstream(id), n as u64));
                } else {
                    self.feed(Input::Received(Peer::Upstream(id), Bytes::from(b)));
                }
                moved = true;
                let script_done = self.close_when_script_done
                    && self
                        .scripts
                        .get(&self.socks[i].addr)
                        .is_none_or(|q| q.is_empty());
                if (self.close_after_response || script_done)
                    && self.socks[i].pending.is_empty()
                    && !self.socks[i].closed
                    && !self.socks[i].pooled
                {
                    self.feed(Input::Closed(Peer::Upstream(id)));
                }
                return moved;
            }
        }
        moved
    }
}
