//! The contract between the dispatcher and a host.
//!
//! A *host* is whatever can wait: epoll, kqueue, winsock `select`, an embassy task polling smoltcp,
//! or the simulation host (`sim`, feature `sim`). The dispatcher ([`Engine`](crate::Engine))
//! never waits, never reads a clock while a turn runs and never touches the OS; it only keeps
//! state. This file is everything the two sides promise each other.
//!
//! # One turn, written once
//!
//! The engine drives the host in *turns*, and the order of a turn is the engine's
//! ([`Engine::turn`](crate::Engine::turn)); a host supplies only its primitives, the methods of
//! [`Host`]:
//!
//! 1. **Changes.** The engine drains its change list and hands each [`Change`] to
//!    [`Host::apply`], which changes one OS object (one `epoll_ctl`, one or two `kevent` changes,
//!    an `fd_set` update, a `sigaction`). Changes are coalesced between two turns: a source whose
//!    interest was toggled off and on again since the last turn produces no change at all.
//! 2. **Waiting.** [`Host::wait`] blocks as [`Wait`] allows (not at all, until a deadline, or until
//!    something happens) and feeds what happened through [`Feed`]: IO readiness with
//!    [`Feed::feed_io`] (for each ready source the [`Token`] of the change that registered it and
//!    the [`Ready`] bits seen, a whole batch per call) and delivered signals with
//!    [`Feed::feed_signal`]. End of file is reported as [`Ready::READ`] (with [`Ready::CLOSED`]
//!    where the OS can tell), errors as `READ | WRITE`, so that the user's next read or write sees
//!    them. A host rounds a remaining sub-tick or sub-millisecond wait *up*, never down to zero,
//!    so a pending deadline never turns into a busy loop. Wake-ups come through the same
//!    door: a host with an attached [`Notifier`](crate::Notifier) feeds its queued ids with
//!    [`Feed::feed_user`] ([`NotifierSlot::drain`](crate::NotifierSlot::drain)) when its
//!    wake-up ended the wait, and before it blocks if ids may have been queued while nothing could
//!    wake it (right after [`Host::attach`]); it does not block when that activated anything.
//! 3. **Time** advances once, to [`Host::now`]. Expired timers become active here. A turn with
//!    nothing that waits on time (no timeout armed, no `loop_exit` due) on a clock the engine can
//!    read itself skips the reading: the engine reads the clock when it is next asked for the
//!    time ([`Engine::now`](crate::Engine::now), adding a timeout), so an idle turn costs no
//!    clock read and the time it hands out is never older than the turn.
//!
//! Readiness fed with a stale token (a source that was removed, or whose slot was reused since the
//! change that carried the token) is ignored by the engine, so a host never needs to filter what
//! its OS reports for a descriptor that was just closed and reused.
//!
//! A host says which clock its [`now`](Host::now) reads with [`Host::clock`]; an engine made for
//! another tick rate (a simulation's [`Platform::manual`] on a real host, say) refuses to run on
//! it with [`LoopError::ClockMismatch`](crate::LoopError::ClockMismatch) instead of firing
//! timers a million times too early. The engine asks once for each host it is turned with, not
//! at every turn.
//!
//! # When nothing can ever happen
//!
//! The engine ends a loop by itself when no event is added or active and no `loop_exit` is due
//! (libevent's `event_base_dispatch` returning 1). A host says the same about its own world by
//! returning [`Turn::Never`]: asked to wait with [`Wait::Forever`], it knows that nothing it watches
//! can ever wake it (the simulation host with an empty script, a host with no sources, no signals
//! and no notifier). The loop then ends with [`Exit::Empty`](crate::Exit::Empty) instead of hanging.
//!
//! # Hosts that wait asynchronously
//!
//! A host inside an async executor (an embassy task polling smoltcp) must not block in `wait`: it
//! polls, feeds what it saw and returns [`Turn::Yielded`] instead of waiting. If nothing became
//! active, [`Engine::next`](crate::Engine::next) and [`Engine::run`](crate::Engine::run) then
//! return at once (with [`Exit::Done`](crate::Exit::Done)); the caller awaits the wake-up the host
//! prepared ([`Host::wake_at`], the waker given to [`Host::register_waker`]) and calls the loop
//! again. `loop_exit` and `loop_break` keep their meaning, because the engine's own loop is what
//! runs.
//!
//! # Closing a source
//!
//! The change list is applied lazily, at the next turn, so a descriptor can be closed (and its
//! number reused by the next `open`) while the host still has it registered. Two rules keep that
//! safe:
//!
//! - Whoever closes a source calls [`Dispatcher::forget_source`] *before* closing it: the engine
//!   drops the source at once (its events stay created but are no longer added, their queued
//!   activations are dropped) and its token turns stale, so readiness for the old descriptor never
//!   reaches an event of the new one. `forget_source` returns the deregistration, which a caller
//!   that has the host at hand applies at once ([`Host::forget`]); the engine also delivers it
//!   through the change list at the next turn. A host applies a deregistration only to the
//!   registration that carries the same token: by then the descriptor number may have been
//!   registered again, with a new token.
//! - A host tolerates a registered descriptor disappearing without that deregistration: epoll and
//!   kqueue forget closed descriptors by themselves; poll drops an entry that reports `POLLNVAL`;
//!   select drops sockets that are no longer sockets. And a registration for a descriptor the host
//!   already has (a reused number) replaces the old one.

