//! A connection's side of the flight recorder (`crate::recorder`): what
//! its peers send and what goes to its client is kept while it records;
//! serving without a recorder pays one test of a flag per input and output.

use std::time::Instant;

use super::connection::Connection;
use super::{Input, Output, Peer};

impl Connection {
    /// [`Connection::poll_output`] of a connection the flight recorder
    /// records (out of line: serving without it pays one test).
    #[cold]
    #[inline(never)]
    pub(super) fn poll_recorded(&mut self) -> Output {
        let o = self.next_output();
        self.record_output(&o);
        o
    }

    /// Keeps what a peer sent (the flight recorder).
    #[cold]
    #[inline(never)]
    pub(super) fn record_input(&mut self, now: Instant, input: &Input) {
        use crate::recorder::Direction;
        let upstream = match input {
            Input::Received(Peer::Upstream(id), _) => self.is_current(*id),
            _ => false,
        };
        let Some(r) = self.bufs.as_mut().and_then(|b| b.rec.as_mut()) else {
            return;
        };
        r.at(now);
        match input {
            Input::Received(Peer::Client, b) => r.piece(Direction::FromClient, b),
            Input::Received(Peer::Upstream(_), b) if upstream => {
                r.piece(Direction::FromUpstream, b)
            }
            _ => {}
        }
    }

    /// Keeps what goes to the client; hands the recording to the ring
    /// when the client side closes (the flight recorder).
    fn record_output(&mut self, o: &Output) {
        match o {
            Output::Send(Peer::Client, b) => {
                if let Some(r) = self.bufs.as_mut().and_then(|b| b.rec.as_mut()) {
                    r.piece(crate::recorder::Direction::ToClient, b);
                }
            }
            Output::Close(Peer::Client) => {
                if let Some(r) = self.bufs.as_mut().and_then(|b| b.rec.take()) {
                    r.finish();
                }
            }
            _ => {}
        }
    }
}
