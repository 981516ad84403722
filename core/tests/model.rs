//! The engine against a small reference model, under random sequences of create / add / delete /
//! free / activate / readiness / time / pull: the same fired events in the same order, the same
//! errors, the same `pending` answers.
//!
//! The model is written for obviousness, not speed: vectors scanned linearly, timers sorted on
//! demand. It encodes the semantics of DESIGN.md directly.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use core::time::Duration;
use levent_core::sim::Sim;
use levent_core::{
    AddError, CreateError, Engine, Event, EventId, IdError, Platform, Ready, SourceKey, Tick,
};
use proptest::prelude::*;
use std::collections::VecDeque;

const KEYS: usize = 4;
const PRIOS: u8 = 3;
const CAP: usize = 12;

#[derive(Clone, Copy, Debug)]
enum Op {
    Create {
        kind: u8,
        key: u8,
        interest: u8,
        persist: bool,
        prio: u8,
    },
    Add {
        ev: usize,
        timeout: Option<u8>,
    },
    Del(usize),
    Free(usize),
    Activate(usize, u8),
    SetReady(u8, u8),
    ClearReady(u8, u8),
    Turn {
        sleep: u8,
    },
    Pull,
    PullAll,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..3, 0u8..KEYS as u8, 1u8..8, any::<bool>(), 0u8..PRIOS).prop_map(
            |(kind, key, interest, persist, prio)| Op::Create { kind, key, interest, persist, prio }
        ),
        4 => (any::<usize>(), proptest::option::of(0u8..30)).prop_map(|(ev, timeout)| Op::Add { ev, timeout }),
        1 => any::<usize>().prop_map(Op::Del),
        1 => any::<usize>().prop_map(Op::Free),
        1 => (any::<usize>(), 1u8..8).prop_map(|(e, r)| Op::Activate(e, r)),
        2 => (0u8..KEYS as u8, 1u8..8).prop_map(|(k, r)| Op::SetReady(k, r)),
        2 => (0u8..KEYS as u8, 1u8..8).prop_map(|(k, r)| Op::ClearReady(k, r)),
        3 => (0u8..20).prop_map(|sleep| Op::Turn { sleep }),
        3 => Just(Op::Pull),
        1 => Just(Op::PullAll),
    ]
}

#[derive(Clone, Debug)]
struct MEvent {
    alive: bool,
    kind: u8,
    key: usize,
    interest: u8,
    persist: bool,
    prio: u8,
    added: bool,
    /// Armed timeout: (deadline, arming order).
    timer: Option<(Tick, u64)>,
    /// The deadline last scheduled, which a persistent timeout re-arms from.
    deadline: Tick,
    period: Option<Tick>,
    active: bool,
    res: u8,
}

struct Model {
    events: Vec<MEvent>,
    /// Added IO events per source, in the order they were added.
    sources: [Vec<usize>; KEYS],
    queues: Vec<VecDeque<usize>>,
    level: [u8; KEYS],
    now: Tick,
    sim_now: Tick,
    order: u64,
    pass: Option<u8>,
    urgent: bool,
}

impl Model {
    fn new() -> Self {
        Model {
            events: vec![],
            sources: Default::default(),
            queues: vec![VecDeque::new(); PRIOS as usize],
            level: [0; KEYS],
            now: 0,
            sim_now: 0,
            order: 0,
            pass: None,
            urgent: false,
        }
    }

    fn live(&self) -> usize {
        self.events.iter().filter(|e| e.alive).count()
    }

    fn activate(&mut self, i: usize, r: u8) {
        let e = &mut self.events[i];
        e.res |= r;
        if !e.active {
            e.active = true;
            self.queues[e.prio as usize].push_back(i);
            if self.pass.is_some_and(|p| e.prio < p) {
                self.urgent = true;
            }
        }
    }

