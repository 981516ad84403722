//! Buffered connections (libevent's bufferevent) and listeners (evconnlistener), as sans-IO state
//! machines over a [`Transport`].
//!
//! A [`Connection`] owns an input and an output [`Buffer`], a read event and a write event in the
//! engine, and a `Copy` handle of its transport; the transport itself lives in IO storage the
//! application passes to each call. The application keeps its connections wherever it likes and
//! forwards every fired event to [`Connection::handle`], which does the IO and says what happened
//! in an [`Outcome`]: input reached its low watermark, output drained, connected, end of file,
//! error, timeout. An event that belongs to another connection is ignored, so routing mistakes are
//! harmless.
//!
//! - **Reading** fills the input buffer straight from the transport (`reserve`, `read`, `commit`),
//!   and stops while the input holds `read_high` bytes or more; consuming input through
//!   [`Connection::consume`], [`Connection::read`] or [`Connection::read_line`] resumes it
//!   (backpressure: the input never grows without bound).
//! - **Writing** tries the transport at once when the output was empty and queues the rest; the
//!   write event is added only while output is pending, and [`Outcome::drained`] reports when the
//!   output falls to `write_low`.
//! - **Timeouts**: a read timeout fires when nothing arrives for that long while reading is
//!   enabled, a write timeout when pending output makes no progress; either disables its direction,
//!   as in libevent.
//! - **Connecting**: a connection made with [`Connection::connecting`] waits for the transport's
//!   non-blocking connect to finish; failure (refused, unreachable, the write timeout) arrives as an
//!   error, success as [`Outcome::connected`].
//! - **Closing**: [`Connection::shutdown`] flushes the output, then shuts down writing (a clean
//!   half-close); [`Connection::close`] frees the events and, with `close_on_free`, closes the
//!   transport.

pub mod listener;
pub mod rate;
pub mod table;

pub use listener::Listener;
pub use rate::{RateGroup, RateLimit};
pub use table::{
    Conn, ConnEvent, ConnHandler, ConnId, ConnTable, NoHandler, Refusal, Route, SetupError,
    TableConfig, TableStats, events_needed,
};

use crate::buffer::{Buffer, Eol, LineTooLong};
use crate::error::CreateError;
use crate::event::{Event, EventId, Fired, Interest, Ready};
use crate::events::Events;
use crate::io::{IoError, Transport};
use core::fmt;
use core::time::Duration;
use rate::{Dir, Limiter};

/// Watermarks, timeouts and ownership of a [`Connection`] (libevent's `bufferevent_setwatermark`,
/// `bufferevent_set_timeouts` and `BEV_OPT_CLOSE_ON_FREE`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConnOptions {
    /// Report [`Outcome::readable`] only once the input holds at least this many bytes (and more
    /// than zero).
    pub read_low: usize,
    /// Stop reading while the input holds this many bytes or more; 0 for no limit (a fixed
    /// buffer is still bounded by its capacity).
    pub read_high: usize,
    /// Report [`Outcome::drained`] once the output falls to this many bytes or fewer.
    pub write_low: usize,
    /// End reading with [`Outcome::read_timeout`] after this long without input.
    pub read_timeout: Option<Duration>,
    /// End writing with [`Outcome::write_timeout`] after this long without progress on pending
    /// output; also bounds a non-blocking connect.
    pub write_timeout: Option<Duration>,
    /// Close the transport when the connection is closed.
    pub close_on_free: bool,
}

impl ConnOptions {
    /// No watermarks, no timeouts, close the transport with the connection.
    pub const DEFAULT: ConnOptions = ConnOptions {
        read_low: 0,
        read_high: 0,
        write_low: 0,
        read_timeout: None,
        write_timeout: None,
        close_on_free: true,
    };
}

