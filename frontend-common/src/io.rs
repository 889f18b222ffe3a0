//! Socket plumbing both frontends use the same way: a write queue of the
//! core's buffers flushed with vectored writes, and a read buffer that
//! hands out `Bytes` without zeroing memory on every read.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};

use bytes::{Buf, Bytes, BytesMut};

/// Largest single read.
pub const READ_MAX: usize = 64 * 1024;

/// What to do with a socket once its write queue is empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterFlush {
    /// Keep it.
    Keep,
    /// Give it to the keep-alive pool.
    Pool,
    /// Close it.
    Close,
}

/// How a flush attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flushed {
    /// Nothing was queued.
    Idle,
    /// The queue was emptied by this call.
    Drained,
    /// The socket would block with bytes still queued.
    Blocked,
}

/// Bytes handed out by the core for one socket, in order. Boxed, and
/// made at the first push: 8 bytes in every socket that has nothing
/// queued (a `VecDeque` takes 32), which is every idle connection's.
#[derive(Default)]
pub struct WriteQueue {
    // Boxed on purpose: the size of the empty queue is what counts.
    #[allow(clippy::box_collection)]
    queue: Option<Box<VecDeque<Bytes>>>,
}

impl WriteQueue {
    /// Queues a buffer.
    pub fn push(&mut self, b: Bytes) {
        self.queue.get_or_insert_default().push_back(b);
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.queue.as_ref().is_none_or(|q| q.is_empty())
    }

    /// Drops everything queued.
    pub fn clear(&mut self) {
        if let Some(q) = &mut self.queue {
            q.clear();
        }
    }

    /// Gives back the queue's memory when it is empty (idle connections).
    pub fn release(&mut self) {
        if self.is_empty() {
            self.queue = None;
        }
    }

