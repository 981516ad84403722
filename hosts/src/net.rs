//! [`Sockets`]: IO storage for TCP sockets, Unix-domain sockets, pipes and UDP sockets,
//! implementing the core's [`Transport`], [`Accept`], [`Connect`] and [`Datagram`] so that
//! connections, listeners and the DNS resolver and server run over them.
//!
//! Every socket is non-blocking and owned by the table; the application holds `Copy`
//! [`SocketId`]s. Closing goes through [`Transport::close`], which deregisters the descriptor from
//! the engine first (so a reused descriptor number starts fresh) and then drops it. OS errors are
//! mapped onto [`IoError`] the same way on every platform (`EAGAIN`/`WSAEWOULDBLOCK` is
//! `WouldBlock`, `ECONNRESET`/`WSAECONNRESET` is `Reset`, `ECONNREFUSED`/`WSAECONNREFUSED` is
//! `Refused`, `EMFILE`/`ENFILE`/`WSAEMFILE` is `NoDescriptors`; see [`io_error`]).
//!
//! On Windows (winsock) there are TCP sockets only: no Unix-domain sockets, socket pairs or pipes.
//! [`ListenOptions::reuse_address`] is ignored there, as libevent ignores `LEV_OPT_REUSEABLE`:
//! Windows' `SO_REUSEADDR` does not mean "rebind at once after a restart" (Windows does that
//! anyway) but "let another socket bind the same port while this one listens".

use levent_core::io::{Accept, Connect, Datagram, IoError, Transport};
use levent_core::{Dispatcher, SourceKey};
#[cfg(unix)]
use socket2::SockAddr;
/// socket2's socket: what [`Sockets::take`] hands out and [`Sockets::adopt`] takes.
pub use socket2::Socket;
use socket2::{Domain, Protocol, Type};
use std::io::{self, Read, Write};
use std::net::SocketAddr;

/// A socket in a [`Sockets`] table. Stale ids (of closed sockets) are refused with
/// [`IoError::Closed`], never confused with the socket that reuses the slot.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct SocketId {
    index: u32,
    generation: u32,
}

/// How to listen (libevent's `LEV_OPT_*` flags and backlog).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ListenOptions {
    /// Pending connections the kernel queues (`listen(2)`'s backlog).
    pub backlog: i32,
    /// `SO_REUSEADDR`: rebind at once after a restart (`LEV_OPT_REUSEABLE`; Unix only, Windows
    /// rebinds at once anyway).
    pub reuse_address: bool,
    /// `SO_REUSEPORT`: several listeners share the port (`LEV_OPT_REUSEABLE_PORT`; Unix only).
    pub reuse_port: bool,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            backlog: 1024,
            reuse_address: true,
            reuse_port: false,
        }
    }
}

#[derive(Debug)]
enum Kind {
    Stream(Socket),
    Listener(Socket),
    #[cfg(unix)]
    Pipe(std::fs::File),
    Udp(Socket),
}

#[derive(Debug)]
struct Slot {
    generation: u32,
    kind: Option<Kind>,
}

/// The sockets and pipes of a program. See the [module documentation](self).
#[derive(Debug, Default)]
pub struct Sockets {
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Stream IO on an io_uring host's ring ([`crate::uring::Uring::sockets`]).
    #[cfg(target_os = "linux")]
    ring: Option<crate::uring::RingIo>,
}

