//! Stopping a worker: no more accepts, pooled connections closed, each
//! connection told to finish; when the grace period is over, what is left
//! is cut (and still logged).

use std::time::Instant;

use super::Worker;

impl Worker {
    pub(super) fn begin_shutdown(&mut self, now: Instant) {
        self.stop_at = Some(now + self.grace);
        if self.listening {
            for l in &mut self.listeners {
                let _ = self.poll.registry().deregister(l);
            }
            self.listening = false;
        }
        for k in self.pool.drain() {
            self.close_sock(k);
        }
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for ck in keys {
            if let Some(c) = self.conns.get_mut(ck) {
                if c.core.shutdown() {
                    self.shutdown.note_in_flight();
                }
            }
            self.service(ck, now);
        }
    }

    /// The grace period is over: every exchange still in flight is cut
    /// (and logged), and what the core says last is written out.
    pub(super) fn cut_all(&mut self, now: Instant) {
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for ck in keys {
            if let Some(c) = self.conns.get_mut(ck) {
                if c.core.cut(&mut self.gw, now) {
                    self.shutdown.note_cut();
                }
            }
            self.service(ck, now);
        }
        self.log.flush();
    }
}
