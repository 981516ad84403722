//! [`ConnTable`]: connections that route themselves.
//!
//! A fixed-capacity table of buffered [`Connection`]s that accepts from a [`Listener`] into
//! generation-checked slots, routes every fired event to its connection, frees the slot when the
//! connection ends (end of file, error, timeout, or a close asked for) and tells the application
//! what happened, per connection, as libevent's `bufferevent_setcb` callbacks do: a [`Conn`] (the
//! connection, with the engine and the IO storage at hand, so `c.write(..)` needs nothing more)
//! and a [`ConnEvent`].
//!
//! The events of the table carry a [`Route`] in their datum (the datum type is `From<Route>`, or
//! the table is made [`with_datum`](ConnTable::with_datum)); hand the route back with the fired
//! event to [`handle`](ConnTable::handle):
//!
//! ```
//! use levent_core::conn::{ConnEvent, ConnTable, Route, TableConfig, events_needed};
//! use levent_core::{Engine, Platform, RingBuffer};
//! # use levent_core::{Accept, Dispatcher, IoError, SourceKey, Transport};
//! # struct Net; // a listener with nobody waiting
//! # impl Transport for Net {
//! #     type Handle = u8;
//! #     fn source(&self, h: u8) -> SourceKey { SourceKey(h.into()) }
//! #     fn read(&mut self, _: u8, _: &mut [u8]) -> Result<usize, IoError> { Err(IoError::WouldBlock) }
//! #     fn write(&mut self, _: u8, b: &[u8]) -> Result<usize, IoError> { Ok(b.len()) }
//! #     fn shutdown_write(&mut self, _: u8) -> Result<(), IoError> { Ok(()) }
//! #     fn connected(&mut self, _: u8) -> Result<(), IoError> { Ok(()) }
//! #     fn close(&mut self, d: &mut dyn Dispatcher, h: u8) { let _ = d.forget_source(SourceKey(h.into())); }
//! # }
//! # impl Accept for Net {
//! #     fn accept(&mut self, _: u8) -> Result<u8, IoError> { Err(IoError::WouldBlock) }
//! # }
//! # let (mut io, listening, mut host) = (Net, 0, levent_core::sim::Sim::<8>::new(0));
//!
//! const CLIENTS: usize = 4;
//! let mut engine: Engine<Route, { events_needed(CLIENTS, 0) }, { CLIENTS + 1 }, 1> =
//!     Engine::new(Platform::manual(1000));
//! let mut clients = ConnTable::<Route, u8, RingBuffer<512>, CLIENTS>::new(TableConfig::default());
//! clients.listen(&mut engine, &io, listening)?;
//! while let Some(fired) = engine.next(&mut host)? {
//!     clients.handle(&mut engine, &mut io, &fired, fired.datum, |c, ev| {
//!         if ev == ConnEvent::Read {
//!             c.echo(); // every byte back, as it arrives
//!         }
//!     });
//! }
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```
//!
//! # Life of a connection
//!
//! - [`ConnEvent::Opened`] when it is accepted (or, for [`connect`](ConnTable::connect), when its
//!   connect completes).
//! - [`ConnEvent::Read`] when its input reaches the low watermark, [`ConnEvent::Drained`] when its
//!   output falls to the low watermark after progress, [`ConnEvent::Fired`] for an event of its
//!   own (a timer the application made with [`Conn::create_event`]).
//! - [`ConnEvent::Eof`] when the peer has finished sending. By default
//!   ([`TableConfig::close_on_eof`]) the table then finishes the connection ([`Conn::finish`]):
//!   it closes it once the output went out and the input is consumed (or the application leaves
//!   it alone), with [`ConnEvent::Drained`] meanwhile, so a half-closed client still gets the
//!   rest of its answer.
//! - [`ConnEvent::Error`] or [`ConnEvent::Timeout`]: the connection is finished.
//! - [`ConnEvent::Closed`], always last and always once: clean up per-connection state here.
//!   After it returns the transport is closed and the slot free.
//!
//! [`Conn::close`] ends a connection at once, [`Conn::finish`] after its output is sent.
//!
//! # Capacity
//!
//! Every connection needs two engine events and one source, plus the extra events its
//! application makes ([`TableConfig::extra_events`]); the listener needs two events and one
//! source. [`listen`](ConnTable::listen) checks that the engine has that much free for all `C`
//! connections ([`events_needed`]) and fails with [`SetupError::TooSmall`] otherwise, so an
//! undersized engine is an error at set-up, not connections dropped later. When all `C` slots are
//! busy the table stops accepting (the kernel's backlog holds new clients) and resumes when a slot
//! frees; a connection that is accepted but cannot be set up (the engine's room was taken by
//! something else) is closed, counted in [`TableStats::refused`], logged, and reported to
//! [`ConnHandler::refused`].

use super::{ConnOptions, ConnRejected, Connection, Listener, Outcome, RateGroup, RateLimit};
use crate::buffer::{Buffer, Eol, LineTooLong};
use crate::error::CreateError;
use crate::event::{Event, EventId, Fired, Interest, Ready};
use crate::events::{Capacity, Events};
use crate::io::{Accept, IoError, Transport};
use crate::memory::{Inline, Memory};
use core::fmt;
use core::time::Duration;

const NIL: u32 = u32::MAX;

/// What the events of a [`ConnTable`] carry: which table (its [`TableConfig::tag`]), and the
/// listener or a connection slot. Make the engine's datum type `From<Route>` and hand the route
/// of a fired event back to [`ConnTable::handle`]; with several tables on one engine, route by
/// [`tag`](Self::tag).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Route {
    tag: u16,
    slot: u32,
}

impl Route {
    /// The route of the listener (and of a layer's own events) of the table tagged `tag`.
    ///
    /// ```
    /// use levent_core::conn::Route;
    ///
    /// let route = Route::listener(7);
    /// assert_eq!((route.tag(), route.slot()), (7, None));
    /// ```
    pub const fn listener(tag: u16) -> Route {
        Route { tag, slot: NIL }
    }

    /// The slot this route names, or `None` for the listener.
    ///
    /// ```
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// # table.listen(&mut engine, &wires, Wires::<2, 64>::LISTENER)?;
    /// let client = wires.dial().unwrap();
    /// wires.send(client, b"hi");
    /// wires.sync(&mut sim)?;
    /// let fired = engine.next(&mut sim)?.unwrap(); // the listener: a client waits
    /// assert_eq!(fired.datum.slot(), None);
    /// table.handle(&mut engine, &mut wires, &fired, fired.datum, |_, _| {});
    /// wires.sync(&mut sim)?;
    /// let fired = engine.next(&mut sim)?.unwrap(); // the client's bytes arrived
    /// assert_eq!(fired.datum.slot(), Some(0));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub const fn slot(self) -> Option<usize> {
        if self.slot == NIL {
            None
        } else {
            Some(self.slot as usize)
        }
    }

    /// The tag of the table this route belongs to.
    ///
    /// ```
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// let cfg = TableConfig { tag: 3, ..TableConfig::default() };
    /// let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(cfg);
    /// table.listen(&mut engine, &wires, Wires::<2, 64>::LISTENER)?;
    /// wires.dial();
    /// wires.sync(&mut sim)?;
    /// let fired = engine.next(&mut sim)?.unwrap();
    /// assert_eq!(fired.datum.tag(), 3); // an event of this table
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub const fn tag(self) -> u16 {
        self.tag
    }
}

/// A connection of a [`ConnTable`], for as long as it lives. Its number ([`Display`](fmt::Display))
/// counts the connections the table has admitted, from 1; an id whose connection has closed
/// names nothing, even when its slot is in use again.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConnId {
    slot: u32,
    serial: u32,
}

impl ConnId {
    /// An id that names no connection (serials start at 1).
    pub const NONE: ConnId = ConnId {
        slot: NIL,
        serial: 0,
    };

    /// The slot the connection occupies (below the table's capacity).
    ///
    /// ```
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// let h = wires.open().unwrap();
    /// let id = table.adopt(&mut engine, &wires, h)?;
    /// assert_eq!(id.slot(), 0);
    /// assert_eq!(table.id_at(0), Some(id));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub const fn slot(&self) -> usize {
        self.slot as usize
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.serial)
    }
}

/// What happened on a connection of a [`ConnTable`]. See the [module documentation](self) for
/// the order.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ConnEvent {
    /// The connection was accepted, or its connect completed.
    Opened,
    /// The input holds at least the low watermark (libevent's read callback).
    Read,
    /// The output drained to the low watermark (libevent's write callback).
    Drained,
    /// The peer closed its writing side: the input holds everything it will.
    Eof,
    /// The transport failed (a reset, a refused connect); `Closed` follows.
    Error(IoError),
    /// Nothing arrived within the read timeout (`read: true`), or pending output made no
    /// progress within the write timeout; `Closed` follows.
    Timeout {
        /// The read timeout, rather than the write timeout.
        read: bool,
    },
    /// An event of the connection's own fired (one made with [`Conn::create_event`]).
    Fired(EventId, Ready),
    /// The last event: the transport is closed and the slot freed once this returns.
    Closed,
}

/// Why an accepted connection was not admitted, or accepting failed. Each is logged and counted.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Refusal {
    /// The engine had no room for the connection's events or source: it was accepted and closed.
    Engine(CreateError),
    /// Accepting failed: [`IoError::NoDescriptors`] (the listener backs off and tries again) or a
    /// connection that died before it was accepted.
    Accept(IoError),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Engine(e) => write!(f, "connection refused: {e}"),
            Refusal::Accept(e) => write!(f, "accept failed: {e}"),
        }
    }
}

