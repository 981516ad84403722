//! # levent-hosts
//!
//! The hosts of [levent](levent_core): what waits for the operating system and feeds the
//! dispatcher. Each backend is one file implementing the contract of [`levent_core::host`]:
//!
//! | backend | where | wait | wake-up | signals |
//! |---|---|---|---|---|
//! | [`epoll::Epoll`] | Linux (default) | `epoll_wait` / `epoll_pwait2` | eventfd | self-pipe |
//! | `kqueue::Kqueue` | macOS, FreeBSD, NetBSD, OpenBSD, DragonFly (default) | `kevent` | `EVFILT_USER` | `EVFILT_SIGNAL` |
//! | [`poll::Poll`] | any Unix (forced with `--cfg levent_force_poll`) | `poll` | pipe | self-pipe |
//! | `select::Select` | Windows (default) | winsock `select` | loopback UDP pair | console Ctrl-C / Ctrl-Break |
//! | `sim::SimNet` (feature `sim`) | everywhere | virtual time | queue | injected |
//!
//! [`DefaultHost`] is the best backend of the platform, [`PLATFORM`] what an engine needs to know
//! about it (nanosecond ticks, the signals it can catch), [`engine`] makes an engine of any size
//! on the heap for it, and [`run`] runs a dispatcher on a new default host in one call. Every
//! error of levent converts into [`std::io::Error`], so `?` works in a `main` that returns
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
//! - `sim`: `sim::SimNet`, a simulated network on virtual time, for tests.
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
#[cfg(unix)]
pub mod unix;

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

/// The best host of this platform: epoll on Linux, kqueue on macOS and the BSDs (poll on both with
/// `--cfg levent_force_poll`), select on Windows, poll on other Unix systems.
#[cfg(all(target_os = "linux", not(levent_force_poll)))]
pub type DefaultHost = epoll::Epoll;
/// The best host of this platform: epoll on Linux, kqueue on macOS and the BSDs (poll on both with
/// `--cfg levent_force_poll`), select on Windows, poll on other Unix systems.
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
/// The best host of this platform: epoll on Linux, kqueue on macOS and the BSDs (poll on both with
/// `--cfg levent_force_poll`), select on Windows, poll on other Unix systems.
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
/// The best host of this platform: epoll on Linux, kqueue on macOS and the BSDs (poll on both with
/// `--cfg levent_force_poll`), select on Windows, poll on other Unix systems.
#[cfg(windows)]
pub type DefaultHost = select::Select;

/// A new [`DefaultHost`].
pub fn default_host() -> io::Result<DefaultHost> {
    DefaultHost::new()
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
pub fn run<T>(events: &mut dyn Events<T>, handler: &mut OnFired<'_, T>) -> io::Result<Exit> {
    let mut host = default_host()?;
    Ok(events.run(&mut host, levent_core::Mode::Default, handler)?)
}
