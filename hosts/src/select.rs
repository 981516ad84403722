//! The Windows host: winsock `select`.
//!
//! # Sockets
//!
//! Sources are `SOCKET`s (a [`SourceKey`] holds the raw socket, as
//! [`Sockets`](crate::net::Sockets) makes them). Each turn builds three socket sets from the
//! registered interests and calls `select`:
//!
//! - `READ` puts the socket in the read set, `WRITE` in the write set *and* the exception set:
//!   Windows reports a failed non-blocking connect in the exception set, not the write set. An
//!   exception is reported as `READ | WRITE`, so that the program's next read, write or
//!   connected check returns the error.
//! - Winsock's `fd_set` is a count followed by an array whose declared length (`FD_SETSIZE`, 64)
//!   is only a default: the sets here are vectors of words with the count in front, grown to hold
//!   every registered socket (libevent's `win_fd_set`). There is no limit but memory.
//! - `select` has no edge-triggered mode: edge-triggered events are reported level-triggered, as
//!   by libevent's select backend and the `poll` host.
//! - `CLOSED` has no flag of its own. A socket watched for `CLOSED` is in the read set; when it is
//!   readable the host peeks one byte: none (end of file) adds `CLOSED`, an error
//!   `WRITE | CLOSED`. A socket watched for `CLOSED` but not `READ` whose peer sent data nobody
//!   reads yet would be readable at every turn, so it is *parked* instead: left out of the read
//!   set and peeked at every turn, with the wait bounded to 100 ms while any socket is parked, so
//!   the host neither spins nor misses the close for long. Reading the data (or adding `READ`)
//!   puts it back.
//! - A registered socket that was closed without a deregistration makes `select` fail with
//!   `WSAENOTSOCK`; the host then drops every socket that is no longer a socket and selects again
//!   (see the core's host contract, "Closing a source").
//!
//! # Waiting
//!
//! Timeouts are rounded *up* to whole milliseconds (`select` has no finer resolution), so a wait
//! never ends early and a sub-millisecond remainder never becomes a busy loop. Windows' `select`
//! refuses three empty sets: with no socket to watch the host sleeps until the deadline instead,
//! and asked to wait forever with nothing registered, no signal watched and no notifier it
//! returns [`Turn::Never`].
//!
//! # Wake-ups and signals
//!
//! A [`Notifier`](levent_core::Notifier) wakes the host through a connected pair of loopback UDP
//! sockets (one datagram; the receiving socket is in the read set), made the first time a
//! notifier is attached or a signal watched.
//!
//! Windows has no signals; its console sends *control events*. Ctrl-C and Ctrl-Break are
//! delivered as signal events [`SIGINT`](crate::signals::SIGINT) (2) and
//! [`SIGBREAK`](crate::signals::SIGBREAK) (21), the numbers the C runtime gives them, through a
//! handler installed with `SetConsoleCtrlHandler` while at least one host watches one of them and
//! removed after the last stops (so the default action, ending the process, is back). The handler
//! counts the event and wakes the hosts watching it through their wake-up sockets. Other control
//! events (closing the console window, logoff, shutdown) are left to the next handler.
//! [`raise`] delivers a control event to this process, for tests.

use levent_core::{
    Attached, Change, Clock, Feed, Host, HostError, Interest, NotifierSlot, Ready, Tick, Token,
    Turn, Wait, Waker,
};
use std::collections::HashMap;
use std::io;
use std::net::UdpSocket;
use std::os::windows::io::AsRawSocket;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;
use windows_sys::Win32::Networking::WinSock as ws;
use windows_sys::Win32::System::Console as console;
use windows_sys::core::BOOL;

/// How long a turn may wait while a socket is parked (see the module documentation).
const PARKED_RECHECK: Duration = Duration::from_millis(100);

/// A socket set of any size: the layout of winsock's `FD_SET` (a `u32` count, padded to the
/// alignment of `SOCKET`, then the sockets), with room for as many sockets as it holds. The count
/// lives in the low 32 bits of the first word, where `fd_count` is (Windows is little-endian).
struct FdSet {
    words: Vec<usize>,
}

