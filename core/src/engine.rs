//! The dispatcher: a fixed-capacity table of events, the per-source interest union and change
//! list, the timer heap, the priority queues, and the loop.

mod sources;
mod timers;

use crate::error::{AddError, CreateError, IdError, LoopError, PriorityError, Rejected};
use crate::event::{Event, EventId, Fired, Interest, Kind, Pending, Ready, SourceKey};
use crate::events::{Capacity, Events, Exit, Mode, OnFired};
use crate::host::{Change, Dispatcher, Feed, Host, Platform, Token, Turn, Wait};
use crate::memory::{Inline, Memory};
use crate::time::{Overflow, Tick};
use core::cell::Cell;
use core::time::Duration;
use critical_section::Mutex;
use sources::{NIL, Sources};
use timers::{Entry, TimerHeap};

// Slot flags.
const ALLOC: u16 = 1;
/// Added: waiting for its source, signal, timeout or activation.
const PENDING: u16 = 2;
/// Owns a live entry in the timer heap.
const TIMER: u16 = 4;
/// In a priority queue, waiting to be delivered.
const ACTIVE: u16 = 8;
/// In the queue of activations deferred to the next pass.
const LATER: u16 = 16;
const PERSIST: u16 = 32;
const EDGE: u16 = 64;
/// Freed right after it fires (`once`).
const ONCE: u16 = 128;
/// Has a timeout period (`period` is valid).
const PERIOD: u16 = 256;

const K_IO: u8 = 0;
const K_TIMER: u8 = 1;
const K_SIGNAL: u8 = 2;
const K_USER: u8 = 3;

/// Signal numbers are 1..=63 (one bit each in the wanted and registered masks).
const NSIG: usize = 64;

/// What every operation touches: state, links and timer identity. Exactly 32 bytes, so that
/// walking many events stays in cache and indexing is a shift.
#[derive(Clone, Copy)]
struct Hot {
    generation: u16,
    flags: u16,
    kind: u8,
    interest: Interest,
    res: Ready,
    prio: u8,
    /// Priority or deferred queue links; `next` also links the free list.
    next: u32,
    prev: u32,
    /// Next event on the same source or signal.
    link: u32,
    /// Source slot while an added IO event.
    source: u32,
    /// Sequence number of the live heap entry.
    heap_seq: u32,
    /// Arming order, for first-in first-out among equal deadlines.
    order: u32,
}

impl Hot {
    const EMPTY: Hot = Hot {
        generation: 0,
        flags: 0,
        kind: K_TIMER,
        interest: Interest::NONE,
        res: Ready::NONE,
        prio: 0,
        next: NIL,
        prev: NIL,
        link: NIL,
        source: NIL,
        heap_seq: 0,
        order: 0,
    };
}

/// What only creation, timers and delivery need.
#[derive(Clone, Copy)]
struct Cold<T> {
    datum: Option<T>,
    /// When the timeout is due.
    deadline: Tick,
    /// Deadline of the live heap entry (may be earlier than `deadline` after a lazy extension).
    heap_deadline: Tick,
    /// Timeout length, for re-arming persistent events.
    period: Tick,
    /// Signal deliveries coalesced into the pending firing.
    ncalls: u32,
    key: SourceKey,
    signo: u8,
}

impl<T> Cold<T> {
    const EMPTY: Cold<T> = Cold {
        datum: None,
        deadline: 0,
        heap_deadline: 0,
        period: 0,
        ncalls: 0,
        key: SourceKey(0),
        signo: 0,
    };
}

#[derive(Clone, Copy)]
struct Queue {
    head: u32,
    tail: u32,
}

impl Queue {
    const EMPTY: Queue = Queue {
        head: NIL,
        tail: NIL,
    };
}

static ENGINES: Mutex<Cell<u16>> = Mutex::new(Cell::new(0));

/// The dispatcher: up to `E` events on up to `S` sources, with up to `P` priorities.
///
/// Nothing is allocated: the whole engine is one value, sized by its const parameters, that can
/// live on a stack, in a `static` or in a `Box`. Every table that can fill up returns an error
/// that hands back what did not fit. `T` is the datum each event carries and hands back when it
/// fires: typically a small enum naming what the event is for.
///
/// ```
/// use core::time::Duration;
/// use levent_core::{Engine, Event, Platform, sim::Sim};
///
/// #[derive(Clone, Copy, Debug, PartialEq)]
/// enum Ev { Tick, Stop }
///
/// let mut engine: Engine<Ev, 8, 4, 2> = Engine::new(Platform::manual(1000));
/// let mut host = Sim::<8>::new(1);
/// engine.start(Event::timer().persist(), Ev::Tick, Some(Duration::from_millis(10))).unwrap();
/// engine.start(Event::timer(), Ev::Stop, Some(Duration::from_millis(35))).unwrap();
/// let mut ticks = 0;
/// while let Some(fired) = engine.next(&mut host).unwrap() {
///     match fired.datum {
///         Ev::Tick => ticks += 1,
///         Ev::Stop => engine.loop_break(),
///     }
/// }
/// assert_eq!((ticks, engine.now()), (3, 35));
/// ```
pub struct Engine<T, const E: usize, const S: usize, const P: usize, M: Memory = Inline> {
    hot: M::Table<Hot, E>,
    cold: M::Table<Cold<T>, E>,
    free_head: u32,
    free_tail: u32,
    live: u32,
    sources: Sources<S, M>,
    timers: TimerHeap<E, M>,
    queues: [Queue; P],
    later: Queue,
    nprio: u8,
    starved: [u32; P],
    starve_limit: Option<u32>,
    /// Every added signal event, in the order they were added (one list for all signal numbers:
    /// a table of 64 list heads was 256 bytes of every engine, on boards without signals too).
    signals: u32,
    signals_wanted: u64,
    signals_registered: u64,
    platform: Platform,
    now: Tick,
    /// The last turn skipped the clock (nothing waited on time): `now` is read on demand.
    stale: bool,
    /// The address of the host the clock check last passed for.
    host_seen: usize,
    seq: u32,
    tag: u16,
    /// Added events.
    npending: u32,
    /// The priority whose queue the pass in progress delivers from.
    pass: Option<u8>,
    /// End the pass in progress before the next event: a more urgent event became active, or
    /// `loop_break` was called.
    urgent: bool,
    exit_at: Option<Tick>,
    exit_now: bool,
    break_now: bool,
    last_exit: Option<Exit>,
}

impl<T: Copy, const E: usize, const S: usize, const P: usize, M: Memory> Engine<T, E, S, P, M> {
    const CHECK: () = {
        assert!(E < NIL as usize, "at most 2^32 - 2 events");
        assert!(S < (NIL / 2) as usize, "at most 2^31 - 1 sources");
        assert!(P >= 1 && P <= 256, "between 1 and 256 priorities");
    };

    /// An empty engine for `platform`, with one priority in use.
    ///
    /// Capacity is checked at compile time: `P` must be between 1 and 256.
    ///
    /// ```
    /// use levent_core::{Engine, Platform};
    ///
    /// let engine: Engine<u8, 16, 8, 4> = Engine::new(Platform::manual(1000));
    /// assert!(engine.is_empty() && !engine.is_alive());
    /// assert_eq!(engine.priorities(), 1); // of up to 4
    /// ```
    pub fn new(platform: Platform) -> Self {
        let () = Self::CHECK;
        let tag = critical_section::with(|cs| {
            let c = ENGINES.borrow(cs);
            let t = c.get().wrapping_add(1);
            c.set(t);
            t
        });
        Engine {
            hot: M::table::<Hot, E>(|i| Hot {
                next: if i + 1 < E { (i + 1) as u32 } else { NIL },
                ..Hot::EMPTY
            }),
            cold: M::table::<Cold<T>, E>(|_| Cold::EMPTY),
            free_head: if E > 0 { 0 } else { NIL },
            free_tail: if E > 0 { (E - 1) as u32 } else { NIL },
            live: 0,
            sources: Sources::new(),
            timers: TimerHeap::new(),
            queues: [Queue::EMPTY; P],
            later: Queue::EMPTY,
            nprio: 1,
            starved: [0; P],
            starve_limit: None,
            signals: NIL,
            signals_wanted: 0,
            signals_registered: 0,
            now: platform.clock.read().unwrap_or(0),
            stale: false,
            host_seen: 0,
            platform,
            seq: 0,
            tag,
            npending: 0,
            pass: None,
            urgent: false,
            exit_at: None,
            exit_now: false,
            break_now: false,
            last_exit: None,
        }
    }

