//! # levent-core
//!
//! The dispatcher of [levent], an event-notification library in the spirit of libevent:
//! `#![no_std]`, no allocator, no `unsafe`. You say what you are waiting for — a source becoming
//! readable or writable, a timeout, a signal, a wake-up from an interrupt or another thread — and
//! the engine hands the events back when they happen, most urgent priority first.
//!
//! The engine never waits and never touches an operating system. A *host* does that: epoll,
//! kqueue, winsock select (crate `levent-hosts`), an embassy task polling smoltcp
//! (`levent-embassy`), or the deterministic simulation host (`sim`, feature `sim`). What a host
//! must do is the [contract in `host`](host).
//!
//! ## Three ways to drive one engine
//!
//! **Pull** (mio's and smoltcp's shape): take fired events out one at a time and `match` on the
//! datum each carries. Between two events you own the engine.
//!
//! ```
//! use core::time::Duration;
//! use levent_core::{Engine, Event, Platform, Ready, SourceKey, sim::Sim};
//!
//! #[derive(Clone, Copy, Debug)]
//! enum Ev { Data, Idle }
//!
//! let mut engine: Engine<Ev, 16, 8, 2> = Engine::new(Platform::manual(1000));
//! let mut host = Sim::<8>::new(7);
//! let data = SourceKey(5);
//! engine.start(Event::read(data).persist(), Ev::Data, None).unwrap();
//! engine.start(Event::timer(), Ev::Idle, Some(Duration::from_secs(1))).unwrap();
//! host.set_ready(data, Ready::READ).unwrap();
//!
//! let mut reads = 0;
//! while let Some(fired) = engine.next(&mut host).unwrap() {
//!     match fired.datum {
//!         Ev::Data => {
//!             reads += 1;
//!             host.clear_ready(data, Ready::READ); // "read" everything
//!         }
//!         Ev::Idle => engine.loop_break(),
//!     }
//! }
//! assert_eq!((reads, engine.now()), (1, 1000));
//! ```
//!
//! **[`Handler`]**: implement one method and call `run()`; natural for an embassy task.
//!
//! **[`callbacks`]**: libevent's per-event function pointers, so C programs port line by line.
//!
//! Everything that takes an engine can take `&mut dyn `[`Events`]`<T>` instead, so the const
//! generics appear only where the engine is declared.
//!
//! ## Semantics
//!
//! libevent's, written down in the project's `DESIGN.md` and tested behaviour by behaviour:
//! one-shot and persistent events; persistent timeouts that re-arm from their scheduled deadline
//! (no drift) and fire once after a stall (no burst); equal deadlines fire first-in first-out;
//! priority 0 is the most urgent and an event activated by a callback at a more urgent priority
//! runs before less urgent ones already queued; deleting an event inside any callback takes effect
//! at once; end of file arrives as readability, never as a timeout.
//!
//! ## Features
//!
//! - `sim`: the simulation host `sim::Sim` and in-memory byte streams `sim::Wires`.
//! - `defmt`: `defmt::Format` for every public type a firmware would log.
//!
//! [levent]: https://github.com/levent-rs/levent
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[macro_use]
mod log;
pub mod buffer;
pub mod callbacks;
pub mod conn;
#[cfg(feature = "dns")]
pub mod dns;
mod engine;
mod error;
mod event;
mod events;
pub mod host;
#[cfg(feature = "http")]
pub mod http;
pub mod io;
mod keyindex;
pub mod memory;
mod notify;
#[cfg(feature = "sim")]
pub mod sim;
#[cfg(feature = "std")]
mod std_io;
mod time;
#[cfg(feature = "http")]
pub mod ws;

pub use buffer::{Buffer, Eol, RingBuffer};
pub use conn::{
    Conn, ConnEvent, ConnId, ConnOptions, ConnRejected, ConnTable, Connection, Listener, Outcome,
    Route,
};
pub use engine::Engine;
pub use error::{AddError, CreateError, IdError, LoopError, PriorityError, Rejected};
pub use event::{Event, EventId, Fired, Interest, Kind, Pending, Ready, SourceKey};
pub use events::{Capacity, Events, Exit, Handler, Mode, OnFired};
pub use host::{
    Change, Dispatcher, Feed, Host, HostError, NotifierSlot, Platform, Signals, Token, Turn, Wait,
};
pub use io::{Accept, Connect, Datagram, IoError, Transport};
pub use notify::{Attached, Notifier, NotifyFull, NotifySource, Waker};
pub use time::{Clock, Overflow, Tick};

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(any(test, feature = "std"))]
extern crate std;
