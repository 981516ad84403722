//! Stream IO that completes on the host's ring, for the tables [`Uring::sockets`](super::Uring::sockets)
//! makes: the receives, the provided buffers, the send queues (described in the parent module's
//! "Stream IO on the ring"). The state is shared between the host and its socket tables behind
//! a mutex (a table may move to another thread with its host); streams are addressed by
//! descriptor, as the engine's sources are.

use crate::net::io_error;
use io_uring::types::BufRingEntry;
use io_uring::{IoUring, cqueue, opcode, squeue, types};
use levent_core::io::IoError;
use levent_core::{Interest, Ready, Token};
use socket2::Socket;
use std::alloc::Layout;
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// The provided buffers' group id.
const GROUP: u16 = 0;
/// Provided buffers, a power of two.
const BUFFERS: u16 = 1024;
/// Bytes in each provided buffer.
const BUFFER_SIZE: usize = 4096;
/// Bytes a stream queues for sending before it stops being writable.
const SEND_CAP: usize = 64 * 1024;
/// Received chunks a stream holds before its receive is paused.
const HOLD: usize = 8;

/// `user_data` of this module's requests: bit 62 set (the host's poll requests never set it),
/// the operation in bits 48 to 55, the stream's generation in bits 32 to 47, the descriptor
/// below.
pub(crate) const RING: u64 = 1 << 62;
const RECV: u64 = 1 << 48;
const SEND: u64 = 2 << 48;
/// The completion of a cancellation: nothing to do.
const CANCELLED: u64 = RING | (3 << 48);

/// Whether `user_data` belongs to this module.
pub(crate) fn is_ring(user_data: u64) -> bool {
    user_data & (3 << 62) == RING
}

/// The ring of provided buffers and the memory behind it.
struct Buffers {
    /// The ring the kernel takes buffers from: `BUFFERS` entries, page aligned.
    ring: NonNull<BufRingEntry>,
    memory: Box<[u8]>,
    tail: u16,
    /// Buffers the kernel holds, ready for receives.
    available: u16,
}

// SAFETY: `ring` points to memory this value owns alone (allocated in `new`, freed in `drop`);
// moving the value to another thread moves that ownership with it.
unsafe impl Send for Buffers {}

impl Buffers {
    fn layout() -> Layout {
        // 16 bytes per entry, 16 KiB for 1024: a valid size and a power-of-two alignment.
        Layout::from_size_align(usize::from(BUFFERS) * size_of::<BufRingEntry>(), 4096)
            .unwrap_or_else(|_| Layout::new::<BufRingEntry>())
    }

    /// The buffers, registered with `ring` and all given to it.
    fn new(uring: &IoUring) -> io::Result<Buffers> {
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(Self::layout()) };
        let Some(ring) = NonNull::new(ptr.cast::<BufRingEntry>()) else {
            return Err(io::Error::from(io::ErrorKind::OutOfMemory));
        };
        let mut buffers = Buffers {
            ring,
            memory: vec![0u8; usize::from(BUFFERS) * BUFFER_SIZE].into_boxed_slice(),
            tail: 0,
            available: 0,
        };
        // SAFETY: the ring is `BUFFERS` zeroed entries, page aligned, and lives until this value
        // drops, which the host makes happen after the ring is gone (see `Uring`'s field order
        // and `Drop`).
        unsafe {
            uring.submitter().register_buf_ring_with_flags(
                ring.as_ptr() as u64,
                BUFFERS,
                GROUP,
                0,
            )?;
        }
        for bid in 0..BUFFERS {
            buffers.give(bid);
        }
        Ok(buffers)
    }

    /// Hand buffer `bid` (back) to the kernel.
    fn give(&mut self, bid: u16) {
        let index = usize::from(self.tail & (BUFFERS - 1));
        let addr = self.memory[usize::from(bid) * BUFFER_SIZE..].as_ptr() as u64;
        // SAFETY: `index` is below `BUFFERS`, the ring's length; the entry is one the kernel
        // has consumed (or never had), so writing it races with nothing.
        let entry = unsafe { &mut *self.ring.as_ptr().add(index) };
        entry.set_addr(addr);
        entry.set_len(BUFFER_SIZE as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
        // SAFETY: the tail is a u16 inside the ring's first entry, which the kernel reads
        // concurrently: an atomic release store publishes the entry written above.
        unsafe {
            let tail = BufRingEntry::tail(self.ring.as_ptr()).cast_mut();
            AtomicU16::from_ptr(tail).store(self.tail, Ordering::Release);
        }
        self.available += 1;
    }

    fn bytes(&self, bid: u16, from: usize, to: usize) -> &[u8] {
        let base = usize::from(bid) * BUFFER_SIZE;
        self.memory.get(base + from..base + to).unwrap_or(&[])
    }
}

