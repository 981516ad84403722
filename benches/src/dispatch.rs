//! Core alone: the engine's own cost of taking readiness in and handing a fired event out.
//!
//! A minimal host feeds `READ` for every registered source each turn (what epoll does after
//! `epoll_wait` returns them all); the loop takes every fired event out. Nothing else runs, so the
//! instructions counted are the engine's.

use levent_core::{
    Attached, Change, Clock, Engine, Event, Feed, Host, HostError, Platform, Ready, SourceKey,
    Tick, Token, Turn, Wait,
};
use levent_hosts::Heap;

/// A host that reports every registered source readable at every turn.
#[derive(Default)]
pub struct AllReady {
    ready: Vec<(Token, Ready)>,
}

impl Host for AllReady {
    fn clock(&self) -> Option<Clock> {
        None
    }
    fn apply(&mut self, c: Change) -> Result<(), HostError> {
        if let Change::Io { token, new, .. } = c {
            if new.is_empty() {
                self.ready.retain(|(t, _)| *t != token);
            } else if !self.ready.iter().any(|(t, _)| *t == token) {
                self.ready.push((token, Ready::READ));
            }
        }
        Ok(())
    }
    fn wait(&mut self, _: Wait, d: &mut dyn Feed) -> Result<Turn, HostError> {
        d.feed_io(&self.ready);
        Ok(Turn::Waited)
    }
    fn now(&mut self) -> Tick {
        0
    }
    fn attach(&mut self, _: Attached) -> Result<(), HostError> {
        Err(HostError::Capacity)
    }
}

/// Capacity of the benchmark's engine.
pub const EVENTS: usize = 1024;

/// Dispatch `rounds` turns of `n` ready persistent events; returns how many fired.
pub fn run(n: usize, rounds: usize) -> u64 {
    let mut engine: Engine<u32, EVENTS, EVENTS, 1, Heap> = Engine::new(Platform::manual(1000));
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
