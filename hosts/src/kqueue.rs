//! The kqueue host (macOS, iOS, FreeBSD, NetBSD, OpenBSD, DragonFly).
//!
//! # How changes become kevents
//!
//! kqueue watches reading and writing with two separate filters, `EVFILT_READ` and
//! `EVFILT_WRITE`, so one [`Change`] of the engine (the new union of interests on a descriptor)
//! becomes zero, one or two kevent changes. They are not applied one system call at a time: they
//! are appended to a *changelist* that the next `kevent` call, the one that waits, hands to the
//! kernel together with the wait (libevent's changelist). A source whose interest changes three
//! times between two turns costs no system call at all; the engine already coalesced that.
//!
//! - `READ` is `EVFILT_READ`; `WRITE` is `EVFILT_WRITE`; edge-triggered sources add `EV_CLEAR`.
//! - `CLOSED` without `READ` is `EVFILT_READ` with `EV_CLEAR` whatever the event asked: kqueue
//!   reports end of file only through the read filter, and a level-triggered read filter would
//!   fire at every turn while unread data sits in the socket, which the event does not want.
//! - `EV_CLEAR` cannot be changed on a registered filter, so switching a descriptor between edge-
//!   and level-triggered deletes the filter and adds it again. The host remembers what it
//!   registered per descriptor for that.
//! - A changelist entry that fails comes back as an `EV_ERROR` event. A failed delete is success:
//!   `ENOENT` (nothing registered) or `EBADF` (the descriptor was closed, and the kernel dropped
//!   its kevents by itself) mean that what it would delete is gone. A failed add is reported
//!   once as `READ | WRITE` for its token, so that the program's next read or write returns the
//!   error instead of the event silently never firing.
//!
//! # What comes back
//!
//! - `EVFILT_READ` is `READ`; with `EV_EOF` it is `READ | CLOSED` (end of file arrives as
//!   readability), and with a socket error in `fflags` also `WRITE`.
//! - `EVFILT_WRITE` is `WRITE`; with `EV_EOF` and an error it is `READ | WRITE`. `EV_EOF` alone on
//!   the write filter is not reported as `CLOSED`: it also means that *this* side shut down
//!   writing, which says nothing about the peer.
//!
//! # Signals, wake-ups, time
//!
//! - Signal events use `EVFILT_SIGNAL`, which records deliveries even when the signal is ignored.
//!   While at least one kqueue host in the process watches a signal its disposition is `SIG_IGN`
//!   (so that its default action, such as terminating on `SIGINT`, does not run); the previous
//!   disposition is restored when the last one stops. `SIGCHLD` is the exception, as in
//!   libevent: it gets `SIG_DFL`, whose action is to do nothing, because an ignored `SIGCHLD`
//!   makes the kernel reap children by itself and is not recorded by the filter. Signal changes are applied at once, not
//!   batched: the filter is registered before the disposition changes, so no delivery is lost.
//!   The filter reports how many times the signal arrived since the last turn.
//! - A [`Notifier`](levent_core::Notifier) wakes the host with `EVFILT_USER` and `NOTE_TRIGGER`;
//!   the waker's context is the kqueue descriptor.
//! - Timeouts are a `timespec` with the full nanosecond precision of the remaining wait.
//!
//! The translation from changes to kevent changes and from returned kevents to readiness is made
//! of plain functions over plain data ([`plan`], [`seen`]), tested on every platform; only the
//! system calls are specific to the BSDs.

use levent_core::{Interest, Ready, SourceKey, Token};

/// The kevent filters this host uses (plain data, so the translation is testable everywhere).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Filter {
    Read,
    Write,
    Signal,
    User,
}

/// What a changelist entry does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Action {
    /// `EV_ADD`, with `EV_CLEAR` (edge-triggered) or without.
    Add { clear: bool },
    /// `EV_DELETE`.
    Delete,
}

/// One changelist entry before it becomes a `struct kevent`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct KChange {
    ident: usize,
    filter: Filter,
    action: Action,
    udata: u64,
}

/// The `udata` of deletes, so that a delete that fails (the descriptor is already gone) is
/// recognised in the returned events and ignored.
const DELETE: u64 = u64::MAX - 1;