    // ----- ids and slots -------------------------------------------------------------------

    fn check(&self, id: EventId) -> Result<u32, IdError> {
        if id.engine != self.tag {
            return Err(IdError::Foreign);
        }
        match self.hot.get(id.index as usize) {
            Some(s) if s.flags & ALLOC != 0 && s.generation == id.generation => Ok(id.index),
            _ => Err(IdError::Stale),
        }
    }

    fn id(&self, i: u32) -> EventId {
        EventId {
            index: i,
            generation: self.hot[i as usize].generation,
            engine: self.tag,
        }
    }

    /// The time to count a new timeout from: the cached time during a pass (libevent's time
    /// cache), a fresh reading of the clock otherwise.
    fn time_for_add(&mut self) -> Tick {
        if (self.pass.is_none() || self.stale)
            && let Some(t) = self.platform.clock.read()
        {
            self.now = self.now.max(t);
            self.stale = false;
        }
        self.now
    }

    /// The turn's time, read now if the turn skipped it.
    fn turn_time(&mut self) -> Tick {
        if self.stale {
            self.time_for_add()
        } else {
            self.now
        }
    }

    // ----- creating and adding ---------------------------------------------------------------

    /// Create an event that is not yet added (libevent's `event_new`).
    ///
    /// Its priority is the one given with [`Event::priority`], or the middle of the priorities in
    /// use. Fails when every slot is in use, the priority is out of range, the signal does not
    /// exist on this platform or an IO event has an empty interest; `datum` comes back in the
    /// error.
    ///
    /// ```
    /// # use levent_core::{CreateError, Engine, Event, Platform};
    /// let mut engine: Engine<char, 1, 1, 1> = Engine::new(Platform::manual(1000));
    /// let id = engine.create(Event::timer(), 'a')?;
    /// assert!(!engine.pending(id)?.added); // created, not added yet
    /// let full = engine.create(Event::user(), 'b').unwrap_err();
    /// assert_eq!((full.error, full.datum), (CreateError::Full, 'b'));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn create(&mut self, ev: Event, datum: T) -> Result<EventId, Rejected<T>> {
        let reject = |error| Err(Rejected { error, datum });
        let prio = match ev.priority {
            Some(p) if p >= self.nprio => return reject(CreateError::BadPriority),
            Some(p) => p,
            None => self.nprio / 2,
        };
        let (kind, key, interest, signo) = match ev.kind {
            Kind::Io { key, interest } => {
                if interest.is_empty() {
                    return reject(CreateError::NoInterest);
                }
                (K_IO, key, interest, 0)
            }
            Kind::Timer => (K_TIMER, SourceKey(0), Interest::NONE, 0),
            Kind::Signal(signo) => {
                if !self.platform.signals.contains(signo) {
                    return reject(CreateError::BadSignal);
                }
                (K_SIGNAL, SourceKey(0), Interest::NONE, signo as u8)
            }
            Kind::User => (K_USER, SourceKey(0), Interest::NONE, 0),
        };
        let i = self.free_head;
        if i == NIL {
            return reject(CreateError::Full);
        }
        let s = &mut self.hot[i as usize];
        self.free_head = s.next;
        if self.free_head == NIL {
            self.free_tail = NIL;
        }
        self.live += 1;
        let mut flags = ALLOC;
        if ev.persist {
            flags |= PERSIST;
        }
        if ev.edge {
            flags |= EDGE;
        }
        *s = Hot {
            generation: s.generation,
            flags,
            kind,
            interest,
            prio,
            ..Hot::EMPTY
        };
        self.cold[i as usize] = Cold {
            datum: Some(datum),
            key,
            signo,
            ..Cold::EMPTY
        };
        Ok(self.id(i))
    }

    /// Add an event: make it wait for what it watches, and for `timeout` if given (libevent's
    /// `event_add`).
    ///
    /// Adding an event that is already added re-schedules its timeout when `timeout` is given and
    /// leaves the existing one alone when it is `None` (use
    /// [`remove_timeout`](Self::remove_timeout) to drop it). A timer added without a timeout
    /// never fires by itself but keeps the loop alive, as in libevent.
    ///
    /// Fails, changing nothing, for an unknown id, a timeout that overflows the tick counter, a
    /// new source when the source table is full, or a source already watched with the other
    /// triggering mode.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use levent_core::{Engine, Event, Platform, sim::Sim};
    /// # let mut engine: Engine<u8, 4, 2, 1> = Engine::new(Platform::manual(1000));
    /// # let mut sim = Sim::<4>::new(1);
    /// let id = engine.create(Event::timer(), 7)?;
    /// engine.add(id, Some(Duration::from_millis(30)))?;
    /// assert_eq!(engine.pending(id)?.deadline, Some(30));
    /// let fired = engine.next(&mut sim)?.unwrap();
    /// assert_eq!((fired.id, fired.datum, engine.now()), (id, 7, 30));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn add(&mut self, id: EventId, timeout: Option<Duration>) -> Result<(), AddError> {
        let i = self.check(id)?;
        let deadline = match timeout {
            Some(d) => {
                let period = self
                    .platform
                    .clock
                    .ticks(d)
                    .map_err(|Overflow| AddError::Overflow)?;
                let now = self.time_for_add();
                Some((period, now.checked_add(period).ok_or(AddError::Overflow)?))
            }
            None => None,
        };
        let s = self.hot[i as usize];
        let (key, signo) = (self.cold[i as usize].key, self.cold[i as usize].signo);
        if s.flags & PENDING == 0 {
            match s.kind {
                K_IO => {
                    let edge = s.flags & EDGE != 0;
                    if let Some(si) = self.sources.find(key) {
                        let src = &self.sources.slots[si as usize];
                        if src.head != NIL && src.edge != edge {
                            return Err(AddError::EdgeMismatch);
                        }
                    }
                    let si = self
                        .sources
                        .get_or_insert(key)
                        .ok_or(AddError::SourcesFull)?;
                    let src = &mut self.sources.slots[si as usize];
                    if src.head == NIL {
                        src.edge = edge;
                    }
                    src.wanted |= s.interest;
                    Self::append(&mut self.hot, &mut src.head, i);
                    self.hot[i as usize].source = si;
                    self.source_changed(si);
                }
                K_SIGNAL => {
                    Self::append(&mut self.hot, &mut self.signals, i);
                    self.signals_wanted |= 1 << signo;
                }
                _ => {}
            }
            self.hot[i as usize].flags |= PENDING;
            self.npending += 1;
        }
        if let Some((period, deadline)) = deadline {
            self.cold[i as usize].period = period;
            self.hot[i as usize].flags |= PERIOD;
            self.arm(i, deadline);
        }
        Ok(())
    }

    /// [`create`](Self::create) and [`add`](Self::add) in one call. If adding fails the event is
    /// freed again and the datum handed back.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use levent_core::{Engine, Event, Platform, sim::Sim};
    /// # let mut engine: Engine<u8, 4, 2, 1> = Engine::new(Platform::manual(1000));
    /// # let mut sim = Sim::<4>::new(1);
    /// let id = engine.start(Event::timer(), 7, Some(Duration::from_millis(5)))?;
    /// assert!(engine.pending(id)?.added);
    /// let fired = engine.next(&mut sim)?.unwrap();
    /// assert_eq!((fired.id, fired.datum, engine.now()), (id, 7, 5));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn start(
        &mut self,
        ev: Event,
        datum: T,
        timeout: Option<Duration>,
    ) -> Result<EventId, Rejected<T>> {
        let id = self.create(ev, datum)?;
        match self.add(id, timeout) {
            Ok(()) => Ok(id),
            Err(e) => {
                let datum = self.release_slot(id.index);
                Err(Rejected {
                    error: CreateError::Add(e),
                    datum,
                })
            }
        }
    }

    /// A fire-and-forget event (libevent's `event_base_once`): it fires once and is freed.
    ///
    /// A [`Event::timer`] without a timeout fires at the next pass. Persistence is ignored.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use levent_core::{Engine, Event, Platform, sim::Sim};
    /// # let mut engine: Engine<u8, 4, 2, 1> = Engine::new(Platform::manual(1000));
    /// # let mut sim = Sim::<4>::new(1);
    /// engine.once(Event::timer(), 1, None)?; // fires at the next pass
    /// engine.once(Event::timer(), 2, Some(Duration::from_millis(10)))?;
    /// assert_eq!(engine.next(&mut sim)?.map(|f| f.datum), Some(1));
    /// assert_eq!(engine.next(&mut sim)?.map(|f| f.datum), Some(2));
    /// assert!(engine.is_empty()); // both were freed once they fired
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn once(
        &mut self,
        ev: Event,
        datum: T,
        timeout: Option<Duration>,
    ) -> Result<EventId, Rejected<T>> {
        let ev = Event {
            persist: false,
            ..ev
        };
        let id = self.start(ev, datum, timeout)?;
        let s = &mut self.hot[id.index as usize];
        s.flags |= ONCE;
        let timer = s.kind == K_TIMER;
        if timeout.is_none() && timer {
            self.activate_slot(id.index, Ready::TIMEOUT);
        }
        Ok(id)
    }

    // ----- deleting and freeing --------------------------------------------------------------

    /// Delete an event: it stops waiting and a queued activation is dropped, at once, even in the
    /// middle of a pass (libevent's `event_del`). It can be added again.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use levent_core::{Engine, Event, Platform, sim::Sim};
    /// # let mut engine: Engine<u8, 4, 2, 1> = Engine::new(Platform::manual(1000));
    /// # let mut sim = Sim::<4>::new(1);
    /// let id = engine.start(Event::timer(), 1, Some(Duration::from_millis(10)))?;
    /// engine.del(id)?;
    /// assert!(!engine.pending(id)?.added);
    /// assert!(engine.next(&mut sim)?.is_none()); // nothing is left to fire
    /// engine.add(id, Some(Duration::from_millis(10)))?; // but it can be added again
    /// assert_eq!(engine.next(&mut sim)?.map(|f| f.datum), Some(1));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn del(&mut self, id: EventId) -> Result<(), IdError> {
        let i = self.check(id)?;
        self.unpend(i);
        self.deactivate(i);
        Ok(())
    }

    /// Delete and free an event, handing back its datum. Its id turns stale.
    ///
    /// ```
    /// # use levent_core::{Engine, Event, IdError, Platform};
    /// # let mut engine: Engine<u8, 4, 1, 1> = Engine::new(Platform::manual(1000));
    /// let id = engine.create(Event::user(), 9)?;
    /// assert_eq!(engine.free(id)?, 9);
    /// assert_eq!(engine.datum(id), Err(IdError::Stale)); // the id names nothing now
    /// assert!(engine.is_empty());
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn free(&mut self, id: EventId) -> Result<T, IdError> {
        let i = self.check(id)?;
        self.unpend(i);
        self.deactivate(i);
        Ok(self.release_slot(i))
    }

    /// Remove only the timeout of an event; it keeps waiting for its IO or signal
    /// (libevent's `event_remove_timer`).
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use levent_core::{Engine, Event, Platform, SourceKey};
    /// # let mut engine: Engine<u8, 4, 1, 1> = Engine::new(Platform::manual(1000));
    /// let key = SourceKey(3);
    /// let id = engine.start(Event::read(key), 1, Some(Duration::from_millis(100)))?;
    /// engine.remove_timeout(id)?;
    /// let pending = engine.pending(id)?;
    /// assert!(pending.added && pending.deadline.is_none()); // still waits for the source
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn remove_timeout(&mut self, id: EventId) -> Result<(), IdError> {
        let i = self.check(id)?;
        self.disarm(i);
        self.hot[i as usize].flags &= !PERIOD;
        Ok(())
    }

    fn release_slot(&mut self, i: u32) -> T {
        let datum = self.cold[i as usize].datum.take();
        let s = &mut self.hot[i as usize];
        s.flags = 0;
        s.generation = s.generation.wrapping_add(1);
        s.next = NIL;
        if self.free_tail == NIL {
            self.free_head = i;
        } else {
            self.hot[self.free_tail as usize].next = i;
        }
        self.free_tail = i;
        self.live -= 1;
        match datum {
            Some(d) => d,
            // Every allocated slot holds a datum; `check` admits allocated slots only.
            None => unreachable_datum(),
        }
    }

    /// Stop waiting: off its source or signal list, timeout disarmed.
    fn unpend(&mut self, i: u32) {
        let s = self.hot[i as usize];
        if s.flags & PENDING == 0 {
            return;
        }
        match s.kind {
            K_IO => {
                let si = s.source;
                Self::remove(&mut self.hot, &mut self.sources.slots[si as usize].head, i);
                let mut wanted = Interest::NONE;
                let mut e = self.sources.slots[si as usize].head;
                while e != NIL {
                    wanted |= self.hot[e as usize].interest;
                    e = self.hot[e as usize].link;
                }
                self.sources.slots[si as usize].wanted = wanted;
                self.source_changed(si);
            }
            K_SIGNAL => {
                let signo = self.cold[i as usize].signo;
                Self::remove(&mut self.hot, &mut self.signals, i);
                let mut e = self.signals;
                while e != NIL && self.cold[e as usize].signo != signo {
                    e = self.hot[e as usize].link;
                }
                if e == NIL {
                    // The last event of that signal.
                    self.signals_wanted &= !(1 << signo);
                }
            }
            _ => {}
        }
        let s = &mut self.hot[i as usize];
        s.flags &= !(PENDING | PERIOD);
        s.link = NIL;
        s.source = NIL;
        self.npending -= 1;
        self.disarm(i);
    }

    /// After a change of a source's events: queue a change for the host, or give the slot back.
    fn source_changed(&mut self, si: u32) {
        let src = &self.sources.slots[si as usize];
        if Self::differs(src) {
            self.sources.mark_dirty(si);
        } else if src.head == NIL && src.registered.is_empty() {
            self.sources.release(si);
        }
    }

    fn differs(src: &sources::Src) -> bool {
        src.wanted != src.registered || (!src.wanted.is_empty() && src.edge != src.registered_edge)
    }

    /// Append event `i` to a source or signal list, so that its events fire in the order they
    /// were added.
    fn append(hot: &mut [Hot], head: &mut u32, i: u32) {
        hot[i as usize].link = NIL;
        if *head == NIL {
            *head = i;
            return;
        }
        let mut tail = *head;
        while hot[tail as usize].link != NIL {
            tail = hot[tail as usize].link;
        }
        hot[tail as usize].link = i;
    }

    /// Remove event `i` from a source or signal list.
    fn remove(hot: &mut [Hot], head: &mut u32, i: u32) {
        if *head == i {
            *head = hot[i as usize].link;
            return;
        }
        let mut e = *head;
        while e != NIL {
            let next = hot[e as usize].link;
            if next == i {
                hot[e as usize].link = hot[i as usize].link;
                return;
            }
            e = next;
        }
    }

    // ----- timers ----------------------------------------------------------------------------

    fn arm(&mut self, i: u32, deadline: Tick) {
        self.seq = self.seq.wrapping_add(1);
        let c = &mut self.cold[i as usize];
        c.deadline = deadline;
        let h = &mut self.hot[i as usize];
        h.order = self.seq;
        if h.flags & TIMER != 0 {
            if deadline >= c.heap_deadline {
                // Later than the live entry: it will be moved when it comes up.
                return;
            }
            self.timers.dead += 1;
        }
        self.push_timer(i, deadline, self.seq);
    }

    fn push_timer(&mut self, i: u32, deadline: Tick, seq: u32) {
        if self.timers.is_full() {
            self.compact_timers();
        }
        let s = &mut self.hot[i as usize];
        s.flags |= TIMER;
        s.heap_seq = seq;
        self.cold[i as usize].heap_deadline = deadline;
        self.timers.push(Entry {
            deadline,
            seq,
            index: i,
        });
    }

    fn disarm(&mut self, i: u32) {
        let s = &mut self.hot[i as usize];
        if s.flags & TIMER != 0 {
            s.flags &= !TIMER;
            self.timers.dead += 1;
            if self.timers.dead > 32 && self.timers.dead * 2 > self.timers.len() {
                self.compact_timers();
            }
        }
    }

    fn entry_live(hot: &[Hot], e: &Entry) -> bool {
        let s = &hot[e.index as usize];
        s.flags & TIMER != 0 && s.heap_seq == e.seq
    }

    fn compact_timers(&mut self) {
        let hot = &self.hot;
        self.timers.retain(|e| Self::entry_live(hot, e));
    }

    /// Drop dead entries off the top of the heap and move lazily extended ones to their real
    /// place, so that the top is a timeout that will really fire.
    fn settle_top(&mut self) -> Option<Tick> {
        while let Some(&top) = self.timers.peek() {
            if !Self::entry_live(&self.hot, &top) {
                if self.timers.dead > 32 && self.timers.dead * 2 > self.timers.len() {
                    self.compact_timers();
                } else {
                    self.timers.pop();
                    self.timers.dead = self.timers.dead.saturating_sub(1);
                }
                continue;
            }
            let (deadline, order) = (
                self.cold[top.index as usize].deadline,
                self.hot[top.index as usize].order,
            );
            if deadline != top.deadline || order != top.seq {
                self.timers.pop();
                self.push_timer(top.index, deadline, order);
                continue;
            }
            return Some(top.deadline);
        }
        None
    }

    fn expire_timers(&mut self) {
        while let Some(deadline) = self.settle_top() {
            if deadline > self.now {
                break;
            }
            if let Some(top) = self.timers.pop() {
                self.hot[top.index as usize].flags &= !TIMER;
                self.activate_slot(top.index, Ready::TIMEOUT);
            }
        }
    }

    // ----- activation ------------------------------------------------------------------------

    /// Activate an event with `ready`, added or not (libevent's `event_active`). Activating an
    /// event that is already active merges the flags into the one pending firing.
    ///
    /// ```
    /// # use levent_core::{Engine, Event, Platform, Ready, sim::Sim};
    /// # let mut engine: Engine<u8, 4, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let mut sim = Sim::<4>::new(1);
    /// let id = engine.create(Event::user(), 5)?; // not added
    /// engine.activate(id, Ready::USER)?;
    /// let fired = engine.next(&mut sim)?.unwrap();
    /// assert_eq!((fired.id, fired.ready), (id, Ready::USER));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn activate(&mut self, id: EventId, ready: Ready) -> Result<(), IdError> {
        let i = self.check(id)?;
        self.activate_slot(i, ready);
        Ok(())
    }

    /// Activate an event at the start of the next pass rather than in this one, so that events
    /// that activate each other do not starve IO (libevent's `event_active_later_`). A later
    /// [`activate`](Self::activate) makes it active at once.
    ///
    /// ```
    /// # use levent_core::{Engine, Event, Platform, Ready, sim::Sim};
    /// # let mut engine: Engine<u8, 4, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let mut sim = Sim::<4>::new(1);
    /// let (a, b) = (engine.create(Event::user(), 1)?, engine.create(Event::user(), 2)?);
    /// engine.activate(a, Ready::USER)?;
    /// engine.turn(&mut sim, false)?; // a pass starts
    /// assert_eq!(engine.next_fired().map(|f| f.datum), Some(1));
    /// engine.activate_later(b, Ready::USER)?;
    /// assert!(engine.next_fired().is_none()); // not in this pass
    /// engine.turn(&mut sim, false)?;
    /// assert_eq!(engine.next_fired().map(|f| f.datum), Some(2)); // at the start of the next
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn activate_later(&mut self, id: EventId, ready: Ready) -> Result<(), IdError> {
        let i = self.check(id)?;
        let s = &mut self.hot[i as usize];
        s.res |= ready;
        if s.flags & (ACTIVE | LATER) == 0 {
            s.flags |= LATER;
            Self::push_back(&mut self.hot, &mut self.later, i);
        }
        Ok(())
    }

    /// Activate slot `i` with `ready`: [`activate_inline`](Self::activate_inline) in one copy for
    /// every caller but readiness (the hot one), where inlined it was most of each entry point
    /// that activates.
    #[inline(never)]
    fn activate_slot(&mut self, i: u32, ready: Ready) {
        self.activate_inline(i, ready);
    }

    #[inline(always)]
    fn activate_inline(&mut self, i: u32, ready: Ready) {
        let s = &mut self.hot[i as usize];
        s.res |= ready;
        if s.flags & (ACTIVE | LATER) != 0 {
            if s.flags & ACTIVE != 0 {
                return;
            }
            s.flags &= !LATER;
            Self::unlink(&mut self.hot, &mut self.later, i);
        }
        let s = &mut self.hot[i as usize];
        s.flags |= ACTIVE;
        let prio = s.prio;
        Self::push_back(&mut self.hot, &mut self.queues[prio as usize], i);
        if self.pass.is_some_and(|p| prio < p) {
            self.urgent = true;
        }
    }

    /// Out of its priority or deferred queue, activation flags dropped.
    fn deactivate(&mut self, i: u32) {
        let s = &mut self.hot[i as usize];
        if s.flags & ACTIVE != 0 {
            let prio = s.prio;
            Self::unlink(&mut self.hot, &mut self.queues[prio as usize], i);
        } else if s.flags & LATER != 0 {
            Self::unlink(&mut self.hot, &mut self.later, i);
        } else {
            return;
        }
        let s = &mut self.hot[i as usize];
        s.flags &= !(ACTIVE | LATER);
        s.res = Ready::NONE;
        self.cold[i as usize].ncalls = 0;
    }

    #[inline]
    fn push_back(hot: &mut [Hot], q: &mut Queue, i: u32) {
        hot[i as usize].next = NIL;
        hot[i as usize].prev = q.tail;
        if q.tail == NIL {
            q.head = i;
        } else {
            hot[q.tail as usize].next = i;
        }
        q.tail = i;
    }

    #[inline]
    fn unlink(hot: &mut [Hot], q: &mut Queue, i: u32) {
        let (prev, next) = (hot[i as usize].prev, hot[i as usize].next);
        if prev == NIL {
            q.head = next;
        } else {
            hot[prev as usize].next = next;
        }
        if next == NIL {
            q.tail = prev;
        } else {
            hot[next as usize].prev = prev;
        }
    }

    #[inline]
    fn pop_front(hot: &mut [Hot], q: &mut Queue) -> Option<u32> {
        let i = q.head;
        if i == NIL {
            return None;
        }
        let next = hot[i as usize].next;
        q.head = next;
        if next == NIL {
            q.tail = NIL;
        } else {
            hot[next as usize].prev = NIL;
        }
        Some(i)
    }

    // ----- passes and delivery ---------------------------------------------------------------

    /// Start a pass after a host turn: deferred activations join their queues, and the queue to
    /// deliver from is chosen: the most urgent non-empty one, unless a starvation limit is set and
    /// a less urgent queue has waited that many passes.
    #[inline]
    fn open_pass(&mut self) {
        if self.later.head != NIL {
            self.join_later();
        }
        self.urgent = self.break_now;
        let n = self.nprio as usize;
        let Some(first) = (0..n).find(|&p| self.queues[p].head != NIL) else {
            self.pass = None;
            return;
        };
        let pick = match self.starve_limit {
            None => first,
            Some(limit) => self.starve_pick(first, limit),
        };
        self.pass = Some(pick as u8);
    }

    /// Deferred activations join their priority queues.
    #[inline(never)]
    fn join_later(&mut self) {
        while let Some(i) = Self::pop_front(&mut self.hot, &mut self.later) {
            let s = &mut self.hot[i as usize];
            s.flags = (s.flags & !LATER) | ACTIVE;
            let prio = s.prio as usize;
            Self::push_back(&mut self.hot, &mut self.queues[prio], i);
        }
    }

    /// The queue to deliver from under a starvation limit: the first less urgent non-empty queue
    /// that has waited `limit` passes, else `first`; the waits are counted.
    #[inline(never)]
    fn starve_pick(&mut self, first: usize, limit: u32) -> usize {
        let n = self.nprio as usize;
        let mut pick = first;
        if let Some(p) =
            (first + 1..n).find(|&p| self.queues[p].head != NIL && self.starved[p] >= limit)
        {
            pick = p;
        }
        for p in 0..n {
            if p == pick || self.queues[p].head == NIL {
                self.starved[p] = 0;
            } else {
                self.starved[p] += 1;
            }
        }
        pick
    }

    /// Take the next fired event of the pass in progress, most urgent first; `None` when the pass
    /// is over (its queue is empty, a more urgent event became active, or
    /// [`loop_break`](Self::loop_break) was called).
    ///
    /// This is the lowest-level way to consume events: call [`turn`](Self::turn), then this until
    /// it returns `None`. [`next`](Self::next) does both.
    ///
    /// ```
    /// # use levent_core::{Engine, Event, Platform, sim::Sim};
    /// # let mut engine: Engine<u8, 4, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let mut sim = Sim::<4>::new(1);
    /// engine.once(Event::timer(), 1, None)?;
    /// engine.once(Event::timer(), 2, None)?;
    /// engine.turn(&mut sim, false)?;
    /// let mut sum = 0;
    /// while let Some(fired) = engine.next_fired() {
    ///     sum += fired.datum;
    /// }
    /// assert_eq!(sum, 3);
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    #[inline]
    pub fn next_fired(&mut self) -> Option<Fired<T>> {
        let p = self.pass?;
        if self.urgent {
            self.pass = None;
            return None;
        }
        match Self::pop_front(&mut self.hot, &mut self.queues[p as usize]) {
            Some(i) => Some(self.deliver(i)),
            None => {
                self.pass = None;
                None
            }
        }
    }

    #[inline]
    fn deliver(&mut self, i: u32) -> Fired<T> {
        let s = &mut self.hot[i as usize];
        s.flags &= !ACTIVE;
        let ready = core::mem::take(&mut s.res);
        let (flags, kind) = (s.flags, s.kind);
        let id = EventId {
            index: i,
            generation: s.generation,
            engine: self.tag,
        };
        let c = &mut self.cold[i as usize];
        let datum = match c.datum {
            Some(d) => d,
            None => unreachable_datum(),
        };
        let count = if kind == K_SIGNAL {
            core::mem::take(&mut c.ncalls).max(1)
        } else {
            1
        };
        // A persistent event without a timeout stays as it is; everything else has work to do.
        if flags & (PENDING | PERSIST | PERIOD | ONCE) != PENDING | PERSIST {
            self.after_fire(i, flags, ready);
        }
        Fired {
            id,
            ready,
            count,
            datum,
        }
    }

    /// What firing does to an event beyond handing it out: a one-shot stops waiting, a
    /// persistent timeout re-arms, a `once` event is freed.
    #[inline(never)]
    fn after_fire(&mut self, i: u32, flags: u16, ready: Ready) {
        if flags & PENDING != 0 {
            if flags & PERSIST == 0 {
                self.unpend(i);
            } else if flags & PERIOD != 0 {
                // A timeout re-arms from its scheduled deadline (no drift); after a stall it
                // fires once and continues from now (no burst). Other activations re-base it.
                let now = self.turn_time();
                let c = &self.cold[i as usize];
                let base = if ready.contains(Ready::TIMEOUT) {
                    c.deadline
                } else {
                    now
                };
                let mut next = base.saturating_add(c.period);
                if next < now {
                    next = now.saturating_add(c.period);
                }
                self.arm(i, next);
            }
        }
        if flags & ONCE != 0 {
            self.unpend(i);
            self.release_slot(i);
        }
    }

    // ----- queries and settings --------------------------------------------------------------

    /// What an event waits for and when its timeout is due (libevent's `event_pending`).
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use levent_core::{Engine, Event, Platform, Ready, SourceKey};
    /// # let mut engine: Engine<u8, 4, 1, 1> = Engine::new(Platform::manual(1000));
    /// let key = SourceKey(3);
    /// let id = engine.start(Event::read(key), 1, Some(Duration::from_millis(100)))?;
    /// let pending = engine.pending(id)?;
    /// assert!(pending.added && !pending.active);
    /// assert_eq!(pending.ready, Ready::READ | Ready::TIMEOUT);
    /// assert_eq!(pending.deadline, Some(100));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn pending(&self, id: EventId) -> Result<Pending, IdError> {
        let i = self.check(id)?;
        let s = &self.hot[i as usize];
        let mut ready = Ready::NONE;
        let added = s.flags & PENDING != 0;
        if added {
            ready |= match s.kind {
                K_IO => Ready::from(s.interest),
                K_SIGNAL => Ready::SIGNAL,
                K_USER => Ready::USER,
                _ => Ready::NONE,
            };
        }
        let armed = s.flags & TIMER != 0;
        if armed {
            ready |= Ready::TIMEOUT;
        }
        let active = s.flags & (ACTIVE | LATER) != 0;
        if active {
            ready |= s.res;
        }
        Ok(Pending {
            ready,
            deadline: armed.then_some(self.cold[i as usize].deadline),
            added,
            active,
        })
    }

    /// The datum of an event.
    ///
    /// ```
    /// # use levent_core::{Engine, Event, Platform};
    /// # let mut engine: Engine<char, 4, 1, 1> = Engine::new(Platform::manual(1000));
    /// let id = engine.create(Event::timer(), 'x')?;
    /// assert_eq!(engine.datum(id)?, 'x');
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn datum(&self, id: EventId) -> Result<T, IdError> {
        let i = self.check(id)?;
        self.cold[i as usize].datum.ok_or(IdError::Stale)
    }

    /// Replace the datum of an event; it fires with the new one from now on.
    ///
    /// ```
    /// # use levent_core::{Engine, Event, Platform, sim::Sim};
    /// # let mut engine: Engine<char, 4, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let mut sim = Sim::<4>::new(1);
    /// let id = engine.once(Event::timer(), 'a', None)?;
    /// engine.set_datum(id, 'b')?;
    /// assert_eq!(engine.next(&mut sim)?.map(|f| f.datum), Some('b'));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn set_datum(&mut self, id: EventId, datum: T) -> Result<(), IdError> {
        let i = self.check(id)?;
        self.cold[i as usize].datum = Some(datum);
        Ok(())
    }

    /// Move an event to priority `p` (libevent's `event_priority_set`). Refused while the event is
    /// active, or when `p` is not below the number of priorities in use.
    ///
    /// ```
    /// # use levent_core::{Engine, Event, Platform, PriorityError, Ready, sim::Sim};
    /// # let mut engine: Engine<char, 4, 1, 3> = Engine::new(Platform::manual(1000));
    /// # let mut sim = Sim::<4>::new(1);
    /// engine.set_priorities(3)?;
    /// let (low, high) = (engine.create(Event::user(), 'l')?, engine.create(Event::user(), 'h')?);
    /// engine.set_priority(high, 0)?; // 0 is the most urgent
    /// assert_eq!(engine.set_priority(low, 3), Err(PriorityError::OutOfRange));
    /// engine.activate(low, Ready::USER)?;
    /// engine.activate(high, Ready::USER)?;
    /// assert_eq!(engine.next(&mut sim)?.map(|f| f.datum), Some('h'));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn set_priority(&mut self, id: EventId, p: u8) -> Result<(), PriorityError> {
        let i = self.check(id)?;
        if p >= self.nprio {
            return Err(PriorityError::OutOfRange);
        }
        let s = &mut self.hot[i as usize];
        if s.flags & (ACTIVE | LATER) != 0 {
            return Err(PriorityError::Active);
        }
        s.prio = p;
        Ok(())
    }

    /// Use `n` priorities, 0 the most urgent (libevent's `event_base_priority_init`). Refused while
    /// any event is active, or for `n` of 0 or above `P`. Events whose priority is no longer in
    /// range move to the least urgent one.
    ///
    /// ```
    /// # use levent_core::{Engine, Platform, PriorityError};
    /// let mut engine: Engine<u8, 4, 1, 4> = Engine::new(Platform::manual(1000));
    /// engine.set_priorities(4)?;
    /// assert_eq!(engine.priorities(), 4);
    /// assert_eq!(engine.set_priorities(5), Err(PriorityError::OutOfRange)); // above P
    /// assert_eq!(engine.set_priorities(0), Err(PriorityError::OutOfRange));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn set_priorities(&mut self, n: u8) -> Result<(), PriorityError> {
        if n == 0 || usize::from(n) > P {
            return Err(PriorityError::OutOfRange);
        }
        if self.any_active() {
            return Err(PriorityError::Active);
        }
        self.nprio = n;
        for s in self.hot.iter_mut().filter(|s| s.flags & ALLOC != 0) {
            s.prio = s.prio.min(n - 1);
        }
        Ok(())
    }

    /// The number of priorities in use.
    ///
    /// ```
    /// # use levent_core::{Engine, Platform};
    /// let mut engine: Engine<u8, 4, 1, 8> = Engine::new(Platform::manual(1000));
    /// assert_eq!(engine.priorities(), 1); // until set_priorities
    /// engine.set_priorities(8)?;
    /// assert_eq!(engine.priorities(), 8);
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn priorities(&self) -> u8 {
        self.nprio
    }

    /// Let a non-empty less urgent queue be passed over at most `passes` times in a row before it
    /// gets a pass of its own. `None` (the default, libevent's behaviour) lets urgent events
    /// starve the rest for as long as they keep coming.
    ///
    /// ```
    /// # use levent_core::{Engine, Event, Platform, Ready, sim::Sim};
    /// # let mut engine: Engine<&str, 2, 1, 2> = Engine::new(Platform::manual(1000));
    /// # let mut sim = Sim::<4>::new(1);
    /// engine.set_priorities(2)?;
    /// let busy = engine.create(Event::user().priority(0), "busy")?;
    /// let idle = engine.create(Event::user().priority(1), "idle")?;
    /// engine.set_starvation_limit(Some(1));
    /// engine.activate(busy, Ready::USER)?;
    /// engine.activate(idle, Ready::USER)?;
    /// let mut order = [""; 3];
    /// for slot in &mut order {
    ///     *slot = engine.next(&mut sim)?.unwrap().datum;
    ///     engine.activate_later(busy, Ready::USER)?; // busy always has more to do
    /// }
    /// assert_eq!(order, ["busy", "idle", "busy"]); // without the limit: "busy" only
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn set_starvation_limit(&mut self, passes: Option<u32>) {
        self.starve_limit = passes;
        self.starved = [0; P];
    }

    /// End the loop after the pass in progress once `after` has elapsed (now if `None`).
    /// Of several requests the earliest wins (libevent's `event_base_loopexit`).
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use levent_core::{Engine, Event, Exit, Platform, sim::Sim};
    /// # let mut engine: Engine<u8, 4, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let mut sim = Sim::<4>::new(1);
    /// engine.start(Event::timer().persist(), 0, Some(Duration::from_millis(10)))?;
    /// engine.loop_exit(Some(Duration::from_millis(25)))?;
    /// let mut ticks = 0;
    /// while engine.next(&mut sim)?.is_some() {
    ///     ticks += 1;
    /// }
    /// assert_eq!((ticks, engine.now()), (2, 25));
    /// assert_eq!(engine.last_exit(), Some(Exit::Exit));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn loop_exit(&mut self, after: Option<Duration>) -> Result<(), Overflow> {
        match after {
            None => self.exit_now = true,
            Some(d) => {
                let now = self.time_for_add();
                let at = self.platform.clock.after(now, d)?;
                self.exit_at = Some(self.exit_at.map_or(at, |t| t.min(at)));
            }
        }
        Ok(())
    }

    /// End the loop after the event being handled: the rest of the pass stays queued for the next
    /// loop (libevent's `event_base_loopbreak`).
    ///
    /// ```
    /// # use levent_core::{Engine, Event, Exit, Platform, Ready, sim::Sim};
    /// # let mut engine: Engine<char, 4, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let mut sim = Sim::<4>::new(1);
    /// let (a, b) = (engine.create(Event::user(), 'a')?, engine.create(Event::user(), 'b')?);
    /// engine.activate(a, Ready::USER)?;
    /// engine.activate(b, Ready::USER)?;
    /// assert_eq!(engine.next(&mut sim)?.map(|f| f.datum), Some('a'));
    /// engine.loop_break();
    /// assert!(engine.next(&mut sim)?.is_none());
    /// assert_eq!(engine.last_exit(), Some(Exit::Break));
    /// assert_eq!(engine.next(&mut sim)?.map(|f| f.datum), Some('b')); // still queued
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn loop_break(&mut self) {
        self.break_now = true;
        self.urgent = true;
    }

    /// The current time in ticks: the time of the last turn (libevent's cached time), or the
    /// clock's if that turn did not need to read it.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use levent_core::{Engine, Event, Platform, sim::Sim};
    /// # let mut engine: Engine<u8, 4, 2, 1> = Engine::new(Platform::manual(1000));
    /// # let mut sim = Sim::<4>::new(1);
    /// engine.start(Event::timer(), 0, Some(Duration::from_millis(250)))?;
    /// assert_eq!(engine.now(), 0);
    /// assert!(engine.next(&mut sim)?.is_some());
    /// assert_eq!(engine.now(), 250); // ticks of 1 ms
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn now(&self) -> Tick {
        match self.platform.clock.read() {
            Some(t) if self.stale => t.max(self.now),
            _ => self.now,
        }
    }

    /// The platform this engine was made for.
    ///
    /// ```
    /// use levent_core::{Engine, Platform};
    ///
    /// let engine: Engine<u8, 4, 1, 1> = Engine::new(Platform::manual(1000));
    /// assert_eq!(engine.platform().clock.hz(), 1000);
    /// assert!(engine.platform().signals.contains(2));
    /// ```
    pub fn platform(&self) -> Platform {
        self.platform
    }

    /// Whether anything can still fire: an event is added or active, or a `loop_exit` is due.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use levent_core::{Engine, Event, Platform, sim::Sim};
    /// # let mut engine: Engine<u8, 4, 2, 1> = Engine::new(Platform::manual(1000));
    /// # let mut sim = Sim::<4>::new(1);
    /// assert!(!engine.is_alive());
    /// engine.start(Event::timer(), 0, Some(Duration::from_millis(5)))?;
    /// assert!(engine.is_alive());
    /// assert!(engine.next(&mut sim)?.is_some()); // a one-shot timer stops waiting when it fires
    /// assert!(!engine.is_alive());
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn is_alive(&self) -> bool {
        self.npending > 0 || self.any_active() || self.exit_at.is_some()
    }

    /// Events created and not freed.
    ///
    /// ```
    /// # use levent_core::{Engine, Event, Platform};
    /// # let mut engine: Engine<u8, 4, 1, 1> = Engine::new(Platform::manual(1000));
    /// let a = engine.create(Event::timer(), 1)?;
    /// engine.create(Event::user(), 2)?;
    /// assert_eq!(engine.len(), 2);
    /// engine.free(a)?;
    /// assert_eq!(engine.len(), 1);
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        self.live as usize
    }

    /// How many events and sources the engine can hold: `E` and `S`.
    ///
    /// ```
    /// use levent_core::{Capacity, Engine, Platform};
    ///
    /// let engine: Engine<u8, 8, 4, 1> = Engine::new(Platform::manual(1000));
    /// assert_eq!(engine.capacity(), Capacity { events: 8, sources: 4 });
    /// ```
    pub const fn capacity(&self) -> Capacity {
        Capacity {
            events: E,
            sources: S,
        }
    }

    /// How many more events could be created, and sources watched, now. What a layer checks when
    /// it is set up (a connection table needs two events and a source per connection), so that an
    /// engine too small for it is an error then, not a refused connection later.
    ///
    /// ```
    /// use levent_core::{Capacity, Engine, Event, Platform, SourceKey};
    ///
    /// let mut engine: Engine<u8, 8, 4, 1> = Engine::new(Platform::manual(1000));
    /// engine.start(Event::read(SourceKey(3)), 0, None).unwrap();
    /// assert_eq!(engine.free_capacity(), Capacity { events: 7, sources: 3 });
    /// ```
    pub fn free_capacity(&self) -> Capacity {
        Capacity {
            events: E - self.live as usize,
            sources: S - self.sources.used(),
        }
    }

    /// Whether no event exists.
    ///
    /// ```
    /// # use levent_core::{Engine, Event, Platform};
    /// # let mut engine: Engine<u8, 4, 1, 1> = Engine::new(Platform::manual(1000));
    /// assert!(engine.is_empty());
    /// let id = engine.create(Event::timer(), 1)?;
    /// assert!(!engine.is_empty());
    /// engine.free(id)?;
    /// assert!(engine.is_empty());
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Why the last loop ([`run`](Self::run) or [`next`](Self::next)) ended.
    ///
    /// ```
    /// # use levent_core::{Engine, Event, Exit, Platform, sim::Sim};
    /// # let mut engine: Engine<u8, 4, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let mut sim = Sim::<4>::new(1);
    /// assert_eq!(engine.last_exit(), None); // no loop has run
    /// engine.once(Event::timer(), 1, None)?;
    /// while engine.next(&mut sim)?.is_some() {}
    /// assert_eq!(engine.last_exit(), Some(Exit::Empty)); // nothing is left to fire
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn last_exit(&self) -> Option<Exit> {
        self.last_exit
    }

    /// Whether an event is waiting to be delivered (in a priority queue or the deferred one).
    fn any_active(&self) -> bool {
        self.later.head != NIL
            || self.queues[..self.nprio as usize]
                .iter()
                .any(|q| q.head != NIL)
    }

    /// How long the host may block now.
    fn wait(&mut self) -> Wait {
        if self.any_active() || self.exit_now || self.break_now {
            return Wait::No;
        }
        match (self.settle_top(), self.exit_at) {
            (Some(a), Some(b)) => Wait::Until(a.min(b)),
            (Some(t), None) | (None, Some(t)) => Wait::Until(t),
            (None, None) => Wait::Forever,
        }
    }

    // ----- the loop --------------------------------------------------------------------------

    /// One host turn, in the order the [host contract](crate::host) fixes: apply the change
    /// list, wait (if `block`, as long as the next deadline allows) while the host feeds
    /// readiness, signals and wake-ups, advance time to the host's clock, and open the next pass. Then take events with
    /// [`next_fired`](Self::next_fired).
    ///
    /// Fails with [`LoopError::ClockMismatch`] when the host's clock ticks at another rate than
    /// the engine's platform (an engine made with [`Platform::manual`] on a real host).
    ///
    /// ```
    /// # use levent_core::{Engine, Event, Platform, Ready, Turn, sim::Sim};
    /// # let mut engine: Engine<u8, 4, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let mut sim = Sim::<4>::new(1);
    /// let id = engine.create(Event::user(), 1)?;
    /// engine.activate(id, Ready::USER)?;
    /// assert_eq!(engine.turn(&mut sim, false)?, Turn::Waited);
    /// assert_eq!(engine.next_fired().map(|f| f.id), Some(id));
    /// assert!(engine.next_fired().is_none()); // the pass is over: turn again
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    #[inline]
    pub fn turn(&mut self, host: &mut dyn Host, block: bool) -> Result<Turn, LoopError> {
        let seen = core::ptr::from_mut(host).cast::<()>() as usize;
        if seen != self.host_seen
            || !self.sources.clean()
            || self.signals_wanted != self.signals_registered
        {
            self.before_wait(host, seen)?;
        }
        let wait = if block { self.wait() } else { Wait::No };
        let turn = host.wait(wait, self)?;
        if self.timers.len() == 0 && self.exit_at.is_none() && self.platform.clock.readable() {
            // Nothing waits on time: the clock is read when someone asks for it.
            self.stale = true;
        } else {
            self.stale = false;
            let now = host.now();
            self.advance(now);
        }
        self.open_pass();
        Ok(turn)
    }

    /// What a turn does before it waits, when there is something to do: check a host seen for
    /// the first time (`seen`), and hand the host the change list.
    #[inline(never)]
    fn before_wait(&mut self, host: &mut dyn Host, seen: usize) -> Result<(), LoopError> {
        if seen != self.host_seen {
            if let Some(clock) = host.clock()
                && !clock.same_as(&self.platform.clock)
            {
                return Err(LoopError::ClockMismatch);
            }
            self.host_seen = seen;
        }
        while let Some(change) = self.next_change() {
            host.apply(change)?;
        }
        Ok(())
    }

    /// The pull-based loop: the next fired event, running host turns as needed; `None` when the
    /// loop ends (see [`last_exit`](Self::last_exit) for why). Between two calls the caller has
    /// the whole engine to itself.
    ///
    /// Ends when nothing can fire any more, after the pass in which a `loop_exit` took effect,
    /// right after `loop_break`, or when the host says nothing can ever wake it. With a host that
    /// waits asynchronously it also returns `None`, with [`Exit::Done`], when the host yielded
    /// ([`Turn::Yielded`]) and nothing is active: await the host's wake-up and call it again.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use levent_core::{Engine, Event, Platform, sim::Sim};
    /// # let mut engine: Engine<char, 4, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let mut sim = Sim::<4>::new(1);
    /// engine.start(Event::timer(), 'a', Some(Duration::from_millis(20)))?;
    /// engine.start(Event::timer(), 'b', Some(Duration::from_millis(10)))?;
    /// assert_eq!(engine.next(&mut sim)?.map(|f| f.datum), Some('b'));
    /// assert_eq!(engine.next(&mut sim)?.map(|f| f.datum), Some('a'));
    /// assert_eq!(engine.next(&mut sim)?, None); // nothing can fire any more
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn next(&mut self, host: &mut dyn Host) -> Result<Option<Fired<T>>, LoopError> {
        loop {
            if let Some(f) = self.next_fired() {
                return Ok(Some(f));
            }
            if let Some(exit) = self.take_exit() {
                self.last_exit = Some(exit);
                return Ok(None);
            }
            if !self.is_alive() {
                self.last_exit = Some(Exit::Empty);
                return Ok(None);
            }
            match self.turn(host, true)? {
                _ if self.any_active() => {}
                Turn::Never => {
                    self.last_exit = Some(Exit::Empty);
                    return Ok(None);
                }
                Turn::Yielded => {
                    self.last_exit = Some(Exit::Done);
                    return Ok(None);
                }
                Turn::Waited => {}
            }
        }
    }

    fn take_exit(&mut self) -> Option<Exit> {
        if core::mem::take(&mut self.break_now) {
            self.exit_now = false;
            Some(Exit::Break)
        } else if core::mem::take(&mut self.exit_now) {
            Some(Exit::Exit)
        } else {
            None
        }
    }

    /// Run the loop, calling `handler` for every fired event (libevent's `event_base_loop`).
    ///
    /// The handler gets the engine as `&mut dyn Events<T>`, so it can add, delete and activate
    /// events, and call `loop_exit` or `loop_break`. It cannot start a loop from inside the
    /// handler: `turn`, `next_fired`, `next` and `run` need the engine itself, not `dyn Events`.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use levent_core::{Engine, Event, Exit, Mode, Platform, sim::Sim};
    /// # let mut engine: Engine<u8, 4, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let mut sim = Sim::<4>::new(1);
    /// engine.start(Event::timer().persist(), 1, Some(Duration::from_millis(10)))?;
    /// let mut ticks = 0;
    /// let exit = engine.run(&mut sim, Mode::Default, &mut |events, fired| {
    ///     ticks += 1;
    ///     if ticks == 3 {
    ///         let _ = events.free(fired.id); // nothing is left: the loop ends
    ///     }
    /// })?;
    /// assert_eq!((ticks, exit, engine.now()), (3, Exit::Empty, 30));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    ///
    /// Running the loop again from the handler (libevent refuses it at run time) does not
    /// compile:
    ///
    /// ```compile_fail
    /// # use levent_core::{Engine, Events, Mode, Platform, sim::Sim};
    /// # let mut engine: Engine<u8, 4, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut inner) = (Sim::<4>::new(1), Sim::<4>::new(2));
    /// engine.run(&mut sim, Mode::Default, &mut |events, _| {
    ///     let _ = events.next(&mut inner);
    /// });
    /// ```
    pub fn run(
        &mut self,
        host: &mut dyn Host,
        mode: Mode,
        handler: &mut OnFired<'_, T>,
    ) -> Result<Exit, LoopError> {
        let mut turns = 0u32;
        let mut ran = false;
        let exit = loop {
            while let Some(f) = self.next_fired() {
                ran = true;
                handler(self, f);
            }
            if let Some(exit) = self.take_exit() {
                break exit;
            }
            match mode {
                Mode::NoWait if turns > 0 => break Exit::Done,
                Mode::Once if ran && !self.any_active() => break Exit::Done,
                _ => {}
            }
            if !self.is_alive() {
                break Exit::Empty;
            }
            match self.turn(host, mode != Mode::NoWait)? {
                _ if self.any_active() => {}
                Turn::Never => break Exit::Empty,
                Turn::Yielded => break Exit::Done,
                Turn::Waited => {}
            }
            turns += 1;
        };
        self.last_exit = Some(exit);
        Ok(exit)
    }
}

