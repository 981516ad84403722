//! The timer queue: a 4-ary min-heap of `(deadline, seq)` with lazy cancellation.
//!
//! Cancelling only marks the event (O(1), no heap access); the dead entry is dropped when it
//! reaches the top, or in bulk when dead entries outnumber live ones. The heap holds up to two
//! entries per event, so a burst of re-arms never finds it full: when it is, at most one entry per
//! event is live and a compaction frees at least half of it. Equal deadlines keep the order in
//! which they were armed (`seq`).

use crate::memory::{Inline, Memory};
use crate::time::Tick;

#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry {
    pub(crate) deadline: Tick,
    pub(crate) seq: u32,
    pub(crate) index: u32,
}

impl Entry {
    const EMPTY: Entry = Entry {
        deadline: 0,
        seq: 0,
        index: 0,
    };

    #[inline]
    fn before(&self, other: &Entry) -> bool {
        self.deadline < other.deadline
            || (self.deadline == other.deadline && (self.seq.wrapping_sub(other.seq) as i32) < 0)
    }
}

/// Room for `2 * E` entries, stored as `[[Entry; 2]; E]` because const generics cannot multiply.
pub(crate) struct TimerHeap<const E: usize, M: Memory = Inline> {
    slots: M::Table<[Entry; 2], E>,
    len: usize,
    /// Entries in the heap whose event no longer wants them.
    pub(crate) dead: usize,
}

impl<const E: usize, M: Memory> TimerHeap<E, M> {
    pub(crate) fn new() -> Self {
        TimerHeap {
            slots: M::table::<[Entry; 2], E>(|_| [Entry::EMPTY; 2]),
            len: 0,
            dead: 0,
        }
    }

    #[inline]
    fn at(&self, i: usize) -> &Entry {
        &self.slots[i >> 1][i & 1]
    }

    #[inline]
    fn set(&mut self, i: usize, e: Entry) {
        self.slots[i >> 1][i & 1] = e;
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_full(&self) -> bool {
        self.len == 2 * E
    }

    pub(crate) fn peek(&self) -> Option<&Entry> {
        (self.len > 0).then(|| self.at(0))
    }

    /// Push `e`; the caller makes room with [`retain`](Self::retain) first if the heap is full.
    pub(crate) fn push(&mut self, e: Entry) {
        debug_assert!(!self.is_full());
        let mut i = self.len;
        self.len += 1;
        while i > 0 {
            let parent = (i - 1) / 4;
            let p = *self.at(parent);
            if !e.before(&p) {
                break;
            }
            self.set(i, p);
            i = parent;
        }
        self.set(i, e);
    }

    pub(crate) fn pop(&mut self) -> Option<Entry> {
        if self.len == 0 {
            return None;
        }
        let top = *self.at(0);
        self.len -= 1;
        if self.len > 0 {
            let last = *self.at(self.len);
            self.sift_down(0, last);
        }
        Some(top)
    }

    fn sift_down(&mut self, mut i: usize, e: Entry) {
        let len = self.len;
        loop {
            let first = 4 * i + 1;
            if first >= len {
                break;
            }
            let end = (first + 4).min(len);
            let mut best = first;
            for c in first + 1..end {
                if self.at(c).before(self.at(best)) {
                    best = c;
                }
            }
            let b = *self.at(best);
            if !b.before(&e) {
                break;
            }
            self.set(i, b);
            i = best;
        }
        self.set(i, e);
    }

    /// Keep only the entries for which `live` holds, then restore the heap order.
    pub(crate) fn retain(&mut self, mut live: impl FnMut(&Entry) -> bool) {
        let mut kept = 0;
        for i in 0..self.len {
            let e = *self.at(i);
            if live(&e) {
                self.set(kept, e);
                kept += 1;
            }
        }
        self.len = kept;
        self.dead = 0;
        if kept > 1 {
            for i in (0..=(kept - 2) / 4).rev() {
                let e = *self.at(i);
                self.sift_down(i, e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// EL09: popping yields non-decreasing deadlines, equal deadlines in push order, also
        /// after arbitrary removals.
        #[test]
        fn heap_pops_in_deadline_then_push_order(
            deadlines in proptest::collection::vec(0u64..50, 0..300),
            drop_mask in proptest::collection::vec(any::<bool>(), 300),
        ) {
            let mut h: std::boxed::Box<TimerHeap<256>> = std::boxed::Box::new(TimerHeap::new());
            for (seq, d) in deadlines.iter().enumerate() {
                if h.is_full() { break; }
                h.push(Entry { deadline: *d, seq: seq as u32, index: seq as u32 });
            }
            h.retain(|e| !drop_mask[e.index as usize]);
            let mut last: Option<Entry> = None;
            let mut n = 0;
            while let Some(e) = h.pop() {
                prop_assert!(!drop_mask[e.index as usize]);
                if let Some(l) = last {
                    prop_assert!(l.before(&e), "{:?} then {:?}", l, e);
                }
                last = Some(e);
                n += 1;
            }
            let expected = deadlines.iter().take(512).enumerate().filter(|(i, _)| !drop_mask[*i]).count();
            prop_assert_eq!(n, expected);
        }
    }

    #[test]
    fn sequence_order_survives_wrapping() {
        let mut h: TimerHeap<4> = TimerHeap::new();
        h.push(Entry {
            deadline: 5,
            seq: u32::MAX,
            index: 0,
        });
        h.push(Entry {
            deadline: 5,
            seq: 0,
            index: 1,
        });
        assert_eq!(h.pop().map(|e| e.index), Some(0));
        assert_eq!(h.pop().map(|e| e.index), Some(1));
    }
}
