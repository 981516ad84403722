//! The epoll host (Linux).
//!
//! - Each [`Change`] of the engine becomes one `epoll_ctl`: `ADD` when the old interest is empty,
//!   `DEL` when the new one is, `MOD` otherwise. `READ` is `EPOLLIN`, `WRITE` `EPOLLOUT`,
//!   `CLOSED` `EPOLLRDHUP`; edge-triggered sources add `EPOLLET`. The token travels in
//!   `epoll_event.data`.
//! - `EPOLLHUP` is reported as `READ | WRITE | CLOSED`, `EPOLLRDHUP` as `READ | CLOSED` and
//!   `EPOLLERR` as `READ | WRITE`: end of file and errors arrive as readiness, so the next read or
//!   write sees them, never as a timeout.
//! - It waits at most until the engine's deadline. A remaining wait with a sub-millisecond part
//!   uses `epoll_pwait2` (nanosecond timeout, Linux 5.11) when the kernel has it; otherwise, and
//!   after the first `ENOSYS`, `epoll_wait` with the milliseconds rounded up.
//! - Wake-ups from a [`Notifier`](levent_core::Notifier) come through an eventfd; signals through
//!   the self-pipe described in the `unix` module.
//! - A descriptor epoll refuses (`EPERM` for a regular file, or `EBADF`) is reported ready for its
//!   whole interest at every turn, as `poll(2)` would report it, so the program's read or write
//!   returns the data or the error instead of the event silently never firing.

use crate::unix::{self, SignalSet};
use levent_core::{
    Attached, Change, Clock, Feed, Host, HostError, Interest, NotifierSlot, Ready, Tick, Token,
    Turn, Wait, Waker,
};
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

const WAKE: u64 = u64::MAX;
const SIGNAL: u64 = u64::MAX - 1;
/// Events one wait can return at first, and at most.
const FIRST_BATCH: usize = 256;
const MAX_BATCH: usize = 65536;

/// The kernel's buffer and the engine's batch, both `len` long.
type Buffers = (Box<[libc::epoll_event]>, Box<[(Token, Ready)]>);

fn buffers(len: usize) -> Buffers {
    (
        vec![libc::epoll_event { events: 0, u64: 0 }; len].into_boxed_slice(),
        vec![(Token(0), Ready::NONE); len].into_boxed_slice(),
    )
}

/// A host on Linux's epoll. See the [module documentation](self).
pub struct Epoll {
    /// First, so it is dropped first: the waker is cleared before the descriptors it writes to
    /// close.
    notifier: NotifierSlot,
    epfd: OwnedFd,
    wake: OwnedFd,
    /// What one `epoll_wait` may return; doubled (up to [`MAX_BATCH`]) when a wait fills it.
    events: Box<[libc::epoll_event]>,
    /// The readiness of one wait, fed to the engine in one call; as long as `events`.
    batch: Box<[(Token, Ready)]>,
    /// Sources epoll would not take, reported ready at every turn.
    refused: Vec<(RawFd, Token, Interest)>,
    /// Registered descriptors and the token each was registered with: a deregistration applies
    /// only to the registration with its token (the number may have been registered again since).
    registered: HashMap<RawFd, u64>,
    signals: SignalSet,
    signal_pipe: bool,
    pwait2: bool,
}

fn mask(i: Interest, edge: bool) -> u32 {
    let mut m = 0;
    if i.contains(Interest::READ) {
        m |= libc::EPOLLIN;
    }
    if i.contains(Interest::WRITE) {
        m |= libc::EPOLLOUT;
    }
    if i.contains(Interest::CLOSED) {
        m |= libc::EPOLLRDHUP;
    }
    if edge {
        m |= libc::EPOLLET;
    }
    m as u32
}

pub(crate) fn readiness(events: u32) -> Ready {
    let e = events as libc::c_int;
    // The common case first: plain readability or writability.
    if e == libc::EPOLLIN {
        return Ready::READ;
    }
    if e == libc::EPOLLOUT {
        return Ready::WRITE;
    }
    let mut r = Ready::NONE;
    if e & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) != 0 {
        r |= Ready::READ;
    }
    if e & (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) != 0 {
        r |= Ready::WRITE;
    }
    if e & (libc::EPOLLRDHUP | libc::EPOLLHUP) != 0 {
        r |= Ready::CLOSED;
    }
    r
}

fn wake_eventfd(fd: usize) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a local into the eventfd; the host clears the waker before it
    // closes the descriptor, so `fd` is open.
    unsafe { libc::write(fd as RawFd, (&raw const one).cast(), 8) };
}

