//! Record a run and replay it: every input of every turn, in a versioned binary trace.
//!
//! A [`Recorder`] wraps a host ([`Recorder::host`]) and the transports the application reads and
//! writes through ([`Recorder::io`]; streams, listeners, connects and datagram sockets), and
//! writes down everything that came in from outside: each clock reading, each batch of
//! readiness, each signal and wake-up, and for each transport call its result (the bytes a read
//! returned, the count a write took, what an accept or a connect gave, each datagram received
//! and its sender, the errors). It also writes down what the application did (the changes it applied,
//! the bytes it offered to each write, its closes), so that a replay can check them.
//!
//! A [`Replay`] reads a trace back and gives the same application a host and transports with no
//! operating system underneath: every input comes from the trace, and every action of the
//! application is compared with the one recorded. The first difference stops the replay with a
//! [`Divergence`] that names the turn and what differed; a run that does everything the trace
//! says ends with [`Replay::finish`] reporting the number of turns. A trace replays the same way
//! on every operating system.
//!
//! The engine must read its time through the trace too: make it with [`Recorder::platform`] or
//! [`Replay::platform`] (the engine reads the clock by itself between turns). One recording or
//! replay runs per thread at a time, and it belongs to the thread that started it.
//!
//! ```
//! use levent_core::io::Transport;
//! use levent_core::{Engine, Event, Host, Platform};
//! use levent_hosts::net::{SocketId, Sockets};
//! use levent_hosts::trace::{Recorder, Replay};
//!
//! /// The application: written once, run on the real host and on the replay alike.
//! fn ping(host: &mut impl Host, io: &mut impl Transport<Handle = SocketId>, platform: Platform,
//!         a: SocketId, b: SocketId) -> Vec<u8> {
//!     let mut engine: Engine<u8, 4, 4, 1> = Engine::new(platform);
//!     io.write(b, b"ping").unwrap();
//!     engine.start(Event::read(io.source(a)), 1, None).unwrap();
//!     engine.next(host).unwrap().unwrap();
//!     let mut buf = [0u8; 16];
//!     let n = io.read(a, &mut buf).unwrap();
//!     buf[..n].to_vec()
//! }
//!
//! let file = std::env::temp_dir().join(format!("levent-doc-{}.trace", std::process::id()));
//! // Record: real sockets on the real host. The handles go into the metadata.
//! let mut sockets = Sockets::new();
//! let (a, b) = sockets.pair().unwrap();
//! let (ra, rb) = (a.to_raw().to_string(), b.to_raw().to_string());
//! let out = std::fs::File::create(&file).unwrap();
//! let recorder = Recorder::start(&[("a", &ra), ("b", &rb)], out).unwrap();
//! let mut host = recorder.host(levent_hosts::default_host().unwrap());
//! let mut io = recorder.io(sockets);
//! assert_eq!(ping(&mut host, &mut io, recorder.platform(), a, b), b"ping");
//! assert_eq!(recorder.finish().unwrap(), 1); // one turn
//!
//! // Replay: no sockets at all; every input comes from the trace.
//! let replay = Replay::open(&std::fs::read(&file).unwrap()).unwrap();
//! let handle = |k| SocketId::from_raw(replay.meta(k).unwrap().parse().unwrap());
//! let (a, b) = (handle("a"), handle("b"));
//! let (mut host, mut io) = (replay.host(), replay.io());
//! assert_eq!(ping(&mut host, &mut io, replay.platform(), a, b), b"ping");
//! assert_eq!(replay.finish(), Ok(1)); // one turn, identical
//! # std::fs::remove_file(&file).unwrap();
//! ```
//!
//! # The format
//!
//! The trace starts with the 8 bytes `LEVTRACE`, the format version as a little-endian `u16`
//! ([`VERSION`]) and the metadata (key and value strings: the program and its arguments). Then
//! come the records, each a tag byte and its fields: integers as LEB128 varints (signed ones
//! zigzagged), byte strings and strings as a length and the bytes. The last record is the end
//! record that [`Recorder::finish`] writes: a trace without it was cut.

use crate::net::SocketId;
use levent_core::io::{Accept, Connect, Datagram, IoError, Transport};
use levent_core::{
    Attached, Change, Clock, Dispatcher, EventId, Feed, Host, HostError, Interest, Platform, Ready,
    SourceKey, Tick, Token, Turn, Wait,
};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;

/// The version of the trace format this build writes and reads.
pub const VERSION: u16 = 1;

const MAGIC: &[u8; 8] = b"LEVTRACE";

/// The clock of traced engines: nanoseconds, read through the recording or the replay of this
/// thread (the host's monotonic clock when neither runs).
pub const CLOCK: Clock = Clock::new(1_000_000_000, traced_now);

/// A handle a trace can store: one number and back.
pub trait TraceHandle: Copy + PartialEq + fmt::Debug {
    /// The handle as a number.
    fn to_raw(self) -> u64;
    /// The handle `to_raw` made this number of.
    fn from_raw(raw: u64) -> Self;
}

impl TraceHandle for SourceKey {
    fn to_raw(self) -> u64 {
        self.0 as u64
    }
    fn from_raw(raw: u64) -> Self {
        SourceKey(usize::try_from(raw).unwrap_or(usize::MAX))
    }
}

impl TraceHandle for SocketId {
    fn to_raw(self) -> u64 {
        SocketId::to_raw(self)
    }
    fn from_raw(raw: u64) -> Self {
        SocketId::from_raw(raw)
    }
}

/// One record of a trace: an input the run received, or an action of the application that a
/// replay checks.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Record {
    /// A clock reading (the host's, or the engine's own between turns).
    Now(Tick),
    /// The application's engine applied a change; the host's answer.
    Apply(Change, Result<(), HostError>),
    /// A turn's wait began, as the engine asked for it. Each one starts a new turn.
    Wait(Wait),
    /// Readiness the host fed while it waited.
    Io(Vec<(Token, Ready)>),
    /// A signal the host fed: its number and how many deliveries.
    Signal(i32, u32),
    /// A wake-up the host fed (a notifier's queued id).
    User(EventId),
    /// The wait ended.
    Waited(Result<Turn, HostError>),
    /// A notifier was attached; the host's answer.
    Attach(Result<(), HostError>),
    /// The source key of a transport, the first time it was asked for.
    Source(u64, SourceKey),
    /// A read on a transport: the room offered, and the bytes returned or the error.
    Read(u64, usize, Result<Vec<u8>, IoError>),
    /// A write on a transport: the bytes offered, and how many it took or the error.
    Write(u64, Vec<u8>, Result<usize, IoError>),
    /// Writing was shut down.
    Shutdown(u64, Result<(), IoError>),
    /// Whether a connect completed.
    Connected(u64, Result<(), IoError>),
    /// The transport was closed.
    Close(u64),
    /// Whether the transport held bytes back.
    Buffered(u64, bool),
    /// The transport flushed what it queued by itself.
    Flush(u64, Result<bool, IoError>),
    /// The peer address of a transport.
    Peer(u64, Option<SocketAddr>),
    /// An accept on a listener: the new transport or the error.
    Accept(u64, Result<u64, IoError>),
    /// A connect started: the address, and the new transport or the error.
    Connect(SocketAddr, Result<u64, IoError>),
    /// A datagram socket was bound: the address asked for, and the socket or the error.
    Bind(SocketAddr, Result<u64, IoError>),
    /// The address a datagram socket is bound to.
    LocalAddr(u64, Result<SocketAddr, IoError>),
    /// A datagram sent: its bytes and destination, and how many were taken or the error.
    SendTo(u64, Vec<u8>, SocketAddr, Result<usize, IoError>),
    /// A datagram received: the room offered, and its bytes and sender or the error.
    RecvFrom(u64, usize, Result<(Vec<u8>, SocketAddr), IoError>),
    /// A datagram socket was closed.
    CloseDatagram(u64),
    /// The end of the trace.
    End,
}

const TAG_IO: u8 = 4;
const TAG_READ: u8 = 10;
const TAG_WRITE: u8 = 11;

impl Record {
    fn tag(&self) -> u8 {
        match self {
            Record::Now(_) => 1,
            Record::Apply(..) => 2,
            Record::Wait(_) => 3,
            Record::Io(_) => TAG_IO,
            Record::Signal(..) => 5,
            Record::User(_) => 6,
            Record::Waited(_) => 7,
            Record::Attach(_) => 8,
            Record::Source(..) => 9,
            Record::Read(..) => TAG_READ,
            Record::Write(..) => TAG_WRITE,
            Record::Shutdown(..) => 12,
            Record::Connected(..) => 13,
            Record::Close(_) => 14,
            Record::Buffered(..) => 15,
            Record::Flush(..) => 16,
            Record::Peer(..) => 17,
            Record::Accept(..) => 18,
            Record::Connect(..) => 19,
            Record::End => 20,
            Record::Bind(..) => 21,
            Record::LocalAddr(..) => 22,
            Record::SendTo(..) => 23,
            Record::RecvFrom(..) => 24,
            Record::CloseDatagram(_) => 25,
        }
    }
}