impl Drop for Buffers {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout; the kernel no longer uses it (the ring
        // it was registered with is gone, see `Buffers::new`).
        unsafe { std::alloc::dealloc(self.ring.as_ptr().cast(), Self::layout()) };
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Recv {
    /// No receive in the kernel.
    Idle,
    Armed,
    /// Cancelled; its last completion has not come yet.
    Cancelling,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Shut {
    No,
    /// Asked for while sends were queued: done when they are.
    Pending,
    Done,
}

struct Chunk {
    bid: u16,
    len: u16,
    read: u16,
}

/// One stream in ring mode.
struct Stream {
    generation: u16,
    token: Option<Token>,
    interest: Interest,
    edge: bool,
    /// In [`State::listed`]: its readiness is looked at in the next turn.
    listed: bool,
    chunks: VecDeque<Chunk>,
    /// Received bytes copied out of the provided buffers (from `spilled_at` on), read before
    /// the chunks: a stream without read interest gives its buffers back at once.
    spilled: Vec<u8>,
    spilled_at: usize,
    recv: Recv,
    eof: bool,
    read_error: Option<IoError>,
    /// The bytes of the send in the kernel, from `sent` on.
    out: Vec<u8>,
    sent: usize,
    sending: bool,
    /// Accepted bytes behind the send in the kernel.
    queued: Vec<u8>,
    write_error: Option<IoError>,
    shut: Shut,
    /// Closed by the application while the kernel still works on it: kept open until done.
    closed: Option<Socket>,
}

impl Stream {
    fn unsent(&self) -> usize {
        self.out.len() - self.sent + self.queued.len()
    }

    fn ready(&self) -> Ready {
        let mut r = Ready::NONE;
        let ended = self.eof || self.read_error.is_some();
        if self.interest.contains(Interest::READ) && (self.holds() || ended) {
            r |= Ready::READ;
        }
        if self.interest.contains(Interest::CLOSED) && ended {
            r |= Ready::CLOSED;
        }
        if self.interest.contains(Interest::WRITE)
            && (self.write_error.is_some() || self.unsent() < SEND_CAP)
        {
            r |= Ready::WRITE;
        }
        r
    }

    /// Whether a receive should be in the kernel.
    fn wants_recv(&self) -> bool {
        self.interest.contains(Interest::READ)
            && !self.eof
            && self.read_error.is_none()
            && self.closed.is_none()
            && self.chunks.len() < HOLD
    }

    /// Whether received bytes wait to be read.
    fn holds(&self) -> bool {
        !self.chunks.is_empty() || self.spilled_at < self.spilled.len()
    }

    fn busy(&self) -> bool {
        self.recv != Recv::Idle || self.sending
    }
}

#[derive(Default)]
struct State {
    buffers: Option<Buffers>,
    /// Streams in ring mode, by descriptor.
    streams: Vec<Option<Stream>>,
    /// Requests for the host's next enter.
    sq: Vec<squeue::Entry>,
    /// Streams whose readiness the next turn looks at.
    listed: Vec<RawFd>,
    /// Streams whose receive may have to start again.
    rearm: Vec<RawFd>,
    /// The other half of `listed` and `rearm` while a turn goes through them (kept, so that a
    /// turn allocates nothing).
    scratch: Vec<RawFd>,
    /// Send buffers of streams with nothing to send, for the next stream that writes (so an
    /// idle stream holds none).
    spare: Vec<Vec<u8>>,
    generation: u16,
}

/// Spare send buffers kept for reuse.
const SPARE: usize = 4096;

/// The ring IO state a host and its socket tables share.
#[derive(Clone, Default)]
pub(crate) struct RingIo(Arc<Mutex<State>>);

impl std::fmt::Debug for RingIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RingIo")
    }
}

fn user_data(op: u64, generation: u16, fd: RawFd) -> u64 {
    RING | op | (u64::from(generation) << 32) | u64::from(fd as u32)
}

/// Stream `fd` of `streams`.
fn stream_in(streams: &mut [Option<Stream>], fd: RawFd) -> Option<&mut Stream> {
    streams.get_mut(usize::try_from(fd).ok()?)?.as_mut()
}

impl Stream {
    /// The multishot receive to start for this stream (now armed).
    fn recv_entry(&mut self, fd: RawFd) -> squeue::Entry {
        self.recv = Recv::Armed;
        opcode::RecvMulti::new(types::Fd(fd), GROUP)
            .build()
            .user_data(user_data(RECV, self.generation, fd))
    }

