//! What an event watches ([`Event`]), what happened ([`Ready`]), and what the engine hands out
//! ([`EventId`], [`Fired`], [`Pending`]).

use crate::time::Tick;
use core::ops::{BitAnd, BitOr, BitOrAssign, Not};

/// Names one event of one engine. Cheap to copy; checked on every use.
///
/// An id carries the slot it names, that slot's generation and a tag of the engine that made it.
/// Once the event is freed its id is *stale*: every call that takes it returns
/// [`IdError::Stale`](crate::IdError::Stale) and readiness meant for it is dropped, even after
/// the slot is reused. An id given to a different engine returns
/// [`IdError::Foreign`](crate::IdError::Foreign).
#[derive(Clone, Copy, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EventId {
    pub(crate) index: u32,
    pub(crate) generation: u16,
    pub(crate) engine: u16,
}

// Without branches: every connection compares ids to route what fired, and three compares with
// a branch each were most of a hundred bytes at every place.
impl PartialEq for EventId {
    fn eq(&self, other: &EventId) -> bool {
        let gen_engine = |id: &EventId| u32::from(id.generation) | u32::from(id.engine) << 16;
        (self.index ^ other.index) | (gen_engine(self) ^ gen_engine(other)) == 0
    }
}

impl core::hash::Hash for EventId {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        // What the derive hashed: the fields in order.
        self.index.hash(state);
        self.generation.hash(state);
        self.engine.hash(state);
    }
}

impl EventId {
    /// An id no engine gave out (index beyond every capacity): what a connection holds before
    /// its events are made.
    pub(crate) const NONE: EventId = EventId {
        index: u32::MAX,
        generation: 0,
        engine: u16::MAX,
    };

    /// The slot index of the event, below the engine's event capacity. Useful to index a side
    /// table of per-event state; two live events never share an index.
    pub const fn index(self) -> usize {
        self.index as usize
    }

    /// The id as one number, for a trace of a run; [`from_raw`](Self::from_raw) gives it back.
    ///
    /// ```
    /// use levent_core::{Engine, Event, EventId, Platform};
    ///
    /// let mut engine: Engine<u8, 4, 1, 1> = Engine::new(Platform::manual(1000));
    /// let id = engine.create(Event::user(), 0).unwrap();
    /// assert_eq!(EventId::from_raw(id.to_raw()), id);
    /// ```
    pub const fn to_raw(self) -> u64 {
        (self.index as u64) << 32 | (self.generation as u64) << 16 | self.engine as u64
    }

    /// The id that [`to_raw`](Self::to_raw) made this number of. Any number makes an id; one
    /// that no engine gave out is stale or foreign to every engine, so it is harmless.
    pub const fn from_raw(raw: u64) -> EventId {
        EventId {
            index: (raw >> 32) as u32,
            generation: (raw >> 16) as u16,
            engine: raw as u16,
        }
    }
}

macro_rules! flags {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $flag:ident = $bit:expr, $lower:literal;)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        pub struct $name(u8);

        impl $name {
            /// No flag.
            pub const NONE: Self = $name(0);
            $($(#[$fdoc])* pub const $flag: Self = $name($bit);)*

            /// Whether every flag of `other` is set in `self`.
            pub const fn contains(self, other: Self) -> bool {
                self.0 & other.0 == other.0
            }
            /// Whether any flag of `other` is set in `self`.
            pub const fn intersects(self, other: Self) -> bool {
                self.0 & other.0 != 0
            }
            /// Whether no flag is set.
            pub const fn is_empty(self) -> bool {
                self.0 == 0
            }
            /// The flags of both.
            pub const fn union(self, other: Self) -> Self {
                $name(self.0 | other.0)
            }
            /// The raw bits.
            pub const fn bits(self) -> u8 {
                self.0
            }
            /// The flags whose bits are set in `bits`, as [`bits`](Self::bits) gave them (a
            /// trace stores them so); bits that name no flag are dropped.
            pub const fn from_bits(bits: u8) -> Self {
                $name(bits & (0 $(| $bit)*))
            }
        }

        impl BitOr for $name {
            type Output = Self;
            fn bitor(self, rhs: Self) -> Self {
                $name(self.0 | rhs.0)
            }
        }
        impl BitOrAssign for $name {
            fn bitor_assign(&mut self, rhs: Self) {
                self.0 |= rhs.0;
            }
        }
        impl BitAnd for $name {
            type Output = Self;
            fn bitand(self, rhs: Self) -> Self {
                $name(self.0 & rhs.0)
            }
        }
        impl Not for $name {
            type Output = Self;
            fn not(self) -> Self {
                $name(!self.0)
            }
        }
        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                let mut first = true;
                $(if self.contains(Self::$flag) {
                    if !first { f.write_str("|")?; }
                    f.write_str($lower)?;
                    first = false;
                })*
                if first { f.write_str("none")?; }
                Ok(())
            }
        }
    };
}

flags! {
    /// What an IO event watches on its source: any mix of read, write and closed.
    ///
    /// ```
    /// use levent_core::Interest;
    /// let both = Interest::READ | Interest::WRITE;
    /// assert!(both.contains(Interest::READ) && !both.contains(Interest::CLOSED));
    /// ```
    Interest {
        /// The source has data to read, or has reached end of file.
        READ = 1, "read";
        /// The source can take more data.
        WRITE = 2, "write";
        /// The peer closed or shut down its writing side (libevent's `EV_CLOSED`).
        CLOSED = 4, "closed";
    }
}