/// An OS error as the core's [`IoError`].
///
/// | Unix | Windows | `IoError` |
/// |---|---|---|
/// | `EAGAIN`, `EWOULDBLOCK` | `WSAEWOULDBLOCK` | `WouldBlock` |
/// | `EINTR` | `WSAEINTR` | `Interrupted` |
/// | `ECONNRESET` | `WSAECONNRESET` | `Reset` |
/// | `EPIPE` | `WSAESHUTDOWN` (writing after a shutdown) | `BrokenPipe` |
/// | `ECONNREFUSED` | `WSAECONNREFUSED` | `Refused` |
/// | `EHOSTUNREACH`, `ENETUNREACH` | `WSAEHOSTUNREACH`, `WSAENETUNREACH` | `Unreachable` |
/// | `ETIMEDOUT` | `WSAETIMEDOUT` | `TimedOut` |
/// | `ECONNABORTED` | `WSAECONNABORTED` | `Aborted` |
/// | `EMFILE`, `ENFILE`, `ENOBUFS` | `WSAEMFILE`, `WSAENOBUFS` | `NoDescriptors` |
/// | `EADDRINUSE` | `WSAEADDRINUSE` | `AddrInUse` |
/// | `ENOTCONN` | `WSAENOTCONN` | `NotConnected` |
/// | anything else | anything else | `Other(code)` |
///
/// ```
/// use levent_core::io::IoError;
/// use levent_hosts::net::io_error;
///
/// let udp = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// udp.set_nonblocking(true)?;
/// // Nothing was sent: the OS says `EAGAIN`.
/// let e = udp.recv(&mut [0u8; 16]).unwrap_err();
/// assert_eq!(io_error(&e), IoError::WouldBlock);
/// let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
/// assert_eq!(io_error(&refused), IoError::Refused);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn io_error(e: &io::Error) -> IoError {
    #[cfg(unix)]
    if matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS)
    ) {
        return IoError::NoDescriptors;
    }
    #[cfg(windows)]
    if let Some(code) = e.raw_os_error() {
        use windows_sys::Win32::Networking::WinSock as ws;
        // Winsock's codes by name: the same values as on Unix whatever the standard library
        // makes of them.
        match code {
            ws::WSAEWOULDBLOCK => return IoError::WouldBlock,
            ws::WSAEINTR => return IoError::Interrupted,
            ws::WSAECONNRESET => return IoError::Reset,
            ws::WSAESHUTDOWN => return IoError::BrokenPipe,
            ws::WSAECONNREFUSED => return IoError::Refused,
            ws::WSAEHOSTUNREACH | ws::WSAENETUNREACH => return IoError::Unreachable,
            ws::WSAETIMEDOUT => return IoError::TimedOut,
            ws::WSAECONNABORTED => return IoError::Aborted,
            ws::WSAEMFILE | ws::WSAENOBUFS => return IoError::NoDescriptors,
            ws::WSAEADDRINUSE => return IoError::AddrInUse,
            ws::WSAENOTCONN => return IoError::NotConnected,
            _ => {}
        }
    }
    match e.kind() {
        io::ErrorKind::WouldBlock => IoError::WouldBlock,
        io::ErrorKind::Interrupted => IoError::Interrupted,
        io::ErrorKind::ConnectionReset => IoError::Reset,
        io::ErrorKind::BrokenPipe => IoError::BrokenPipe,
        io::ErrorKind::ConnectionRefused => IoError::Refused,
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => IoError::Unreachable,
        io::ErrorKind::TimedOut => IoError::TimedOut,
        io::ErrorKind::ConnectionAborted => IoError::Aborted,
        io::ErrorKind::AddrInUse => IoError::AddrInUse,
        io::ErrorKind::NotConnected => IoError::NotConnected,
        _ => IoError::Other(e.raw_os_error().unwrap_or(0)),
    }
}

#[cfg(target_os = "linux")]
fn fd_of(s: &Socket) -> std::os::fd::RawFd {
    use std::os::fd::AsRawFd;
    s.as_raw_fd()
}

fn key_of(kind: &Kind) -> SourceKey {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        match kind {
            Kind::Stream(s) | Kind::Listener(s) | Kind::Udp(s) => SourceKey(s.as_raw_fd() as usize),
            Kind::Pipe(f) => SourceKey(f.as_raw_fd() as usize),
        }
    }
    #[cfg(windows)]
    {
        use std::os::windows::io::AsRawSocket;
        match kind {
            Kind::Stream(s) | Kind::Listener(s) | Kind::Udp(s) => {
                SourceKey(s.as_raw_socket() as usize)
            }
        }
    }
}

impl SocketId {
    /// The id as one number, for a trace of a run ([`crate::trace`]);
    /// [`from_raw`](Self::from_raw) gives it back.
    ///
    /// ```
    /// use levent_hosts::net::Sockets;
    /// use levent_hosts::net::SocketId;
    ///
    /// let mut io = Sockets::new();
    /// let (a, _b) = io.pair().unwrap();
    /// assert_eq!(SocketId::from_raw(a.to_raw()), a);
    /// ```
    pub const fn to_raw(self) -> u64 {
        (self.index as u64) << 32 | self.generation as u64
    }

