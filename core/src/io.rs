//! The small non-blocking interface a connection is driven through: [`Transport`] (read, write,
//! shut down writing, close, and the source key for readiness), [`Accept`] for listeners,
//! [`Connect`] to start a connection to an address, and [`Datagram`] for UDP (DNS).
//!
//! Nothing here assumes a file descriptor. A transport is addressed by a `Copy` handle into IO
//! storage that the application owns and passes to each call: `levent-hosts` keeps sockets, Unix
//! sockets and pipes in a table indexed by handle; `levent-embassy` addresses smoltcp sockets in the
//! `SocketSet` its interface polls. The connection and listener state machines of this crate hold
//! only the handle.

use crate::event::SourceKey;
use crate::host::Dispatcher;
use core::fmt;
use core::net::SocketAddr;

/// What can go wrong with a non-blocking transport operation. Hosts map their OS errors onto
/// these, so a program sees the same values on Linux, Windows and smoltcp.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum IoError {
    /// Nothing can be done now; wait for readiness (`EAGAIN`, `WSAEWOULDBLOCK`).
    WouldBlock,
    /// Interrupted by a signal; try again.
    Interrupted,
    /// The peer reset the connection (`ECONNRESET`, `WSAECONNRESET`, a TCP RST).
    Reset,
    /// Writing after the peer closed (`EPIPE`).
    BrokenPipe,
    /// Nobody listens at the address (`ECONNREFUSED`).
    Refused,
    /// No route to the host or network (`EHOSTUNREACH`, `ENETUNREACH`).
    Unreachable,
    /// The operation or connection timed out (`ETIMEDOUT`).
    TimedOut,
    /// Connection aborted before it was accepted (`ECONNABORTED`).
    Aborted,
    /// The process or system ran out of descriptors or sockets (`EMFILE`, `ENFILE`, smoltcp's
    /// socket pool exhausted).
    NoDescriptors,
    /// The address is already in use (`EADDRINUSE`).
    AddrInUse,
    /// The handle names no transport (closed, or never opened).
    Closed,
    /// The transport is not connected yet, or no longer.
    NotConnected,
    /// The protocol the transport speaks failed, and why: a TLS handshake refused (an unknown
    /// certificate authority, a name mismatch, no common protocol version), a bad record, a
    /// stream cut without `close_notify`.
    Protocol(&'static str),
    /// Anything else, with the OS error code (0 if none).
    Other(i32),
}

impl IoError {
    /// Whether the operation may simply be retried later (`WouldBlock`, `Interrupted`).
    ///
    /// ```
    /// use levent_core::IoError;
    ///
    /// assert!(IoError::WouldBlock.is_transient()); // wait for readiness, then try again
    /// assert!(IoError::Interrupted.is_transient());
    /// assert!(!IoError::Reset.is_transient()); // the stream is gone
    /// ```
    pub const fn is_transient(&self) -> bool {
        matches!(self, IoError::WouldBlock | IoError::Interrupted)
    }
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IoError::WouldBlock => f.write_str("operation would block"),
            IoError::Interrupted => f.write_str("interrupted"),
            IoError::Reset => f.write_str("connection reset by peer"),
            IoError::BrokenPipe => f.write_str("broken pipe"),
            IoError::Refused => f.write_str("connection refused"),
            IoError::Unreachable => f.write_str("host or network unreachable"),
            IoError::TimedOut => f.write_str("timed out"),
            IoError::Aborted => f.write_str("connection aborted"),
            IoError::NoDescriptors => f.write_str("out of descriptors"),
            IoError::AddrInUse => f.write_str("address in use"),
            IoError::Closed => f.write_str("transport closed"),
            IoError::NotConnected => f.write_str("not connected"),
            IoError::Protocol(what) => f.write_str(what),
            IoError::Other(code) => write!(f, "I/O error {code}"),
        }
    }
}

impl core::error::Error for IoError {}

impl embedded_io::Error for IoError {
    fn kind(&self) -> embedded_io::ErrorKind {
        use embedded_io::ErrorKind as K;
        match self {
            IoError::WouldBlock | IoError::Interrupted => K::Interrupted,
            IoError::Reset => K::ConnectionReset,
            IoError::BrokenPipe => K::BrokenPipe,
            IoError::Refused => K::ConnectionRefused,
            IoError::TimedOut => K::TimedOut,
            IoError::Aborted => K::ConnectionAborted,
            IoError::NoDescriptors => K::OutOfMemory,
            IoError::AddrInUse => K::AddrInUse,
            IoError::Closed | IoError::NotConnected => K::NotConnected,
            IoError::Protocol(_) => K::InvalidData,
            IoError::Unreachable | IoError::Other(_) => K::Other,
        }
    }
}

/// Non-blocking byte streams addressed by handle: TCP and Unix sockets and pipes on hosts, smoltcp
/// TCP sockets on boards.
pub trait Transport {
    /// What names one transport in this storage.
    type Handle: Copy + PartialEq + fmt::Debug;

