//! The board-side echo server (core `Listener` and `Connection`s over `NetHost`) against clients
//! on the other end of a seeded simulated link. Every run prints its seed; `LEVENT_SEED=n`
//! replays one.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use levent_core::buffer::{Buffer, RingBuffer};
use levent_core::conn::{ConnEvent, ConnId, ConnTable, NoHandler, TableConfig};
use levent_core::io::{IoError, Transport};
use levent_core::{Conn, Engine, Events, Fired, Route, SourceKey};
use levent_embassy::echo::EchoServer;
use levent_embassy::link::LinkConfig;
use smoltcp::phy::Medium;
use support::{Boxed, CLIENT, HZ, Net, SERVER, World, drain, platform, seed};

type ServerEngine = Engine<Route, 96, 48, 2>;
type ClientEngine = Engine<Route, 96, 48, 1>;
type Echo = EchoServer<Route, SourceKey, 16, 1024, Boxed>;
type ClientTable = ConnTable<Route, SourceKey, RingBuffer<2048>, 16, usize, Boxed>;

/// Byte `k` of client `c`'s stream: position-dependent, so a lost, duplicated or reordered byte
/// shows.
fn byte(c: usize, k: usize) -> u8 {
    (k.wrapping_mul(31) ^ (k >> 8) ^ c.wrapping_mul(97)) as u8
}

#[derive(Default)]
struct Client {
    id: Option<ConnId>,
    sent: usize,
    got: usize,
    /// Stop sending at this many bytes and close (a client that leaves mid-stream).
    quit_at: Option<usize>,
    abort: bool,
    done: bool,
    error: Option<IoError>,
}

/// The client board's connections: a table whose per-connection state is the client's number.
struct Clients {
    table: ClientTable,
    all: Vec<Client>,
    total: usize,
    done: usize,
    seed: u64,
}

/// Close client `c` (with a reset if it aborts) and count it done.
fn leave(c: &mut Conn<'_, Route, Net, RingBuffer<2048>, usize>, cl: &mut Client, done: &mut usize) {
    if cl.abort {
        let h = c.handle_id();
        if let Some(s) = c.io().tcp(h) {
            s.abort();
        }
    }
    c.close();
    cl.id = None;
    if !cl.done {
        cl.done = true;
        *done += 1;
    }
}

impl Clients {
    fn new(n: usize, total: usize, seed: u64) -> Clients {
        Clients {
            table: ClientTable::new(TableConfig::default()),
            all: (0..n).map(|_| Client::default()).collect(),
            total,
            done: 0,
            seed,
        }
    }

    fn connect(&mut self, e: &mut dyn Events<Route>, net: &mut Net, i: usize) {
        let h = net.connect((SERVER, 7)).unwrap();
        let id = self.table.connect(e, net, h).unwrap();
        self.table
            .with(e, net, id, &mut NoHandler, |c| *c.state() = i);
        let cl = &mut self.all[i];
        (cl.id, cl.sent, cl.got, cl.done, cl.error) = (Some(id), 0, 0, false, None);
    }

    fn finish(&mut self, e: &mut dyn Events<Route>, net: &mut Net, i: usize) {
        let (all, done) = (&mut self.all, &mut self.done);
        let cl = &mut all[i];
        match cl.id {
            Some(id) => {
                self.table
                    .with(e, net, id, &mut NoHandler, |c| leave(c, cl, done));
            }
            None if !cl.done => {
                cl.done = true;
                *done += 1;
            }
            None => {}
        }
    }

    fn handle(&mut self, e: &mut dyn Events<Route>, net: &mut Net, f: Fired<Route>) {
        let (total, seed) = (self.total, self.seed);
        let (all, done) = (&mut self.all, &mut self.done);
        self.table.handle(e, net, &f, f.datum, |c, ev| {
            let i = *c.state();
            let cl = &mut all[i];
            if cl.done || ev == ConnEvent::Closed {
                return;
            }
            if let ConnEvent::Error(err) = ev {
                cl.error = Some(err);
                leave(c, cl, done);
                return;
            }
            assert!(
                ev != ConnEvent::Eof,
                "seed {seed}: client {i}: the server closed early"
            );
            let mut buf = [0u8; 512];
            loop {
                let n = c.read(&mut buf);
                if n == 0 {
                    break;
                }
                for (j, &b) in buf[..n].iter().enumerate() {
                    assert_eq!(
                        b,
                        byte(i, cl.got + j),
                        "seed {seed}: client {i}: byte {} differs",
                        cl.got + j
                    );
                }
                cl.got += n;
            }
            let end = cl.quit_at.unwrap_or(total);
            while cl.sent < end && c.output().room() > 0 {
                let n = (end - cl.sent).min(buf.len());
                for (j, b) in buf[..n].iter_mut().enumerate() {
                    *b = byte(i, cl.sent + j);
                }
                let w = c.write(&buf[..n]);
                cl.sent += w;
                if w < n {
                    break;
                }
            }
            let quit = cl.quit_at.is_some_and(|q| cl.sent >= q);
            if quit || (cl.quit_at.is_none() && cl.got == total) {
                leave(c, cl, done);
            }
        });
    }
}