    /// Writes as much as `w` takes, up to 16 buffers per `write_vectored`
    /// (one buffer: `write`); `Interrupted` is retried, `WouldBlock` ends
    /// the attempt.
    pub fn flush(&mut self, mut w: impl Write) -> io::Result<Flushed> {
        let Some(queue) = self.queue.as_deref_mut().filter(|q| !q.is_empty()) else {
            return Ok(Flushed::Idle);
        };
        while !queue.is_empty() {
            let mut slices = [IoSlice::new(&[]); 16];
            let mut n = 0;
            for (s, b) in slices.iter_mut().zip(queue.iter()) {
                *s = IoSlice::new(b);
                n += 1;
            }
            // One buffer (a request head, a body chunk): a plain send,
            // which skips the kernel's copy of an iovec array.
            let result = if n == 1 {
                w.write(&slices[0])
            } else {
                w.write_vectored(&slices[..n])
            };
            match result {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(mut written) => {
                    while written > 0 {
                        let front = &mut queue[0];
                        if written >= front.len() {
                            written -= front.len();
                            queue.pop_front();
                        } else {
                            front.advance(written);
                            written = 0;
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    detach_small(queue);
                    return Ok(Flushed::Blocked);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Flushed::Drained)
    }
}

/// The peer is not taking bytes: what waits is copied into buffers of
/// its own size (pieces up to [`DETACH_MAX`]), instead of keeping alive
/// the read-buffer blocks it is a slice of (up to 64 KiB each, shared
/// with other connections' reads). A slow reader then holds what it has
/// not read, not the blocks around it; a peer that keeps up never blocks
/// and costs no copy.
fn detach_small(queue: &mut VecDeque<Bytes>) {
    for b in queue.iter_mut() {
        if b.len() <= DETACH_MAX {
            *b = Bytes::copy_from_slice(b);
        }
    }
}

/// Waiting pieces up to this size (the largest read) are copied out of
/// their read block by [`WriteQueue::flush`] when the peer blocks; a
/// larger piece is not a slice of a read block.
pub const DETACH_MAX: usize = READ_MAX;

/// The result of one read attempt.
pub enum ReadOutcome {
    /// Bytes read; `drained` when fewer came than were asked for, so the
    /// socket's receive buffer was empty at the time.
    Data {
        /// What was read.
        bytes: Bytes,
        /// The read was short.
        drained: bool,
    },
    /// The peer closed its sending side.
    Eof,
    /// Nothing to read now.
    WouldBlock,
    /// Reset or another I/O error.
    Failed,
}

/// A read buffer: reads land in it and leave as `Bytes` slices.
///
/// Memory is zeroed (safe Rust cannot read into uninitialised memory)
/// block by block, just before it is read into; a block starts at 4 KiB
/// and doubles, up to 64 KiB, while reads keep filling whole blocks, so
/// small requests touch little memory and bulk transfers get large reads.
///
/// A slice keeps its whole block alive. Once blocks are at their largest,
/// a large read (a body streaming at the window) that the rest of the
/// block would cut short goes to a fresh block instead of leaving a slice
/// in the old one: what a slow peer's queue holds then pins about one
/// block, not two or three.
pub struct ReadBuf {
    buf: BytesMut,
    block: usize,
}

impl Default for ReadBuf {
    fn default() -> ReadBuf {
        ReadBuf {
            buf: BytesMut::new(),
            block: 4096,
        }
    }
}

impl ReadBuf {
    /// Reads at most `max` bytes from `r`; `Interrupted` is retried.
    pub fn read_from(&mut self, mut r: impl Read, max: usize) -> ReadOutcome {
        let want = max.max(1);
        let large = self.block == READ_MAX && want >= READ_MAX / 2;
        if self.buf.is_empty() || (large && self.buf.len() < want) {
            self.buf = BytesMut::zeroed(self.block);
        }
        let fresh = self.buf.len() == self.block;
        let n = want.min(self.buf.len());
        loop {
            match r.read(&mut self.buf[..n]) {
                Ok(0) => return ReadOutcome::Eof,
                Ok(got) => {
                    if fresh && got == self.block {
                        self.block = (self.block * 2).min(READ_MAX);
                    }
                    return ReadOutcome::Data {
                        bytes: self.buf.split_to(got).freeze(),
                        drained: got < n,
                    };
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return ReadOutcome::WouldBlock,
                Err(_) => return ReadOutcome::Failed,
            }
        }
    }
}

/// Says on stderr where the gateway listens, once it does: the real
/// address, so that `listen = "127.0.0.1:0"` (tests, embedding) can be
/// read back.
pub fn announce(addr: std::net::SocketAddr) {
    eprintln!("weir: listening on {addr}");
}

/// Binds a listening socket with a deep backlog and `SO_REUSEADDR`
/// (not `SO_REUSEPORT`: a second gateway on the same port must fail).
pub fn bind(addr: std::net::SocketAddr) -> io::Result<std::net::TcpListener> {
    bind_with(addr, false)
}

/// Binds every listener of `config` with [`bind`], in order; an address
/// in use fails with `cannot listen on ADDR: address already in use`.
pub fn bind_all(config: &weir_core::Config) -> io::Result<Vec<std::net::TcpListener>> {
    config
        .listeners
        .iter()
        .map(|l| {
            bind(l.addr).map_err(|e| match e.kind() {
                io::ErrorKind::AddrInUse => io::Error::new(
                    e.kind(),
                    format!("cannot listen on {}: address already in use", l.addr),
                ),
                _ => io::Error::new(e.kind(), format!("cannot listen on {}: {e}", l.addr)),
            })
        })
        .collect()
}

/// [`bind`] with `SO_REUSEPORT`, for one listening socket per worker (the
/// kernel spreads connections). Another process binding the port the same
/// way is not refused: callers check with a plain [`bind`] first.
pub fn bind_reuseport(addr: std::net::SocketAddr) -> io::Result<std::net::TcpListener> {
    bind_with(addr, true)
}

/// How workers share a listening address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accept {
    /// One `SO_REUSEPORT` socket per worker: the kernel spreads new
    /// connections over them (the default).
    PerWorker,
    /// One socket shared by every worker, whose accepts race
    /// (`WEIR_ACCEPT=shared`, the measured alternative): the worker that
    /// wakes first takes a whole burst of new connections.
    Shared,
}

impl Accept {
    /// `WEIR_ACCEPT=shared` or the default.
    pub fn from_env() -> Accept {
        match std::env::var_os("WEIR_ACCEPT") {
            Some(v) if v == "shared" => Accept::Shared,
            _ => Accept::PerWorker,
        }
    }
}

/// The listening sockets of `n` workers, each worker's in config order;
/// where they listen is announced once all are bound. A plain bind of
/// every address comes first: it fails with "address already in use" if
/// anything listens there (SO_REUSEPORT sockets alone would not say so)
/// and fixes the ports left to the system; with [`Accept::PerWorker`] it
/// is released again before the workers' own sockets are bound.
pub fn bind_workers(
    config: &weir_core::Config,
    n: usize,
    accept: Accept,
) -> io::Result<Vec<Vec<std::net::TcpListener>>> {
    let plain = bind_all(config)?;
    let addrs = plain
        .iter()
        .map(|l| l.local_addr())
        .collect::<io::Result<Vec<_>>>()?;
    let per_worker = match accept {
        Accept::Shared => (0..n)
            .map(|_| plain.iter().map(|l| l.try_clone()).collect())
            .collect::<io::Result<Vec<_>>>()?,
        Accept::PerWorker => {
            drop(plain);
            (0..n)
                .map(|_| addrs.iter().map(|a| bind_reuseport(*a)).collect())
                .collect::<io::Result<Vec<_>>>()?
        }
    };
    for a in addrs {
        announce(a);
    }
    Ok(per_worker)
}

fn bind_with(addr: std::net::SocketAddr, reuse_port: bool) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Connections closed for room at `max_connections`, said on stderr at
/// most once a second (with how many since the last line).
#[derive(Debug, Default)]
pub struct Evictions {
    unsaid: u64,
    next_line: Option<std::time::Instant>,
}

impl Evictions {
    /// One more connection closed for room (`limit`: this worker's share).
    pub fn note(&mut self, now: std::time::Instant, limit: usize) {
        self.unsaid += 1;
        if self.next_line.is_none_or(|t| now >= t) {
            eprintln!(
                "weir: max_connections reached ({limit} in this worker): closed {} idle or silent connection(s) to make room",
                self.unsaid
            );
            self.unsaid = 0;
            self.next_line = Some(now + std::time::Duration::from_secs(1));
        }
    }
}

/// True for accept errors that mean "out of descriptors or memory":
/// back off instead of spinning.
pub fn is_out_of_resources(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(23 /* ENFILE */)
            | Some(24 /* EMFILE */)
            | Some(105 /* ENOBUFS */)
            | Some(12 /* ENOMEM */)
    )
}

/// Tells a gateway the time of day (for time-stamped request ids): now,
/// as the system clock has it.
pub fn tell_the_time(gw: &mut weir_core::Gateway) {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    gw.set_wall_clock(std::time::Instant::now(), since_epoch);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes at most `per_call` bytes per write, then blocks after `room`
    /// bytes in all; counts plain and vectored writes.
    struct Peer {
        got: Vec<u8>,
        per_call: usize,
        room: usize,
        plain: usize,
        vectored: usize,
    }

    impl Peer {
        fn new(per_call: usize, room: usize) -> Peer {
            Peer {
                got: Vec::new(),
                per_call,
                room,
                plain: 0,
                vectored: 0,
            }
        }

        fn take(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            let mut n = 0;
            for b in bufs {
                let room = self.per_call.min(self.room) - n;
                let k = b.len().min(room);
                self.got.extend_from_slice(&b[..k]);
                n += k;
                if k < b.len() {
                    break;
                }
            }
            if n == 0 && bufs.iter().any(|b| !b.is_empty()) {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.room -= n;
            Ok(n)
        }
    }

    impl Write for Peer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.plain += 1;
            self.take(&[IoSlice::new(buf)])
        }

        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            self.vectored += 1;
            self.take(bufs)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Gives at most `per_call` bytes per read, of an endless stream.
    struct Source {
        per_call: usize,
    }

    impl Read for Source {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.per_call);
            buf[..n].fill(b'x');
            Ok(n)
        }
    }

    fn read(buf: &mut ReadBuf, per_call: usize, max: usize) -> Bytes {
        match buf.read_from(Source { per_call }, max) {
            ReadOutcome::Data { bytes, .. } => bytes,
            _ => panic!("no data"),
        }
    }

    /// True when `b` starts where `a` ends: carved from the same block.
    fn adjoining(a: &Bytes, b: &Bytes) -> bool {
        a.as_ptr() as usize + a.len() == b.as_ptr() as usize
    }

    #[test]
    fn small_reads_share_a_block_and_filling_its_tail_does_not_grow_blocks() {
        let mut buf = ReadBuf::default();
        let mut last = read(&mut buf, 100, 16_385);
        for _ in 0..100 {
            let next = read(&mut buf, 100, 16_385);
            if !adjoining(&last, &next) {
                // A new block: the old one's tail was used up, and small
                // reads never made blocks grow.
                assert_eq!(buf.block, 4096);
            }
            last = next;
        }
        assert_eq!(buf.block, 4096);
    }

    #[test]
    fn reads_that_fill_whole_blocks_grow_them_to_the_largest() {
        let mut buf = ReadBuf::default();
        let sizes: Vec<usize> = (0..6)
            .map(|_| read(&mut buf, usize::MAX, READ_MAX).len())
            .collect();
        assert_eq!(sizes, [4096, 8192, 16_384, 32_768, 65_536, 65_536]);
    }

    #[test]
    fn a_large_read_the_rest_of_a_block_would_cut_short_takes_a_fresh_block() {
        let mut buf = ReadBuf::default();
        while buf.block < READ_MAX {
            read(&mut buf, usize::MAX, READ_MAX);
        }
        // 60 KiB of a fresh block used, 4 KiB left.
        let first = read(&mut buf, 61_440, READ_MAX);
        assert_eq!(first.len(), 61_440);
        // A read of the window goes whole into a new block...
        let second = read(&mut buf, usize::MAX, READ_MAX);
        assert_eq!(second.len(), READ_MAX);
        assert!(!adjoining(&first, &second));
        // ...and a small one still fills the rest of the current block.
        let third = read(&mut buf, 61_440, READ_MAX);
        let fourth = read(&mut buf, usize::MAX, 1000);
        assert!(adjoining(&third, &fourth));
        assert_eq!(fourth.len(), 1000);
    }

    fn queue(parts: &[&'static [u8]]) -> WriteQueue {
        let mut q = WriteQueue::default();
        for p in parts {
            q.push(Bytes::from_static(p));
        }
        q
    }

    #[test]
    fn one_buffer_goes_out_with_plain_writes_across_partial_writes() {
        let mut q = queue(&[b"GET / HTTP/1.1\r\n\r\n"]);
        let mut peer = Peer::new(5, usize::MAX);
        assert_eq!(q.flush(&mut peer).unwrap(), Flushed::Drained);
        assert_eq!(peer.got, b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!((peer.plain, peer.vectored), (4, 0));
        assert_eq!(q.flush(&mut peer).unwrap(), Flushed::Idle);
    }

    #[test]
    fn several_buffers_go_out_vectored_in_order_and_resume_after_blocking() {
        let mut q = queue(&[b"head\r\n\r\n", b"body-1", b"body-2"]);
        let mut peer = Peer::new(usize::MAX, 11);
        assert_eq!(q.flush(&mut peer).unwrap(), Flushed::Blocked);
        assert_eq!(peer.got, b"head\r\n\r\nbod");
        peer.room = usize::MAX;
        assert_eq!(q.flush(&mut peer).unwrap(), Flushed::Drained);
        assert_eq!(peer.got, b"head\r\n\r\nbody-1body-2");
        assert!(peer.vectored >= 2);
        assert!(q.is_empty());
        q.release();
        assert!(q.queue.is_none(), "an idle socket's queue holds no memory");
        assert_eq!(std::mem::size_of::<WriteQueue>(), 8);
    }

    /// A peer that stops taking bytes leaves what waits in buffers of its
    /// own: the read block it was cut from is not kept alive by it.
    #[test]
    fn what_a_blocked_peer_has_not_taken_no_longer_pins_its_block() {
        let block = Bytes::from(vec![7u8; READ_MAX]);
        let inside = |b: &Bytes| {
            let start = block.as_ptr() as usize;
            (start..start + block.len()).contains(&(b.as_ptr() as usize))
        };
        let mut q = WriteQueue::default();
        q.push(block.slice(100..1124));
        q.push(block.slice(2000..2100));
        // Takes 24 bytes, then blocks.
        let mut peer = Peer::new(1 << 20, 24);
        assert_eq!(q.flush(&mut peer).unwrap(), Flushed::Blocked);
        let waiting = q.queue.as_deref().expect("queued");
        assert_eq!(waiting.len(), 2);
        assert_eq!(waiting[0].len(), 1000);
        assert!(
            waiting.iter().all(|b| !inside(b)),
            "still a slice of the block"
        );
        // The bytes are the same, and go out in order.
        let mut peer = Peer::new(1 << 20, 1 << 20);
        assert_eq!(q.flush(&mut peer).unwrap(), Flushed::Drained);
        assert_eq!(peer.got, vec![7u8; 1100]);
    }

    /// Each worker gets a listening socket of its own, so the kernel
    /// spreads a burst of connections over them (with handles of one
    /// shared socket, one accept loop can take them all), and another
    /// plain bind of the port still fails.
    #[test]
    fn each_worker_listens_on_its_own_socket() {
        let config = weir_core::Config::from_toml(
            "listen = \"127.0.0.1:0\"\n[[upstream]]\nname = \"a\"\nservers = [{ addr = \"127.0.0.1:9\" }]\n",
        )
        .expect("config");
        let accepted = |accept: Accept| {
            let workers = bind_workers(&config, 2, accept).expect("bound");
            assert_eq!(workers.len(), 2);
            let addr = workers[0][0].local_addr().expect("addr");
            assert_eq!(workers[1][0].local_addr().expect("addr"), addr);
            assert!(
                bind(addr).is_err(),
                "a second gateway must not bind the port"
            );
            let clients: Vec<_> = (0..64)
                .map(|_| std::net::TcpStream::connect(addr).expect("connect"))
                .collect();
            std::thread::sleep(std::time::Duration::from_millis(50));
            let taken: Vec<usize> = workers
                .iter()
                .map(|own| std::iter::from_fn(|| own[0].accept().ok()).count())
                .collect();
            assert_eq!(taken.iter().sum::<usize>(), clients.len());
            taken
        };
        let spread = accepted(Accept::PerWorker);
        assert!(
            spread.iter().all(|&n| n > 0),
            "one worker took all: {spread:?}"
        );
        assert_eq!(
            accepted(Accept::Shared),
            [64, 0],
            "the first to accept takes all"
        );
    }
}