/// Why a trace cannot be read.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum TraceError {
    /// The data does not start with `LEVTRACE`: not a trace.
    NotATrace,
    /// A trace of another version of the format.
    Version(u16),
    /// The trace ends inside a record or before its end record: it was cut at this byte.
    Cut(usize),
    /// A record that cannot be decoded, at this byte, and why.
    Corrupt(usize, &'static str),
    /// A recording or replay already runs on this thread.
    Busy,
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceError::NotATrace => f.write_str("not a levent trace (no LEVTRACE header)"),
            TraceError::Version(v) => write!(
                f,
                "a trace of format version {v}; this build reads version {VERSION}"
            ),
            TraceError::Cut(at) => write!(
                f,
                "the trace is cut: it ends at byte {at} without its end record"
            ),
            TraceError::Corrupt(at, why) => write!(f, "the trace is corrupt at byte {at}: {why}"),
            TraceError::Busy => f.write_str("a recording or replay already runs on this thread"),
        }
    }
}

impl std::error::Error for TraceError {}

impl From<TraceError> for io::Error {
    fn from(e: TraceError) -> io::Error {
        let kind = match e {
            TraceError::Busy => io::ErrorKind::ResourceBusy,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e)
    }
}

/// Where a replay first differed from its trace.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Divergence {
    /// The turn: how many waits had begun (0 before the first).
    pub turn: u64,
    /// What the trace holds next and what the application did instead.
    pub what: String,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "diverged at turn {}: {}", self.turn, self.what)
    }
}

impl std::error::Error for Divergence {}

// ---------------------------------------------------------------------------------------------
// Encoding

