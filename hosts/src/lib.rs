//! # levent-hosts
//!
//! The hosts of [levent](levent_core): what waits for the operating system and feeds the
//! dispatcher. Each backend is one file implementing the contract of [`levent_core::host`]:
//!
//! | backend | where | wait | wake-up | signals |
//! |---|---|---|---|---|
//! | [`epoll::Epoll`] | Linux (default) | `epoll_wait` / `epoll_pwait2` | eventfd | self-pipe |
//! | [`uring::Uring`] | Linux 5.11+ (`LEVENT_BACKEND=io_uring`) | `io_uring_enter` | eventfd | self-pipe |
//! | `kqueue::Kqueue` | macOS, FreeBSD, NetBSD, OpenBSD, DragonFly (default) | `kevent` | `EVFILT_USER` | `EVFILT_SIGNAL` |
//! | [`poll::Poll`] | any Unix (forced with `--cfg levent_force_poll`) | `poll` | pipe | self-pipe |
//! | `select::Select` | Windows (default) | winsock `select` | loopback UDP pair | console Ctrl-C / Ctrl-Break |
//! | `sim::SimNet` (feature `sim`) | everywhere | virtual time | queue | injected |
//!
//! [`DefaultHost`] is the best backend of the platform (on Linux a [`Backend`] that
//! `LEVENT_BACKEND=epoll|poll|io_uring` chooses at run time), [`PLATFORM`] what an engine needs to know
//! about it (nanosecond ticks, the signals it can catch), [`engine`] makes an engine of any size
//! on the heap for it, and [`run`] runs a dispatcher on a new default host in one call.
//! [`trace`] records a run's inputs and replays them with no OS underneath. Every error of
//! levent converts into [`std::io::Error`], so `?` works in a `main` that returns
//! `std::io::Result`.
//!
//! ```
//! use core::time::Duration;
//! use levent_core::{Event, Exit};
//!
//! fn main() -> std::io::Result<()> {
//!     let mut engine: levent_hosts::Engine<&str, 8> = levent_hosts::engine();
//!     engine.start(Event::timer(), "hello", Some(Duration::from_millis(10)))?;
//!     let exit = levent_hosts::run(&mut engine, &mut |_, fired| println!("{}", fired.datum))?;
//!     assert_eq!(exit, Exit::Empty);
//!     Ok(())
//! }
//! ```
//!
//! ## Features
//!
//! - `sim`: `sim::SimNet`, a simulated network on virtual time, for tests, and
//!   `explore`: seeded fault exploration over it (`explore::Chaos`, `explore::explore`).
//! - `count-alloc`: `alloc::Counting`, a global allocator that counts allocations, to show that
//!   a steady state allocates nothing.
//! - `log`: log through the `log` crate (listener back-off, refused connections, DNS retries,
//!   HTTP limits).
//! - `tls`: `tls::Tls`, TLS over any transport with rustls.
//!
//! `unsafe` lives only in this crate, each block with a `// SAFETY:` comment.

#![deny(missing_docs)]

#[cfg(feature = "count-alloc")]
pub mod alloc;
pub mod buffer;
pub mod clock;
pub mod dns;
#[cfg(target_os = "linux")]
pub mod epoll;
#[cfg(feature = "sim")]
pub mod explore;
#[cfg(any(
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly"
))]
pub mod kqueue;
// The translation between changes and kevents is plain code: its tests run everywhere.
#[cfg(all(
    test,
    not(any(
        target_vendor = "apple",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly"
    ))
))]
mod kqueue;
pub mod memory;
pub mod net;
#[cfg(unix)]
pub mod poll;
#[cfg(windows)]
pub mod select;
#[cfg(feature = "sim")]
pub mod sim;
#[cfg(feature = "tls")]
pub mod tls;
pub mod trace;
#[cfg(unix)]
pub mod unix;
#[cfg(target_os = "linux")]
pub mod uring;

use levent_core::{Events, Exit, OnFired, Platform};
use std::io;

pub use levent_core;
pub use memory::{Heap, HeapTable};

/// An engine whose tables live on the heap ([`Heap`]): any size, made without ever being on the
/// stack. `S` sources default to `E` and priorities to 1. Make one with [`engine`].
pub type Engine<T, const E: usize, const S: usize = E, const P: usize = 1> =
    levent_core::Engine<T, E, S, P, Heap>;