impl Default for ConnOptions {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What [`Connection::handle`] found (libevent's read, write and event callbacks in one value).
///
/// Ignoring it is the classic way to stall a connection (input never parsed, a closed peer
/// never noticed), so the compiler warns when it is dropped unlooked-at.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[must_use = "an outcome says what the connection needs: read its input, write more, or close it"]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Outcome {
    flags: u8,
    error: Option<IoError>,
}

const O_READ: u8 = 1;
const O_DRAINED: u8 = 2;
const O_CONNECTED: u8 = 4;
const O_EOF: u8 = 8;
const O_READ_TIMEOUT: u8 = 16;
const O_WRITE_TIMEOUT: u8 = 32;

impl Outcome {
    /// The input holds at least the low watermark: time to parse it.
    ///
    /// ```
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{ConnOptions, Connection, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<(), 2, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<4>::new(1), Wires::<1, 64>::new());
    /// # let h = wires.open().unwrap();
    /// # let mut conn = Connection::new(&mut engine, &wires, h, RingBuffer::<64>::new(),
    /// #     RingBuffer::new(), ConnOptions::DEFAULT, ())?;
    /// wires.send(h, b"hello");
    /// wires.sync(&mut sim)?;
    /// let fired = engine.next(&mut sim)?.unwrap();
    /// let out = conn.handle(&mut engine, &mut wires, &fired);
    /// assert!(out.readable());
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub const fn readable(&self) -> bool {
        self.flags & O_READ != 0
    }
    /// The output drained to the low watermark: time to write more.
    ///
    /// ```
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{ConnOptions, Connection, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<(), 2, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<4>::new(1), Wires::<1, 64>::new());
    /// # let h = wires.open().unwrap();
    /// # let mut conn = Connection::new(&mut engine, &wires, h, RingBuffer::<64>::new(),
    /// #     RingBuffer::new(), ConnOptions::DEFAULT, ())?;
    /// assert_eq!(conn.write(&mut engine, &mut wires, b"hello"), 5); // went out at once
    /// wires.sync(&mut sim)?;
    /// let fired = engine.next(&mut sim)?.unwrap();
    /// let out = conn.handle(&mut engine, &mut wires, &fired);
    /// assert!(out.drained());
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub const fn drained(&self) -> bool {
        self.flags & O_DRAINED != 0
    }
    /// A non-blocking connect completed.
    ///
    /// ```
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{ConnOptions, Connection, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<(), 2, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<4>::new(1), Wires::<1, 64>::new());
    /// # let h = wires.open().unwrap();
    /// let mut conn = Connection::connecting(&mut engine, &wires, h, RingBuffer::<64>::new(),
    ///     RingBuffer::new(), ConnOptions::DEFAULT, ())?;
    /// wires.sync(&mut sim)?; // the stream is writable: the connect completed
    /// let fired = engine.next(&mut sim)?.unwrap();
    /// let out = conn.handle(&mut engine, &mut wires, &fired);
    /// assert!(out.connected());
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub const fn connected(&self) -> bool {
        self.flags & O_CONNECTED != 0
    }
    /// The peer closed its writing side; what is in the input is all there will be.
    ///
    /// ```
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{ConnOptions, Connection, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<(), 2, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<4>::new(1), Wires::<1, 64>::new());
    /// # let h = wires.open().unwrap();
    /// # let mut conn = Connection::new(&mut engine, &wires, h, RingBuffer::<64>::new(),
    /// #     RingBuffer::new(), ConnOptions::DEFAULT, ())?;
    /// wires.hang_up(h);
    /// wires.sync(&mut sim)?;
    /// let fired = engine.next(&mut sim)?.unwrap();
    /// let out = conn.handle(&mut engine, &mut wires, &fired);
    /// assert!(out.eof());
    /// assert!(!out.failed()); // a clean end, not an error
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub const fn eof(&self) -> bool {
        self.flags & O_EOF != 0
    }
    /// The transport failed (including a failed connect).
    ///
    /// ```
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{ConnOptions, Connection, Engine, Platform, RingBuffer};
    /// # use levent_core::IoError;
    /// # let mut engine: Engine<(), 2, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<4>::new(1), Wires::<1, 64>::new());
    /// # let h = wires.open().unwrap();
    /// # let mut conn = Connection::new(&mut engine, &wires, h, RingBuffer::<64>::new(),
    /// #     RingBuffer::new(), ConnOptions::DEFAULT, ())?;
    /// wires.reset(h);
    /// wires.sync(&mut sim)?;
    /// let fired = engine.next(&mut sim)?.unwrap();
    /// let out = conn.handle(&mut engine, &mut wires, &fired);
    /// assert_eq!(out.error(), Some(IoError::Reset));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub const fn error(&self) -> Option<IoError> {
        self.error
    }
    /// Nothing arrived within the read timeout; reading is now disabled.
    ///
    /// ```
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{ConnOptions, Connection, Engine, Platform, RingBuffer};
    /// # use core::time::Duration;
    /// # let mut engine: Engine<(), 2, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<4>::new(1), Wires::<1, 64>::new());
    /// # let h = wires.open().unwrap();
    /// let opts = ConnOptions {
    ///     read_timeout: Some(Duration::from_millis(100)),
    ///     ..ConnOptions::DEFAULT
    /// };
    /// # let mut conn = Connection::new(&mut engine, &wires, h, RingBuffer::<64>::new(),
    /// #     RingBuffer::new(), opts, ())?;
    /// // The peer sends nothing.
    /// let fired = engine.next(&mut sim)?.unwrap();
    /// let out = conn.handle(&mut engine, &mut wires, &fired);
    /// assert!(out.read_timeout());
    /// assert_eq!(engine.now(), 100);
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub const fn read_timeout(&self) -> bool {
        self.flags & O_READ_TIMEOUT != 0
    }
    /// Pending output made no progress within the write timeout; writing is now disabled.
    ///
    /// ```
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{ConnOptions, Connection, Engine, Platform, RingBuffer};
    /// # use core::time::Duration;
    /// # let mut engine: Engine<(), 2, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<4>::new(1), Wires::<1, 4>::new());
    /// # let h = wires.open().unwrap();
    /// let opts = ConnOptions {
    ///     write_timeout: Some(Duration::from_millis(100)),
    ///     ..ConnOptions::DEFAULT
    /// };
    /// # let mut conn = Connection::new(&mut engine, &wires, h, RingBuffer::<64>::new(),
    /// #     RingBuffer::new(), opts, ())?;
    /// // The stream takes 4 bytes; the peer never reads them, so the rest waits.
    /// assert_eq!(conn.write(&mut engine, &mut wires, b"too long"), 8);
    /// wires.sync(&mut sim)?;
    /// let fired = engine.next(&mut sim)?.unwrap();
    /// let out = conn.handle(&mut engine, &mut wires, &fired);
    /// assert!(out.write_timeout());
    /// assert_eq!(engine.now(), 100);
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub const fn write_timeout(&self) -> bool {
        self.flags & O_WRITE_TIMEOUT != 0
    }
    /// Whether the connection is finished: end of file with nothing left to write is not, but an
    /// error or a timeout is.
    ///
    /// ```
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{ConnOptions, Connection, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<(), 2, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<4>::new(1), Wires::<1, 64>::new());
    /// # let h = wires.open().unwrap();
    /// # let mut conn = Connection::new(&mut engine, &wires, h, RingBuffer::<64>::new(),
    /// #     RingBuffer::new(), ConnOptions::DEFAULT, ())?;
    /// wires.reset(h);
    /// wires.sync(&mut sim)?;
    /// let fired = engine.next(&mut sim)?.unwrap();
    /// let out = conn.handle(&mut engine, &mut wires, &fired);
    /// if out.failed() {
    ///     conn.close(&mut engine, &mut wires);
    /// }
    /// assert!(wires.is_closed(h));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub const fn failed(&self) -> bool {
        self.error.is_some() || self.flags & (O_READ_TIMEOUT | O_WRITE_TIMEOUT) != 0
    }
    /// Whether nothing at all happened (the event was not this connection's, or was spurious).
    ///
    /// ```
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{ConnOptions, Connection, Engine, Platform, RingBuffer};
    /// # use levent_core::Event;
    /// # let mut engine: Engine<(), 3, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<4>::new(1), Wires::<1, 64>::new());
    /// # let h = wires.open().unwrap();
    /// # let mut conn = Connection::new(&mut engine, &wires, h, RingBuffer::<64>::new(),
    /// #     RingBuffer::new(), ConnOptions::DEFAULT, ())?;
    /// let timer = engine.once(Event::timer(), (), None)?; // not the connection's
    /// let fired = engine.next(&mut sim)?.unwrap();
    /// assert_eq!(fired.id, timer);
    /// assert!(conn.handle(&mut engine, &mut wires, &fired).is_empty());
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub const fn is_empty(&self) -> bool {
        self.flags == 0 && self.error.is_none()
    }
}

/// A connection that could not be made, with everything it was given handed back: the transport
/// handle (still open: close it or try again), both buffers and the datum.
#[derive(Debug)]
pub struct ConnRejected<T, H, B> {
    /// Why.
    pub error: CreateError,
    /// The datum its events would have carried.
    pub datum: T,
    /// The transport, still open.
    pub handle: H,
    /// The input buffer.
    pub input: B,
    /// The output buffer.
    pub output: B,
}

impl<T, H, B> fmt::Display for ConnRejected<T, H, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot make the connection: {}", self.error)
    }
}

impl<T: fmt::Debug, H: fmt::Debug, B: fmt::Debug> core::error::Error for ConnRejected<T, H, B> {}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
enum State {
    Connecting,
    Open,
    /// Flush the output, then shut down writing.
    ShuttingDown,
    /// Writing is shut down (or failed): nothing more is sent.
    WriteClosed,
}

/// A buffered connection over transport handle `H` with buffers `B`. See the
/// [module documentation](self).
#[derive(Debug)]
pub struct Connection<H, B> {
    handle: H,
    input: B,
    output: B,
    read_ev: EventId,
    write_ev: EventId,
    opts: ConnOptions,
    state: State,
    /// Reading is enabled by the application.
    reading: bool,
    /// The read event is added (reading enabled, open, not suspended, not at end of file).
    read_added: bool,
    write_added: bool,
    eof: bool,
    /// Output went out directly in `write`: report it drained at the next write event.
    drained_directly: bool,
    /// Reading paused while the transport held data back ([`Transport::buffered`]): read it as
    /// soon as reading resumes.
    held_in_transport: bool,
    /// The transport has output of its own queued ([`Transport::flush`]): watch writability.
    transport_queued: bool,
    /// The rate limit, if any ([`set_rate_limit`](Self::set_rate_limit)).
    rate: Option<Limiter>,
}

