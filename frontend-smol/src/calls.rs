//! Outside calls (`Output::Call`) as futures polled by the connection's
//! own task: no thread and no task of their own. Connections to services
//! that allow reuse (Redis) wait idle in the shard between calls.

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use async_io::Async;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use weir_core::call::{Call, Reply};
use weir_frontend::calls::{Incoming, Reusable, Step, INCIDENTS};

use crate::shard::Shard;

/// Carries out `call`; its reply, or why there is none.
pub async fn perform(shard: Arc<Shard>, call: Box<Call>) -> Reply {
    let addr = call.addr;
    let reply = exchange(&shard, call).await;
    INCIDENTS.note("weir", addr, &reply);
    reply
}

async fn exchange(shard: &Shard, call: Box<Call>) -> Reply {
    let addr = call.addr;
    let idle = if call.reuse {
        shard.take_idle_call(addr)
    } else {
        None
    };
    let mut stream = match idle {
        Some(s) => s,
        None => match Async::<TcpStream>::connect(addr).await {
            Ok(s) => {
                let _ = s.get_ref().set_nodelay(true);
                s
            }
            Err(_) => return Reply::Failed("connection refused"),
        },
    };
    let mut incoming = Incoming::new(call);
    if stream.write_all(&incoming.request()).await.is_err() {
        return Reply::Failed("connection reset by the service");
    }
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => return incoming.closed(false),
            Ok(n) => match incoming.received(&buf[..n]) {
                Step::More => {}
                Step::Done(reply, reusable) => {
                    if reusable == Reusable::Yes {
                        shard.put_idle_call(addr, stream);
                    }
                    return reply;
                }
            },
            Err(_) => return incoming.closed(true),
        }
    }
}

/// Idle connections to called services, by address.
#[derive(Default)]
pub struct IdleCalls {
    idle: Vec<(SocketAddr, Async<TcpStream>)>,
}

/// Most idle connections kept per shard.
const MAX_IDLE: usize = 64;

impl IdleCalls {
    /// An idle connection to `addr` the service has not closed meanwhile.
    pub fn take(&mut self, addr: SocketAddr) -> Option<Async<TcpStream>> {
        while let Some(i) = self.idle.iter().rposition(|(a, _)| *a == addr) {
            let (_, s) = self.idle.swap_remove(i);
            let mut probe = [0u8; 1];
            // Alive: nothing to read yet. Closed (0) or data nobody asked for: dropped.
            if let Err(e) = s.get_ref().peek(&mut probe) {
                if e.kind() == std::io::ErrorKind::WouldBlock {
                    return Some(s);
                }
            }
        }
        None
    }

    /// Keeps `s` for the next call to `addr`.
    pub fn put(&mut self, addr: SocketAddr, s: Async<TcpStream>) {
        if self.idle.len() < MAX_IDLE {
            self.idle.push((addr, s));
        }
    }
}
