//! The source table: one slot per watched source key, with the union of its events' interests,
//! what the host has registered, and the dirty list that becomes the change list.
//!
//! Keys are found through a [`KeyIndex`]. Slot indices never move while a slot is in use: they are
//! what the host's [`Token`] names.

use crate::event::{Interest, SourceKey};
use crate::host::{Change, Token};
use crate::keyindex::KeyIndex;
use crate::memory::{Inline, Memory};

pub(crate) const NIL: u32 = u32::MAX;

#[derive(Clone, Copy)]
pub(crate) struct Src {
    pub(crate) key: SourceKey,
    pub(crate) generation: u32,
    /// First event on this source (a list through the event slots), or the next free slot.
    pub(crate) head: u32,
    /// Union of the interests of its added events.
    pub(crate) wanted: Interest,
    /// What the host has registered.
    pub(crate) registered: Interest,
    pub(crate) edge: bool,
    pub(crate) registered_edge: bool,
    pub(crate) used: bool,
    /// In the dirty list (possibly as a leftover of a freed use of this slot).
    pub(crate) dirty: bool,
    /// Forgotten while registered: out of the index (its key may already name a new source), its
    /// readiness ignored, kept only until the host has been told to deregister it.
    pub(crate) zombie: bool,
}

impl Src {
    const EMPTY: Src = Src {
        key: SourceKey(0),
        generation: 0,
        head: NIL,
        wanted: Interest::NONE,
        registered: Interest::NONE,
        edge: false,
        registered_edge: false,
        used: false,
        dirty: false,
        zombie: false,
    };

    pub(crate) fn token(&self, index: u32) -> Token {
        Token(u64::from(index) | u64::from(self.generation) << 32)
    }
}

pub(crate) struct Sources<const S: usize, M: Memory = Inline> {
    pub(crate) slots: M::Table<Src, S>,
    index: KeyIndex<S, M>,
    free: u32,
    dirty: M::Table<u32, S>,
    ndirty: usize,
    used: usize,
    /// Deregistrations of forgotten sources, waiting for the host: their slots are free already.
    deregs: M::Table<Change, S>,
    nderegs: usize,
}

impl<const S: usize, M: Memory> Sources<S, M> {
    pub(crate) fn new() -> Self {
        Sources {
            slots: M::table::<Src, S>(|i| Src {
                head: if i + 1 < S { (i + 1) as u32 } else { NIL },
                ..Src::EMPTY
            }),
            index: KeyIndex::new(),
            free: if S > 0 { 0 } else { NIL },
            dirty: M::table::<u32, S>(|_| NIL),
            ndirty: 0,
            used: 0,
            deregs: M::table::<Change, S>(|_| Change::Signal {
                signo: 0,
                watch: false,
            }),
            nderegs: 0,
        }
    }

    /// Queue the deregistration of a forgotten source for the host and free its slot at once, so
    /// that closing a connection and accepting the next in one pass never runs out of slots.
    /// Returns `false`, queueing nothing, when the queue is full (the slot must then wait as a
    /// zombie for the change list).
    pub(crate) fn queue_dereg(&mut self, change: Change) -> bool {
        match self.deregs.get_mut(self.nderegs) {
            Some(d) => {
                *d = change;
                self.nderegs += 1;
                true
            }
            None => false,
        }
    }

    /// The next queued deregistration.
    pub(crate) fn pop_dereg(&mut self) -> Option<Change> {
        self.nderegs = self.nderegs.checked_sub(1)?;
        self.deregs.get(self.nderegs).copied()
    }

    /// Slots in use (registered sources, and forgotten ones not yet deregistered).
    pub(crate) fn used(&self) -> usize {
        self.used
    }

    pub(crate) fn find(&self, key: SourceKey) -> Option<u32> {
        self.index.find(key, |v| self.slots[v as usize].key)
    }

