//! Rate limits on virtual time: connections of a [`ConnTable`] with a per-connection limit and a
//! group budget, on the simulated network, where ten seconds pass in milliseconds of real time and
//! every byte is counted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use levent_core::conn::{
    ConnEvent, ConnTable, RateLimit, Route, SetupError, TableConfig, events_needed,
};
use levent_core::{Buffer, Engine, Platform, RingBuffer, SourceKey};
use levent_hosts::Heap;
use levent_hosts::sim::SimNet;

const C: usize = 100;
const PORT: u16 = 7;
/// Virtual milliseconds the measured runs last.
const SPAN: u64 = 10_000;

type Buf = RingBuffer<4096>;
type Table = ConnTable<Route, SourceKey, Buf, C, (), Heap>;
type Eng = Engine<Route, { events_needed(C, 1) }, { C + 1 }, 1, Heap>;

struct World {
    net: SimNet,
    engine: Eng,
    table: Table,
    /// Bytes the server read, per connection slot.
    read: Vec<u64>,
    turns: u64,
}

impl World {
    fn new(cfg: TableConfig) -> World {
        let mut net = SimNet::new(7);
        let listening = net.listen(PORT).unwrap();
        let mut engine = Eng::new(Platform::manual(1000));
        let mut table = Table::new(cfg);
        table.listen(&mut engine, &net, listening).unwrap();
        World {
            net,
            engine,
            table,
            read: vec![0; C],
            turns: 0,
        }
    }

    /// One blocking turn (virtual time moves to the next timer when nothing is ready); the
    /// server counts and drops what it reads, or writes `reply` to every connection.
    fn turn(&mut self, reply: Option<&[u8]>) {
        self.turns += 1;
        self.engine.turn(&mut self.net, true).unwrap();
        while let Some(f) = self.engine.next_fired() {
            let read = &mut self.read;
            self.table.handle(
                &mut self.engine,
                &mut self.net,
                &f,
                f.datum,
                |c, ev| match ev {
                    ConnEvent::Read | ConnEvent::Eof => {
                        let n = c.input().len();
                        read[c.id().slot()] += c.consume(n) as u64;
                    }
                    ConnEvent::Opened | ConnEvent::Drained => {
                        if let Some(data) = reply {
                            while c.output().len() < 2048 && c.write(data) > 0 {}
                        }
                    }
                    _ => {}
                },
            );
        }
    }

    fn now(&self) -> u64 {
        self.engine.now()
    }
}

/// Keep every client's socket full.
fn feed(net: &mut SimNet, clients: &[SourceKey]) {
    let chunk = [0x5a_u8; 8192];
    for &k in clients {
        while net.write(k, &chunk).is_ok_and(|n| n > 0) {}
    }
}

fn within(got: u64, want: u64, percent: u64) -> bool {
    got.abs_diff(want) * 100 <= want * percent
}

/// 100 connections sending as fast as they can into a group of 1 MB/s move 10 MB in 10 s of
/// virtual time, within 2 %; each gets a fair share; and the server sleeps between refills
/// instead of spinning (a handful of turns per 100 ms refill).
#[test]
fn a_group_of_100_connections_holds_1_mb_per_second_over_10_s() {
    let mut w = World::new(TableConfig {
        group_rate: Some(RateLimit::bytes_per_second(1_000_000, RateLimit::UNLIMITED)),
        ..TableConfig::default()
    });
    let clients: Vec<SourceKey> = (0..C).map(|_| w.net.connect(PORT)).collect();
    while w.table.len() < C {
        w.turn(None);
    }
    let (start, turns0) = (w.now(), w.turns);
    let read0: u64 = w.read.iter().sum();
    while w.now() < start + SPAN {
        feed(&mut w.net, &clients);
        w.turn(None);
    }
    let moved = w.read.iter().sum::<u64>() - read0;
    assert!(
        within(moved, 10_000_000, 2),
        "moved {moved} bytes in {} ms",
        w.now() - start
    );
    let group = w.table.group().unwrap();
    assert_eq!(group.members(), C);
    assert_eq!(group.totals().0, w.read.iter().sum::<u64>());
    // Fair: nobody got less than half or more than twice the average share.
    let (least, most) = (w.read.iter().min().unwrap(), w.read.iter().max().unwrap());
    let average = moved / C as u64;
    assert!(
        *least * 2 >= average && *most <= average * 2,
        "shares from {least} to {most}, average {average}"
    );
    let turns = w.turns - turns0;
    eprintln!("group: moved {moved} bytes in 10 s, shares {least}..{most}, {turns} turns");
    assert!(
        turns <= 100 * 8,
        "{turns} turns for 100 refills: the server spins"
    );
}

/// A connection alone in a table whose group allows 1 MB/s gets at most its own 100 kB/s.
#[test]
fn one_connection_alone_gets_at_most_its_own_rate() {
    let mut w = World::new(TableConfig {
        rate: Some(RateLimit::bytes_per_second(100_000, RateLimit::UNLIMITED)),
        group_rate: Some(RateLimit::bytes_per_second(1_000_000, RateLimit::UNLIMITED)),
        ..TableConfig::default()
    });
    let client = [w.net.connect(PORT)];
    while w.table.is_empty() {
        w.turn(None);
    }
    let start = w.now();
    while w.now() < start + SPAN {
        feed(&mut w.net, &client);
        w.turn(None);
    }
    let moved: u64 = w.read.iter().sum();
    eprintln!("alone: moved {moved} bytes in 10 s");
    // Its own budget: 100 refills of 10 kB, plus the full bucket it started with.
    assert!(moved <= 1_010_000, "moved {moved}");
    assert!(within(moved, 1_000_000, 2), "moved {moved}");
}

/// Writing is limited too: a server with 50 kB/s of output per connection sends one reader
/// 500 kB in 10 s, however fast the reader takes it.
#[test]
fn writes_hold_their_rate() {
    let mut w = World::new(TableConfig {
        rate: Some(RateLimit::bytes_per_second(RateLimit::UNLIMITED, 50_000)),
        ..TableConfig::default()
    });
    let client = w.net.connect(PORT);
    let start = w.now();
    let mut got = 0u64;
    let mut buf = [0u8; 16384];
    let payload = [0xa5_u8; 1024];
    while w.now() < start + SPAN {
        w.turn(Some(&payload));
        while let Ok(n) = w.net.read(client, &mut buf) {
            if n == 0 {
                break;
            }
            got += n as u64;
        }
    }
    eprintln!("writes: the reader got {got} bytes in 10 s");
    assert!(within(got, 500_000, 2), "the reader got {got}");
}

/// A limited table needs one more event per connection (its refill timer), and says so at
/// `listen` when the engine lacks it.
#[test]
fn a_limited_table_counts_its_timers_at_listen() {
    let mut net = SimNet::new(1);
    let listening = net.listen(PORT).unwrap();
    let mut engine =
        Engine::<Route, { events_needed(C, 0) }, { C + 1 }, 1, Heap>::new(Platform::manual(1000));
    let mut table = Table::new(TableConfig {
        rate: Some(RateLimit::bytes_per_second(1000, 1000)),
        ..TableConfig::default()
    });
    let err = table.listen(&mut engine, &net, listening).unwrap_err();
    assert!(
        matches!(err, SetupError::TooSmall { need, .. } if need.events == events_needed(C, 1)),
        "{err:?}"
    );
}
