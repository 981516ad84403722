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
//! | [`sim::SimNet`] | everywhere | virtual time | queue | injected |
//!
//! [`DefaultHost`] is the best backend of the platform, [`PLATFORM`] what an engine needs to know
//! about it (nanosecond ticks, the signals it can catch), and [`run`] runs a dispatcher on a new
//! default host in one call.
//!
//! ```no_run
//! use core::time::Duration;
//! use levent_core::{Engine, Event, Exit};
//!
//! let mut engine: Engine<&str, 8, 8, 1> = Engine::new(levent_hosts::PLATFORM);
//! engine.start(Event::timer(), "hello", Some(Duration::from_millis(10))).unwrap();
//! let exit = levent_hosts::run(&mut engine, &mut |_, fired| println!("{}", fired.datum)).unwrap();
//! assert_eq!(exit, Exit::Empty);
//! ```
//!
//! `unsafe` lives only in this crate, each block with a `// SAFETY:` comment.

#![deny(missing_docs)]

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
pub mod net;
#[cfg(unix)]
pub mod poll;
#[cfg(windows)]
pub mod select;
pub mod sim;
#[cfg(unix)]
pub mod unix;

use levent_core::{
    Change, Dispatcher, Events, Exit, Host, NotifySource, OnFired, Platform, SourceKey,
};
use std::io;
use std::sync::Arc;

pub use levent_core;

/// What the hosts of this crate add to the core's [`Host`] contract.
pub trait Backend: Host {
    /// Apply one change of the engine's change list to the OS, as a turn does for every change it
    /// drains. A deregistration applies only to the registration with the same token.
    fn apply(&mut self, change: Change) -> Result<(), levent_core::HostError>;

    /// Apply the engine's pending changes now, without waiting or advancing time: after this,
    /// every added event is registered with the OS and every watched signal is caught. A turn does
    /// this first anyway; call it when a registration must take effect before the loop runs (a
    /// signal raised before the first turn would otherwise meet its old disposition).
    fn sync(&mut self, d: &mut dyn Dispatcher) -> Result<(), levent_core::HostError> {
        while let Some(change) = d.next_change() {
            self.apply(change)?;
        }
        Ok(())
    }

    /// Deregister `key` from the engine and the OS at once, before the caller closes it, so that a
    /// descriptor number reused by the next `open` never inherits the old registration or its
    /// readiness (see [`Dispatcher::forget_source`]).
    fn forget(&mut self, d: &mut dyn Dispatcher, key: SourceKey) {
        if let Some(change) = d.forget_source(key) {
            let _ = self.apply(change);
        }
    }

    /// Drain `notifier` into the engine at every turn, and let it wake this host.
    fn attach(&mut self, notifier: Attached);
}

/// A notifier a host drains: a `static` one or a shared one.
///
/// ```
/// use std::sync::Arc;
/// use levent_core::Notifier;
/// use levent_hosts::Attached;
///
/// static STATIC: Notifier<4> = Notifier::new();
/// let a: Attached = (&STATIC).into();
/// let b: Attached = Arc::new(Notifier::<4>::new()).into();
/// # drop((a, b));
/// ```
pub enum Attached {
    /// A notifier in a `static`.
    Static(&'static dyn NotifySource),
    /// A notifier shared with other threads.
    Shared(Arc<dyn NotifySource + Send + Sync>),
}

impl Attached {
    /// The notifier.
    pub fn get(&self) -> &dyn NotifySource {
        match self {
            Attached::Static(n) => *n,
            Attached::Shared(n) => &**n,
        }
    }
}

/// The notifier a host drains, if any: installing one sets its waker and clears the waker of the
/// one it replaces; dropping the slot clears the waker, so a notifier that outlives its host never
/// pokes a closed descriptor.
#[derive(Default)]
pub(crate) struct NotifierSlot(Option<Attached>);

impl NotifierSlot {
    /// Make `notifier` the one drained, waking the host through `waker`.
    pub(crate) fn install(&mut self, notifier: Attached, waker: Option<levent_core::Waker>) {
        notifier.get().set_waker(waker);
        if let Some(old) = self.0.replace(notifier) {
            old.get().set_waker(None);
        }
    }

    /// Whether a notifier is attached.
    pub(crate) fn is_attached(&self) -> bool {
        self.0.is_some()
    }

    /// Feed what the notifier queued to `d`; returns how many ids.
    pub(crate) fn drain(&self, d: &mut dyn Dispatcher) -> usize {
        self.0.as_ref().map_or(0, |n| n.get().drain_into(d))
    }
}

impl Drop for NotifierSlot {
    fn drop(&mut self) {
        if let Some(n) = self.0.take() {
            n.get().set_waker(None);
        }
    }
}

impl<const N: usize> From<&'static levent_core::Notifier<N>> for Attached {
    fn from(n: &'static levent_core::Notifier<N>) -> Self {
        Attached::Static(n)
    }
}

impl<const N: usize> From<Arc<levent_core::Notifier<N>>> for Attached {
    fn from(n: Arc<levent_core::Notifier<N>>) -> Self {
        Attached::Shared(n)
    }
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
    events
        .run(&mut host, levent_core::Mode::Default, handler)
        .map_err(io_error)
}

/// A loop error as an [`io::Error`]: the OS error a host failed with, or `Other`.
pub fn io_error(e: levent_core::LoopError) -> io::Error {
    match e {
        levent_core::LoopError::Host(levent_core::HostError::Os(code)) => {
            io::Error::from_raw_os_error(code)
        }
        other => io::Error::other(other.to_string()),
    }
}