// The first word holds the count: the array must start one word in.
const _: () = assert!(std::mem::offset_of!(ws::FD_SET, fd_array) == size_of::<usize>());
const _: () = assert!(size_of::<ws::SOCKET>() == size_of::<usize>());

impl FdSet {
    fn new() -> Self {
        FdSet { words: vec![0] }
    }

    fn clear(&mut self) {
        self.words.truncate(1);
        self.words[0] = 0;
    }

    fn push(&mut self, socket: usize) {
        self.words.push(socket);
        self.words[0] = self.words.len() - 1;
    }

    /// How many sockets the set holds (after `select`, how many are ready).
    fn len(&self) -> usize {
        (self.words[0] as u32 as usize).min(self.words.len() - 1)
    }

    fn sockets(&self) -> &[usize] {
        &self.words[1..=self.len()]
    }

    /// The set for `select`, or null when empty (`select` takes null for a set it should not
    /// watch).
    fn as_mut_ptr(&mut self) -> *mut ws::FD_SET {
        if self.len() == 0 {
            std::ptr::null_mut()
        } else {
            self.words.as_mut_ptr().cast()
        }
    }
}

struct Entry {
    socket: usize,
    token: Token,
    interest: Interest,
    /// Watched for `CLOSED` without `READ`, with unread data: not in the read set.
    parked: bool,
}

/// The wake-up pair: a datagram sent to `send`'s peer makes `recv` readable.
struct WakePair {
    recv: UdpSocket,
    send: UdpSocket,
}

impl WakePair {
    fn new() -> io::Result<Self> {
        let recv = UdpSocket::bind("127.0.0.1:0")?;
        let send = UdpSocket::bind("127.0.0.1:0")?;
        recv.connect(send.local_addr()?)?;
        send.connect(recv.local_addr()?)?;
        recv.set_nonblocking(true)?;
        send.set_nonblocking(true)?;
        Ok(WakePair { recv, send })
    }

    fn sender(&self) -> usize {
        self.send.as_raw_socket() as usize
    }

    fn drain(&self) {
        let mut buf = [0u8; 64];
        while self.recv.recv(&mut buf).is_ok() {}
    }
}

/// Send one wake-up datagram from socket `s`; a full buffer is ignored (the host is awake then).
fn poke(s: usize) {
    let byte = 1u8;
    // SAFETY: sends one byte from a local; `s` is the sending socket of a wake pair, which stays
    // open while its waker is installed (hosts clear their wakers before they close it).
    unsafe { ws::send(s as ws::SOCKET, &byte, 1, 0) };
}

fn last_error() -> i32 {
    // SAFETY: reads the calling thread's last winsock error.
    unsafe { ws::WSAGetLastError() }
}

/// What a one-byte peek says about a socket watched for `CLOSED`.
enum Peek {
    Data,
    Nothing,
    Eof,
    Failed,
}

fn peek(s: usize) -> Peek {
    let mut byte = 0u8;
    // SAFETY: peeks at most one byte into a local.
    let n = unsafe { ws::recv(s as ws::SOCKET, &mut byte, 1, ws::MSG_PEEK) };
    match n {
        0 => Peek::Eof,
        n if n > 0 => Peek::Data,
        _ if last_error() == ws::WSAEWOULDBLOCK => Peek::Nothing,
        _ => Peek::Failed,
    }
}

/// Whether `s` is still a socket (not closed behind the host's back).
fn is_socket(s: usize) -> bool {
    let mut ty: i32 = 0;
    let mut len = size_of::<i32>() as i32;
    // SAFETY: `ty` and `len` are valid for writes of the sizes given.
    let r = unsafe {
        ws::getsockopt(
            s as ws::SOCKET,
            ws::SOL_SOCKET,
            ws::SO_TYPE,
            (&raw mut ty).cast(),
            &mut len,
        )
    };
    r == 0 || last_error() != ws::WSAENOTSOCK
}

