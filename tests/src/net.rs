//! Buffered connections and listeners, end to end, on every backend: an echo server and its
//! clients share one engine, so every scenario is a single deterministic loop on the simulated
//! network and a real one on epoll, kqueue, poll and select.

use levent_core::buffer::Buffer;
use levent_core::conn::{
    ConnEvent, ConnHandler, ConnId, ConnTable, Refusal, Route, TableConfig, events_needed,
};
use levent_core::io::{Accept, IoError};
use levent_core::{Conn, ConnOptions, Engine, Exit, Fired, Host, Interest, Platform};
use levent_hosts::Heap;
use levent_hosts::buffer::ChainBuffer;
use levent_hosts::net::{ListenOptions, SocketId, Sockets};
use levent_hosts::sim::SimNet;
use std::time::Duration;

/// What a connection scenario needs from a backend.
pub trait NetWorld: Sized {
    /// The IO storage (sockets).
    type Io: Accept<Handle = Self::Handle>;
    /// A socket.
    type Handle: Copy + PartialEq + std::fmt::Debug;
    /// A fresh world.
    fn new() -> Self;
    /// The host.
    fn host(&mut self) -> &mut dyn Host;
    /// The sockets.
    fn io(&mut self) -> &mut Self::Io;
    /// What an engine here must know.
    fn platform(&self) -> Platform;
    /// Listen somewhere free.
    fn listen(&mut self) -> (Self::Handle, std::net::SocketAddr);
    /// Where nobody listens.
    fn nowhere(&mut self) -> std::net::SocketAddr;
    /// Start a non-blocking connect.
    fn connect(&mut self, to: std::net::SocketAddr) -> Self::Handle;
    /// Abort a connection with a reset, as a crashing peer would.
    fn reset(&mut self, d: &mut dyn levent_core::Dispatcher, h: Self::Handle);
    /// Keep the kernel's buffers for `h` small, so that flow control shows quickly.
    fn small_buffers(&mut self, h: Self::Handle);
}

/// Real TCP sockets on loopback, on host `H`.
///
/// With `RING` (io_uring only), the socket table is the host's own ([`Uring::sockets`]): its
/// streams read and write on the ring.
///
/// [`Uring::sockets`]: levent_hosts::uring::Uring::sockets
pub struct OsNet<H, const RING: bool = false> {
    host: H,
    io: Sockets,
}

#[cfg(any(unix, windows))]
macro_rules! os_net {
    ($host:ty) => {
        os_net!(OsNet<$host>, $host, |_| Sockets::new());
    };
    ($world:ty, $host:ty, $io:expr) => {
        impl NetWorld for $world {
            type Io = Sockets;
            type Handle = SocketId;
            fn new() -> Self {
                #[cfg(unix)]
                let _ = levent_hosts::unix::raise_fd_limit(16384);
                let mut host = <$host>::new().unwrap();
                let make: fn(&mut $host) -> Sockets = $io;
                let io = make(&mut host);
                OsNet { host, io }
            }
            fn host(&mut self) -> &mut dyn Host {
                &mut self.host
            }
            fn io(&mut self) -> &mut Sockets {
                &mut self.io
            }
            fn platform(&self) -> Platform {
                levent_hosts::PLATFORM
            }
            fn listen(&mut self) -> (SocketId, std::net::SocketAddr) {
                let l = self
                    .io
                    .listen("127.0.0.1:0".parse().unwrap(), ListenOptions::default())
                    .unwrap();
                (l, self.io.local_addr(l).unwrap())
            }
            fn nowhere(&mut self) -> std::net::SocketAddr {
                let mut scratch = Sockets::new();
                let l = scratch
                    .listen("127.0.0.1:0".parse().unwrap(), ListenOptions::default())
                    .unwrap();
                scratch.local_addr(l).unwrap()
                // `scratch` is dropped here: the port is free again and nobody listens.
            }
            fn connect(&mut self, to: std::net::SocketAddr) -> SocketId {
                self.io.connect(to).unwrap()
            }
            fn reset(&mut self, d: &mut dyn levent_core::Dispatcher, h: SocketId) {
                self.io.reset(d, h);
            }
            fn small_buffers(&mut self, h: SocketId) {
                self.io.set_buffers(h, 64 * 1024, 64 * 1024).unwrap();
            }
        }
    };
}

