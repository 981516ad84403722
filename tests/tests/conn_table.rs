//! The connection table on the simulated network: checked against a model of what its clients
//! did (connect, send, half-close, reset, close, in any order), and at its capacity limits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use levent_core::conn::{
    ConnEvent, ConnHandler, ConnId, ConnTable, Refusal, Route, SetupError, TableConfig,
    events_needed,
};
use levent_core::{Conn, Engine, Event, Platform, RingBuffer, SourceKey};
use levent_hosts::sim::SimNet;
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};

const C: usize = 4;
const PORT: u16 = 7;

type Buf = RingBuffer<64>;
type Table = ConnTable<Route, SourceKey, Buf, C>;
type Eng = Engine<Route, { events_needed(C, 0) }, { C + 1 }, 1>;

/// What the server side saw, checked as it happens.
#[derive(Default)]
struct Seen {
    open: HashSet<ConnId>,
    ever: HashSet<ConnId>,
    /// Connections in the order they opened.
    order: Vec<ConnId>,
    echoed: HashMap<ConnId, usize>,
    closed: usize,
    refused: usize,
    /// Close these when their next event comes.
    close_next: HashSet<ConnId>,
}

impl ConnHandler<Route, SimNet, Buf, ()> for Seen {
    fn event(&mut self, c: &mut Conn<'_, Route, SimNet, Buf, ()>, ev: ConnEvent) {
        let id = c.id();
        if ev == ConnEvent::Opened {
            assert!(self.ever.insert(id), "{id:?} opened twice");
            self.open.insert(id);
            self.order.push(id);
            return;
        }
        assert!(
            self.open.contains(&id),
            "{ev:?} reached {id:?}, which is not open"
        );
        match ev {
            ConnEvent::Read | ConnEvent::Eof | ConnEvent::Drained => {
                let n = c.echo();
                *self.echoed.entry(id).or_default() += n;
            }
            ConnEvent::Closed => {
                self.open.remove(&id);
                self.closed += 1;
            }
            _ => {}
        }
        if self.close_next.remove(&id) {
            c.close();
        }
    }

    fn refused(&mut self, _: Refusal) {
        self.refused += 1;
    }
}

struct World {
    net: SimNet,
    engine: Box<Eng>,
    table: Table,
    seen: Seen,
}

impl World {
    fn new(cfg: TableConfig) -> World {
        let mut net = SimNet::new(1).with_buffer(256);
        let listening = net.listen(PORT).unwrap();
        let mut engine = Box::new(Eng::new(Platform::manual(1000)));
        let mut table = Table::new(cfg);
        table.listen(&mut *engine, &net, listening).unwrap();
        World {
            net,
            engine,
            table,
            seen: Seen::default(),
        }
    }

    /// A few turns: everything ready is handled.
    fn run(&mut self) {
        for _ in 0..4 {
            self.engine.turn(&mut self.net, false).unwrap();
            while let Some(f) = self.engine.next_fired() {
                self.table.dispatch(
                    &mut *self.engine,
                    &mut self.net,
                    &f,
                    f.datum,
                    &mut self.seen,
                );
            }
        }
        assert_eq!(self.table.len(), self.seen.open.len());
    }
}

#[derive(Clone, Debug)]
enum Op {
    Connect,
    Send(usize, Vec<u8>),
    ShutWrite(usize),
    Reset(usize),
    ClientClose(usize),
    ServerClose(usize),
    Read(usize),
    Run,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::Connect),
        4 => (0usize..8, proptest::collection::vec(any::<u8>(), 1..200)).prop_map(|(c, d)| Op::Send(c, d)),
        1 => (0usize..8).prop_map(Op::ShutWrite),
        1 => (0usize..8).prop_map(Op::Reset),
        1 => (0usize..8).prop_map(Op::ClientClose),
        1 => (0usize..8).prop_map(Op::ServerClose),
        3 => (0usize..8).prop_map(Op::Read),
        3 => Just(Op::Run),
    ]
}

#[derive(Default)]
struct Client {
    key: Option<SourceKey>,
    /// What the simulated socket took (a write that did not fit sent only its first part).
    sent: Vec<u8>,
    /// What came back.
    got: Vec<u8>,
    /// The server's end of stream was read.
    eof: bool,
    /// This client half-closed.
    shut: bool,
    /// This client reset, closed, failed a write or is to be closed by the server: its echo may
    /// be cut short.
    broken: bool,
}

