//! The async side: [`next`], the engine's pull loop for an embassy task, and the embassy-sync
//! signals that let a [`Notifier`](levent_core::Notifier) wake it.

use crate::driver::Waking;
use crate::host::NetHost;
use crate::time::convert;
use core::cell::Cell;
use core::future::{Future, poll_fn};
use core::pin::pin;
use core::task::Poll;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::signal::Signal;
use levent_core::{Events, Fired, LoopError};

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

/// The next fired event, most urgent first, for an embassy task: [`Engine::next`] that sleeps
/// instead of blocking.
///
/// Each call runs the engine's own loop over `host` (so `loop_exit` and `loop_break` work as on
/// any host). When the host yields because nothing is active, the task sleeps until the
/// earliest of: the engine's next deadline, smoltcp's `poll_at`, a frame or free transmit
/// buffer from the driver (through [`Waking`]), and a notification from the attached
/// [`Notifier`](levent_core::Notifier) (an embassy-sync `Signal`, safe to fire from an
/// interrupt handler). Returns `None` when the loop ends, as [`Engine::next`] does.
///
/// The engine must count embassy ticks ([`PLATFORM`](crate::PLATFORM)) and the host must read
/// [`CLOCK`](crate::CLOCK); a host on another clock is converted, a manual one never advances.
///
/// ```no_run
/// # async fn demo<D: levent_embassy::Waking>(
/// #     host: &mut levent_embassy::NetHost<'static, D, 4>,
/// #     engine: &mut levent_core::Engine<u8, 8, 4, 2>,
/// # ) -> Result<(), levent_core::LoopError> {
/// while let Some(fired) = levent_embassy::next(host, engine).await? {
///     // match fired.datum { … }
/// #   let _ = fired;
/// }
/// # Ok(()) }
/// ```
///
/// [`Engine::next`]: levent_core::Engine::next
pub async fn next<T: Copy, D: Waking, const N: usize, const L: usize>(
    host: &mut NetHost<'_, D, N, L>,
    engine: &mut dyn Events<T>,
) -> Result<Option<Fired<T>>, LoopError> {
    poll_fn(|cx| {
        host.device().register_waker(cx.waker());
        host.yielded = false;
        match engine.next(host) {
            Ok(None) if host.yielded => {}
            done => return Poll::Ready(done),
        }
        let mut due = false;
        if let Some(slot) = host.signal
            && let Some(signal) = SIGNALS.get(slot)
        {
            due |= pin!(signal.wait()).poll(cx).is_ready();
        }
        if let Some(at) = host.wake_at() {
            let hz = engine.platform().clock.hz();
            let at = convert(at, hz, embassy_time::TICK_HZ);
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