/// A connection table whose slots live on the heap ([`Heap`]), for [`net::Sockets`]: up to `C`
/// connections with `B` buffers, `U` the application's state per connection. Make one with
/// `ConnTable::new(TableConfig::default())`; the engine needs
/// [`events_needed`](levent_core::conn::events_needed)`(C, 0)` events.
pub type ConnTable<T, B, const C: usize, U = ()> =
    levent_core::conn::ConnTable<T, net::SocketId, B, C, U, Heap>;

/// The core's HTTP/1.1 server for [`net::Sockets`], with growable buffers and its connection slots
/// on the heap: up to `C` connections, heads of up to `HEAD` bytes. Its engine needs
/// [`events_needed`](levent_core::http::server::events_needed)`(C)` events and `C + 1` sources.
pub type HttpServer<T, const C: usize, const HEAD: usize = 8192> =
    levent_core::http::server::Server<T, net::SocketId, buffer::ChainBuffer, C, HEAD, 64, Heap>;

/// A new engine on the heap for this platform ([`PLATFORM`]: its clock and its signals).
///
/// ```
/// use core::time::Duration;
/// use levent_core::Event;
///
/// // 16,384 events: about 2 MiB, never on the stack.
/// let mut engine: levent_hosts::Engine<&str, 16384> = levent_hosts::engine();
/// engine.start(Event::timer(), "hello", Some(Duration::from_millis(1)))?;
/// let mut host = levent_hosts::default_host()?;
/// assert_eq!(engine.next(&mut host)?.map(|f| f.datum), Some("hello"));
/// # Ok::<(), std::io::Error>(())
/// ```
#[cfg(any(unix, windows))]
pub fn engine<T: Copy, const E: usize, const S: usize, const P: usize>() -> Engine<T, E, S, P> {
    levent_core::Engine::new(PLATFORM)
}

/// The best host of this platform: on Linux a [`Backend`] (epoll unless `LEVENT_BACKEND` says
/// otherwise), kqueue on macOS and the BSDs (poll on all three with `--cfg levent_force_poll`),
/// select on Windows, poll on other Unix systems.
#[cfg(all(target_os = "linux", not(levent_force_poll)))]
pub type DefaultHost = Backend;
/// The best host of this platform: on Linux a [`Backend`] (epoll unless `LEVENT_BACKEND` says
/// otherwise), kqueue on macOS and the BSDs (poll on all three with `--cfg levent_force_poll`),
/// select on Windows, poll on other Unix systems.
#[cfg(all(
    any(
        target_vendor = "apple",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly"
    ),
    not(levent_force_poll)
))]
pub type DefaultHost = kqueue::Kqueue;
/// The best host of this platform: on Linux a [`Backend`] (epoll unless `LEVENT_BACKEND` says
/// otherwise), kqueue on macOS and the BSDs (poll on all three with `--cfg levent_force_poll`),
/// select on Windows, poll on other Unix systems.
#[cfg(all(
    unix,
    any(
        levent_force_poll,
        not(any(
            target_os = "linux",
            target_vendor = "apple",
            target_os = "freebsd",
            target_os = "netbsd",
            target_os = "openbsd",
            target_os = "dragonfly"
        ))
    )
))]
pub type DefaultHost = poll::Poll;
/// The best host of this platform: on Linux a [`Backend`] (epoll unless `LEVENT_BACKEND` says
/// otherwise), kqueue on macOS and the BSDs (poll on all three with `--cfg levent_force_poll`),
/// select on Windows, poll on other Unix systems.
#[cfg(windows)]
pub type DefaultHost = select::Select;

/// A new [`DefaultHost`]. On Linux it honours `LEVENT_BACKEND` (see [`Backend::from_env`]), the
/// way libevent honours `EVENT_NOEPOLL` and its kin.
#[cfg(not(all(target_os = "linux", not(levent_force_poll))))]
pub fn default_host() -> io::Result<DefaultHost> {
    DefaultHost::new()
}

/// A new [`DefaultHost`]. On Linux it honours `LEVENT_BACKEND` (see [`Backend::from_env`]), the
/// way libevent honours `EVENT_NOEPOLL` and its kin.
#[cfg(all(target_os = "linux", not(levent_force_poll)))]
pub fn default_host() -> io::Result<DefaultHost> {
    Backend::from_env()
}

