//! [`Heap`]: tables on the heap, filled in place.

use levent_core::memory::Memory;

/// Tables on the heap: each one is allocated once, at its full size, and filled value by value
/// where it lives, so an engine, a connection table or an HTTP server of any size is made without
/// ever being on the stack. See [`levent_core::memory`].
///
/// ```
/// use levent_core::memory::Memory;
/// use levent_hosts::Heap;
///
/// let big = Heap::table::<u64, 1_000_000>(|i| i as u64);
/// assert_eq!((big.len(), big[999_999]), (1_000_000, 999_999));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Heap;

impl Memory for Heap {
    type Table<X, const N: usize> = Box<[X]>;

    fn table<X, const N: usize>(init: impl FnMut(usize) -> X) -> Box<[X]> {
        (0..N).map(init).collect()
    }
}
