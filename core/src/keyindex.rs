//! An open-addressing index from [`SourceKey`] to a slot number, with `2 × N` cells for `N` slots
//! (linear probing, backward-shift deletion), so lookups stay short even with every slot in use.
//! The slots themselves live elsewhere; the index asks for a slot's key through a closure.

use crate::event::SourceKey;
use crate::memory::{Inline, Memory};

const EMPTY: u32 = u32::MAX;

pub(crate) struct KeyIndex<const N: usize, M: Memory = Inline> {
    cells: M::Table<[u32; 2], N>,
}

#[inline]
fn hash(key: SourceKey) -> u32 {
    ((key.0 as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u32
}

impl<const N: usize, M: Memory> KeyIndex<N, M> {
    const CELLS: usize = 2 * N;

    pub(crate) fn new() -> Self {
        KeyIndex {
            cells: M::table::<[u32; 2], N>(|_| [EMPTY; 2]),
        }
    }

    #[inline]
    fn home(key: SourceKey) -> usize {
        ((u64::from(hash(key)) * Self::CELLS as u64) >> 32) as usize
    }
    #[inline]
    fn cell(&self, c: usize) -> u32 {
        self.cells[c >> 1][c & 1]
    }
    #[inline]
    fn set_cell(&mut self, c: usize, v: u32) {
        self.cells[c >> 1][c & 1] = v;
    }
    #[inline]
    fn next(c: usize) -> usize {
        if c + 1 == Self::CELLS { 0 } else { c + 1 }
    }

    fn find_cell(&self, key: SourceKey, key_of: impl Fn(u32) -> SourceKey) -> Option<usize> {
        if N == 0 {
            return None;
        }
        let mut c = Self::home(key);
        loop {
            let v = self.cell(c);
            if v == EMPTY {
                return None;
            }
            if key_of(v) == key {
                return Some(c);
            }
            c = Self::next(c);
        }
    }

    /// The slot holding `key`.
    pub(crate) fn find(&self, key: SourceKey, key_of: impl Fn(u32) -> SourceKey) -> Option<u32> {
        self.find_cell(key, key_of).map(|c| self.cell(c))
    }

    /// Record that slot `slot` holds `key` (which must not be in the index yet). At most `N`
    /// slots are ever in the index, so a free cell always exists.
    pub(crate) fn insert(&mut self, key: SourceKey, slot: u32) {
        if N == 0 {
            return;
        }
        let mut c = Self::home(key);
        while self.cell(c) != EMPTY {
            c = Self::next(c);
        }
        self.set_cell(c, slot);
    }

    /// Forget `key`, moving later entries of its probe run back into the hole.
    pub(crate) fn remove(&mut self, key: SourceKey, key_of: impl Fn(u32) -> SourceKey) {
        let Some(mut hole) = self.find_cell(key, &key_of) else {
            return;
        };
        let mut c = Self::next(hole);
        loop {
            let v = self.cell(c);
            if v == EMPTY {
                break;
            }
            let home = Self::home(key_of(v));
            let movable = if hole <= c {
                home <= hole || home > c
            } else {
                home <= hole && home > c
            };
            if movable {
                self.set_cell(hole, v);
                hole = c;
            }
            c = Self::next(c);
        }
        self.set_cell(hole, EMPTY);
    }
}
