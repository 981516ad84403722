//! Timers: add N timers with random timeouts of 1 to 1000 ms, cancel every second one, fire the
//! rest. The same method as the libevent and binary-heap figures in BENCHMARKS.md.

use core::time::Duration;
use levent_core::sim::Sim;
use levent_core::{Engine, Event, EventId, Platform};
use std::time::Instant;

/// Nanoseconds per add, per cancel and per fire.
#[derive(Clone, Copy, Debug)]
pub struct TimerFigures {
    /// Per `start` of a timer.
    pub add: f64,
    /// Per `del` of an added timer.
    pub cancel: f64,
    /// Per fired timer, taken out of the engine.
    pub fire: f64,
}

/// Capacity of the benchmark's engine.
pub const N: usize = 1_000_000;

type Big = Engine<u32, N, 1, 1>;

/// Run the timer benchmark with `n <= N` timers and the given seed.
pub fn levent(n: usize, seed: u64) -> TimerFigures {
    let n = n.min(N);
    // The engine is large (about 110 MB for a million events): build it on a thread with room.
    std::thread::Builder::new()
        .stack_size(1 << 30)
        .spawn(move || {
            let mut engine: Box<Big> = Box::new(Engine::new(Platform::manual(1000)));
            run(&mut engine, n, seed)
        })
        .and_then(|h| {
            h.join()
                .map_err(|_| std::io::Error::other("benchmark thread panicked"))
        })
        .unwrap_or(TimerFigures {
            add: f64::NAN,
            cancel: f64::NAN,
            fire: f64::NAN,
        })
}

fn run(engine: &mut Big, n: usize, seed: u64) -> TimerFigures {
    let mut rng = fastrand::Rng::with_seed(seed);
    let timeouts: Vec<Duration> = (0..n)
        .map(|_| Duration::from_millis(rng.u64(1..=1000)))
        .collect();
    let mut ids: Vec<EventId> = Vec::with_capacity(n);
    let t = Instant::now();
    for (i, d) in timeouts.iter().enumerate() {
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
    let t = Instant::now();
    let mut fired = 0u64;
    while let Ok(Some(f)) = engine.next(&mut host) {
        fired += 1;
        std::hint::black_box(f);
    }
    let fire = t.elapsed();
    let cancelled = ids.len().div_ceil(2);
    TimerFigures {
        add: add.as_nanos() as f64 / ids.len() as f64,
        cancel: cancel.as_nanos() as f64 / cancelled as f64,
        fire: fire.as_nanos() as f64 / fired.max(1) as f64,
    }
}