    /// The cancellation of this stream's receive, if one is armed (now cancelling).
    fn cancel_entry(&mut self, fd: RawFd) -> Option<squeue::Entry> {
        if self.recv != Recv::Armed {
            return None;
        }
        self.recv = Recv::Cancelling;
        let ud = user_data(RECV, self.generation, fd);
        Some(opcode::AsyncCancel::new(ud).build().user_data(CANCELLED))
    }

    /// The send of what is left of `out` (now sending).
    fn send_entry(&mut self, fd: RawFd) -> squeue::Entry {
        let rest = &self.out[self.sent..];
        let len = u32::try_from(rest.len()).unwrap_or(u32::MAX);
        self.sending = true;
        opcode::Send::new(types::Fd(fd), rest.as_ptr(), len)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(user_data(SEND, self.generation, fd))
    }

    /// Copy what this stream received out of the provided buffers and give them back (it has no
    /// read interest: it may not read for long, and the buffers are every stream's).
    fn spill(&mut self, buffers: &mut Option<Buffers>) {
        for c in self.chunks.drain(..) {
            if let Some(b) = buffers {
                let (from, to) = (usize::from(c.read), usize::from(c.len));
                self.spilled.extend_from_slice(b.bytes(c.bid, from, to));
                b.give(c.bid);
            }
        }
    }

    /// Put stream `fd` (this one) in `listed` unless it is there.
    fn list(&mut self, fd: RawFd, listed: &mut Vec<RawFd>) {
        if !self.listed {
            self.listed = true;
            listed.push(fd);
        }
    }

    /// A send of `n` bytes (or an error) completed: the next send's entry, if there is more.
    fn send_done(
        &mut self,
        fd: RawFd,
        result: i32,
        spare: &mut Vec<Vec<u8>>,
    ) -> Option<squeue::Entry> {
        self.sending = false;
        match usize::try_from(result) {
            Ok(n) if n > 0 => {
                self.sent += n;
                if self.sent < self.out.len() {
                    return Some(self.send_entry(fd));
                }
                self.sent = 0;
                if !self.queued.is_empty() {
                    core::mem::swap(&mut self.out, &mut self.queued);
                    self.queued.clear();
                    return Some(self.send_entry(fd));
                }
                if self.shut == Shut::Pending {
                    self.shut = Shut::Done;
                    // SAFETY: a plain system call on a descriptor this stream keeps open.
                    unsafe { libc::shutdown(fd, libc::SHUT_WR) };
                }
                // Nothing left to send: the buffers go to the pool, so an idle stream holds none.
                for v in [&mut self.out, &mut self.queued] {
                    let mut v = core::mem::take(v);
                    if v.capacity() > 0 && spare.len() < SPARE {
                        v.clear();
                        spare.push(v);
                    }
                }
                None
            }
            _ => {
                self.write_error = Some(if result < 0 {
                    io_error(&io::Error::from_raw_os_error(-result))
                } else {
                    IoError::BrokenPipe
                });
                self.queued.clear();
                self.out.clear();
                self.sent = 0;
                None
            }
        }
    }

