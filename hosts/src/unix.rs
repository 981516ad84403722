//! What the Unix backends share: pipes, signals through a self-pipe, FIFOs, and the translation of
//! a [`Wait`](levent_core::Wait) into a timeout.
//!
//! # Signals: a self-pipe, not signalfd
//!
//! A caught signal runs `on_signal`, which counts it and writes one byte into a process-wide
//! pipe; the host watching signals has the pipe's read end in its wait set, wakes up, and feeds the
//! counts to the engine. This is libevent's default. `signalfd` would avoid the handler, but it
//! only sees a signal that is blocked in *every* thread of the process: a thread started by another
//! library (or by the user before creating the host) that does not block it gets the signal's
//! default action instead, which for `SIGINT` kills the process. A library cannot guarantee that,
//! so levent uses the mechanism that works whatever the threads do.

use levent_core::Feed;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use std::time::Duration;

/// The last OS error as a [`levent_core::HostError`].
pub(crate) fn host_error(e: &io::Error) -> levent_core::HostError {
    levent_core::HostError::Os(e.raw_os_error().unwrap_or(0))
}

/// Put `fd` in non-blocking mode.
pub fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl with F_GETFL/F_SETFL reads and writes the descriptor's flags; an invalid
    // descriptor is reported as EBADF.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// A non-blocking, close-on-exec pipe: `(read end, write end)`.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1; 2];
    // SAFETY: `fds` has room for the two descriptors pipe() writes.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe() succeeded, so both descriptors are open and owned by nobody else.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    for fd in [&r, &w] {
        set_nonblocking(fd.as_raw_fd())?;
        // SAFETY: sets the close-on-exec flag of a descriptor we own.
        if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok((r, w))
}

/// Create a FIFO (named pipe) at `path` with permissions `mode` (`mkfifo(3)`).
pub fn mkfifo(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    if unsafe { libc::mkfifo(c.as_ptr(), mode as libc::mode_t) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// One `read(2)` on `fd` into `buf`, straight through libc (no buffering, no retry): what a
/// program that counts its system calls (the pipe-chain benchmark) reads with.
///
/// ```
/// use std::io::Write;
/// use std::os::fd::AsFd;
/// let (mut a, b) = std::os::unix::net::UnixStream::pair()?;
/// a.write_all(b"hi")?;
/// let mut buf = [0u8; 16];
/// assert_eq!(levent_hosts::unix::read(b.as_fd(), &mut buf)?, 2);
/// # Ok::<(), std::io::Error>(())
/// ```
#[inline]
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the duration of the call, and
    // `fd` is a descriptor borrowed open for it.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// One `write(2)` of `buf` on `fd`, straight through libc; how many bytes it took.
///
/// ```
/// use std::os::fd::AsFd;
/// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
/// assert_eq!(levent_hosts::unix::write(a.as_fd(), b"e")?, 1);
/// # Ok::<(), std::io::Error>(())
/// ```
#[inline]
pub fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes for the duration of the call, and
    // `fd` is a descriptor borrowed open for it.
    let n = unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Raise this process's limit on open descriptors (`RLIMIT_NOFILE`) as far as it may go: the soft
/// limit to the hard limit, and both to `wanted` if the process is allowed to (root). Servers with
/// many connections need this. Returns the new soft limit.
pub fn raise_fd_limit(wanted: u64) -> io::Result<u64> {
    // SAFETY: an all-zero rlimit is valid; getrlimit fills it in.
    let mut lim: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: `lim` is a valid rlimit to read into and then pass back.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) < 0 {
            return Err(io::Error::last_os_error());
        }
        let want = wanted as libc::rlim_t;
        if lim.rlim_max < want {
            let raised = libc::rlimit {
                rlim_cur: want,
                rlim_max: want,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return Ok(wanted);
            }
        }
        if lim.rlim_cur < lim.rlim_max.min(want.max(lim.rlim_cur)) {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max.min(want),
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
    }
    Ok(lim.rlim_cur as u64)
}

/// Lower (or raise, up to the hard limit) this process's soft limit on open descriptors.
pub fn set_fd_limit(soft: u64) -> io::Result<()> {
    // SAFETY: an all-zero rlimit is valid; getrlimit fills it in.
    let mut lim: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: `lim` is a valid rlimit to read into and then pass back.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) < 0 {
            return Err(io::Error::last_os_error());
        }
        lim.rlim_cur = (soft as libc::rlim_t).min(lim.rlim_max);
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Read and discard everything readable from a non-blocking descriptor.
pub(crate) fn drain(fd: RawFd) {
    let mut buf = [0u8; 256];
    loop {
        // SAFETY: reads at most `buf.len()` bytes into `buf`.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
    }
}

/// Reset a non-blocking eventfd: one read takes its whole counter.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn drain_eventfd(fd: RawFd) {
    let mut count = 0u64;
    // SAFETY: reads the 8-byte counter into a local.
    unsafe { libc::read(fd, (&raw mut count).cast(), 8) };
}