#[cfg(target_os = "linux")]
os_net!(levent_hosts::epoll::Epoll);
#[cfg(target_os = "linux")]
os_net!(levent_hosts::uring::Uring);
#[cfg(target_os = "linux")]
os_net!(
    OsNet<levent_hosts::uring::Uring, true>,
    levent_hosts::uring::Uring,
    |h| h.sockets().unwrap()
);
#[cfg(any(
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly"
))]
os_net!(levent_hosts::kqueue::Kqueue);
#[cfg(unix)]
os_net!(levent_hosts::poll::Poll);
#[cfg(windows)]
os_net!(levent_hosts::select::Select);

/// The simulated network: virtual time, deterministic.
pub struct SimNetWorld {
    net: SimNet,
    next_port: u16,
}

impl NetWorld for SimNetWorld {
    type Io = SimNet;
    type Handle = levent_core::SourceKey;
    fn new() -> Self {
        SimNetWorld {
            net: SimNet::new(0x5eed),
            next_port: 80,
        }
    }
    fn host(&mut self) -> &mut dyn Host {
        &mut self.net
    }
    fn io(&mut self) -> &mut SimNet {
        &mut self.net
    }
    fn platform(&self) -> Platform {
        crate::SIM_PLATFORM
    }
    /// Simulated streams are numbered by port: listeners are reached at `127.0.0.1:port`.
    fn listen(&mut self) -> (levent_core::SourceKey, std::net::SocketAddr) {
        let port = self.next_port;
        self.next_port += 1;
        (
            self.net.listen(port).unwrap(),
            std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        )
    }
    fn nowhere(&mut self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], 9))
    }
    fn connect(&mut self, to: std::net::SocketAddr) -> levent_core::SourceKey {
        self.net.connect(to.port())
    }
    fn reset(&mut self, d: &mut dyn levent_core::Dispatcher, h: levent_core::SourceKey) {
        self.net.reset(h);
        let _ = self.net.close(d, h);
    }
    fn small_buffers(&mut self, _: levent_core::SourceKey) {
        // Simulated sockets buffer 64 KiB per direction already.
    }
}

/// The engine's datum: a route into the server's table or the clients' table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ev {
    Server(Route),
    Client(Route),
}

/// The most connections a scenario opens on each side.
const CONNS: usize = 1024;

type Eng = Engine<Ev, { 2 * events_needed(CONNS, 0) }, { 2 * CONNS + 2 }, 1, Heap>;
type Table<W, U> = ConnTable<Ev, <W as NetWorld>::Handle, ChainBuffer, CONNS, U, Heap>;
type Io<W> = <W as NetWorld>::Io;

fn engine<W: NetWorld>(w: &W) -> Eng {
    let mut e = Eng::new(w.platform());
    e.loop_exit(Some(Duration::from_secs(120))).unwrap();
    e
}

/// The bytes of message `k` of client `c`: a deterministic stream, so nothing needs storing.
fn message(c: usize, k: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed((c as u64) << 32 | k as u64);
    // Lengths from 1 byte to 64 KiB, spread evenly over the orders of magnitude.
    let len = (2f64.powf(rng.f64() * 16.0) as usize).clamp(1, 64 * 1024);
    let mut m = vec![0u8; len];
    rng.fill(&mut m);
    m
}

/// The echo server of the scenarios: a connection table and what it saw.
struct EchoServer<W: NetWorld> {
    table: Table<W, ()>,
    seen: Echo,
}

/// The server's handler: echo everything, with optional application-level backpressure.
#[derive(Default)]
struct Echo {
    /// Stop reading a client while this much echo is waiting to go out; 0 for no limit.
    output_limit: usize,
    max_output: usize,
    errors: Vec<IoError>,
    refusals: Vec<Refusal>,
    eofs: usize,
    read_timeouts: usize,
    closed: usize,
}

impl<IO: levent_core::Transport> ConnHandler<Ev, IO, ChainBuffer, ()> for Echo {
    fn event(&mut self, c: &mut Conn<'_, Ev, IO, ChainBuffer, ()>, ev: ConnEvent) {
        match ev {
            ConnEvent::Read | ConnEvent::Eof => {
                c.echo();
                self.max_output = self.max_output.max(c.output().len());
                if self.output_limit > 0 && c.output().len() > self.output_limit {
                    c.disable_reading();
                }
                self.eofs += usize::from(ev == ConnEvent::Eof);
            }
            ConnEvent::Drained if self.output_limit > 0 => c.enable(Interest::READ),
            ConnEvent::Error(e) => self.errors.push(e),
            ConnEvent::Timeout { read } => self.read_timeouts += usize::from(read),
            ConnEvent::Closed => self.closed += 1,
            _ => {}
        }
    }