/// The `select` timeout for `wait`: whole milliseconds, rounded up.
fn timeval(remaining: Duration) -> ws::TIMEVAL {
    let ms = remaining.as_nanos().div_ceil(1_000_000);
    ws::TIMEVAL {
        tv_sec: i32::try_from(ms / 1000).unwrap_or(i32::MAX),
        tv_usec: (ms % 1000) as i32 * 1000,
    }
}

/// A host on winsock `select`. See the [module documentation](self).
pub struct Select {
    /// First, so it is dropped first: the waker is cleared before the descriptors it writes to
    /// close.
    notifier: NotifierSlot,
    entries: Vec<Entry>,
    slots: HashMap<usize, usize>,
    read: FdSet,
    write: FdSet,
    except: FdSet,
    ready: Vec<Ready>,
    batch: Vec<(Token, Ready)>,
    wake: Option<WakePair>,
    /// Which console signals (by [`CONSOLE`] index) this host watches.
    signals: [bool; 2],
}

impl Select {
    /// A new select host. Sockets for wake-ups are made when first needed.
    pub fn new() -> io::Result<Self> {
        Ok(Select {
            entries: Vec::new(),
            slots: HashMap::new(),
            read: FdSet::new(),
            write: FdSet::new(),
            except: FdSet::new(),
            ready: Vec::new(),
            batch: Vec::new(),
            wake: None,
            signals: [false; 2],
            notifier: NotifierSlot::default(),
        })
    }

    fn wake_pair(&mut self) -> io::Result<&WakePair> {
        if self.wake.is_none() {
            self.wake = Some(WakePair::new()?);
        }
        self.wake
            .as_ref()
            .ok_or_else(|| io::Error::other("no wake-up sockets"))
    }

    fn remove(&mut self, i: usize) {
        let socket = self.entries[i].socket;
        self.entries.swap_remove(i);
        self.slots.remove(&socket);
        if let Some(moved) = self.entries.get(i) {
            self.slots.insert(moved.socket, i);
        }
    }

    /// Drop every registered socket that is no longer a socket.
    fn purge(&mut self) {
        let mut i = 0;
        while i < self.entries.len() {
            if is_socket(self.entries[i].socket) {
                i += 1;
            } else {
                self.remove(i);
            }
        }
    }

    fn fill_sets(&mut self) {
        self.read.clear();
        self.write.clear();
        self.except.clear();
        if let Some(w) = &self.wake {
            self.read.push(w.recv.as_raw_socket() as usize);
        }
        for e in &self.entries {
            if e.interest.contains(Interest::READ)
                || (e.interest.contains(Interest::CLOSED) && !e.parked)
            {
                self.read.push(e.socket);
            }
            if e.interest.contains(Interest::WRITE) {
                self.write.push(e.socket);
                self.except.push(e.socket);
            }
        }
    }

    /// One `select` over the sets; the number of ready sockets (0 when interrupted).
    fn select(&mut self, timeout: Option<Duration>) -> Result<usize, i32> {
        let tv = timeout.map(timeval);
        let tv_ptr = tv
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const ws::TIMEVAL);
        // SAFETY: each set is null or a valid FD_SET layout holding its count of sockets (see
        // `FdSet`), and `tv_ptr` is null or points to a TIMEVAL that outlives the call.
        let n = unsafe {
            ws::select(
                0,
                self.read.as_mut_ptr(),
                self.write.as_mut_ptr(),
                self.except.as_mut_ptr(),
                tv_ptr,
            )
        };
        if n == ws::SOCKET_ERROR {
            return match last_error() {
                ws::WSAEINTR => Ok(0),
                code => Err(code),
            };
        }
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Peek at the parked sockets: report end of file and errors, put back those whose data was
    /// read.
    fn check_parked(&mut self) {
        for (i, e) in self.entries.iter_mut().enumerate() {
            if !e.parked {
                continue;
            }
            match peek(e.socket) {
                Peek::Data => {}
                Peek::Nothing => e.parked = false,
                Peek::Eof => {
                    e.parked = false;
                    self.ready[i] |= Ready::READ | Ready::CLOSED;
                }
                Peek::Failed => {
                    e.parked = false;
                    self.ready[i] |= Ready::READ | Ready::WRITE | Ready::CLOSED;
                }
            }
        }
    }
}