/// Why a [`ConnTable`] could not start listening.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SetupError {
    /// The engine has less room free than the table needs for all its connections.
    TooSmall {
        /// What the table needs.
        need: Capacity,
        /// What the engine has free.
        free: Capacity,
    },
    /// The table listens already.
    Listening,
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::TooSmall { need, free } => write!(
                f,
                "engine too small for the connection table: it needs {} events and {} sources \
                 free, and has {} and {}",
                need.events, need.sources, free.events, free.sources
            ),
            SetupError::Listening => f.write_str("the connection table listens already"),
        }
    }
}

impl core::error::Error for SetupError {}

/// Engine events a [`ConnTable`] of `conns` connections needs, with `extra` events of the
/// application's per connection: two per connection (read and write), plus `extra`, plus two for
/// the listener. A `const fn`, for an engine's capacity:
/// `Engine<Route, { events_needed(CLIENTS, 0) }, { CLIENTS + 1 }, 1>`.
///
/// ```
/// use levent_core::conn::{Route, events_needed};
/// use levent_core::{Engine, Platform};
///
/// assert_eq!(events_needed(4, 0), 10); // 2 per connection, 2 for the listener
/// assert_eq!(events_needed(4, 1), 14); // and a timer of each connection's own
/// let engine: Engine<Route, { events_needed(4, 0) }, 5, 1> = Engine::new(Platform::manual(1000));
/// assert_eq!(engine.capacity().events, 10);
/// ```
pub const fn events_needed(conns: usize, extra: usize) -> usize {
    2 + conns * (2 + extra)
}

/// How a [`ConnTable`] runs its connections.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TableConfig {
    /// A number the table's routes carry ([`Route::tag`]), to tell several tables apart.
    pub tag: u16,
    /// Watermarks and timeouts of every connection.
    pub conn: ConnOptions,
    /// Engine events the application makes per connection ([`Conn::create_event`]), so that
    /// [`ConnTable::listen`] checks room for them too.
    pub extra_events: usize,
    /// After [`ConnEvent::Eof`], finish the connection ([`Conn::finish`]): close it once its output
    /// went out and its input is consumed (the default).
    /// Off, the connection stays open until the application closes it (to answer a request
    /// that arrived with the end of file later, say).
    pub close_on_eof: bool,
    /// Connections accepted per firing of the listener at most, so that a flood of new clients
    /// does not starve the open ones; the listener fires again at the next turn while clients
    /// wait. 64 by default.
    pub accept_batch: usize,
    /// Wait this long after running out of descriptors before accepting again.
    pub backoff: Duration,
    /// A rate limit for each connection of its own ([`Connection::set_rate_limit`]).
    pub rate: Option<RateLimit>,
    /// A rate limit for all connections together: one [`RateGroup`] budget they share
    /// ([`ConnTable::group`]).
    ///
    /// With either limit a connection owns one more engine event (the timer that wakes it when
    /// its budget refills), which [`ConnTable::needs`] counts: size the engine with
    /// `events_needed(C, 1)`.
    pub group_rate: Option<RateLimit>,
}

impl Default for TableConfig {
    fn default() -> Self {
        TableConfig {
            tag: 0,
            conn: ConnOptions::DEFAULT,
            extra_events: 0,
            close_on_eof: true,
            accept_batch: 64,
            backoff: Duration::from_millis(100),
            rate: None,
            group_rate: None,
        }
    }
}

/// What a [`ConnTable`] did so far.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TableStats {
    /// Connections admitted (accepted and set up, adopted, or connecting).
    pub opened: u64,
    /// Connections closed.
    pub closed: u64,
    /// Connections accepted and closed at once because the engine had no room for them.
    pub refused: u64,
    /// Times accepting failed (out of descriptors, a connection aborted before its accept).
    pub accept_errors: u64,
    /// Times every slot was busy and accepting paused.
    pub full: u64,
}

/// What a [`ConnTable`] tells the application: libevent's `bufferevent_setcb` callbacks in one
/// trait. A closure `|c: &mut Conn<..>, ev: ConnEvent|` is one (through
/// [`ConnTable::handle`]); implement the trait to hear of refused connections too.
pub trait ConnHandler<T, IO: Transport, B, U> {
    /// `ev` happened on connection `c`.
    fn event(&mut self, c: &mut Conn<'_, T, IO, B, U>, ev: ConnEvent);

    /// A connection was refused or accepting failed (already logged and counted).
    fn refused(&mut self, why: Refusal) {
        let _ = why;
    }
}

/// A [`ConnHandler`] that ignores everything: for [`ConnTable::with`] and
/// [`ConnTable::close`] when nobody needs to hear of the close.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHandler;

impl<T, IO: Transport, B, U> ConnHandler<T, IO, B, U> for NoHandler {
    fn event(&mut self, _: &mut Conn<'_, T, IO, B, U>, _: ConnEvent) {}
}

/// A closure as a [`ConnHandler`].
struct Closure<F>(F);

impl<T, IO: Transport, B, U, F> ConnHandler<T, IO, B, U> for Closure<F>
where
    F: FnMut(&mut Conn<'_, T, IO, B, U>, ConnEvent),
{
    fn event(&mut self, c: &mut Conn<'_, T, IO, B, U>, ev: ConnEvent) {
        (self.0)(c, ev);
    }
}

/// What becomes of a connection after the event being handled.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum End {
    /// It stays open.
    Open,
    /// Flush the output, shut down writing, close once the output is empty.
    Finish,
    /// Close now.
    Close,
}

struct Live<H, B, U> {
    conn: Connection<H, B>,
    state: U,
    end: End,
}

struct Slot<H, B, U> {
    serial: u32,
    next_free: u32,
    live: Option<Live<H, B, U>>,
}

/// A fixed-capacity table of up to `C` connections that accepts, routes and frees them. See the
/// [module documentation](self).
///
/// - `T`: the engine's datum type; `H`, `B`: the transport handle and buffer types;
/// - `U`: the application's state per connection (`U::default()` when a connection opens);
/// - `M`: where the slots live ([`Inline`], or a host's heap memory).
pub struct ConnTable<T, H, B, const C: usize, U = (), M: Memory = Inline> {
    cfg: TableConfig,
    wrap: fn(Route) -> T,
    listener: Option<Listener<H>>,
    slots: M::Table<Slot<H, B, U>, C>,
    free: u32,
    live: usize,
    serial: u32,
    /// Accepting is paused: every slot is busy.
    paused: bool,
    stats: TableStats,
    /// The budget all connections share ([`TableConfig::group_rate`]), made with the first.
    group: Option<RateGroup>,
    /// How a connection just opened gets the table's rate limits: [`Self::limit`], set only when
    /// the configuration has a limit, so that a table made without one (with a constant
    /// configuration) links none of the rate-limit code.
    limits: Option<Limits<T, H, B>>,
}

/// [`ConnTable::limit`] for one table type.
type Limits<T, H, B> = fn(
    &TableConfig,
    &mut Option<RateGroup>,
    &mut Connection<H, B>,
    &mut dyn Events<T>,
) -> Result<(), CreateError>;

impl<T, H, B, const C: usize, U, M: Memory> fmt::Debug for ConnTable<T, H, B, C, U, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnTable")
            .field("open", &self.live)
            .field("capacity", &C)
            .field("listening", &self.listener.is_some())
            .field("stats", &self.stats)
            .finish()
    }
}

impl<T, H, B, const C: usize, U, M> ConnTable<T, H, B, C, U, M>
where
    T: Copy + From<Route>,
    H: Copy + PartialEq + fmt::Debug,
    B: Buffer + Default,
    U: Default,
    M: Memory,
{
    /// An empty table whose events carry `T::from(route)`.
    ///
    /// ```
    /// use levent_core::RingBuffer;
    /// use levent_core::conn::{ConnTable, Route, TableConfig};
    ///
    /// // Up to 8 connections over `usize` handles, with 512 bytes of buffer each way.
    /// let table = ConnTable::<Route, usize, RingBuffer<512>, 8>::new(TableConfig::default());
    /// assert!(table.is_empty() && !table.is_listening());
    /// ```
    pub fn new(cfg: TableConfig) -> Self {
        Self::with_datum(cfg, T::from)
    }
}