fn put_u(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn put_i(out: &mut Vec<u8>, v: i64) {
    put_u(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn put_addr(out: &mut Vec<u8>, a: &SocketAddr) {
    match a.ip() {
        IpAddr::V4(ip) => {
            out.push(4);
            out.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out.push(6);
            out.extend_from_slice(&ip.octets());
        }
    }
    put_u(out, u64::from(a.port()));
}

fn put_host_result<T>(
    out: &mut Vec<u8>,
    r: &Result<T, HostError>,
    ok: impl FnOnce(&mut Vec<u8>, &T),
) {
    match r {
        Ok(v) => {
            out.push(0);
            ok(out, v);
        }
        Err(HostError::Os(code)) => {
            out.push(1);
            put_i(out, i64::from(*code));
        }
        Err(HostError::Capacity) => out.push(2),
        Err(HostError::Other(what)) => {
            out.push(3);
            put_bytes(out, what.as_bytes());
        }
        Err(_) => {
            out.push(3);
            put_bytes(out, b"host error");
        }
    }
}

fn put_io_error(out: &mut Vec<u8>, e: &IoError) {
    let code = match e {
        IoError::WouldBlock => 1,
        IoError::Interrupted => 2,
        IoError::Reset => 3,
        IoError::BrokenPipe => 4,
        IoError::Refused => 5,
        IoError::Unreachable => 6,
        IoError::TimedOut => 7,
        IoError::Aborted => 8,
        IoError::NoDescriptors => 9,
        IoError::AddrInUse => 10,
        IoError::Closed => 11,
        IoError::NotConnected => 12,
        IoError::Protocol(what) => {
            out.push(13);
            put_bytes(out, what.as_bytes());
            return;
        }
        IoError::Other(code) => {
            out.push(14);
            put_i(out, i64::from(*code));
            return;
        }
        _ => {
            out.push(14);
            put_i(out, 0);
            return;
        }
    };
    out.push(code);
}

fn put_io_result<T>(out: &mut Vec<u8>, r: &Result<T, IoError>, ok: impl FnOnce(&mut Vec<u8>, &T)) {
    match r {
        Ok(v) => {
            out.push(0);
            ok(out, v);
        }
        Err(e) => put_io_error(out, e),
    }
}

fn put_wait(out: &mut Vec<u8>, w: Wait) {
    match w {
        Wait::No => out.push(0),
        Wait::Until(t) => {
            out.push(1);
            put_u(out, t);
        }
        Wait::Forever => out.push(2),
    }
}

fn put_change(out: &mut Vec<u8>, c: &Change) {
    match *c {
        Change::Io {
            key,
            token,
            old,
            new,
            edge,
        } => {
            out.push(0);
            put_u(out, key.0 as u64);
            put_u(out, token.0);
            out.push(old.bits());
            out.push(new.bits());
            out.push(u8::from(edge));
        }
        Change::Signal { signo, watch } => {
            out.push(1);
            put_i(out, i64::from(signo));
            out.push(u8::from(watch));
        }
    }
}

// The records a busy server writes most, encoded from borrowed data (no copy on the way).

fn put_batch(out: &mut Vec<u8>, batch: &[(Token, Ready)]) {
    put_u(out, batch.len() as u64);
    for (token, ready) in batch {
        put_u(out, token.0);
        out.push(ready.bits());
    }
}

fn put_read(out: &mut Vec<u8>, h: u64, room: usize, res: Result<&[u8], &IoError>) {
    put_u(out, h);
    put_u(out, room as u64);
    match res {
        Ok(b) => {
            out.push(0);
            put_bytes(out, b);
        }
        Err(e) => put_io_error(out, e),
    }
}

fn put_write(out: &mut Vec<u8>, h: u64, data: &[u8], res: Result<usize, IoError>) {
    put_u(out, h);
    put_bytes(out, data);
    put_io_result(out, &res, |out, n| put_u(out, *n as u64));
}

/// Append `r` to `out` in the trace format.
fn encode(out: &mut Vec<u8>, r: &Record) {
    out.push(r.tag());
    match r {
        Record::Now(t) => put_u(out, *t),
        Record::Apply(c, res) => {
            put_change(out, c);
            put_host_result(out, res, |_, ()| {});
        }
        Record::Wait(w) => put_wait(out, *w),
        Record::Io(batch) => put_batch(out, batch),
        Record::Signal(signo, count) => {
            put_i(out, i64::from(*signo));
            put_u(out, u64::from(*count));
        }
        Record::User(id) => put_u(out, id.to_raw()),
        Record::Waited(res) => put_host_result(out, res, |out, t| {
            out.push(match t {
                Turn::Waited => 0,
                Turn::Never => 1,
                Turn::Yielded => 2,
            });
        }),
        Record::Attach(res) => put_host_result(out, res, |_, ()| {}),
        Record::Source(h, key) => {
            put_u(out, *h);
            put_u(out, key.0 as u64);
        }
        Record::Read(h, room, res) => put_read(out, *h, *room, res.as_deref()),
        Record::Write(h, data, res) => put_write(out, *h, data, *res),
        Record::Shutdown(h, res) | Record::Connected(h, res) => {
            put_u(out, *h);
            put_io_result(out, res, |_, ()| {});
        }
        Record::Close(h) => put_u(out, *h),
        Record::Buffered(h, yes) => {
            put_u(out, *h);
            out.push(u8::from(*yes));
        }
        Record::Flush(h, res) => {
            put_u(out, *h);
            put_io_result(out, res, |out, done| out.push(u8::from(*done)));
        }
        Record::Peer(h, addr) => {
            put_u(out, *h);
            match addr {
                None => out.push(0),
                Some(a) => {
                    out.push(1);
                    put_addr(out, a);
                }
            }
        }
        Record::Accept(h, res) => {
            put_u(out, *h);
            put_io_result(out, res, |out, new| put_u(out, *new));
        }
        Record::Connect(to, res) | Record::Bind(to, res) => {
            put_addr(out, to);
            put_io_result(out, res, |out, new| put_u(out, *new));
        }
        Record::LocalAddr(h, res) => {
            put_u(out, *h);
            put_io_result(out, res, put_addr);
        }
        Record::SendTo(h, data, to, res) => {
            put_u(out, *h);
            put_bytes(out, data);
            put_addr(out, to);
            put_io_result(out, res, |out, n| put_u(out, *n as u64));
        }
        Record::RecvFrom(h, room, res) => {
            put_u(out, *h);
            put_u(out, *room as u64);
            put_io_result(out, res, |out, (data, from)| {
                put_bytes(out, data);
                put_addr(out, from);
            });
        }
        Record::CloseDatagram(h) => put_u(out, *h),
        Record::End => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// A cursor over trace bytes that fails with the position.
struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

/// Error strings met in traces, leaked once each (for the process) so that `&'static str` errors
/// replay.
static STRINGS: std::sync::Mutex<std::collections::BTreeSet<&'static str>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

type Decoded<T> = Result<T, TraceError>;

impl Reader<'_> {
    fn byte(&mut self) -> Decoded<u8> {
        let b = *self.data.get(self.at).ok_or(TraceError::Cut(self.at))?;
        self.at += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Decoded<&[u8]> {
        let end = self.at.checked_add(n).ok_or(TraceError::Cut(self.at))?;
        let b = self
            .data
            .get(self.at..end)
            .ok_or(TraceError::Cut(self.data.len()))?;
        self.at = end;
        Ok(b)
    }

    fn u(&mut self) -> Decoded<u64> {
        let start = self.at;
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                if shift == 63 && b > 1 {
                    break;
                }
                return Ok(v);
            }
        }
        Err(TraceError::Corrupt(start, "a number longer than 64 bits"))
    }

    fn i(&mut self) -> Decoded<i64> {
        let z = self.u()?;
        Ok((z >> 1) as i64 ^ -((z & 1) as i64))
    }

    fn i32(&mut self) -> Decoded<i32> {
        let at = self.at;
        i32::try_from(self.i()?).map_err(|_| TraceError::Corrupt(at, "a number out of range"))
    }

    fn u32(&mut self) -> Decoded<u32> {
        let at = self.at;
        u32::try_from(self.u()?).map_err(|_| TraceError::Corrupt(at, "a number out of range"))
    }

    fn usize(&mut self) -> Decoded<usize> {
        let at = self.at;
        usize::try_from(self.u()?).map_err(|_| TraceError::Corrupt(at, "a number out of range"))
    }

    fn bool(&mut self) -> Decoded<bool> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(TraceError::Corrupt(
                self.at - 1,
                "a flag that is neither 0 nor 1",
            )),
        }
    }

    fn bytes(&mut self) -> Decoded<Vec<u8>> {
        let n = self.usize()?;
        Ok(self.take(n)?.to_vec())
    }

    fn string(&mut self) -> Decoded<String> {
        let at = self.at;
        String::from_utf8(self.bytes()?)
            .map_err(|_| TraceError::Corrupt(at, "a string that is not UTF-8"))
    }

    fn static_str(&mut self) -> Decoded<&'static str> {
        let s = self.string()?;
        let mut strings = STRINGS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(match strings.get(s.as_str()) {
            Some(&known) => known,
            None => {
                let leaked: &'static str = Box::leak(s.into_boxed_str());
                strings.insert(leaked);
                leaked
            }
        })
    }

    fn addr(&mut self) -> Decoded<SocketAddr> {
        let ip = match self.byte()? {
            4 => {
                let b: [u8; 4] = self
                    .take(4)?
                    .try_into()
                    .map_err(|_| TraceError::Cut(self.at))?;
                IpAddr::V4(Ipv4Addr::from(b))
            }
            6 => {
                let b: [u8; 16] = self
                    .take(16)?
                    .try_into()
                    .map_err(|_| TraceError::Cut(self.at))?;
                IpAddr::V6(Ipv6Addr::from(b))
            }
            _ => {
                return Err(TraceError::Corrupt(
                    self.at - 1,
                    "an address of no known family",
                ));
            }
        };
        let at = self.at;
        let port =
            u16::try_from(self.u()?).map_err(|_| TraceError::Corrupt(at, "a port above 65535"))?;
        Ok(SocketAddr::new(ip, port))
    }

    fn host_result<T>(
        &mut self,
        ok: impl FnOnce(&mut Self) -> Decoded<T>,
    ) -> Decoded<Result<T, HostError>> {
        Ok(match self.byte()? {
            0 => Ok(ok(self)?),
            1 => Err(HostError::Os(self.i32()?)),
            2 => Err(HostError::Capacity),
            3 => Err(HostError::Other(self.static_str()?)),
            _ => return Err(TraceError::Corrupt(self.at - 1, "an unknown host result")),
        })
    }

    fn io_result<T>(
        &mut self,
        ok: impl FnOnce(&mut Self) -> Decoded<T>,
    ) -> Decoded<Result<T, IoError>> {
        let e = match self.byte()? {
            0 => return Ok(Ok(ok(self)?)),
            1 => IoError::WouldBlock,
            2 => IoError::Interrupted,
            3 => IoError::Reset,
            4 => IoError::BrokenPipe,
            5 => IoError::Refused,
            6 => IoError::Unreachable,
            7 => IoError::TimedOut,
            8 => IoError::Aborted,
            9 => IoError::NoDescriptors,
            10 => IoError::AddrInUse,
            11 => IoError::Closed,
            12 => IoError::NotConnected,
            13 => IoError::Protocol(self.static_str()?),
            14 => IoError::Other(self.i32()?),
            _ => {
                return Err(TraceError::Corrupt(
                    self.at - 1,
                    "an unknown transport result",
                ));
            }
        };
        Ok(Err(e))
    }

    fn wait(&mut self) -> Decoded<Wait> {
        Ok(match self.byte()? {
            0 => Wait::No,
            1 => Wait::Until(self.u()?),
            2 => Wait::Forever,
            _ => return Err(TraceError::Corrupt(self.at - 1, "an unknown kind of wait")),
        })
    }

    fn change(&mut self) -> Decoded<Change> {
        Ok(match self.byte()? {
            0 => Change::Io {
                key: SourceKey(self.usize()?),
                token: Token(self.u()?),
                old: Interest::from_bits(self.byte()?),
                new: Interest::from_bits(self.byte()?),
                edge: self.bool()?,
            },
            1 => Change::Signal {
                signo: self.i32()?,
                watch: self.bool()?,
            },
            _ => {
                return Err(TraceError::Corrupt(
                    self.at - 1,
                    "an unknown kind of change",
                ));
            }
        })
    }

    fn record(&mut self) -> Decoded<Record> {
        let at = self.at;
        Ok(match self.byte()? {
            1 => Record::Now(self.u()?),
            2 => Record::Apply(self.change()?, self.host_result(|_| Ok(()))?),
            3 => Record::Wait(self.wait()?),
            4 => {
                let n = self.usize()?;
                // Each entry takes at least 2 bytes: a count beyond that is corrupt, not a
                // reason to reserve memory.
                if n > (self.data.len() - self.at) / 2 {
                    return Err(TraceError::Corrupt(
                        at,
                        "a readiness batch longer than the trace",
                    ));
                }
                let mut batch = Vec::with_capacity(n);
                for _ in 0..n {
                    batch.push((Token(self.u()?), Ready::from_bits(self.byte()?)));
                }
                Record::Io(batch)
            }
            5 => Record::Signal(self.i32()?, self.u32()?),
            6 => Record::User(EventId::from_raw(self.u()?)),
            7 => Record::Waited(self.host_result(|r| {
                Ok(match r.byte()? {
                    0 => Turn::Waited,
                    1 => Turn::Never,
                    2 => Turn::Yielded,
                    _ => return Err(TraceError::Corrupt(r.at - 1, "an unknown end of a wait")),
                })
            })?),
            8 => Record::Attach(self.host_result(|_| Ok(()))?),
            9 => Record::Source(self.u()?, SourceKey(self.usize()?)),
            10 => {
                let r = Record::Read(self.u()?, self.usize()?, self.io_result(Reader::bytes)?);
                if let Record::Read(_, room, Ok(b)) = &r
                    && b.len() > *room
                {
                    return Err(TraceError::Corrupt(
                        at,
                        "a read of more bytes than its room",
                    ));
                }
                r
            }
            11 => {
                let r = Record::Write(self.u()?, self.bytes()?, self.io_result(Reader::usize)?);
                if let Record::Write(_, data, Ok(n)) = &r
                    && *n > data.len()
                {
                    return Err(TraceError::Corrupt(
                        at,
                        "a write that took more than offered",
                    ));
                }
                r
            }
            12 => Record::Shutdown(self.u()?, self.io_result(|_| Ok(()))?),
            13 => Record::Connected(self.u()?, self.io_result(|_| Ok(()))?),
            14 => Record::Close(self.u()?),
            15 => Record::Buffered(self.u()?, self.bool()?),
            16 => Record::Flush(self.u()?, self.io_result(Reader::bool)?),
            17 => {
                let h = self.u()?;
                let addr = if self.bool()? {
                    Some(self.addr()?)
                } else {
                    None
                };
                Record::Peer(h, addr)
            }
            18 => Record::Accept(self.u()?, self.io_result(Reader::u)?),
            19 => Record::Connect(self.addr()?, self.io_result(Reader::u)?),
            20 => Record::End,
            21 => Record::Bind(self.addr()?, self.io_result(Reader::u)?),
            22 => Record::LocalAddr(self.u()?, self.io_result(Reader::addr)?),
            23 => {
                let r = Record::SendTo(
                    self.u()?,
                    self.bytes()?,
                    self.addr()?,
                    self.io_result(Reader::usize)?,
                );
                if let Record::SendTo(_, data, _, Ok(n)) = &r
                    && *n > data.len()
                {
                    return Err(TraceError::Corrupt(
                        at,
                        "a send that took more than offered",
                    ));
                }
                r
            }
            24 => {
                let r = Record::RecvFrom(
                    self.u()?,
                    self.usize()?,
                    self.io_result(|r| Ok((r.bytes()?, r.addr()?)))?,
                );
                if let Record::RecvFrom(_, room, Ok((b, _))) = &r
                    && b.len() > *room
                {
                    return Err(TraceError::Corrupt(at, "a datagram longer than its room"));
                }
                r
            }
            25 => Record::CloseDatagram(self.u()?),
            _ => return Err(TraceError::Corrupt(at, "an unknown record")),
        })
    }
}