    /// The id that [`to_raw`](Self::to_raw) made this number of. An id that names no socket
    /// (any more) is refused by every call with [`IoError::Closed`].
    pub const fn from_raw(raw: u64) -> SocketId {
        SocketId {
            index: (raw >> 32) as u32,
            generation: raw as u32,
        }
    }
}

impl Sockets {
    /// An empty table.
    ///
    /// ```
    /// use levent_hosts::net::Sockets;
    ///
    /// let io = Sockets::new();
    /// assert!(io.is_empty());
    /// assert_eq!(io.len(), 0);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// How many sockets and pipes are open.
    ///
    /// ```
    /// use levent_hosts::net::{ListenOptions, Sockets};
    ///
    /// let mut io = Sockets::new();
    /// io.listen("127.0.0.1:0".parse()?, ListenOptions::default())?;
    /// io.bind_udp("127.0.0.1:0".parse()?)?;
    /// assert_eq!(io.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// Whether nothing is open.
    ///
    /// ```
    /// use levent_hosts::net::Sockets;
    ///
    /// let mut io = Sockets::new();
    /// assert!(io.is_empty());
    /// io.bind_udp("127.0.0.1:0".parse()?)?;
    /// assert!(!io.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Streams this table accepts and socket pairs it makes from now on read and write on
    /// `ring`; refused if the table already uses another host's ring.
    #[cfg(target_os = "linux")]
    pub(crate) fn use_ring(&mut self, ring: crate::uring::RingIo) -> io::Result<()> {
        match &self.ring {
            Some(r) if !r.same(&ring) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the socket table already reads and writes on another io_uring host's ring",
            )),
            _ => {
                self.ring = Some(ring);
                Ok(())
            }
        }
    }

    /// Insert a stream that reads and writes on the ring, if the table has one.
    fn insert_stream(&mut self, s: Socket) -> SocketId {
        #[cfg(target_os = "linux")]
        if let Some(ring) = &self.ring {
            ring.adopt(&s);
        }
        self.insert(Kind::Stream(s))
    }

    fn insert(&mut self, kind: Kind) -> SocketId {
        match self.free.pop() {
            Some(index) => {
                let slot = &mut self.slots[index as usize];
                slot.kind = Some(kind);
                SocketId {
                    index,
                    generation: slot.generation,
                }
            }
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    kind: Some(kind),
                });
                SocketId {
                    index: (self.slots.len() - 1) as u32,
                    generation: 0,
                }
            }
        }
    }

    fn get(&self, id: SocketId) -> Result<&Kind, IoError> {
        match self.slots.get(id.index as usize) {
            Some(Slot {
                generation,
                kind: Some(k),
            }) if *generation == id.generation => Ok(k),
            _ => Err(IoError::Closed),
        }
    }

    fn socket(&self, id: SocketId) -> io::Result<&Socket> {
        match self.get(id) {
            Ok(Kind::Stream(s) | Kind::Listener(s) | Kind::Udp(s)) => Ok(s),
            _ => Err(io::Error::new(
                io::ErrorKind::NotFound,
                "not an open socket",
            )),
        }
    }

    /// Listen for TCP connections on `addr` (port 0 picks a free port; see
    /// [`local_addr`](Self::local_addr)).
    ///
    /// ```
    /// use levent_core::io::Accept;
    /// use levent_hosts::net::{ListenOptions, Sockets};
    ///
    /// let mut io = Sockets::new();
    /// let listener = io.listen("127.0.0.1:0".parse()?, ListenOptions::default())?;
    /// let addr = io.local_addr(listener)?;
    /// assert_ne!(addr.port(), 0);
    /// // A blocking client: once its connect returns, the connection waits to be accepted.
    /// let client = std::net::TcpStream::connect(addr)?;
    /// let conn = io.accept(listener)?;
    /// assert_eq!(io.peer_addr(conn)?, client.local_addr()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn listen(&mut self, addr: SocketAddr, opts: ListenOptions) -> io::Result<SocketId> {
        let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        s.set_nonblocking(true)?;
        #[cfg(unix)]
        if opts.reuse_address {
            s.set_reuse_address(true)?;
        }
        #[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
        if opts.reuse_port {
            s.set_reuse_port(true)?;
        }
        s.bind(&addr.into())?;
        s.listen(opts.backlog)?;
        Ok(self.insert(Kind::Listener(s)))
    }

    /// Start a non-blocking TCP connect to `addr`: the socket is returned at once and the connect
    /// completes (or fails) later — drive it with `Connection::connecting`.
    ///
    /// ```
    /// use levent_hosts::net::Sockets;
    ///
    /// let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let mut io = Sockets::new();
    /// let id = io.connect(server.local_addr()?)?;
    /// // The server's blocking accept waits for the handshake to finish.
    /// let (_conn, from) = server.accept()?;
    /// assert_eq!(from, io.local_addr(id)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn connect(&mut self, addr: SocketAddr) -> io::Result<SocketId> {
        let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        s.set_nonblocking(true)?;
        match s.connect(&addr.into()) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            #[cfg(unix)]
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
        Ok(self.insert(Kind::Stream(s)))
    }

    /// Open a non-blocking UDP socket bound to `local`; port 0 lets the operating system choose
    /// a free ephemeral port (at random on Linux, the BSDs and Windows), so every new socket is a
    /// new source port. `SO_REUSEADDR` is not set: two servers never share a port by accident.
    ///
    /// ```
    /// use levent_core::io::Datagram;
    /// use levent_hosts::net::Sockets;
    ///
    /// let peer = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let mut io = Sockets::new();
    /// let id = io.bind_udp("127.0.0.1:0".parse()?)?;
    /// let local = io.local_addr(id)?;
    /// assert_ne!(local.port(), 0);
    /// assert_eq!(io.send_to(id, b"ping", peer.local_addr()?)?, 4);
    /// let mut buf = [0u8; 16];
    /// assert_eq!(peer.recv_from(&mut buf)?, (4, local));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bind_udp(&mut self, local: SocketAddr) -> io::Result<SocketId> {
        let s = Socket::new(Domain::for_address(local), Type::DGRAM, Some(Protocol::UDP))?;
        s.set_nonblocking(true)?;
        s.bind(&local.into())?;
        Ok(self.insert(Kind::Udp(s)))
    }

    /// Listen on a Unix-domain socket at `path`.
    ///
    /// ```
    /// use levent_core::io::{Accept, Transport};
    /// use levent_hosts::net::Sockets;
    /// use std::io::Write;
    ///
    /// let path = std::env::temp_dir().join(format!("levent-doc-listen-{}", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let mut io = Sockets::new();
    /// let listener = io.listen_unix(&path, 16)?;
    /// let mut client = std::os::unix::net::UnixStream::connect(&path)?;
    /// let conn = io.accept(listener)?;
    /// client.write_all(b"hi")?;
    /// let mut buf = [0u8; 16];
    /// assert_eq!(io.read(conn, &mut buf)?, 2);
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(unix)]
    pub fn listen_unix(&mut self, path: &std::path::Path, backlog: i32) -> io::Result<SocketId> {
        let s = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        s.set_nonblocking(true)?;
        s.bind(&SockAddr::unix(path)?)?;
        s.listen(backlog)?;
        Ok(self.insert(Kind::Listener(s)))
    }

    /// Start a non-blocking connect to the Unix-domain socket at `path`.
    ///
    /// ```
    /// use levent_core::io::Transport;
    /// use levent_hosts::net::Sockets;
    /// use std::io::Read;
    ///
    /// let path = std::env::temp_dir().join(format!("levent-doc-connect-{}", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let server = std::os::unix::net::UnixListener::bind(&path)?;
    /// let mut io = Sockets::new();
    /// let id = io.connect_unix(&path)?;
    /// let (mut conn, _) = server.accept()?;
    /// assert_eq!(io.write(id, b"hi")?, 2);
    /// let mut buf = [0u8; 16];
    /// assert_eq!(conn.read(&mut buf)?, 2);
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(unix)]
    pub fn connect_unix(&mut self, path: &std::path::Path) -> io::Result<SocketId> {
        let s = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        s.set_nonblocking(true)?;
        match s.connect(&SockAddr::unix(path)?) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
        Ok(self.insert(Kind::Stream(s)))
    }

    /// A connected pair of Unix-domain stream sockets.
    ///
    /// ```
    /// use levent_core::io::Transport;
    /// use levent_hosts::net::Sockets;
    ///
    /// let mut io = Sockets::new();
    /// let (a, b) = io.pair()?;
    /// assert_eq!(io.write(a, b"ping")?, 4);
    /// let mut buf = [0u8; 16];
    /// assert_eq!(io.read(b, &mut buf)?, 4);
    /// assert_eq!(&buf[..4], b"ping");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(unix)]
    pub fn pair(&mut self) -> io::Result<(SocketId, SocketId)> {
        let (a, b) = Socket::pair(Domain::UNIX, Type::STREAM, None)?;
        a.set_nonblocking(true)?;
        b.set_nonblocking(true)?;
        Ok((self.insert_stream(a), self.insert_stream(b)))
    }

    /// A non-blocking pipe: `(read end, write end)`.
    ///
    /// ```
    /// use levent_core::io::{IoError, Transport};
    /// use levent_hosts::net::Sockets;
    ///
    /// let mut io = Sockets::new();
    /// let (r, w) = io.pipe()?;
    /// let mut buf = [0u8; 16];
    /// assert_eq!(io.read(r, &mut buf), Err(IoError::WouldBlock));
    /// assert_eq!(io.write(w, b"ping")?, 4);
    /// assert_eq!(io.read(r, &mut buf)?, 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(unix)]
    pub fn pipe(&mut self) -> io::Result<(SocketId, SocketId)> {
        let (r, w) = crate::unix::pipe()?;
        Ok((
            self.insert(Kind::Pipe(r.into())),
            self.insert(Kind::Pipe(w.into())),
        ))
    }

    /// Take ownership of a connected stream socket made elsewhere (it is made non-blocking).
    ///
    /// ```
    /// use levent_hosts::net::{Socket, Sockets};
    ///
    /// let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let stream = std::net::TcpStream::connect(server.local_addr()?)?;
    /// let mut io = Sockets::new();
    /// let id = io.adopt(Socket::from(stream))?;
    /// assert_eq!(io.peer_addr(id)?, server.local_addr()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn adopt(&mut self, socket: Socket) -> io::Result<SocketId> {
        socket.set_nonblocking(true)?;
        Ok(self.insert(Kind::Stream(socket)))
    }

    /// Take a connected stream socket out of the table, to hand it to another thread's
    /// [`Sockets`] ([`adopt`](Self::adopt) there): the engine forgets its source first, as on a
    /// close, and the id goes stale. This is how one engine accepts and another serves (the
    /// `handoff` example).
    ///
    /// # Errors
    ///
    /// `id` is stale or not a connected stream socket (listeners, pipes and UDP sockets stay).
    /// In a table of an io_uring host's ([`crate::uring::Uring::sockets`]), a stream with a
    /// receive in the kernel (it has read interest), bytes received and not read, or bytes
    /// queued is refused with [`io::ErrorKind::WouldBlock`]: delete its events, read what it
    /// holds, let the host turn, then take it.
    ///
    /// ```
    /// use levent_core::io::{IoError, Transport};
    /// use levent_hosts::net::{ListenOptions, Sockets};
    ///
    /// let mut engine: levent_hosts::Engine<(), 8> = levent_hosts::engine();
    /// let mut io = Sockets::new();
    /// let listener = io.listen("127.0.0.1:0".parse()?, ListenOptions::default())?;
    /// let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let id = io.connect(server.local_addr()?)?;
    /// # let _conn = server.accept()?;
    /// let socket = io.take(&mut engine, id)?;
    /// assert_eq!(io.read(id, &mut [0u8; 16]), Err(IoError::Closed));
    /// // Listeners stay.
    /// assert!(io.take(&mut engine, listener).is_err());
    /// let mut other = Sockets::new();
    /// let moved = other.adopt(socket)?;
    /// assert_eq!(other.peer_addr(moved)?, server.local_addr()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn take(&mut self, d: &mut dyn Dispatcher, id: SocketId) -> io::Result<Socket> {
        match self.get(id) {
            #[cfg(target_os = "linux")]
            Ok(Kind::Stream(s)) if self.ring.as_ref().is_some_and(|r| !r.idle(fd_of(s))) => {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "the socket has reads or writes in flight on the io_uring host: take it \
                     after the host's next turns",
                ));
            }
            Ok(kind @ Kind::Stream(_)) => {
                let _ = d.forget_source(key_of(kind));
                #[cfg(target_os = "linux")]
                if let (Kind::Stream(s), Some(r)) = (kind, &self.ring) {
                    r.release(fd_of(s));
                }
            }
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "not an open stream socket",
                ));
            }
        }
        let slot = &mut self.slots[id.index as usize];
        let kind = slot.kind.take();
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(id.index);
        match kind {
            Some(Kind::Stream(s)) => Ok(s),
            _ => Err(io::Error::other("not an open stream socket")),
        }
    }

    /// The local address of a socket.
    ///
    /// ```
    /// use levent_hosts::net::{ListenOptions, Sockets};
    ///
    /// let mut io = Sockets::new();
    /// let listener = io.listen("127.0.0.1:0".parse()?, ListenOptions::default())?;
    /// let addr = io.local_addr(listener)?;
    /// assert!(addr.ip().is_loopback());
    /// assert_ne!(addr.port(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn local_addr(&self, id: SocketId) -> io::Result<SocketAddr> {
        self.socket(id)?
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not an IP socket"))
    }

    /// The address of the peer of a connected socket.
    ///
    /// ```
    /// use levent_hosts::net::{ListenOptions, Sockets};
    ///
    /// let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let mut io = Sockets::new();
    /// let id = io.connect(server.local_addr()?)?;
    /// let _conn = server.accept()?;
    /// assert_eq!(io.peer_addr(id)?, server.local_addr()?);
    /// // A listener has no peer.
    /// let listener = io.listen("127.0.0.1:0".parse()?, ListenOptions::default())?;
    /// assert!(io.peer_addr(listener).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn peer_addr(&self, id: SocketId) -> io::Result<SocketAddr> {
        self.socket(id)?
            .peer_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not an IP socket"))
    }

    /// Turn Nagle's algorithm off (`TCP_NODELAY`) for request/response traffic.
    ///
    /// ```
    /// use levent_hosts::net::{Socket, Sockets};
    ///
    /// let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let stream = std::net::TcpStream::connect(server.local_addr()?)?;
    /// // A second handle on the same socket, to look at its options.
    /// let probe = stream.try_clone()?;
    /// let mut io = Sockets::new();
    /// let id = io.adopt(Socket::from(stream))?;
    /// io.set_nodelay(id, true)?;
    /// assert!(probe.nodelay()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_nodelay(&self, id: SocketId, on: bool) -> io::Result<()> {
        self.socket(id)?.set_tcp_nodelay(on)
    }

    /// Set the kernel's receive and send buffer sizes (`SO_RCVBUF`, `SO_SNDBUF`). Set on a
    /// listener, they are inherited by the connections it accepts.
    ///
    /// ```
    /// use levent_hosts::net::{Socket, Sockets};
    ///
    /// let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let stream = std::net::TcpStream::connect(server.local_addr()?)?;
    /// // A second handle on the same socket, to look at its options.
    /// let probe = Socket::from(stream.try_clone()?);
    /// let mut io = Sockets::new();
    /// let id = io.adopt(Socket::from(stream))?;
    /// io.set_buffers(id, 64 * 1024, 64 * 1024)?;
    /// // Linux reports twice what was asked (it counts its bookkeeping).
    /// assert!(probe.recv_buffer_size()? >= 64 * 1024);
    /// assert!(probe.send_buffer_size()? >= 64 * 1024);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_buffers(&self, id: SocketId, recv: usize, send: usize) -> io::Result<()> {
        let s = self.socket(id)?;
        s.set_recv_buffer_size(recv)?;
        s.set_send_buffer_size(send)
    }

    /// `SO_LINGER`: with `Some(Duration::ZERO)` closing the socket resets the connection (an
    /// RST instead of a FIN) and drops what it had not sent.
    ///
    /// ```
    /// use levent_hosts::net::{Socket, Sockets};
    /// use std::time::Duration;
    ///
    /// let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let stream = std::net::TcpStream::connect(server.local_addr()?)?;
    /// // A second handle on the same socket, to look at its options.
    /// let probe = Socket::from(stream.try_clone()?);
    /// let mut io = Sockets::new();
    /// let id = io.adopt(Socket::from(stream))?;
    /// io.set_linger(id, Some(Duration::ZERO))?;
    /// assert_eq!(probe.linger()?, Some(Duration::ZERO));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_linger(&self, id: SocketId, linger: Option<std::time::Duration>) -> io::Result<()> {
        self.socket(id)?.set_linger(linger)
    }

    /// Abort a connection with a reset (`SO_LINGER` 0, then close) instead of a clean close.
    ///
    /// ```
    /// use levent_hosts::net::Sockets;
    /// use std::io::Read;
    ///
    /// let mut engine: levent_hosts::Engine<(), 8> = levent_hosts::engine();
    /// let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let mut io = Sockets::new();
    /// let id = io.connect(server.local_addr()?)?;
    /// let (mut conn, _) = server.accept()?;
    /// io.reset(&mut engine, id);
    /// assert!(io.is_empty());
    /// let e = conn.read(&mut [0u8; 16]).unwrap_err();
    /// assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reset(&mut self, d: &mut dyn Dispatcher, id: SocketId) {
        if let Ok(s) = self.socket(id) {
            let _ = s.set_linger(Some(std::time::Duration::ZERO));
        }
        self.close_socket(d, id, true);
    }

    /// Close `h`; `discard` drops bytes a ring stream has not handed to the kernel yet.
    fn close_socket(&mut self, d: &mut dyn Dispatcher, h: SocketId, discard: bool) {
        let Ok(kind) = self.get(h) else { return };
        // The host learns of the close by itself (see the "Closing a source" part of the core's
        // host contract); the engine must forget the source before the descriptor goes.
        let _ = d.forget_source(key_of(kind));
        let slot = &mut self.slots[h.index as usize];
        let kind = slot.kind.take();
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(h.index);
        #[cfg(target_os = "linux")]
        if let (Some(Kind::Stream(s)), Some(ring)) = (kind, &self.ring) {
            // Kept open by the ring while the kernel still works on it.
            drop(ring.close(fd_of(&s), s, discard));
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (kind, discard);
    }
}