/// What the host registered for one descriptor: per filter, off (`None`) or on, with `EV_CLEAR`
/// (`Some(true)`) or without.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
struct Filters {
    read: Option<bool>,
    write: Option<bool>,
}

impl Filters {
    /// The filters that watch `interest`.
    fn wanted(interest: Interest, edge: bool) -> Filters {
        let read = if interest.contains(Interest::READ) {
            Some(edge)
        } else if interest.contains(Interest::CLOSED) {
            Some(true)
        } else {
            None
        };
        Filters {
            read,
            write: interest.contains(Interest::WRITE).then_some(edge),
        }
    }
}

/// Translate one IO change into changelist entries, appended to `out`, and return what is then
/// registered for the descriptor.
///
/// `had` is what the host registered for `key` before (empty if nothing). `fresh` says that the
/// engine registers the source anew (its old interest was empty): whatever the host remembers for
/// that descriptor number then belongs to a descriptor that was closed, whose kevents the kernel
/// already dropped, so every wanted filter is added again.
fn plan(
    had: Filters,
    fresh: bool,
    key: SourceKey,
    token: Token,
    new: Interest,
    edge: bool,
    out: &mut Vec<KChange>,
) -> Filters {
    let want = Filters::wanted(new, edge);
    for (filter, had, want) in [
        (Filter::Read, had.read, want.read),
        (Filter::Write, had.write, want.write),
    ] {
        let entry = |action, udata| KChange {
            ident: key.0,
            filter,
            action,
            udata,
        };
        match (had, want) {
            (None, None) => {}
            (Some(_), None) => out.push(entry(Action::Delete, DELETE)),
            (Some(h), Some(w)) if h == w && !fresh => {}
            (Some(h), Some(w)) if h != w => {
                // EV_CLEAR cannot be changed on a registered filter.
                out.push(entry(Action::Delete, DELETE));
                out.push(entry(Action::Add { clear: w }, token.0));
            }
            (_, Some(w)) => out.push(entry(Action::Add { clear: w }, token.0)),
        }
    }
    want
}

/// A returned kevent, as plain data.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Returned {
    ident: usize,
    filter: Filter,
    /// `EV_EOF`.
    eof: bool,
    /// `EV_ERROR`: a changelist entry failed (or, with `EV_RECEIPT`, was applied); `data` is the
    /// error number, 0 for success.
    error: bool,
    fflags: u32,
    data: i64,
    udata: u64,
}

/// What a returned kevent means for the engine.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Seen {
    /// Readiness of a source.
    Io(Token, Ready),
    /// Signal `signo` arrived `count` times.
    Signal(i32, u32),
    /// The notifier woke the host.
    Wake,
    /// A signal or wake-up registration failed with this error number.
    Failed(i32),
    /// Nothing to report: a successful receipt, or a delete of what was already gone.
    Nothing,
}

/// Translate one returned kevent.
fn seen(ev: &Returned) -> Seen {
    if ev.error {
        if ev.data == 0 || ev.udata == DELETE {
            return Seen::Nothing;
        }
        return match ev.filter {
            Filter::Read | Filter::Write => Seen::Io(Token(ev.udata), Ready::READ | Ready::WRITE),
            Filter::Signal | Filter::User => {
                Seen::Failed(i32::try_from(ev.data).unwrap_or(i32::MAX))
            }
        };
    }
    let failed = ev.eof && ev.fflags != 0;
    match ev.filter {
        Filter::Read => {
            let mut r = Ready::READ;
            if ev.eof {
                r |= Ready::CLOSED;
            }
            if failed {
                r |= Ready::WRITE;
            }
            Seen::Io(Token(ev.udata), r)
        }
        Filter::Write => {
            let mut r = Ready::WRITE;
            if failed {
                r |= Ready::READ;
            }
            Seen::Io(Token(ev.udata), r)
        }
        Filter::Signal => Seen::Signal(
            i32::try_from(ev.ident).unwrap_or(0),
            u32::try_from(ev.data.max(1)).unwrap_or(u32::MAX),
        ),
        Filter::User => Seen::Wake,
    }
}

#[cfg(any(
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly"
))]
pub use os::{Kqueue, catching};