impl<T: Copy, const E: usize, const S: usize, const P: usize, M: Memory> Events<T>
    for Engine<T, E, S, P, M>
{
    fn create(&mut self, ev: Event, datum: T) -> Result<EventId, Rejected<T>> {
        Engine::create(self, ev, datum)
    }
    fn add(&mut self, id: EventId, timeout: Option<Duration>) -> Result<(), AddError> {
        Engine::add(self, id, timeout)
    }
    fn start(&mut self, ev: Event, datum: T, t: Option<Duration>) -> Result<EventId, Rejected<T>> {
        Engine::start(self, ev, datum, t)
    }
    fn once(&mut self, ev: Event, datum: T, t: Option<Duration>) -> Result<EventId, Rejected<T>> {
        Engine::once(self, ev, datum, t)
    }
    fn del(&mut self, id: EventId) -> Result<(), IdError> {
        Engine::del(self, id)
    }
    fn free(&mut self, id: EventId) -> Result<T, IdError> {
        Engine::free(self, id)
    }
    fn remove_timeout(&mut self, id: EventId) -> Result<(), IdError> {
        Engine::remove_timeout(self, id)
    }
    fn activate(&mut self, id: EventId, ready: Ready) -> Result<(), IdError> {
        Engine::activate(self, id, ready)
    }
    fn activate_later(&mut self, id: EventId, ready: Ready) -> Result<(), IdError> {
        Engine::activate_later(self, id, ready)
    }
    fn pending(&self, id: EventId) -> Result<Pending, IdError> {
        Engine::pending(self, id)
    }
    fn datum(&self, id: EventId) -> Result<T, IdError> {
        Engine::datum(self, id)
    }
    fn set_datum(&mut self, id: EventId, datum: T) -> Result<(), IdError> {
        Engine::set_datum(self, id, datum)
    }
    fn set_priority(&mut self, id: EventId, p: u8) -> Result<(), PriorityError> {
        Engine::set_priority(self, id, p)
    }
    fn set_priorities(&mut self, n: u8) -> Result<(), PriorityError> {
        Engine::set_priorities(self, n)
    }
    fn loop_exit(&mut self, after: Option<Duration>) -> Result<(), Overflow> {
        Engine::loop_exit(self, after)
    }
    fn loop_break(&mut self) {
        Engine::loop_break(self)
    }
    fn platform(&self) -> Platform {
        Engine::platform(self)
    }
    fn is_alive(&self) -> bool {
        Engine::is_alive(self)
    }
    fn last_exit(&self) -> Option<Exit> {
        Engine::last_exit(self)
    }
    fn len(&self) -> usize {
        Engine::len(self)
    }
    fn capacity(&self) -> Capacity {
        Engine::capacity(self)
    }
    fn free_capacity(&self) -> Capacity {
        Engine::free_capacity(self)
    }
    fn turn(&mut self, host: &mut dyn Host, block: bool) -> Result<Turn, LoopError> {
        Engine::turn(self, host, block)
    }
    fn next_fired(&mut self) -> Option<Fired<T>> {
        Engine::next_fired(self)
    }
    fn next(&mut self, host: &mut dyn Host) -> Result<Option<Fired<T>>, LoopError> {
        Engine::next(self, host)
    }
    fn run(
        &mut self,
        host: &mut dyn Host,
        mode: Mode,
        handler: &mut OnFired<'_, T>,
    ) -> Result<Exit, LoopError> {
        Engine::run(self, host, mode, handler)
    }
}

