//! The client's address as a connection keeps it.

use std::net::{IpAddr, SocketAddr};

/// A client's address in 20 bytes where a `SocketAddr` takes 32 (an
/// IPv6 address's flow label and scope id, which nothing here reads):
/// every idle connection carries one.
#[derive(Clone, Copy, Debug)]
pub(super) struct ClientAddr {
    ip: IpAddr,
    port: u16,
}

impl ClientAddr {
    /// The address and port of `a`.
    pub(super) fn of(a: SocketAddr) -> ClientAddr {
        ClientAddr {
            ip: a.ip(),
            port: a.port(),
        }
    }

    /// As a socket address.
    pub(super) fn get(self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }

    /// The IP address.
    pub(super) fn ip(self) -> IpAddr {
        self.ip
    }

    /// The port.
    pub(super) fn port(self) -> u16 {
        self.port
    }
}