/// A table on an io_uring host's ring hands its streams to the ring when dropped: each is closed
/// once the kernel is done with it, and the ring forgets its descriptor number.
#[cfg(target_os = "linux")]
impl Drop for Sockets {
    fn drop(&mut self) {
        let Some(ring) = &self.ring else { return };
        for slot in &mut self.slots {
            if let Some(Kind::Stream(s)) = slot.kind.take() {
                drop(ring.close(fd_of(&s), s, false));
            }
        }
    }
}

impl Transport for Sockets {
    type Handle = SocketId;

    fn source(&self, h: SocketId) -> SourceKey {
        self.get(h).map_or(SourceKey(usize::MAX), key_of)
    }

    fn read(&mut self, h: SocketId, buf: &mut [u8]) -> Result<usize, IoError> {
        let r = match self.get(h)? {
            Kind::Stream(s) => {
                #[cfg(target_os = "linux")]
                if let Some(r) = self.ring.as_ref().and_then(|r| r.read(fd_of(s), buf)) {
                    return r;
                }
                (&*s).read(buf)
            }
            #[cfg(unix)]
            Kind::Pipe(f) => (&*f).read(buf),
            Kind::Listener(_) | Kind::Udp(_) => return Err(IoError::NotConnected),
        };
        r.map_err(|e| io_error(&e))
    }