impl<H: Copy + PartialEq + core::fmt::Debug, B: Buffer> Connection<H, B> {
    /// A connection over an open transport (an accepted socket, a connected stream): reading
    /// starts at once. Both events carry `datum`, so route them to this connection.
    ///
    /// Fails when the engine has no room for the two events or the transport's source cannot be
    /// added; the handle (still open), the buffers and the datum come back in the error.
    ///
    /// ```
    /// use levent_core::sim::Sim;
    /// use levent_core::{ConnOptions, Connection, Engine, Platform, RingBuffer};
    /// # use levent_core::{Dispatcher, IoError, SourceKey, Transport};
    /// # struct Pipe; // a transport that is never ready
    /// # impl Transport for Pipe {
    /// #     type Handle = u8;
    /// #     fn source(&self, h: u8) -> SourceKey { SourceKey(h.into()) }
    /// #     fn read(&mut self, _: u8, _: &mut [u8]) -> Result<usize, IoError> { Err(IoError::WouldBlock) }
    /// #     fn write(&mut self, _: u8, b: &[u8]) -> Result<usize, IoError> { Ok(b.len()) }
    /// #     fn shutdown_write(&mut self, _: u8) -> Result<(), IoError> { Ok(()) }
    /// #     fn connected(&mut self, _: u8) -> Result<(), IoError> { Ok(()) }
    /// #     fn close(&mut self, d: &mut dyn Dispatcher, h: u8) { let _ = d.forget_source(SourceKey(h.into())); }
    /// # }
    ///
    /// // Room for one connection's two events only.
    /// let mut engine: Engine<&str, 2, 2, 1> = Engine::new(Platform::manual(1000));
    /// let first = Connection::new(&mut engine, &Pipe, 1, RingBuffer::<64>::new(),
    ///     RingBuffer::new(), ConnOptions::DEFAULT, "first").unwrap();
    /// let refused = Connection::new(&mut engine, &Pipe, 2, RingBuffer::<64>::new(),
    ///     RingBuffer::new(), ConnOptions::DEFAULT, "second").unwrap_err();
    /// assert_eq!((refused.handle, refused.datum), (2, "second")); // close it, or try later
    /// # let _ = first;
    /// ```
    pub fn new<T: Copy, IO: Transport<Handle = H>>(
        events: &mut dyn Events<T>,
        io: &IO,
        handle: H,
        input: B,
        output: B,
        opts: ConnOptions,
        datum: T,
    ) -> Result<Self, ConnRejected<T, H, B>> {
        Self::placed(handle, input, output, opts).opened(events, io, datum, false)
    }

    /// A connection over a transport whose non-blocking connect is in progress: the first
    /// [`handle`](Self::handle) that sees it complete reports [`Outcome::connected`] (or the
    /// error), then reading starts. `write_timeout` bounds the connect. Fails as
    /// [`new`](Self::new) does, handing everything back.
    ///
    /// ```
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{ConnOptions, Connection, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<(), 2, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<4>::new(1), Wires::<1, 64>::new());
    /// let h = wires.open().unwrap(); // a socket whose connect is under way, say
    /// let mut conn = Connection::connecting(&mut engine, &wires, h, RingBuffer::<64>::new(),
    ///     RingBuffer::new(), ConnOptions::DEFAULT, ())?;
    /// conn.write(&mut engine, &mut wires, b"hi"); // waits in the output until connected
    /// wires.sync(&mut sim)?; // the stream is writable: the connect completed
    /// let fired = engine.next(&mut sim)?.unwrap();
    /// assert!(conn.handle(&mut engine, &mut wires, &fired).connected());
    /// let mut peer = [0; 4];
    /// assert_eq!(wires.recv(h, &mut peer), 2);
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn connecting<T: Copy, IO: Transport<Handle = H>>(
        events: &mut dyn Events<T>,
        io: &IO,
        handle: H,
        input: B,
        output: B,
        opts: ConnOptions,
        datum: T,
    ) -> Result<Self, ConnRejected<T, H, B>> {
        Self::placed(handle, input, output, opts).opened(events, io, datum, true)
    }

    fn opened<T: Copy, IO: Transport<Handle = H>>(
        mut self,
        events: &mut dyn Events<T>,
        io: &IO,
        datum: T,
        connecting: bool,
    ) -> Result<Self, ConnRejected<T, H, B>> {
        match self.open(events, io, datum, connecting) {
            Ok(()) => Ok(self),
            Err(error) => Err(ConnRejected {
                error,
                datum,
                handle: self.handle,
                input: self.input,
                output: self.output,
            }),
        }
    }

    /// A connection that owns no events yet: [`open`](Self::open) makes them. The
    /// [`ConnTable`] builds one in its slot and opens it there, so that no copy of the buffers
    /// is made on the way (a board's stack has no room for one).
    pub(crate) fn placed(handle: H, input: B, output: B, opts: ConnOptions) -> Self {
        Connection {
            handle,
            input,
            output,
            read_ev: EventId::NONE,
            write_ev: EventId::NONE,
            opts,
            state: State::Connecting,
            reading: true,
            read_added: false,
            write_added: false,
            eof: false,
            drained_directly: false,
            held_in_transport: false,
            transport_queued: false,
            rate: None,
        }
    }