    /// The slot for `key`, allocated if new. `None` when new and the table is full.
    pub(crate) fn get_or_insert(&mut self, key: SourceKey) -> Option<u32> {
        if let Some(i) = self.find(key) {
            return Some(i);
        }
        let i = self.free;
        if i == NIL {
            return None;
        }
        let s = &mut self.slots[i as usize];
        self.free = s.head;
        s.key = key;
        s.head = NIL;
        s.used = true;
        self.used += 1;
        s.wanted = Interest::NONE;
        s.registered = Interest::NONE;
        s.edge = false;
        s.registered_edge = false;
        self.index.insert(key, i);
        Some(i)
    }

    /// Take a registered slot out of the index at once, so that its key can name a new source,
    /// but keep it until the host has applied its deregistration.
    pub(crate) fn forget(&mut self, i: u32) {
        self.unindex(i);
        self.slots[i as usize].zombie = true;
        self.mark_dirty(i);
    }

    /// Take slot `i`'s key out of the index: one copy of the index's removal for both callers.
    #[inline(never)]
    fn unindex(&mut self, i: u32) {
        let key = self.slots[i as usize].key;
        let slots = &self.slots;
        self.index.remove(key, |v| slots[v as usize].key);
    }

    /// Give slot `i` back: out of the index, generation bumped so its token turns stale.
    pub(crate) fn release(&mut self, i: u32) {
        if !core::mem::take(&mut self.slots[i as usize].zombie) {
            self.unindex(i);
        }
        let s = &mut self.slots[i as usize];
        if s.used {
            self.used -= 1;
        }
        s.used = false;
        s.generation = s.generation.wrapping_add(1);
        s.wanted = Interest::NONE;
        s.registered = Interest::NONE;
        s.head = self.free;
        self.free = i;
    }

    /// Slot `i` (by token) if the token is current.
    #[inline]
    pub(crate) fn by_token(&self, t: Token) -> Option<u32> {
        let i = (t.0 & 0xffff_ffff) as u32;
        let s = self.slots.get(i as usize)?;
        (s.used && !s.zombie && s.generation == (t.0 >> 32) as u32).then_some(i)
    }

    pub(crate) fn mark_dirty(&mut self, i: u32) {
        let s = &mut self.slots[i as usize];
        if !s.dirty {
            s.dirty = true;
            self.dirty[self.ndirty] = i;
            self.ndirty += 1;
        }
    }

    /// Whether no source waits in the dirty list.
    #[inline]
    pub(crate) fn clean(&self) -> bool {
        self.ndirty == 0 && self.nderegs == 0
    }

    /// Take one dirty slot index off the list.
    pub(crate) fn pop_dirty(&mut self) -> Option<u32> {
        if self.ndirty == 0 {
            return None;
        }
        self.ndirty -= 1;
        let i = self.dirty[self.ndirty];
        self.slots[i as usize].dirty = false;
        Some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The index finds exactly the keys inserted and not released, whatever the order.
        #[test]
        fn index_matches_a_model(ops in proptest::collection::vec((any::<bool>(), 0usize..40), 0..400)) {
            let mut t: Sources<16> = Sources::new();
            let mut model: std::collections::BTreeMap<usize, u32> = Default::default();
            for (insert, k) in ops {
                let key = SourceKey(k * 7919);
                if insert {
                    match t.get_or_insert(key) {
                        Some(i) => {
                            if let Some(&j) = model.get(&k) { prop_assert_eq!(i, j); }
                            model.insert(k, i);
                        }
                        None => prop_assert!(model.len() == 16 && !model.contains_key(&k)),
                    }
                } else if let Some(i) = model.remove(&k) {
                    t.release(i);
                }
                for k in 0..40 {
                    prop_assert_eq!(t.find(SourceKey(k * 7919)), model.get(&k).copied());
                }
            }
        }
    }

    #[test]
    fn released_slot_turns_its_token_stale() {
        let mut t: Sources<2> = Sources::new();
        let i = t.get_or_insert(SourceKey(5)).unwrap();
        let tok = t.slots[i as usize].token(i);
        assert_eq!(t.by_token(tok), Some(i));
        t.release(i);
        let j = t.get_or_insert(SourceKey(5)).unwrap();
        assert_eq!(i, j);
        assert_eq!(t.by_token(tok), None);
        assert_eq!(t.by_token(Token(u64::MAX)), None);
    }
}
