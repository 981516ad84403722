//! The core alone, on the simulation host: activate and dispatch one ready event; add, cancel
//! and fire a timer. `cargo bench -p levent-bench --bench core`.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use core::time::Duration;
use criterion::{Criterion, criterion_group, criterion_main};
use levent_core::sim::Sim;
use levent_core::{Engine, Event, Platform, Ready};
use levent_hosts::Heap;
use std::hint::black_box;

fn activate_and_dispatch(c: &mut Criterion) {
    let mut engine: Engine<u32, 64, 8, 1, Heap> = Engine::new(Platform::manual(1000));
    let id = engine
        .create(Event::user(), 7)
        .unwrap_or_else(|_| panic!("room for one event"));
    let mut host = Sim::<8>::new(1);
    c.bench_function("activate + dispatch one event", |b| {
        b.iter(|| {
            let _ = engine.activate(id, Ready::USER);
            let _ = engine.turn(&mut host, false);
            black_box(engine.next_fired())
        })
    });
}

fn timers(c: &mut Criterion) {
    let mut engine: Engine<u32, 4096, 8, 1, Heap> = Engine::new(Platform::manual(1000));
    let mut host = Sim::<8>::new(1);
    let mut rng = fastrand::Rng::with_seed(5);
    let ids: Vec<_> = (0..1024)
        .map(|i| {
            engine
                .create(Event::timer(), i)
                .unwrap_or_else(|_| panic!("room for 1024 timers"))
        })
        .collect();
    c.bench_function("timer add (1024 armed)", |b| {
        let mut k = 0;
        b.iter(|| {
            k = (k + 1) % ids.len();
            let _ = engine.add(ids[k], Some(Duration::from_millis(rng.u64(1..=1000))));
        })
    });
    c.bench_function("timer cancel", |b| {
        let mut k = 0;
        b.iter(|| {
            k = (k + 1) % ids.len();
            let _ = engine.del(ids[k]);
        })
    });
    c.bench_function("timer add + fire", |b| {
        b.iter(|| {
            let _ = engine.add(ids[0], Some(Duration::from_millis(1)));
            host.sleep(1);
            let _ = engine.turn(&mut host, false);
            black_box(engine.next_fired())
        })
    });
}

criterion_group!(benches, activate_and_dispatch, timers);
criterion_main!(benches);