/// Write one byte to a non-blocking descriptor, ignoring a full pipe (the reader is awake then).
pub(crate) fn poke(fd: RawFd) {
    let byte = 1u8;
    // SAFETY: writes one byte from a local; async-signal-safe.
    unsafe { libc::write(fd, (&raw const byte).cast(), 1) };
}

pub(crate) use crate::clock::remaining;

/// Milliseconds for `poll`/`epoll_wait`, rounded up so that a sub-millisecond remainder never
/// becomes a busy loop of zero timeouts; -1 blocks.
pub(crate) fn millis(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(d) if d.is_zero() => 0,
        Some(d) => {
            let ms =
                d.as_secs().saturating_mul(1000) + u64::from(d.subsec_nanos().div_ceil(1_000_000));
            libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
        }
    }
}

// ----- signals ------------------------------------------------------------------------------

const NSIG: usize = 65;
/// How many hosts can catch signals at the same time.
const SIGNAL_HOSTS: usize = 16;

static SIGNAL_COUNTS: [AtomicU32; NSIG] = [const { AtomicU32::new(0) }; NSIG];

/// One self-pipe per host that catches signals. Pipes are created once and never closed, so the
/// handler can never write into a descriptor whose number was reused; a host that stops catching
/// signals gives its slot back for the next one.
struct PipeSlot {
    in_use: AtomicBool,
    read: AtomicI32,
    write: AtomicI32,
}

static SIGNAL_PIPES: [PipeSlot; SIGNAL_HOSTS] = [const {
    PipeSlot {
        in_use: AtomicBool::new(false),
        read: AtomicI32::new(-1),
        write: AtomicI32::new(-1),
    }
}; SIGNAL_HOSTS];

/// The signal handler: count, and wake every host catching signals through its self-pipe.
/// Async-signal-safe: atomics and `write(2)` only, with `errno` preserved.
extern "C" fn on_signal(signo: libc::c_int) {
    let saved = io::Error::last_os_error().raw_os_error();
    if let Some(c) = usize::try_from(signo)
        .ok()
        .and_then(|i| SIGNAL_COUNTS.get(i))
    {
        c.fetch_add(1, Ordering::Relaxed);
    }
    for slot in &SIGNAL_PIPES {
        if slot.in_use.load(Ordering::Acquire) {
            let fd = slot.write.load(Ordering::Acquire);
            if fd >= 0 {
                poke(fd);
            }
        }
    }
    if let Some(e) = saved {
        set_errno(e);
    }
}

fn set_errno(e: libc::c_int) {
    // SAFETY: each function returns the calling thread's errno location, valid for the thread's
    // lifetime.
    unsafe {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let p = libc::__errno_location();
        #[cfg(any(
            target_vendor = "apple",
            target_os = "freebsd",
            target_os = "dragonfly"
        ))]
        let p = libc::__error();
        #[cfg(any(target_os = "netbsd", target_os = "openbsd"))]
        let p = libc::__errno();
        *p = e;
    }
}