fn host_error(e: &io::Error) -> HostError {
    HostError::Os(e.raw_os_error().unwrap_or(0))
}

impl Host for Select {
    fn clock(&self) -> Option<Clock> {
        Some(crate::clock::CLOCK)
    }

    fn now(&mut self) -> Tick {
        crate::clock::now()
    }

    fn wait(&mut self, wait: Wait, d: &mut dyn Feed) -> Result<Turn, HostError> {
        // The notifier is drained at every turn, before and after the wait: its wake-up shares
        // the socket pair with console signals, and may be missing (no sockets could be made).
        let wait = if self.notifier.drain(d) > 0 {
            Wait::No
        } else {
            wait
        };
        if wait == Wait::Forever
            && self.entries.is_empty()
            && !self.signals.iter().any(|&s| s)
            && self.notifier.get().is_none()
        {
            return Ok(Turn::Never);
        }
        let mut timeout = crate::clock::remaining(wait);
        if self.entries.iter().any(|e| e.parked) {
            timeout = Some(timeout.map_or(PARKED_RECHECK, |t| t.min(PARKED_RECHECK)));
        }
        let mut n = 0;
        for attempt in 0.. {
            self.fill_sets();
            if self.read.len() + self.write.len() == 0 {
                // Windows' select refuses three empty sets: sleep instead (bounded when there is
                // no deadline: only a notifier whose wake-up sockets could not be made is left).
                std::thread::sleep(timeout.unwrap_or(PARKED_RECHECK));
                break;
            }
            match self.select(timeout) {
                Ok(ready) => {
                    n = ready;
                    break;
                }
                // A socket was closed behind our back: drop it and select again.
                Err(ws::WSAENOTSOCK) if attempt < 3 => self.purge(),
                Err(code) => return Err(HostError::Os(code)),
            }
        }
        self.ready.clear();
        self.ready.resize(self.entries.len(), Ready::NONE);
        let wake = self.wake.as_ref().map(|w| w.recv.as_raw_socket() as usize);
        if n > 0 {
            for (set, bits) in [
                (&self.read, Ready::READ),
                (&self.write, Ready::WRITE),
                (&self.except, Ready::READ | Ready::WRITE),
            ] {
                for s in set.sockets() {
                    if Some(*s) == wake {
                        continue;
                    }
                    if let Some(&i) = self.slots.get(s) {
                        self.ready[i] |= bits;
                    }
                }
            }
            if wake.is_some_and(|w| self.read.sockets().contains(&w))
                && let Some(w) = &self.wake
            {
                w.drain();
            }
            for (i, e) in self.entries.iter_mut().enumerate() {
                if !e.interest.contains(Interest::CLOSED) || !self.ready[i].contains(Ready::READ) {
                    continue;
                }
                match peek(e.socket) {
                    Peek::Eof => self.ready[i] |= Ready::CLOSED,
                    Peek::Failed => self.ready[i] |= Ready::WRITE | Ready::CLOSED,
                    Peek::Data if !e.interest.contains(Interest::READ) => {
                        e.parked = true;
                        self.ready[i] = self.ready[i] & !Ready::READ;
                    }
                    Peek::Data | Peek::Nothing => {}
                }
            }
        }
        self.check_parked();
        self.batch.clear();
        for (e, &r) in self.entries.iter().zip(&self.ready) {
            if !r.is_empty() {
                self.batch.push((e.token, r));
            }
        }
        d.feed_io(&self.batch);
        self.notifier.drain(d);
        for (i, &(signo, _)) in CONSOLE.iter().enumerate() {
            if self.signals[i] {
                let count = COUNTS[i].swap(0, Ordering::Relaxed);
                if count > 0 {
                    d.feed_signal(signo, count);
                }
            }
        }
        Ok(Turn::Waited)
    }