    fn refused(&mut self, why: Refusal) {
        self.refusals.push(why);
    }
}

impl<W: NetWorld> EchoServer<W> {
    fn new(e: &mut Eng, w: &mut W, opts: ConnOptions) -> (Self, std::net::SocketAddr) {
        let (lh, target) = w.listen();
        (Self::on(e, w, lh, opts), target)
    }

    /// A server on listening socket `lh`.
    fn on(e: &mut Eng, w: &mut W, lh: W::Handle, opts: ConnOptions) -> Self {
        let cfg = TableConfig {
            conn: opts,
            ..TableConfig::default()
        };
        let mut table = Table::<W, ()>::with_datum(cfg, Ev::Server);
        table.listen(e, w.io(), lh).unwrap();
        EchoServer {
            table,
            seen: Echo::default(),
        }
    }

    fn handle(&mut self, e: &mut Eng, w: &mut W, f: &Fired<Ev>, r: Route) {
        let seen: &mut dyn ConnHandler<Ev, W::Io, ChainBuffer, ()> = &mut self.seen;
        self.table.dispatch(e, w.io(), f, r, seen);
    }
}

/// A client's state, in the clients' table.
#[derive(Default)]
struct Client {
    /// Its number, for its messages.
    n: usize,
    sent: usize,
    expect: Vec<u8>,
    got: usize,
    done: bool,
}

/// A table of client connections, connecting to `target`.
fn clients<W: NetWorld>(
    e: &mut Eng,
    w: &mut W,
    target: std::net::SocketAddr,
    n: usize,
) -> (Table<W, Client>, Vec<ConnId>) {
    let mut table = Table::<W, Client>::with_datum(TableConfig::default(), Ev::Client);
    let ids = (0..n)
        .map(|_| {
            let h = w.connect(target);
            table.connect(e, w.io(), h).unwrap()
        })
        .collect();
    (table, ids)
}

/// EL43 at scale: `clients` concurrent clients each send `messages` messages of 1 byte to 64 KiB
/// through the echo server, one at a time; every byte must come back in order.
pub fn echo_every_byte_returns_in_order<W: NetWorld>(clients: usize, messages: usize) {
    let mut w = W::new();
    let mut e = engine(&w);
    let (mut server, target) = EchoServer::<W>::new(&mut e, &mut w, ConnOptions::DEFAULT);
    let (mut cs, ids) = self::clients(&mut e, &mut w, target, clients);
    let mut numbers = std::collections::HashMap::new();
    for (i, id) in ids.into_iter().enumerate() {
        numbers.insert(id, i);
    }
    let mut finished = 0;
    let mut buf = vec![0u8; 64 * 1024];
    while finished < clients {
        let Some(f) = e.next(w.host()).unwrap() else {
            panic!(
                "loop ended with {finished}/{clients} clients done: {:?}",
                e.last_exit()
            )
        };
        match f.datum {
            Ev::Server(r) => server.handle(&mut e, &mut w, &f, r),
            Ev::Client(r) => cs.handle(&mut e, w.io(), &f, r, |c, ev| {
                assert!(
                    !matches!(ev, ConnEvent::Error(_) | ConnEvent::Eof),
                    "client {}: {ev:?}",
                    c.id()
                );
                if ev == ConnEvent::Opened {
                    let n = numbers[&c.id()];
                    let expect = message(n, 0);
                    c.write(&expect);
                    *c.state() = Client {
                        n,
                        sent: 1,
                        expect,
                        ..Client::default()
                    };
                }
                if ev != ConnEvent::Read {
                    return;
                }
                loop {
                    let st = c.state();
                    let want = st.expect.len() - st.got;
                    if want == 0 {
                        break;
                    }
                    let n = c.read(&mut buf[..want]);
                    if n == 0 {
                        break;
                    }
                    let st = c.state();
                    assert_eq!(
                        &buf[..n],
                        &st.expect[st.got..st.got + n],
                        "client {} message {}",
                        st.n,
                        st.sent - 1
                    );
                    st.got += n;
                }
                let st = c.state();
                if st.got == st.expect.len() && !st.done {
                    if st.sent == messages {
                        st.done = true;
                        finished += 1;
                        c.close();
                    } else {
                        st.expect = message(st.n, st.sent);
                        st.got = 0;
                        st.sent += 1;
                        let next = st.expect.clone();
                        c.write(&next);
                    }
                }
            }),
        }
    }
    assert!(server.seen.errors.is_empty(), "{:?}", server.seen.errors);
    assert!(
        server.seen.refusals.is_empty(),
        "{:?}",
        server.seen.refusals
    );
}