    /// A receive completed with `result` and buffer `bid`: the buffer to give back, if this
    /// stream does not keep it.
    fn recv_done(&mut self, result: i32, flags: u32, bid: Option<u16>) -> Option<u16> {
        let give = match bid {
            Some(bid) if result > 0 && self.closed.is_none() => {
                self.chunks.push_back(Chunk {
                    bid,
                    len: result as u16,
                    read: 0,
                });
                None
            }
            other => other,
        };
        if !cqueue::more(flags) {
            self.recv = Recv::Idle;
            match result {
                0 => self.eof = true,
                r if r > 0 => {}
                r if -r == libc::ECANCELED => {}
                r if -r == libc::ENOBUFS => {}
                r => self.read_error = Some(io_error(&io::Error::from_raw_os_error(-r))),
            }
        }
        give
    }
}

impl State {
    fn stream(&mut self, fd: RawFd) -> Option<&mut Stream> {
        stream_in(&mut self.streams, fd)
    }

    fn list(&mut self, fd: RawFd) {
        if let Some(s) = stream_in(&mut self.streams, fd) {
            s.list(fd, &mut self.listed);
        }
    }

    fn arm(&mut self, fd: RawFd) {
        if let Some(s) = stream_in(&mut self.streams, fd) {
            self.sq.push(s.recv_entry(fd));
        }
    }

    fn cancel_recv(&mut self, fd: RawFd) {
        if let Some(entry) = stream_in(&mut self.streams, fd).and_then(|s| s.cancel_entry(fd)) {
            self.sq.push(entry);
        }
    }

    fn send(&mut self, fd: RawFd) {
        if let Some(s) = stream_in(&mut self.streams, fd) {
            self.sq.push(s.send_entry(fd));
        }
    }

    fn spill(&mut self, fd: RawFd) {
        if let Some(s) = stream_in(&mut self.streams, fd) {
            s.spill(&mut self.buffers);
        }
    }