#[cfg(any(
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly"
))]
// The field types of `struct kevent` differ between the BSDs (`i16`/`u16` flags here, `u32` on
// NetBSD, `isize` or `i64` data): the casts are needed on some targets and no-ops on others.
#[allow(clippy::unnecessary_cast)]
mod os {
    use super::{Action, DELETE, Filter, Filters, KChange, Returned, Seen, plan, seen};
    use crate::unix;
    use levent_core::{
        Attached, Change, Clock, Dispatcher, Feed, Host, HostError, NotifierSlot, Ready, Tick,
        Token, Turn, Wait, Waker,
    };
    use std::collections::HashMap;
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
    use std::sync::{Mutex, PoisonError};

    /// The `EVFILT_USER` ident of the wake-up.
    const WAKE_IDENT: usize = 0;

    /// A host on kqueue. See the [module documentation](super).
    pub struct Kqueue {
        /// First, so it is dropped first: the waker is cleared before the descriptors it writes to
        /// close.
        notifier: NotifierSlot,
        kq: OwnedFd,
        /// The changelist: applied by the next `kevent` call.
        changes: Vec<KChange>,
        /// What is registered per descriptor, and the token of that registration: a
        /// deregistration applies only to the registration with its token (the number may have
        /// been registered again since).
        registered: HashMap<usize, (Filters, Token)>,
        changelist: Vec<libc::kevent>,
        events: Vec<libc::kevent>,
        batch: Vec<(Token, Ready)>,
        /// Readiness found while applying changes outside a turn ([`Backend::sync`]).
        pending: Vec<(Token, Ready)>,
        signals: Vec<i32>,
    }

    fn filter_of(f: Filter) -> i16 {
        (match f {
            Filter::Read => libc::EVFILT_READ,
            Filter::Write => libc::EVFILT_WRITE,
            Filter::Signal => libc::EVFILT_SIGNAL,
            Filter::User => libc::EVFILT_USER,
        }) as i16
    }

    fn kevent_of(c: &KChange, extra: u16) -> libc::kevent {
        let flags = match c.action {
            Action::Add { clear: false } => libc::EV_ADD,
            Action::Add { clear: true } => libc::EV_ADD | libc::EV_CLEAR,
            Action::Delete => libc::EV_DELETE,
        } as u16
            | extra;
        // SAFETY: `struct kevent` is plain data; all-zero is a valid value (FreeBSD's extension
        // words included), and the fields that matter are set below.
        let mut ev: libc::kevent = unsafe { std::mem::zeroed() };
        ev.ident = c.ident as _;
        ev.filter = filter_of(c.filter) as _;
        ev.flags = flags as _;
        ev.udata = c.udata as usize as _;
        ev
    }

    fn returned(ev: &libc::kevent) -> Option<Returned> {
        let filter = ev.filter as i16;
        let filter = if filter == libc::EVFILT_READ as i16 {
            Filter::Read
        } else if filter == libc::EVFILT_WRITE as i16 {
            Filter::Write
        } else if filter == libc::EVFILT_SIGNAL as i16 {
            Filter::Signal
        } else if filter == libc::EVFILT_USER as i16 {
            Filter::User
        } else {
            return None;
        };
        let flags = ev.flags as u32;
        Some(Returned {
            ident: ev.ident as usize,
            filter,
            eof: flags & libc::EV_EOF as u32 != 0,
            error: flags & libc::EV_ERROR as u32 != 0,
            fflags: ev.fflags as u32,
            data: ev.data as i64,
            udata: ev.udata as usize as u64,
        })
    }

    /// One `kevent` call. Returns how many events were stored, 0 when interrupted.
    fn kevent(
        kq: RawFd,
        changes: &[libc::kevent],
        events: &mut Vec<libc::kevent>,
        timeout: Option<&libc::timespec>,
    ) -> io::Result<usize> {
        events.clear();
        let cap = events.capacity().min(i32::MAX as usize);
        let ts = timeout.map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: `changes` holds `changes.len()` initialised kevents; `events` has room for
        // `cap` of them; `ts` is null or points to a timespec that outlives the call.
        let n = unsafe {
            libc::kevent(
                kq,
                changes.as_ptr(),
                changes.len() as _,
                events.as_mut_ptr(),
                cap as _,
                ts,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(0)
            } else {
                Err(e)
            };
        }
        let n = n as usize;
        // SAFETY: the kernel initialised the first `n` entries, and `n <= cap`.
        unsafe { events.set_len(n) };
        Ok(n)
    }