    fn write(&mut self, h: SocketId, buf: &[u8]) -> Result<usize, IoError> {
        let r = match self.get(h)? {
            #[cfg(target_os = "linux")]
            Kind::Stream(s) => {
                if let Some(r) = self.ring.as_ref().and_then(|r| r.write(fd_of(s), buf)) {
                    return r;
                }
                s.send_with_flags(buf, libc::MSG_NOSIGNAL)
            }
            #[cfg(target_os = "android")]
            Kind::Stream(s) => s.send_with_flags(buf, libc::MSG_NOSIGNAL),
            #[cfg(not(any(target_os = "linux", target_os = "android")))]
            Kind::Stream(s) => (&*s).write(buf),
            #[cfg(unix)]
            Kind::Pipe(f) => (&*f).write(buf),
            Kind::Listener(_) | Kind::Udp(_) => return Err(IoError::NotConnected),
        };
        r.map_err(|e| io_error(&e))
    }

    fn shutdown_write(&mut self, h: SocketId) -> Result<(), IoError> {
        match self.get(h)? {
            #[cfg(target_os = "linux")]
            Kind::Stream(s)
                if self
                    .ring
                    .as_ref()
                    .is_some_and(|r| r.shutdown_write(fd_of(s))) =>
            {
                Ok(())
            }
            Kind::Stream(s) => s
                .shutdown(std::net::Shutdown::Write)
                .map_err(|e| io_error(&e)),
            #[cfg(unix)]
            Kind::Pipe(_) => Ok(()),
            Kind::Listener(_) | Kind::Udp(_) => Err(IoError::NotConnected),
        }
    }