/// The socket table to use with `host`: on Linux's io_uring backend one whose streams read and
/// write on the host's ring (reads complete into buffers the host provides, writes are queued
/// and go out with the host's next wait: see [`uring`'s "Stream IO on the
/// ring"](uring#stream-io-on-the-ring)); a plain [`net::Sockets`] everywhere else. Where the
/// kernel has io_uring but not what the ring's stream IO needs (Linux 6.0), a plain table, with
/// one line on standard error (through `log` with the `log` feature).
///
/// ```
/// use levent_core::io::Transport;
///
/// let mut host = levent_hosts::default_host()?;
/// let mut io = levent_hosts::sockets(&mut host);
/// let (a, b) = io.pair()?;
/// io.write(a, b"ping")?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[cfg(all(target_os = "linux", not(levent_force_poll)))]
pub fn sockets(host: &mut DefaultHost) -> net::Sockets {
    sockets_for(host, net::Sockets::new())
}

/// `io` made the socket table for `host`, as [`sockets`] makes a new one: on Linux's io_uring
/// backend the streams it accepts and the socket pairs it makes from now on read and write on
/// the host's ring (its listeners and the streams it has stay as they are); on the other hosts
/// `io` as it is. For listeners bound before the host exists, such as one engine per thread
/// behind `SO_REUSEPORT`, where each thread makes its own host. Where the ring's stream IO is
/// not available, `io` as it is, with one line on standard error (through `log` with the `log`
/// feature).
///
/// ```
/// use levent_hosts::net::{ListenOptions, Sockets};
///
/// let mut io = Sockets::new();
/// let listening = io.listen("127.0.0.1:0".parse()?, ListenOptions::default())?;
/// let mut host = levent_hosts::default_host()?;
/// let io = levent_hosts::sockets_for(&mut host, io);
/// assert!(io.local_addr(listening).is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg(all(target_os = "linux", not(levent_force_poll)))]
pub fn sockets_for(host: &mut DefaultHost, mut io: net::Sockets) -> net::Sockets {
    if let Err(e) = host.attach_sockets(&mut io) {
        let line = format!("levent: io_uring stream IO is not available ({e}): plain sockets");
        #[cfg(feature = "log")]
        log::warn!("{line}");
        #[cfg(not(feature = "log"))]
        eprintln!("{line}");
    }
    io
}

/// The socket table to use with `host`: a plain [`net::Sockets`] on this platform (on Linux's
/// io_uring backend, one whose streams read and write on the host's ring).
#[cfg(not(all(target_os = "linux", not(levent_force_poll))))]
pub fn sockets(_host: &mut DefaultHost) -> net::Sockets {
    net::Sockets::new()
}

/// `io` made the socket table for `host`: `io` as it is on this platform (on Linux's io_uring
/// backend, its new streams read and write on the host's ring).
#[cfg(not(all(target_os = "linux", not(levent_force_poll))))]
pub fn sockets_for(_host: &mut DefaultHost, io: net::Sockets) -> net::Sockets {
    io
}

/// One of Linux's hosts, chosen at run time: what [`default_host`] makes there.
///
/// ```
/// use levent_hosts::Backend;
///
/// let host = Backend::named("poll")?;
/// assert_eq!(host.name(), "poll");
/// assert!(Backend::named("kqueue").is_err());
/// # Ok::<(), std::io::Error>(())
/// ```
#[cfg(target_os = "linux")]
pub enum Backend {
    /// [`epoll::Epoll`], the default.
    Epoll(epoll::Epoll),
    /// [`poll::Poll`].
    Poll(poll::Poll),
    /// [`uring::Uring`] (boxed: its ring and tables are larger than the others).
    IoUring(Box<uring::Uring>),
}