use crate::event::{EventId, Interest, Ready, SourceKey};
use crate::notify::{Attached, NotifySource, Waker};
use crate::time::{Clock, Tick};

/// The handle a host stores with a registered source (in `epoll_event.data`, `kevent.udata`, a
/// side table) and hands back with its readiness. It carries a generation, so readiness for a
/// source that no longer exists is recognised and dropped.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Token(pub u64);

/// One entry of the change list: what the host must change in its OS registrations.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Change {
    /// The union of interests on a source changed.
    ///
    /// `old` empty means *register* (`EPOLL_CTL_ADD`), `new` empty means *deregister*
    /// (`EPOLL_CTL_DEL`), otherwise *modify*. `edge` asks for edge-triggered readiness. The host
    /// reports this source's readiness with `token`.
    Io {
        /// The source.
        key: SourceKey,
        /// What to report readiness with.
        token: Token,
        /// The interest the host had registered before.
        old: Interest,
        /// The interest to register now.
        new: Interest,
        /// Edge-triggered (`EPOLLET`, `EV_CLEAR`) rather than level-triggered.
        edge: bool,
    },
    /// Start (`watch`) or stop catching signal `signo`. When stopping, a host restores the
    /// disposition the signal had before.
    Signal {
        /// The signal number.
        signo: i32,
        /// Catch it (`true`) or restore it (`false`).
        watch: bool,
    },
}

/// How long a host may block in this turn.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Wait {
    /// Do not block: events are already active, or the loop must end.
    No,
    /// Block at most until this tick (the earliest timer or `loop_exit`).
    Until(Tick),
    /// No deadline: block until IO, a signal or a wake-up arrives.
    Forever,
}

/// How a turn ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Turn {
    /// The host waited (or polled) and fed what it saw.
    Waited,
    /// Asked to wait forever, the host knows that nothing can ever wake it. Ends the loop.
    Never,
    /// The host did not wait: it polled and fed what it saw, and leaves the waiting to its caller
    /// (an async task that awaits a timer or an interrupt). If nothing is active the loop returns
    /// with [`Exit::Done`](crate::Exit::Done), to be called again after the wait.
    Yielded,
}

/// A host failed in a way it could not recover from (a failed `epoll_wait`, a full script).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum HostError {
    /// An OS error, by its code (`errno`, `WSAGetLastError`).
    Os(i32),
    /// A fixed-capacity table of the host is full.
    Capacity,
    /// Anything else, with a short description.
    Other(&'static str),
}