    fn apply(&mut self, change: Change) -> Result<(), HostError> {
        match change {
            Change::Io {
                key, token, new, ..
            } => match (self.slots.get(&key.0).copied(), new.is_empty()) {
                // Only the registration this change is about: a socket value reused since
                // carries another token.
                (Some(i), true) if self.entries[i].token == token => self.remove(i),
                (Some(_), true) | (None, true) => {}
                (Some(i), false) => {
                    let e = &mut self.entries[i];
                    e.interest = new;
                    e.token = token;
                    e.parked = false;
                }
                (None, false) => {
                    self.slots.insert(key.0, self.entries.len());
                    self.entries.push(Entry {
                        socket: key.0,
                        token,
                        interest: new,
                        parked: false,
                    });
                }
            },
            Change::Signal { signo, watch } => {
                let i = console_index(signo).ok_or(HostError::Other(
                    "only SIGINT (2) and SIGBREAK (21) exist on Windows",
                ))?;
                if watch && !self.signals[i] {
                    let sender = self.wake_pair().map_err(|e| host_error(&e))?.sender();
                    let first = !self.signals.iter().any(|&s| s);
                    watch_console(i, first.then_some(sender))?;
                    self.signals[i] = true;
                } else if !watch && self.signals[i] {
                    self.signals[i] = false;
                    let last = !self.signals.iter().any(|&s| s);
                    let sender = self.wake.as_ref().map(WakePair::sender);
                    unwatch_console(i, if last { sender } else { None });
                }
            }
        }
        Ok(())
    }

    fn attach(&mut self, notifier: Attached) -> Result<(), HostError> {
        // Without the sockets the notifier cannot wake this host; it is still drained at every
        // turn, so notifications are delayed, not lost.
        let context = self.wake_pair().ok().map(WakePair::sender);
        let waker = context.map(|context| Waker {
            wake: poke,
            context,
        });
        self.notifier.install(notifier, waker);
        Ok(())
    }
}

impl Drop for Select {
    fn drop(&mut self) {
        // Before the wake sockets go.
        self.notifier = NotifierSlot::default();
        for i in 0..CONSOLE.len() {
            if self.signals[i] {
                self.signals[i] = false;
                let last = !self.signals.iter().any(|&s| s);
                let sender = self.wake.as_ref().map(WakePair::sender);
                unwatch_console(i, if last { sender } else { None });
            }
        }
    }
}

// ----- console control events as signals -----------------------------------------------------

/// The console control events delivered as signals: `(signal number, control event)`.
const CONSOLE: [(i32, u32); 2] = [
    (crate::signals::SIGINT, console::CTRL_C_EVENT),
    (crate::signals::SIGBREAK, console::CTRL_BREAK_EVENT),
];

fn console_index(signo: i32) -> Option<usize> {
    CONSOLE.iter().position(|&(s, _)| s == signo)
}

/// Deliveries not yet fed, per [`CONSOLE`] index.
static COUNTS: [AtomicU32; 2] = [const { AtomicU32::new(0) }; 2];

/// Who watches the console: per signal how many hosts, and the wake-up sockets of the hosts that
/// watch any. The control handler reads it.
struct Watchers {
    count: [usize; 2],
    wakers: Vec<usize>,
}

static WATCHERS: Mutex<Watchers> = Mutex::new(Watchers {
    count: [0; 2],
    wakers: Vec::new(),
});

/// Whether the control handler is installed. Held across `SetConsoleCtrlHandler`, so that hosts
/// on several threads install and remove it in order; the handler never takes it, and
/// `SetConsoleCtrlHandler` is never called with [`WATCHERS`] held (the system may hold its
/// console lock while it runs handlers).
static INSTALLED: Mutex<bool> = Mutex::new(false);

fn watchers() -> std::sync::MutexGuard<'static, Watchers> {
    WATCHERS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The console control handler: runs on a thread the system starts for each event.
