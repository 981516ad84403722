//! The simulation host: virtual time, scripted readiness, injected signals and wake-ups, and a
//! seed.
//!
//! [`Sim`] implements [`Host`] without an operating system. Its clock jumps straight to the next
//! deadline or scripted action instead of sleeping, so a test of a 24-hour timer takes
//! microseconds. A test sets the readiness of a source *now* ([`Sim::set_ready`]) or schedules it
//! for a later tick ([`Sim::schedule`]); readiness is level-triggered unless the engine
//! registered the source as edge-triggered, exactly as the engine asked through its change list.
//! When several sources are ready in one turn they are fed in an order drawn from the seed
//! (with [`Sim::shuffle`]), like a kernel that reports them in an arbitrary order; every run with
//! the same seed and the same script fires the same events in the same order.
//!
//! [`Wires`] are byte streams in memory for it: a transport and listener whose peer the test
//! plays.
//!
//! Enable it with the `sim` feature (`levent-hosts` re-exports it as `levent_hosts::sim`).
//!
//! ```
//! use core::time::Duration;
//! use levent_core::{Engine, Event, Platform, Ready, SourceKey, sim::{Action, Sim}};
//!
//! let mut engine: Engine<u8, 4, 4, 1> = Engine::new(Platform::manual(1000));
//! let mut sim = Sim::<8>::new(42);
//! let key = SourceKey(3);
//! engine.start(Event::read(key).persist(), 3, Some(Duration::from_millis(50))).unwrap();
//! sim.schedule(20, Action::SetReady(key, Ready::READ)).unwrap();
//!
//! let first = engine.next(&mut sim).unwrap().unwrap();
//! assert_eq!((first.ready, engine.now()), (Ready::READ, 20));
//! sim.clear_ready(key, Ready::READ); // the program read everything there was
//! let second = engine.next(&mut sim).unwrap().unwrap();
//! assert_eq!((second.ready, engine.now()), (Ready::TIMEOUT, 70)); // re-based on the read
//! ```

mod wires;

pub use wires::Wires;

use crate::event::{EventId, Interest, Ready, SourceKey};
use crate::host::NotifierSlot;
use crate::host::{Change, Feed, Host, HostError, Token, Turn, Wait};
use crate::keyindex::KeyIndex;
use crate::notify::Attached;
use crate::time::Clock;
use crate::time::Tick;

/// Something a script does at a given tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Action {
    /// The source becomes ready for these flags (new data arrived: an edge, too).
    SetReady(SourceKey, Ready),
    /// The source stops being ready for these flags (its data was consumed).
    ClearReady(SourceKey, Ready),
    /// Deliver a signal.
    Signal(i32),
    /// A wake-up activating a user event, as a [`Notifier`](crate::Notifier) would.
    Wake(EventId),
}

/// A table of the simulation is full (`N` sources or `N` scripted actions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SimFull;

impl core::fmt::Display for SimFull {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("simulation table full")
    }
}

impl core::error::Error for SimFull {}

#[derive(Clone, Copy, Debug)]
struct SimSource {
    key: SourceKey,
    token: Option<Token>,
    interest: Interest,
    edge: bool,
    level: Ready,
    /// Readiness that appeared since it was last reported (what an edge-triggered event sees).
    fresh: Ready,
    /// In the candidate list of sources that may have something to report.
    queued: bool,
}

#[derive(Clone, Copy, Debug)]
struct Scheduled {
    at: Tick,
    seq: u64,
    action: Action,
}

/// A deterministic host with virtual time. `N` bounds its sources, scripted actions and queued
/// wake-ups.
pub struct Sim<const N: usize> {
    now: Tick,
    rng: fastrand::Rng,
    shuffle: bool,
    sources: heapless::Vec<SimSource, N>,
    index: KeyIndex<N>,
    /// Sources whose state changed, or that stayed ready: only these are looked at in a turn.
    candidates: heapless::Vec<u32, N>,
    script: heapless::Vec<Scheduled, N>,
    seq: u64,
    signals: [u32; 64],
    watched: u64,
    wakes: heapless::Vec<EventId, N>,
    notifier: NotifierSlot,
    turns: u64,
}

impl<const N: usize> Sim<N> {
    /// A simulation at tick 0 whose random choices all come from `seed`.
    pub fn new(seed: u64) -> Self {
        Sim {
            now: 0,
            rng: fastrand::Rng::with_seed(seed),
            shuffle: false,
            sources: heapless::Vec::new(),
            index: KeyIndex::new(),
            candidates: heapless::Vec::new(),
            script: heapless::Vec::new(),
            seq: 0,
            signals: [0; 64],
            watched: 0,
            wakes: heapless::Vec::new(),
            notifier: NotifierSlot::default(),
            turns: 0,
        }
    }