    fn connected(&mut self, h: SocketId) -> Result<(), IoError> {
        let s = match self.get(h)? {
            Kind::Stream(s) => s,
            _ => return Ok(()),
        };
        if let Some(e) = s.take_error().map_err(|e| io_error(&e))? {
            return Err(io_error(&e));
        }
        match s.peer_addr() {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Err(IoError::WouldBlock),
            Err(e) => Err(io_error(&e)),
        }
    }

    fn peer_addr(&self, h: SocketId) -> Option<SocketAddr> {
        Sockets::peer_addr(self, h).ok()
    }

    fn close(&mut self, d: &mut dyn Dispatcher, h: SocketId) {
        self.close_socket(d, h, false);
    }
}

impl Accept for Sockets {
    /// The next waiting connection. One that died before it was accepted is
    /// [`IoError::Aborted`], whatever the platform calls it (`ECONNABORTED` on the BSDs,
    /// `WSAECONNRESET` on Windows, `WSAENOTCONN` under wine), so a listener just goes on.
    fn accept(&mut self, h: SocketId) -> Result<SocketId, IoError> {
        let accepted = match self.get(h)? {
            Kind::Listener(s) => s.accept(),
            _ => return Err(IoError::NotConnected),
        };
        let (s, _) = accepted.map_err(|e| match io_error(&e) {
            IoError::Reset | IoError::NotConnected => IoError::Aborted,
            other => other,
        })?;
        s.set_nonblocking(true).map_err(|e| io_error(&e))?;
        Ok(self.insert_stream(s))
    }
}

