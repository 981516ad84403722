//! libevent's style: every event carries a function pointer and an argument, and the loop calls
//! it. A C program written against `event_new(base, fd, what, cb, arg)` ports line by line.
//!
//! The application state is one value of your own type `A`, passed to every callback by `&mut`
//! (where C would reach it through `arg` or a global); the per-event argument `X` is any small
//! `Copy` value (an index, an enum).
//!
//! ```
//! use core::time::Duration;
//! use levent_core::callbacks::{self, Call, Callback, Ctl};
//! use levent_core::{Engine, Event, Exit, Mode, Platform, sim::Sim};
//!
//! struct App { calls: u32 }
//!
//! fn on_timeout(app: &mut App, base: &mut Ctl<'_, App, u32>, call: Call<u32>) {
//!     app.calls += call.datum;
//!     if app.calls >= 30 {
//!         base.loop_exit(None).unwrap();
//!     }
//! }
//!
//! let mut base: Engine<Callback<App, u32>, 4, 1, 1> = Engine::new(Platform::manual(1000));
//! let cb = Callback::new(on_timeout, 10);
//! base.start(Event::timer().persist(), cb, Some(Duration::from_millis(100))).unwrap();
//! let mut app = App { calls: 0 };
//! let exit = callbacks::run(&mut base, &mut Sim::<4>::new(0), &mut app, Mode::Default);
//! assert_eq!(exit, Ok(Exit::Exit));
//! assert_eq!((app.calls, base.now()), (30, 300));
//! ```

use crate::error::LoopError;
use crate::event::Fired;
use crate::events::Events;
use crate::events::{Exit, Mode};
use crate::host::Host;

/// The engine as a callback sees it (libevent's `struct event_base *`).
pub type Ctl<'a, A, X = ()> = dyn Events<Callback<A, X>> + 'a;

/// The signature of a callback: the application, the engine, and what happened.
pub type CallbackFn<A, X> = fn(&mut A, &mut Ctl<'_, A, X>, Call<X>);

/// A callback and its argument: the datum of every event in this style.
pub struct Callback<A, X = ()> {
    func: CallbackFn<A, X>,
    arg: X,
}

impl<A, X: Copy> Callback<A, X> {
    /// Call `func` with `arg` when the event fires.
    pub const fn new(func: CallbackFn<A, X>, arg: X) -> Self {
        Callback { func, arg }
    }
    /// The argument.
    pub fn arg(&self) -> X {
        self.arg
    }
}

impl<A, X: Copy> Clone for Callback<A, X> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A, X: Copy> Copy for Callback<A, X> {}

impl<A, X: core::fmt::Debug> core::fmt::Debug for Callback<A, X> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Callback")
            .field("arg", &self.arg)
            .finish_non_exhaustive()
    }
}

/// What a callback is told (libevent's `fd, what, arg`): the [`Fired`] event, whose datum is the
/// callback's argument. Being a `Fired`, it can be handed to anything that handles fired events,
/// such as [`Connection::handle`](crate::Connection::handle).
pub type Call<X> = Fired<X>;

/// Run the loop in `mode`, calling each fired event's callback with `app`
/// (libevent's `event_base_loop`).
pub fn run<A, X: Copy, E: Events<Callback<A, X>>>(
    base: &mut E,
    host: &mut dyn Host,
    app: &mut A,
    mode: Mode,
) -> Result<Exit, LoopError> {
    base.run(host, mode, &mut |ev, f| {
        let call = Call {
            id: f.id,
            ready: f.ready,
            count: f.count,
            datum: f.datum.arg,
        };
        (f.datum.func)(app, ev, call)
    })
}