fn read_all(net: &mut SimNet, c: &mut Client) {
    let Some(k) = c.key else { return };
    let mut buf = [0u8; 512];
    loop {
        match net.read(k, &mut buf) {
            Ok(0) => {
                c.eof = true;
                return;
            }
            Ok(n) => c.got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
            Err(_) => {
                c.broken = true;
                return;
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever clients do and in whatever order, no event reaches a connection that is not open
    /// (freed, or its slot reused), each connection opens and closes once, the table's count
    /// matches, and a client that neither reset nor was closed gets every byte back in order.
    #[test]
    fn the_table_matches_a_model_of_its_clients(ops in proptest::collection::vec(op(), 1..80)) {
        let mut w = World::new(TableConfig::default());
        let mut clients: Vec<Client> = Vec::new();
        for op in ops {
            match op {
                Op::Connect => clients.push(Client {
                    key: Some(w.net.connect(PORT)),
                    ..Client::default()
                }),
                Op::Send(i, data) => {
                    if let Some(c) = clients.get_mut(i)
                        && let (Some(k), false) = (c.key, c.shut || c.broken) {
                            match w.net.write(k, &data) {
                                Ok(n) => c.sent.extend_from_slice(&data[..n]),
                                // The simulated socket is full: nothing was sent.
                                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                                Err(_) => c.broken = true,
                            }
                        }
                }
                Op::ShutWrite(i) => {
                    if let Some(c) = clients.get_mut(i)
                        && let Some(k) = c.key {
                            let _ = w.net.shutdown_write(k);
                            c.shut = true;
                        }
                }
                Op::Reset(i) => {
                    if let Some(c) = clients.get_mut(i)
                        && let Some(k) = c.key {
                            w.net.reset(k);
                            c.broken = true;
                        }
                }
                Op::ClientClose(i) => {
                    if let Some(c) = clients.get_mut(i)
                        && let Some(k) = c.key.take() {
                            let _ = w.net.close(&mut *w.engine, k);
                            c.broken = true;
                        }
                }
                Op::ServerClose(i) => {
                    // The i-th connection the server opened: closed at its next event.
                    if let Some(&id) = w.seen.order.get(i) {
                        w.seen.close_next.insert(id);
                        if let Some(c) = clients.get_mut(i) {
                            c.broken = true;
                        }
                    }
                }
                Op::Read(i) => {
                    if let Some(c) = clients.get_mut(i) {
                        read_all(&mut w.net, c);
                    }
                }
                Op::Run => w.run(),
            }
        }
        // Let everything settle: every client finishes (half-close), reads, and the server
        // answers; a client that reset or that the server is to close leaves, so the slot it
        // holds frees even if no event would come for it; connections waiting for a slot get
        // theirs as others close.
        for c in &mut clients {
            let Some(k) = c.key else { continue };
            if c.broken {
                let _ = w.net.close(&mut *w.engine, k);
                c.key = None;
            } else {
                let _ = w.net.shutdown_write(k);
                c.shut = true;
            }
        }
        for _ in 0..(clients.len() + 4) * 8 {
            w.run();
            for c in &mut clients {
                read_all(&mut w.net, c);
            }
        }
        for (i, c) in clients.iter().enumerate() {
            if !c.broken {
                prop_assert_eq!(&c.got, &c.sent, "client {} got back what it sent", i);
                prop_assert!(c.eof, "client {} sees the end after its echo", i);
            }
        }
        let clean = clients.iter().filter(|c| !c.broken).count();
        prop_assert!(w.seen.order.len() >= clean);
        prop_assert_eq!(w.seen.closed, w.seen.order.len() - w.seen.open.len());
        prop_assert!(w.seen.open.is_empty(), "every connection ended: {:?}", w.seen.open);
        prop_assert_eq!(w.seen.refused, 0);
    }
}

/// More clients than slots: the table admits `C`, pauses accepting (the rest wait in the
/// backlog), the admitted ones keep being served, and each waiting client gets a slot as one
/// frees.
#[test]
fn a_full_table_pauses_accepting_and_the_others_keep_working() {
    let mut w = World::new(TableConfig::default());
    let keys: Vec<SourceKey> = (0..C + 2).map(|_| w.net.connect(PORT)).collect();
    w.run();
    assert_eq!(w.table.len(), C);
    assert_eq!(w.table.stats().full, 1);
    // The admitted ones echo.
    w.net.write(keys[0], b"ping").unwrap();
    w.run();
    let mut buf = [0u8; 16];
    assert_eq!(w.net.read(keys[0], &mut buf).unwrap(), 4);
    // One leaves: the first waiting client is admitted and served.
    w.net.shutdown_write(keys[1]).unwrap();
    w.run();
    w.run();
    assert_eq!(w.table.len(), C);
    assert_eq!(w.seen.order.len(), C + 1);
    w.net.write(keys[C], b"late").unwrap();
    w.run();
    assert_eq!(w.net.read(keys[C], &mut buf).unwrap(), 4);
    assert_eq!(&buf[..4], b"late");
    assert_eq!(w.table.stats().refused, 0);
}

/// An engine too small for the table is an error when the table starts listening, saying how
/// much it needs, not connections closed later.
#[test]
fn an_engine_too_small_for_the_table_is_an_error_at_listen() {
    let mut net = SimNet::new(1);
    let listening = net.listen(PORT).unwrap();
    let mut engine: Engine<Route, 8, 8, 1> = Engine::new(Platform::manual(1000));
    let mut table = Table::new(TableConfig::default());
    let err = table.listen(&mut engine, &net, listening).unwrap_err();
    let SetupError::TooSmall { need, free } = err else {
        panic!("{err:?}")
    };
    assert_eq!((need.events, free.events), (events_needed(C, 0), 8));
    assert!(err.to_string().contains("needs 10 events"), "{err}");
    assert!(!table.is_listening());
    assert!(engine.is_empty());
}

/// When something else took the engine's room after the table started listening, an accepted
/// connection that cannot be set up is closed at once, counted, reported to the handler, and the
/// open connections go on.
#[test]
fn a_connection_the_engine_has_no_room_for_is_refused_reported_and_closed() {
    let mut w = World::new(TableConfig::default());
    let first = w.net.connect(PORT);
    w.run();
    // Take every free event.
    while w.engine.create(Event::timer(), Route::listener(0)).is_ok() {}
    let second = w.net.connect(PORT);
    w.run();
    assert_eq!(w.table.len(), 1);
    assert_eq!((w.table.stats().refused, w.seen.refused), (1, 1));
    let mut buf = [0u8; 8];
    assert_eq!(w.net.read(second, &mut buf).unwrap(), 0, "closed at once");
    w.net.write(first, b"ok").unwrap();
    w.run();
    assert_eq!(w.net.read(first, &mut buf).unwrap(), 2);
}

/// A client that half-closes gets the rest of its echo, then the end of the stream; its slot is
/// freed only after everything went out.
#[test]
fn a_half_closed_client_gets_the_rest_of_its_echo() {
    let mut w = World::new(TableConfig::default());
    let k = w.net.connect(PORT);
    w.run();
    // More than the 64-byte buffers and the 256-byte socket hold at once.
    let data: Vec<u8> = (0..200u8).collect();
    let mut sent = 0;
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    let mut closed = false;
    for _ in 0..100 {
        if sent < data.len() {
            sent += w.net.write(k, &data[sent..]).unwrap_or(0);
        } else if !closed {
            w.net.shutdown_write(k).unwrap();
            closed = true;
        }
        w.run();
        loop {
            match w.net.read(k, &mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
    }
    assert_eq!(got, data);
    assert_eq!(w.net.read(k, &mut buf).unwrap(), 0);
    assert_eq!(w.table.len(), 0);
    assert_eq!(w.seen.closed, 1);
}

/// A burst of 800 queued connections against a table of 800 on an engine sized by
/// `events_needed`: every one is served (before, a 1024-event engine ran out of slots at 510
/// live connections and dropped the rest).
#[test]
fn a_burst_of_800_queued_connections_is_served_in_full() {
    const N: usize = 800;
    let mut net = SimNet::new(3).with_buffer(64);
    let listening = net.listen(PORT).unwrap();
    let mut engine: Engine<Route, { events_needed(N, 0) }, { N + 1 }, 1, levent_hosts::Heap> =
        Engine::new(Platform::manual(1000));
    let mut table = ConnTable::<Route, SourceKey, Buf, N>::new(TableConfig::default());
    table.listen(&mut engine, &net, listening).unwrap();
    let keys: Vec<SourceKey> = (0..N).map(|_| net.connect(PORT)).collect();
    for (i, &k) in keys.iter().enumerate() {
        net.write(k, format!("{i:04}").as_bytes()).unwrap();
    }
    for _ in 0..N / 64 + 4 {
        engine.turn(&mut net, false).unwrap();
        while let Some(f) = engine.next_fired() {
            table.handle(&mut engine, &mut net, &f, f.datum, |c, ev| {
                if ev == ConnEvent::Read {
                    c.echo();
                }
            });
        }
    }
    assert_eq!(table.len(), N);
    for (i, &k) in keys.iter().enumerate() {
        let mut buf = [0u8; 8];
        assert_eq!(net.read(k, &mut buf).unwrap(), 4, "client {i}");
        assert_eq!(&buf[..4], format!("{i:04}").as_bytes());
    }
    assert_eq!(table.stats().refused, 0);
}