/// A whole trace, read and checked: its metadata and its records.
#[derive(Clone, Debug)]
pub struct Trace {
    meta: Vec<(String, String)>,
    records: Vec<Record>,
}

impl Trace {
    /// Read a trace: refused with a [`TraceError`] when it is not a trace, of another format
    /// version, cut, or corrupt.
    pub fn parse(data: &[u8]) -> Result<Trace, TraceError> {
        if data.len() < MAGIC.len() || &data[..MAGIC.len()] != MAGIC {
            return Err(TraceError::NotATrace);
        }
        let mut r = Reader {
            data,
            at: MAGIC.len(),
        };
        let v = r.take(2)?;
        let version = u16::from_le_bytes([v[0], v[1]]);
        if version != VERSION {
            return Err(TraceError::Version(version));
        }
        let n = r.usize()?;
        let mut meta = Vec::new();
        for _ in 0..n {
            meta.push((r.string()?, r.string()?));
        }
        let mut records = Vec::new();
        loop {
            if r.at == data.len() {
                return Err(TraceError::Cut(r.at));
            }
            let rec = r.record()?;
            if rec == Record::End {
                if r.at != data.len() {
                    return Err(TraceError::Corrupt(r.at, "bytes after the end record"));
                }
                break;
            }
            records.push(rec);
        }
        Ok(Trace { meta, records })
    }

    /// The value the recording gave `key` in its metadata.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.meta
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every metadata entry, in the order recorded.
    pub fn meta_entries(&self) -> &[(String, String)] {
        &self.meta
    }

    /// The records, in the order they happened (without the end record).
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// How many turns the trace holds (waits begun).
    pub fn turns(&self) -> u64 {
        self.records
            .iter()
            .filter(|r| matches!(r, Record::Wait(_)))
            .count() as u64
    }
}

// ---------------------------------------------------------------------------------------------
// The thread's recording or replay

enum Active {
    Recording(Rc<RefCell<Tape>>),
    Replaying(Rc<RefCell<Script>>),
}

thread_local! {
    static ACTIVE: RefCell<Option<Active>> = const { RefCell::new(None) };
}

fn traced_now() -> Tick {
    let active = ACTIVE.with(|a| match &*a.borrow() {
        None => None,
        Some(Active::Recording(t)) => Some(Active::Recording(t.clone())),
        Some(Active::Replaying(s)) => Some(Active::Replaying(s.clone())),
    });
    match active {
        None => crate::clock::now(),
        Some(Active::Recording(tape)) => {
            let now = crate::clock::now();
            tape.borrow_mut().put(&Record::Now(now));
            now
        }
        Some(Active::Replaying(script)) => script.borrow_mut().now(),
    }
}

fn activate(a: Active) -> Result<(), TraceError> {
    ACTIVE.with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.is_some() {
            return Err(TraceError::Busy);
        }
        *slot = Some(a);
        Ok(())
    })
}

fn deactivate() {
    ACTIVE.with(|slot| slot.borrow_mut().take());
}

// ---------------------------------------------------------------------------------------------
// Recording

/// The recording's buffer and sink.
struct Tape {
    buf: Vec<u8>,
    out: Box<dyn Write>,
    /// The first failure to write the trace; the recording host fails its next wait with it.
    failed: Option<io::Error>,
    /// Handles whose source key is written down.
    announced: HashMap<u64, SourceKey>,
    turns: u64,
}

const FLUSH_AT: usize = 64 * 1024;

impl Tape {
    fn put(&mut self, r: &Record) {
        encode(&mut self.buf, r);
        self.maybe_flush();
    }

    /// Append a record of tag `tag` whose fields `fields` encodes.
    fn put_with(&mut self, tag: u8, fields: impl FnOnce(&mut Vec<u8>)) {
        self.buf.push(tag);
        fields(&mut self.buf);
        self.maybe_flush();
    }

    fn maybe_flush(&mut self) {
        if self.buf.len() >= FLUSH_AT {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.failed.is_none()
            && let Err(e) = self.out.write_all(&self.buf)
        {
            self.failed = Some(e);
        }
        self.buf.clear();
    }
}

/// Records a run to a trace: wrap the host with [`host`](Self::host), each transport with
/// [`io`](Self::io), make the engine with [`platform`](Self::platform), then run the
/// application as usual and call [`finish`](Self::finish) at the end.
pub struct Recorder {
    tape: Rc<RefCell<Tape>>,
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder")
            .field("turns", &self.tape.borrow().turns)
            .finish()
    }
}

impl Recorder {
    /// Start recording on this thread into `out`, with `meta` (the program and its arguments,
    /// what a replay needs to start the same program) in the header. The trace is buffered and
    /// written as it grows; [`finish`](Self::finish) writes the rest. Fails with
    /// [`TraceError::Busy`] (as an `io::Error`) when a recording or replay already runs on
    /// this thread, or with the error writing the header.
    pub fn start(meta: &[(&str, &str)], out: impl Write + 'static) -> io::Result<Recorder> {
        let mut buf = Vec::with_capacity(FLUSH_AT * 2);
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&VERSION.to_le_bytes());
        put_u(&mut buf, meta.len() as u64);
        for (k, v) in meta {
            put_bytes(&mut buf, k.as_bytes());
            put_bytes(&mut buf, v.as_bytes());
        }
        let tape = Rc::new(RefCell::new(Tape {
            buf,
            out: Box::new(out),
            failed: None,
            announced: HashMap::new(),
            turns: 0,
        }));
        activate(Active::Recording(tape.clone()))?;
        Ok(Recorder { tape })
    }

    /// The platform for the recorded engine: this host's signals, and its clock read through
    /// the recording.
    pub fn platform(&self) -> Platform {
        Platform {
            clock: CLOCK,
            signals: crate::PLATFORM.signals,
        }
    }

    /// `host`, recorded.
    pub fn host<H: Host>(&self, host: H) -> Recorded<H> {
        self.wrap(host)
    }

    /// `io`, recorded.
    pub fn io<IO: Transport>(&self, io: IO) -> Recorded<IO>
    where
        IO::Handle: TraceHandle,
    {
        self.wrap(io)
    }

    /// `inner` recorded as whatever it is: a host, a transport, or both at once (a simulated
    /// network such as `sim::SimNet` is its own transport).
    pub fn wrap<T>(&self, inner: T) -> Recorded<T> {
        Recorded {
            inner,
            tape: self.tape.clone(),
        }
    }

    /// Write the end record and the rest of the trace, stop recording on this thread, and say
    /// how many turns were recorded. Fails with the first error writing the trace met.
    pub fn finish(self) -> io::Result<u64> {
        deactivate();
        let mut tape = self.tape.borrow_mut();
        tape.put(&Record::End);
        tape.flush();
        if let Some(e) = tape.failed.take() {
            return Err(e);
        }
        tape.out.flush()?;
        Ok(tape.turns)
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // A recorder dropped without `finish` stops recording too (its trace has no end).
        ACTIVE.with(|slot| {
            let mut slot = slot.borrow_mut();
            if matches!(&*slot, Some(Active::Recording(t)) if Rc::ptr_eq(t, &self.tape)) {
                *slot = None;
            }
        });
    }
}

