//! The same seed gives the same run on every operating system: an explored echo run (seed 54:
//! short reads and writes, reordered readiness, a reset, half-closes) is recorded
//! with `levent_hosts::trace` and compared byte for byte with the trace kept in
//! `tests/fixtures/explore-echo-54.trace`, which was recorded on Linux. CI runs this test on
//! Linux and under wine. `LEVENT_WRITE_FIXTURE=1` writes the fixture anew.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use levent_core::conn::{ConnEvent, ConnHandler, ConnTable, Refusal, Route, TableConfig};
use levent_core::io::Transport;
use levent_core::{Conn, Engine, Platform, RingBuffer, SourceKey};
use levent_hosts::explore::Chaos;
use levent_hosts::trace::{Record, Recorder, Trace};
use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

const C: usize = 4;
type Buf = RingBuffer<256>;
type Table = ConnTable<Route, SourceKey, Buf, C>;
type Eng = Engine<Route, { levent_core::conn::events_needed(C, 0) }, { C + 1 }, 1>;

const FIXTURE: &[u8] = include_bytes!("../fixtures/explore-echo-54.trace");

struct Echo;

impl<IO: Transport<Handle = SourceKey>> ConnHandler<Route, IO, Buf, ()> for Echo {
    fn event(&mut self, c: &mut Conn<'_, Route, IO, Buf, ()>, ev: ConnEvent) {
        if matches!(ev, ConnEvent::Read | ConnEvent::Eof | ConnEvent::Drained) {
            c.echo();
        }
    }
    fn refused(&mut self, _: Refusal) {}
}

/// A trace in memory.
#[derive(Clone, Default)]
struct Shared(Rc<RefCell<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The echo server and three clients on the faulty network of `seed`, recorded.
fn recorded(seed: u64) -> Vec<u8> {
    let out = Shared::default();
    let recorder = Recorder::start(
        &[("scenario", "echo"), ("seed", &seed.to_string())],
        out.clone(),
    )
    .unwrap();
    let mut chaos = Chaos::new(seed, 1000);
    let listening = chaos.net().listen(7).unwrap();
    let keys: Vec<SourceKey> = (0..3).map(|_| chaos.connect_port(7)).collect();
    let mut net = recorder.wrap(chaos);
    let mut engine = Box::new(Eng::new(Platform::manual(1000)));
    let mut table = Table::new(TableConfig::default());
    table.listen(&mut *engine, &net, listening).unwrap();
    let msgs: Vec<Vec<u8>> = (0..3u8)
        .map(|i| (0..700u32).map(|b| b as u8 ^ i).collect())
        .collect();
    let mut sent = [0usize; 3];
    let mut buf = [0u8; 300];
    for step in 0..600 {
        if step == 300 {
            net.inner().calm();
        }
        for (i, &k) in keys.iter().enumerate() {
            if sent[i] < msgs[i].len() {
                let end = (sent[i] + 200).min(msgs[i].len());
                sent[i] += net.write(k, &msgs[i][sent[i]..end]).unwrap_or(0);
            }
            let _ = net.read(k, &mut buf);
        }
        engine.turn(&mut net, false).unwrap();
        while let Some(f) = engine.next_fired() {
            table.dispatch(&mut *engine, &mut net, &f, f.datum, &mut Echo);
        }
    }
    let fired = net.inner().fired();
    assert!(fired.total() > 10 && fired.missing().len() <= 8, "{fired}");
    recorder.finish().unwrap();
    out.0.take()
}

#[test]
fn an_explored_run_records_the_same_trace_on_every_os() {
    let trace = recorded(54);
    if std::env::var_os("LEVENT_WRITE_FIXTURE").is_some() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/explore-echo-54.trace"
        );
        std::fs::write(path, &trace).unwrap();
        return;
    }
    // The run is rich enough to be worth comparing: faults fired, bytes flowed.
    let parsed = Trace::parse(&trace).unwrap();
    let reads = parsed
        .records()
        .iter()
        .filter(|r| matches!(r, Record::Read(_, _, Ok(b)) if !b.is_empty()))
        .count();
    assert!(reads > 20, "{reads} reads with data");
    assert_eq!(recorded(54), trace, "the same seed twice, the same trace");
    let at = trace.iter().zip(FIXTURE).position(|(a, b)| a != b);
    assert!(
        trace == FIXTURE,
        "the trace differs from the fixture (recorded on Linux) at byte {:?} of {} and {}",
        at,
        trace.len(),
        FIXTURE.len()
    );
}