    /// The source the host reports readiness for.
    fn source(&self, h: Self::Handle) -> SourceKey;

    /// Read into `buf`: `Ok(0)` at end of file, [`IoError::WouldBlock`] when nothing is there.
    fn read(&mut self, h: Self::Handle, buf: &mut [u8]) -> Result<usize, IoError>;

    /// Write from `buf`; [`IoError::WouldBlock`] when the transport cannot take anything now.
    fn write(&mut self, h: Self::Handle, buf: &[u8]) -> Result<usize, IoError>;

    /// Shut down the writing side: the peer reads end of file once the sent data is read.
    fn shutdown_write(&mut self, h: Self::Handle) -> Result<(), IoError>;

    /// Whether a non-blocking connect has completed: `Ok(())` when connected,
    /// [`IoError::WouldBlock`] while still in progress, the failure otherwise.
    fn connected(&mut self, h: Self::Handle) -> Result<(), IoError>;

    /// Deregister the transport from `d` (see [`Dispatcher::forget_source`]), then close it.
    fn close(&mut self, d: &mut dyn Dispatcher, h: Self::Handle);

    /// Whether bytes wait inside the transport that a [`read`](Self::read) would return without
    /// new readiness from the host: data a TLS layer decrypted and the reader has not taken yet
    /// (a buffered connection that paused reading at its high watermark checks it when it
    /// resumes). The default holds nothing back.
    fn buffered(&mut self, h: Self::Handle) -> bool {
        let _ = h;
        false
    }

    /// Push out what the transport queued by itself (a TLS layer's handshake records and
    /// encrypted output): `Ok(true)` when nothing is left, `Ok(false)` when the rest must wait for
    /// writability (the connection then watches for it and calls again). The default queues
    /// nothing.
    fn flush(&mut self, h: Self::Handle) -> Result<bool, IoError> {
        let _ = h;
        Ok(true)
    }

    /// The address of the peer, for transports that have one (an access log shows it). The
    /// default knows none.
    fn peer_addr(&self, h: Self::Handle) -> Option<core::net::SocketAddr> {
        let _ = h;
        None
    }
}

/// Listening transports: take the next pending connection.
pub trait Accept: Transport {
    /// The next connection waiting on listener `h`, as a new non-blocking transport;
    /// [`IoError::WouldBlock`] when none is waiting, [`IoError::NoDescriptors`] when the process
    /// is out of descriptors.
    fn accept(&mut self, h: Self::Handle) -> Result<Self::Handle, IoError>;
}

/// Transports that can start a non-blocking connect to an IP address: what the DNS resolver's
/// TCP fallback and [`dns::Connector`](crate::dns::Connector) need.
pub trait Connect: Transport {
    /// Start connecting to `to` and return the new transport at once; the connect completes (or
    /// fails) later, which [`Transport::connected`] reports once the transport is writable.
    /// Fails at once when no transport can be opened ([`IoError::NoDescriptors`]) or the address
    /// cannot be reached at all ([`IoError::Unreachable`]).
    fn connect(&mut self, to: SocketAddr) -> Result<Self::Handle, IoError>;
}

/// Non-blocking datagram sockets addressed by handle: UDP sockets on hosts and boards, simulated
/// ones in tests.
///
/// Every datagram is sent and received whole: a datagram longer than the receive buffer is cut
/// to it (as `recvfrom` does), and a send either takes the whole datagram or fails.
pub trait Datagram {
    /// What names one socket in this storage.
    type Handle: Copy + PartialEq + fmt::Debug;

    /// Open a socket bound to `local`. Port 0 asks for a free port, which hosts choose at random
    /// (the operating system's ephemeral port), so each new socket is a new source port. An
    /// unspecified address (`0.0.0.0`, `[::]`) receives on every address of its family.
    fn bind(&mut self, local: SocketAddr) -> Result<Self::Handle, IoError>;

    /// The source the host reports readiness for.
    fn source(&self, h: Self::Handle) -> SourceKey;

    /// The address the socket is bound to (with the port chosen for port 0).
    fn local_addr(&self, h: Self::Handle) -> Result<SocketAddr, IoError>;

    /// Send one datagram to `to`; [`IoError::WouldBlock`] when the socket cannot take it now.
    fn send_to(&mut self, h: Self::Handle, buf: &[u8], to: SocketAddr) -> Result<usize, IoError>;

    /// Receive one datagram into `buf`: its length (cut to `buf`) and where it came from;
    /// [`IoError::WouldBlock`] when none is waiting.
    fn recv_from(
        &mut self,
        h: Self::Handle,
        buf: &mut [u8],
    ) -> Result<(usize, SocketAddr), IoError>;

    /// Deregister the socket from `d` (see [`Dispatcher::forget_source`]), then close it.
    fn close(&mut self, d: &mut dyn Dispatcher, h: Self::Handle);
}