/// A host or transport (or both) whose inputs are recorded ([`Recorder::host`],
/// [`Recorder::io`], [`Recorder::wrap`]).
pub struct Recorded<T> {
    inner: T,
    tape: Rc<RefCell<Tape>>,
}

impl<T: fmt::Debug> fmt::Debug for Recorded<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Recorded").field(&self.inner).finish()
    }
}

impl<T> Recorded<T> {
    /// What is recorded (what is done through it directly is not recorded).
    pub fn inner(&mut self) -> &mut T {
        &mut self.inner
    }

    fn put(&self, r: &Record) {
        self.tape.borrow_mut().put(r);
    }

    /// `key`, the source of handle `raw`, written down the first time it is asked for (and
    /// again if the handle now names another source).
    fn announce(&self, raw: u64, key: SourceKey) -> SourceKey {
        let mut tape = self.tape.borrow_mut();
        if tape.announced.get(&raw) != Some(&key) {
            tape.announced.insert(raw, key);
            tape.put(&Record::Source(raw, key));
        }
        key
    }

    /// Write down the close `r` of handle `raw`, which forgets its source.
    fn closing(&self, raw: u64, r: &Record) {
        let mut tape = self.tape.borrow_mut();
        tape.announced.remove(&raw);
        tape.put(r);
    }
}

/// The feed of a recorded wait: writes down each input, then passes it on.
struct RecordFeed<'a> {
    inner: &'a mut dyn Feed,
    tape: &'a RefCell<Tape>,
}

impl Feed for RecordFeed<'_> {
    fn feed_io(&mut self, batch: &[(Token, Ready)]) {
        self.tape
            .borrow_mut()
            .put_with(TAG_IO, |out| put_batch(out, batch));
        self.inner.feed_io(batch);
    }
    fn feed_signal(&mut self, signo: i32, count: u32) {
        self.tape.borrow_mut().put(&Record::Signal(signo, count));
        self.inner.feed_signal(signo, count);
    }
    fn feed_user(&mut self, id: EventId) {
        self.tape.borrow_mut().put(&Record::User(id));
        self.inner.feed_user(id);
    }
}

impl<H: Host> Host for Recorded<H> {
    fn clock(&self) -> Option<Clock> {
        self.inner.clock().map(|_| CLOCK)
    }

    fn apply(&mut self, change: Change) -> Result<(), HostError> {
        let r = self.inner.apply(change);
        self.put(&Record::Apply(change, r));
        r
    }

    fn wait(&mut self, wait: Wait, feed: &mut dyn Feed) -> Result<Turn, HostError> {
        {
            let mut tape = self.tape.borrow_mut();
            if tape.failed.is_some() {
                return Err(HostError::Other("writing the trace failed"));
            }
            tape.turns += 1;
            tape.put(&Record::Wait(wait));
        }
        let r = self.inner.wait(
            wait,
            &mut RecordFeed {
                inner: feed,
                tape: &self.tape,
            },
        );
        self.put(&Record::Waited(r));
        r
    }

    fn now(&mut self) -> Tick {
        let now = self.inner.now();
        self.put(&Record::Now(now));
        now
    }

    fn attach(&mut self, notifier: Attached) -> Result<(), HostError> {
        let r = self.inner.attach(notifier);
        self.put(&Record::Attach(r));
        r
    }

    fn wake_at(&mut self) -> Option<Tick> {
        self.inner.wake_at()
    }

    fn register_waker(&mut self, waker: &core::task::Waker) {
        self.inner.register_waker(waker);
    }

    /// Each change applied (and recorded) as a turn would, then the inner host's own `sync`,
    /// for hosts that submit queued changes there (kqueue).
    fn sync(&mut self, d: &mut dyn Dispatcher) -> Result<(), HostError> {
        while let Some(change) = d.next_change() {
            self.apply(change)?;
        }
        self.inner.sync(d)
    }
}

impl<IO: Transport> Transport for Recorded<IO>
where
    IO::Handle: TraceHandle,
{
    type Handle = IO::Handle;

    fn source(&self, h: Self::Handle) -> SourceKey {
        self.announce(h.to_raw(), self.inner.source(h))
    }

    fn read(&mut self, h: Self::Handle, buf: &mut [u8]) -> Result<usize, IoError> {
        let r = self.inner.read(h, buf);
        let got = r.as_ref().map(|&n| buf.get(..n).unwrap_or(buf));
        self.tape
            .borrow_mut()
            .put_with(TAG_READ, |out| put_read(out, h.to_raw(), buf.len(), got));
        r
    }

    fn write(&mut self, h: Self::Handle, buf: &[u8]) -> Result<usize, IoError> {
        let r = self.inner.write(h, buf);
        self.tape
            .borrow_mut()
            .put_with(TAG_WRITE, |out| put_write(out, h.to_raw(), buf, r));
        r
    }

    fn shutdown_write(&mut self, h: Self::Handle) -> Result<(), IoError> {
        let r = self.inner.shutdown_write(h);
        self.put(&Record::Shutdown(h.to_raw(), r));
        r
    }

    fn connected(&mut self, h: Self::Handle) -> Result<(), IoError> {
        let r = self.inner.connected(h);
        self.put(&Record::Connected(h.to_raw(), r));
        r
    }

    fn close(&mut self, d: &mut dyn Dispatcher, h: Self::Handle) {
        self.closing(h.to_raw(), &Record::Close(h.to_raw()));
        self.inner.close(d, h);
    }

    fn buffered(&mut self, h: Self::Handle) -> bool {
        let r = self.inner.buffered(h);
        self.put(&Record::Buffered(h.to_raw(), r));
        r
    }

    fn flush(&mut self, h: Self::Handle) -> Result<bool, IoError> {
        let r = self.inner.flush(h);
        self.put(&Record::Flush(h.to_raw(), r));
        r
    }

    fn peer_addr(&self, h: Self::Handle) -> Option<SocketAddr> {
        let r = self.inner.peer_addr(h);
        self.put(&Record::Peer(h.to_raw(), r));
        r
    }
}

impl<IO: Accept> Accept for Recorded<IO>
where
    IO::Handle: TraceHandle,
{
    fn accept(&mut self, h: Self::Handle) -> Result<Self::Handle, IoError> {
        let r = self.inner.accept(h);
        self.put(&Record::Accept(h.to_raw(), r.map(TraceHandle::to_raw)));
        r
    }
}

impl<IO: Connect> Connect for Recorded<IO>
where
    IO::Handle: TraceHandle,
{
    fn connect(&mut self, to: SocketAddr) -> Result<Self::Handle, IoError> {
        let r = self.inner.connect(to);
        self.put(&Record::Connect(to, r.map(TraceHandle::to_raw)));
        r
    }
}

impl<D: Datagram> Datagram for Recorded<D>
where
    D::Handle: TraceHandle,
{
    type Handle = D::Handle;

    fn bind(&mut self, local: SocketAddr) -> Result<Self::Handle, IoError> {
        let r = self.inner.bind(local);
        self.put(&Record::Bind(local, r.map(TraceHandle::to_raw)));
        r
    }

    fn source(&self, h: Self::Handle) -> SourceKey {
        self.announce(h.to_raw(), self.inner.source(h))
    }

    fn local_addr(&self, h: Self::Handle) -> Result<SocketAddr, IoError> {
        let r = self.inner.local_addr(h);
        self.put(&Record::LocalAddr(h.to_raw(), r));
        r
    }

    fn send_to(&mut self, h: Self::Handle, buf: &[u8], to: SocketAddr) -> Result<usize, IoError> {
        let r = self.inner.send_to(h, buf, to);
        self.put(&Record::SendTo(h.to_raw(), buf.to_vec(), to, r));
        r
    }

    fn recv_from(
        &mut self,
        h: Self::Handle,
        buf: &mut [u8],
    ) -> Result<(usize, SocketAddr), IoError> {
        let r = self.inner.recv_from(h, buf);
        let got = r.map(|(n, from)| (buf.get(..n).unwrap_or(buf).to_vec(), from));
        self.put(&Record::RecvFrom(h.to_raw(), buf.len(), got));
        r
    }

    fn close(&mut self, d: &mut dyn Dispatcher, h: Self::Handle) {
        self.closing(h.to_raw(), &Record::CloseDatagram(h.to_raw()));
        self.inner.close(d, h);
    }
}

// ---------------------------------------------------------------------------------------------
// Replay

/// The records a replay feeds and checks, and where it is.
struct Script {
    records: Vec<Record>,
    at: usize,
    turn: u64,
    diverged: Option<Divergence>,
    sources: HashMap<u64, SourceKey>,
    last_now: Tick,
}

