//! The object-safe view of an engine, and the [`Handler`] convenience.

use crate::error::{AddError, IdError, LoopError, PriorityError, Rejected};
use crate::event::{Event, EventId, Fired, Pending, Ready};
use crate::host::{Dispatcher, Host, Platform, Turn};

use crate::time::Overflow;
use core::time::Duration;

/// How [`Engine::run`](crate::Engine::run) loops (libevent's `event_base_loop` flags).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Mode {
    /// Until no event is left, `loop_exit` or `loop_break` (`event_base_dispatch`).
    Default,
    /// Block until something is active, run everything that becomes active, return
    /// (`EVLOOP_ONCE`).
    Once,
    /// Do not block: run the most urgent events that are ready now, return (`EVLOOP_NONBLOCK`).
    NoWait,
}

/// Why a loop returned.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Exit {
    /// No event is added or active any more: nothing can ever fire (libevent returns 1).
    Empty,
    /// [`loop_exit`](crate::Engine::loop_exit) took effect after the pass in progress.
    Exit,
    /// [`loop_break`](crate::Engine::loop_break) took effect after the callback in progress.
    Break,
    /// [`Mode::Once`] or [`Mode::NoWait`] did what it was asked, or the host yielded to an
    /// async caller ([`Turn::Yielded`](crate::Turn::Yielded)); events are still pending.
    Done,
}

/// How many events and sources an engine holds: its capacity, or what is free of it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Capacity {
    /// Events.
    pub events: usize,
    /// Sources (file descriptors, sockets).
    pub sources: usize,
}

impl Capacity {
    /// Whether `self` has at least `need` of both.
    pub const fn covers(&self, need: &Capacity) -> bool {
        self.events >= need.events && self.sources >= need.sources
    }
}

/// What [`Engine::run`](crate::Engine::run) calls for every fired event: the engine, and the event.
pub type OnFired<'a, T> = dyn FnMut(&mut dyn Events<T>, Fired<T>) + 'a;