/// A client that stops reading: the server stops reading it too once its echo output passes a
/// limit, so the server's output stays bounded; when the client reads again everything flows and
/// arrives in order.
pub fn client_that_stops_reading_keeps_server_output_bounded<W: NetWorld>() {
    const LIMIT: usize = 256 * 1024;
    const TOTAL: usize = 8 * 1024 * 1024;
    let mut w = W::new();
    let mut e = engine(&w);
    // Each read takes at most 64 KiB (the high watermark), so the echo output passes the limit
    // by at most that much before the server stops reading.
    let opts = ConnOptions {
        read_high: 64 * 1024,
        ..ConnOptions::DEFAULT
    };
    let (lh, target) = w.listen();
    w.small_buffers(lh);
    let mut server = EchoServer::<W>::on(&mut e, &mut w, lh, opts);
    server.seen.output_limit = LIMIT;
    let mut cs = Table::<W, Client>::with_datum(TableConfig::default(), Ev::Client);
    let h = w.connect(target);
    w.small_buffers(h);
    let ids = [cs.connect(&mut e, w.io(), h).unwrap()];
    let mut data = vec![0u8; TOTAL];
    fastrand::Rng::with_seed(7).fill(&mut data);
    let data = &data[..];
    // Phase 1: send everything, read nothing, until nothing moves any more.
    let mut idle = 0;
    let mut sent = false;
    let mut pending = 0;
    while idle < 500 {
        e.turn(w.host(), false).unwrap();
        let mut any = false;
        while let Some(f) = e.next_fired() {
            any = true;
            match f.datum {
                Ev::Server(r) => server.handle(&mut e, &mut w, &f, r),
                Ev::Client(r) => cs.handle(&mut e, w.io(), &f, r, |c, ev| {
                    if ev == ConnEvent::Opened {
                        c.disable_reading();
                        c.write(data);
                        sent = true;
                    }
                    pending = c.output().len();
                }),
            }
        }
        idle = if any { 0 } else { idle + 1 };
        if !any {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    assert!(sent);
    assert!(
        server.seen.max_output <= LIMIT + 64 * 1024,
        "server output grew to {}",
        server.seen.max_output
    );
    assert!(
        pending > 0,
        "the client could not send everything: flow control held"
    );
    // Phase 2: the client reads; everything comes back in order.
    let mut got = 0;
    let mut buf = vec![0u8; 64 * 1024];
    let mut read_all = |c: &mut Conn<'_, Ev, Io<W>, ChainBuffer, Client>, got: &mut usize| loop {
        let n = c.read(&mut buf);
        if n == 0 {
            break;
        }
        assert_eq!(&buf[..n], &data[*got..*got + n]);
        *got += n;
    };
    let mut nobody = levent_core::conn::NoHandler;
    cs.with(&mut e, w.io(), ids[0], &mut nobody, |c| {
        c.enable(Interest::READ);
        read_all(c, &mut got);
    });
    while got < TOTAL {
        let f = e
            .next(w.host())
            .unwrap()
            .expect("loop ended before the echo completed");
        match f.datum {
            Ev::Server(r) => server.handle(&mut e, &mut w, &f, r),
            Ev::Client(r) => cs.handle(&mut e, w.io(), &f, r, |c, ev| {
                assert!(!matches!(ev, ConnEvent::Error(_)), "{ev:?}");
                read_all(c, &mut got);
            }),
        }
    }
    assert!(
        server.seen.max_output <= LIMIT + 64 * 1024,
        "server output grew to {}",
        server.seen.max_output
    );
}

/// A peer that resets mid-message: the server sees an error or end of file for that client,
/// closes it, and keeps serving another.
pub fn peer_reset_mid_message_leaves_the_server_serving<W: NetWorld>() {
    let mut w = W::new();
    let mut e = engine(&w);
    let (mut server, target) = EchoServer::<W>::new(&mut e, &mut w, ConnOptions::DEFAULT);
    let (mut cs, ids) = clients(&mut e, &mut w, target, 2);
    let (bad, good) = (ids[0], ids[1]);
    let mut to_reset = None;
    let mut echoed = 0;
    while echoed < 5 {
        let f = e.next(w.host()).unwrap().expect("loop ended");
        match f.datum {
            Ev::Server(r) => server.handle(&mut e, &mut w, &f, r),
            Ev::Client(r) => cs.handle(&mut e, w.io(), &f, r, |c, ev| {
                if ev == ConnEvent::Opened {
                    c.write(b"half a mess");
                    if c.id() == bad {
                        // Reset it as a crashing peer would: out of the table's hands first.
                        to_reset = Some(c.handle_id());
                    }
                }
                if c.id() == good && ev == ConnEvent::Read {
                    let mut buf = [0u8; 64];
                    let n = c.read(&mut buf);
                    echoed += 1;
                    assert_eq!(&buf[..n], b"half a mess");
                    if echoed < 5 {
                        c.write(b"half a mess");
                    }
                }
            }),
        }
        if let Some(h) = to_reset.take() {
            let mut nobody = levent_core::conn::NoHandler;
            // The table forgets the connection without closing the socket, which the reset
            // closes.
            assert!(cs.release(&mut e, w.io(), bad, &mut nobody).is_some());
            w.reset(&mut e, h);
        }
    }
    // The reset client's server side is gone: closed after an error or end of file, or never
    // accepted at all when the reset reached it in the listen queue (Windows drops it there or
    // fails the accept; the listener reports `Aborted` and goes on).
    let dropped = |server: &EchoServer<W>| {
        server.seen.closed
            + server
                .seen
                .refusals
                .iter()
                .filter(|r| **r == Refusal::Accept(IoError::Aborted))
                .count()
    };
    let mut turns = 0;
    while dropped(&server) == 0 && turns < 1000 {
        e.turn(w.host(), true).unwrap();
        while let Some(f) = e.next_fired() {
            if let Ev::Server(r) = f.datum {
                server.handle(&mut e, &mut w, &f, r);
            }
        }
        turns += 1;
    }
    assert_eq!(dropped(&server), 1, "the reset client was dropped");
    assert_eq!(server.table.len(), 1, "the other client was kept");
}

/// A peer that half-closes: the server reads everything, sees end of file, echoes, flushes and
/// closes; the client receives every byte and then end of file.
pub fn half_close_flushes_then_shuts_down<W: NetWorld>() {
    let mut w = W::new();
    let mut e = engine(&w);
    let (mut server, target) = EchoServer::<W>::new(&mut e, &mut w, ConnOptions::DEFAULT);
    let cfg = TableConfig {
        close_on_eof: false,
        ..TableConfig::default()
    };
    let mut cs = Table::<W, Client>::with_datum(cfg, Ev::Client);
    let h = w.connect(target);
    cs.connect(&mut e, w.io(), h).unwrap();
    let data = message(3, 3).repeat(20);
    let mut got = vec![];
    let mut eof = false;
    while !eof {
        let f = e.next(w.host()).unwrap().expect("loop ended");
        match f.datum {
            Ev::Server(r) => server.handle(&mut e, &mut w, &f, r),
            Ev::Client(r) => cs.handle(&mut e, w.io(), &f, r, |c, ev| {
                assert!(!matches!(ev, ConnEvent::Error(_)), "{ev:?}");
                if ev == ConnEvent::Opened {
                    c.write(&data);
                    c.shutdown().unwrap();
                }
                let mut buf = vec![0u8; 65536];
                loop {
                    let n = c.read(&mut buf);
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
                eof |= ev == ConnEvent::Eof;
            }),
        }
    }
    assert_eq!(got.len(), data.len());
    assert!(got == data);
    assert_eq!(server.seen.eofs, 1);
}

/// Data written while the connect is still in progress goes out once it completes (writing
/// must not stop the connect from being watched).
pub fn data_written_while_connecting_goes_out_once_connected<W: NetWorld>() {
    let mut w = W::new();
    let mut e = engine(&w);
    let (mut server, target) = EchoServer::<W>::new(&mut e, &mut w, ConnOptions::DEFAULT);
    let (mut cs, ids) = clients(&mut e, &mut w, target, 1);
    let mut nobody = levent_core::conn::NoHandler;
    cs.with(&mut e, w.io(), ids[0], &mut nobody, |c| {
        assert_eq!(c.write(b"early bird"), 10);
    });
    let mut connected = false;
    let mut got = vec![];
    while got.len() < 10 {
        let f = e.next(w.host()).unwrap().expect("loop ended");
        match f.datum {
            Ev::Server(r) => server.handle(&mut e, &mut w, &f, r),
            Ev::Client(r) => cs.handle(&mut e, w.io(), &f, r, |c, ev| {
                assert!(!matches!(ev, ConnEvent::Error(_)), "{ev:?}");
                connected |= ev == ConnEvent::Opened;
                let mut buf = [0u8; 64];
                let n = c.read(&mut buf);
                got.extend_from_slice(&buf[..n]);
            }),
        }
    }
    assert!(connected);
    assert_eq!(got, b"early bird");
}

/// A connect to where nobody listens arrives as an error event, not as `Opened`, then the
/// connection is closed.
pub fn connect_refused_arrives_as_an_error<W: NetWorld>() {
    let mut w = W::new();
    let mut e = engine(&w);
    let nowhere = w.nowhere();
    let (mut cs, _) = clients(&mut e, &mut w, nowhere, 1);
    let mut seen = vec![];
    while !seen.contains(&ConnEvent::Closed) {
        let f = e.next(w.host()).unwrap().expect("loop ended");
        if let Ev::Client(r) = f.datum {
            cs.handle(&mut e, w.io(), &f, r, |_, ev| seen.push(ev));
        }
    }
    assert_eq!(
        seen,
        [ConnEvent::Error(IoError::Refused), ConnEvent::Closed]
    );
    assert!(cs.is_empty());
}

/// EL44: a read timeout fires when nothing arrives; the server's table closes the connection.
pub fn read_timeout_fires_when_nothing_arrives<W: NetWorld>() {
    let mut w = W::new();
    let mut e = engine(&w);
    let opts = ConnOptions {
        read_timeout: Some(Duration::from_millis(50)),
        ..ConnOptions::DEFAULT
    };
    let (mut server, target) = EchoServer::<W>::new(&mut e, &mut w, opts);
    let (mut cs, _) = clients(&mut e, &mut w, target, 1);
    let start = e.now();
    while server.seen.read_timeouts == 0 {
        let f = e.next(w.host()).unwrap().expect("loop ended");
        match f.datum {
            Ev::Server(r) => server.handle(&mut e, &mut w, &f, r),
            Ev::Client(r) => cs.handle(&mut e, w.io(), &f, r, |_, ev| {
                assert!(!matches!(ev, ConnEvent::Error(_)), "{ev:?}");
            }),
        }
    }
    assert_eq!(server.seen.closed, 1);
    assert!(
        e.now() - start >= 50_000_000,
        "after {} ns",
        e.now() - start
    );
}

/// A listener that runs out of descriptors backs off instead of dying or spinning, and accepts the
/// waiting clients once descriptors are free again.
pub fn listener_backs_off_when_descriptors_run_out_and_recovers_sim() {
    let mut w = SimNetWorld::new();
    let mut e = engine(&w);
    let (mut server, target) = EchoServer::<SimNetWorld>::new(&mut e, &mut w, ConnOptions::DEFAULT);
    // Room for four accepted clients only.
    let clients: Vec<_> = (0..10).map(|_| w.connect(target)).collect();
    w.net.set_fd_limit(4);
    let mut backoffs = 0;
    let mut turns = 0;
    let mut freed = false;
    loop {
        let f = e.next(w.host()).unwrap().expect("loop ended");
        turns += 1;
        assert!(turns < 10_000, "spinning");
        if let Ev::Server(r) = f.datum {
            server.handle(&mut e, &mut w, &f, r);
            backoffs += server
                .seen
                .refusals
                .drain(..)
                .filter(|r| *r == Refusal::Accept(IoError::NoDescriptors))
                .count();
        }
        let accepted = server.table.stats().opened as usize;
        if server.table.is_backing_off() && !freed {
            assert_eq!(accepted, 4);
            // Two clients go away: their server ends are closed, freeing descriptors.
            let ids: Vec<ConnId> = server.table.ids().take(2).collect();
            for (i, id) in ids.into_iter().enumerate() {
                let seen: &mut dyn ConnHandler<Ev, SimNet, ChainBuffer, ()> = &mut server.seen;
                server.table.close(&mut e, w.io(), id, seen);
                let _ = w.net.close(&mut e, clients[i]);
            }
            w.net.set_fd_limit(64);
            freed = true;
        }
        if accepted == clients.len() {
            break;
        }
    }
    assert!(backoffs >= 1);
    assert_eq!(e.last_exit(), None::<Exit>);
}