impl Epoll {
    /// A new epoll instance with its eventfd for wake-ups.
    pub fn new() -> io::Result<Self> {
        // SAFETY: plain system calls; the results are checked before use.
        let (epfd, wake) = unsafe {
            let epfd = libc::epoll_create1(libc::EPOLL_CLOEXEC);
            if epfd < 0 {
                return Err(io::Error::last_os_error());
            }
            let epfd = OwnedFd::from_raw_fd(epfd);
            let wake = libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK);
            if wake < 0 {
                return Err(io::Error::last_os_error());
            }
            (epfd, OwnedFd::from_raw_fd(wake))
        };
        let (events, batch) = buffers(FIRST_BATCH);
        let host = Epoll {
            epfd,
            wake,
            events,
            batch,
            refused: Vec::new(),
            registered: HashMap::new(),
            signals: SignalSet::new(),
            signal_pipe: false,
            notifier: NotifierSlot::default(),
            pwait2: true,
        };
        host.ctl(
            libc::EPOLL_CTL_ADD,
            host.wake.as_raw_fd(),
            libc::EPOLLIN as u32,
            WAKE,
        )?;
        Ok(host)
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, data: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: data };
        // SAFETY: `ev` is a valid epoll_event for the duration of the call.
        if unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), op, fd, &mut ev) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// One `epoll_wait` (or `epoll_pwait2`) as `wait` allows; how many events it wrote.
    #[inline(always)]
    fn epoll(&mut self, wait: Wait) -> io::Result<usize> {
        match wait {
            Wait::No => self.epoll_ms(0),
            Wait::Forever => self.epoll_ms(-1),
            Wait::Until(_) => self.epoll_until(wait),
        }
    }

    /// A wait until a deadline: the timeout from the clock, out of the line of the waits that
    /// need no clock.
    #[inline(never)]
    fn epoll_until(&mut self, wait: Wait) -> io::Result<usize> {
        let left = unix::remaining(wait).unwrap_or_default();
        if !left.subsec_nanos().is_multiple_of(1_000_000) && self.pwait2 {
            return self.pwait2(left);
        }
        self.epoll_ms(unix::millis(Some(left)))
    }

    #[inline(always)]
    fn epoll_ms(&mut self, timeout: libc::c_int) -> io::Result<usize> {
        // At most MAX_BATCH: fits in a c_int.
        let max = self.events.len() as libc::c_int;
        // SAFETY: the buffer has room for `max` events.
        let n = unsafe {
            libc::epoll_wait(
                self.epfd.as_raw_fd(),
                self.events.as_mut_ptr(),
                max,
                timeout,
            )
        };
        if n < 0 {
            return interrupted();
        }
        Ok(n as usize)
    }

    /// `epoll_pwait2` with a nanosecond timeout; `epoll_wait` with the milliseconds rounded up
    /// from the first `ENOSYS` on.
    #[cold]
    fn pwait2(&mut self, left: Duration) -> io::Result<usize> {
        let max = self.events.len() as libc::c_int;
        let ts = libc::timespec {
            tv_sec: libc::time_t::try_from(left.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_nsec: left.subsec_nanos().into(),
        };
        // SAFETY: epoll_pwait2(epfd, events, maxevents, timeout, sigmask, sigsetsize): the
        // buffer has room for `max` events, `ts` lives across the call, no signal mask.
        let mut n = unsafe {
            libc::syscall(
                libc::SYS_epoll_pwait2,
                self.epfd.as_raw_fd(),
                self.events.as_mut_ptr(),
                max,
                &raw const ts,
                std::ptr::null::<libc::sigset_t>(),
                0usize,
            )
        };
        if n < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
            self.pwait2 = false;
            let ms = unix::millis(Some(left));
            // SAFETY: the buffer has room for `max` events.
            n = unsafe {
                libc::epoll_wait(self.epfd.as_raw_fd(), self.events.as_mut_ptr(), max, ms)
            }
            .into();
        }
        if n < 0 {
            return interrupted();
        }
        Ok(n as usize)
    }

    /// A wait that returned the eventfd or the signal pipe among its `n` events: the others are
    /// fed, then the refused sources, the notifier's ids and the signals.
    #[cold]
    fn feed_special(&mut self, n: usize, d: &mut dyn Feed) {
        let (mut k, mut woken, mut signalled) = (0, false, false);
        for i in 0..n {
            match self.batch[i].0.0 {
                WAKE => woken = true,
                SIGNAL => signalled = true,
                _ => {
                    self.batch[k] = self.batch[i];
                    k += 1;
                }
            }
        }
        d.feed_io(&self.batch[..k]);
        if !self.refused.is_empty() {
            self.feed_refused(d);
        }
        if woken {
            // One read empties an eventfd; then the ids queued before it.
            unix::drain_eventfd(self.wake.as_raw_fd());
            self.notifier.drain(d);
        }
        if signalled {
            self.signals.feed(d);
        }
    }

    /// Sources epoll refused, reported ready for their whole interest.
    #[cold]
    fn feed_refused(&self, d: &mut dyn Feed) {
        let batch: Vec<_> = self
            .refused
            .iter()
            .map(|&(_, token, interest)| (token, Ready::from(interest)))
            .collect();
        d.feed_io(&batch);
    }

    /// A wait filled the buffer: double it for the next.
    #[cold]
    fn grow(&mut self) {
        if self.events.len() < MAX_BATCH {
            (self.events, self.batch) = buffers(self.events.len() * 2);
        }
    }
}