#[cold]
fn unreachable_datum() -> ! {
    unreachable!("an allocated event slot always holds its datum")
}

impl<T: Copy, const E: usize, const S: usize, const P: usize, M: Memory> Dispatcher
    for Engine<T, E, S, P, M>
{
    fn now(&self) -> Tick {
        Engine::now(self)
    }

    fn next_change(&mut self) -> Option<Change> {
        if self.sources.clean() && self.signals_wanted == self.signals_registered {
            return None;
        }
        if let Some(dereg) = self.sources.pop_dereg() {
            return Some(dereg);
        }
        while let Some(si) = self.sources.pop_dirty() {
            let src = &mut self.sources.slots[si as usize];
            if !src.used {
                continue;
            }
            if !Self::differs(src) {
                if src.head == NIL && src.registered.is_empty() {
                    self.sources.release(si);
                }
                continue;
            }
            let change = Change::Io {
                key: src.key,
                token: src.token(si),
                old: src.registered,
                new: src.wanted,
                edge: src.edge,
            };
            src.registered = src.wanted;
            src.registered_edge = src.edge;
            if src.head == NIL && src.registered.is_empty() {
                self.sources.release(si);
            }
            return Some(change);
        }
        let diff = self.signals_wanted ^ self.signals_registered;
        if diff != 0 {
            let signo = diff.trailing_zeros();
            self.signals_registered ^= 1 << signo;
            return Some(Change::Signal {
                signo: signo as i32,
                watch: self.signals_wanted & 1 << signo != 0,
            });
        }
        None
    }

    fn advance(&mut self, now: Tick) {
        self.stale = false;
        self.now = self.now.max(now);
        self.expire_timers();
        if self.exit_at.is_some_and(|t| t <= self.now) {
            self.exit_at = None;
            self.exit_now = true;
        }
    }

    fn forget_source(&mut self, key: SourceKey) -> Option<Change> {
        let si = self.sources.find(key)?;
        let mut e = self.sources.slots[si as usize].head;
        while e != NIL {
            let next = self.hot[e as usize].link;
            let s = &mut self.hot[e as usize];
            s.flags &= !(PENDING | PERIOD);
            s.link = NIL;
            s.source = NIL;
            self.npending -= 1;
            self.disarm(e);
            self.deactivate(e);
            e = next;
        }
        let src = &mut self.sources.slots[si as usize];
        src.head = NIL;
        src.wanted = Interest::NONE;
        let change = (!src.registered.is_empty()).then(|| Change::Io {
            key,
            token: src.token(si),
            old: src.registered,
            new: Interest::NONE,
            edge: src.registered_edge,
        });
        match change {
            // The host also hears of it at its next turn, in case the caller does not apply it;
            // the slot is free at once.
            Some(c) if self.sources.queue_dereg(c) => self.sources.release(si),
            Some(_) => self.sources.forget(si),
            None => self.sources.release(si),
        }
        change
    }
}