impl core::fmt::Display for HostError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            HostError::Os(code) => write!(f, "host error: OS error {code}"),
            HostError::Capacity => f.write_str("host error: a fixed-capacity table is full"),
            HostError::Other(what) => write!(f, "host error: {what}"),
        }
    }
}

impl core::error::Error for HostError {}

/// The set of signal numbers a platform can deliver, as a bit mask of numbers 1 to 63.
///
/// ```
/// use levent_core::Signals;
/// let unix = Signals::range(1, 31).without(9).without(19);
/// assert!(unix.contains(2) && !unix.contains(9) && !unix.contains(0) && !unix.contains(64));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Signals(pub u64);

impl Signals {
    /// No signals at all.
    pub const NONE: Signals = Signals(0);

    /// Numbers `lo..=hi` (clamped to 1..=63).
    pub const fn range(lo: u32, hi: u32) -> Signals {
        let lo = if lo < 1 { 1 } else { lo };
        let hi = if hi > 63 { 63 } else { hi };
        if lo > hi {
            return Signals(0);
        }
        let top = if hi == 63 {
            u64::MAX
        } else {
            (1u64 << (hi + 1)) - 1
        };
        Signals(top & !((1u64 << lo) - 1))
    }
    /// This set and `signo`.
    pub const fn with(self, signo: u32) -> Signals {
        if signo >= 1 && signo <= 63 {
            Signals(self.0 | 1 << signo)
        } else {
            self
        }
    }
    /// This set without `signo`.
    pub const fn without(self, signo: u32) -> Signals {
        if signo <= 63 {
            Signals(self.0 & !(1 << signo))
        } else {
            self
        }
    }
    /// Whether `signo` is in the set.
    pub const fn contains(self, signo: i32) -> bool {
        signo >= 1 && signo <= 63 && self.0 & (1 << signo) != 0
    }
}

/// What an engine must know about the host it will run on: its clock and its signals.
///
/// Each host crate exports the value for its platform (`levent_hosts::PLATFORM`,
/// `levent_embassy::PLATFORM`); simulations use [`Platform::manual`].
#[derive(Clone, Copy, Debug)]
pub struct Platform {
    /// Tick rate and clock.
    pub clock: Clock,
    /// The signal numbers this platform delivers; adding a signal event for another number fails.
    pub signals: Signals,
}

impl Platform {
    /// Virtual time at `hz` ticks per second and the signal numbers 1 to 63, for simulations.
    pub const fn manual(hz: u64) -> Platform {
        Platform {
            clock: Clock::manual(hz),
            signals: Signals::range(1, 63),
        }
    }
}

/// What a host feeds into the engine while it waits: readiness, signals and wake-ups.
///
/// Object-safe, so a host is written once for every engine type. It is all a host sees of the
/// engine in [`Host::wait`]: changes and time belong to the turn the engine runs.
pub trait Feed {
    /// Readiness of sources, as `(token, ready)` pairs: typically everything one `epoll_wait`
    /// returned. Stale tokens are ignored.
    fn feed_io(&mut self, batch: &[(Token, Ready)]);

    /// Signal `signo` was delivered `count` times since the last turn.
    fn feed_signal(&mut self, signo: i32, count: u32);

    /// A [`Notifier`](crate::Notifier) queued `id`; activates it with [`Ready::USER`]. Stale or
    /// foreign ids are ignored.
    fn feed_user(&mut self, id: EventId);
}

/// The engine as code outside a turn sees it: a host applying changes by hand, a transport
/// forgetting a source before it closes it. Object-safe.
pub trait Dispatcher: Feed {
    /// The engine's current time: the tick of the last [`advance`](Dispatcher::advance).
    fn now(&self) -> Tick;

    /// The next change to apply, or `None` when the list is drained. Draining marks each change
    /// as applied.
    fn next_change(&mut self) -> Option<Change>;