impl<T, H, B, const C: usize, U, M> ConnTable<T, H, B, C, U, M>
where
    T: Copy,
    H: Copy + PartialEq + fmt::Debug,
    B: Buffer + Default,
    U: Default,
    M: Memory,
{
    /// An empty table whose events carry `wrap(route)`: for datum types that cannot be
    /// `From<Route>`, such as a [`Callback`](crate::callbacks::Callback) whose argument is the
    /// route.
    ///
    /// ```
    /// # use levent_core::conn::{ConnTable, Route, TableConfig, events_needed};
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Engine, Platform, RingBuffer};
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// // The events carry a number and a route: a tuple cannot be `From<Route>`.
    /// let mut engine: Engine<(u8, Route), { events_needed(2, 0) }, 3, 1> =
    ///     Engine::new(Platform::manual(1000));
    /// let mut table = ConnTable::<(u8, Route), usize, RingBuffer<64>, 2>::with_datum(
    ///     TableConfig::default(),
    ///     |route| (1, route),
    /// );
    /// table.listen(&mut engine, &wires, Wires::<2, 64>::LISTENER)?;
    /// wires.dial();
    /// wires.sync(&mut sim)?;
    /// let fired = engine.next(&mut sim)?.unwrap();
    /// assert_eq!(fired.datum.0, 1);
    /// table.handle(&mut engine, &mut wires, &fired, fired.datum.1, |_, _| {});
    /// assert_eq!(table.len(), 1);
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn with_datum(cfg: TableConfig, wrap: fn(Route) -> T) -> Self {
        let () = Self::CHECK;
        ConnTable {
            cfg,
            wrap,
            listener: None,
            slots: M::table::<Slot<H, B, U>, C>(|i| Slot {
                serial: 0,
                next_free: if i + 1 < C { (i + 1) as u32 } else { NIL },
                live: None,
            }),
            free: if C > 0 { 0 } else { NIL },
            live: 0,
            serial: 0,
            paused: false,
            stats: TableStats::default(),
            group: None,
            limits: if cfg.rate.is_some() || cfg.group_rate.is_some() {
                Some(Self::limit)
            } else {
                None
            },
        }
    }

    /// Give connection `conn`, just opened, the table's limits: its own (or none, as a member of
    /// the group), and a share of the group's budget, which the first connection makes.
    fn limit(
        cfg: &TableConfig,
        group: &mut Option<RateGroup>,
        conn: &mut Connection<H, B>,
        events: &mut dyn Events<T>,
    ) -> Result<(), CreateError> {
        conn.set_rate_limit(events, Some(cfg.rate.unwrap_or(RateLimit::NONE)))?;
        if let Some(limit) = cfg.group_rate {
            group
                .get_or_insert_with(|| RateGroup::new(limit, &events.platform(), events.now()))
                .join();
        }
        Ok(())
    }

    const CHECK: () = assert!(C < NIL as usize, "at most 2^32 - 2 connections");

    /// What the table needs of an engine to listen: events and sources for all `C` connections
    /// and the listener.
    ///
    /// ```
    /// use levent_core::conn::{ConnTable, RateLimit, Route, TableConfig, events_needed};
    /// use levent_core::{Capacity, RingBuffer};
    ///
    /// type Table = ConnTable<Route, usize, RingBuffer<64>, 4>;
    /// let table = Table::new(TableConfig::default());
    /// assert_eq!(table.needs(), Capacity { events: events_needed(4, 0), sources: 5 });
    ///
    /// // A rate limit gives every connection a timer of its own.
    /// let rate = Some(RateLimit::bytes_per_second(10_000, 10_000));
    /// let table = Table::new(TableConfig { rate, ..TableConfig::default() });
    /// assert_eq!(table.needs().events, events_needed(4, 1));
    /// ```
    pub const fn needs(&self) -> Capacity {
        let limited = self.cfg.rate.is_some() || self.cfg.group_rate.is_some();
        Capacity {
            events: events_needed(C, self.cfg.extra_events + limited as usize),
            sources: C + 1,
        }
    }

    /// Accept connections from listening transport `handle` (one listener per table).
    ///
    /// Fails, changing nothing, when the engine has less room free than [`needs`](Self::needs)
    /// says, or when the table listens already.
    ///
    /// ```
    /// # use levent_core::conn::{ConnTable, Route, SetupError, TableConfig, events_needed};
    /// # use levent_core::sim::Wires;
    /// # use levent_core::{Engine, Platform, RingBuffer};
    /// let (wires, listening) = (Wires::<2, 64>::new(), Wires::<2, 64>::LISTENER);
    /// let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    ///
    /// // Room for one connection, not two: refused at set-up.
    /// let mut small: Engine<Route, { events_needed(1, 0) }, 2, 1> =
    ///     Engine::new(Platform::manual(1000));
    /// let refused = table.listen(&mut small, &wires, listening);
    /// assert!(matches!(refused, Err(SetupError::TooSmall { .. })));
    ///
    /// let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    ///     Engine::new(Platform::manual(1000));
    /// table.listen(&mut engine, &wires, listening)?;
    /// assert!(table.is_listening());
    /// assert_eq!(table.listen(&mut engine, &wires, listening), Err(SetupError::Listening));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn listen<IO: Accept<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &IO,
        handle: H,
    ) -> Result<(), SetupError> {
        if self.listener.is_some() {
            return Err(SetupError::Listening);
        }
        let (need, free) = (self.needs(), events.free_capacity());
        if !free.covers(&need) {
            return Err(SetupError::TooSmall { need, free });
        }
        let mut listener = Listener::new(
            events,
            io,
            handle,
            (self.wrap)(Route::listener(self.cfg.tag)),
        )
        .map_err(|_| SetupError::TooSmall { need, free })?;
        listener.set_backoff(self.cfg.backoff);
        self.listener = Some(listener);
        Ok(())
    }

    /// Stop accepting and close the listening transport; open connections carry on.
    ///
    /// ```
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// # table.listen(&mut engine, &wires, Wires::<2, 64>::LISTENER)?;
    /// let h = wires.open().unwrap();
    /// table.adopt(&mut engine, &wires, h)?;
    /// table.close_listener(&mut engine, &mut wires);
    /// assert!(!table.is_listening());
    /// assert_eq!(table.len(), 1); // the open connection carries on
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn close_listener<IO: Accept<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
    ) {
        if let Some(l) = self.listener.take() {
            l.close(events, io);
        }
        self.paused = false;
    }

    /// Whether the table has a listener.
    ///
    /// ```
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// assert!(!table.is_listening());
    /// table.listen(&mut engine, &wires, Wires::<2, 64>::LISTENER)?;
    /// assert!(table.is_listening());
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn is_listening(&self) -> bool {
        self.listener.is_some()
    }

    /// Whether accepting is paused after running out of descriptors (see [`Listener`]).
    ///
    /// ```
    /// # use levent_core::conn::{ConnTable, Route, TableConfig, events_needed};
    /// # use levent_core::sim::Sim;
    /// # use levent_core::{Engine, Platform, Ready, RingBuffer};
    /// # use levent_core::{Accept, Dispatcher, IoError, SourceKey, Transport};
    /// # struct Exhausted; // a listener whose process has no descriptor left
    /// # impl Transport for Exhausted {
    /// #     type Handle = u8;
    /// #     fn source(&self, h: u8) -> SourceKey { SourceKey(h.into()) }
    /// #     fn read(&mut self, _: u8, _: &mut [u8]) -> Result<usize, IoError> {
    /// #         Err(IoError::WouldBlock)
    /// #     }
    /// #     fn write(&mut self, _: u8, b: &[u8]) -> Result<usize, IoError> { Ok(b.len()) }
    /// #     fn shutdown_write(&mut self, _: u8) -> Result<(), IoError> { Ok(()) }
    /// #     fn connected(&mut self, _: u8) -> Result<(), IoError> { Ok(()) }
    /// #     fn close(&mut self, d: &mut dyn Dispatcher, h: u8) {
    /// #         let _ = d.forget_source(SourceKey(h.into()));
    /// #     }
    /// # }
    /// # impl Accept for Exhausted {
    /// #     fn accept(&mut self, _: u8) -> Result<u8, IoError> { Err(IoError::NoDescriptors) }
    /// # }
    /// # let (mut io, mut sim) = (Exhausted, Sim::<8>::new(1));
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// let mut table = ConnTable::<Route, u8, RingBuffer<64>, 2>::new(TableConfig::default());
    /// table.listen(&mut engine, &io, 0)?;
    /// sim.set_ready(SourceKey(0), Ready::READ)?; // a client waits, but accepting fails
    /// let fired = engine.next(&mut sim)?.unwrap();
    /// table.handle(&mut engine, &mut io, &fired, fired.datum, |_, _| {});
    /// assert!(table.is_backing_off());
    /// assert_eq!(table.stats().accept_errors, 1);
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn is_backing_off(&self) -> bool {
        self.listener.as_ref().is_some_and(Listener::is_backing_off)
    }

    /// Connections open now.
    ///
    /// ```
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// assert_eq!(table.len(), 0);
    /// let h = wires.open().unwrap();
    /// table.adopt(&mut engine, &wires, h)?;
    /// assert_eq!(table.len(), 1);
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether no connection is open.
    ///
    /// ```
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// assert!(table.is_empty());
    /// let h = wires.open().unwrap();
    /// let id = table.adopt(&mut engine, &wires, h)?;
    /// assert!(!table.is_empty());
    /// table.close(&mut engine, &mut wires, id, &mut NoHandler);
    /// assert!(table.is_empty());
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The budget all connections share, once the first connection of a table with
    /// [`TableConfig::group_rate`] opened: its members and the bytes they moved.
    ///
    /// ```
    /// # use levent_core::conn::{ConnTable, RateLimit, Route, TableConfig, events_needed};
    /// # use levent_core::sim::Wires;
    /// # use levent_core::{Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 1) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let mut wires = Wires::<2, 64>::new();
    /// let cfg = TableConfig {
    ///     group_rate: Some(RateLimit::bytes_per_second(100_000, 100_000)),
    ///     ..TableConfig::default()
    /// };
    /// let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(cfg);
    /// assert!(table.group().is_none()); // made with the first connection
    /// let h = wires.open().unwrap();
    /// table.adopt(&mut engine, &wires, h)?;
    /// assert_eq!(table.group().map(|g| g.members()), Some(1));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn group(&self) -> Option<&RateGroup> {
        self.group.as_ref()
    }

    /// What the table did so far.
    ///
    /// ```
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// let h = wires.open().unwrap();
    /// let id = table.adopt(&mut engine, &wires, h)?;
    /// table.close(&mut engine, &mut wires, id, &mut NoHandler);
    /// let stats = table.stats();
    /// assert_eq!((stats.opened, stats.closed, stats.refused), (1, 1, 0));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn stats(&self) -> TableStats {
        self.stats
    }

    /// The configuration in force.
    ///
    /// ```
    /// use levent_core::RingBuffer;
    /// use levent_core::conn::{ConnTable, Route, TableConfig};
    ///
    /// let cfg = TableConfig { tag: 9, ..TableConfig::default() };
    /// let table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(cfg);
    /// assert_eq!(table.config().tag, 9);
    /// assert!(table.config().close_on_eof); // the default
    /// ```
    pub fn config(&self) -> &TableConfig {
        &self.cfg
    }

    /// Watermarks and timeouts for connections admitted from now on (open ones keep theirs:
    /// change those with [`Conn::set_options`]).
    ///
    /// ```
    /// # use levent_core::ConnOptions;
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// let h = wires.open().unwrap();
    /// let old = table.adopt(&mut engine, &wires, h)?;
    /// table.set_options(ConnOptions { read_low: 4, ..ConnOptions::DEFAULT });
    /// let h = wires.open().unwrap();
    /// let new = table.adopt(&mut engine, &wires, h)?;
    /// assert_eq!(table.get(old).map(|c| c.options().read_low), Some(0));
    /// assert_eq!(table.get(new).map(|c| c.options().read_low), Some(4));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn set_options(&mut self, opts: ConnOptions) {
        self.cfg.conn = opts;
    }

    /// The ids of the open connections, in slot order.
    ///
    /// ```
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// let (a, b) = (wires.open().unwrap(), wires.open().unwrap());
    /// let first = table.adopt(&mut engine, &wires, a)?;
    /// let second = table.adopt(&mut engine, &wires, b)?;
    /// assert!(table.ids().eq([first, second]));
    /// table.close(&mut engine, &mut wires, first, &mut NoHandler);
    /// assert!(table.ids().eq([second]));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn ids(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.live.as_ref().map(|_| ConnId {
                slot: i as u32,
                serial: s.serial,
            })
        })
    }

    /// The id of the connection in slot `slot`, if one is open there.
    ///
    /// ```
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// let h = wires.open().unwrap();
    /// let id = table.adopt(&mut engine, &wires, h)?;
    /// assert_eq!(table.id_at(id.slot()), Some(id));
    /// assert_eq!(table.id_at(1), None); // a free slot
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn id_at(&self, slot: usize) -> Option<ConnId> {
        let s = self.slots.get(slot)?;
        s.live.as_ref().map(|_| ConnId {
            slot: slot as u32,
            serial: s.serial,
        })
    }

    /// The connection `id` names, if it is still open.
    ///
    /// ```
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// let h = wires.open().unwrap();
    /// let id = table.adopt(&mut engine, &wires, h)?;
    /// assert_eq!(table.get(id).map(|c| c.handle_id()), Some(h));
    /// table.close(&mut engine, &mut wires, id, &mut NoHandler);
    /// assert!(table.get(id).is_none()); // the id names nothing now
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn get(&self, id: ConnId) -> Option<&Connection<H, B>> {
        self.live_of(id).map(|l| &l.conn)
    }

    /// The application's state of connection `id`, if it is still open.
    ///
    /// ```
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// // Each connection keeps a number of the application's.
    /// let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2, u32>::new(
    ///     TableConfig::default(),
    /// );
    /// let h = wires.open().unwrap();
    /// let id = table.adopt(&mut engine, &wires, h)?;
    /// assert_eq!(table.state(id), Some(&0)); // `U::default()` to start with
    /// table.with(&mut engine, &mut wires, id, &mut NoHandler, |c| *c.state() = 7);
    /// assert_eq!(table.state(id), Some(&7));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn state(&self, id: ConnId) -> Option<&U> {
        self.live_of(id).map(|l| &l.state)
    }

    fn live_of(&self, id: ConnId) -> Option<&Live<H, B, U>> {
        let s = self.slots.get(id.slot())?;
        if s.serial != id.serial {
            return None;
        }
        s.live.as_ref()
    }

    /// Take an open transport (a connected socket made elsewhere) into the table. It gets no
    /// [`ConnEvent::Opened`] (the caller knows); its other events come as for an accepted one.
    /// Fails, handing the transport back still open, when every slot is busy or the engine has
    /// no room.
    ///
    /// ```
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// let mut table = ConnTable::<Route, usize, RingBuffer<64>, 1>::new(TableConfig::default());
    /// let h = wires.open().unwrap();
    /// let id = table.adopt(&mut engine, &wires, h)?;
    /// assert_eq!(table.id_at(0), Some(id));
    /// // The only slot is busy: the second stream comes back, still open.
    /// let other = wires.open().unwrap();
    /// let refused = table.adopt(&mut engine, &wires, other).unwrap_err();
    /// assert_eq!(refused.handle, other);
    /// assert!(!wires.is_closed(other));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn adopt<IO: Transport<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &IO,
        handle: H,
    ) -> Result<ConnId, ConnRejected<T, H, B>> {
        self.admit(events, io, handle, false)
    }

    /// Take a transport whose non-blocking connect is in progress into the table:
    /// [`ConnEvent::Opened`] comes when it completes, [`ConnEvent::Error`] (then `Closed`) when it
    /// fails; the write timeout of [`TableConfig::conn`] bounds it. Fails as
    /// [`adopt`](Self::adopt) does.
    ///
    /// ```
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// # table.listen(&mut engine, &wires, Wires::<2, 64>::LISTENER)?;
    /// // A stream whose connect is in progress (a `Wires` stream completes it at once).
    /// let h = wires.open().unwrap();
    /// let id = table.connect(&mut engine, &wires, h)?;
    /// let mut opened = false;
    /// for _ in 0..8 {
    ///     wires.sync(&mut sim)?;
    ///     let Some(fired) = engine.next(&mut sim)? else { break };
    ///     table.handle(&mut engine, &mut wires, &fired, fired.datum, |c, ev| {
    ///         if ev == ConnEvent::Opened {
    ///             opened = c.id() == id;
    ///         }
    ///     });
    /// }
    /// assert!(opened);
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn connect<IO: Transport<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &IO,
        handle: H,
    ) -> Result<ConnId, ConnRejected<T, H, B>> {
        self.admit(events, io, handle, true)
    }

    // Not inlined: the slot's initial value is built in this frame, which should exist only while a
    // connection is admitted, not in every caller's frame (a board's event handler).
    #[inline(never)]
    fn admit<IO: Transport<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &IO,
        handle: H,
        connecting: bool,
    ) -> Result<ConnId, ConnRejected<T, H, B>> {
        let i = self.free;
        let datum = (self.wrap)(Route {
            tag: self.cfg.tag,
            slot: i,
        });
        let Some(slot) = self.slots.get_mut(i as usize) else {
            return Err(ConnRejected {
                error: CreateError::Full,
                datum,
                handle,
                input: B::default(),
                output: B::default(),
            });
        };
        // Built and opened in its slot: a connection holds its buffers, and every copy of one on
        // the way would be a frame on a board's small stack.
        let live = slot.live.insert(Live {
            conn: Connection::placed(handle, B::default(), B::default(), self.cfg.conn),
            state: U::default(),
            end: End::Open,
        });
        let mut opened = live.conn.open(events, io, datum, connecting);
        if let (Ok(()), Some(limit)) = (&opened, self.limits) {
            opened = limit(&self.cfg, &mut self.group, &mut live.conn, events);
            if opened.is_err() {
                live.conn.free_in_place(events);
            }
        }
        if let Err(error) = opened {
            slot.live = None;
            return Err(ConnRejected {
                error,
                datum,
                handle,
                input: B::default(),
                output: B::default(),
            });
        }
        self.serial = self.serial.wrapping_add(1).max(1);
        self.free = slot.next_free;
        slot.serial = self.serial;
        slot.next_free = NIL;
        self.live += 1;
        self.stats.opened += 1;
        Ok(ConnId {
            slot: i,
            serial: self.serial,
        })
    }

    /// Handle a fired event whose datum carried `route`: accept, read, write, and call `f` with
    /// each connection and what happened to it. Events that are not the table's (stale ones
    /// included) are ignored. `fired` may carry any datum (a [`Call`](crate::callbacks::Call) is
    /// one).
    ///
    /// ```
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// # table.listen(&mut engine, &wires, Wires::<2, 64>::LISTENER)?;
    /// let client = wires.dial().unwrap();
    /// for _ in 0..8 {
    ///     wires.sync(&mut sim)?;
    ///     let Some(fired) = engine.next(&mut sim)? else { break };
    ///     table.handle(&mut engine, &mut wires, &fired, fired.datum, |c, ev| {
    ///         if ev == ConnEvent::Opened {
    ///             c.write(b"welcome\n");
    ///         }
    ///     });
    /// }
    /// let mut got = [0; 16];
    /// let n = wires.recv(client, &mut got);
    /// assert_eq!(&got[..n], b"welcome\n");
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn handle<IO, D, F>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        fired: &Fired<D>,
        route: Route,
        f: F,
    ) where
        IO: Accept<Handle = H>,
        F: FnMut(&mut Conn<'_, T, IO, B, U>, ConnEvent),
    {
        self.dispatch(events, io, fired, route, &mut Closure(f));
    }

    /// [`handle`](Self::handle), with a [`ConnHandler`] instead of a closure.
    ///
    /// ```
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// # table.listen(&mut engine, &wires, Wires::<2, 64>::LISTENER)?;
    /// use levent_core::conn::{Conn, ConnHandler, Refusal};
    ///
    /// type Io = Wires<2, 64>;
    ///
    /// #[derive(Default)]
    /// struct Greeter {
    ///     greeted: usize,
    ///     refused: usize,
    /// }
    /// impl ConnHandler<Route, Io, RingBuffer<64>, ()> for Greeter {
    ///     fn event(&mut self, c: &mut Conn<'_, Route, Io, RingBuffer<64>, ()>, ev: ConnEvent) {
    ///         if ev == ConnEvent::Opened {
    ///             c.write(b"hello\n");
    ///             self.greeted += 1;
    ///         }
    ///     }
    ///     fn refused(&mut self, _: Refusal) {
    ///         self.refused += 1;
    ///     }
    /// }
    ///
    /// let mut app = Greeter::default();
    /// wires.dial();
    /// wires.dial();
    /// for _ in 0..8 {
    ///     wires.sync(&mut sim)?;
    ///     let Some(fired) = engine.next(&mut sim)? else { break };
    ///     table.dispatch(&mut engine, &mut wires, &fired, fired.datum, &mut app);
    /// }
    /// assert_eq!((app.greeted, app.refused), (2, 0));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn dispatch<IO, D>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        fired: &Fired<D>,
        route: Route,
        handler: &mut dyn ConnHandler<T, IO, B, U>,
    ) where
        IO: Accept<Handle = H>,
    {
        let Some(i) = route.slot() else {
            if self.listener.as_ref().is_some_and(|l| l.owns(fired.id)) {
                self.accept(events, io, handler);
            }
            return;
        };
        let Some(live) = self.slots.get_mut(i).and_then(|s| s.live.as_mut()) else {
            return;
        };
        let before;
        if live.conn.owns(fired.id) {
            let out = live.conn.handle_in(events, io, fired, self.group.as_mut());
            before = live.conn.input().len();
            self.report(i, out, events, io, handler);
        } else {
            before = live.conn.input().len();
            self.deliver(
                i,
                events,
                io,
                handler,
                ConnEvent::Fired(fired.id, fired.ready),
            );
        }
        self.settle(i, before, events, io, handler);
    }

    /// Run `f` on connection `id` if it is still open (to answer later what an event asked, or to
    /// write to one connection from another's event), then carry on with it as after any event:
    /// a close asked for in `f` takes effect. Returns whether the connection was found.
    ///
    /// ```
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// let h = wires.open().unwrap();
    /// let id = table.adopt(&mut engine, &wires, h)?;
    /// // Later, from anywhere (another connection's event, a timer):
    /// let found = table.with(&mut engine, &mut wires, id, &mut NoHandler, |c| {
    ///     c.write(b"later\n");
    /// });
    /// assert!(found);
    /// let mut got = [0; 8];
    /// let n = wires.recv(h, &mut got);
    /// assert_eq!(&got[..n], b"later\n");
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn with<IO: Transport<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        id: ConnId,
        handler: &mut dyn ConnHandler<T, IO, B, U>,
        f: impl FnOnce(&mut Conn<'_, T, IO, B, U>),
    ) -> bool {
        if self.live_of(id).is_none() {
            return false;
        }
        let i = id.slot();
        let mut before = 0;
        if let Some(mut c) = self.view(i, events, io) {
            before = c.input().len();
            f(&mut c);
        }
        self.settle(i, before, events, io, handler);
        true
    }

    /// Close connection `id` now (its [`ConnEvent::Closed`] goes to `handler`). Returns whether it
    /// was open.
    ///
    /// ```
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// let h = wires.open().unwrap();
    /// let id = table.adopt(&mut engine, &wires, h)?;
    /// assert!(table.close(&mut engine, &mut wires, id, &mut NoHandler));
    /// assert!(wires.is_closed(h) && table.is_empty());
    /// assert!(!table.close(&mut engine, &mut wires, id, &mut NoHandler)); // closed already
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn close<IO: Transport<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        id: ConnId,
        handler: &mut dyn ConnHandler<T, IO, B, U>,
    ) -> bool {
        self.with(events, io, id, handler, |c| c.close())
    }

    /// Take connection `id` out of the table without closing its transport (its
    /// [`ConnEvent::Closed`] goes to `handler`): the transport handle comes back, open, for the
    /// caller to pass on or close. `None` if the connection was not open.
    ///
    /// ```
    /// # use levent_core::Transport;
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// let h = wires.open().unwrap();
    /// let id = table.adopt(&mut engine, &wires, h)?;
    /// assert_eq!(table.release(&mut engine, &mut wires, id, &mut NoHandler), Some(h));
    /// assert!(table.is_empty() && !wires.is_closed(h));
    /// assert_eq!(wires.write(h, b"hi"), Ok(2)); // the stream is the caller's now
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn release<IO: Transport<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        id: ConnId,
        handler: &mut dyn ConnHandler<T, IO, B, U>,
    ) -> Option<H> {
        self.live_of(id)?;
        let i = id.slot();
        self.deliver(i, events, io, handler, ConnEvent::Closed);
        self.free_slot(i, events)
    }

    /// Empty slot `i`: free its connection's events and hand back its transport handle, still
    /// open. The connection is dropped where it lies, not moved out: a slot holds its buffers,
    /// and a board's stack has no room for a copy.
    fn free_slot(&mut self, i: usize, events: &mut dyn Events<T>) -> Option<H> {
        let slot = self.slots.get_mut(i)?;
        let h = slot.live.as_mut()?.conn.free_in_place(events);
        slot.live = None;
        slot.next_free = self.free;
        self.free = i as u32;
        self.live -= 1;
        self.stats.closed += 1;
        if let Some(g) = self.group.as_mut() {
            g.leave();
        }
        self.resume(events);
        Some(h)
    }

    fn accept<IO: Accept<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        handler: &mut dyn ConnHandler<T, IO, B, U>,
    ) {
        for _ in 0..self.cfg.accept_batch.max(1) {
            if self.free == NIL {
                self.pause(events);
                return;
            }
            let Some(listener) = self.listener.as_mut() else {
                return;
            };
            let h = match listener.accept(events, io) {
                None => return,
                Some(Ok(h)) => h,
                Some(Err(e)) => {
                    self.stats.accept_errors += 1;
                    if e == IoError::NoDescriptors {
                        warn!("levent: accept: out of descriptors; backing off");
                    } else {
                        debug!("levent: accept failed: {}", e);
                    }
                    handler.refused(Refusal::Accept(e));
                    if listener.is_backing_off() {
                        return;
                    }
                    continue;
                }
            };
            match self.admit(events, io, h, false) {
                Ok(id) => {
                    let i = id.slot();
                    self.deliver(i, events, io, handler, ConnEvent::Opened);
                    self.settle(i, 0, events, io, handler);
                }
                Err(r) => {
                    io.close(events, r.handle);
                    self.stats.refused += 1;
                    warn!("levent: connection refused: {}", r.error);
                    handler.refused(Refusal::Engine(r.error));
                }
            }
        }
    }

    fn pause(&mut self, events: &mut dyn Events<T>) {
        if let (false, Some(l)) = (self.paused, self.listener.as_mut()) {
            l.disable(events);
            self.paused = true;
            self.stats.full += 1;
            info!("levent: all {} connection slots busy: accepting paused", C);
        }
    }

    fn resume(&mut self, events: &mut dyn Events<T>) {
        if let (true, Some(l)) = (self.paused, self.listener.as_mut()) {
            l.enable(events);
            self.paused = false;
            info!("levent: a connection slot is free: accepting again");
        }
    }

    /// Tell the application what `out` says, in the order of the module documentation, until
    /// the connection is closed.
    fn report<IO: Transport<Handle = H>>(
        &mut self,
        i: usize,
        out: Outcome,
        events: &mut dyn Events<T>,
        io: &mut IO,
        handler: &mut dyn ConnHandler<T, IO, B, U>,
    ) {
        // One event per step, in order, without a list of them built first.
        for step in 0..5 {
            let ev = match step {
                0 if out.connected() => ConnEvent::Opened,
                1 if out.readable() => ConnEvent::Read,
                2 if out.drained() => ConnEvent::Drained,
                3 if out.eof() => ConnEvent::Eof,
                4 => match out.error() {
                    Some(e) => ConnEvent::Error(e),
                    None if out.read_timeout() || out.write_timeout() => ConnEvent::Timeout {
                        read: out.read_timeout(),
                    },
                    None => break,
                },
                _ => continue,
            };
            let Some(live) = self.slots.get_mut(i).and_then(|s| s.live.as_mut()) else {
                return;
            };
            if live.end == End::Close {
                return;
            }
            match ev {
                ConnEvent::Eof if self.cfg.close_on_eof && live.end == End::Open => {
                    live.end = End::Finish;
                }
                ConnEvent::Error(_) | ConnEvent::Timeout { .. } => live.end = End::Close,
                _ => {}
            }
            self.deliver(i, events, io, handler, ev);
        }
    }

    fn view<'a, IO: Transport<Handle = H>>(
        &'a mut self,
        i: usize,
        events: &'a mut dyn Events<T>,
        io: &'a mut IO,
    ) -> Option<Conn<'a, T, IO, B, U>> {
        let (wrap, tag) = (self.wrap, self.cfg.tag);
        let group = self.group.as_mut();
        let slot = self.slots.get_mut(i)?;
        let serial = slot.serial;
        let live = slot.live.as_mut()?;
        Some(Conn {
            id: ConnId {
                slot: i as u32,
                serial,
            },
            datum: wrap(Route {
                tag,
                slot: i as u32,
            }),
            conn: &mut live.conn,
            state: &mut live.state,
            end: &mut live.end,
            group,
            events,
            io,
        })
    }

    fn deliver<IO: Transport<Handle = H>>(
        &mut self,
        i: usize,
        events: &mut dyn Events<T>,
        io: &mut IO,
        handler: &mut dyn ConnHandler<T, IO, B, U>,
        ev: ConnEvent,
    ) {
        if let Some(mut c) = self.view(i, events, io) {
            handler.event(&mut c, ev);
        }
    }

    /// After the events of a firing: close the connection if it ended, or if it is finishing and
    /// nothing is left to do: its output went out, and its input is empty or was left untouched
    /// by the application (which holds `before` bytes of input before the events).
    fn settle<IO: Transport<Handle = H>>(
        &mut self,
        i: usize,
        before: usize,
        events: &mut dyn Events<T>,
        io: &mut IO,
        handler: &mut dyn ConnHandler<T, IO, B, U>,
    ) {
        let Some(live) = self.slots.get_mut(i).and_then(|s| s.live.as_mut()) else {
            return;
        };
        if live.end == End::Finish && live.conn.output().is_empty() {
            let input = live.conn.input().len();
            if input == 0 || input >= before {
                live.end = End::Close;
            }
        }
        if live.end != End::Close {
            return;
        }
        self.deliver(i, events, io, handler, ConnEvent::Closed);
        if let Some(h) = self.free_slot(i, events) {
            // The transport goes whatever `close_on_free` says: the table owns its connections.
            io.close(events, h);
        }
    }
}

