//! Timers: add N timers with random timeouts of 1 to 1000 ms, cancel every second one, let every
//! deadline pass, then fire the rest; nanoseconds per add, per cancel and per fire. The same method
//! for levent (on the simulation host, whose clock jumps past every deadline at once, as libevent's
//! does after a sleep), for libevent (`c/timers.c`), and for the baseline a mio user would write:
//! a binary heap with lazy cancellation (mio has no timers).

use core::time::Duration;
use levent_core::sim::Sim;
use levent_core::{Engine, Event, EventId, Platform};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// Nanoseconds per add, per cancel and per fire.
#[derive(Clone, Copy, Debug)]
pub struct TimerFigures {
    /// Per added timer.
    pub add: f64,
    /// Per cancelled timer.
    pub cancel: f64,
    /// Per fired timer.
    pub fire: f64,
}

/// Capacity of the benchmark's engine.
pub const N: usize = 1_000_000;

type Big = Engine<u32, N, 1, 1, levent_hosts::Heap>;

fn timeouts(n: usize, seed: u64) -> Vec<u64> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..n).map(|_| rng.u64(1..=1000)).collect()
}

/// levent, with `n <= N` timers.
pub fn levent(n: usize, seed: u64) -> TimerFigures {
    let n = n.min(N);
    // The engine is large (about 110 MB for a million events): its tables go on the heap.
    let mut engine = Big::new(Platform::manual(1000));
    run_levent(&mut engine, n, seed)
}

fn run_levent(engine: &mut Big, n: usize, seed: u64) -> TimerFigures {
    let durations: Vec<Duration> = timeouts(n, seed)
        .into_iter()
        .map(Duration::from_millis)
        .collect();
    let mut ids: Vec<EventId> = Vec::with_capacity(n);
    let t = Instant::now();
    for (i, d) in durations.iter().enumerate() {
        match engine.start(Event::timer(), i as u32, Some(*d)) {
            Ok(id) => ids.push(id),
            Err(_) => break,
        }
    }
    let add = t.elapsed();
    let t = Instant::now();
    for id in ids.iter().step_by(2) {
        let _ = engine.del(*id);
    }
    let cancel = t.elapsed();
    let mut host = Sim::<1>::new(seed);
    host.sleep(1100);
    let t = Instant::now();
    let mut fired = 0u64;
    while let Ok(Some(f)) = engine.next(&mut host) {
        fired += 1;
        std::hint::black_box(f);
    }
    let fire = t.elapsed();
    TimerFigures {
        add: add.as_nanos() as f64 / ids.len().max(1) as f64,
        cancel: cancel.as_nanos() as f64 / ids.len().div_ceil(2).max(1) as f64,
        fire: fire.as_nanos() as f64 / fired.max(1) as f64,
    }
}

/// The baseline: `std`'s binary heap of `(deadline, sequence, timer)` with lazy cancellation.
pub fn heap(n: usize, seed: u64) -> TimerFigures {
    let ms = timeouts(n, seed);
    let now = 0u64;
    let mut heap: BinaryHeap<Reverse<(u64, u64, u32)>> = BinaryHeap::with_capacity(n);
    let mut cancelled = vec![false; n];
    let t = Instant::now();
    for (i, d) in ms.iter().enumerate() {
        heap.push(Reverse((now + d, i as u64, i as u32)));
    }
    let add = t.elapsed();
    let t = Instant::now();
    for c in cancelled.iter_mut().step_by(2) {
        *c = true;
    }
    let cancel = t.elapsed();
    let later = now + 1100;
    let t = Instant::now();
    let mut fired = 0u64;
    while let Some(Reverse((deadline, _, i))) = heap.peek().copied() {
        if deadline > later {
            break;
        }
        heap.pop();
        if !cancelled[i as usize] {
            fired += 1;
            std::hint::black_box(i);
        }
    }
    let fire = t.elapsed();
    TimerFigures {
        add: add.as_nanos() as f64 / n.max(1) as f64,
        cancel: cancel.as_nanos() as f64 / n.div_ceil(2).max(1) as f64,
        fire: fire.as_nanos() as f64 / fired.max(1) as f64,
    }
}

/// libevent, through `libevent-bench timers` (None without libevent).
pub fn libevent(n: usize, seed: u64) -> Option<std::io::Result<TimerFigures>> {
    let exe = crate::libevent_exe()?;
    let run = || -> std::io::Result<TimerFigures> {
        let out = std::process::Command::new(exe)
            .args(["timers", &n.to_string(), &seed.to_string()])
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let v: Vec<f64> = text
            .split_whitespace()
            .filter_map(|s| s.parse().ok())
            .collect();
        match v[..] {
            [add, cancel, fire] => Ok(TimerFigures { add, cancel, fire }),
            _ => Err(std::io::Error::other(format!(
                "libevent-bench timers printed {text:?}"
            ))),
        }
    };
    Some(run())
}
