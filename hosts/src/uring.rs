//! The io_uring host (Linux): readiness through poll requests on a submission ring.
//!
//! - Each source is one poll request on the ring (`IORING_OP_POLL_ADD`); the request's
//!   `user_data` carries the source's slot and a generation, so completions of a request that was
//!   replaced or removed are recognised and dropped. `READ` is `POLLIN`, `WRITE` `POLLOUT`,
//!   `CLOSED` `POLLRDHUP`; hang-ups and errors arrive as readiness as on the epoll host.
//! - Level-triggered sources use one-shot requests, submitted again after each completion (so a
//!   source still ready fires again at the next turn); edge-triggered sources use multishot
//!   requests (`IORING_POLL_ADD_MULTI`), which post a completion at each wake-up of the socket
//!   and are submitted again only when the kernel ends them.
//! - Changes are not system calls: a change of interest queues a removal and a new request, and
//!   every request queued since the last turn goes to the kernel with the next wait, in the one
//!   `io_uring_enter` that also waits. A turn that must not wait and has nothing to submit reads
//!   the completion ring without entering the kernel at all.
//! - The wait has a nanosecond timeout (`IORING_ENTER_EXT_ARG`, Linux 5.11). Wake-ups from a
//!   [`Notifier`](levent_core::Notifier) come through an eventfd, signals through the self-pipe
//!   described in the `unix` module, each watched by a multishot poll request.
//! - A descriptor the kernel will not poll (`EBADF`, `EPERM`) is reported ready for its whole
//!   interest at every turn, as on the epoll host.
//!
//! [`Uring::new`] fails on kernels without io_uring (before 5.11) or where a seccomp filter
//! forbids it; [`crate::default_host`] then falls back to epoll.
//!
//! # Stream IO on the ring
//!
//! A plain [`Sockets`] table reads and writes with `read(2)` and `write(2)` on this host as on
//! every other: what the host saves then are the registrations and the empty waits. The table
//! [`Uring::sockets`] (or [`crate::sockets`]) makes goes further for the streams it accepts and
//! the socket pairs it makes:
//!
//! - **Reads complete into buffers the host provides.** A stream with read interest has one
//!   multishot receive in the kernel drawing on a ring of provided buffers (1024 of 4 KiB,
//!   shared by all streams). The host reports the stream readable while it holds received
//!   bytes (or has seen the end or an error); a read copies them out and gives the buffers back,
//!   with no system call. A stream holding 8 chunks, or without read interest, has its receive
//!   cancelled until it reads again, so a connection that stops reading leaves the kernel's
//!   window to fill as on the other hosts; a stream without read interest also copies what it
//!   holds out of the shared buffers, so streams that stop reading never starve the others. Without a receive in the kernel (before the interest
//!   is added, or while the buffers have run out) a read is a plain `read(2)`.
//! - **Writes are queued.** A write copies the bytes into the stream's queue and returns how
//!   many it **accepted for sending** (at most 64 KiB are queued per stream; beyond that a write
//!   says `WouldBlock` and write readiness waits for the kernel to take some). The queue goes to
//!   the kernel one send at a time, with the host's next `io_uring_enter`, so bytes leave in
//!   order. An error of a queued send (the peer reset the connection) is kept and returned by
//!   the stream's next write, and write readiness is reported at once so a connection waiting
//!   to write learns it; the read side sees the reset in its own receive. `shutdown_write`
//!   takes effect once the queue is sent.
//! - **Closing** a stream with sends queued or a receive in the kernel keeps its descriptor open
//!   until the kernel is done: what was accepted is still sent, as `close(2)` sends what the
//!   kernel holds. A reset ([`Sockets::reset`]) drops what was not handed to the kernel yet.

mod streams;

pub(crate) use streams::RingIo;

use crate::net::Sockets;
use crate::unix::{self, SignalSet};
use io_uring::{IoUring, cqueue, opcode, squeue, types};
use levent_core::{
    Attached, Change, Clock, Feed, Host, HostError, Interest, NotifierSlot, Ready, Tick, Token,
    Turn, Wait, Waker,
};
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const WAKE: u64 = u64::MAX;
const SIGNAL: u64 = u64::MAX - 1;
/// The completion of a removal request: nothing to do.
const REMOVED: u64 = u64::MAX - 2;
/// Submission ring entries; the completion ring has [`CQ_ENTRIES`].
const SQ_ENTRIES: u32 = 1024;
const CQ_ENTRIES: u32 = 16384;
/// `IORING_ENTER_GETEVENTS` (the crate keeps its flags private).
const ENTER_GETEVENTS: u32 = 1;
/// The generation bits of a poll request's `user_data` (bit 62 and up are the stream IO's, see
/// `streams`).
const GENERATION: u32 = (1 << 30) - 1;