    /// Feed the sources that are ready in one turn in an order drawn from the seed, instead of
    /// the order in which they became known.
    pub fn shuffle(mut self, on: bool) -> Self {
        self.shuffle = on;
        self
    }

    /// The current virtual time.
    pub fn now(&self) -> Tick {
        self.now
    }

    /// Let virtual time pass without a turn, as if the program were busy or asleep.
    pub fn sleep(&mut self, ticks: Tick) {
        self.now = self.now.saturating_add(ticks);
    }

    /// The random number generator of this simulation, for tests that build random scripts.
    pub fn rng(&mut self) -> &mut fastrand::Rng {
        &mut self.rng
    }

    /// How many turns the engine has run.
    pub fn turns(&self) -> u64 {
        self.turns
    }

    fn find(&self, key: SourceKey) -> Option<usize> {
        let sources = &self.sources;
        self.index
            .find(key, |v| sources[v as usize].key)
            .map(|i| i as usize)
    }

    /// The source for `key` (created if new), marked as a candidate for the next turn.
    fn source(&mut self, key: SourceKey) -> Result<&mut SimSource, SimFull> {
        let i = match self.find(key) {
            Some(i) => i,
            None => {
                let fresh = SimSource {
                    key,
                    token: None,
                    interest: Interest::NONE,
                    edge: false,
                    level: Ready::NONE,
                    fresh: Ready::NONE,
                    queued: false,
                };
                self.sources.push(fresh).map_err(|_| SimFull)?;
                let i = self.sources.len() - 1;
                self.index.insert(key, i as u32);
                i
            }
        };
        let s = &mut self.sources[i];
        if !s.queued {
            // Cannot fail: every source is in the list at most once, and there are at most N.
            let _ = self.candidates.push(i as u32);
            s.queued = true;
        }
        Ok(s)
    }

    /// `key` is ready for `ready` from now on (level) and has a new edge.
    pub fn set_ready(&mut self, key: SourceKey, ready: Ready) -> Result<(), SimFull> {
        let s = self.source(key)?;
        s.level |= ready;
        s.fresh |= ready;
        Ok(())
    }

    /// `key` is no longer ready for `ready`.
    pub fn clear_ready(&mut self, key: SourceKey, ready: Ready) {
        if let Some(i) = self.find(key) {
            let s = &mut self.sources[i];
            s.level = s.level & !ready;
            s.fresh = s.fresh & !ready;
        }
    }

    /// The current readiness of `key`.
    pub fn readiness(&self, key: SourceKey) -> Ready {
        self.find(key)
            .map_or(Ready::NONE, |i| self.sources[i].level)
    }

    /// What the engine has registered for `key`: its interest and whether it is edge-triggered.
    pub fn registration(&self, key: SourceKey) -> Option<(Interest, bool)> {
        self.find(key)
            .map(|i| &self.sources[i])
            .filter(|s| s.token.is_some())
            .map(|s| (s.interest, s.edge))
    }

    /// Whether the engine asked to catch `signo`.
    pub fn is_catching(&self, signo: i32) -> bool {
        (1..64).contains(&signo) && self.watched & 1 << signo != 0
    }

    /// Do `action` at tick `at` (at once, in the next turn, if `at` is not in the future).
    /// Actions at the same tick happen in the order they were scheduled.
    pub fn schedule(&mut self, at: Tick, action: Action) -> Result<(), SimFull> {
        self.seq += 1;
        self.script
            .push(Scheduled {
                at,
                seq: self.seq,
                action,
            })
            .map_err(|_| SimFull)
    }

    /// Deliver signal `signo` in the next turn. A signal nobody catches is dropped.
    pub fn raise(&mut self, signo: i32) {
        if let Some(c) = usize::try_from(signo)
            .ok()
            .and_then(|i| self.signals.get_mut(i))
        {
            *c = c.saturating_add(1);
        }
    }

    /// Activate user event `id` in the next turn, as a wake-up from elsewhere.
    pub fn wake(&mut self, id: EventId) -> Result<(), SimFull> {
        self.wakes.push(id).map_err(|_| SimFull)
    }

