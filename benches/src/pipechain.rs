//! The pipe chain, libevent's test/bench.c method: `n` socket pairs, each watched for reading;
//! `a` bytes in flight; each readiness does the same work in every implementation: **one
//! `read(2)` of up to 16 bytes straight through libc, a short read taken as drained, and one
//! `write(2)` of one byte** into the next pair, until `w` writes are done. Measures the dispatch
//! loop only.
//!
//! levent and libevent run it level-triggered, as bench.c does; raw mio is edge-triggered (with a
//! `SourceFd`), where a short read also means the socket is drained, so it makes the same system
//! calls per event. Every implementation reports nanoseconds per event.
//!
//! The pairs are Unix-domain socket pairs; Windows has none, so there they are loopback TCP
//! connections (as libevent's `evutil_socketpair` makes them).

use levent_core::{Event, SourceKey};
#[cfg(windows)]
use std::io::Read;
use std::io::{self, Write};
use std::time::Instant;

#[cfg(unix)]
type Stream = std::os::unix::net::UnixStream;
#[cfg(windows)]
type Stream = std::net::TcpStream;
#[cfg(windows)]
type MioStream = mio::net::TcpStream;

#[cfg(unix)]
fn key(s: &Stream) -> SourceKey {
    use std::os::fd::AsRawFd;
    SourceKey(s.as_raw_fd() as usize)
}

/// The event's work, read side: one `read(2)` of up to 16 bytes; how many arrived.
#[cfg(unix)]
#[inline]
fn read16(s: &Stream) -> usize {
    use std::os::fd::AsFd;
    let mut buf = [0u8; 16];
    levent_hosts::unix::read(s.as_fd(), &mut buf).unwrap_or(0)
}

/// The event's work, write side: one `write(2)` of one byte.
#[cfg(unix)]
#[inline]
fn write1(s: &Stream) {
    use std::os::fd::AsFd;
    let _ = levent_hosts::unix::write(s.as_fd(), b"e");
}

#[cfg(windows)]
fn read16(s: &Stream) -> usize {
    let mut buf = [0u8; 16];
    (&*s).read(&mut buf).unwrap_or(0)
}

#[cfg(windows)]
fn write1(s: &Stream) {
    let _ = (&*s).write(b"e");
}

#[cfg(windows)]
fn key(s: &Stream) -> SourceKey {
    use std::os::windows::io::AsRawSocket;
    SourceKey(s.as_raw_socket() as usize)
}

/// One run: how long the dispatch loop took, and how many bytes (events) it moved.
#[derive(Clone, Copy, Debug)]
pub struct Run {
    /// Nanoseconds of the dispatch loop.
    pub ns: u64,
    /// Bytes moved along the chain (= events for level-triggered implementations).
    pub events: u64,
}

impl Run {
    /// Nanoseconds per event.
    pub fn per_event(&self) -> f64 {
        self.ns as f64 / self.events.max(1) as f64
    }
}

/// The largest chain the levent side takes (its engine capacity).
pub const MAX: usize = 16 * 1024;

#[cfg(unix)]
fn pairs(n: usize) -> io::Result<Vec<(Stream, Stream)>> {
    let _ = levent_hosts::unix::raise_fd_limit(4 * n as u64 + 1024);
    (0..n)
        .map(|_| {
            let (r, w) = Stream::pair()?;
            r.set_nonblocking(true)?;
            w.set_nonblocking(true)?;
            Ok((r, w))
        })
        .collect()
}

#[cfg(windows)]
fn pairs(n: usize) -> io::Result<Vec<(Stream, Stream)>> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    (0..n)
        .map(|_| {
            let w = Stream::connect(listener.local_addr()?)?;
            let (r, _) = listener.accept()?;
            for s in [&r, &w] {
                s.set_nonblocking(true)?;
                s.set_nodelay(true)?;
            }
            Ok((r, w))
        })
        .collect()
}

/// levent on the default host (epoll on Linux), pull-based.
pub fn levent(n: usize, a: usize, w: usize) -> io::Result<Run> {
    levent_counting(n, a, w, || 0).map(|(_, run)| run)
}

/// [`levent`], also returning the heap allocations `allocations` counted during the dispatch
/// loop.
pub fn levent_counting(
    n: usize,
    a: usize,
    w: usize,
    allocations: fn() -> u64,
) -> io::Result<(u64, Run)> {
    let n = n.min(MAX);
    let pairs = pairs(n)?;
    let mut host = levent_hosts::default_host()?;
    let mut engine: levent_hosts::Engine<u32, MAX, MAX> = levent_hosts::engine();
    for (i, (r, _)) in pairs.iter().enumerate() {
        let key = key(r);
        engine
            .start(Event::read(key).persist(), i as u32, None)
            .map_err(|e| io::Error::other(e.to_string()))?;
    }
    engine.turn(&mut host, false)?;
    let space = n / a.max(1);
    let mut fired = 0u64;
    for i in 0..a {
        (&pairs[i * space].1).write_all(b"e")?;
        fired += 1;
    }
    let (mut count, mut writes) = (0u64, w);
    let allocs = allocations();
    let start = Instant::now();
    while count != fired {
        engine.turn(&mut host, false)?;
        while let Some(f) = engine.next_fired() {
            let i = f.datum as usize;
            count += read16(&pairs[i].0) as u64;
            if writes > 0 {
                let next = if i + 1 == n { 0 } else { i + 1 };
                write1(&pairs[next].1);
                writes -= 1;
                fired += 1;
            }
        }
    }
    let ns = start.elapsed().as_nanos() as u64;
    Ok((allocations() - allocs, Run { ns, events: count }))
}

