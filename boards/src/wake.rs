//! The static wake-up table: a levent [`Waker`](levent_core::Waker) is a function and a word, so
//! a notifier fired from an interrupt handler reaches the task that runs the loop through one of
//! [`MAX_RUNNERS`] static embassy-sync `AtomicWaker`s, without `unsafe` and without allocation.

use core::cell::Cell;
use embassy_sync::waitqueue::AtomicWaker;

/// How many hosts can have a notifier attached at once (each needs one of this crate's static
/// wake-up slots).
pub const MAX_RUNNERS: usize = 4;

static WAKERS: [AtomicWaker; MAX_RUNNERS] = [const { AtomicWaker::new() }; MAX_RUNNERS];
static CLAIMED: critical_section::Mutex<Cell<u8>> = critical_section::Mutex::new(Cell::new(0));

/// Take a free slot, if any.
pub(crate) fn claim() -> Option<usize> {
    critical_section::with(|cs| {
        let c = CLAIMED.borrow(cs);
        let slot = (0..MAX_RUNNERS).find(|&i| c.get() & (1 << i) == 0)?;
        c.set(c.get() | 1 << slot);
        Some(slot)
    })
}

/// Give slot `slot` back.
pub(crate) fn release(slot: usize) {
    critical_section::with(|cs| {
        let c = CLAIMED.borrow(cs);
        c.set(c.get() & !(1 << slot));
    });
}

/// Let a notification on `slot` wake `waker`, the task running the loop.
pub(crate) fn register(slot: usize, waker: &core::task::Waker) {
    if let Some(w) = WAKERS.get(slot) {
        w.register(waker);
    }
}

fn wake(slot: usize) {
    if let Some(w) = WAKERS.get(slot) {
        w.wake();
    }
}

/// The levent waker a notifier calls to wake the task registered on `slot`.
pub(crate) fn waker(slot: usize) -> levent_core::Waker {
    levent_core::Waker {
        wake,
        context: slot,
    }
}