struct Run {
    world: World,
    se: Box<ServerEngine>,
    ce: Box<ClientEngine>,
    echo: Echo,
    pool: SourceKey,
}

fn setup(config: LinkConfig, seed: u64, backlog: usize, clients: usize) -> Run {
    let mut world = World::new(config, seed, backlog, clients);
    let mut se = Box::new(ServerEngine::new(platform()));
    se.set_priorities(2).unwrap();
    let ce = Box::new(ClientEngine::new(platform()));
    let pool = world.server.listen(7, backlog).unwrap();
    let echo = Echo::new(&mut *se, &world.server, pool, |r| r).unwrap();
    Run {
        world,
        se,
        ce,
        echo,
        pool,
    }
}

impl Run {
    /// Run both boards until `until` holds or `limit` seconds of virtual time pass.
    fn run(
        &mut self,
        cs: &mut Clients,
        limit_s: u64,
        mut until: impl FnMut(&Run, &Clients) -> bool,
    ) {
        let limit = self.world.now + limit_s * HZ;
        let mut iterations = 0u64;
        while !until(self, cs) {
            let echo = &mut self.echo;
            let a = drain(&mut *self.se, &mut self.world.server, |e, net, f| {
                echo.handle(e, net, &f, f.datum)
            });
            let b = drain(&mut *self.ce, &mut self.world.client, |e, net, f| {
                cs.handle(e, net, f)
            });
            if a + b == 0 {
                if until(self, cs) {
                    break;
                }
                self.world.idle();
            }
            iterations += 1;
            if std::env::var("LEVENT_TRACE").is_ok() && iterations.is_multiple_of(20000) {
                eprintln!(
                    "it {iterations} now {} a {a} b {b} done {} {:?} {:?} sent/got {:?}",
                    self.world.now,
                    cs.done,
                    self.echo.stats(),
                    self.world.link.stats(),
                    cs.all.iter().map(|c| (c.sent, c.got)).collect::<Vec<_>>()
                );
            }
            assert!(
                self.world.now < limit,
                "seed {}: not done after {limit_s} s of virtual time: {} of {} clients done, {:?}, {:?}",
                self.world.seed,
                cs.done,
                cs.all.len(),
                self.echo.stats(),
                self.world.link.stats()
            );
        }
    }
}

fn echo_clients(percent_loss: u32, default_seed: u64, total: usize) {
    let seed = seed(default_seed);
    let config = if percent_loss == 0 {
        LinkConfig::ideal(Medium::Ethernet)
    } else {
        LinkConfig::lossy(Medium::Ethernet, percent_loss)
    };
    let mut r = setup(config, seed, 16, 16);
    let mut cs = Clients::new(16, total, seed);
    for i in 0..16 {
        cs.connect(&mut *r.ce, &mut r.world.client, i);
    }
    r.run(&mut cs, 600, |_, cs| cs.done == 16);
    for (i, c) in cs.all.iter().enumerate() {
        assert_eq!(c.error, None, "seed {seed}: client {i}");
        assert_eq!((c.sent, c.got), (total, total), "seed {seed}: client {i}");
    }
    // The server sees every end of file, closes, and its pool listens again.
    r.run(&mut cs, 60, |r, _| {
        r.echo.stats().closed == 16 && r.world.server.listening(r.pool) == 16
    });
    let stats = r.echo.stats();
    assert_eq!((stats.accepted, stats.failed), (16, 0), "seed {seed}");
    assert_eq!(stats.echoed, 16 * total as u64, "seed {seed}");
    let link = r.world.link.stats();
    eprintln!(
        "seed {seed}: {} virtual ms, {stats:?}, {link:?}",
        r.world.now / 1000
    );
    if percent_loss > 0 {
        assert!(link.lost > 0, "seed {seed}: the link lost nothing");
    }
}

