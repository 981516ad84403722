//! The async side: [`next`], the engine's pull loop for an embassy task, and the embassy-sync
//! signals that let a [`Notifier`](levent_core::Notifier) wake it.

use crate::driver::Waking;
use crate::host::NetHost;
use crate::timehost::{TimeHost, to_embassy};
use core::cell::Cell;
use core::future::{Future, poll_fn};
use core::pin::pin;
use core::task::{Poll, Waker};
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::signal::Signal;
use levent_core::{Events, Fired, Host, LoopError, Tick};

/// How many [`NetHost`]s can have a notifier attached at once (each needs one of this crate's
/// static wake-up signals).
pub const MAX_RUNNERS: usize = 4;

static SIGNALS: [Signal<CriticalSectionRawMutex, ()>; MAX_RUNNERS] =
    [const { Signal::new() }; MAX_RUNNERS];
static CLAIMED: critical_section::Mutex<Cell<u8>> = critical_section::Mutex::new(Cell::new(0));

pub(crate) fn claim() -> Option<usize> {
    critical_section::with(|cs| {
        let c = CLAIMED.borrow(cs);
        let slot = (0..MAX_RUNNERS).find(|&i| c.get() & (1 << i) == 0)?;
        c.set(c.get() | 1 << slot);
        SIGNALS[slot].reset();
        Some(slot)
    })
}

pub(crate) fn release(slot: usize) {
    critical_section::with(|cs| {
        let c = CLAIMED.borrow(cs);
        c.set(c.get() & !(1 << slot));
    });
}

fn wake(slot: usize) {
    if let Some(s) = SIGNALS.get(slot) {
        s.signal(());
    }
}

pub(crate) fn waker(slot: usize) -> levent_core::Waker {
    levent_core::Waker {
        wake,
        context: slot,
    }
}

mod sealed {
    /// What [`next`](super::next) needs from a host beyond [`AsyncHost`](super::AsyncHost).
    pub trait Sealed {
        fn signal_slot(&self) -> Option<usize>;
        fn clear_yield(&mut self);
        fn hz(&self) -> u64;
    }
}

/// A host that [`next`] can sleep on: [`NetHost`] and [`TimeHost`]. Sealed.
pub trait AsyncHost: Host + sealed::Sealed {
    /// Let the host's own wake-up sources (the network driver) wake `waker`.
    fn register_waker(&mut self, waker: &Waker);
    /// Whether the last turn yielded (the engine wanted to wait and nothing became active).
    fn yielded(&self) -> bool;
    /// When to run the next turn at the latest, in the host's ticks.
    fn wake_at(&mut self) -> Option<Tick>;
}

impl<D: Waking, const N: usize, const L: usize> sealed::Sealed for NetHost<'_, D, N, L> {
    fn signal_slot(&self) -> Option<usize> {
        self.time.signal
    }
    fn clear_yield(&mut self) {
        self.time.yielded = false;
    }
    fn hz(&self) -> u64 {
        NetHost::hz(self)
    }
}

impl<D: Waking, const N: usize, const L: usize> AsyncHost for NetHost<'_, D, N, L> {
    fn register_waker(&mut self, waker: &Waker) {
        self.device().register_waker(waker);
    }
    fn yielded(&self) -> bool {
        NetHost::yielded(self)
    }
    fn wake_at(&mut self) -> Option<Tick> {
        NetHost::wake_at(self)
    }
}

impl sealed::Sealed for TimeHost {
    fn signal_slot(&self) -> Option<usize> {
        self.signal
    }
    fn clear_yield(&mut self) {
        self.yielded = false;
    }
    fn hz(&self) -> u64 {
        TimeHost::hz(self)
    }
}

impl AsyncHost for TimeHost {
    fn register_waker(&mut self, _: &Waker) {}
    fn yielded(&self) -> bool {
        TimeHost::yielded(self)
    }
    fn wake_at(&mut self) -> Option<Tick> {
        TimeHost::wake_at(self)
    }
}

/// The next fired event, most urgent first, for an embassy task: [`Engine::next`] that sleeps
/// instead of blocking.
///
/// Each call runs the engine's own loop over `host` (so `loop_exit` and `loop_break` work as on
/// any host). When the host yields because nothing is active, the task sleeps until the
/// earliest of: the engine's next deadline, smoltcp's `poll_at` (for a [`NetHost`]), a frame or
/// free transmit buffer from the driver (through [`Waking`]), and a notification from the
/// attached [`Notifier`](levent_core::Notifier) (an embassy-sync `Signal`, safe to fire from an
/// interrupt handler). Returns `None` when the loop ends, as [`Engine::next`] does: when no
/// event is left, a [`NetHost`] is no longer polled (call [`NetHost::poll`] to keep closing
/// connections going).
///
/// The host's clock should be [`CLOCK`](crate::CLOCK) (and the engine's platform
/// [`PLATFORM`](crate::PLATFORM)); a host on another readable clock is converted to embassy
/// ticks, a manual one never advances by itself.
///
/// ```no_run
/// # async fn demo(host: &mut levent_embassy::TimeHost,
/// #     engine: &mut levent_core::Engine<u8, 8, 4, 2>) -> Result<(), levent_core::LoopError> {
/// while let Some(fired) = levent_embassy::next(host, engine).await? {
///     // match fired.datum { … }
/// #   let _ = fired;
/// }
/// # Ok(()) }
/// ```
///
/// [`Engine::next`]: levent_core::Engine::next
pub async fn next<T: Copy, H: AsyncHost>(
    host: &mut H,
    engine: &mut dyn Events<T>,
) -> Result<Option<Fired<T>>, LoopError> {
    poll_fn(|cx| {
        host.register_waker(cx.waker());
        host.clear_yield();
        match engine.next(host) {
            Ok(None) if host.yielded() => {}
            done => return Poll::Ready(done),
        }
        let mut due = false;
        if let Some(slot) = host.signal_slot()
            && let Some(signal) = SIGNALS.get(slot)
        {
            due |= pin!(signal.wait()).poll(cx).is_ready();
        }
        if let Some(at) = host.wake_at() {
            let at = to_embassy(at, host.hz());
            if at <= embassy_time::Instant::now().as_ticks() {
                due = true;
            } else {
                embassy_time_driver::schedule_wake(at, cx.waker());
            }
        }
        if due {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    })
    .await
}