    /// Apply one change of the engine's change list, as a turn does for every change it drains.
    /// A host closing a source applies the change that
    /// [`Dispatcher::forget_source`](crate::Dispatcher::forget_source) returned with this.
    pub fn apply(&mut self, change: Change) -> Result<(), SimFull> {
        match change {
            Change::Io {
                key,
                token,
                new,
                edge,
                ..
            } => {
                let s = self.source(key)?;
                if new.is_empty() && s.token != Some(token) {
                    // A deregistration of a registration that is already gone or replaced.
                    return Ok(());
                }
                s.token = (!new.is_empty()).then_some(token);
                s.interest = new;
                s.edge = edge;
            }
            Change::Signal { signo, watch } => {
                let bit = 1u64 << (signo & 63);
                if watch {
                    self.watched |= bit
                } else {
                    self.watched &= !bit
                }
            }
        }
        Ok(())
    }

    fn perform(&mut self, action: Action) -> Result<(), SimFull> {
        match action {
            Action::SetReady(key, r) => self.set_ready(key, r),
            Action::ClearReady(key, r) => {
                self.clear_ready(key, r);
                Ok(())
            }
            Action::Signal(signo) => {
                self.raise(signo);
                Ok(())
            }
            Action::Wake(id) => self.wake(id),
        }
    }

    fn next_scripted(&self) -> Option<(usize, Tick)> {
        self.script
            .iter()
            .enumerate()
            .min_by_key(|(_, s)| (s.at, s.seq))
            .map(|(i, s)| (i, s.at))
    }

    fn deliverable(s: &SimSource) -> Ready {
        let seen = if s.edge { s.fresh } else { s.level };
        if s.token.is_some() {
            seen & Ready::from(s.interest)
        } else {
            Ready::NONE
        }
    }

    fn anything_now(&self) -> bool {
        self.candidates
            .iter()
            .any(|&i| !Self::deliverable(&self.sources[i as usize]).is_empty())
            || !self.wakes.is_empty()
            || (1..64).any(|i| self.signals[i] > 0 && self.watched & 1 << i != 0)
    }
}

impl<const N: usize> Host for Sim<N> {
    /// Virtual ticks are the engine's own: any engine runs here.
    fn clock(&self) -> Option<Clock> {
        None
    }

    fn apply(&mut self, change: Change) -> Result<(), HostError> {
        Sim::apply(self, change).map_err(|_| HostError::Capacity)
    }

    fn now(&mut self) -> Tick {
        self.now
    }

    /// The simulation never blocks: the notifier needs no waker, only the draining at every turn.
    fn attach(&mut self, notifier: Attached) -> Result<(), HostError> {
        self.notifier.install(notifier, None);
        Ok(())
    }

    fn wait(&mut self, wait: Wait, d: &mut dyn Feed) -> Result<Turn, HostError> {
        self.turns += 1;
        // Nothing wakes a simulation: its notifier is drained before and after every wait.
        let wait = if self.notifier.drain(d) > 0 {
            Wait::No
        } else {
            wait
        };
        let target = if self.anything_now() {
            self.now
        } else {
            let next = self.next_scripted().map(|(_, at)| at.max(self.now));
            match (wait, next) {
                (Wait::No, _) => self.now,
                (Wait::Until(t), Some(n)) => t.min(n).max(self.now),
                (Wait::Until(t), None) => t.max(self.now),
                (Wait::Forever, Some(n)) => n,
                (Wait::Forever, None) => return Ok(Turn::Never),
            }
        };
        self.now = target;
        while let Some((i, at)) = self.next_scripted() {
            if at > self.now {
                break;
            }
            let s = self.script.swap_remove(i);
            self.perform(s.action).map_err(|_| HostError::Capacity)?;
        }
        let mut order = core::mem::take(&mut self.candidates);
        if self.shuffle {
            self.rng.shuffle(&mut order);
        } else {
            // The order in which the sources became known.
            order.sort_unstable();
        }
        for &i in &order {
            let s = &mut self.sources[i as usize];
            let hit = Self::deliverable(s);
            if let (false, Some(token)) = (hit.is_empty(), s.token) {
                s.fresh = s.fresh & !hit;
                d.feed_io(&[(token, hit)]);
            }
            // Level-triggered readiness that lasts is looked at again next turn.
            if Self::deliverable(s).is_empty() {
                s.queued = false;
            } else {
                let _ = self.candidates.push(i);
            }
        }
        for signo in 1..64 {
            let n = core::mem::take(&mut self.signals[signo]);
            if n > 0 && self.watched & 1 << signo != 0 {
                d.feed_signal(signo as i32, n);
            }
        }
        for id in core::mem::take(&mut self.wakes) {
            d.feed_user(id);
        }
        self.notifier.drain(d);
        Ok(Turn::Waited)
    }
}