#[cfg(target_os = "linux")]
impl Backend {
    /// The names [`named`](Self::named) and `LEVENT_BACKEND` take.
    pub const NAMES: [&'static str; 3] = ["epoll", "poll", "io_uring"];

    /// The backend `LEVENT_BACKEND` names (`epoll`, `poll` or `io_uring`), epoll when it is unset
    /// or empty. When io_uring is asked for but the kernel cannot give it (before Linux 5.11, or
    /// forbidden by a seccomp filter), it says so in one line (through `log` with the `log`
    /// feature, on standard error otherwise) and uses epoll. Any other name is an
    /// [`InvalidInput`](io::ErrorKind::InvalidInput) error that lists the names.
    ///
    /// ```
    /// // With LEVENT_BACKEND unset this is epoll.
    /// let host = levent_hosts::Backend::from_env()?;
    /// assert!(levent_hosts::Backend::NAMES.contains(&host.name()));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_env() -> io::Result<Self> {
        match std::env::var("LEVENT_BACKEND") {
            Ok(name) if !name.is_empty() => match Self::named(&name) {
                Err(e) if name == "io_uring" && e.kind() != io::ErrorKind::InvalidInput => {
                    let line = format!("levent: io_uring is not available ({e}): using epoll");
                    #[cfg(feature = "log")]
                    log::warn!("{line}");
                    #[cfg(not(feature = "log"))]
                    eprintln!("{line}");
                    Ok(Backend::Epoll(epoll::Epoll::new()?))
                }
                r => r,
            },
            Ok(_) | Err(std::env::VarError::NotPresent) => Ok(Backend::Epoll(epoll::Epoll::new()?)),
            Err(std::env::VarError::NotUnicode(_)) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "LEVENT_BACKEND is not UTF-8: expected epoll, poll or io_uring",
            )),
        }
    }

    /// The backend called `name` (one of [`NAMES`](Self::NAMES)), or the error of making it;
    /// another name is an [`InvalidInput`](io::ErrorKind::InvalidInput) error.
    ///
    /// ```
    /// let err = levent_hosts::Backend::named("select").err().unwrap();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// ```
    pub fn named(name: &str) -> io::Result<Self> {
        match name {
            "epoll" => Ok(Backend::Epoll(epoll::Epoll::new()?)),
            "poll" => Ok(Backend::Poll(poll::Poll::new()?)),
            "io_uring" => Ok(Backend::IoUring(Box::new(uring::Uring::new()?))),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("no backend {other:?}: expected epoll, poll or io_uring"),
            )),
        }
    }

    /// Which backend this is, as [`named`](Self::named) takes it (libevent's
    /// `event_base_get_method`).
    ///
    /// ```
    /// let host = levent_hosts::Backend::named("epoll")?;
    /// assert_eq!(host.name(), "epoll");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Epoll(_) => "epoll",
            Backend::Poll(_) => "poll",
            Backend::IoUring(_) => "io_uring",
        }
    }

    /// The socket table for this host: on io_uring one whose streams read and write on the
    /// host's ring ([`uring::Uring::sockets`]), a plain [`net::Sockets`] on the others.
    ///
    /// ```
    /// let mut host = levent_hosts::Backend::named("epoll")?;
    /// let io = host.sockets()?;
    /// assert!(io.is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn sockets(&mut self) -> io::Result<net::Sockets> {
        let mut io = net::Sockets::new();
        self.attach_sockets(&mut io)?;
        Ok(io)
    }

    /// Make `io` the socket table for this host: on io_uring, the streams it accepts and the
    /// socket pairs it makes from now on read and write on the host's ring
    /// ([`uring::Uring::attach_sockets`]); nothing to do on the others.
    pub fn attach_sockets(&mut self, io: &mut net::Sockets) -> io::Result<()> {
        match self {
            Backend::IoUring(h) => h.attach_sockets(io),
            Backend::Epoll(_) | Backend::Poll(_) => Ok(()),
        }
    }

    fn host(&mut self) -> &mut dyn levent_core::Host {
        match self {
            Backend::Epoll(h) => h,
            Backend::Poll(h) => h,
            Backend::IoUring(h) => &mut **h,
        }
    }
}

#[cfg(target_os = "linux")]
impl core::fmt::Debug for Backend {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Backend").field(&self.name()).finish()
    }
}

#[cfg(target_os = "linux")]
impl levent_core::Host for Backend {
    fn clock(&self) -> Option<levent_core::Clock> {
        Some(clock::CLOCK)
    }

    fn apply(&mut self, change: levent_core::Change) -> Result<(), levent_core::HostError> {
        self.host().apply(change)
    }

    fn wait(
        &mut self,
        wait: levent_core::Wait,
        feed: &mut dyn levent_core::Feed,
    ) -> Result<levent_core::Turn, levent_core::HostError> {
        // Each arm a direct call, not through `host()`'s trait object: this is every turn.
        match self {
            Backend::Epoll(h) => h.wait(wait, feed),
            Backend::Poll(h) => h.wait(wait, feed),
            Backend::IoUring(h) => h.wait(wait, feed),
        }
    }

