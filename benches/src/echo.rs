//! Echo throughput: connections do a fixed-size request/response ping-pong with an echo server on
//! loopback for a fixed time. The servers are levent (a connection table, echoing with
//! `Conn::echo`), raw mio, and libevent (`c/echo.c`, bufferevents); the load client is the same
//! program for all three: [`client`].

use levent_core::conn::{ConnEvent, TableConfig, events_needed};
use levent_core::{Event, Route};
use levent_hosts::buffer::ChainBuffer;
use levent_hosts::net::ListenOptions;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What the load client saw.
#[derive(Clone, Copy, Debug)]
pub struct EchoFigures {
    /// Round trips per second.
    pub messages: f64,
    /// Megabytes (10^6) echoed per second.
    pub mb: f64,
    /// Round trips over the whole run, warm-up included (what the server's CPU time is divided
    /// by).
    pub trips: u64,
    /// How much the server's resident memory grew under the load, KiB (filled in by the
    /// runner, which watches the server's process).
    pub rss_kib: Option<f64>,
    /// The server's CPU microseconds per round trip, user and system (filled in by the runner,
    /// from the server process's CPU time across the client's run).
    pub cpu_us: Option<(f64, f64)>,
    /// The client's own CPU time over its run, in cores (filled in by the runner; NaN when not
    /// known): at 1.0 the one-thread client set the pace.
    pub client_cores: f64,
}

/// What a server counted in its steady state (after the first second).
#[derive(Clone, Copy, Debug, Default)]
pub struct ServerStats {
    /// Bytes echoed in the steady state.
    pub bytes: u64,
    /// Heap allocations in the steady state.
    pub allocations: u64,
}

#[derive(Clone, Copy, Debug)]
enum Ev {
    Conn(Route),
    WarmedUp,
}

impl From<Route> for Ev {
    fn from(r: Route) -> Self {
        Ev::Conn(r)
    }
}

/// Connections the levent server takes at once (the 10,000-connection run needs them).
const CONNS: usize = 10_240;

/// Heap allocations so far, from the counting allocator of the benchmark binary (0 when it is
/// not installed).
pub type AllocCounter = fn() -> u64;

/// The levent echo server on `port`, for `secs` seconds; prints `ready` once listening.
pub fn levent_server(port: u16, secs: u64, allocations: AllocCounter) -> io::Result<ServerStats> {
    let mut host = levent_hosts::default_host()?;
    // On io_uring, a table whose streams read and write on the host's ring.
    let mut io = levent_hosts::sockets(&mut host);
    let l = io.listen(
        SocketAddr::from(([127, 0, 0, 1], port)),
        ListenOptions::default(),
    )?;
    let mut engine: levent_hosts::Engine<Ev, { events_needed(CONNS, 0) + 1 }, { CONNS + 1 }> =
        levent_hosts::engine();
    let mut conns = levent_hosts::ConnTable::<Ev, ChainBuffer, CONNS>::new(TableConfig::default());
    conns.listen(&mut engine, &io, l)?;
    engine.loop_exit(Some(Duration::from_secs(secs)))?;
    engine.start(Event::timer(), Ev::WarmedUp, Some(Duration::from_secs(1)))?;
    println!("ready");
    let (mut bytes, mut mark) = (0u64, None);
    while let Some(f) = engine.next(&mut host)? {
        match f.datum {
            Ev::Conn(r) => conns.handle(&mut engine, &mut io, &f, r, |c, ev| match ev {
                ConnEvent::Opened => {
                    let h = c.handle_id();
                    let _ = c.io().set_nodelay(h, true);
                }
                ConnEvent::Read => bytes += c.echo() as u64,
                _ => {}
            }),
            Ev::WarmedUp => mark = Some((bytes, allocations())),
        }
    }
    let (b0, a0) = mark.unwrap_or((0, 0));
    Ok(ServerStats {
        bytes: bytes - b0,
        allocations: allocations() - a0,
    })
}