/// What a replayed call returns once the replay diverged.
const DIVERGED: &str = "the replay diverged from its trace";

impl Script {
    /// The next record if `pick` accepts it (consumed); otherwise the divergence is noted,
    /// described by `did` (what the application did).
    fn expect<T>(
        &mut self,
        did: impl FnOnce() -> String,
        pick: impl FnOnce(&Record) -> Option<T>,
    ) -> Option<T> {
        if self.diverged.is_some() {
            return None;
        }
        let next = self.records.get(self.at);
        if let Some(v) = next.and_then(pick) {
            self.at += 1;
            return Some(v);
        }
        let what = match next {
            Some(r) => format!("the trace holds {}, the application {}", describe(r), did()),
            None => format!("the trace has ended, the application {}", did()),
        };
        self.diverged = Some(Divergence {
            turn: self.turn,
            what,
        });
        None
    }

    fn now(&mut self) -> Tick {
        let r = self.expect(
            || "read the clock".into(),
            |r| match r {
                Record::Now(t) => Some(*t),
                _ => None,
            },
        );
        if let Some(t) = r {
            self.last_now = t;
        }
        self.last_now
    }
}

/// A record in words, for a divergence.
fn describe(r: &Record) -> String {
    match r {
        Record::Now(_) => "a clock reading".into(),
        Record::Apply(c, _) => format!("the change {c:?}"),
        Record::Wait(w) => format!("a wait ({w:?})"),
        Record::Io(b) => format!("readiness {b:?}"),
        Record::Signal(s, n) => format!("signal {s} ({n} deliveries)"),
        Record::User(_) => "a wake-up".into(),
        Record::Waited(_) => "the end of a wait".into(),
        Record::Attach(_) => "a notifier attached".into(),
        Record::Source(h, _) => format!("the source of transport {h:#x} asked for"),
        Record::Read(h, room, _) => {
            format!("a read of transport {h:#x} with room for {room} bytes")
        }
        Record::Write(h, data, _) => format!(
            "a write of {} bytes to transport {h:#x}: {}",
            data.len(),
            shown(data)
        ),
        Record::Shutdown(h, _) => format!("writing of transport {h:#x} shut down"),
        Record::Connected(h, _) => format!("a connect check of transport {h:#x}"),
        Record::Close(h) => format!("transport {h:#x} closed"),
        Record::Buffered(h, _) => format!("a buffered check of transport {h:#x}"),
        Record::Flush(h, _) => format!("a flush of transport {h:#x}"),
        Record::Peer(h, _) => format!("the peer of transport {h:#x} asked for"),
        Record::Accept(h, _) => format!("an accept on transport {h:#x}"),
        Record::Connect(to, _) => format!("a connect to {to}"),
        Record::Bind(at, _) => format!("a datagram socket bound to {at}"),
        Record::LocalAddr(h, _) => format!("the address of datagram socket {h:#x} asked for"),
        Record::SendTo(h, data, to, _) => format!(
            "a datagram of {} bytes from {h:#x} to {to}: {}",
            data.len(),
            shown(data)
        ),
        Record::RecvFrom(h, room, _) => {
            format!("a receive on datagram socket {h:#x} with room for {room} bytes")
        }
        Record::CloseDatagram(h) => format!("datagram socket {h:#x} closed"),
        Record::End => "the end".into(),
    }
}

/// The first bytes of `data`, escaped.
fn shown(data: &[u8]) -> String {
    let mut s = String::from("\"");
    for &b in data.iter().take(48) {
        s.extend(std::ascii::escape_default(b).map(char::from));
    }
    s.push('"');
    if data.len() > 48 {
        s.push_str("...");
    }
    s
}

/// Replays a trace: the same application, given [`host`](Self::host), transports from
/// [`io`](Self::io) and an engine made with [`platform`](Self::platform), gets every input from
/// the trace and has every action checked against it. See the [module documentation](self).
pub struct Replay {
    script: Rc<RefCell<Script>>,
    meta: Vec<(String, String)>,
}

impl fmt::Debug for Replay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.script.borrow();
        f.debug_struct("Replay")
            .field("turn", &s.turn)
            .field("records", &s.records.len())
            .finish()
    }
}

impl Replay {
    /// Read `data` and start replaying it on this thread. Refused when the trace cannot be read
    /// ([`Trace::parse`]) or a recording or replay already runs on this thread.
    pub fn open(data: &[u8]) -> Result<Replay, TraceError> {
        Self::from_trace(Trace::parse(data)?)
    }

    /// Start replaying `trace` on this thread.
    pub fn from_trace(trace: Trace) -> Result<Replay, TraceError> {
        let script = Rc::new(RefCell::new(Script {
            records: trace.records,
            at: 0,
            turn: 0,
            diverged: None,
            sources: HashMap::new(),
            last_now: 0,
        }));
        activate(Active::Replaying(script.clone()))?;
        Ok(Replay {
            script,
            meta: trace.meta,
        })
    }

    /// The value the recording gave `key` in its metadata.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.meta
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The platform for the replayed engine: the clock the trace holds, and every signal number
    /// from 1 to 63 (a trace recorded on one operating system replays on another).
    pub fn platform(&self) -> Platform {
        Platform {
            clock: CLOCK,
            signals: levent_core::Signals::range(1, 63),
        }
    }

    /// The host, replayed.
    pub fn host(&self) -> ReplayHost {
        ReplayHost {
            script: self.script.clone(),
        }
    }

    /// A transport with handles of type `Hd`, replayed.
    pub fn io<Hd: TraceHandle>(&self) -> ReplayIo<Hd> {
        ReplayIo {
            script: self.script.clone(),
            _handle: core::marker::PhantomData,
        }
    }

    /// The first divergence, if the replay met one so far.
    pub fn divergence(&self) -> Option<Divergence> {
        self.script.borrow().diverged.clone()
    }

    /// End the replay on this thread: the number of turns replayed when the application did all
    /// the trace holds and nothing else, the first divergence otherwise (an application that
    /// stopped before the trace ends diverged there too).
    pub fn finish(self) -> Result<u64, Divergence> {
        deactivate();
        let mut s = self.script.borrow_mut();
        if let Some(d) = s.diverged.take() {
            return Err(d);
        }
        if let Some(r) = s.records.get(s.at) {
            return Err(Divergence {
                turn: s.turn,
                what: format!("the trace holds {}, the application stopped", describe(r)),
            });
        }
        Ok(s.turn)
    }
}

impl Drop for Replay {
    fn drop(&mut self) {
        ACTIVE.with(|slot| {
            let mut slot = slot.borrow_mut();
            if matches!(&*slot, Some(Active::Replaying(s)) if Rc::ptr_eq(s, &self.script)) {
                *slot = None;
            }
        });
    }
}

/// The host of a replay ([`Replay::host`]): no operating system, only the trace.
pub struct ReplayHost {
    script: Rc<RefCell<Script>>,
}

impl fmt::Debug for ReplayHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReplayHost")
    }
}

fn host_error() -> HostError {
    HostError::Other(DIVERGED)
}

impl Host for ReplayHost {
    fn clock(&self) -> Option<Clock> {
        Some(CLOCK)
    }

    fn apply(&mut self, change: Change) -> Result<(), HostError> {
        let mut s = self.script.borrow_mut();
        s.expect(
            || format!("applied the change {change:?}"),
            |r| match r {
                Record::Apply(c, res) if *c == change => Some(*res),
                _ => None,
            },
        )
        .unwrap_or(Err(host_error()))
    }

    fn wait(&mut self, wait: Wait, feed: &mut dyn Feed) -> Result<Turn, HostError> {
        let mut s = self.script.borrow_mut();
        s.turn += 1;
        s.expect(
            || format!("waited ({wait:?})"),
            |r| matches!(r, Record::Wait(w) if *w == wait).then_some(()),
        )
        .ok_or_else(host_error)?;
        drop(s);
        loop {
            // No borrow of the script while the engine is fed.
            let next = {
                let s = self.script.borrow();
                s.records.get(s.at).cloned()
            };
            match next {
                Some(Record::Io(batch)) => feed.feed_io(&batch),
                Some(Record::Signal(signo, count)) => feed.feed_signal(signo, count),
                Some(Record::User(id)) => feed.feed_user(id),
                Some(Record::Waited(res)) => {
                    self.script.borrow_mut().at += 1;
                    return res;
                }
                _ => {
                    let mut s = self.script.borrow_mut();
                    s.expect(|| "ended its wait early".into(), |_| None::<()>);
                    return Err(host_error());
                }
            }
            self.script.borrow_mut().at += 1;
        }
    }

