//! One small error type per operation. Every failing call changes nothing.

use crate::host::HostError;
use core::fmt;

/// An [`EventId`](crate::EventId) that names no event of this engine.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum IdError {
    /// The event was freed (the slot may have been reused since).
    Stale,
    /// The id was made by another engine.
    Foreign,
}

/// Why [`create`](crate::Engine::create) (and `start`, `once`) refused an event. The datum is
/// handed back in [`Rejected`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CreateError {
    /// Every event slot is in use.
    Full,
    /// The priority is not below the number of priorities in use.
    BadPriority,
    /// The platform has no such signal.
    BadSignal,
    /// An IO event with an empty interest (nothing could ever fire it).
    NoInterest,
    /// Adding the new event failed (only from `start` and `once`).
    Add(AddError),
}

/// A refused event, with the datum it would have carried.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Rejected<T> {
    /// Why.
    pub error: CreateError,
    /// The datum, handed back.
    pub datum: T,
}

/// Why [`add`](crate::Engine::add) failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AddError {
    /// The id names no event.
    Id(IdError),
    /// `now + timeout` does not fit in the tick counter.
    Overflow,
    /// The event's source is new and every source slot is in use.
    SourcesFull,
    /// The source already has events of the other triggering mode (edge vs level).
    EdgeMismatch,
}

/// Why [`set_priority`](crate::Engine::set_priority) or
/// [`set_priorities`](crate::Engine::set_priorities) failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PriorityError {
    /// The id names no event.
    Id(IdError),
    /// Out of range: a priority not below the number in use, or a number of priorities that is
    /// zero or above the engine's capacity.
    OutOfRange,
    /// The event (or, for `set_priorities`, some event) is active: its queue is already chosen.
    Active,
}

/// Why a loop could not run.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LoopError {
    /// The host failed.
    Host(HostError),
    /// The host's clock ticks at another rate than the engine's platform (an engine made with
    /// `Platform::manual` on a real host, or a host on another clock).
    ClockMismatch,
}

impl From<IdError> for AddError {
    fn from(e: IdError) -> Self {
        AddError::Id(e)
    }
}

impl From<IdError> for PriorityError {
    fn from(e: IdError) -> Self {
        PriorityError::Id(e)
    }
}

impl From<HostError> for LoopError {
    fn from(e: HostError) -> Self {
        LoopError::Host(e)
    }
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdError::Stale => "event id is stale: the event was freed",
            IdError::Foreign => "event id belongs to another engine",
        })
    }
}

impl fmt::Display for CreateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CreateError::Full => f.write_str("every event slot is in use"),
            CreateError::BadPriority => f.write_str("priority out of range"),
            CreateError::BadSignal => f.write_str("no such signal on this platform"),
            CreateError::NoInterest => f.write_str("IO event with an empty interest"),
            CreateError::Add(e) => write!(f, "cannot add the new event: {e}"),
        }
    }
}

impl<T> fmt::Display for Rejected<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl fmt::Display for AddError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddError::Id(e) => fmt::Display::fmt(e, f),
            AddError::Overflow => f.write_str("timeout overflows the tick counter"),
            AddError::SourcesFull => f.write_str("every source slot is in use"),
            AddError::EdgeMismatch => {
                f.write_str("source already watched with the other triggering mode")
            }
        }
    }
}

impl fmt::Display for PriorityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PriorityError::Id(e) => fmt::Display::fmt(e, f),
            PriorityError::OutOfRange => f.write_str("priority out of range"),
            PriorityError::Active => f.write_str("event is active"),
        }
    }
}

impl fmt::Display for LoopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoopError::Host(e) => fmt::Display::fmt(e, f),
            LoopError::ClockMismatch => f.write_str(
                "the engine's clock is not the host's: make the engine with the host's platform",
            ),
        }
    }
}

impl core::error::Error for IdError {}
impl core::error::Error for CreateError {}
impl<T: fmt::Debug> core::error::Error for Rejected<T> {}
impl core::error::Error for AddError {}
impl core::error::Error for PriorityError {}
impl core::error::Error for LoopError {}