unsafe extern "system" fn on_console(ctrl: u32) -> BOOL {
    let Some(i) = CONSOLE.iter().position(|&(_, c)| c == ctrl) else {
        return 0;
    };
    let w = watchers();
    if w.count[i] == 0 {
        // Nobody watches it (any more): the next handler, eventually the default one, decides.
        return 0;
    }
    COUNTS[i].fetch_add(1, Ordering::Relaxed);
    for &s in &w.wakers {
        poke(s);
    }
    1
}

/// Count one more watcher of console signal `i`; `waker` is the wake-up socket of a host that
/// watched no console signal before.
fn watch_console(i: usize, waker: Option<usize>) -> Result<(), HostError> {
    let mut installed = INSTALLED.lock().unwrap_or_else(PoisonError::into_inner);
    if !*installed {
        // SAFETY: registers a handler function with the signature the system expects.
        if unsafe { console::SetConsoleCtrlHandler(Some(on_console), 1) } == 0 {
            return Err(host_error(&io::Error::last_os_error()));
        }
        *installed = true;
    }
    let mut w = watchers();
    w.count[i] += 1;
    if let Some(s) = waker {
        w.wakers.push(s);
    }
    Ok(())
}

/// Count one watcher of console signal `i` less; `waker` is the wake-up socket of a host that now
/// watches none. The handler goes once nobody watches anything.
fn unwatch_console(i: usize, waker: Option<usize>) {
    let mut installed = INSTALLED.lock().unwrap_or_else(PoisonError::into_inner);
    let none_left = {
        let mut w = watchers();
        w.count[i] = w.count[i].saturating_sub(1);
        if let Some(s) = waker
            && let Some(j) = w.wakers.iter().position(|&x| x == s)
        {
            w.wakers.swap_remove(j);
        }
        w.count == [0, 0]
    };
    if *installed && none_left {
        // SAFETY: removes the handler registered above.
        unsafe { console::SetConsoleCtrlHandler(Some(on_console), 0) };
        *installed = false;
    }
}

/// Whether a select host in this process watches console signal `signo`: its control handler is
/// installed and counts the event instead of letting the default action end the process.
pub fn catching(signo: i32) -> bool {
    let installed = *INSTALLED.lock().unwrap_or_else(PoisonError::into_inner);
    installed && console_index(signo).is_some_and(|i| watchers().count[i] > 0)
}

static OWN_CONSOLE: OnceLock<Result<(), i32>> = OnceLock::new();

/// Make sure this process is alone on its console (once): keep a console it has to itself, or
/// detach from a shared one (or from none) and make one of its own, keeping the standard handles.
fn own_console() -> io::Result<()> {
    let r = OWN_CONSOLE.get_or_init(|| {
        let mut ids = [0u32; 2];
        // SAFETY: `ids` has room for the 2 process ids the call may write.
        let attached = unsafe { console::GetConsoleProcessList(ids.as_mut_ptr(), 2) };
        if attached == 1 {
            return Ok(());
        }
        let std_handles = [
            console::STD_INPUT_HANDLE,
            console::STD_OUTPUT_HANDLE,
            console::STD_ERROR_HANDLE,
        ];
        // SAFETY: reads the process's standard handles.
        let saved = std_handles.map(|h| (h, unsafe { console::GetStdHandle(h) }));
        // SAFETY: detaching from a console (or from none) has no precondition.
        unsafe { console::FreeConsole() };
        // SAFETY: creates a console for this process, which has none now.
        if unsafe { console::AllocConsole() } == 0 {
            return Err(io::Error::last_os_error().raw_os_error().unwrap_or(0));
        }
        for (which, handle) in saved {
            // SAFETY: puts back a handle the process had; the new console replaced it.
            unsafe { console::SetStdHandle(which, handle) };
        }
        Ok(())
    });
    r.map_err(io::Error::from_raw_os_error)
}