impl Connect for Sockets {
    fn connect(&mut self, to: SocketAddr) -> Result<SocketId, IoError> {
        Sockets::connect(self, to).map_err(|e| io_error(&e))
    }
}

impl Datagram for Sockets {
    type Handle = SocketId;

    fn bind(&mut self, local: SocketAddr) -> Result<SocketId, IoError> {
        self.bind_udp(local).map_err(|e| io_error(&e))
    }

    fn source(&self, h: SocketId) -> SourceKey {
        self.get(h).map_or(SourceKey(usize::MAX), key_of)
    }

    fn local_addr(&self, h: SocketId) -> Result<SocketAddr, IoError> {
        Sockets::local_addr(self, h).map_err(|e| io_error(&e))
    }

    fn send_to(&mut self, h: SocketId, buf: &[u8], to: SocketAddr) -> Result<usize, IoError> {
        match self.get(h)? {
            Kind::Udp(s) => s.send_to(buf, &to.into()).map_err(|e| io_error(&e)),
            _ => Err(IoError::NotConnected),
        }
    }

    fn recv_from(&mut self, h: SocketId, buf: &mut [u8]) -> Result<(usize, SocketAddr), IoError> {
        let Kind::Udp(s) = self.get(h)? else {
            return Err(IoError::NotConnected);
        };
        loop {
            // A datagram longer than `buf` is cut, as `recvfrom` does.
            match s.read_from(buf) {
                Ok((n, from)) => match from {
                    Some(addr) => return Ok((n, addr)),
                    // Not an IP peer (impossible for a UDP socket): drop it, read the next.
                    None => continue,
                },
                // A previous send's ICMP error (port unreachable) reported on this socket:
                // nothing to read from it, keep reading.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => continue,
                Err(e) => return Err(io_error(&e)),
            }
        }
    }

    fn close(&mut self, d: &mut dyn Dispatcher, h: SocketId) {
        Transport::close(self, d, h);
    }
}

/// Reading a datagram into an initialised buffer (socket2 reads into `MaybeUninit`).
trait ReadFrom {
    fn read_from(self, buf: &mut [u8]) -> io::Result<(usize, Option<SocketAddr>)>;
}

impl ReadFrom for &Socket {
    fn read_from(self, buf: &mut [u8]) -> io::Result<(usize, Option<SocketAddr>)> {
        // SAFETY: `MaybeUninit<u8>` has the layout of `u8`, and `recv_from` only ever writes
        // initialised bytes into the slice, so `buf` stays initialised (socket2's own `Read`
        // implementation does the same).
        let uninit =
            unsafe { &mut *(std::ptr::from_mut::<[u8]>(buf) as *mut [std::mem::MaybeUninit<u8>]) };
        let (n, from) = self.recv_from(uninit)?;
        Ok((n, from.as_socket()))
    }
}