    /// The completion of request `ud` of this module: the stream it is for (if it still is:
    /// the generation matches) takes it, with one lookup, and what it changed is queued (the
    /// next request, the readiness to look at).
    fn complete(&mut self, ud: u64, result: i32, flags: u32) {
        if ud == CANCELLED {
            return;
        }
        let fd = (ud & u64::from(u32::MAX)) as u32 as RawFd;
        let generation = ((ud >> 32) & 0xFFFF) as u16;
        let op = ud & (0xFF << 48);
        let bid = cqueue::buffer_select(flags).filter(|_| op == RECV);
        let State {
            buffers,
            streams,
            sq,
            listed,
            rearm,
            spare,
            ..
        } = self;
        if let (Some(_), Some(b)) = (bid, buffers.as_mut()) {
            b.available = b.available.saturating_sub(1);
        }
        let Some(slot) = usize::try_from(fd).ok().and_then(|i| streams.get_mut(i)) else {
            if let (Some(bid), Some(b)) = (bid, buffers.as_mut()) {
                b.give(bid);
            }
            return;
        };
        let Some(s) = slot.as_mut().filter(|s| s.generation == generation) else {
            // An earlier stream's: its buffer goes back.
            if let (Some(bid), Some(b)) = (bid, buffers.as_mut()) {
                b.give(bid);
            }
            return;
        };
        // Only a stream waiting for what this completion changed has readiness to report.
        let wanted = if op == RECV {
            if let (Some(bid), Some(b)) = (s.recv_done(result, flags, bid), buffers.as_mut()) {
                b.give(bid);
            }
            Interest::READ | Interest::CLOSED
        } else if op == SEND {
            if let Some(entry) = s.send_done(fd, result, spare) {
                sq.push(entry);
            }
            Interest::WRITE
        } else {
            Interest::READ | Interest::CLOSED
        };
        if !s.interest.contains(Interest::READ) && !s.chunks.is_empty() {
            s.spill(buffers);
        } else if s.recv == Recv::Idle && s.wants_recv() {
            rearm.push(fd);
        } else if s.chunks.len() >= HOLD
            && let Some(entry) = s.cancel_entry(fd)
        {
            sq.push(entry);
        }
        if s.interest.intersects(wanted) {
            s.list(fd, listed);
        }
        // A closed stream the kernel is done with: dropped (closing its descriptor).
        if s.closed.is_some() && !s.busy() {
            *slot = None;
        }
    }
}

impl RingIo {
    /// Whether `other` is the same state (the same host's).
    pub(crate) fn same(&self, other: &RingIo) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Register the provided buffers with `ring` (once).
    pub(crate) fn start(&self, ring: &IoUring) -> io::Result<()> {
        let mut st = self.lock();
        if st.buffers.is_none() {
            st.buffers = Some(Buffers::new(ring)?);
        }
        Ok(())
    }

    /// Take stream `s` into ring mode.
    pub(crate) fn adopt(&self, s: &Socket) {
        let fd = s.as_raw_fd();
        let Ok(i) = usize::try_from(fd) else { return };
        let mut st = self.lock();
        st.generation = st.generation.wrapping_add(1);
        let generation = st.generation;
        if st.streams.len() <= i {
            st.streams.resize_with(i + 1, || None);
        }
        st.streams[i] = Some(Stream {
            generation,
            token: None,
            interest: Interest::NONE,
            edge: false,
            listed: false,
            chunks: VecDeque::new(),
            spilled: Vec::new(),
            spilled_at: 0,
            recv: Recv::Idle,
            eof: false,
            read_error: None,
            out: Vec::new(),
            sent: 0,
            sending: false,
            queued: Vec::new(),
            write_error: None,
            shut: Shut::No,
            closed: None,
        });
    }

    /// A read from stream `fd`; `None` when the stream is not in ring mode or has no receive in
    /// the kernel (the caller reads with a system call).
    pub(crate) fn read(&self, fd: RawFd, buf: &mut [u8]) -> Option<Result<usize, IoError>> {
        let mut guard = self.lock();
        let st = &mut *guard;
        let s = stream_in(&mut st.streams, fd)?;
        if s.holds() {
            let mut n = 0;
            if s.spilled_at < s.spilled.len() {
                let take = buf.len().min(s.spilled.len() - s.spilled_at);
                buf[..take].copy_from_slice(&s.spilled[s.spilled_at..s.spilled_at + take]);
                s.spilled_at += take;
                n = take;
                if s.spilled_at == s.spilled.len() {
                    (s.spilled, s.spilled_at) = (Vec::new(), 0);
                }
            }
            let mut given = 0;
            while n < buf.len() {
                let Some(c) = s.chunks.front_mut() else { break };
                let take = (buf.len() - n).min(usize::from(c.len - c.read));
                let from = usize::from(c.read);
                if let Some(b) = &st.buffers {
                    buf[n..n + take].copy_from_slice(b.bytes(c.bid, from, from + take));
                }
                n += take;
                c.read += take as u16;
                if c.read == c.len {
                    let bid = c.bid;
                    s.chunks.pop_front();
                    if let Some(b) = &mut st.buffers {
                        b.give(bid);
                    }
                    given += 1;
                }
            }
            if given > 0 && s.recv == Recv::Idle && s.wants_recv() {
                st.rearm.push(fd);
            }
            return Some(Ok(n));
        }
        if let Some(e) = s.read_error.take() {
            s.eof = true;
            return Some(Err(e));
        }
        if s.eof {
            return Some(Ok(0));
        }
        match s.recv {
            Recv::Idle => None,
            Recv::Armed | Recv::Cancelling => Some(Err(IoError::WouldBlock)),
        }
    }