impl<T: Copy, const E: usize, const S: usize, const P: usize, M: Memory> Feed
    for Engine<T, E, S, P, M>
{
    fn feed_io(&mut self, batch: &[(Token, Ready)]) {
        for &(token, ready) in batch {
            let Some(src) = self.sources.by_token(token) else {
                continue;
            };
            let mut e = src.head;
            while e != NIL {
                let s = &self.hot[e as usize];
                let next = s.link;
                let hit = ready & Ready::from(s.interest);
                if !hit.is_empty() {
                    self.activate_inline(e, hit);
                }
                e = next;
            }
        }
    }

    fn feed_signal(&mut self, signo: i32, count: u32) {
        if !(1..NSIG as i32).contains(&signo) {
            return;
        }
        let mut e = self.signals;
        while e != NIL {
            let next = self.hot[e as usize].link;
            let c = &mut self.cold[e as usize];
            if i32::from(c.signo) == signo {
                c.ncalls = c.ncalls.saturating_add(count);
                self.activate_slot(e, Ready::SIGNAL);
            }
            e = next;
        }
    }

    fn feed_user(&mut self, id: EventId) {
        if let Ok(i) = self.check(id) {
            self.activate_slot(i, Ready::USER);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hot_part_is_32_bytes_and_a_small_engine_is_small() {
        assert_eq!(core::mem::size_of::<Hot>(), 32);
        let size = core::mem::size_of::<Engine<u8, 16, 8, 4>>();
        assert!(size < 2900, "{size}");
    }
}
