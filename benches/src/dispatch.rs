//! Core alone: the engine's own cost of taking readiness in and handing a fired event out.
//!
//! A minimal host feeds `READ` for every registered source each turn (what epoll does after
//! `epoll_wait` returns them all); the loop takes every fired event out. Nothing else runs, so the
//! instructions counted are the engine's.

use levent_core::{
    Change, Dispatcher, Engine, Event, Host, HostError, Platform, Ready, SourceKey, Token, Turn,
    Wait,
};

/// A host that reports every registered source readable at every turn.
#[derive(Default)]
pub struct AllReady {
    ready: Vec<(Token, Ready)>,
}

impl Host for AllReady {
    fn turn(&mut self, d: &mut dyn Dispatcher, _: Wait) -> Result<Turn, HostError> {
        while let Some(c) = d.next_change() {
            if let Change::Io { token, new, .. } = c {
                if new.is_empty() {
                    self.ready.retain(|(t, _)| *t != token);
                } else if !self.ready.iter().any(|(t, _)| *t == token) {
                    self.ready.push((token, Ready::READ));
                }
            }
        }
        d.feed_io(&self.ready);
        let now = d.now();
        d.advance(now);
        Ok(Turn::Waited)
    }
}

/// Capacity of the benchmark's engine.
pub const EVENTS: usize = 1024;

/// Dispatch `rounds` turns of `n` ready persistent events; returns how many fired.
pub fn run(n: usize, rounds: usize) -> u64 {
    let mut engine: Box<Engine<u32, EVENTS, EVENTS, 1>> =
        Box::new(Engine::new(Platform::manual(1000)));
    for i in 0..n.min(EVENTS) {
        if engine
            .start(Event::read(SourceKey(i)).persist(), i as u32, None)
            .is_err()
        {
            break;
        }
    }
    let mut host = AllReady::default();
    let mut fired = 0u64;
    for _ in 0..rounds {
        if engine.turn(&mut host, false).is_err() {
            break;
        }
        while let Some(f) = engine.next_fired() {
            fired += 1;
            std::hint::black_box(f);
        }
    }
    fired
}
