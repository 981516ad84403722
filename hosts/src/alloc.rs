//! [`Counting`]: a global allocator that counts heap allocations on the threads that ask for it,
//! to check that a loop allocates nothing in its steady state (what levent's benchmarks report).
//!
//! ```no_run
//! #[global_allocator]
//! static ALLOC: levent_hosts::alloc::Counting = levent_hosts::alloc::Counting;
//!
//! levent_hosts::alloc::count_here(true);
//! let before = levent_hosts::alloc::allocations();
//! // ... the steady state ...
//! let per_message = (levent_hosts::alloc::allocations() - before) as f64 / 1000.0;
//! # let _ = per_message;
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

/// Count the calling thread's allocations from now on (`true`) or stop (`false`).
pub fn count_here(on: bool) {
    COUNTING.with(|c| c.set(on));
}

/// Allocations counted so far, on every thread that counts.
pub fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

fn record() {
    // `try_with`: during thread teardown the flag may be gone; such allocations are not counted.
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

/// The system allocator, counting allocations (and reallocations) on threads that called
/// [`count_here`]`(true)`. Install it with `#[global_allocator]`.
pub struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so `System`'s
// guarantees hold; the counting touches only an atomic and a const-initialised thread-local that
// never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which is `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record();
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract, which is `System`'s.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract, which is `System`'s.
        unsafe { System.dealloc(ptr, layout) }
    }
}