/// A failed wait: interrupted by a signal is a wait that returned nothing, anything else an error.
#[cold]
fn interrupted() -> io::Result<usize> {
    let e = io::Error::last_os_error();
    if e.kind() == io::ErrorKind::Interrupted {
        Ok(0)
    } else {
        Err(e)
    }
}

impl Host for Epoll {
    fn clock(&self) -> Option<Clock> {
        Some(crate::clock::CLOCK)
    }

    fn now(&mut self) -> Tick {
        crate::clock::now()
    }

    fn wait(&mut self, wait: Wait, d: &mut dyn Feed) -> Result<Turn, HostError> {
        let mut wait = wait;
        if self.notifier.due() && self.notifier.drain(d) > 0 || !self.refused.is_empty() {
            wait = Wait::No;
        }
        if wait == Wait::Forever
            && self.registered.is_empty()
            && !self.signals.any()
            && self.notifier.get().is_none()
        {
            return Ok(Turn::Never);
        }
        let n = self.epoll(wait).map_err(|e| unix::host_error(&e))?;
        // `batch` is as long as `events`, so the zip covers all `n`.
        let mut special = false;
        for (ev, out) in self.events[..n].iter().zip(self.batch.iter_mut()) {
            let t = ev.u64;
            special |= t >= SIGNAL;
            *out = (Token(t), readiness(ev.events));
        }
        if special {
            self.feed_special(n, d);
        } else {
            d.feed_io(&self.batch[..n]);
            if !self.refused.is_empty() {
                self.feed_refused(d);
            }
        }
        if n == self.events.len() {
            self.grow();
        }
        Ok(Turn::Waited)
    }

    fn apply(&mut self, change: Change) -> Result<(), HostError> {
        match change {
            Change::Io {
                key,
                token,
                old,
                new,
                edge,
            } => {
                let fd = key.0 as RawFd;
                self.refused.retain(|r| r.1 != token);
                if new.is_empty() {
                    if self.registered.get(&fd) == Some(&token.0) {
                        self.registered.remove(&fd);
                        // Already gone if the descriptor was closed: nothing to undo then.
                        let _ = self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0);
                    }
                    return Ok(());
                }
                let m = mask(new, edge);
                let (first, second) = if old.is_empty() {
                    (libc::EPOLL_CTL_ADD, libc::EPOLL_CTL_MOD)
                } else {
                    (libc::EPOLL_CTL_MOD, libc::EPOLL_CTL_ADD)
                };
                self.registered.insert(fd, token.0);
                let result = match self.ctl(first, fd, m, token.0) {
                    // Registered under another token (a duplicate), or dropped by the kernel
                    // when the descriptor was closed and its number reused: try the other way.
                    Err(e) if matches!(e.raw_os_error(), Some(libc::EEXIST | libc::ENOENT)) => {
                        self.ctl(second, fd, m, token.0)
                    }
                    r => r,
                };
                if result.is_err() {
                    self.refused.push((fd, token, new));
                }
                Ok(())
            }
            Change::Signal { signo, watch } => {
                if watch {
                    self.signals
                        .watch(signo)
                        .map_err(|e| unix::host_error(&e))?;
                    if let (false, Some(fd)) = (self.signal_pipe, self.signals.pipe()) {
                        self.ctl(libc::EPOLL_CTL_ADD, fd, libc::EPOLLIN as u32, SIGNAL)
                            .map_err(|e| unix::host_error(&e))?;
                        self.signal_pipe = true;
                    }
                } else {
                    self.signals.unwatch(signo);
                }
                Ok(())
            }
        }
    }

    fn attach(&mut self, notifier: Attached) -> Result<(), HostError> {
        let waker = Waker {
            wake: wake_eventfd,
            context: self.wake.as_raw_fd() as usize,
        };
        self.notifier.install(notifier, Some(waker));
        Ok(())
    }
}