    /// A write to stream `fd`: the bytes accepted for sending; `None` when the stream is not in
    /// ring mode.
    pub(crate) fn write(&self, fd: RawFd, buf: &[u8]) -> Option<Result<usize, IoError>> {
        let mut guard = self.lock();
        let st = &mut *guard;
        let s = stream_in(&mut st.streams, fd)?;
        if let Some(e) = s.write_error {
            return Some(Err(e));
        }
        if s.shut != Shut::No {
            return Some(Err(IoError::BrokenPipe));
        }
        let room = SEND_CAP.saturating_sub(s.unsent());
        if room == 0 {
            return Some(Err(IoError::WouldBlock));
        }
        let n = buf.len().min(room);
        if n == 0 {
            return Some(Ok(0));
        }
        let to = if s.sending { &mut s.queued } else { &mut s.out };
        if to.capacity() == 0 {
            *to = st.spare.pop().unwrap_or_default();
        }
        to.extend_from_slice(&buf[..n]);
        if !s.sending {
            s.sent = 0;
            st.send(fd);
        }
        Some(Ok(n))
    }

    /// Shut stream `fd`'s writing side once its queue is sent; `false` when the caller shuts it
    /// now (nothing queued, or not in ring mode).
    pub(crate) fn shutdown_write(&self, fd: RawFd) -> bool {
        let mut st = self.lock();
        let Some(s) = st.stream(fd) else { return false };
        if s.sending {
            if s.shut == Shut::No {
                s.shut = Shut::Pending;
            }
            return true;
        }
        s.shut = Shut::Done;
        false
    }

    /// Whether stream `fd` has nothing in the kernel and nothing held: it can leave ring mode.
    pub(crate) fn idle(&self, fd: RawFd) -> bool {
        let mut st = self.lock();
        st.stream(fd)
            .is_none_or(|s| !s.busy() && !s.holds() && s.queued.is_empty())
    }

    /// Stream `fd` leaves ring mode (after [`idle`](Self::idle) said it can).
    pub(crate) fn release(&self, fd: RawFd) {
        let mut st = self.lock();
        if let Some(slot) = usize::try_from(fd).ok().and_then(|i| st.streams.get_mut(i)) {
            *slot = None;
        }
    }

    /// The application closed stream `fd`: the socket back if the caller can drop it now,
    /// `None` if it is kept until the kernel is done. `discard` drops bytes not yet sent (a
    /// reset).
    pub(crate) fn close(&self, fd: RawFd, socket: Socket, discard: bool) -> Option<Socket> {
        let mut guard = self.lock();
        let st = &mut *guard;
        let Some(s) = st.stream(fd) else {
            return Some(socket);
        };
        let held: Vec<u16> = s.chunks.drain(..).map(|c| c.bid).collect();
        s.token = None;
        s.interest = Interest::NONE;
        if discard {
            s.queued.clear();
        }
        let busy = s.busy();
        if let Some(b) = &mut st.buffers {
            for bid in held {
                b.give(bid);
            }
        }
        if !busy {
            if let Some(slot) = st.streams.get_mut(fd as usize) {
                *slot = None;
            }
            return Some(socket);
        }
        st.cancel_recv(fd);
        if let Some(s) = st.stream(fd) {
            s.closed = Some(socket);
        }
        None
    }