/// One source's poll request.
struct Source {
    fd: RawFd,
    token: Token,
    interest: Interest,
    edge: bool,
    /// Bumped when the request is replaced, so that the old one's completions are dropped.
    generation: u32,
    /// A request is in the kernel (or queued for it).
    armed: bool,
}

impl Source {
    fn user_data(&self, slot: u32) -> u64 {
        (u64::from(self.generation & GENERATION) << 32) | u64::from(slot)
    }
}

/// A host on Linux's io_uring. See the [module documentation](self).
pub struct Uring {
    /// First, so it is dropped first: the waker is cleared before the descriptors it writes to
    /// close.
    notifier: NotifierSlot,
    ring: IoUring,
    /// Stream IO on the ring, once [`Uring::sockets`] was called. After `ring`, so that it is
    /// dropped after it: the kernel may use its buffers until the ring is gone.
    io: Option<RingIo>,
    wake: OwnedFd,
    /// Sources by slot; `None` is a free slot.
    sources: Vec<Option<Source>>,
    free: Vec<u32>,
    /// The slot of each registered descriptor.
    by_fd: HashMap<RawFd, u32>,
    /// Slots whose one-shot request completed: submitted again at the next wait.
    rearm: Vec<u32>,
    /// The readiness of one wait, fed to the engine in one call.
    batch: Vec<(Token, Ready)>,
    /// The stream IO's completions of one wait, handed over in one call.
    ring_done: Vec<(u64, i32, u32)>,
    /// Sources the kernel would not poll, reported ready at every turn.
    refused: Vec<(RawFd, Token, Interest)>,
    signals: SignalSet,
    signal_armed: bool,
    wake_armed: bool,
}

fn mask(i: Interest) -> u32 {
    let mut m = 0;
    if i.contains(Interest::READ) {
        m |= libc::POLLIN;
    }
    if i.contains(Interest::WRITE) {
        m |= libc::POLLOUT;
    }
    if i.contains(Interest::CLOSED) {
        m |= libc::POLLRDHUP;
    }
    m as u32
}

/// Poll's bits are epoll's on Linux.
fn readiness(events: u32) -> Ready {
    crate::epoll::readiness(events)
}

