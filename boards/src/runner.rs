//! [`next`]: the engine's pull loop for an embassy task.

use crate::CLOCK;
use core::future::poll_fn;
use core::task::Poll;
use levent_core::{Events, Exit, Fired, Host, LoopError};

/// The next fired event, most urgent first, for an embassy task: [`Engine::next`] that sleeps
/// instead of blocking.
///
/// Each call runs the engine's own loop over `host` (so `loop_exit` and `loop_break` work as on
/// any host). When the host yields because nothing is active, the task sleeps until the
/// earliest of: the host's [`wake_at`](Host::wake_at) (the engine's next deadline and, for a
/// [`NetHost`](crate::NetHost), smoltcp's `poll_at`), a frame or free transmit buffer from the
/// driver, and a notification from the attached [`Notifier`](levent_core::Notifier) (safe to
/// fire from an interrupt handler). Returns `None` when the loop ends, as [`Engine::next`] does:
/// when no event is left, a [`NetHost`](crate::NetHost) is no longer polled (call
/// [`NetHost::poll`](crate::NetHost::poll) to keep closing connections going).
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
pub async fn next<T: Copy, E: Events<T>>(
    host: &mut dyn Host,
    engine: &mut E,
) -> Result<Option<Fired<T>>, LoopError> {
    poll_fn(|cx| {
        host.register_waker(cx.waker());
        match engine.next(host) {
            Ok(None) if engine.last_exit() == Some(Exit::Done) => {}
            done => return Poll::Ready(done),
        }
        if let Some(at) = host.wake_at() {
            let at = host.clock().map_or(at, |c| c.ticks_in(at, &CLOCK));
            if at <= embassy_time::Instant::now().as_ticks() {
                cx.waker().wake_by_ref();
            } else {
                embassy_time_driver::schedule_wake(at, cx.waker());
            }
        }
        Poll::Pending
    })
    .await
}
