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

/// The bit of [`Src::stamp`] set while a slot takes no readiness; generations wrap below it.
const ASLEEP: u32 = 1 << 31;

#[derive(Clone, Copy)]
pub(crate) struct Src {
    pub(crate) key: SourceKey,
    /// The generation in the low 31 bits, with [`ASLEEP`] set while the slot takes no readiness
    /// (free, or a zombie): what a token names, checked in one comparison.
    stamp: u32,
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
        stamp: ASLEEP,
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
        Token(u64::from(index) | u64::from(self.stamp & !ASLEEP) << 32)
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
        s.stamp &= !ASLEEP;
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
        let s = &mut self.slots[i as usize];
        s.zombie = true;
        s.stamp |= ASLEEP;
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
        s.stamp = (s.stamp.wrapping_add(1) & !ASLEEP) | ASLEEP;
        s.wanted = Interest::NONE;
        s.registered = Interest::NONE;
        s.head = self.free;
        self.free = i;
    }

    /// The slot a token names, if the token is current and the slot takes readiness (in use
    /// and not a zombie).
    #[inline]
    pub(crate) fn by_token(&self, t: Token) -> Option<&Src> {
        let s = self.slots.get((t.0 & 0xffff_ffff) as usize)?;
        // A token's generation has the top bit clear, so a sleeping slot never matches; a forged
        // token with it set is masked to a generation that can only name a live slot.
        let live = s.stamp == (t.0 >> 32) as u32 & !ASLEEP;
        debug_assert!(!live || (s.used && !s.zombie));
        live.then_some(s)
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
        assert!(t.by_token(tok).is_some_and(|s| s.key == SourceKey(5)));
        t.release(i);
        let j = t.get_or_insert(SourceKey(5)).unwrap();
        assert_eq!(i, j);
        assert!(t.by_token(tok).is_none());
        assert!(t.by_token(Token(u64::MAX)).is_none());
        assert!(t.by_token(t.slots[j as usize].token(j)).is_some());
    }

    #[test]
    fn a_forgotten_slot_takes_no_readiness_and_its_generations_wrap() {
        let mut t: Sources<2> = Sources::new();
        let i = t.get_or_insert(SourceKey(5)).unwrap();
        let tok = t.slots[i as usize].token(i);
        t.forget(i);
        assert!(t.by_token(tok).is_none());
        assert_eq!(
            t.slots[i as usize].token(i),
            tok,
            "the deregistration names it"
        );
        t.release(i);
        t.slots[i as usize].stamp = u32::MAX; // the last generation, asleep
        let j = t.get_or_insert(SourceKey(6)).unwrap();
        assert_eq!(t.slots[j as usize].token(j).0 >> 32, 0x7fff_ffff);
        t.release(j);
        let k = t.get_or_insert(SourceKey(7)).unwrap();
        assert_eq!(t.slots[k as usize].token(k).0 >> 32, 0, "wrapped");
        assert!(t.by_token(t.slots[k as usize].token(k)).is_some());
    }
}
