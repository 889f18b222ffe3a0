//! `splice(2)` and the pipe it goes through: bytes moved between two
//! sockets without entering user space (weir-mio's pass-through).

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd};

/// The capacity asked for each pipe (the default is 64 KiB).
const PIPE_SIZE: libc::c_int = 256 * 1024;

/// A non-blocking pipe: its read and write ends.
pub struct Pipe {
    read: File,
    write: File,
}

impl Pipe {
    /// A new non-blocking pipe of 256 KiB (or the system's default).
    #[allow(unsafe_code)]
    pub fn new() -> io::Result<Pipe> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2 writes.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors are fresh and owned by nothing else.
        let (read, write) = unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
        // Room for more socket buffers than a step's bytes need: a pipe
        // holds a fixed number of buffers (16 by default), and small
        // segments would fill them before 64 KiB. Best effort.
        // SAFETY: fcntl on a descriptor this function owns.
        unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_SIZE) };
        Ok(Pipe { read, write })
    }

    /// Moves at most `len` bytes from `from` (a socket) into the pipe;
    /// 0: `from` is at its end.
    pub fn fill_from(&self, from: &impl AsFd, len: usize) -> io::Result<usize> {
        splice(from, &self.write, len)
    }

    /// Moves at most `len` bytes from the pipe into `to` (a socket).
    pub fn empty_into(&self, to: &impl AsFd, len: usize) -> io::Result<usize> {
        splice(&self.read, to, len)
    }

    /// The read end, to take bytes back into user space.
    pub fn reader(&self) -> &File {
        &self.read
    }
}

/// How many more bytes the socket's send buffer takes now (its size less
/// what is queued in it, unsent or unacknowledged), or `None` if the
/// system does not say. An estimate from above: the buffer's size also
/// pays for the kernel's own overhead per segment.
#[allow(unsafe_code)]
pub fn send_room(sock: &impl AsFd) -> Option<usize> {
    let fd = sock.as_fd().as_raw_fd();
    let mut size: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: an int-sized option read into an int, its length given.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&mut size as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if r != 0 {
        return None;
    }
    let mut queued: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (TIOCOUTQ) writes one int.
    if unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut queued) } != 0 {
        return None;
    }
    Some(usize::try_from(size.saturating_sub(queued)).unwrap_or(0))
}

/// One non-blocking `splice(2)` of at most `len` bytes between two
/// descriptors, one of them a pipe.
#[allow(unsafe_code)]
fn splice(from: &impl AsFd, to: &impl AsFd, len: usize) -> io::Result<usize> {
    // SAFETY: two open descriptors (borrowed for the call) and null
    // offsets, which splice accepts for sockets and pipes.
    let n = unsafe {
        libc::splice(
            from.as_fd().as_raw_fd(),
            std::ptr::null_mut(),
            to.as_fd().as_raw_fd(),
            std::ptr::null_mut(),
            len,
            libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    /// Bytes written into one socket come out of another through the
    /// pipe, exactly, and an empty socket says `WouldBlock`.
    #[test]
    fn bytes_go_from_socket_to_socket_through_the_pipe() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (b, _) = l.accept().unwrap();
        let l2 = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l2.local_addr().unwrap()).unwrap();
        let (mut d, _) = l2.accept().unwrap();
        b.set_nonblocking(true).unwrap();
        let pipe = Pipe::new().unwrap();
        let err = pipe.fill_from(&b, 10).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        a.write_all(b"hello, pipe").unwrap();
        let mut got = 0;
        while got < 11 {
            match pipe.fill_from(&b, 100) {
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(pipe.empty_into(&c, 11).unwrap(), 11);
        let mut out = [0u8; 11];
        d.read_exact(&mut out).unwrap();
        assert_eq!(&out, b"hello, pipe");
        drop(a);
        assert_eq!(pipe.fill_from(&b, 10).unwrap(), 0);
        // Nothing queued on `c` once `d` read it all: the whole buffer.
        let room = send_room(&c).unwrap();
        assert!(room >= 4096, "{room}");
    }
}