/// A connection of a [`ConnTable`], with the engine and the IO storage it runs on: what a
/// [`ConnHandler`] gets with each [`ConnEvent`]. Its methods are those of [`Connection`] without
/// the engine and IO arguments.
pub struct Conn<'a, T, IO: Transport, B, U> {
    id: ConnId,
    datum: T,
    conn: &'a mut Connection<IO::Handle, B>,
    state: &'a mut U,
    end: &'a mut End,
    group: Option<&'a mut RateGroup>,
    events: &'a mut dyn Events<T>,
    io: &'a mut IO,
}

impl<T, IO: Transport, B: Buffer, U> fmt::Debug for Conn<'_, T, IO, B, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("id", &self.id)
            .field("handle", &self.conn.handle_id())
            .finish_non_exhaustive()
    }
}

impl<T: Copy, IO: Transport, B: Buffer, U> Conn<'_, T, IO, B, U> {
    /// The connection's id: keep it to reach the connection later ([`ConnTable::with`]).
    ///
    /// ```
    /// # use levent_core::ConnId;
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// # table.listen(&mut engine, &wires, Wires::<2, 64>::LISTENER)?;
    /// let client = wires.dial().unwrap();
    /// let mut id = ConnId::NONE;
    /// for _ in 0..8 {
    ///     wires.sync(&mut sim)?;
    ///     let Some(fired) = engine.next(&mut sim)? else { break };
    ///     table.handle(&mut engine, &mut wires, &fired, fired.datum, |c, ev| {
    ///         if ev == ConnEvent::Opened {
    ///             id = c.id();
    ///         }
    ///     });
    /// }
    /// // Reach the connection later, outside of its events.
    /// assert!(table.with(&mut engine, &mut wires, id, &mut NoHandler, |c| {
    ///     c.write(b"hi");
    /// }));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// The input buffer: look at (parse) what arrived, then [`consume`](Self::consume) it.
    ///
    /// ```
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// # table.listen(&mut engine, &wires, Wires::<2, 64>::LISTENER)?;
    /// let client = wires.dial().unwrap();
    /// wires.send(client, b"GET / HTTP/1.1\r\n");
    /// let mut line_end = None;
    /// for _ in 0..8 {
    ///     wires.sync(&mut sim)?;
    ///     let Some(fired) = engine.next(&mut sim)? else { break };
    ///     table.handle(&mut engine, &mut wires, &fired, fired.datum, |c, ev| {
    ///         if ev == ConnEvent::Read {
    ///             line_end = c.input().find(b"\r\n", 0);
    ///         }
    ///     });
    /// }
    /// assert_eq!(line_end, Some(14));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn input(&self) -> &B {
        self.conn.input()
    }

    /// The output buffer: what is still waiting to be sent.
    ///
    /// ```
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// # table.listen(&mut engine, &wires, Wires::<2, 64>::LISTENER)?;
    /// let client = wires.dial().unwrap();
    /// let mut waiting = 0;
    /// for _ in 0..8 {
    ///     wires.sync(&mut sim)?;
    ///     let Some(fired) = engine.next(&mut sim)? else { break };
    ///     table.handle(&mut engine, &mut wires, &fired, fired.datum, |c, ev| {
    ///         if ev == ConnEvent::Opened {
    ///             c.write(&[b'x'; 100]); // the stream takes 64 bytes at once
    ///             waiting = c.output().len();
    ///         }
    ///     });
    /// }
    /// assert_eq!(waiting, 36);
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn output(&self) -> &B {
        self.conn.output()
    }

    /// Whether the peer has closed its writing side.
    ///
    /// ```
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// # table.listen(&mut engine, &wires, Wires::<2, 64>::LISTENER)?;
    /// let client = wires.dial().unwrap();
    /// wires.send(client, b"last words");
    /// wires.hang_up(client);
    /// let mut eof = false;
    /// for _ in 0..8 {
    ///     wires.sync(&mut sim)?;
    ///     let Some(fired) = engine.next(&mut sim)? else { break };
    ///     table.handle(&mut engine, &mut wires, &fired, fired.datum, |c, ev| {
    ///         if ev == ConnEvent::Eof {
    ///             eof = c.at_eof();
    ///         }
    ///     });
    /// }
    /// assert!(eof);
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn at_eof(&self) -> bool {
        self.conn.at_eof()
    }

    /// The address of the peer, where the transport knows it.
    ///
    /// ```
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// # table.listen(&mut engine, &wires, Wires::<2, 64>::LISTENER)?;
    /// let client = wires.dial().unwrap();
    /// let mut addr = None;
    /// for _ in 0..8 {
    ///     wires.sync(&mut sim)?;
    ///     let Some(fired) = engine.next(&mut sim)? else { break };
    ///     table.handle(&mut engine, &mut wires, &fired, fired.datum, |c, ev| {
    ///         if ev == ConnEvent::Opened {
    ///             addr = Some(c.peer_addr());
    ///         }
    ///     });
    /// }
    /// assert_eq!(addr, Some(None)); // in-memory streams have no address
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn peer_addr(&self) -> Option<core::net::SocketAddr> {
        self.io.peer_addr(self.conn.handle_id())
    }

    /// The transport handle.
    ///
    /// ```
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// # table.listen(&mut engine, &wires, Wires::<2, 64>::LISTENER)?;
    /// let client = wires.dial().unwrap();
    /// let mut handle = None;
    /// for _ in 0..8 {
    ///     wires.sync(&mut sim)?;
    ///     let Some(fired) = engine.next(&mut sim)? else { break };
    ///     table.handle(&mut engine, &mut wires, &fired, fired.datum, |c, ev| {
    ///         if ev == ConnEvent::Opened {
    ///             handle = Some(c.handle_id());
    ///         }
    ///     });
    /// }
    /// assert_eq!(handle, Some(client)); // the stream the listener accepted
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn handle_id(&self) -> IO::Handle {
        self.conn.handle_id()
    }

    /// Queue `data` for sending (see [`Connection::write`]); returns how much was taken.
    ///
    /// ```
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// # table.listen(&mut engine, &wires, Wires::<2, 64>::LISTENER)?;
    /// let client = wires.dial().unwrap();
    /// let mut taken = 0;
    /// for _ in 0..8 {
    ///     wires.sync(&mut sim)?;
    ///     let Some(fired) = engine.next(&mut sim)? else { break };
    ///     table.handle(&mut engine, &mut wires, &fired, fired.datum, |c, ev| {
    ///         if ev == ConnEvent::Opened {
    ///             taken = c.write(b"hello\n");
    ///         }
    ///     });
    /// }
    /// let mut got = [0; 8];
    /// let n = wires.recv(client, &mut got);
    /// assert_eq!((taken, &got[..n]), (6, &b"hello\n"[..]));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn write(&mut self, data: &[u8]) -> usize {
        let group = self.group.as_deref_mut();
        self.conn.write_in(self.events, self.io, data, group)
    }

    /// Send everything in the input back out, as it arrived (see [`Connection::echo`]).
    ///
    /// ```
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// # table.listen(&mut engine, &wires, Wires::<2, 64>::LISTENER)?;
    /// let client = wires.dial().unwrap();
    /// wires.send(client, b"hello");
    /// let mut echoed = 0;
    /// for _ in 0..8 {
    ///     wires.sync(&mut sim)?;
    ///     let Some(fired) = engine.next(&mut sim)? else { break };
    ///     table.handle(&mut engine, &mut wires, &fired, fired.datum, |c, ev| {
    ///         if ev == ConnEvent::Read {
    ///             echoed += c.echo();
    ///         }
    ///     });
    /// }
    /// let mut got = [0; 8];
    /// let n = wires.recv(client, &mut got);
    /// assert_eq!((echoed, &got[..n]), (5, &b"hello"[..]));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn echo(&mut self) -> usize {
        let group = self.group.as_deref_mut();
        self.conn.echo_in(self.events, self.io, group)
    }

    /// Give this connection a rate limit of its own, or lift it (see
    /// [`Connection::set_rate_limit`]); a member of the table's group stays one. Without
    /// [`TableConfig::rate`] or [`TableConfig::group_rate`] the timer it needs is an extra event:
    /// count it in [`TableConfig::extra_events`].
    ///
    /// ```
    /// # use levent_core::conn::{ConnEvent, ConnTable, RateLimit, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// // Room for the timer of each connection's limit.
    /// let mut engine: Engine<Route, { events_needed(2, 1) }, 3, 1> =
    ///     Engine::new(Platform::manual(1000));
    /// let cfg = TableConfig { extra_events: 1, ..TableConfig::default() };
    /// let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(cfg);
    /// table.listen(&mut engine, &wires, Wires::<2, 64>::LISTENER)?;
    /// wires.dial();
    /// let (mut limited, mut waiting) = (false, 0);
    /// for _ in 0..8 {
    ///     wires.sync(&mut sim)?;
    ///     let Some(fired) = engine.next(&mut sim)? else { break };
    ///     table.handle(&mut engine, &mut wires, &fired, fired.datum, |c, ev| {
    ///         if ev == ConnEvent::Opened {
    ///             // 100 bytes a second: 10 go now, the rest waits for the refills.
    ///             limited = c.set_rate_limit(Some(RateLimit::bytes_per_second(100, 100))).is_ok();
    ///             c.write(b"0123456789abcdef");
    ///             waiting = c.output().len();
    ///         }
    ///     });
    /// }
    /// assert_eq!((limited, waiting), (true, 6));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn set_rate_limit(&mut self, limit: Option<RateLimit>) -> Result<(), CreateError> {
        let limit = match limit {
            None if self.group.is_some() => Some(RateLimit::NONE),
            other => other,
        };
        self.conn.set_rate_limit(self.events, limit)
    }

    /// Consume `n` bytes of input.
    ///
    /// ```
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// # table.listen(&mut engine, &wires, Wires::<2, 64>::LISTENER)?;
    /// let client = wires.dial().unwrap();
    /// wires.send(client, b"HDR:body");
    /// let (mut skipped, mut left) = (0, 0);
    /// for _ in 0..8 {
    ///     wires.sync(&mut sim)?;
    ///     let Some(fired) = engine.next(&mut sim)? else { break };
    ///     table.handle(&mut engine, &mut wires, &fired, fired.datum, |c, ev| {
    ///         if ev == ConnEvent::Read {
    ///             skipped = c.consume(4); // the header
    ///             left = c.input().len();
    ///         }
    ///     });
    /// }
    /// assert_eq!((skipped, left), (4, 4));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn consume(&mut self, n: usize) -> usize {
        self.conn.consume(self.events, n)
    }

    /// Take input bytes into `buf`.
    ///
    /// ```
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// # table.listen(&mut engine, &wires, Wires::<2, 64>::LISTENER)?;
    /// let client = wires.dial().unwrap();
    /// wires.send(client, b"hello");
    /// let (mut buf, mut n) = ([0; 16], 0);
    /// for _ in 0..8 {
    ///     wires.sync(&mut sim)?;
    ///     let Some(fired) = engine.next(&mut sim)? else { break };
    ///     table.handle(&mut engine, &mut wires, &fired, fired.datum, |c, ev| {
    ///         if ev == ConnEvent::Read {
    ///             n += c.read(&mut buf[n..]);
    ///         }
    ///     });
    /// }
    /// assert_eq!(&buf[..n], b"hello");
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        self.conn.read(self.events, buf)
    }

    /// Take one complete line of input (see [`Buffer::read_line`]).
    ///
    /// ```
    /// # use levent_core::Eol;
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// # table.listen(&mut engine, &wires, Wires::<2, 64>::LISTENER)?;
    /// let client = wires.dial().unwrap();
    /// wires.send(client, b"HELO there\r\nMAIL");
    /// let (mut line, mut len) = ([0; 32], 0);
    /// for _ in 0..8 {
    ///     wires.sync(&mut sim)?;
    ///     let Some(fired) = engine.next(&mut sim)? else { break };
    ///     table.handle(&mut engine, &mut wires, &fired, fired.datum, |c, ev| {
    ///         if ev == ConnEvent::Read {
    ///             if let Ok(Some(n)) = c.read_line(Eol::Crlf, &mut line) {
    ///                 len = n;
    ///             }
    ///         }
    ///     });
    /// }
    /// assert_eq!(&line[..len], b"HELO there"); // "MAIL" waits for the end of its line
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn read_line(&mut self, eol: Eol, out: &mut [u8]) -> Result<Option<usize>, LineTooLong> {
        self.conn.read_line(self.events, eol, out)
    }

    /// Enable reading and/or writing (libevent's `bufferevent_enable`).
    ///
    /// ```
    /// # use levent_core::Interest;
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// # table.listen(&mut engine, &wires, Wires::<2, 64>::LISTENER)?;
    /// let h = wires.open().unwrap();
    /// let id = table.adopt(&mut engine, &wires, h)?;
    /// table.with(&mut engine, &mut wires, id, &mut NoHandler, |c| c.disable_reading());
    /// wires.send(h, b"hello");
    /// let (mut read, mut before) = (0, 0);
    /// for turn in 0..8 {
    ///     if turn == 4 {
    ///         before = read; // nothing read while disabled
    ///         table.with(&mut engine, &mut wires, id, &mut NoHandler, |c| {
    ///             c.enable(Interest::READ);
    ///         });
    ///     }
    ///     wires.sync(&mut sim)?;
    ///     let Some(fired) = engine.next(&mut sim)? else { continue };
    ///     table.handle(&mut engine, &mut wires, &fired, fired.datum, |c, ev| {
    ///         if ev == ConnEvent::Read {
    ///             read = c.input().len();
    ///         }
    ///     });
    /// }
    /// assert_eq!((before, read), (0, 5));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn enable(&mut self, what: Interest) {
        self.conn.enable(self.events, what);
    }

    /// Stop reading until [`enable`](Self::enable).
    ///
    /// ```
    /// # use levent_core::Ready;
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// # table.listen(&mut engine, &wires, Wires::<2, 64>::LISTENER)?;
    /// let client = wires.dial().unwrap();
    /// wires.send(client, b"hello");
    /// let mut reads = 0;
    /// for _ in 0..8 {
    ///     wires.sync(&mut sim)?;
    ///     let Some(fired) = engine.next(&mut sim)? else { break };
    ///     table.handle(&mut engine, &mut wires, &fired, fired.datum, |c, ev| match ev {
    ///         ConnEvent::Opened => c.disable_reading(),
    ///         ConnEvent::Read => reads += 1,
    ///         _ => {}
    ///     });
    /// }
    /// assert_eq!(reads, 0);
    /// assert_eq!(wires.ready(client), Ready::READ | Ready::WRITE); // the bytes wait in the stream
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn disable_reading(&mut self) {
        self.conn.disable_reading(self.events);
    }

    /// Change watermarks and timeouts of this connection.
    ///
    /// ```
    /// # use levent_core::ConnOptions;
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// # table.listen(&mut engine, &wires, Wires::<2, 64>::LISTENER)?;
    /// let client = wires.dial().unwrap();
    /// wires.send(client, b"ab");
    /// let mut reads = 0;
    /// for _ in 0..8 {
    ///     wires.sync(&mut sim)?;
    ///     let Some(fired) = engine.next(&mut sim)? else { break };
    ///     table.handle(&mut engine, &mut wires, &fired, fired.datum, |c, ev| match ev {
    ///         // Tell of input only once a 4-byte header is in.
    ///         ConnEvent::Opened => {
    ///             c.set_options(ConnOptions { read_low: 4, ..ConnOptions::DEFAULT });
    ///         }
    ///         ConnEvent::Read => reads += 1,
    ///         _ => {}
    ///     });
    /// }
    /// let id = table.id_at(0).unwrap();
    /// assert_eq!((reads, table.get(id).unwrap().input().len()), (0, 2));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn set_options(&mut self, opts: ConnOptions) {
        self.conn.set_options(self.events, opts);
    }

    /// Flush the output, then shut down writing; reading continues.
    ///
    /// ```
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// # table.listen(&mut engine, &wires, Wires::<2, 64>::LISTENER)?;
    /// let client = wires.dial().unwrap();
    /// let mut result = None;
    /// for _ in 0..8 {
    ///     wires.sync(&mut sim)?;
    ///     let Some(fired) = engine.next(&mut sim)? else { break };
    ///     table.handle(&mut engine, &mut wires, &fired, fired.datum, |c, ev| {
    ///         if ev == ConnEvent::Opened {
    ///             c.write(b"bye\n");
    ///             result = Some(c.shutdown()); // nothing more to send; reading goes on
    ///         }
    ///     });
    /// }
    /// assert_eq!(result, Some(Ok(())));
    /// assert!(wires.is_shut(client) && !wires.is_closed(client));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn shutdown(&mut self) -> Result<(), IoError> {
        self.conn.shutdown(self.events, self.io)
    }

    /// Close the connection once the event being handled is done: pending output is dropped.
    /// [`ConnEvent::Closed`] follows.
    ///
    /// ```
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// # table.listen(&mut engine, &wires, Wires::<2, 64>::LISTENER)?;
    /// let client = wires.dial().unwrap();
    /// wires.send(client, b"QUIT");
    /// let mut closed = false;
    /// for _ in 0..8 {
    ///     wires.sync(&mut sim)?;
    ///     let Some(fired) = engine.next(&mut sim)? else { break };
    ///     table.handle(&mut engine, &mut wires, &fired, fired.datum, |c, ev| match ev {
    ///         ConnEvent::Read => c.close(),
    ///         ConnEvent::Closed => closed = true,
    ///         _ => {}
    ///     });
    /// }
    /// assert!(closed && wires.is_closed(client) && table.is_empty());
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn close(&mut self) {
        *self.end = End::Close;
    }

    /// Close once the output went out (and the input is consumed, or the application stopped
    /// consuming it): [`ConnEvent::Drained`] keeps coming meanwhile.
    ///
    /// ```
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// # table.listen(&mut engine, &wires, Wires::<2, 64>::LISTENER)?;
    /// let client = wires.dial().unwrap();
    /// for _ in 0..8 {
    ///     wires.sync(&mut sim)?;
    ///     let Some(fired) = engine.next(&mut sim)? else { break };
    ///     table.handle(&mut engine, &mut wires, &fired, fired.datum, |c, ev| {
    ///         if ev == ConnEvent::Opened {
    ///             c.write(b"bye\n");
    ///             c.finish(); // close once "bye" is out
    ///         }
    ///     });
    /// }
    /// let mut got = [0; 8];
    /// let n = wires.recv(client, &mut got);
    /// assert_eq!(&got[..n], b"bye\n");
    /// assert!(wires.is_closed(client));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn finish(&mut self) {
        if *self.end == End::Open {
            *self.end = End::Finish;
        }
    }

    /// Whether the connection is closing ([`close`](Self::close) or [`finish`](Self::finish)
    /// was asked, or it ended).
    ///
    /// ```
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// # table.listen(&mut engine, &wires, Wires::<2, 64>::LISTENER)?;
    /// let client = wires.dial().unwrap();
    /// wires.send(client, b"QUIT\r\n");
    /// let mut closing = (false, false);
    /// for _ in 0..8 {
    ///     wires.sync(&mut sim)?;
    ///     let Some(fired) = engine.next(&mut sim)? else { break };
    ///     table.handle(&mut engine, &mut wires, &fired, fired.datum, |c, ev| {
    ///         if ev == ConnEvent::Read {
    ///             let before = c.is_closing();
    ///             c.finish();
    ///             closing = (before, c.is_closing());
    ///         }
    ///     });
    /// }
    /// assert_eq!(closing, (false, true));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn is_closing(&self) -> bool {
        *self.end != End::Open
    }

    /// The application's state of this connection.
    ///
    /// ```
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// // Each connection counts the bytes it received.
    /// let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2, usize>::new(
    ///     TableConfig::default(),
    /// );
    /// table.listen(&mut engine, &wires, Wires::<2, 64>::LISTENER)?;
    /// let client = wires.dial().unwrap();
    /// wires.send(client, b"hello");
    /// for _ in 0..8 {
    ///     wires.sync(&mut sim)?;
    ///     let Some(fired) = engine.next(&mut sim)? else { break };
    ///     table.handle(&mut engine, &mut wires, &fired, fired.datum, |c, ev| {
    ///         if ev == ConnEvent::Read {
    ///             let n = c.consume(64);
    ///             *c.state() += n;
    ///         }
    ///     });
    /// }
    /// let id = table.id_at(0).unwrap();
    /// assert_eq!(table.state(id), Some(&5));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn state(&mut self) -> &mut U {
        self.state
    }

    /// The buffered connection itself.
    ///
    /// ```
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// # table.listen(&mut engine, &wires, Wires::<2, 64>::LISTENER)?;
    /// let client = wires.dial().unwrap();
    /// let mut opts = None;
    /// for _ in 0..8 {
    ///     wires.sync(&mut sim)?;
    ///     let Some(fired) = engine.next(&mut sim)? else { break };
    ///     table.handle(&mut engine, &mut wires, &fired, fired.datum, |c, ev| {
    ///         if ev == ConnEvent::Opened {
    ///             opts = Some(c.connection().options());
    ///         }
    ///     });
    /// }
    /// assert_eq!(opts, Some(table.config().conn));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn connection(&mut self) -> &mut Connection<IO::Handle, B> {
        self.conn
    }

    /// The engine.
    ///
    /// ```
    /// # use levent_core::Dispatcher;
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// # table.listen(&mut engine, &wires, Wires::<2, 64>::LISTENER)?;
    /// sim.sleep(250);
    /// let client = wires.dial().unwrap();
    /// wires.send(client, b"hello");
    /// let mut arrived = 0;
    /// for _ in 0..8 {
    ///     wires.sync(&mut sim)?;
    ///     let Some(fired) = engine.next(&mut sim)? else { break };
    ///     table.handle(&mut engine, &mut wires, &fired, fired.datum, |c, ev| {
    ///         if ev == ConnEvent::Read {
    ///             arrived = c.events().now(); // the engine's clock
    ///         }
    ///     });
    /// }
    /// assert_eq!(arrived, 250);
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn events(&mut self) -> &mut dyn Events<T> {
        self.events
    }

    /// The IO storage.
    ///
    /// ```
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// # table.listen(&mut engine, &wires, Wires::<2, 64>::LISTENER)?;
    /// let client = wires.dial().unwrap();
    /// let mut shut = false;
    /// for _ in 0..8 {
    ///     wires.sync(&mut sim)?;
    ///     let Some(fired) = engine.next(&mut sim)? else { break };
    ///     table.handle(&mut engine, &mut wires, &fired, fired.datum, |c, ev| {
    ///         if ev == ConnEvent::Opened {
    ///             let _ = c.shutdown();
    ///             let h = c.handle_id();
    ///             shut = c.io().is_shut(h); // ask the transport itself
    ///         }
    ///     });
    /// }
    /// assert!(shut);
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn io(&mut self) -> &mut IO {
        self.io
    }

    /// Make an event of this connection's own (a timer, say), routed back to it as
    /// [`ConnEvent::Fired`]. Count it in [`TableConfig::extra_events`], and free it when the
    /// connection closes.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use levent_core::conn::{ConnEvent, ConnTable, Route, TableConfig, events_needed};
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Engine, Event, Platform, RingBuffer};
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// // Room for one timer of each connection's own.
    /// let mut engine: Engine<Route, { events_needed(2, 1) }, 3, 1> =
    ///     Engine::new(Platform::manual(1000));
    /// let cfg = TableConfig { extra_events: 1, ..TableConfig::default() };
    /// let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(cfg);
    /// table.listen(&mut engine, &wires, Wires::<2, 64>::LISTENER)?;
    /// wires.dial();
    /// let (mut timer, mut woke) = (None, None);
    /// for _ in 0..8 {
    ///     wires.sync(&mut sim)?;
    ///     let Some(fired) = engine.next(&mut sim)? else { break };
    ///     table.handle(&mut engine, &mut wires, &fired, fired.datum, |c, ev| match ev {
    ///         ConnEvent::Opened => {
    ///             timer = c.create_event(Event::timer()).ok();
    ///             if let Some(t) = timer {
    ///                 let _ = c.events().add(t, Some(Duration::from_millis(50)));
    ///             }
    ///         }
    ///         ConnEvent::Fired(id, _) => woke = Some(id),
    ///         _ => {}
    ///     });
    /// }
    /// assert!(woke.is_some() && woke == timer);
    /// assert_eq!(engine.now(), 50);
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn create_event(&mut self, ev: Event) -> Result<EventId, CreateError> {
        self.events.create(ev, self.datum).map_err(|r| r.error)
    }

    /// The application's state, the connection, the engine and the IO storage at once, for code
    /// written against [`Connection`].
    ///
    /// ```
    /// # use levent_core::conn::{ConnEvent, ConnTable, NoHandler, Route, TableConfig};
    /// # use levent_core::conn::events_needed;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Buffer, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> =
    /// #     Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// # let mut table = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
    /// # table.listen(&mut engine, &wires, Wires::<2, 64>::LISTENER)?;
    /// let client = wires.dial().unwrap();
    /// wires.send(client, b"ping");
    /// for _ in 0..8 {
    ///     wires.sync(&mut sim)?;
    ///     let Some(fired) = engine.next(&mut sim)? else { break };
    ///     table.handle(&mut engine, &mut wires, &fired, fired.datum, |c, ev| {
    ///         if ev == ConnEvent::Read {
    ///             // Code written for a bare `Connection` takes the pieces.
    ///             let (_, conn, events, io) = c.parts();
    ///             conn.consume(events, 4);
    ///             conn.write(events, io, b"pong");
    ///         }
    ///     });
    /// }
    /// let mut got = [0; 8];
    /// let n = wires.recv(client, &mut got);
    /// assert_eq!(&got[..n], b"pong");
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn parts(
        &mut self,
    ) -> (
        &mut U,
        &mut Connection<IO::Handle, B>,
        &mut dyn Events<T>,
        &mut IO,
    ) {
        (self.state, self.conn, self.events, self.io)
    }
}