/// An engine without its capacities: what a callback, a protocol layer or a helper function takes
/// so that the const generics appear only where the engine is declared.
///
/// Every method behaves as the [`Engine`](crate::Engine) method of the same name. Through the [`Dispatcher`]
/// supertrait it is also what a host sees. The methods that drive the loop (`turn`, `next_fired`,
/// `next`, `run`) need a sized engine (`where Self: Sized`): a callback, which holds
/// `&mut dyn Events<T>`, cannot start the loop it runs in, and they stay out of the
/// `dyn Events` vtable, so a program links only those it calls.
///
/// ```
/// use levent_core::{Engine, Event, Events, Platform};
///
/// fn arm(events: &mut dyn Events<u8>) -> usize {
///     events.start(Event::timer(), 7, None).unwrap();
///     events.len()
/// }
/// let mut small: Engine<u8, 4, 1, 1> = Engine::new(Platform::manual(1000));
/// let mut large: Engine<u8, 4096, 1024, 8> = Engine::new(Platform::manual(1000));
/// assert_eq!(arm(&mut small) + arm(&mut large), 2);
/// ```
pub trait Events<T>: Dispatcher {
    /// See [`Engine::create`](crate::Engine::create).
    fn create(&mut self, ev: Event, datum: T) -> Result<EventId, Rejected<T>>;
    /// See [`Engine::add`](crate::Engine::add).
    fn add(&mut self, id: EventId, timeout: Option<Duration>) -> Result<(), AddError>;
    /// See [`Engine::start`](crate::Engine::start).
    fn start(
        &mut self,
        ev: Event,
        datum: T,
        timeout: Option<Duration>,
    ) -> Result<EventId, Rejected<T>>;
    /// See [`Engine::once`](crate::Engine::once).
    fn once(
        &mut self,
        ev: Event,
        datum: T,
        timeout: Option<Duration>,
    ) -> Result<EventId, Rejected<T>>;
    /// See [`Engine::del`](crate::Engine::del).
    fn del(&mut self, id: EventId) -> Result<(), IdError>;
    /// See [`Engine::free`](crate::Engine::free).
    fn free(&mut self, id: EventId) -> Result<T, IdError>;
    /// See [`Engine::remove_timeout`](crate::Engine::remove_timeout).
    fn remove_timeout(&mut self, id: EventId) -> Result<(), IdError>;
    /// See [`Engine::activate`](crate::Engine::activate).
    fn activate(&mut self, id: EventId, ready: Ready) -> Result<(), IdError>;
    /// See [`Engine::activate_later`](crate::Engine::activate_later).
    fn activate_later(&mut self, id: EventId, ready: Ready) -> Result<(), IdError>;
    /// See [`Engine::pending`](crate::Engine::pending).
    fn pending(&self, id: EventId) -> Result<Pending, IdError>;
    /// See [`Engine::datum`](crate::Engine::datum).
    fn datum(&self, id: EventId) -> Result<T, IdError>;
    /// See [`Engine::set_datum`](crate::Engine::set_datum).
    fn set_datum(&mut self, id: EventId, datum: T) -> Result<(), IdError>;
    /// See [`Engine::set_priority`](crate::Engine::set_priority).
    fn set_priority(&mut self, id: EventId, p: u8) -> Result<(), PriorityError>;
    /// See [`Engine::set_priorities`](crate::Engine::set_priorities).
    fn set_priorities(&mut self, n: u8) -> Result<(), PriorityError>;
    /// See [`Engine::loop_exit`](crate::Engine::loop_exit).
    fn loop_exit(&mut self, after: Option<Duration>) -> Result<(), Overflow>;
    /// See [`Engine::loop_break`](crate::Engine::loop_break).
    fn loop_break(&mut self);
    /// See [`Engine::platform`](crate::Engine::platform).
    fn platform(&self) -> Platform;
    /// See [`Engine::is_alive`](crate::Engine::is_alive).
    fn is_alive(&self) -> bool;
    /// See [`Engine::last_exit`](crate::Engine::last_exit).
    fn last_exit(&self) -> Option<Exit>;
    /// See [`Engine::len`](crate::Engine::len).
    fn len(&self) -> usize;
    /// See [`Engine::capacity`](crate::Engine::capacity).
    fn capacity(&self) -> Capacity;
    /// See [`Engine::free_capacity`](crate::Engine::free_capacity).
    fn free_capacity(&self) -> Capacity;
    /// See [`Engine::is_empty`](crate::Engine::is_empty).
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// See [`Engine::turn`](crate::Engine::turn).
    fn turn(&mut self, host: &mut dyn Host, block: bool) -> Result<Turn, LoopError>
    where
        Self: Sized;
    /// See [`Engine::next_fired`](crate::Engine::next_fired).
    fn next_fired(&mut self) -> Option<Fired<T>>
    where
        Self: Sized;
    /// See [`Engine::next`](crate::Engine::next).
    fn next(&mut self, host: &mut dyn Host) -> Result<Option<Fired<T>>, LoopError>
    where
        Self: Sized;
    /// See [`Engine::run`](crate::Engine::run).
    fn run(
        &mut self,
        host: &mut dyn Host,
        mode: Mode,
        handler: &mut OnFired<'_, T>,
    ) -> Result<Exit, LoopError>
    where
        Self: Sized;
}

/// An application that handles fired events in a method instead of a `match` in a loop.
///
/// ```
/// use core::time::Duration;
/// use levent_core::{Engine, Event, Events, Exit, Fired, Handler, Platform, sim::Sim};
///
/// struct Counter { left: u32 }
///
/// impl Handler<()> for Counter {
///     fn fired(&mut self, events: &mut dyn Events<()>, fired: Fired<()>) {
///         self.left -= 1;
///         if self.left == 0 {
///             events.free(fired.id).unwrap();
///         }
///     }
/// }
///
/// let mut engine: Engine<(), 4, 1, 1> = Engine::new(Platform::manual(1000));
/// engine.start(Event::timer().persist(), (), Some(Duration::from_millis(5))).unwrap();
/// let mut app = Counter { left: 3 };
/// assert_eq!(app.run(&mut engine, &mut Sim::<4>::new(0)), Ok(Exit::Empty));
/// assert_eq!(engine.now(), 15);
/// ```
pub trait Handler<T> {
    /// Handle one fired event.
    fn fired(&mut self, events: &mut dyn Events<T>, fired: Fired<T>);

    /// Run `events` on `host` until no event is left, `loop_exit` or `loop_break`, calling
    /// [`fired`](Handler::fired) for each event.
    fn run<E: Events<T>>(&mut self, events: &mut E, host: &mut dyn Host) -> Result<Exit, LoopError>
    where
        Self: Sized,
    {
        events.run(host, Mode::Default, &mut |ev, f| self.fired(ev, f))
    }
}