    fn now(&mut self) -> Tick {
        self.script.borrow_mut().now()
    }

    fn attach(&mut self, _notifier: Attached) -> Result<(), HostError> {
        // Wake-ups come from the trace; the notifier itself is never drained.
        self.script
            .borrow_mut()
            .expect(
                || "attached a notifier".into(),
                |r| match r {
                    Record::Attach(res) => Some(*res),
                    _ => None,
                },
            )
            .unwrap_or(Err(host_error()))
    }
}

/// A transport of a replay ([`Replay::io`]): reads return the bytes recorded, writes are
/// checked against the bytes recorded.
pub struct ReplayIo<Hd> {
    script: Rc<RefCell<Script>>,
    _handle: core::marker::PhantomData<Hd>,
}

impl<Hd> fmt::Debug for ReplayIo<Hd> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReplayIo")
    }
}

fn io_error() -> IoError {
    IoError::Protocol(DIVERGED)
}

impl<Hd: TraceHandle> ReplayIo<Hd> {
    /// A close of `h` (a `what`) that `is_close` recognises: checked, and the source the trace
    /// gave the handle forgotten by `d`.
    fn close_as(&self, d: &mut dyn Dispatcher, h: Hd, what: &str, is_close: fn(&Record) -> bool) {
        let raw = h.to_raw();
        let mut s = self.script.borrow_mut();
        let ok = s.expect(
            || format!("closed {what} {raw:#x}"),
            |r| {
                let same = matches!(r, Record::Close(rh) | Record::CloseDatagram(rh) if *rh == raw);
                (same && is_close(r)).then_some(())
            },
        );
        let key = s.sources.remove(&raw);
        drop(s);
        if ok.is_some()
            && let Some(k) = key
        {
            let _ = d.forget_source(k);
        }
    }

    fn expect<T>(
        &self,
        did: impl FnOnce() -> String,
        pick: impl FnOnce(&Record) -> Option<T>,
    ) -> Option<T> {
        self.script.borrow_mut().expect(did, pick)
    }
}

impl<Hd: TraceHandle> Transport for ReplayIo<Hd> {
    type Handle = Hd;

    fn source(&self, h: Hd) -> SourceKey {
        let raw = h.to_raw();
        let mut s = self.script.borrow_mut();
        if let Some(&k) = s.sources.get(&raw) {
            // Announced before; a new announcement for it (a handle that now names another
            // source) comes next if the recording made one.
            if let Some(Record::Source(rh, key)) = s.records.get(s.at)
                && *rh == raw
            {
                let key = *key;
                s.at += 1;
                s.sources.insert(raw, key);
                return key;
            }
            return k;
        }
        let key = s.expect(
            || format!("asked for the source of transport {raw:#x}"),
            |r| match r {
                Record::Source(rh, key) if *rh == raw => Some(*key),
                _ => None,
            },
        );
        match key {
            Some(k) => {
                s.sources.insert(raw, k);
                k
            }
            None => SourceKey(usize::MAX),
        }
    }

    fn read(&mut self, h: Hd, buf: &mut [u8]) -> Result<usize, IoError> {
        let raw = h.to_raw();
        let room = buf.len();
        let got = self.expect(
            || format!("read transport {raw:#x} with room for {room} bytes"),
            |r| match r {
                Record::Read(rh, rroom, res) if *rh == raw && *rroom == room => Some(res.clone()),
                _ => None,
            },
        );
        match got {
            Some(Ok(data)) => {
                let n = data.len().min(room);
                buf[..n].copy_from_slice(&data[..n]);
                Ok(n)
            }
            Some(Err(e)) => Err(e),
            None => Err(io_error()),
        }
    }

    fn write(&mut self, h: Hd, buf: &[u8]) -> Result<usize, IoError> {
        let raw = h.to_raw();
        self.expect(
            || {
                format!(
                    "wrote {} bytes to transport {raw:#x}: {}",
                    buf.len(),
                    shown(buf)
                )
            },
            |r| match r {
                Record::Write(rh, data, res) if *rh == raw && data == buf => Some(*res),
                _ => None,
            },
        )
        .unwrap_or(Err(io_error()))
    }

    fn shutdown_write(&mut self, h: Hd) -> Result<(), IoError> {
        let raw = h.to_raw();
        self.expect(
            || format!("shut down writing of transport {raw:#x}"),
            |r| match r {
                Record::Shutdown(rh, res) if *rh == raw => Some(*res),
                _ => None,
            },
        )
        .unwrap_or(Err(io_error()))
    }

    fn connected(&mut self, h: Hd) -> Result<(), IoError> {
        let raw = h.to_raw();
        self.expect(
            || format!("checked the connect of transport {raw:#x}"),
            |r| match r {
                Record::Connected(rh, res) if *rh == raw => Some(*res),
                _ => None,
            },
        )
        .unwrap_or(Err(io_error()))
    }

    fn close(&mut self, d: &mut dyn Dispatcher, h: Hd) {
        self.close_as(d, h, "transport", |r| matches!(r, Record::Close(_)));
    }

    fn buffered(&mut self, h: Hd) -> bool {
        let raw = h.to_raw();
        self.expect(
            || format!("asked whether transport {raw:#x} holds bytes back"),
            |r| match r {
                Record::Buffered(rh, yes) if *rh == raw => Some(*yes),
                _ => None,
            },
        )
        .unwrap_or(false)
    }

    fn flush(&mut self, h: Hd) -> Result<bool, IoError> {
        let raw = h.to_raw();
        self.expect(
            || format!("flushed transport {raw:#x}"),
            |r| match r {
                Record::Flush(rh, res) if *rh == raw => Some(*res),
                _ => None,
            },
        )
        .unwrap_or(Err(io_error()))
    }

    fn peer_addr(&self, h: Hd) -> Option<SocketAddr> {
        let raw = h.to_raw();
        self.expect(
            || format!("asked for the peer of transport {raw:#x}"),
            |r| match r {
                Record::Peer(rh, addr) if *rh == raw => Some(*addr),
                _ => None,
            },
        )
        .flatten()
    }
}

impl<Hd: TraceHandle> Accept for ReplayIo<Hd> {
    fn accept(&mut self, h: Hd) -> Result<Hd, IoError> {
        let raw = h.to_raw();
        self.expect(
            || format!("accepted on transport {raw:#x}"),
            |r| match r {
                Record::Accept(rh, res) if *rh == raw => Some(*res),
                _ => None,
            },
        )
        .unwrap_or(Err(io_error()))
        .map(Hd::from_raw)
    }
}

impl<Hd: TraceHandle> Datagram for ReplayIo<Hd> {
    type Handle = Hd;

    fn bind(&mut self, local: SocketAddr) -> Result<Hd, IoError> {
        self.expect(
            || format!("bound a datagram socket to {local}"),
            |r| match r {
                Record::Bind(at, res) if *at == local => Some(*res),
                _ => None,
            },
        )
        .unwrap_or(Err(io_error()))
        .map(Hd::from_raw)
    }

    fn source(&self, h: Hd) -> SourceKey {
        Transport::source(self, h)
    }

    fn local_addr(&self, h: Hd) -> Result<SocketAddr, IoError> {
        let raw = h.to_raw();
        self.expect(
            || format!("asked for the address of datagram socket {raw:#x}"),
            |r| match r {
                Record::LocalAddr(rh, res) if *rh == raw => Some(*res),
                _ => None,
            },
        )
        .unwrap_or(Err(io_error()))
    }

    fn send_to(&mut self, h: Hd, buf: &[u8], to: SocketAddr) -> Result<usize, IoError> {
        let raw = h.to_raw();
        self.expect(
            || {
                format!(
                    "sent {} bytes from {raw:#x} to {to}: {}",
                    buf.len(),
                    shown(buf)
                )
            },
            |r| match r {
                Record::SendTo(rh, data, rto, res) if *rh == raw && *rto == to && data == buf => {
                    Some(*res)
                }
                _ => None,
            },
        )
        .unwrap_or(Err(io_error()))
    }

    fn recv_from(&mut self, h: Hd, buf: &mut [u8]) -> Result<(usize, SocketAddr), IoError> {
        let raw = h.to_raw();
        let room = buf.len();
        let got = self.expect(
            || format!("received on datagram socket {raw:#x} with room for {room} bytes"),
            |r| match r {
                Record::RecvFrom(rh, rroom, res) if *rh == raw && *rroom == room => {
                    Some(res.clone())
                }
                _ => None,
            },
        );
        match got {
            Some(Ok((data, from))) => {
                let n = data.len().min(room);
                buf[..n].copy_from_slice(&data[..n]);
                Ok((n, from))
            }
            Some(Err(e)) => Err(e),
            None => Err(io_error()),
        }
    }