    /// The engine's change of interest for descriptor `fd`; `false` when it is not a stream in
    /// ring mode (the host polls it).
    pub(crate) fn apply(&self, fd: RawFd, token: Token, new: Interest, edge: bool) -> bool {
        let mut st = self.lock();
        let Some(s) = st.stream(fd) else { return false };
        // A closed stream's, or the removal of an earlier socket's registration whose
        // descriptor number this stream reuses: nothing to do.
        if s.closed.is_some() || (new.is_empty() && s.token.is_some_and(|t| t != token)) {
            return true;
        }
        s.token = (!new.is_empty()).then_some(token);
        (s.interest, s.edge) = (new, edge);
        if s.wants_recv() {
            if s.recv == Recv::Idle {
                st.rearm.push(fd);
            }
        } else if !new.contains(Interest::READ) {
            st.cancel_recv(fd);
            st.spill(fd);
        }
        st.list(fd);
        true
    }

    /// Before the host enters: receives to start again, then every request queued since the
    /// last turn, queued on `ring` together. Whether a stream's readiness is waiting to be
    /// reported (the host must not block then).
    pub(crate) fn prepare(&self, ring: &mut IoUring) -> io::Result<bool> {
        let mut guard = self.lock();
        let st = &mut *guard;
        let mut rearm = core::mem::take(&mut st.scratch);
        core::mem::swap(&mut rearm, &mut st.rearm);
        for &fd in &rearm {
            let Some(s) = st.stream(fd) else { continue };
            if s.recv != Recv::Idle || !s.wants_recv() {
                continue;
            }
            if st.buffers.as_ref().is_some_and(|b| b.available > 0) {
                st.arm(fd);
            } else {
                st.rearm.push(fd);
            }
        }
        rearm.clear();
        st.scratch = rearm;
        let pushed = super::push_all(ring, &st.sq);
        st.sq.clear();
        pushed?;
        Ok(!st.listed.is_empty())
    }

    /// The completions of this module's requests (`user_data`, result, flags) one turn
    /// reaped, then the readiness of every stream listed, into `batch`. Level-triggered streams
    /// still ready stay listed for the next turn.
    pub(crate) fn finish_turn(&self, done: &[(u64, i32, u32)], batch: &mut Vec<(Token, Ready)>) {
        let mut guard = self.lock();
        let st = &mut *guard;
        for &(ud, result, flags) in done {
            st.complete(ud, result, flags);
        }
        let mut listed = core::mem::take(&mut st.scratch);
        core::mem::swap(&mut listed, &mut st.listed);
        for &fd in &listed {
            let Some(s) = stream_in(&mut st.streams, fd) else {
                continue;
            };
            s.listed = false;
            let (Some(token), r) = (s.token, s.ready()) else {
                continue;
            };
            if r.is_empty() {
                continue;
            }
            batch.push((token, r));
            if !s.edge {
                s.listed = true;
                st.listed.push(fd);
            }
        }
        listed.clear();
        st.scratch = listed;
    }

    /// Whether a stream waits for readiness or has requests in the kernel (the host can still
    /// be woken).
    pub(crate) fn watching(&self) -> bool {
        let st = self.lock();
        st.streams
            .iter()
            .flatten()
            .any(|s| s.token.is_some() || s.busy())
    }

    /// Requests of this module still in the kernel (cancelled ones included).
    pub(crate) fn in_flight(&self) -> usize {
        let st = self.lock();
        st.streams
            .iter()
            .flatten()
            .map(|s| usize::from(s.recv != Recv::Idle) + usize::from(s.sending))
            .sum()
    }

    /// Cancel every receive (the host is going away).
    pub(crate) fn cancel_all(&self) {
        let mut st = self.lock();
        let fds: Vec<RawFd> = (0..st.streams.len())
            .filter(|&i| st.streams[i].is_some())
            .map(|i| i as RawFd)
            .collect();
        for fd in fds {
            st.cancel_recv(fd);
        }
    }
}
