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
    type Table<X, const N: usize> = HeapTable<X, N>;

    fn table<X, const N: usize>(init: impl FnMut(usize) -> X) -> HeapTable<X, N> {
        let all: Box<[X]> = (0..N).map(init).collect();
        match all.try_into() {
            Ok(table) => HeapTable(table),
            Err(_) => unreachable!("exactly N values were collected"),
        }
    }
}

/// A [`Heap`] table: `N` values in one allocation. Its length is part of its type, so indexing
/// it checks against a constant.
pub struct HeapTable<X, const N: usize>(Box<[X; N]>);

impl<X, const N: usize> core::ops::Deref for HeapTable<X, N> {
    type Target = [X];
    #[inline(always)]
    fn deref(&self) -> &[X] {
        &self.0[..]
    }
}

impl<X, const N: usize> core::ops::DerefMut for HeapTable<X, N> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [X] {
        &mut self.0[..]
    }
}