    fn deactivate(&mut self, i: usize) {
        let e = &mut self.events[i];
        if e.active {
            e.active = false;
            e.res = 0;
            let p = e.prio as usize;
            self.queues[p].retain(|&j| j != i);
        }
    }

    fn arm(&mut self, i: usize, deadline: Tick) {
        self.order += 1;
        self.events[i].timer = Some((deadline, self.order));
        self.events[i].deadline = deadline;
    }

    fn add(&mut self, i: usize, timeout: Option<u8>) {
        if !self.events[i].added {
            self.events[i].added = true;
            if self.events[i].kind == 1 {
                self.sources[self.events[i].key].push(i);
            }
        }
        if let Some(t) = timeout {
            self.events[i].period = Some(t as Tick);
            self.arm(i, self.now + t as Tick);
        }
    }

    fn unpend(&mut self, i: usize) {
        let e = &mut self.events[i];
        if e.added && e.kind == 1 {
            self.sources[e.key].retain(|&j| j != i);
        }
        e.added = false;
        e.timer = None;
        e.period = None;
    }

    fn turn(&mut self) {
        // IO in key order; on one source, in the order its events were added.
        for k in 0..KEYS {
            for idx in 0..self.sources[k].len() {
                let i = self.sources[k][idx];
                let hit = self.level[k] & self.events[i].interest;
                if hit != 0 {
                    self.activate(i, hit);
                }
            }
        }
        self.now = self.now.max(self.sim_now);
        let mut due: Vec<(Tick, u64, usize)> = self
            .events
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.timer.filter(|t| t.0 <= self.now).map(|t| (t.0, t.1, i)))
            .collect();
        due.sort();
        for (_, _, i) in due {
            self.events[i].timer = None;
            self.activate(i, Ready::TIMEOUT.bits());
        }
        self.urgent = false;
        self.pass = (0..PRIOS).find(|&p| !self.queues[p as usize].is_empty());
    }

    fn pull(&mut self) -> Option<(usize, u8)> {
        let p = self.pass?;
        if self.urgent {
            self.pass = None;
            return None;
        }
        let Some(i) = self.queues[p as usize].pop_front() else {
            self.pass = None;
            return None;
        };
        let now = self.now;
        let e = &mut self.events[i];
        e.active = false;
        let res = std::mem::take(&mut e.res);
        if e.added {
            if !e.persist {
                self.unpend(i);
            } else if let Some(period) = e.period {
                let base = if res & Ready::TIMEOUT.bits() != 0 {
                    e.deadline
                } else {
                    now
                };
                let mut next = base + period;
                if next < now {
                    next = now + period;
                }
                self.arm(i, next);
            }
        }
        Some((i, res))
    }
}

type Eng = Engine<usize, CAP, 8, 4>;

fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let mut e: Box<Eng> = Box::new(Engine::new(Platform::manual(1000)));
    e.set_priorities(PRIOS).unwrap();
    let mut sim = Sim::<16>::new(0);
    for k in 0..KEYS {
        // Make the simulation know every key in key order, as the model feeds them.
        sim.set_ready(SourceKey(k), Ready::READ).unwrap();
        sim.clear_ready(SourceKey(k), Ready::READ);
    }
    let mut m = Model::new();
    let mut ids: Vec<EventId> = vec![];
    let pick = |ids: &Vec<EventId>, n: usize| (!ids.is_empty()).then(|| n % ids.len());
    for (step, op) in ops.iter().enumerate() {
        match *op {
            Op::Create {
                kind,
                key,
                interest,
                persist,
                prio,
            } => {
                let key = key as usize;
                let mut ev = match kind {
                    0 => Event::timer(),
                    1 => Event::io(SourceKey(key), ready(interest).interest()),
                    _ => Event::user(),
                };
                if persist {
                    ev = ev.persist();
                }
                let got = e.create(ev.priority(prio), m.events.len());
                if m.live() == CAP {
                    prop_assert_eq!(
                        got.map_err(|r| r.error),
                        Err(CreateError::Full),
                        "step {}",
                        step
                    );
                } else {
                    let id = got.map_err(|r| TestCaseError::fail(format!("{r:?}")))?;
                    ids.push(id);
                    m.events.push(MEvent {
                        alive: true,
                        kind,
                        key,
                        interest: if kind == 1 { interest } else { 0 },
                        persist,
                        prio,
                        added: false,
                        timer: None,
                        deadline: 0,
                        period: None,
                        active: false,
                        res: 0,
                    });
                }
            }
            Op::Add { ev, timeout } => {
                let Some(i) = pick(&ids, ev) else { continue };
                let got = e.add(ids[i], timeout.map(|t| Duration::from_millis(t as u64)));
                if m.events[i].alive {
                    prop_assert_eq!(got, Ok(()), "step {}", step);
                    m.add(i, timeout);
                } else {
                    prop_assert_eq!(got, Err(AddError::Id(IdError::Stale)));
                }
            }
            Op::Del(n) | Op::Free(n) => {
                let Some(i) = pick(&ids, n) else { continue };
                let free = matches!(op, Op::Free(_));
                let got = if free {
                    e.free(ids[i]).map(Some)
                } else {
                    e.del(ids[i]).map(|()| None)
                };
                if m.events[i].alive {
                    prop_assert_eq!(got, Ok(free.then_some(i)));
                    m.unpend(i);
                    m.deactivate(i);
                    if free {
                        m.events[i].alive = false;
                    }
                } else {
                    prop_assert_eq!(got, Err(IdError::Stale));
                }
            }
            Op::Activate(n, r) => {
                let Some(i) = pick(&ids, n) else { continue };
                let got = e.activate(ids[i], ready(r));
                if m.events[i].alive {
                    prop_assert_eq!(got, Ok(()));
                    m.activate(i, r);
                } else {
                    prop_assert_eq!(got, Err(IdError::Stale));
                }
            }
            Op::SetReady(k, r) => {
                sim.set_ready(SourceKey(k as usize), ready(r)).unwrap();
                m.level[k as usize] |= r;
            }
            Op::ClearReady(k, r) => {
                sim.clear_ready(SourceKey(k as usize), ready(r));
                m.level[k as usize] &= !r;
            }
            Op::Turn { sleep } => {
                sim.sleep(sleep as Tick);
                m.sim_now += sleep as Tick;
                e.turn(&mut sim, false).unwrap();
                m.turn();
            }
            Op::Pull | Op::PullAll => loop {
                let got = e.next_fired().map(|f| (f.datum, f.ready.bits()));
                let want = m.pull();
                prop_assert_eq!(got, want, "step {}: {:?}", step, op);
                if got.is_none() || matches!(op, Op::Pull) {
                    break;
                }
            },
        }
        prop_assert_eq!(e.now(), m.now);
        for (i, id) in ids.iter().enumerate() {
            let me = &m.events[i];
            match e.pending(*id) {
                Ok(p) => {
                    prop_assert!(me.alive);
                    prop_assert_eq!(p.added, me.added, "step {} event {} added", step, i);
                    prop_assert_eq!(p.active, me.active, "step {} event {} active", step, i);
                    prop_assert_eq!(
                        p.deadline,
                        me.timer.map(|t| t.0),
                        "step {} event {} deadline",
                        step,
                        i
                    );
                }
                Err(err) => {
                    prop_assert!(!me.alive);
                    prop_assert_eq!(err, IdError::Stale);
                }
            }
        }
    }
    Ok(())
}

fn ready(bits: u8) -> Ready {
    let mut r = Ready::NONE;
    for (bit, f) in [(1, Ready::READ), (2, Ready::WRITE), (4, Ready::CLOSED)] {
        if bits & bit != 0 {
            r |= f;
        }
    }
    r
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_the_reference_model(ops in proptest::collection::vec(op(), 1..200)) {
        run(&ops)?;
    }
}