    /// Time is now `now`: expired timers fire. The engine's turn calls this once at its end;
    /// call it yourself only when you drive an engine without a host. Time never moves backwards:
    /// an earlier tick is treated as the current one.
    fn advance(&mut self, now: Tick);

    /// Drop `key` from the engine at once, before the host closes it: its events stay created but
    /// are no longer added, their queued activations are dropped, and the source's token turns
    /// stale (readiness fed with it is ignored), so the key can name a new source right away.
    /// Returns the deregistration the host should apply now (`None` if the source was not
    /// registered); the same deregistration also comes through [`next_change`](Self::next_change)
    /// at the next turn, for callers that cannot reach the host. Hosts apply a deregistration
    /// only to the registration with the same token, which makes applying it twice harmless.
    fn forget_source(&mut self, key: SourceKey) -> Option<Change>;
}

/// A host: the primitives of one backend (epoll, kqueue, select, smoltcp, a simulation). The
/// engine runs the turn with them; see the [module documentation](self) for its order.
///
/// Object-safe: the engine takes `&mut dyn Host`.
///
/// A minimal host that only keeps time, for a test:
///
/// ```
/// use core::time::Duration;
/// use levent_core::{
///     Attached, Change, Clock, Engine, Event, Feed, Host, HostError, Platform, Tick, Turn, Wait,
/// };
///
/// /// A clock that jumps to every deadline.
/// struct Jump(Tick);
///
/// impl Host for Jump {
///     fn clock(&self) -> Option<Clock> { None }
///     fn apply(&mut self, _: Change) -> Result<(), HostError> { Ok(()) }
///     fn wait(&mut self, wait: Wait, _: &mut dyn Feed) -> Result<Turn, HostError> {
///         match wait {
///             Wait::Until(t) => self.0 = self.0.max(t),
///             Wait::No => {}
///             Wait::Forever => return Ok(Turn::Never),
///         }
///         Ok(Turn::Waited)
///     }
///     fn now(&mut self) -> Tick { self.0 }
///     fn attach(&mut self, _: Attached) -> Result<(), HostError> { Err(HostError::Capacity) }
/// }
///
/// let mut engine: Engine<u8, 4, 1, 1> = Engine::new(Platform::manual(1000));
/// engine.start(Event::timer(), 1, Some(Duration::from_secs(5))).unwrap();
/// assert_eq!(engine.next(&mut Jump(0)).unwrap().map(|f| f.datum), Some(1));
/// assert_eq!(engine.now(), 5000);
/// ```
pub trait Host {
    /// The clock [`now`](Self::now) reads, so that an engine made for another tick rate is
    /// refused; `None` for hosts whose ticks are whatever the engine's are (simulations).
    fn clock(&self) -> Option<Clock>;

    /// Apply one change of the engine's change list to the OS. A deregistration applies only to
    /// the registration with the same token.
    fn apply(&mut self, change: Change) -> Result<(), HostError>;

    /// Block at most as `wait` allows, and feed what happened (readiness, signals) to `feed`.
    /// Returns [`Turn::Never`] when asked to wait forever with nothing that could ever end the
    /// wait, [`Turn::Yielded`] when the host leaves the waiting to an async caller.
    fn wait(&mut self, wait: Wait, feed: &mut dyn Feed) -> Result<Turn, HostError>;

    /// The current time on this host's clock; the turn advances the engine to it.
    fn now(&mut self) -> Tick;

    /// Let `notifier` wake this host and feed its queued ids in [`wait`](Self::wait) (libevent's
    /// `evthread_make_base_notifiable`). Replaces a notifier attached before, whose waker is
    /// cleared. Fails with [`HostError::Capacity`] when the host has no wake-up left for it (a
    /// board's fixed table of wake-up signals).
    fn attach(&mut self, notifier: Attached) -> Result<(), HostError>;