impl Uring {
    /// A new ring with its eventfd for wake-ups; fails where the kernel has no io_uring (or one
    /// without the extended wait arguments of Linux 5.11) or a seccomp filter refuses it.
    pub fn new() -> io::Result<Self> {
        let ring = IoUring::builder()
            .setup_cqsize(CQ_ENTRIES)
            .setup_coop_taskrun()
            .setup_taskrun_flag()
            .build(SQ_ENTRIES)?;
        if !ring.params().is_feature_ext_arg() || !ring.params().is_feature_nodrop() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "io_uring without IORING_FEAT_EXT_ARG and IORING_FEAT_NODROP (Linux 5.11)",
            ));
        }
        // SAFETY: a plain system call; the result is checked before use.
        let wake = unsafe {
            let fd = libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            OwnedFd::from_raw_fd(fd)
        };
        Ok(Uring {
            notifier: NotifierSlot::default(),
            ring,
            io: None,
            wake,
            sources: Vec::new(),
            free: Vec::new(),
            by_fd: HashMap::new(),
            rearm: Vec::new(),
            batch: Vec::new(),
            ring_done: Vec::new(),
            refused: Vec::new(),
            signals: SignalSet::new(),
            signal_armed: false,
            wake_armed: false,
        })
    }

    /// Queue `entry` for the next enter; with the submission ring full, submit what it holds
    /// first (the one case where a change costs a system call).
    fn push(&mut self, entry: &squeue::Entry) -> io::Result<()> {
        push_all(&mut self.ring, core::slice::from_ref(entry))
    }

    /// Queue the poll request of the source in `slot`.
    fn arm(&mut self, slot: u32) -> io::Result<()> {
        let Some(Some(s)) = self.sources.get_mut(slot as usize) else {
            return Ok(());
        };
        s.armed = true;
        let entry = opcode::PollAdd::new(types::Fd(s.fd), mask(s.interest))
            .multi(s.edge)
            .build()
            .user_data(s.user_data(slot));
        self.push(&entry)
    }

    /// Queue the removal of the request of the source in `slot`, if one is in the kernel.
    fn disarm(&mut self, slot: u32) -> io::Result<()> {
        let Some(Some(s)) = self.sources.get_mut(slot as usize) else {
            return Ok(());
        };
        if !s.armed {
            return Ok(());
        }
        s.armed = false;
        let old = s.user_data(slot);
        s.generation = s.generation.wrapping_add(1);
        let entry = opcode::PollRemove::new(old).build().user_data(REMOVED);
        self.push(&entry)
    }

    /// Watch `fd` for wake-ups or signals with a multishot request.
    fn watch(&mut self, fd: RawFd, user_data: u64) -> io::Result<()> {
        let entry = opcode::PollAdd::new(types::Fd(fd), libc::POLLIN as u32)
            .multi(true)
            .build()
            .user_data(user_data);
        self.push(&entry)
    }

    /// Submit what is queued without waiting, and have the kernel run the task work the
    /// submissions made (`IORING_ENTER_GETEVENTS` with no minimum): a send to a local peer then
    /// completes that peer's receive in the same system call, not at the next one.
    fn submit_now(&mut self) -> io::Result<usize> {
        let len = self.ring.submission().len() as u32;
        // SAFETY: the entries in the ring were checked when queued (see `push_all`); no argument
        // is passed.
        unsafe {
            self.ring
                .submitter()
                .enter::<libc::sigset_t>(len, 0, ENTER_GETEVENTS, None)
        }
    }

    /// Submit what is queued and wait for a completion as `wait` allows.
    fn enter(&mut self, wait: Wait) -> io::Result<()> {
        let queued = {
            let mut sq = self.ring.submission();
            sq.sync();
            !sq.is_empty() || sq.taskrun() || sq.cq_overflow()
        };
        let ready = !self.ring.completion().is_empty();
        let left = match wait {
            Wait::Until(_) => unix::remaining(wait).unwrap_or_default(),
            _ => std::time::Duration::ZERO,
        };
        let result = match wait {
            Wait::Forever if !ready => self.ring.submit_and_wait(1),
            Wait::Until(_) if !ready && !left.is_zero() => {
                let ts = types::Timespec::from(left);
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
            // Completions are waiting, or the turn must not block.
            _ if queued => self.submit_now(),
            _ => return Ok(()),
        };
        match result {
            Ok(_) => Ok(()),
            Err(e) => match e.raw_os_error() {
                // The wait timed out, a signal interrupted it, or the completion ring is full
                // (reaped now; the kernel keeps the overflow).
                Some(libc::ETIME | libc::EINTR | libc::EBUSY) => Ok(()),
                _ => Err(e),
            },
        }
    }

    /// Sources the kernel refused, reported ready for their whole interest.
    #[cold]
    fn feed_refused(&self, d: &mut dyn Feed) {
        let batch: Vec<_> = self
            .refused
            .iter()
            .map(|&(_, token, interest)| (token, Ready::from(interest)))
            .collect();
        d.feed_io(&batch);
    }

    fn free_slot(&mut self, slot: u32) {
        if let Some(s) = self.sources.get_mut(slot as usize) {
            *s = None;
            self.free.push(slot);
        }
    }

    /// A socket table whose streams read and write on this host's ring (see
    /// [the module documentation](self#stream-io-on-the-ring)): the streams it accepts and the socket pairs it
    /// makes receive into buffers the host provides, so a read after readiness makes no system
    /// call, and their writes are queued and go to the kernel with the host's next wait. Other
    /// sockets (listeners, connecting and adopted sockets, pipes, UDP) work as in any
    /// [`Sockets`]. Use the table with this host only.
    ///
    /// Fails on kernels without multishot receives and provided-buffer rings (before Linux 6.0);
    /// [`crate::sockets`] then falls back to a plain table.
    ///
    /// ```no_run
    /// use levent_core::io::Transport;
    /// let mut host = levent_hosts::uring::Uring::new()?;
    /// let mut io = host.sockets()?;
    /// let (a, b) = io.pair()?;
    /// assert_eq!(io.write(a, b"ping")?, 4); // queued: sent with the host's next wait
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sockets(&mut self) -> io::Result<Sockets> {
        let mut io = Sockets::new();
        self.attach_sockets(&mut io)?;
        Ok(io)
    }

    /// Make `io` read and write on this host's ring, as a table from [`sockets`](Self::sockets)
    /// does: the streams it accepts and the socket pairs it makes from now on (its listeners and
    /// the streams it already has stay as they are). For a table made before the host, such as
    /// listeners bound on one thread and served on another.
    ///
    /// Fails before Linux 6.0, or when `io` already uses another host's ring.
    ///
    /// ```no_run
    /// use levent_hosts::net::{ListenOptions, Sockets};
    /// let mut io = Sockets::new();
    /// let listening = io.listen("127.0.0.1:0".parse()?, ListenOptions::default())?;
    /// let mut host = levent_hosts::uring::Uring::new()?;
    /// host.attach_sockets(&mut io)?; // what `listening` accepts reads and writes on the ring
    /// # let _ = listening;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn attach_sockets(&mut self, io: &mut Sockets) -> io::Result<()> {
        if !kernel_at_least(6, 0) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "io_uring without multishot receives (Linux 6.0)",
            ));
        }
        let rio = self.io.get_or_insert_with(RingIo::default).clone();
        rio.start(&self.ring)?;
        io.use_ring(rio)
    }
}