    fn now(&mut self) -> levent_core::Tick {
        clock::now()
    }

    fn attach(&mut self, notifier: levent_core::Attached) -> Result<(), levent_core::HostError> {
        self.host().attach(notifier)
    }
}

/// The signals a program can catch on this platform: 1 to 31 and the real-time signals, except
/// those that cannot be caught (`SIGKILL`, `SIGSTOP`) and those a handler cannot return from
/// (`SIGSEGV`, `SIGBUS`, `SIGFPE`, `SIGILL`).
#[cfg(unix)]
pub const SIGNALS: levent_core::Signals = {
    let base = levent_core::Signals::range(1, 31);
    #[cfg(target_os = "linux")]
    let base = levent_core::Signals(base.0 | levent_core::Signals::range(34, 63).0);
    base.without(libc::SIGKILL as u32)
        .without(libc::SIGSTOP as u32)
        .without(libc::SIGSEGV as u32)
        .without(libc::SIGBUS as u32)
        .without(libc::SIGFPE as u32)
        .without(libc::SIGILL as u32)
};

/// The signals a program can catch on Windows: the console's Ctrl-C ([`signals::SIGINT`], 2) and
/// Ctrl-Break ([`signals::SIGBREAK`], 21), as the [`select`] host delivers them.
#[cfg(windows)]
pub const SIGNALS: levent_core::Signals = levent_core::Signals::NONE
    .with(signals::SIGINT as u32)
    .with(signals::SIGBREAK as u32);

/// Signal numbers of this platform, for signal events (`Event::signal(SIGINT)`).
#[cfg(windows)]
pub mod signals {
    /// Ctrl-C in the console (the C runtime's `SIGINT`).
    pub const SIGINT: i32 = 2;
    /// Ctrl-Break in the console (the C runtime's `SIGBREAK`).
    pub const SIGBREAK: i32 = 21;
    /// The signals that ask a service to stop: Ctrl-C and Ctrl-Break here (`SIGINT` and
    /// `SIGTERM` on Unix), so one loop serves both platforms:
    /// `for signo in STOP { engine.start(Event::signal(signo), Ev::Stop, None)?; }`.
    pub const STOP: [i32; 2] = [SIGINT, SIGBREAK];
}

/// Signal numbers of this platform, for signal events (`Event::signal(SIGINT)`).
#[cfg(unix)]
pub mod signals {
    /// Interrupt from the terminal (Ctrl-C).
    pub const SIGINT: i32 = libc::SIGINT;
    /// Termination request.
    pub const SIGTERM: i32 = libc::SIGTERM;
    /// Hang-up of the controlling terminal; by convention, reload the configuration.
    pub const SIGHUP: i32 = libc::SIGHUP;
    /// User-defined signal 1.
    pub const SIGUSR1: i32 = libc::SIGUSR1;
    /// User-defined signal 2.
    pub const SIGUSR2: i32 = libc::SIGUSR2;
    /// A child process stopped or exited.
    pub const SIGCHLD: i32 = libc::SIGCHLD;
    /// The terminal window changed size.
    pub const SIGWINCH: i32 = libc::SIGWINCH;
    /// The signals that ask a service to stop: `SIGINT` and `SIGTERM` here (Ctrl-C and
    /// Ctrl-Break on Windows), so one loop serves both platforms:
    /// `for signo in STOP { engine.start(Event::signal(signo), Ev::Stop, None)?; }`.
    pub const STOP: [i32; 2] = [SIGINT, SIGTERM];
}

/// What an engine running on this crate's hosts must know: nanosecond ticks of a monotonic clock
/// ([`clock`]) and the catchable signals ([`SIGNALS`]).
#[cfg(any(unix, windows))]
pub const PLATFORM: Platform = Platform {
    clock: clock::CLOCK,
    signals: SIGNALS,
};

/// Run `events` on a new [`DefaultHost`] until no event is left, `loop_exit` or `loop_break`,
/// calling `handler` for every fired event.
pub fn run<T, E: Events<T>>(events: &mut E, handler: &mut OnFired<'_, T>) -> io::Result<Exit> {
    let mut host = default_host()?;
    Ok(events.run(&mut host, levent_core::Mode::Default, handler)?)
}