    fn close(&mut self, d: &mut dyn Dispatcher, h: Hd) {
        self.close_as(d, h, "datagram socket", |r| {
            matches!(r, Record::CloseDatagram(_))
        });
    }
}

impl<Hd: TraceHandle> Connect for ReplayIo<Hd> {
    fn connect(&mut self, to: SocketAddr) -> Result<Hd, IoError> {
        self.expect(
            || format!("connected to {to}"),
            |r| match r {
                Record::Connect(rto, res) if *rto == to => Some(*res),
                _ => None,
            },
        )
        .unwrap_or(Err(io_error()))
        .map(Hd::from_raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Record> {
        vec![
            Record::Now(1_234_567_890),
            Record::Apply(
                Change::Io {
                    key: SourceKey(7),
                    token: Token(0x1_0000_0003),
                    old: Interest::NONE,
                    new: Interest::READ | Interest::WRITE,
                    edge: true,
                },
                Ok(()),
            ),
            Record::Apply(
                Change::Signal {
                    signo: 15,
                    watch: true,
                },
                Err(HostError::Os(22)),
            ),
            Record::Wait(Wait::Until(99)),
            Record::Io(vec![
                (Token(3), Ready::READ | Ready::CLOSED),
                (Token(u64::MAX), Ready::WRITE),
            ]),
            Record::Signal(-1, 2),
            Record::User(EventId::from_raw(0x0000_0005_0001_0002)),
            Record::Waited(Ok(Turn::Waited)),
            Record::Waited(Err(HostError::Other("a reason"))),
            Record::Attach(Err(HostError::Capacity)),
            Record::Source(1 << 32, SourceKey(4)),
            Record::Read(1, 4096, Ok(b"GET / HTTP/1.1\r\n\r\n".to_vec())),
            Record::Read(1, 4096, Err(IoError::WouldBlock)),
            Record::Write(1, b"HTTP/1.1 200 OK\r\n".to_vec(), Ok(10)),
            Record::Write(1, vec![], Err(IoError::Protocol("bad record"))),
            Record::Shutdown(1, Err(IoError::Other(-5))),
            Record::Connected(2, Ok(())),
            Record::Close(1),
            Record::Buffered(1, true),
            Record::Flush(1, Ok(false)),
            Record::Peer(1, Some("[::1]:8080".parse().unwrap())),
            Record::Peer(1, None),
            Record::Accept(0, Ok(5)),
            Record::Accept(0, Err(IoError::NoDescriptors)),
            Record::Connect("10.0.0.1:53".parse().unwrap(), Err(IoError::Refused)),
            Record::Bind("0.0.0.0:0".parse().unwrap(), Ok(9)),
            Record::LocalAddr(9, Ok("127.0.0.1:5353".parse().unwrap())),
            Record::SendTo(9, b"query".to_vec(), "[::1]:53".parse().unwrap(), Ok(5)),
            Record::RecvFrom(
                9,
                512,
                Ok((b"answer".to_vec(), "127.0.0.1:53".parse().unwrap())),
            ),
            Record::RecvFrom(9, 512, Err(IoError::WouldBlock)),
            Record::CloseDatagram(9),
        ]
    }

    fn bytes(records: &[Record]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&VERSION.to_le_bytes());
        put_u(&mut out, 1);
        put_bytes(&mut out, b"program");
        put_bytes(&mut out, b"test");
        for r in records {
            encode(&mut out, r);
        }
        encode(&mut out, &Record::End);
        out
    }

    #[test]
    fn every_record_reads_back_as_written() {
        let t = Trace::parse(&bytes(&sample())).unwrap();
        assert_eq!(t.records(), sample().as_slice());
        assert_eq!(t.meta("program"), Some("test"));
        assert_eq!(t.turns(), 1);
    }

    #[test]
    fn another_version_a_cut_trace_and_garbage_are_refused() {
        let good = bytes(&sample());
        let mut other = good.clone();
        other[8] = 2;
        assert_eq!(Trace::parse(&other).unwrap_err(), TraceError::Version(2));
        assert_eq!(Trace::parse(b"GIF89a").unwrap_err(), TraceError::NotATrace);
        // Every cut is refused, none panics.
        for len in 0..good.len() {
            let e = Trace::parse(&good[..len]).unwrap_err();
            assert!(
                matches!(
                    e,
                    TraceError::Cut(_) | TraceError::NotATrace | TraceError::Corrupt(..)
                ),
                "{len}: {e}"
            );
        }
        let mut bad = good.clone();
        let first = bad.len() - sample_len_from_end();
        bad[first] = 0xee;
        assert!(matches!(Trace::parse(&bad), Err(TraceError::Corrupt(..))));
        let mut trailing = good;
        trailing.push(0);
        assert!(matches!(
            Trace::parse(&trailing),
            Err(TraceError::Corrupt(..))
        ));
    }

    #[test]
    fn results_larger_than_their_call_are_corrupt() {
        for bad in [
            Record::Write(1, b"abc".to_vec(), Ok(4)),
            Record::Read(1, 2, Ok(b"abc".to_vec())),
            Record::SendTo(1, b"abc".to_vec(), "127.0.0.1:53".parse().unwrap(), Ok(4)),
            Record::RecvFrom(1, 2, Ok((b"abc".to_vec(), "127.0.0.1:53".parse().unwrap()))),
        ] {
            let e = Trace::parse(&bytes(std::slice::from_ref(&bad))).unwrap_err();
            assert!(matches!(e, TraceError::Corrupt(..)), "{bad:?}: {e}");
        }
    }

    /// How far from the end the first record starts.
    fn sample_len_from_end() -> usize {
        let mut out = Vec::new();
        for r in sample() {
            encode(&mut out, &r);
        }
        encode(&mut out, &Record::End);
        out.len()
    }

    #[test]
    fn random_bytes_after_the_header_never_panic() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            let mut data = bytes(&[]);
            data.pop();
            for _ in 0..(seed % 64) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                data.push(seed as u8);
            }
            let _ = Trace::parse(&data);
        }
    }

    /// A datagram exchange on the simulated network: two sockets, a query and an answer, the
    /// application written once over any datagram storage.
    #[cfg(feature = "sim")]
    fn exchange<D: Datagram<Handle = SourceKey>>(io: &mut D, query: &[u8]) -> Vec<u8> {
        let a = io.bind("127.0.0.1:5300".parse().unwrap()).unwrap();
        let b = io.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let to = io.local_addr(a).unwrap();
        io.send_to(b, query, to).unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = io.recv_from(a, &mut buf).unwrap();
        io.send_to(a, &buf[..n], from).unwrap();
        let (n, _) = io.recv_from(b, &mut buf).unwrap();
        buf[..n].to_vec()
    }

    #[cfg(feature = "sim")]
    #[test]
    fn datagrams_replay_and_a_different_send_diverges() {
        let out = std::rc::Rc::new(RefCell::new(Vec::new()));
        struct Out(Rc<RefCell<Vec<u8>>>);
        impl Write for Out {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0.borrow_mut().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let recorder = Recorder::start(&[], Out(out.clone())).unwrap();
        let mut net = recorder.wrap(crate::sim::SimNet::new(5));
        assert_eq!(exchange(&mut net, b"who is there"), b"who is there");
        recorder.finish().unwrap();
        let trace = out.borrow().clone();

        let replay = Replay::open(&trace).unwrap();
        assert_eq!(
            exchange(&mut replay.io::<SourceKey>(), b"who is there"),
            b"who is there"
        );
        assert_eq!(replay.finish(), Ok(0));

        let replay = Replay::open(&trace).unwrap();
        let mut io = replay.io::<SourceKey>();
        let a = io.bind("127.0.0.1:5300".parse().unwrap()).unwrap();
        let b = io.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let to = io.local_addr(a).unwrap();
        assert!(io.send_to(b, b"someone else", to).is_err());
        let d = replay.finish().unwrap_err();
        assert!(
            d.what.contains("someone else") && d.what.contains("who is there"),
            "{d}"
        );
    }

    #[test]
    fn a_second_recording_on_one_thread_is_refused() {
        let r = Recorder::start(&[], Vec::new()).unwrap();
        let e = Recorder::start(&[], Vec::new()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ResourceBusy);
        assert!(matches!(Replay::open(&bytes(&[])), Err(TraceError::Busy)));
        r.finish().unwrap();
        Replay::open(&bytes(&[])).unwrap().finish().unwrap();
    }
}