    fn wake_user(kq: usize) {
        // SAFETY: all-zero is a valid kevent; the fields that matter are set below.
        let mut ev: libc::kevent = unsafe { std::mem::zeroed() };
        ev.ident = WAKE_IDENT as _;
        ev.filter = libc::EVFILT_USER as _;
        ev.fflags = libc::NOTE_TRIGGER as _;
        // SAFETY: one initialised change, no event list; the host clears the waker before it
        // closes the kqueue, so `kq` is open.
        unsafe {
            libc::kevent(
                kq as RawFd,
                &ev,
                1,
                std::ptr::null_mut(),
                0,
                std::ptr::null(),
            )
        };
    }

    /// Per signal: how many kqueue hosts watch it, and the disposition to restore after the last.
    static IGNORED: Mutex<Vec<(i32, usize, libc::sigaction)>> = Mutex::new(Vec::new());

    /// The disposition of a watched signal: its default action must not run, and the filter must
    /// still see it (see the module documentation).
    fn watched_disposition(signo: i32) -> libc::sighandler_t {
        if signo == libc::SIGCHLD {
            libc::SIG_DFL
        } else {
            libc::SIG_IGN
        }
    }

    fn ignore(signo: i32) -> io::Result<()> {
        let mut ignored = IGNORED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = ignored.iter_mut().find(|e| e.0 == signo) {
            entry.1 += 1;
            return Ok(());
        }
        // SAFETY: an all-zero sigaction is valid (SIG_DFL, empty mask, no flags).
        let mut new: libc::sigaction = unsafe { std::mem::zeroed() };
        new.sa_sigaction = watched_disposition(signo);
        // SAFETY: as above; filled in by sigaction.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: both point to valid sigaction structures for the duration of the call.
        if unsafe { libc::sigaction(signo, &new, &mut old) } < 0 {
            return Err(io::Error::last_os_error());
        }
        ignored.push((signo, 1, old));
        Ok(())
    }

    fn restore(signo: i32) {
        let mut ignored = IGNORED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(i) = ignored.iter().position(|e| e.0 == signo) {
            ignored[i].1 -= 1;
            if ignored[i].1 == 0 {
                let (_, _, old) = ignored.swap_remove(i);
                // SAFETY: `old` is the sigaction the kernel gave us for this signal.
                unsafe { libc::sigaction(signo, &old, std::ptr::null_mut()) };
            }
        }
    }

    /// Whether a kqueue host in this process watches `signo` (its disposition is then `SIG_IGN`,
    /// `SIG_DFL` for `SIGCHLD`, and deliveries are counted by `EVFILT_SIGNAL`).
    pub fn catching(signo: i32) -> io::Result<bool> {
        let watched = IGNORED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .any(|e| e.0 == signo);
        // SAFETY: an all-zero sigaction is valid; sigaction with a null new action only reads.
        let mut cur: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: `cur` is a valid sigaction to write into.
        if unsafe { libc::sigaction(signo, std::ptr::null(), &mut cur) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(watched && cur.sa_sigaction == watched_disposition(signo))
    }

    fn timespec(d: std::time::Duration) -> libc::timespec {
        libc::timespec {
            tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_nsec: d.subsec_nanos() as _,
        }
    }

    impl Kqueue {
        /// A new kqueue, with its `EVFILT_USER` wake-up registered.
        pub fn new() -> io::Result<Self> {
            // SAFETY: plain system call; the result is checked.
            let fd = unsafe { libc::kqueue() };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: kqueue() returned a new descriptor that nothing else owns.
            let kq = unsafe { OwnedFd::from_raw_fd(fd) };
            // SAFETY: sets the close-on-exec flag of a descriptor we own.
            if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
                return Err(io::Error::last_os_error());
            }
            let mut host = Kqueue {
                kq,
                changes: Vec::new(),
                registered: HashMap::new(),
                changelist: Vec::new(),
                events: Vec::with_capacity(256),
                batch: Vec::with_capacity(256),
                pending: Vec::new(),
                signals: Vec::new(),
                notifier: NotifierSlot::default(),
            };
            host.apply_now(&[KChange {
                ident: WAKE_IDENT,
                filter: Filter::User,
                action: Action::Add { clear: true },
                udata: 0,
            }])?;
            Ok(host)
        }

        /// Apply `changes` at once, with `EV_RECEIPT` so that no pending event is taken. Failed
        /// IO registrations are kept in `pending` for the next turn; a failed signal or wake-up
        /// registration is an error.
        fn apply_now(&mut self, changes: &[KChange]) -> io::Result<()> {
            if changes.is_empty() {
                return Ok(());
            }
            self.changelist.clear();
            self.changelist.extend(
                changes
                    .iter()
                    .map(|c| kevent_of(c, libc::EV_RECEIPT as u16)),
            );
            let mut receipts = Vec::with_capacity(changes.len());
            let zero = timespec(std::time::Duration::ZERO);
            kevent(
                self.kq.as_raw_fd(),
                &self.changelist,
                &mut receipts,
                Some(&zero),
            )?;
            for r in receipts.iter().filter_map(returned) {
                match seen(&r) {
                    Seen::Io(token, ready) => self.pending.push((token, ready)),
                    Seen::Failed(errno) => return Err(io::Error::from_raw_os_error(errno)),
                    Seen::Signal(..) | Seen::Wake | Seen::Nothing => {}
                }
            }
            Ok(())
        }
    }