    /// For hosts that yield ([`Turn::Yielded`]): the tick by which the caller should run the next
    /// turn at the latest, after a turn yielded (`None`: only a wake-up can make anything happen).
    fn wake_at(&mut self) -> Option<Tick> {
        None
    }

    /// For hosts that yield: let the host's own wake-up sources (a network driver, the attached
    /// notifier) wake `waker`, the task that runs the loop.
    fn register_waker(&mut self, waker: &core::task::Waker) {
        let _ = waker;
    }

    /// Apply the engine's pending changes now, without waiting or advancing time: after this,
    /// every added event is registered with the OS and every watched signal is caught. A turn does
    /// this first anyway; call it when a registration must take effect before the loop runs.
    fn sync(&mut self, d: &mut dyn Dispatcher) -> Result<(), HostError> {
        while let Some(change) = d.next_change() {
            self.apply(change)?;
        }
        Ok(())
    }

    /// Deregister `key` from the engine and the host at once, before the caller closes it, so that
    /// a descriptor number reused by the next `open` never inherits the old registration or its
    /// readiness (see [`Dispatcher::forget_source`]).
    fn forget(&mut self, d: &mut dyn Dispatcher, key: SourceKey) {
        if let Some(change) = d.forget_source(key) {
            let _ = self.apply(change);
        }
    }
}

/// The notifier a host holds, for host writers: installing one sets its waker and clears the
/// waker of the one it replaces; dropping the slot clears the waker, so a notifier that outlives
/// its host never pokes a closed descriptor. [`drain`](Self::drain) feeds its queued ids to the
/// engine, which a host does in [`Host::wait`].
///
/// Ids can be queued before the notifier had a waker (or while it had another host's): the slot
/// is [`due`](Self::due) from its installation until its first drain, and a host drains it then
/// before it blocks, since no wake-up will come for those ids.
///
/// ```
/// use levent_core::{Engine, Event, Notifier, NotifierSlot, Platform};
///
/// static WAKE: Notifier<4> = Notifier::new();
/// let mut engine: Engine<u8, 4, 1, 1> = Engine::new(Platform::manual(1000));
/// let id = engine.create(Event::user(), 7).unwrap();
/// WAKE.notify(id).unwrap(); // queued before any host listens
///
/// let mut slot = NotifierSlot::default();
/// slot.install((&WAKE).into(), None);
/// assert!(slot.due());
/// assert_eq!(slot.drain(&mut engine), 1);
/// assert!(!slot.due());
/// ```
#[derive(Default, Debug)]
pub struct NotifierSlot {
    held: Option<Attached>,
    due: bool,
}

impl NotifierSlot {
    /// Make `notifier` the one held, waking the host through `waker`; the notifier it replaces
    /// (unless it is the same one) has its waker cleared. The slot is [`due`](Self::due) after.
    pub fn install(&mut self, notifier: Attached, waker: Option<Waker>) {
        notifier.get().set_waker(waker);
        if let Some(old) = self.held.replace(notifier.clone())
            && !old.is(&notifier)
        {
            old.get().set_waker(None);
        }
        self.due = true;
    }

    /// The notifier held, if any.
    pub fn get(&self) -> Option<&dyn NotifySource> {
        self.held.as_ref().map(Attached::get)
    }

    /// Whether ids may be queued that no wake-up announced: from [`install`](Self::install) to
    /// the next [`drain`](Self::drain).
    pub fn due(&self) -> bool {
        self.due
    }

    /// Feed every queued id to `feed` as a user activation ([`Feed::feed_user`]); how many.
    pub fn drain(&mut self, feed: &mut dyn Feed) -> usize {
        self.due = false;
        match &self.held {
            Some(n) => n.get().drain_into(&mut |id| feed.feed_user(id)),
            None => 0,
        }
    }
}

impl Drop for NotifierSlot {
    fn drop(&mut self) {
        if let Some(n) = self.held.take() {
            n.get().set_waker(None);
        }
    }
}
