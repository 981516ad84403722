//! Buffered connections and listeners, end to end, on every backend: an echo server and its
//! clients share one engine, so every scenario is a single deterministic loop on the simulated
//! network and a real one on epoll, kqueue, poll and select.

use levent_core::buffer::Buffer;
use levent_core::io::{Accept, IoError};
use levent_core::{
    ConnOptions, Connection, Engine, Exit, Fired, Host, Interest, Listener, Outcome, Platform,
};
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
pub struct OsNet<H> {
    host: H,
    io: Sockets,
}

#[cfg(any(unix, windows))]
macro_rules! os_net {
    ($host:ty) => {
        impl NetWorld for OsNet<$host> {
            type Io = Sockets;
            type Handle = SocketId;
            fn new() -> Self {
                #[cfg(unix)]
                let _ = levent_hosts::unix::raise_fd_limit(16384);
                OsNet {
                    host: <$host>::new().unwrap(),
                    io: Sockets::new(),
                }
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ev {
    Listener,
    Server(usize),
    Client(usize),
}

type Eng = Engine<Ev, 8192, 8192, 1>;
type Conn<W> = Connection<<W as NetWorld>::Handle, ChainBuffer>;

fn engine<W: NetWorld>(w: &W) -> Box<Eng> {
    let mut e = Box::new(Engine::new(w.platform()));
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

struct EchoServer<W: NetWorld> {
    conns: Vec<Option<Conn<W>>>,
    opts: ConnOptions,
    /// Stop reading a client while this much echo is waiting to go out (application-level
    /// backpressure); 0 for no limit.
    output_limit: usize,
    max_output: usize,
    errors: Vec<IoError>,
    eofs: usize,
    half_close: bool,
}

impl<W: NetWorld> EchoServer<W> {
    fn new(opts: ConnOptions) -> Self {
        EchoServer {
            conns: vec![],
            opts,
            output_limit: 0,
            max_output: 0,
            errors: vec![],
            eofs: 0,
            half_close: false,
        }
    }

    fn accept(&mut self, e: &mut Eng, w: &mut W, l: &mut Listener<W::Handle>) {
        while let Some(r) = l.accept(&mut *e, w.io()) {
            let h = match r {
                Ok(h) => h,
                Err(err) => {
                    self.errors.push(err);
                    continue;
                }
            };
            let slot = self.conns.len();
            let c = Connection::new(
                &mut *e,
                w.io(),
                h,
                ChainBuffer::new(),
                ChainBuffer::new(),
                self.opts,
                Ev::Server(slot),
            )
            .unwrap();
            self.conns.push(Some(c));
        }
    }

    /// Handle an event of server connection `i`; returns its outcome.
    fn handle(&mut self, e: &mut Eng, w: &mut W, i: usize, f: &Fired<Ev>) -> Outcome {
        let Some(c) = self.conns[i].as_mut() else {
            return Outcome::default();
        };
        let out = c.handle(&mut *e, w.io(), f);
        if out.readable() || out.eof() {
            loop {
                let chunk = c.input().chunk_at(0).to_vec();
                if chunk.is_empty() {
                    break;
                }
                let n = c.write(&mut *e, w.io(), &chunk);
                assert_eq!(n, chunk.len(), "a growable output takes everything");
                c.consume(&mut *e, n);
            }
            self.max_output = self.max_output.max(c.output().len());
            if self.output_limit > 0 && c.output().len() > self.output_limit {
                c.disable_reading(&mut *e);
            }
        }
        if out.drained() && self.output_limit > 0 {
            c.enable(&mut *e, Interest::READ);
        }
        if out.eof() {
            self.eofs += 1;
            if self.half_close {
                c.shutdown(&mut *e, w.io()).unwrap();
                return out;
            }
        }
        if let Some(err) = out.error() {
            self.errors.push(err);
        }
        if (out.failed() || (out.eof() && !self.half_close))
            && let Some(c) = self.conns[i].take()
        {
            c.close(&mut *e, w.io());
        }
        out
    }
}

/// EL43 at scale: `clients` concurrent clients each send `messages` messages of 1 byte to 64 KiB
/// through the echo server, one at a time; every byte must come back in order.
pub fn echo_every_byte_returns_in_order<W: NetWorld>(clients: usize, messages: usize) {
    let mut w = W::new();
    let mut e = engine(&w);
    let (lh, target) = w.listen();
    let mut l = Listener::new(&mut *e, w.io(), lh, Ev::Listener).unwrap();
    let mut server = EchoServer::<W>::new(ConnOptions::DEFAULT);
    struct Client<H> {
        conn: Option<Connection<H, ChainBuffer>>,
        sent: usize,
        expect: Vec<u8>,
        got: usize,
        done: bool,
    }
    let mut cs: Vec<Client<W::Handle>> = (0..clients)
        .map(|i| {
            let h = w.connect(target);
            let conn = Connection::connecting(
                &mut *e,
                w.io(),
                h,
                ChainBuffer::new(),
                ChainBuffer::new(),
                ConnOptions::DEFAULT,
                Ev::Client(i),
            )
            .unwrap();
            Client {
                conn: Some(conn),
                sent: 0,
                expect: vec![],
                got: 0,
                done: false,
            }
        })
        .collect();
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
            Ev::Listener => server.accept(&mut e, &mut w, &mut l),
            Ev::Server(i) => {
                server.handle(&mut e, &mut w, i, &f);
            }
            Ev::Client(i) => {
                let c = &mut cs[i];
                let Some(conn) = c.conn.as_mut() else {
                    continue;
                };
                let out = conn.handle(&mut *e, w.io(), &f);
                assert!(out.error().is_none(), "client {i}: {:?}", out.error());
                assert!(!out.eof(), "client {i}: the server closed early");
                if out.connected() {
                    c.expect = message(i, 0);
                    conn.write(&mut *e, w.io(), &c.expect);
                    c.sent = 1;
                }
                while c.got < c.expect.len() {
                    let n = conn.read(&mut *e, &mut buf[..c.expect.len() - c.got]);
                    if n == 0 {
                        break;
                    }
                    assert_eq!(
                        &buf[..n],
                        &c.expect[c.got..c.got + n],
                        "client {i} message {}",
                        c.sent - 1
                    );
                    c.got += n;
                }
                if c.got == c.expect.len() && !c.expect.is_empty() && !c.done {
                    if c.sent == messages {
                        c.done = true;
                        finished += 1;
                        if let Some(conn) = c.conn.take() {
                            conn.close(&mut *e, w.io());
                        }
                    } else {
                        c.expect = message(i, c.sent);
                        c.got = 0;
                        c.sent += 1;
                        conn.write(&mut *e, w.io(), &c.expect);
                    }
                }
            }
        }
    }
    assert!(server.errors.is_empty(), "{:?}", server.errors);
}

/// A client that stops reading: the server stops reading it too once its echo output passes a
/// limit, so the server's output stays bounded; when the client reads again everything flows and
/// arrives in order.
pub fn client_that_stops_reading_keeps_server_output_bounded<W: NetWorld>() {
    const LIMIT: usize = 256 * 1024;
    const TOTAL: usize = 8 * 1024 * 1024;
    let mut w = W::new();
    let mut e = engine(&w);
    let (lh, target) = w.listen();
    w.small_buffers(lh);
    let mut l = Listener::new(&mut *e, w.io(), lh, Ev::Listener).unwrap();
    // Each read takes at most 64 KiB (the high watermark), so the echo output passes the limit
    // by at most that much before the server stops reading.
    let opts = ConnOptions {
        read_high: 64 * 1024,
        ..ConnOptions::DEFAULT
    };
    let mut server = EchoServer::<W>::new(opts);
    server.output_limit = LIMIT;
    let h = w.connect(target);
    w.small_buffers(h);
    let mut client = Connection::connecting(
        &mut *e,
        w.io(),
        h,
        ChainBuffer::new(),
        ChainBuffer::new(),
        ConnOptions::DEFAULT,
        Ev::Client(0),
    )
    .unwrap();
    let mut data = vec![0u8; TOTAL];
    fastrand::Rng::with_seed(7).fill(&mut data);
    let data = &data[..];
    // Phase 1: send everything, read nothing, until nothing moves any more.
    client.disable_reading(&mut *e);
    let mut idle = 0;
    let mut sent = false;
    while idle < 500 {
        e.turn(w.host(), false).unwrap();
        let mut any = false;
        while let Some(f) = e.next_fired() {
            any = true;
            match f.datum {
                Ev::Listener => server.accept(&mut e, &mut w, &mut l),
                Ev::Server(i) => {
                    server.handle(&mut e, &mut w, i, &f);
                }
                Ev::Client(_) => {
                    let out = client.handle(&mut *e, w.io(), &f);
                    if out.connected() && !sent {
                        client.write(&mut *e, w.io(), data);
                        sent = true;
                    }
                }
            }
        }
        idle = if any { 0 } else { idle + 1 };
        if !any {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    assert!(sent);
    assert!(
        server.max_output <= LIMIT + 64 * 1024,
        "server output grew to {}",
        server.max_output
    );
    assert!(
        client.output().len() > 0,
        "the client could not send everything: flow control held"
    );
    // Phase 2: the client reads; everything comes back in order.
    client.enable(&mut *e, Interest::READ);
    let mut got = 0;
    let mut buf = vec![0u8; 64 * 1024];
    while got < TOTAL {
        let f = e
            .next(w.host())
            .unwrap()
            .expect("loop ended before the echo completed");
        match f.datum {
            Ev::Listener => server.accept(&mut e, &mut w, &mut l),
            Ev::Server(i) => {
                server.handle(&mut e, &mut w, i, &f);
            }
            Ev::Client(_) => {
                let out = client.handle(&mut *e, w.io(), &f);
                assert!(out.error().is_none());
                loop {
                    let n = client.read(&mut *e, &mut buf);
                    if n == 0 {
                        break;
                    }
                    assert_eq!(&buf[..n], &data[got..got + n]);
                    got += n;
                }
            }
        }
    }
    assert!(
        server.max_output <= LIMIT + 64 * 1024,
        "server output grew to {}",
        server.max_output
    );
}

/// A peer that resets mid-message: the server sees an error or end of file for that client,
/// closes it, and keeps serving another.
pub fn peer_reset_mid_message_leaves_the_server_serving<W: NetWorld>() {
    let mut w = W::new();
    let mut e = engine(&w);
    let (lh, target) = w.listen();
    let mut l = Listener::new(&mut *e, w.io(), lh, Ev::Listener).unwrap();
    let mut server = EchoServer::<W>::new(ConnOptions::DEFAULT);
    let bad = w.connect(target);
    let good = w.connect(target);
    let mut cs: Vec<Option<Conn<W>>> = [bad, good]
        .iter()
        .enumerate()
        .map(|(i, &h)| {
            Some(
                Connection::connecting(
                    &mut *e,
                    w.io(),
                    h,
                    ChainBuffer::new(),
                    ChainBuffer::new(),
                    ConnOptions::DEFAULT,
                    Ev::Client(i),
                )
                .unwrap(),
            )
        })
        .collect();
    let mut reset_done = false;
    let mut echoed = 0;
    while echoed < 5 {
        let f = e.next(w.host()).unwrap().expect("loop ended");
        match f.datum {
            Ev::Listener => server.accept(&mut e, &mut w, &mut l),
            Ev::Server(i) => {
                server.handle(&mut e, &mut w, i, &f);
            }
            Ev::Client(i) => {
                let Some(c) = cs[i].as_mut() else { continue };
                let out = c.handle(&mut *e, w.io(), &f);
                if out.connected() {
                    c.write(&mut *e, w.io(), b"half a mess");
                }
                if i == 0 && out.connected() && !reset_done {
                    let h = c.handle_id();
                    cs[0] = None;
                    w.reset(&mut *e, h);
                    reset_done = true;
                } else if i == 1 && out.readable() {
                    let mut buf = [0u8; 64];
                    let n = c.read(&mut *e, &mut buf);
                    echoed += 1;
                    assert_eq!(&buf[..n], b"half a mess");
                    if echoed < 5 {
                        c.write(&mut *e, w.io(), b"half a mess");
                    }
                }
            }
        }
    }
    // The reset client's server side is gone: closed after an error or end of file, or never
    // accepted at all when the reset reached it in the listen queue (Windows drops it there or
    // fails the accept; the listener reports `Aborted` and goes on).
    let dropped = |server: &EchoServer<W>| {
        server.conns.iter().filter(|c| c.is_none()).count()
            + server
                .errors
                .iter()
                .filter(|e| **e == IoError::Aborted)
                .count()
    };
    let mut turns = 0;
    while dropped(&server) == 0 && turns < 1000 {
        e.turn(w.host(), true).unwrap();
        while let Some(f) = e.next_fired() {
            if let Ev::Server(i) = f.datum {
                server.handle(&mut e, &mut w, i, &f);
            }
        }
        turns += 1;
    }
    assert_eq!(dropped(&server), 1, "the reset client was dropped");
    assert_eq!(
        server.conns.iter().filter(|c| c.is_some()).count(),
        1,
        "the other client was kept"
    );
}

/// A peer that half-closes: the server reads everything, sees end of file, echoes, flushes and
/// half-closes too; the client receives every byte and then end of file.
pub fn half_close_flushes_then_shuts_down<W: NetWorld>() {
    let mut w = W::new();
    let mut e = engine(&w);
    let (lh, target) = w.listen();
    let mut l = Listener::new(&mut *e, w.io(), lh, Ev::Listener).unwrap();
    let mut server = EchoServer::<W>::new(ConnOptions::DEFAULT);
    server.half_close = true;
    let h = w.connect(target);
    let mut c = Connection::connecting(
        &mut *e,
        w.io(),
        h,
        ChainBuffer::new(),
        ChainBuffer::new(),
        ConnOptions::DEFAULT,
        Ev::Client(0),
    )
    .unwrap();
    let data = message(3, 3).repeat(20);
    let mut got = vec![];
    let mut eof = false;
    while !eof {
        let f = e.next(w.host()).unwrap().expect("loop ended");
        match f.datum {
            Ev::Listener => server.accept(&mut e, &mut w, &mut l),
            Ev::Server(i) => {
                server.handle(&mut e, &mut w, i, &f);
            }
            Ev::Client(_) => {
                let out = c.handle(&mut *e, w.io(), &f);
                if out.connected() {
                    c.write(&mut *e, w.io(), &data);
                    c.shutdown(&mut *e, w.io()).unwrap();
                }
                let mut buf = vec![0u8; 65536];
                loop {
                    let n = c.read(&mut *e, &mut buf);
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
                eof = out.eof();
                assert!(out.error().is_none(), "{:?}", out.error());
            }
        }
    }
    assert_eq!(got.len(), data.len());
    assert!(got == data);
    assert_eq!(server.eofs, 1);
}

/// Data written while the connect is still in progress goes out once it completes (writing
/// must not stop the connect from being watched).
pub fn data_written_while_connecting_goes_out_once_connected<W: NetWorld>() {
    let mut w = W::new();
    let mut e = engine(&w);
    let (lh, target) = w.listen();
    let mut l = Listener::new(&mut *e, w.io(), lh, Ev::Listener).unwrap();
    let mut server = EchoServer::<W>::new(ConnOptions::DEFAULT);
    let h = w.connect(target);
    let mut c = Connection::connecting(
        &mut *e,
        w.io(),
        h,
        ChainBuffer::new(),
        ChainBuffer::new(),
        ConnOptions::DEFAULT,
        Ev::Client(0),
    )
    .unwrap();
    assert_eq!(c.write(&mut *e, w.io(), b"early bird"), 10);
    let mut connected = false;
    let mut got = vec![];
    while got.len() < 10 {
        let f = e.next(w.host()).unwrap().expect("loop ended");
        match f.datum {
            Ev::Listener => server.accept(&mut e, &mut w, &mut l),
            Ev::Server(i) => {
                server.handle(&mut e, &mut w, i, &f);
            }
            Ev::Client(_) => {
                let out = c.handle(&mut *e, w.io(), &f);
                assert!(out.error().is_none(), "{:?}", out.error());
                connected |= out.connected();
                let mut buf = [0u8; 64];
                let n = c.read(&mut *e, &mut buf);
                got.extend_from_slice(&buf[..n]);
            }
        }
    }
    assert!(connected);
    assert_eq!(got, b"early bird");
}

/// A connect to where nobody listens arrives as an error event, not as `connected`.
pub fn connect_refused_arrives_as_an_error<W: NetWorld>() {
    let mut w = W::new();
    let mut e = engine(&w);
    let nowhere = w.nowhere();
    let h = w.connect(nowhere);
    let mut c = Connection::connecting(
        &mut *e,
        w.io(),
        h,
        ChainBuffer::new(),
        ChainBuffer::new(),
        ConnOptions::DEFAULT,
        Ev::Client(0),
    )
    .unwrap();
    let f = e.next(w.host()).unwrap().expect("loop ended");
    let out = c.handle(&mut *e, w.io(), &f);
    assert!(!out.connected());
    assert_eq!(out.error(), Some(IoError::Refused));
    c.close(&mut *e, w.io());
}

/// EL44: a read timeout fires when nothing arrives, and disables reading.
pub fn read_timeout_fires_when_nothing_arrives<W: NetWorld>() {
    let mut w = W::new();
    let mut e = engine(&w);
    let (lh, target) = w.listen();
    let mut l = Listener::new(&mut *e, w.io(), lh, Ev::Listener).unwrap();
    let opts = ConnOptions {
        read_timeout: Some(Duration::from_millis(50)),
        ..ConnOptions::DEFAULT
    };
    let mut server = EchoServer::<W>::new(opts);
    let h = w.connect(target);
    let mut c = Connection::connecting(
        &mut *e,
        w.io(),
        h,
        ChainBuffer::new(),
        ChainBuffer::new(),
        ConnOptions::DEFAULT,
        Ev::Client(0),
    )
    .unwrap();
    let start = e.now();
    let mut timed_out = false;
    while !timed_out {
        let f = e.next(w.host()).unwrap().expect("loop ended");
        match f.datum {
            Ev::Listener => server.accept(&mut e, &mut w, &mut l),
            Ev::Server(i) => {
                let out = server.handle(&mut e, &mut w, i, &f);
                timed_out = out.read_timeout();
                assert!(!out.readable());
            }
            Ev::Client(_) => {
                let out = c.handle(&mut *e, w.io(), &f);
                assert!(out.error().is_none());
            }
        }
    }
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
    let (lh, target) = w.listen();
    let mut l = Listener::new(&mut *e, w.io(), lh, Ev::Listener).unwrap();
    l.set_backoff(Duration::from_millis(100));
    let mut server = EchoServer::<SimNetWorld>::new(ConnOptions::DEFAULT);
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
        if f.datum == Ev::Listener {
            server.accept(&mut e, &mut w, &mut l);
            backoffs += server
                .errors
                .drain(..)
                .filter(|e| *e == IoError::NoDescriptors)
                .count();
        }
        let accepted = server.conns.len();
        if l.is_backing_off() && !freed {
            assert_eq!(accepted, 4);
            // Two clients go away: their server ends can be closed, freeing descriptors.
            for (i, c) in server.conns.iter_mut().take(2).enumerate() {
                if let Some(c) = c.take() {
                    c.close(&mut *e, w.io());
                }
                let _ = w.net.close(&mut *e, clients[i]);
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