    impl Host for Kqueue {
        fn clock(&self) -> Option<Clock> {
            Some(crate::clock::CLOCK)
        }

        fn now(&mut self) -> Tick {
            crate::clock::now()
        }

        fn wait(&mut self, wait: Wait, d: &mut dyn Feed) -> Result<Turn, HostError> {
            let wait = if self.notifier.due() && self.notifier.drain(d) > 0 {
                Wait::No
            } else {
                wait
            };
            if wait == Wait::Forever
                && self.registered.is_empty()
                && self.signals.is_empty()
                && self.notifier.get().is_none()
                && self.pending.is_empty()
            {
                return Ok(Turn::Never);
            }
            let wait = if self.pending.is_empty() {
                wait
            } else {
                Wait::No
            };
            let timeout = unix::remaining(wait).map(timespec);
            self.changelist.clear();
            self.changelist
                .extend(self.changes.iter().map(|c| kevent_of(c, 0)));
            // Room for an error entry per change, so that a failed change never fails the call.
            self.events.clear();
            self.events.reserve(self.changes.len());
            let n = kevent(
                self.kq.as_raw_fd(),
                &self.changelist,
                &mut self.events,
                timeout.as_ref(),
            );
            // Applied, or (on an interrupted wait) applied before the wait began.
            self.changes.clear();
            let n = n.map_err(|e| unix::host_error(&e))?;
            self.batch.clear();
            self.batch.append(&mut self.pending);
            let mut woken = false;
            for ev in &self.events[..n] {
                let Some(r) = returned(ev) else { continue };
                match seen(&r) {
                    Seen::Io(token, ready) => self.batch.push((token, ready)),
                    Seen::Signal(signo, count) => d.feed_signal(signo, count),
                    Seen::Failed(errno) => return Err(HostError::Os(errno)),
                    // An `EV_CLEAR` user event: seeing it resets it.
                    Seen::Wake => woken = true,
                    Seen::Nothing => {}
                }
            }
            d.feed_io(&self.batch);
            if woken {
                self.notifier.drain(d);
            }
            if n == self.events.capacity() && n < 65536 {
                self.events.reserve(n);
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
                    let current = self.registered.get(&key.0).copied();
                    if new.is_empty() && current.is_none_or(|(_, t)| t != token) {
                        // A deregistration for a registration that is already gone or replaced.
                        return Ok(());
                    }
                    let had = current.map(|(f, _)| f).unwrap_or_default();
                    let now = plan(
                        had,
                        old.is_empty(),
                        key,
                        token,
                        new,
                        edge,
                        &mut self.changes,
                    );
                    if now == Filters::default() {
                        self.registered.remove(&key.0);
                    } else {
                        self.registered.insert(key.0, (now, token));
                    }
                }
                Change::Signal { signo, watch } => {
                    let ident = usize::try_from(signo).map_err(|_| HostError::Os(libc::EINVAL))?;
                    if watch {
                        if self.signals.contains(&signo) {
                            return Ok(());
                        }
                        // The filter first, then the disposition: a signal that arrives in
                        // between is counted, not lost.
                        self.apply_now(&[KChange {
                            ident,
                            filter: Filter::Signal,
                            action: Action::Add { clear: false },
                            udata: 0,
                        }])
                        .map_err(|e| unix::host_error(&e))?;
                        ignore(signo).map_err(|e| unix::host_error(&e))?;
                        self.signals.push(signo);
                    } else if let Some(i) = self.signals.iter().position(|&s| s == signo) {
                        self.signals.swap_remove(i);
                        restore(signo);
                        let _ = self.apply_now(&[KChange {
                            ident,
                            filter: Filter::Signal,
                            action: Action::Delete,
                            udata: DELETE,
                        }]);
                    }
                }
            }
            Ok(())
        }