    /// Make the events of a [`placed`](Self::placed) connection and start it: reading, or
    /// waiting for its connect to complete when `connecting`. On failure it owns no events.
    pub(crate) fn open<T: Copy, IO: Transport<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &IO,
        datum: T,
        connecting: bool,
    ) -> Result<(), CreateError> {
        let key = io.source(self.handle);
        self.read_ev = events
            .create(Event::read(key).persist(), datum)
            .map_err(|r| r.error)?;
        self.write_ev = match events.create(Event::write(key).persist(), datum) {
            Ok(id) => id,
            Err(r) => {
                let _ = events.free(self.read_ev);
                return Err(r.error);
            }
        };
        let started = if connecting {
            let added = events.add(self.write_ev, self.opts.write_timeout);
            self.write_added = added.is_ok();
            added
        } else {
            self.state = State::Open;
            self.update_reading(events)
        };
        if let Err(e) = started {
            self.free_events(events);
            return Err(CreateError::Add(e));
        }
        Ok(())
    }

    /// The transport handle.
    ///
    /// ```
    /// # use levent_core::sim::Wires;
    /// # use levent_core::{ConnOptions, Connection, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<(), 2, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let mut wires = Wires::<1, 64>::new();
    /// let h = wires.open().unwrap();
    /// let conn = Connection::new(&mut engine, &wires, h, RingBuffer::<64>::new(),
    ///     RingBuffer::new(), ConnOptions::DEFAULT, ())?;
    /// assert_eq!(conn.handle_id(), h);
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn handle_id(&self) -> H {
        self.handle
    }

    /// Whether `id` is one of this connection's events.
    ///
    /// ```
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{ConnOptions, Connection, Engine, Platform, RingBuffer};
    /// # use levent_core::Event;
    /// # let mut engine: Engine<(), 3, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<4>::new(1), Wires::<1, 64>::new());
    /// # let h = wires.open().unwrap();
    /// # let mut conn = Connection::new(&mut engine, &wires, h, RingBuffer::<64>::new(),
    /// #     RingBuffer::new(), ConnOptions::DEFAULT, ())?;
    /// let timer = engine.start(Event::timer(), (), None)?;
    /// assert!(!conn.owns(timer));
    /// wires.send(h, b"hi");
    /// wires.sync(&mut sim)?;
    /// let fired = engine.next(&mut sim)?.unwrap(); // the connection's read event
    /// assert!(conn.owns(fired.id));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn owns(&self, id: EventId) -> bool {
        id == self.read_ev
            || id == self.write_ev
            || self.rate.as_ref().is_some_and(|l| l.timer() == id)
    }

    /// The input buffer, to look at (parse) what arrived. Consume it with
    /// [`consume`](Self::consume) so that reading resumes under backpressure.
    ///
    /// ```
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{ConnOptions, Connection, Engine, Platform, RingBuffer};
    /// # use levent_core::Buffer;
    /// # let mut engine: Engine<(), 2, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<4>::new(1), Wires::<1, 64>::new());
    /// # let h = wires.open().unwrap();
    /// # let mut conn = Connection::new(&mut engine, &wires, h, RingBuffer::<64>::new(),
    /// #     RingBuffer::new(), ConnOptions::DEFAULT, ())?;
    /// wires.send(h, b"hello");
    /// wires.sync(&mut sim)?;
    /// let fired = engine.next(&mut sim)?.unwrap();
    /// let out = conn.handle(&mut engine, &mut wires, &fired);
    /// assert!(out.readable());
    /// assert_eq!(conn.input().len(), 5);
    /// assert_eq!(conn.input().find(b"llo", 0), Some(2));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn input(&self) -> &B {
        &self.input
    }

    /// The output buffer, to see how much is still pending.
    ///
    /// ```
    /// # use levent_core::sim::Wires;
    /// # use levent_core::{ConnOptions, Connection, Engine, Platform, RingBuffer};
    /// # use levent_core::Buffer;
    /// # let mut engine: Engine<(), 2, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let mut wires = Wires::<1, 4>::new();
    /// # let h = wires.open().unwrap();
    /// # let mut conn = Connection::new(&mut engine, &wires, h, RingBuffer::<64>::new(),
    /// #     RingBuffer::new(), ConnOptions::DEFAULT, ())?;
    /// assert_eq!(conn.write(&mut engine, &mut wires, b"hello!"), 6);
    /// assert_eq!(conn.output().len(), 2); // the stream took 4 bytes, 2 wait
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn output(&self) -> &B {
        &self.output
    }

    /// The options in force.
    ///
    /// ```
    /// # use levent_core::sim::Wires;
    /// # use levent_core::{ConnOptions, Connection, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<(), 2, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let mut wires = Wires::<1, 64>::new();
    /// # let h = wires.open().unwrap();
    /// # let mut conn = Connection::new(&mut engine, &wires, h, RingBuffer::<64>::new(),
    /// #     RingBuffer::new(), ConnOptions::DEFAULT, ())?;
    /// assert_eq!(conn.options(), ConnOptions::DEFAULT);
    /// conn.set_options(&mut engine, ConnOptions { read_high: 32, ..conn.options() });
    /// assert_eq!(conn.options().read_high, 32);
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn options(&self) -> ConnOptions {
        self.opts
    }

    /// Whether the peer has closed its writing side.
    ///
    /// ```
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{ConnOptions, Connection, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<(), 2, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<4>::new(1), Wires::<1, 64>::new());
    /// # let h = wires.open().unwrap();
    /// # let mut conn = Connection::new(&mut engine, &wires, h, RingBuffer::<64>::new(),
    /// #     RingBuffer::new(), ConnOptions::DEFAULT, ())?;
    /// assert!(!conn.at_eof());
    /// wires.hang_up(h);
    /// wires.sync(&mut sim)?;
    /// let fired = engine.next(&mut sim)?.unwrap();
    /// let out = conn.handle(&mut engine, &mut wires, &fired);
    /// assert!(out.eof() && conn.at_eof());
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn at_eof(&self) -> bool {
        self.eof
    }

    /// Handle a fired event: do the IO it allows and say what happened. Events that are not this
    /// connection's give an empty outcome. `fired` may carry any datum: the engine's own, or the
    /// argument of a [`callbacks::Call`](crate::callbacks::Call).
    ///
    /// ```
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{ConnOptions, Connection, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<(), 2, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<4>::new(1), Wires::<1, 64>::new());
    /// # let h = wires.open().unwrap();
    /// # let mut conn = Connection::new(&mut engine, &wires, h, RingBuffer::<64>::new(),
    /// #     RingBuffer::new(), ConnOptions::DEFAULT, ())?;
    /// wires.send(h, b"ping");
    /// wires.sync(&mut sim)?;
    /// while let Some(fired) = engine.next(&mut sim)? {
    ///     let out = conn.handle(&mut engine, &mut wires, &fired);
    ///     if out.readable() {
    ///         conn.echo(&mut engine, &mut wires);
    ///     }
    ///     wires.sync(&mut sim)?;
    /// }
    /// let mut peer = [0; 8];
    /// let n = wires.recv(h, &mut peer);
    /// assert_eq!(&peer[..n], b"ping");
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn handle<T: Copy, D, IO: Transport<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        fired: &Fired<D>,
    ) -> Outcome {
        self.handle_in(events, io, fired, None)
    }

    /// [`handle`](Self::handle) for a member of rate-limit group `group`.
    pub(crate) fn handle_in<T: Copy, D, IO: Transport<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        fired: &Fired<D>,
        mut group: Option<&mut RateGroup>,
    ) -> Outcome {
        let mut out = Outcome::default();
        if let Some(l) = self.rate.as_mut().filter(|l| l.timer() == fired.id) {
            // A bucket refilled: whatever waited for tokens tries again.
            l.fired();
            let _ = self.update_reading(events);
            self.update_writing(events);
        } else if fired.id == self.read_ev {
            if fired.ready.contains(Ready::READ) {
                self.fill(events, io, &mut out, group.as_deref_mut());
            } else if fired.ready.contains(Ready::TIMEOUT) {
                out.flags |= O_READ_TIMEOUT;
                self.reading = false;
                let _ = self.update_reading(events);
            }
        } else if fired.id == self.write_ev {
            if self.state == State::Connecting {
                self.finish_connect(events, io, fired.ready, &mut out, group);
            } else if fired.ready.contains(Ready::WRITE) {
                self.flush(events, io, &mut out, group);
            } else if fired.ready.contains(Ready::TIMEOUT) {
                out.flags |= O_WRITE_TIMEOUT;
                self.write_added = false;
                let _ = events.del(self.write_ev);
            }
        }
        out
    }

    fn finish_connect<T: Copy, IO: Transport<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        ready: Ready,
        out: &mut Outcome,
        group: Option<&mut RateGroup>,
    ) {
        let result = if ready.contains(Ready::WRITE) || ready.contains(Ready::READ) {
            io.connected(self.handle)
        } else {
            Err(IoError::TimedOut)
        };
        match result {
            Err(IoError::WouldBlock) => {}
            Err(e) => {
                out.error = Some(e);
                self.state = State::WriteClosed;
                self.write_added = false;
                let _ = events.del(self.write_ev);
            }
            Ok(()) => {
                out.flags |= O_CONNECTED;
                self.state = State::Open;
                self.write_added = false;
                let _ = events.del(self.write_ev);
                let _ = self.update_reading(events);
                // A transport with something of its own to say first (a TLS client hello).
                self.transport_queued = true;
                self.flush(events, io, out, group);
            }
        }
    }

    /// Read from the transport into the input until it would block, the input reaches its high
    /// watermark, or end of file.
    fn fill<T: Copy, IO: Transport<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        out: &mut Outcome,
        mut group: Option<&mut RateGroup>,
    ) {
        // Ask for more room than a typical message, so that a read that empties the socket comes
        // back short and needs no second read to learn that it would block.
        const CHUNK: usize = 16 * 1024;
        let high = self.opts.read_high;
        // Stopped by a short read or a full input (not by the transport running dry).
        let mut stopped_early;
        loop {
            stopped_early = false;
            let len = self.input.len();
            if high != 0 && len >= high {
                stopped_early = true;
                break;
            }
            let room = self.input.reserve(CHUNK);
            if room.is_empty() {
                stopped_early = true;
                break;
            }
            let mut limit = if high != 0 {
                room.len().min(high - len)
            } else {
                room.len()
            };
            if let Some(l) = self.rate.as_mut() {
                let allow = l.allow(Dir::Read, events.now(), group.as_deref_mut());
                if allow == 0 {
                    l.starve(events, Dir::Read, group.as_deref_mut());
                    stopped_early = true;
                    break;
                }
                limit = limit.min(allow);
            }
            match io.read(self.handle, &mut room[..limit]) {
                Ok(0) => {
                    self.eof = true;
                    out.flags |= O_EOF;
                    break;
                }
                Ok(n) => {
                    self.input.commit(n);
                    if let Some(l) = self.rate.as_mut() {
                        l.charge(Dir::Read, n, group.as_deref_mut());
                    }
                    // A short read emptied the socket, unless the transport holds more back
                    // (decrypted data, a peer's close_notify) that no readiness will announce.
                    if n < limit && !io.buffered(self.handle) {
                        break;
                    }
                }
                Err(IoError::Interrupted) => {}
                Err(IoError::WouldBlock) => break,
                Err(e) => {
                    out.error = Some(e);
                    self.eof = true;
                    break;
                }
            }
        }
        let len = self.input.len();
        if len > 0 && len >= self.opts.read_low {
            out.flags |= O_READ;
        }
        // What the transport holds back (decrypted data) needs no readiness to be read: it is
        // read when reading resumes. What it queued (handshake records) waits for writability.
        self.held_in_transport = stopped_early && !self.eof && io.buffered(self.handle);
        match io.flush(self.handle) {
            Ok(done) => self.transport_queued = !done,
            Err(e) => {
                out.error = Some(e);
                self.eof = true;
            }
        }
        let _ = self.update_reading(events);
        self.update_writing(events);
    }

    /// Write pending output until it would block or is empty.
    fn flush<T: Copy, IO: Transport<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        out: &mut Outcome,
        mut group: Option<&mut RateGroup>,
    ) {
        let before = self.output.len();
        if self.transport_queued {
            match io.flush(self.handle) {
                Ok(done) => self.transport_queued = !done,
                Err(e) => {
                    out.error = Some(e);
                    self.state = State::WriteClosed;
                }
            }
        }
        while !self.output.is_empty() && out.error.is_none() {
            let allow = self.allowance(events, Dir::Write, group.as_deref_mut());
            if allow == 0 {
                break;
            }
            let chunk = self.output.chunk_at(0);
            match io.write(self.handle, &chunk[..chunk.len().min(allow)]) {
                Ok(0) => break,
                Ok(n) => {
                    self.output.drain(n);
                    self.charge(Dir::Write, n, group.as_deref_mut());
                }
                Err(IoError::Interrupted) => {}
                Err(IoError::WouldBlock) => break,
                Err(e) => {
                    out.error = Some(e);
                    self.state = State::WriteClosed;
                    break;
                }
            }
        }
        // What the transport queued of its own while taking the output (records a TLS layer
        // could not send yet) goes now, or waits for writability with the rest.
        if out.error.is_none() {
            match io.flush(self.handle) {
                Ok(done) => self.transport_queued = !done,
                Err(IoError::WouldBlock) => {}
                Err(e) => {
                    if out.error.is_none() {
                        out.error = Some(e);
                    }
                    self.state = State::WriteClosed;
                }
            }
        }
        let after = self.output.len();
        let progressed = after < before || core::mem::take(&mut self.drained_directly);
        if progressed && after <= self.opts.write_low && out.error.is_none() {
            out.flags |= O_DRAINED;
        }
        if after == 0 && self.state == State::ShuttingDown {
            if let Err(e) = io.shutdown_write(self.handle) {
                out.error = Some(e);
            }
            self.state = State::WriteClosed;
        }
        self.update_writing(events);
    }

    fn update_writing<T: Copy>(&mut self, events: &mut dyn Events<T>) {
        // While connecting, the write event watches the connect: data queued meanwhile must not
        // take it away.
        let want = self.state == State::Connecting
            || ((!self.output.is_empty() && !self.starved(Dir::Write) || self.transport_queued)
                && matches!(self.state, State::Open | State::ShuttingDown));
        if want && !self.write_added {
            self.write_added = events.add(self.write_ev, self.opts.write_timeout).is_ok();
        } else if !want && self.write_added {
            self.write_added = false;
            let _ = events.del(self.write_ev);
        }
    }

    fn update_reading<T: Copy>(
        &mut self,
        events: &mut dyn Events<T>,
    ) -> Result<(), crate::error::AddError> {
        let high = self.opts.read_high;
        let want = self.reading
            && !self.eof
            && self.state != State::Connecting
            && (high == 0 || self.input.len() < high)
            && self.input.room() > 0
            && !self.starved(Dir::Read);
        if want && !self.read_added {
            events.add(self.read_ev, self.opts.read_timeout)?;
            self.read_added = true;
            if core::mem::take(&mut self.held_in_transport) {
                // No readiness will come for what the transport holds: read it now.
                let _ = events.activate(self.read_ev, Ready::READ);
            }
        } else if !want && self.read_added {
            self.read_added = false;
            let _ = events.del(self.read_ev);
        }
        Ok(())
    }

    /// Queue `data` for sending; returns how much was taken (all of it for a growable buffer).
    /// When the output was empty the transport is tried at once, without copying; what it does not
    /// take is sent as the transport becomes writable. Either way [`Outcome::drained`] follows
    /// once the output is down to `write_low`. A failure shows up as an error in a later
    /// [`handle`](Self::handle).
    ///
    /// ```
    /// # use levent_core::sim::Wires;
    /// # use levent_core::{ConnOptions, Connection, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<(), 2, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let mut wires = Wires::<1, 64>::new();
    /// # let h = wires.open().unwrap();
    /// # let mut conn = Connection::new(&mut engine, &wires, h, RingBuffer::<64>::new(),
    /// #     RingBuffer::new(), ConnOptions::DEFAULT, ())?;
    /// assert_eq!(conn.write(&mut engine, &mut wires, b"hello"), 5);
    /// let mut peer = [0; 8];
    /// let n = wires.recv(h, &mut peer);
    /// assert_eq!(&peer[..n], b"hello");
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn write<T: Copy, IO: Transport<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        data: &[u8],
    ) -> usize {
        self.write_in(events, io, data, None)
    }

    /// [`write`](Self::write) for a member of rate-limit group `group`.
    pub(crate) fn write_in<T: Copy, IO: Transport<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        data: &[u8],
        mut group: Option<&mut RateGroup>,
    ) -> usize {
        if !matches!(
            self.state,
            State::Open | State::ShuttingDown | State::Connecting
        ) {
            return 0;
        }
        let was_empty = self.output.is_empty();
        let mut data = data;
        let mut sent = 0;
        if was_empty && self.state == State::Open {
            // Nothing queued: try the transport directly, without copying into the buffer.
            while !data.is_empty() {
                let allow = self.allowance(events, Dir::Write, group.as_deref_mut());
                if allow == 0 {
                    break;
                }
                match io.write(self.handle, &data[..data.len().min(allow)]) {
                    Ok(0) => break,
                    Ok(n) => {
                        self.charge(Dir::Write, n, group.as_deref_mut());
                        sent += n;
                        data = &data[n..];
                    }
                    Err(IoError::Interrupted) => {}
                    Err(_) => break,
                }
            }
        }
        let taken = sent + self.output.append(data);
        self.after_send(events, sent);
        taken
    }

    /// Send everything in the input back out: the echo of libevent's samples
    /// (`evbuffer_add_buffer(output, input)`). Bytes go straight from the input to the transport
    /// when nothing else is queued; the rest moves into the output, without copying where the
    /// buffers allow (blocks change hands between two `ChainBuffer`s). Reading resumes if it was
    /// stopped at the high watermark. Returns how many bytes left the input.
    ///
    /// ```
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{ConnOptions, Connection, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<(), 2, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<4>::new(1), Wires::<1, 64>::new());
    /// # let h = wires.open().unwrap();
    /// # let mut conn = Connection::new(&mut engine, &wires, h, RingBuffer::<64>::new(),
    /// #     RingBuffer::new(), ConnOptions::DEFAULT, ())?;
    /// wires.send(h, b"hello");
    /// wires.sync(&mut sim)?;
    /// let fired = engine.next(&mut sim)?.unwrap();
    /// let out = conn.handle(&mut engine, &mut wires, &fired);
    /// if out.readable() {
    ///     assert_eq!(conn.echo(&mut engine, &mut wires), 5);
    /// }
    /// let mut peer = [0; 8];
    /// let n = wires.recv(h, &mut peer);
    /// assert_eq!(&peer[..n], b"hello");
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn echo<T: Copy, IO: Transport<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
    ) -> usize {
        self.echo_in(events, io, None)
    }

    /// [`echo`](Self::echo) for a member of rate-limit group `group`.
    pub(crate) fn echo_in<T: Copy, IO: Transport<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        mut group: Option<&mut RateGroup>,
    ) -> usize {
        if !matches!(
            self.state,
            State::Open | State::ShuttingDown | State::Connecting
        ) {
            return 0;
        }
        let before = self.input.len();
        let mut sent = 0;
        if self.output.is_empty() && self.state == State::Open {
            while !self.input.is_empty() {
                let allow = self.allowance(events, Dir::Write, group.as_deref_mut());
                if allow == 0 {
                    break;
                }
                let chunk = self.input.chunk_at(0);
                match io.write(self.handle, &chunk[..chunk.len().min(allow)]) {
                    Ok(0) => break,
                    Ok(n) => {
                        self.input.drain(n);
                        self.charge(Dir::Write, n, group.as_deref_mut());
                        sent += n;
                    }
                    Err(IoError::Interrupted) => {}
                    Err(_) => break,
                }
            }
        }
        self.input.move_into(&mut self.output);
        self.after_send(events, sent);
        let _ = self.update_reading(events);
        before - self.input.len()
    }

    /// After `sent` bytes went out directly and the rest was queued.
    fn after_send<T: Copy>(&mut self, events: &mut dyn Events<T>, sent: usize) {
        if sent > 0 && self.output.len() <= self.opts.write_low {
            // Everything went out without waiting: still tell the application its output
            // drained, as it would have been told had the data waited in the buffer.
            self.drained_directly = true;
            let _ = events.activate(self.write_ev, Ready::WRITE);
        }
        self.update_writing(events);
    }

    /// Consume `n` bytes of input (after parsing them in [`input`](Self::input)); reading resumes
    /// if it was stopped at the high watermark. Returns how many were consumed.
    ///
    /// ```
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{ConnOptions, Connection, Engine, Platform, RingBuffer};
    /// # use levent_core::Buffer;
    /// # let mut engine: Engine<(), 2, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<4>::new(1), Wires::<1, 64>::new());
    /// # let h = wires.open().unwrap();
    /// let opts = ConnOptions { read_high: 4, ..ConnOptions::DEFAULT };
    /// # let mut conn = Connection::new(&mut engine, &wires, h, RingBuffer::<64>::new(),
    /// #     RingBuffer::new(), opts, ())?;
    /// wires.send(h, b"hello");
    /// wires.sync(&mut sim)?;
    /// let fired = engine.next(&mut sim)?.unwrap();
    /// let _ = conn.handle(&mut engine, &mut wires, &fired);
    /// assert_eq!(conn.input().len(), 4); // reading stopped at the high watermark
    /// assert_eq!(conn.consume(&mut engine, 4), 4); // and resumes
    /// wires.sync(&mut sim)?;
    /// let fired = engine.next(&mut sim)?.unwrap();
    /// let _ = conn.handle(&mut engine, &mut wires, &fired);
    /// assert_eq!(conn.input().len(), 1);
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn consume<T: Copy>(&mut self, events: &mut dyn Events<T>, n: usize) -> usize {
        let n = self.input.drain(n);
        let _ = self.update_reading(events);
        n
    }

    /// Take input bytes into `buf`.
    ///
    /// ```
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{ConnOptions, Connection, Engine, Platform, RingBuffer};
    /// # use levent_core::Buffer;
    /// # let mut engine: Engine<(), 2, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<4>::new(1), Wires::<1, 64>::new());
    /// # let h = wires.open().unwrap();
    /// # let mut conn = Connection::new(&mut engine, &wires, h, RingBuffer::<64>::new(),
    /// #     RingBuffer::new(), ConnOptions::DEFAULT, ())?;
    /// # wires.send(h, b"hello");
    /// # wires.sync(&mut sim)?;
    /// # let fired = engine.next(&mut sim)?.unwrap();
    /// # let _ = conn.handle(&mut engine, &mut wires, &fired);
    /// let mut buf = [0; 8];
    /// let n = conn.read(&mut engine, &mut buf);
    /// assert_eq!(&buf[..n], b"hello");
    /// assert!(conn.input().is_empty());
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn read<T: Copy>(&mut self, events: &mut dyn Events<T>, buf: &mut [u8]) -> usize {
        let n = self.input.take(buf);
        let _ = self.update_reading(events);
        n
    }

    /// Take one complete line of input (see [`Buffer::read_line`]).
    ///
    /// ```
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{ConnOptions, Connection, Engine, Platform, RingBuffer};
    /// # use levent_core::Eol;
    /// # let mut engine: Engine<(), 2, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<4>::new(1), Wires::<1, 64>::new());
    /// # let h = wires.open().unwrap();
    /// # let mut conn = Connection::new(&mut engine, &wires, h, RingBuffer::<64>::new(),
    /// #     RingBuffer::new(), ConnOptions::DEFAULT, ())?;
    /// # wires.send(h, b"GET / HTTP/1.1\r\nHost");
    /// # wires.sync(&mut sim)?;
    /// # let fired = engine.next(&mut sim)?.unwrap();
    /// # let _ = conn.handle(&mut engine, &mut wires, &fired);
    /// let mut line = [0; 32];
    /// let n = conn.read_line(&mut engine, Eol::Crlf, &mut line)?;
    /// assert_eq!(n.map(|n| &line[..n]), Some(&b"GET / HTTP/1.1"[..]));
    /// // "Host" is not a whole line yet.
    /// assert_eq!(conn.read_line(&mut engine, Eol::Crlf, &mut line)?, None);
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn read_line<T: Copy>(
        &mut self,
        events: &mut dyn Events<T>,
        eol: Eol,
        out: &mut [u8],
    ) -> Result<Option<usize>, LineTooLong> {
        let r = self.input.read_line(eol, out);
        let _ = self.update_reading(events);
        r
    }

    /// Enable reading and/or writing (libevent's `bufferevent_enable`). Writing is enabled as
    /// long as the connection is open; enabling reading restarts a read stopped by a timeout.
    ///
    /// ```
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{ConnOptions, Connection, Engine, Platform, RingBuffer};
    /// # use levent_core::Interest;
    /// # let mut engine: Engine<(), 2, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<4>::new(1), Wires::<1, 64>::new());
    /// # let h = wires.open().unwrap();
    /// # let mut conn = Connection::new(&mut engine, &wires, h, RingBuffer::<64>::new(),
    /// #     RingBuffer::new(), ConnOptions::DEFAULT, ())?;
    /// conn.disable_reading(&mut engine);
    /// wires.send(h, b"hi");
    /// conn.enable(&mut engine, Interest::READ);
    /// wires.sync(&mut sim)?;
    /// let fired = engine.next(&mut sim)?.unwrap();
    /// let out = conn.handle(&mut engine, &mut wires, &fired);
    /// assert!(out.readable());
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn enable<T: Copy>(&mut self, events: &mut dyn Events<T>, what: Interest) {
        if what.contains(Interest::READ) {
            self.reading = true;
            let _ = self.update_reading(events);
        }
        if what.contains(Interest::WRITE) {
            self.update_writing(events);
        }
    }

    /// Disable reading (libevent's `bufferevent_disable(EV_READ)`): nothing more is read until
    /// [`enable`](Self::enable).
    ///
    /// ```
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{ConnOptions, Connection, Engine, Platform, RingBuffer};
    /// # use levent_core::Buffer;
    /// # let mut engine: Engine<(), 2, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<4>::new(1), Wires::<1, 64>::new());
    /// # let h = wires.open().unwrap();
    /// # let mut conn = Connection::new(&mut engine, &wires, h, RingBuffer::<64>::new(),
    /// #     RingBuffer::new(), ConnOptions::DEFAULT, ())?;
    /// conn.disable_reading(&mut engine);
    /// wires.send(h, b"hi");
    /// wires.sync(&mut sim)?;
    /// assert!(engine.next(&mut sim)?.is_none()); // nothing watches the stream
    /// assert!(conn.input().is_empty());
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn disable_reading<T: Copy>(&mut self, events: &mut dyn Events<T>) {
        self.reading = false;
        let _ = self.update_reading(events);
    }

    /// Change watermarks and timeouts; they apply from the next read or write.
    ///
    /// ```
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{ConnOptions, Connection, Engine, Platform, RingBuffer};
    /// # use core::time::Duration;
    /// # let mut engine: Engine<(), 2, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<4>::new(1), Wires::<1, 64>::new());
    /// # let h = wires.open().unwrap();
    /// # let mut conn = Connection::new(&mut engine, &wires, h, RingBuffer::<64>::new(),
    /// #     RingBuffer::new(), ConnOptions::DEFAULT, ())?;
    /// let opts = ConnOptions { read_timeout: Some(Duration::from_millis(50)), ..conn.options() };
    /// conn.set_options(&mut engine, opts);
    /// // The peer sends nothing.
    /// let fired = engine.next(&mut sim)?.unwrap();
    /// assert!(conn.handle(&mut engine, &mut wires, &fired).read_timeout());
    /// assert_eq!(engine.now(), 50);
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn set_options<T: Copy>(&mut self, events: &mut dyn Events<T>, opts: ConnOptions) {
        self.opts = opts;
        if self.read_added {
            let _ = events.add(self.read_ev, opts.read_timeout);
            if opts.read_timeout.is_none() {
                let _ = events.remove_timeout(self.read_ev);
            }
        }
        let _ = self.update_reading(events);
    }

    /// Flush the output, then shut down writing: the peer reads everything, then end of file.
    /// Reading continues.
    ///
    /// ```
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{ConnOptions, Connection, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<(), 2, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let (mut sim, mut wires) = (Sim::<4>::new(1), Wires::<1, 4>::new());
    /// # let h = wires.open().unwrap();
    /// # let mut conn = Connection::new(&mut engine, &wires, h, RingBuffer::<64>::new(),
    /// #     RingBuffer::new(), ConnOptions::DEFAULT, ())?;
    /// conn.write(&mut engine, &mut wires, b"goodbye"); // the stream takes 4 bytes, 3 wait
    /// conn.shutdown(&mut engine, &mut wires)?;
    /// assert!(!wires.is_shut(h)); // not while output is pending
    /// let mut peer = [0; 8];
    /// assert_eq!(wires.recv(h, &mut peer), 4);
    /// wires.sync(&mut sim)?;
    /// let fired = engine.next(&mut sim)?.unwrap();
    /// let _ = conn.handle(&mut engine, &mut wires, &fired);
    /// assert!(wires.is_shut(h)); // the rest went out, then writing was shut down
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn shutdown<T: Copy, IO: Transport<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
    ) -> Result<(), IoError> {
        match self.state {
            State::Open if self.output.is_empty() => {
                self.state = State::WriteClosed;
                io.shutdown_write(self.handle)
            }
            State::Open | State::Connecting => {
                self.state = State::ShuttingDown;
                self.update_writing(events);
                Ok(())
            }
            State::ShuttingDown | State::WriteClosed => Ok(()),
        }
    }

    /// Free the connection's events and, with `close_on_free`, close its transport; otherwise
    /// hand the transport handle back (libevent's `bufferevent_free`).
    ///
    /// ```
    /// # use levent_core::sim::Wires;
    /// # use levent_core::{ConnOptions, Connection, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<(), 2, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let mut wires = Wires::<1, 64>::new();
    /// # let h = wires.open().unwrap();
    /// # let conn = Connection::new(&mut engine, &wires, h, RingBuffer::<64>::new(),
    /// #     RingBuffer::new(), ConnOptions::DEFAULT, ())?;
    /// assert_eq!(conn.close(&mut engine, &mut wires), None); // close_on_free: closed with it
    /// assert!(wires.is_closed(h));
    /// assert!(engine.is_empty());
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn close<T: Copy, IO: Transport<Handle = H>>(
        mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
    ) -> Option<H> {
        self.free_events(events);
        if self.opts.close_on_free {
            io.close(events, self.handle);
            None
        } else {
            Some(self.handle)
        }
    }

    /// Free the connection's events and hand the transport back open, whatever `close_on_free`
    /// says: the caller owns the transport again (to pass it on, or to reset it).
    ///
    /// ```
    /// # use levent_core::sim::Wires;
    /// # use levent_core::{ConnOptions, Connection, Engine, Platform, RingBuffer};
    /// # let mut engine: Engine<(), 2, 1, 1> = Engine::new(Platform::manual(1000));
    /// # let mut wires = Wires::<1, 64>::new();
    /// # let h = wires.open().unwrap();
    /// # let conn = Connection::new(&mut engine, &wires, h, RingBuffer::<64>::new(),
    /// #     RingBuffer::new(), ConnOptions::DEFAULT, ())?;
    /// assert_eq!(conn.release(&mut engine), h);
    /// assert!(!wires.is_closed(h)); // still open: the caller's again
    /// assert!(engine.is_empty());
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn release<T: Copy>(mut self, events: &mut dyn Events<T>) -> H {
        self.free_events(events);
        self.handle
    }

    /// [`release`](Self::release) for a connection its owner drops where it lies: the events
    /// are freed and the handle comes back; the connection must not be used again.
    pub(crate) fn free_in_place<T: Copy>(&mut self, events: &mut dyn Events<T>) -> H {
        self.free_events(events);
        self.handle
    }

    fn free_events<T: Copy>(&mut self, events: &mut dyn Events<T>) {
        let _ = events.free(self.read_ev);
        let _ = events.free(self.write_ev);
        if let Some(l) = self.rate.take() {
            l.free(events);
        }
    }

    /// Limit how fast this connection reads and writes (libevent's `bufferevent_set_rate_limit`),
    /// or lift the limit with `None`. A limited connection owns one more engine event, a timer
    /// that wakes it when its bucket refills; making it fails, changing nothing, when the engine
    /// has no room. Setting a limit again starts over with a full bucket.
    ///
    /// ```
    /// # use levent_core::{Dispatcher, IoError, SourceKey, Transport};
    /// # struct Pipe; // a transport that is never ready
    /// # impl Transport for Pipe {
    /// #     type Handle = u8;
    /// #     fn source(&self, h: u8) -> SourceKey { SourceKey(h.into()) }
    /// #     fn read(&mut self, _: u8, _: &mut [u8]) -> Result<usize, IoError> { Err(IoError::WouldBlock) }
    /// #     fn write(&mut self, _: u8, b: &[u8]) -> Result<usize, IoError> { Ok(b.len()) }
    /// #     fn shutdown_write(&mut self, _: u8) -> Result<(), IoError> { Ok(()) }
    /// #     fn connected(&mut self, _: u8) -> Result<(), IoError> { Ok(()) }
    /// #     fn close(&mut self, d: &mut dyn Dispatcher, h: u8) { let _ = d.forget_source(SourceKey(h.into())); }
    /// # }
    /// use levent_core::conn::RateLimit;
    /// use levent_core::{Buffer, ConnOptions, Connection, Engine, Platform, RingBuffer};
    ///
    /// let mut engine: Engine<(), 3, 1, 1> = Engine::new(Platform::manual(1000));
    /// let mut conn = Connection::new(&mut engine, &Pipe, 1, RingBuffer::<256>::new(),
    ///     RingBuffer::new(), ConnOptions::DEFAULT, ()).unwrap();
    /// conn.set_rate_limit(&mut engine, Some(RateLimit::bytes_per_second(1000, 1000)))?;
    /// // 100 bytes per 100 ms: the rest of a write waits in the output for the next refills.
    /// assert_eq!(conn.write(&mut engine, &mut Pipe, &[7; 250]), 250);
    /// assert_eq!(conn.output().len(), 150);
    /// # Ok::<(), levent_core::CreateError>(())
    /// ```
    pub fn set_rate_limit<T: Copy>(
        &mut self,
        events: &mut dyn Events<T>,
        limit: Option<RateLimit>,
    ) -> Result<(), CreateError> {
        match (limit, self.rate.as_mut()) {
            (None, None) => {}
            (None, Some(_)) => {
                if let Some(l) = self.rate.take() {
                    l.free(events);
                }
            }
            (Some(limit), Some(l)) => l.reset(events, limit),
            (Some(limit), None) => {
                let datum = rate::datum_of(events, self.read_ev)?;
                self.rate = Some(Limiter::new(events, limit, datum)?);
            }
        }
        let _ = self.update_reading(events);
        self.update_writing(events);
        Ok(())
    }

    /// The connection's own rate limit, if it has one.
    ///
    /// ```
    /// # use levent_core::{Dispatcher, IoError, SourceKey, Transport};
    /// # struct Pipe;
    /// # impl Transport for Pipe {
    /// #     type Handle = u8;
    /// #     fn source(&self, h: u8) -> SourceKey { SourceKey(h.into()) }
    /// #     fn read(&mut self, _: u8, _: &mut [u8]) -> Result<usize, IoError> { Err(IoError::WouldBlock) }
    /// #     fn write(&mut self, _: u8, b: &[u8]) -> Result<usize, IoError> { Ok(b.len()) }
    /// #     fn shutdown_write(&mut self, _: u8) -> Result<(), IoError> { Ok(()) }
    /// #     fn connected(&mut self, _: u8) -> Result<(), IoError> { Ok(()) }
    /// #     fn close(&mut self, d: &mut dyn Dispatcher, h: u8) { let _ = d.forget_source(SourceKey(h.into())); }
    /// # }
    /// use levent_core::{ConnOptions, Connection, Engine, Platform, RingBuffer};
    ///
    /// let mut engine: Engine<(), 2, 1, 1> = Engine::new(Platform::manual(1000));
    /// let conn = Connection::new(&mut engine, &Pipe, 1, RingBuffer::<64>::new(),
    ///     RingBuffer::new(), ConnOptions::DEFAULT, ()).unwrap();
    /// assert_eq!(conn.rate_limit(), None);
    /// ```
    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.rate.as_ref().map(Limiter::limit)
    }

    /// Whether direction `dir` waits for rate-limit tokens.
    fn starved(&self, dir: Dir) -> bool {
        self.rate.as_ref().is_some_and(|l| l.starved(dir))
    }

    /// How much may move in direction `dir` now (`usize::MAX` without a limit); nothing, with
    /// the direction stopped until its bucket refills, when the budget is spent.
    fn allowance<T: Copy>(
        &mut self,
        events: &mut dyn Events<T>,
        dir: Dir,
        mut group: Option<&mut RateGroup>,
    ) -> usize {
        let Some(l) = self.rate.as_mut() else {
            return usize::MAX;
        };
        let allow = l.allow(dir, events.now(), group.as_deref_mut());
        if allow == 0 {
            l.starve(events, dir, group);
        }
        allow
    }

    fn charge(&mut self, dir: Dir, n: usize, group: Option<&mut RateGroup>) {
        if let Some(l) = self.rate.as_mut() {
            l.charge(dir, n, group);
        }
    }
}