#[test]
fn echo_16_clients_every_byte_in_order_lossless() {
    echo_clients(0, 1, 32 * 1024);
}

#[test]
fn echo_16_clients_every_byte_in_order_with_10_percent_loss() {
    echo_clients(10, 2, 8 * 1024);
}

#[test]
fn echo_with_10_percent_loss_other_seeds() {
    for s in [3, 4, 5] {
        echo_clients(10, s, 2 * 1024);
    }
}

#[test]
fn client_closing_mid_stream_leaves_the_server_serving() {
    let seed = seed(11);
    let mut r = setup(LinkConfig::lossy(Medium::Ethernet, 2), seed, 4, 4);
    let total = 16 * 1024;
    let mut cs = Clients::new(4, total, seed);
    cs.all[1].quit_at = Some(3000); // closes (FIN) after sending 3000 bytes, reading nothing more
    cs.all[2].quit_at = Some(5000);
    cs.all[2].abort = true; // resets after 5000 bytes
    for i in 0..4 {
        cs.connect(&mut *r.ce, &mut r.world.client, i);
    }
    r.run(&mut cs, 300, |_, cs| cs.done == 4);
    for i in [0, 3] {
        assert_eq!(cs.all[i].error, None, "seed {seed}");
        assert_eq!(cs.all[i].got, total, "seed {seed}");
    }
    r.run(&mut cs, 60, |r, _| {
        r.echo.stats().closed == 4 && r.world.server.listening(r.pool) == 4
    });
    let stats = r.echo.stats();
    assert_eq!(stats.accepted, 4, "seed {seed}");
    assert!(
        stats.failed <= 1,
        "seed {seed}: only the reset client may fail: {stats:?}"
    );
    assert_eq!(r.echo.open(), 0, "seed {seed}");
}

#[test]
fn exhausted_listening_pool_refuses_then_recovers() {
    let seed = seed(21);
    let mut r = setup(LinkConfig::ideal(Medium::Ethernet), seed, 3, 6);
    let total = 4 * 1024;
    let mut cs = Clients::new(6, total, seed);
    // Three clients that hold their connections open (they never finish sending)...
    for i in 0..3 {
        cs.all[i].quit_at = Some(usize::MAX);
        cs.all[i].abort = true;
        cs.connect(&mut *r.ce, &mut r.world.client, i);
    }
    r.run(&mut cs, 10, |r, _| r.echo.open() == 3);
    assert_eq!(
        r.world.server.listening(r.pool),
        0,
        "seed {seed}: the pool is exhausted"
    );
    // ...so the next ones are refused.
    for i in 3..6 {
        cs.connect(&mut *r.ce, &mut r.world.client, i);
    }
    r.run(&mut cs, 10, |_, cs| cs.all[3..].iter().all(|c| c.done));
    for c in &cs.all[3..] {
        assert_eq!(c.error, Some(IoError::Refused), "seed {seed}");
    }
    // Two holders leave; their sockets listen again and the refused clients get through.
    for i in 0..2 {
        cs.finish(&mut *r.ce, &mut r.world.client, i);
    }
    r.run(&mut cs, 30, |r, _| r.world.server.listening(r.pool) == 2);
    cs.done = 3;
    for i in 3..5 {
        cs.connect(&mut *r.ce, &mut r.world.client, i);
    }
    r.run(&mut cs, 60, |_, cs| cs.all[3].done && cs.all[4].done);
    for c in &cs.all[3..5] {
        assert_eq!((c.error, c.got), (None, total), "seed {seed}");
    }
    // The two holders that left reset their connections.
    assert_eq!(r.echo.stats().failed, 2, "seed {seed}");
}

#[test]
fn same_seed_same_trace() {
    let trace = |seed: u64| {
        let mut r = setup(LinkConfig::lossy(Medium::Ethernet, 10), seed, 4, 4);
        let mut cs = Clients::new(4, 4096, seed);
        for i in 0..4 {
            cs.connect(&mut *r.ce, &mut r.world.client, i);
        }
        r.run(&mut cs, 300, |_, cs| cs.done == 4);
        (r.world.now, r.world.link.stats(), r.echo.stats())
    };
    let s = seed(31);
    let (a, b) = (trace(s), trace(s));
    assert_eq!(a, b, "seed {s}");
    assert_ne!(a.0, trace(s + 1).0, "another seed, another trace");
    let _ = CLIENT;
    let _: fn(&mut Net, SourceKey) -> SourceKey = |n, k| n.source(k);
}