/// Whether the running kernel's release is at least `major.minor`.
fn kernel_at_least(major: u32, minor: u32) -> bool {
    let Ok(release) = std::fs::read_to_string("/proc/sys/kernel/osrelease") else {
        return false;
    };
    let mut parts = release
        .trim()
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (a, b) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (a, b) >= (major, minor)
}

impl Drop for Uring {
    /// The stream IO's requests are cancelled and reaped (for at most about a second) before
    /// the ring goes, so the kernel is done with the buffers they use.
    fn drop(&mut self) {
        let Some(rio) = &self.io else { return };
        rio.cancel_all();
        if rio.prepare(&mut self.ring).is_err() {
            return;
        }
        for _ in 0..100 {
            if rio.in_flight() == 0 {
                return;
            }
            let ts = types::Timespec::new().nsec(10_000_000);
            let args = types::SubmitArgs::new().timespec(&ts);
            let _ = self.ring.submitter().submit_with_args(1, &args);
            let done: Vec<_> = self
                .ring
                .completion()
                .filter(|c| streams::is_ring(c.user_data()))
                .map(|c| (c.user_data(), c.result(), c.flags()))
                .collect();
            rio.finish_turn(&done, &mut Vec::new());
        }
    }
}

/// The readiness a poll request's completion reports, if the request is its source's current
/// one; a source whose request ended is queued on `rearm` (or on `refused` when the kernel
/// will not poll it).
fn completed(
    sources: &mut [Option<Source>],
    refused: &mut Vec<(RawFd, Token, Interest)>,
    rearm: &mut Vec<u32>,
    user_data: u64,
    result: i32,
    more: bool,
) -> Option<(Token, Ready)> {
    let slot = (user_data & u64::from(u32::MAX)) as u32;
    let generation = (user_data >> 32) as u32;
    let s = sources.get_mut(slot as usize)?.as_mut()?;
    if s.generation & GENERATION != generation {
        return None;
    }
    if !more {
        s.armed = false;
    }
    if result < 0 {
        if matches!(-result, libc::EBADF | libc::EPERM) {
            refused.push((s.fd, s.token, s.interest));
        } else if !more {
            rearm.push(slot);
        }
        return None;
    }
    if !more {
        rearm.push(slot);
    }
    #[allow(clippy::cast_sign_loss)]
    Some((s.token, readiness(result as u32)))
}