/// Send signal `signo` to this process (`raise(3)`).
pub fn raise(signo: i32) -> io::Result<()> {
    // SAFETY: raise() only delivers a signal; an invalid number is reported as EINVAL.
    if unsafe { libc::raise(signo) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether `signo` is currently caught by levent's handler (some host watches it).
pub fn catching(signo: i32) -> io::Result<bool> {
    // SAFETY: an all-zero sigaction is valid; sigaction with a null new action only reads.
    let mut cur: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: `cur` is a valid sigaction to write into.
    if unsafe { libc::sigaction(signo, std::ptr::null(), &mut cur) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(cur.sa_sigaction == on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t)
}

/// The signals one host catches, its self-pipe, and the dispositions to restore.
pub(crate) struct SignalSet {
    saved: Vec<(libc::c_int, libc::sigaction)>,
    slot: Option<usize>,
}

impl SignalSet {
    pub(crate) fn new() -> Self {
        SignalSet {
            saved: Vec::new(),
            slot: None,
        }
    }

    pub(crate) fn any(&self) -> bool {
        !self.saved.is_empty()
    }

    /// The read end of this host's self-pipe, once it catches a signal.
    pub(crate) fn pipe(&self) -> Option<RawFd> {
        self.slot
            .map(|i| SIGNAL_PIPES[i].read.load(Ordering::Acquire))
    }

    fn acquire(&mut self) -> io::Result<RawFd> {
        if let Some(fd) = self.pipe() {
            return Ok(fd);
        }
        for (i, slot) in SIGNAL_PIPES.iter().enumerate() {
            if slot
                .in_use
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                let mut r = slot.read.load(Ordering::Acquire);
                if r < 0 {
                    match pipe() {
                        Ok((read, write)) => {
                            use std::os::fd::IntoRawFd;
                            r = read.into_raw_fd();
                            slot.read.store(r, Ordering::Release);
                            slot.write.store(write.into_raw_fd(), Ordering::Release);
                        }
                        Err(e) => {
                            slot.in_use.store(false, Ordering::Release);
                            return Err(e);
                        }
                    }
                }
                drain(r);
                self.slot = Some(i);
                return Ok(r);
            }
        }
        Err(io::Error::other("too many hosts catch signals at once"))
    }

    /// Catch `signo`, remembering its current disposition.
    pub(crate) fn watch(&mut self, signo: i32) -> io::Result<()> {
        if self.saved.iter().any(|(s, _)| *s == signo) {
            return Ok(());
        }
        self.acquire()?;
        // SAFETY: an all-zero sigaction is a valid value (empty mask, no flags, SIG_DFL).
        let mut new: libc::sigaction = unsafe { std::mem::zeroed() };
        new.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        new.sa_flags = libc::SA_RESTART;
        // SAFETY: as above; filled in by sigaction below.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: `new` and `old` are valid sigaction structures; sigemptyset initialises the
        // mask it is given.
        let rc = unsafe {
            libc::sigemptyset(&mut new.sa_mask);
            libc::sigaction(signo, &new, &mut old)
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        self.saved.push((signo, old));
        Ok(())
    }

    /// Stop catching `signo`: restore what it was before [`watch`](Self::watch).
    pub(crate) fn unwatch(&mut self, signo: i32) {
        if let Some(i) = self.saved.iter().position(|(s, _)| *s == signo) {
            let (_, old) = self.saved.swap_remove(i);
            // SAFETY: `old` is the sigaction the kernel gave us for this signal.
            unsafe { libc::sigaction(signo, &old, std::ptr::null_mut()) };
        }
    }

    /// Empty the pipe and feed the counts of the signals this host catches.
    pub(crate) fn feed(&self, d: &mut dyn Feed) {
        if let Some(fd) = self.pipe() {
            drain(fd);
        }
        for &(signo, _) in &self.saved {
            if let Some(c) = usize::try_from(signo)
                .ok()
                .and_then(|i| SIGNAL_COUNTS.get(i))
            {
                let n = c.swap(0, Ordering::Relaxed);
                if n > 0 {
                    d.feed_signal(signo, n);
                }
            }
        }
    }
}

impl Drop for SignalSet {
    fn drop(&mut self) {
        while let Some(&(signo, _)) = self.saved.last() {
            self.unwatch(signo);
        }
        if let Some(i) = self.slot.take() {
            SIGNAL_PIPES[i].in_use.store(false, Ordering::Release);
        }
    }
}
