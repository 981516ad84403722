//! Where an engine, a connection table or an HTTP server keeps its tables.
//!
//! Capacities are const generics, so the size of every table is known at compile time; a
//! [`Memory`] decides where the tables live. [`Inline`] (the default) keeps them inside the value,
//! for a `static` or a `StaticCell` on a board, or a small engine on the stack. A host crate with
//! an allocator provides one that puts each table on the heap, filled in place (for instance
//! `levent_hosts::Heap`), so that an engine for 16,384 events is made without ever being on the
//! stack (a debug build moves a value through the stack, and a Windows main thread has 1 MiB).
//!
//! smoltcp's `ManagedSlice` makes the same choice for its socket set: borrowed storage on a
//! board, owned storage where there is an allocator.
//!
//! ```
//! use levent_core::memory::{Inline, Memory};
//!
//! let squares = Inline::table::<u32, 4>(|i| (i * i) as u32);
//! assert_eq!(&squares[..], &[0, 1, 4, 9]);
//! ```

use core::ops::{Deref, DerefMut};

/// Where tables of `N` values live. See the [module documentation](self).
pub trait Memory {
    /// A table of exactly `N` values.
    type Table<X, const N: usize>: Deref<Target = [X]> + DerefMut;

    /// A table of `N` values, value `i` made by `init(i)`.
    fn table<X, const N: usize>(init: impl FnMut(usize) -> X) -> Self::Table<X, N>;
}

/// Tables inside the value that holds them. See the [module documentation](self).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Inline;

/// A table of [`Inline`] memory: an array.
#[derive(Clone, Debug)]
pub struct InlineTable<X, const N: usize>(pub [X; N]);

impl<X, const N: usize> Deref for InlineTable<X, N> {
    type Target = [X];
    #[inline]
    fn deref(&self) -> &[X] {
        &self.0
    }
}

impl<X, const N: usize> DerefMut for InlineTable<X, N> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [X] {
        &mut self.0
    }
}

impl Memory for Inline {
    type Table<X, const N: usize> = InlineTable<X, N>;

    fn table<X, const N: usize>(init: impl FnMut(usize) -> X) -> InlineTable<X, N> {
        InlineTable(core::array::from_fn(init))
    }
}