/// levent on the io_uring host with the host's own socket table (`Uring::sockets`): the same
/// work per event, one read of up to 16 bytes and one write of one byte, through the table
/// (`Transport::read` and `Transport::write`), so the read copies what the ring received and
/// the write is queued for the next `io_uring_enter`. Level-triggered, as [`levent`].
#[cfg(target_os = "linux")]
pub fn levent_ring(n: usize, a: usize, w: usize) -> io::Result<Run> {
    use levent_core::io::Transport;
    let n = n.min(MAX);
    let _ = levent_hosts::unix::raise_fd_limit(4 * n as u64 + 1024);
    let mut host = levent_hosts::uring::Uring::new()?;
    let mut io = host.sockets()?;
    let pairs = (0..n).map(|_| io.pair()).collect::<io::Result<Vec<_>>>()?;
    // A datum type of its own (u16: MAX pairs fit), so that this engine is another
    // monomorphisation than `levent`'s and the compiler inlines `next_fired` into both loops as
    // it does when a program has one.
    let mut engine: levent_hosts::Engine<u16, MAX, MAX> = levent_hosts::engine();
    for (i, &(r, _)) in pairs.iter().enumerate() {
        engine
            .start(Event::read(io.source(r)).persist(), i as u16, None)
            .map_err(|e| io::Error::other(e.to_string()))?;
    }
    engine.turn(&mut host, false)?;
    let space = n / a.max(1);
    let mut fired = 0u64;
    for i in 0..a {
        io.write(pairs[i * space].1, b"e")
            .map_err(|e| io::Error::other(e.to_string()))?;
        fired += 1;
    }
    let (mut count, mut writes) = (0u64, w);
    let mut buf = [0u8; 16];
    let start = Instant::now();
    while count != fired {
        engine.turn(&mut host, false)?;
        while let Some(f) = engine.next_fired() {
            let i = f.datum as usize;
            count += io.read(pairs[i].0, &mut buf).unwrap_or(0) as u64;
            if writes > 0 {
                let next = if i + 1 == n { 0 } else { i + 1 };
                let _ = io.write(pairs[next].1, b"e");
                writes -= 1;
                fired += 1;
            }
        }
    }
    Ok(Run {
        ns: start.elapsed().as_nanos() as u64,
        events: count,
    })
}

/// Raw mio 1.x: `Poll` and `Events`, edge-triggered, the pairs registered with a `SourceFd`;
/// one read of up to 16 bytes per event (a short read means drained), one write of one byte.
#[cfg(unix)]
pub fn mio(n: usize, a: usize, w: usize) -> io::Result<Run> {
    use mio::unix::SourceFd;
    use mio::{Events, Interest, Poll, Token};
    use std::os::fd::AsRawFd;
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let pairs = pairs(n)?;
    for (i, (r, _)) in pairs.iter().enumerate() {
        poll.registry()
            .register(&mut SourceFd(&r.as_raw_fd()), Token(i), Interest::READABLE)?;
    }
    poll.poll(&mut events, Some(std::time::Duration::ZERO))?;
    let space = n / a.max(1);
    let mut fired = 0u64;
    for i in 0..a {
        (&pairs[i * space].1).write_all(b"e")?;
        fired += 1;
    }
    let (mut count, mut writes) = (0u64, w);
    let start = Instant::now();
    while count != fired {
        poll.poll(&mut events, Some(std::time::Duration::ZERO))?;
        for ev in events.iter() {
            let i = ev.token().0;
            count += read16(&pairs[i].0) as u64;
            if writes > 0 {
                let next = if i + 1 == n { 0 } else { i + 1 };
                write1(&pairs[next].1);
                writes -= 1;
                fired += 1;
            }
        }
    }
    Ok(Run {
        ns: start.elapsed().as_nanos() as u64,
        events: count,
    })
}

/// Raw mio 1.x on Windows (loopback TCP pairs): as on Unix, through mio's own streams.
#[cfg(windows)]
pub fn mio(n: usize, a: usize, w: usize) -> io::Result<Run> {
    use mio::{Events, Interest, Poll, Token};
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut pairs: Vec<(MioStream, MioStream)> = pairs(n)?
        .into_iter()
        .map(|(r, w)| (MioStream::from_std(r), MioStream::from_std(w)))
        .collect();
    for (i, (r, _)) in pairs.iter_mut().enumerate() {
        poll.registry().register(r, Token(i), Interest::READABLE)?;
    }
    poll.poll(&mut events, Some(std::time::Duration::ZERO))?;
    let space = n / a.max(1);
    let mut fired = 0u64;
    for i in 0..a {
        (&pairs[i * space].1).write_all(b"e")?;
        fired += 1;
    }
    let (mut count, mut writes) = (0u64, w);
    let mut buf = [0u8; 16];
    let start = Instant::now();
    while count != fired {
        poll.poll(&mut events, Some(std::time::Duration::ZERO))?;
        for ev in events.iter() {
            let i = ev.token().0;
            count += (&pairs[i].0).read(&mut buf).unwrap_or(0) as u64;
            if writes > 0 {
                let next = if i + 1 == n { 0 } else { i + 1 };
                let _ = (&pairs[next].1).write(b"e");
                writes -= 1;
                fired += 1;
            }
        }
    }
    Ok(Run {
        ns: start.elapsed().as_nanos() as u64,
        events: count,
    })
}

/// libevent 2.1 through the `libevent-bench` program built from `c/` (None when libevent is not
/// installed).
pub fn libevent(n: usize, a: usize, w: usize) -> Option<io::Result<Run>> {
    let exe = crate::libevent_exe()?;
    Some(crate::run_c(
        &exe,
        &["pipechain", &n.to_string(), &a.to_string(), &w.to_string()],
    ))
}