        fn sync(&mut self, d: &mut dyn Dispatcher) -> Result<(), HostError> {
            while let Some(change) = d.next_change() {
                self.apply(change)?;
            }
            let changes = std::mem::take(&mut self.changes);
            self.apply_now(&changes).map_err(|e| unix::host_error(&e))
        }

        fn attach(&mut self, notifier: Attached) -> Result<(), HostError> {
            let waker = Waker {
                wake: wake_user,
                context: self.kq.as_raw_fd() as usize,
            };
            self.notifier.install(notifier, Some(waker));
            Ok(())
        }
    }

    impl Drop for Kqueue {
        fn drop(&mut self) {
            // Before the kqueue descriptor goes.
            self.notifier = NotifierSlot::default();
            for signo in std::mem::take(&mut self.signals) {
                restore(signo);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: Interest = Interest::READ;
    const W: Interest = Interest::WRITE;
    const C: Interest = Interest::CLOSED;
    const NONE: Interest = Interest::NONE;
    const T: Token = Token(7);
    const K: SourceKey = SourceKey(5);

    fn add(filter: Filter, clear: bool) -> KChange {
        KChange {
            ident: 5,
            filter,
            action: Action::Add { clear },
            udata: 7,
        }
    }

    fn del(filter: Filter) -> KChange {
        KChange {
            ident: 5,
            filter,
            action: Action::Delete,
            udata: DELETE,
        }
    }

    /// Apply `steps` of `(old, new, edge)` in turn, starting from nothing registered; the
    /// changelist entries of each step.
    fn run(steps: &[(Interest, Interest, bool)]) -> Vec<Vec<KChange>> {
        let mut had = Filters::default();
        steps
            .iter()
            .map(|&(old, new, edge)| {
                let mut out = vec![];
                had = plan(had, old.is_empty(), K, T, new, edge, &mut out);
                out
            })
            .collect()
    }

    #[test]
    fn read_and_write_are_separate_filters() {
        assert_eq!(
            run(&[(NONE, R | W, false)]),
            vec![vec![add(Filter::Read, false), add(Filter::Write, false)]]
        );
    }

    #[test]
    fn a_modify_touches_only_the_filter_that_changed() {
        assert_eq!(
            run(&[(NONE, R, false), (R, R | W, false), (R | W, R, false)]),
            vec![
                vec![add(Filter::Read, false)],
                vec![add(Filter::Write, false)],
                vec![del(Filter::Write)],
            ]
        );
    }

    #[test]
    fn deregistering_deletes_every_registered_filter() {
        assert_eq!(
            run(&[(NONE, R | W, true), (R | W, NONE, true)]),
            vec![
                vec![add(Filter::Read, true), add(Filter::Write, true)],
                vec![del(Filter::Read), del(Filter::Write)],
            ]
        );
    }

    #[test]
    fn edge_triggered_is_ev_clear() {
        assert_eq!(
            run(&[(NONE, W, true)]),
            vec![vec![add(Filter::Write, true)]]
        );
    }

    #[test]
    fn switching_edge_and_level_deletes_and_adds_again() {
        // The engine reports an edge switch as a change with the same interest.
        assert_eq!(
            run(&[(NONE, R, true), (R, R, false)]),
            vec![
                vec![add(Filter::Read, true)],
                vec![del(Filter::Read), add(Filter::Read, false)],
            ]
        );
        // Or coalesced with an interest change.
        assert_eq!(
            run(&[(NONE, R, false), (R, R | W, true)]),
            vec![
                vec![add(Filter::Read, false)],
                vec![
                    del(Filter::Read),
                    add(Filter::Read, true),
                    add(Filter::Write, true)
                ],
            ]
        );
    }

    #[test]
    fn closed_alone_is_the_read_filter_with_ev_clear() {
        assert_eq!(
            run(&[(NONE, C, false), (C, R | C, false), (R | C, C, false)]),
            vec![
                vec![add(Filter::Read, true)],
                vec![del(Filter::Read), add(Filter::Read, false)],
                vec![del(Filter::Read), add(Filter::Read, true)],
            ]
        );
    }

    #[test]
    fn a_fresh_registration_of_a_remembered_descriptor_adds_again() {
        // The descriptor was closed without a deregistration and its number reused: the kernel
        // dropped the old filters, so the wanted one is added although the host remembers it, and
        // the stale one is deleted (which the kernel answers with ENOENT, ignored).
        let had = Filters {
            read: Some(false),
            write: Some(false),
        };
        let mut out = vec![];
        let now = plan(had, true, K, T, R, false, &mut out);
        assert_eq!(out, vec![add(Filter::Read, false), del(Filter::Write)]);
        assert_eq!(
            now,
            Filters {
                read: Some(false),
                write: None
            }
        );
    }

    fn ev(filter: Filter) -> Returned {
        Returned {
            ident: 5,
            filter,
            eof: false,
            error: false,
            fflags: 0,
            data: 1,
            udata: 7,
        }
    }

    #[test]
    fn readiness_of_the_read_and_write_filters() {
        assert_eq!(seen(&ev(Filter::Read)), Seen::Io(T, Ready::READ));
        assert_eq!(seen(&ev(Filter::Write)), Seen::Io(T, Ready::WRITE));
    }

    #[test]
    fn end_of_file_is_readability_and_closed() {
        let eof = Returned {
            eof: true,
            ..ev(Filter::Read)
        };
        assert_eq!(seen(&eof), Seen::Io(T, Ready::READ | Ready::CLOSED));
        // With a socket error (ECONNRESET in fflags) the write side is ready too.
        let reset = Returned { fflags: 54, ..eof };
        assert_eq!(
            seen(&reset),
            Seen::Io(T, Ready::READ | Ready::WRITE | Ready::CLOSED)
        );
    }

    #[test]
    fn end_of_file_on_the_write_filter_is_not_closed() {
        let shut = Returned {
            eof: true,
            ..ev(Filter::Write)
        };
        assert_eq!(seen(&shut), Seen::Io(T, Ready::WRITE));
        let broken = Returned { fflags: 32, ..shut };
        assert_eq!(seen(&broken), Seen::Io(T, Ready::READ | Ready::WRITE));
    }

    #[test]
    fn failed_deletes_are_success_and_failed_adds_are_readiness() {
        for errno in [2, 9] {
            // ENOENT, EBADF
            let failed_delete = Returned {
                error: true,
                data: errno,
                udata: DELETE,
                ..ev(Filter::Read)
            };
            assert_eq!(seen(&failed_delete), Seen::Nothing);
        }
        let failed_add = Returned {
            error: true,
            data: 9,
            ..ev(Filter::Write)
        };
        assert_eq!(seen(&failed_add), Seen::Io(T, Ready::READ | Ready::WRITE));
        let receipt = Returned {
            error: true,
            data: 0,
            ..ev(Filter::Read)
        };
        assert_eq!(seen(&receipt), Seen::Nothing);
        let failed_signal = Returned {
            error: true,
            data: 22,
            ..ev(Filter::Signal)
        };
        assert_eq!(seen(&failed_signal), Seen::Failed(22));
    }

    #[test]
    fn signals_report_their_count_and_the_user_filter_wakes() {
        let sig = Returned {
            ident: 30,
            data: 3,
            udata: 0,
            ..ev(Filter::Signal)
        };
        assert_eq!(seen(&sig), Seen::Signal(30, 3));
        assert_eq!(seen(&ev(Filter::User)), Seen::Wake);
    }
}
