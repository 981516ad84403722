//! With the `log` feature, what a server operator needs to see is logged: accepting paused and
//! resumed when the connection table is full (info), a connection refused for lack of room
//! (warn), running out of descriptors (warn), and a request refused by the HTTP server's limits
//! (debug).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use levent_core::conn::{ConnTable, Route, TableConfig, events_needed};
use levent_core::{Engine, Event, Platform, RingBuffer, SourceKey};
use levent_hosts::sim::SimNet;
use std::sync::Mutex;

static LINES: Mutex<Vec<(log::Level, String)>> = Mutex::new(Vec::new());

struct Collect;

impl log::Log for Collect {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        LINES
            .lock()
            .unwrap()
            .push((record.level(), record.args().to_string()));
    }
    fn flush(&self) {}
}

fn logged(level: log::Level, part: &str) -> bool {
    LINES
        .lock()
        .unwrap()
        .iter()
        .any(|(l, m)| *l == level && m.contains(part))
}

#[test]
fn a_full_table_a_refused_connection_and_no_descriptors_are_logged() {
    log::set_logger(&Collect).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
    let mut net = SimNet::new(1);
    let listening = net.listen(7).unwrap();
    let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
        Engine::new(Platform::manual(1000));
    let mut table = ConnTable::<Route, SourceKey, RingBuffer<64>, 2>::new(TableConfig::default());
    table.listen(&mut engine, &net, listening).unwrap();
    let turns = |engine: &mut Engine<Route, { events_needed(2, 0) }, 3, 1>,
                 net: &mut SimNet,
                 table: &mut ConnTable<Route, SourceKey, RingBuffer<64>, 2>| {
        for _ in 0..4 {
            engine.turn(net, false).unwrap();
            while let Some(f) = engine.next_fired() {
                table.handle(engine, net, &f, f.datum, |_, _| {});
            }
        }
    };
    let clients: Vec<SourceKey> = (0..3).map(|_| net.connect(7)).collect();
    turns(&mut engine, &mut net, &mut table);
    assert!(logged(
        log::Level::Info,
        "connection slots busy: accepting paused"
    ));
    // One leaves: accepting resumes, and the third client is taken.
    net.shutdown_write(clients[0]).unwrap();
    turns(&mut engine, &mut net, &mut table);
    assert!(logged(log::Level::Info, "accepting again"));
    // Something else takes the engine's last events: the next connection is refused.
    net.shutdown_write(clients[1]).unwrap();
    turns(&mut engine, &mut net, &mut table);
    while engine.create(Event::timer(), Route::listener(9)).is_ok() {}
    net.connect(7);
    turns(&mut engine, &mut net, &mut table);
    assert!(logged(log::Level::Warn, "connection refused"));
    // Out of descriptors: the listener backs off.
    let mut engine2: Engine<Route, { events_needed(2, 0) }, 3, 1> =
        Engine::new(Platform::manual(1000));
    let mut net2 = SimNet::new(2);
    let l2 = net2.listen(8).unwrap();
    let mut table2 = ConnTable::<Route, SourceKey, RingBuffer<64>, 2>::new(TableConfig::default());
    table2.listen(&mut engine2, &net2, l2).unwrap();
    net2.set_fd_limit(0);
    net2.connect(8);
    turns(&mut engine2, &mut net2, &mut table2);
    assert!(logged(log::Level::Warn, "out of descriptors"));
}