/// Queue `entries` on `ring` for the next enter, through one view of the submission ring (its
/// tail is published once); with the ring full, submit what it holds first (the one case where
/// a change costs a system call).
fn push_all(ring: &mut IoUring, entries: &[squeue::Entry]) -> io::Result<()> {
    let mut rest = entries;
    loop {
        let mut sq = ring.submission();
        let n = rest.len().min(sq.capacity() - sq.len());
        // SAFETY: the entries this host queues are poll requests, removals and cancellations,
        // which point to no memory of ours, and the stream IO's receives and sends: a receive
        // writes into the provided buffers and a send reads a stream's send buffer, both owned
        // by the stream IO state, which leaves a send's bytes alone until its completion and
        // outlives the ring (see `Uring`'s fields and `Drop`). `n` entries fit.
        if unsafe { sq.push_multiple(&rest[..n]) }.is_ok() {
            rest = &rest[n..];
        }
        drop(sq);
        if rest.is_empty() {
            return Ok(());
        }
        match ring.submit() {
            Ok(_) => {}
            // The completion ring is full: the next wait reaps it; the kernel keeps the
            // overflow (IORING_FEAT_NODROP).
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => return Err(e),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn wake_eventfd(fd: usize) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a local into the eventfd; the host clears the waker before it
    // closes the descriptor, so `fd` is open.
    unsafe { libc::write(fd as RawFd, (&raw const one).cast(), 8) };
}

impl Host for Uring {
    fn clock(&self) -> Option<Clock> {
        Some(crate::clock::CLOCK)
    }

    fn now(&mut self) -> Tick {
        crate::clock::now()
    }

    fn wait(&mut self, wait: Wait, d: &mut dyn Feed) -> Result<Turn, HostError> {
        let err = |e: io::Error| unix::host_error(&e);
        let mut wait = wait;
        if self.notifier.due() && self.notifier.drain(d) > 0 || !self.refused.is_empty() {
            wait = Wait::No;
        }
        if let Some(rio) = &self.io
            && rio.prepare(&mut self.ring).map_err(err)?
        {
            wait = Wait::No;
        }
        if wait == Wait::Forever
            && self.by_fd.is_empty()
            && !self.signals.any()
            && self.notifier.get().is_none()
            && self.io.as_ref().is_none_or(|rio| !rio.watching())
        {
            return Ok(Turn::Never);
        }
        if !self.wake_armed {
            self.watch(self.wake.as_raw_fd(), WAKE).map_err(err)?;
            self.wake_armed = true;
        }
        if let (false, Some(fd)) = (self.signal_armed, self.signals.pipe()) {
            self.watch(fd, SIGNAL).map_err(err)?;
            self.signal_armed = true;
        }
        for i in 0..self.rearm.len() {
            let slot = self.rearm[i];
            if let Some(Some(s)) = self.sources.get(slot as usize)
                && !s.armed
            {
                self.arm(slot).map_err(err)?;
            }
        }
        self.rearm.clear();
        self.enter(wait).map_err(err)?;
        let (mut woken, mut signalled) = (false, false);
        self.batch.clear();
        // One view of the completion ring for the whole turn: its head is published once.
        let mut cq = self.ring.completion();
        for cqe in &mut cq {
            let more = cqueue::more(cqe.flags());
            match cqe.user_data() {
                WAKE => {
                    woken = true;
                    self.wake_armed &= more;
                }
                SIGNAL => {
                    signalled = true;
                    self.signal_armed &= more;
                }
                REMOVED => {}
                ud if streams::is_ring(ud) => self.ring_done.push((ud, cqe.result(), cqe.flags())),
                ud => {
                    let (sources, refused, rearm) =
                        (&mut self.sources, &mut self.refused, &mut self.rearm);
                    let result = cqe.result();
                    if let Some(ready) = completed(sources, refused, rearm, ud, result, more) {
                        self.batch.push(ready);
                    }
                }
            }
        }
        drop(cq);
        if let Some(rio) = &self.io {
            rio.finish_turn(&self.ring_done, &mut self.batch);
            self.ring_done.clear();
        }
        d.feed_io(&self.batch);
        if !self.refused.is_empty() {
            self.feed_refused(d);
        }
        if woken {
            unix::drain_eventfd(self.wake.as_raw_fd());
            self.notifier.drain(d);
        }
        if signalled {
            self.signals.feed(d);
        }
        Ok(Turn::Waited)
    }

    fn apply(&mut self, change: Change) -> Result<(), HostError> {
        let err = |e: io::Error| unix::host_error(&e);
        match change {
            Change::Io {
                key,
                token,
                new,
                edge,
                ..
            } => {
                let fd = key.0 as RawFd;
                self.refused.retain(|r| r.1 != token);
                if let Some(rio) = &self.io
                    && rio.apply(fd, token, new, edge)
                {
                    return Ok(());
                }
                let current = self.by_fd.get(&fd).copied();
                if new.is_empty() {
                    if let Some(slot) = current
                        && matches!(&self.sources[slot as usize], Some(s) if s.token == token)
                    {
                        self.disarm(slot).map_err(err)?;
                        self.by_fd.remove(&fd);
                        self.free_slot(slot);
                    }
                    return Ok(());
                }
                let slot = match current {
                    Some(slot) => {
                        self.disarm(slot).map_err(err)?;
                        slot
                    }
                    None => {
                        let source = Source {
                            fd,
                            token,
                            interest: new,
                            edge,
                            generation: 0,
                            armed: false,
                        };
                        let slot = if let Some(slot) = self.free.pop() {
                            self.sources[slot as usize] = Some(source);
                            slot
                        } else {
                            self.sources.push(Some(source));
                            (self.sources.len() - 1) as u32
                        };
                        self.by_fd.insert(fd, slot);
                        slot
                    }
                };
                if let Some(Some(s)) = self.sources.get_mut(slot as usize) {
                    s.generation = s.generation.wrapping_add(1);
                    (s.token, s.interest, s.edge) = (token, new, edge);
                }
                self.arm(slot).map_err(err)
            }
            Change::Signal { signo, watch } => {
                if watch {
                    self.signals.watch(signo).map_err(err)?;
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