flags! {
    /// What happened to a fired event; several flags may be set at once (an activation and an
    /// expiry in the same pass arrive as one firing with both).
    ///
    /// The low three flags have the same values as [`Interest`]'s, so a host reports IO readiness
    /// with the same bits an event watches.
    Ready {
        /// Readable, or end of file (end of file is always reported as readability).
        READ = 1, "read";
        /// Writable.
        WRITE = 2, "write";
        /// The peer closed or shut down its writing side.
        CLOSED = 4, "closed";
        /// The event's timeout expired.
        TIMEOUT = 8, "timeout";
        /// The signal the event watches was delivered ([`Fired::count`] says how often).
        SIGNAL = 16, "signal";
        /// Activated through a [`Notifier`](crate::Notifier) wake-up.
        USER = 32, "user";
    }
}

impl From<Interest> for Ready {
    fn from(i: Interest) -> Ready {
        Ready(i.0)
    }
}

impl Ready {
    /// The IO part of this readiness, as an [`Interest`].
    pub const fn interest(self) -> Interest {
        Interest(self.0 & 7)
    }
}

/// The name a host gives to something that can become ready: a file descriptor, a `SOCKET`, a
/// smoltcp socket handle. Opaque to the core.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SourceKey(pub usize);

impl From<usize> for SourceKey {
    fn from(k: usize) -> Self {
        SourceKey(k)
    }
}

/// What an [`Event`] waits for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Kind {
    /// Readiness of a source.
    Io {
        /// The source.
        key: SourceKey,
        /// What to watch on it.
        interest: Interest,
    },
    /// Only its timeout (or a manual activation).
    Timer,
    /// A signal, by number (`SIGINT` is 2 on every platform levent supports).
    Signal(i32),
    /// Nothing but manual activation and [`Notifier`](crate::Notifier) wake-ups.
    User,
}

/// The description of an event, built with `const` constructors and passed to
/// [`Engine::create`](crate::Engine::create) (libevent's `event_new`).
///
/// ```
/// use levent_core::{Event, Interest, SourceKey};
/// let ev = Event::read(SourceKey(3)).persist().priority(0);
/// assert!(ev.is_persistent());
/// let both = Event::io(SourceKey(3), Interest::READ | Interest::WRITE).edge();
/// assert!(both.is_edge());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Event {
    pub(crate) kind: Kind,
    pub(crate) persist: bool,
    pub(crate) edge: bool,
    pub(crate) priority: Option<u8>,
}

impl Event {
    const fn of(kind: Kind) -> Self {
        Event {
            kind,
            persist: false,
            edge: false,
            priority: None,
        }
    }
    /// Readiness of `key` for `interest`.
    pub const fn io(key: SourceKey, interest: Interest) -> Self {
        Self::of(Kind::Io { key, interest })
    }
    /// `key` becoming readable (or reaching end of file).
    pub const fn read(key: SourceKey) -> Self {
        Self::io(key, Interest::READ)
    }
    /// `key` becoming writable.
    pub const fn write(key: SourceKey) -> Self {
        Self::io(key, Interest::WRITE)
    }
    /// A pure timer, fired by its timeout.
    pub const fn timer() -> Self {
        Self::of(Kind::Timer)
    }
    /// Delivery of signal `signo`.
    pub const fn signal(signo: i32) -> Self {
        Self::of(Kind::Signal(signo))
    }
    /// A user event, fired only by [`activate`](crate::Engine::activate) or a
    /// [`Notifier`](crate::Notifier).
    pub const fn user() -> Self {
        Self::of(Kind::User)
    }
    /// Stay pending after firing (libevent's `EV_PERSIST`). A persistent timeout re-arms itself
    /// from its scheduled deadline.
    pub const fn persist(mut self) -> Self {
        self.persist = true;
        self
    }
    /// Edge-triggered readiness (libevent's `EV_ET`): reported once per change, not while it
    /// lasts. All events on one source must agree.
    pub const fn edge(mut self) -> Self {
        self.edge = true;
        self
    }
    /// Run at priority `p` (0 is the most urgent) instead of the engine's middle priority.
    pub const fn priority(mut self, p: u8) -> Self {
        self.priority = Some(p);
        self
    }
    /// What the event waits for.
    pub const fn kind(&self) -> Kind {
        self.kind
    }
    /// Whether it stays pending after firing.
    pub const fn is_persistent(&self) -> bool {
        self.persist
    }
    /// Whether it is edge-triggered.
    pub const fn is_edge(&self) -> bool {
        self.edge
    }
}

/// One fired event, taken out of the engine most urgent first.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Fired<T> {
    /// Which event.
    pub id: EventId,
    /// What happened.
    pub ready: Ready,
    /// How many deliveries this firing stands for: the number of signals coalesced into it, 1
    /// otherwise.
    pub count: u32,
    /// The datum given when the event was created.
    pub datum: T,
}

/// What [`Engine::pending`](crate::Engine::pending) reports about an event (libevent's
/// `event_pending`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Pending {
    /// What the event waits for while added (its interest, [`Ready::SIGNAL`], [`Ready::USER`],
    /// and [`Ready::TIMEOUT`] while a timeout is armed), plus what it has been activated with but
    /// not yet delivered.
    pub ready: Ready,
    /// When its timeout expires, if one is armed.
    pub deadline: Option<Tick>,
    /// Whether it is added (waiting), as opposed to created but idle.
    pub added: bool,
    /// Whether it is activated and waiting to be delivered.
    pub active: bool,
}