/// Raw mio: `Poll`, non-blocking `TcpStream`s, a read buffer on the stack and a queue per
/// connection for what the socket does not take at once.
pub fn mio_server(port: u16, secs: u64) -> io::Result<ServerStats> {
    use mio::net::{TcpListener, TcpStream};
    use mio::{Events, Interest, Poll, Token};
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))?;
    poll.registry()
        .register(&mut listener, Token(usize::MAX), Interest::READABLE)?;
    println!("ready");
    let mut conns: Vec<Option<(TcpStream, Vec<u8>)>> = Vec::new();
    let end = Instant::now() + Duration::from_secs(secs);
    let mut buf = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    let mut warm = None;
    let start = Instant::now();
    while Instant::now() < end {
        poll.poll(
            &mut events,
            Some(end.saturating_duration_since(Instant::now())),
        )?;
        if warm.is_none() && start.elapsed() >= Duration::from_secs(1) {
            warm = Some(bytes);
        }
        for ev in events.iter() {
            if ev.token() == Token(usize::MAX) {
                while let Ok((mut s, _)) = listener.accept() {
                    let _ = s.set_nodelay(true);
                    let t = Token(conns.len());
                    poll.registry()
                        .register(&mut s, t, Interest::READABLE | Interest::WRITABLE)?;
                    conns.push(Some((s, Vec::new())));
                }
                continue;
            }
            let i = ev.token().0;
            let Some((s, pending)) = conns[i].as_mut() else {
                continue;
            };
            let mut closed = false;
            // Flush what waits, then read and echo until the socket would block.
            while !pending.is_empty() {
                match s.write(pending) {
                    Ok(n) => {
                        pending.drain(..n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        closed = true;
                        break;
                    }
                }
            }
            while !closed && pending.is_empty() {
                match s.read(&mut buf) {
                    Ok(0) => closed = true,
                    Ok(n) => {
                        bytes += n as u64;
                        let mut at = 0;
                        while at < n {
                            match s.write(&buf[at..n]) {
                                Ok(k) => at += k,
                                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                    pending.extend_from_slice(&buf[at..n]);
                                    break;
                                }
                                Err(_) => {
                                    closed = true;
                                    break;
                                }
                            }
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => closed = true,
                }
            }
            if closed {
                conns[i] = None;
            }
        }
    }
    Ok(ServerStats {
        bytes: bytes - warm.unwrap_or(0),
        allocations: 0,
    })
}

/// The load client: `conns` connections to `port`, each sending `size` bytes and waiting for
/// them to come back, again and again, for `secs` seconds (the first second is not counted).
pub fn client(port: u16, conns: usize, size: usize, secs: u64) -> io::Result<EchoFigures> {
    use mio::net::TcpStream;
    use mio::{Events, Interest, Poll, Token};
    struct C {
        s: TcpStream,
        sent: usize,
        got: usize,
    }
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let payload = vec![b'x'; size];
    let mut cs = Vec::with_capacity(conns);
    for i in 0..conns {
        let mut s = TcpStream::connect(addr)?;
        poll.registry()
            .register(&mut s, Token(i), Interest::READABLE | Interest::WRITABLE)?;
        cs.push(C { s, sent: 0, got: 0 });
    }
    let mut buf = vec![0u8; 64 * 1024];
    let start = Instant::now();
    let warm = start + Duration::from_secs(1);
    let end = start + Duration::from_secs(secs.max(2));
    let mut trips = 0u64;
    let mut counted_from = None;
    while Instant::now() < end {
        poll.poll(&mut events, Some(Duration::from_millis(100)))?;
        if counted_from.is_none() && Instant::now() >= warm {
            counted_from = Some((Instant::now(), trips));
        }
        for ev in events.iter() {
            let c = &mut cs[ev.token().0];
            loop {
                let mut progress = false;
                while c.sent < size {
                    match c.s.write(&payload[c.sent..]) {
                        Ok(n) => {
                            c.sent += n;
                            progress = true;
                            if c.sent == size {
                                let _ = c.s.set_nodelay(true);
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                }
                while c.got < size {
                    match c.s.read(&mut buf[..size - c.got]) {
                        Ok(0) => return Err(io::Error::other("the server closed a connection")),
                        Ok(n) => {
                            c.got += n;
                            progress = true;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                }
                if c.sent == size && c.got == size {
                    trips += 1;
                    c.sent = 0;
                    c.got = 0;
                    continue;
                }
                if !progress {
                    break;
                }
            }
        }
    }
    let (t0, n0) = counted_from.unwrap_or((start, 0));
    let secs = t0.elapsed().as_secs_f64();
    let n = (trips - n0) as f64;
    Ok(EchoFigures {
        messages: n / secs,
        mb: n * size as f64 / secs / 1e6,
        trips,
        rss_kib: None,
        cpu_us: None,
        client_cores: f64::NAN,
    })
}

/// Open `conns` connections to the echo server on `port`, send a 64-byte message on each and take
/// its echo (so the server has accepted and served every one), print `idle`, then hold them all
/// open without a byte for `hold` seconds: the server's memory then is what idle connections cost.
pub fn idle_client(port: u16, conns: usize, hold: u64) -> io::Result<()> {
    use mio::net::TcpStream;
    use mio::{Events, Interest, Poll, Token};
    const MESSAGE: usize = 64;
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut cs = Vec::with_capacity(conns);
    // (stream, bytes sent, bytes back)
    for i in 0..conns {
        let mut s = TcpStream::connect(addr)?;
        poll.registry()
            .register(&mut s, Token(i), Interest::READABLE | Interest::WRITABLE)?;
        cs.push((s, 0usize, 0usize));
    }
    let payload = [b'i'; MESSAGE];
    let mut buf = [0u8; MESSAGE];
    let mut done = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while done < conns {
        if Instant::now() > deadline {
            return Err(io::Error::other(format!(
                "only {done} of {conns} idle connections were echoed in 60 s"
            )));
        }
        poll.poll(&mut events, Some(Duration::from_millis(100)))?;
        for ev in events.iter() {
            let Some((s, sent, got)) = cs.get_mut(ev.token().0) else {
                continue;
            };
            while *sent < MESSAGE {
                match s.write(&payload[*sent..]) {
                    Ok(n) => *sent += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => break,
                    Err(e) => return Err(e),
                }
            }
            while *got < MESSAGE {
                match s.read(&mut buf[..MESSAGE - *got]) {
                    Ok(0) => return Err(io::Error::other("the server closed a connection")),
                    Ok(n) => {
                        *got += n;
                        if *got == MESSAGE {
                            done += 1;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => break,
                    Err(e) => return Err(e),
                }
            }
        }
    }
    println!("idle");
    io::stdout().flush()?;
    std::thread::sleep(Duration::from_secs(hold));
    Ok(())
}