/// Deliver console signal `signo` ([`SIGINT`](crate::signals::SIGINT) for Ctrl-C,
/// [`SIGBREAK`](crate::signals::SIGBREAK) for Ctrl-Break) to this process through the console, as
/// pressing the keys would. For tests.
///
/// A console control event reaches every process attached to the console. A process that has a
/// console to itself (wine run from a terminal) raises the event there. Otherwise, the first call
/// detaches the process from the console it shares (with the shell, with `cargo`) or from none
/// (wine without a terminal) and gives it one of its own, keeping its standard handles; output
/// that went to a shared console window itself is lost from then on. The event is delivered
/// asynchronously, on a thread the system starts. Under wine the event travels as a Unix
/// `SIGINT`, so two raised before the first is handled may arrive as one.
///
/// Fails with the OS error when the console cannot generate the event (wine 8's console, for one,
/// generates Ctrl-C but not Ctrl-Break).
pub fn raise(signo: i32) -> io::Result<()> {
    let i = console_index(signo).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "only SIGINT (2) and SIGBREAK (21) exist on Windows",
        )
    })?;
    own_console()?;
    // SAFETY: sends a control event to the processes of this process's own console (group 0).
    if unsafe { console::GenerateConsoleCtrlEvent(CONSOLE[i].1, 0) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_set_holds_more_than_fd_setsize_sockets() {
        let mut set = FdSet::new();
        assert!(set.as_mut_ptr().is_null());
        for s in 0..100 {
            set.push(1000 + s);
        }
        assert_eq!(set.len(), 100);
        assert_eq!(set.sockets()[99], 1099);
        let fd_set = set.as_mut_ptr();
        // SAFETY: the set holds 100 sockets; reading the count and the first entry through the
        // winsock layout stays within them.
        let (count, first) = unsafe { ((*fd_set).fd_count, (*fd_set).fd_array[0]) };
        assert_eq!((count, first), (100, 1000));
        set.clear();
        assert_eq!(set.len(), 0);
    }

    #[test]
    fn timeouts_round_up_to_whole_milliseconds() {
        let tv = timeval(Duration::from_micros(1500));
        assert_eq!((tv.tv_sec, tv.tv_usec), (0, 2000));
        let tv = timeval(Duration::from_nanos(1));
        assert_eq!((tv.tv_sec, tv.tv_usec), (0, 1000));
        let tv = timeval(Duration::from_millis(2500));
        assert_eq!((tv.tv_sec, tv.tv_usec), (2, 500_000));
        let tv = timeval(Duration::ZERO);
        assert_eq!((tv.tv_sec, tv.tv_usec), (0, 0));
    }

    #[test]
    fn a_socket_closed_behind_the_hosts_back_is_dropped() {
        use levent_core::{Engine, Event, SourceKey};
        let mut engine: Engine<u8, 4, 4, 1> = Engine::new(crate::PLATFORM);
        let mut host = Select::new().unwrap();
        let gone = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let kept = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        for (l, datum) in [(&gone, 0), (&kept, 1)] {
            let key = SourceKey(l.as_raw_socket() as usize);
            engine
                .start(Event::read(key).persist(), datum, None)
                .unwrap();
        }
        host.sync(&mut engine).unwrap();
        assert_eq!(host.entries.len(), 2);
        // Closed without a deregistration: select fails with WSAENOTSOCK until it is dropped.
        drop(gone);
        for _ in 0..3 {
            assert_eq!(host.wait(Wait::No, &mut engine), Ok(Turn::Waited));
        }
        assert_eq!(host.entries.len(), 1);
        assert_eq!(host.entries[0].socket, kept.as_raw_socket() as usize);
    }

    #[test]
    fn empty_host_asked_to_wait_forever_never_wakes() {
        let mut engine: levent_core::Engine<u8, 4, 4, 1> =
            levent_core::Engine::new(crate::PLATFORM);
        let mut host = Select::new().unwrap();
        assert_eq!(host.wait(Wait::Forever, &mut engine), Ok(Turn::Never));
    }
}
