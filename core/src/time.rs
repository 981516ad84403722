//! Ticks, clocks and the conversion from [`Duration`].
//!
//! The core never reads a clock by itself while a host is driving it: every host turn passes the
//! current [`Tick`] in through [`Dispatcher::advance`](crate::Dispatcher::advance). A [`Clock`]
//! tells the engine how long a tick is, and optionally how to read the time when no turn is in
//! progress (so that a timer added before the loop starts counts from the moment it was added).

use core::time::Duration;

/// A point in time, counted in host ticks from an origin the host chooses.
///
/// Ticks are monotonic and never wrap in practice (a nanosecond tick lasts 584 years).
pub type Tick = u64;

/// The tick rate of a host and, optionally, a way to read its current time.
///
/// ```
/// use core::time::Duration;
/// use levent_core::Clock;
///
/// let clock = Clock::manual(1_000); // millisecond ticks, time only moves when a host says so
/// assert_eq!(clock.ticks(Duration::from_micros(1_500)), Ok(2)); // rounded up, never early
/// assert_eq!(clock.duration(250), Duration::from_millis(250));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    hz: u64,
    read: Option<fn() -> Tick>,
}

/// A timeout too large for the tick counter: `now + timeout` would not fit in a [`Tick`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Overflow;

impl core::fmt::Display for Overflow {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("timeout overflows the tick counter")
    }
}

impl core::error::Error for Overflow {}

impl Clock {
    /// A clock of `hz` ticks per second that can be read with `read` (a monotonic source).
    ///
    /// A rate of zero is treated as one tick per second.
    pub const fn new(hz: u64, read: fn() -> Tick) -> Self {
        Clock {
            hz: if hz == 0 { 1 } else { hz },
            read: Some(read),
        }
    }

    /// A clock of `hz` ticks per second whose time only moves when a host advances it: virtual
    /// time for simulations and tests.
    pub const fn manual(hz: u64) -> Self {
        Clock {
            hz: if hz == 0 { 1 } else { hz },
            read: None,
        }
    }

    /// Whether `other` ticks at the same rate and can be read the same way (both readable or
    /// both manual): what a host checks before it runs an engine.
    pub fn same_as(&self, other: &Clock) -> bool {
        self.hz == other.hz && self.read.is_some() == other.read.is_some()
    }

    /// Whether this clock can be read (it is not [manual](Clock::manual)).
    pub const fn readable(&self) -> bool {
        self.read.is_some()
    }

    /// Ticks per second.
    pub const fn hz(&self) -> u64 {
        self.hz
    }

    /// The current time, if this clock can be read (`None` for a [manual](Clock::manual) clock).
    pub fn read(&self) -> Option<Tick> {
        self.read.map(|f| f())
    }

    /// How many ticks `d` lasts, rounded up so that a timeout never ends early.
    ///
    /// Fails with [`Overflow`] when the result does not fit in a [`Tick`].
    pub fn ticks(&self, d: Duration) -> Result<Tick, Overflow> {
        let nanos = d.as_nanos();
        let ticks = nanos
            .checked_mul(u128::from(self.hz))
            .ok_or(Overflow)?
            .div_ceil(1_000_000_000);
        Tick::try_from(ticks).map_err(|_| Overflow)
    }

    /// The tick `d` after `now`, or [`Overflow`].
    pub fn after(&self, now: Tick, d: Duration) -> Result<Tick, Overflow> {
        now.checked_add(self.ticks(d)?).ok_or(Overflow)
    }

    /// How long `ticks` lasts (saturating at [`Duration::MAX`]).
    pub fn duration(&self, ticks: Tick) -> Duration {
        let nanos = u128::from(ticks) * 1_000_000_000 / u128::from(self.hz);
        let secs = nanos / 1_000_000_000;
        match u64::try_from(secs) {
            Ok(secs) => Duration::new(secs, (nanos % 1_000_000_000) as u32),
            Err(_) => Duration::MAX,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversion_rounds_up_and_checks_overflow() {
        let ms = Clock::manual(1000);
        assert_eq!(ms.ticks(Duration::ZERO), Ok(0));
        assert_eq!(ms.ticks(Duration::from_nanos(1)), Ok(1));
        assert_eq!(ms.ticks(Duration::from_millis(7)), Ok(7));
        assert_eq!(ms.ticks(Duration::MAX), Err(Overflow));
        assert_eq!(
            ms.after(u64::MAX - 3, Duration::from_millis(4)),
            Err(Overflow)
        );
        assert_eq!(
            ms.after(u64::MAX - 3, Duration::from_millis(3)),
            Ok(u64::MAX)
        );
        let ns = Clock::manual(1_000_000_000);
        assert_eq!(
            ns.ticks(Duration::from_secs(u64::MAX / 1_000_000_000)),
            Ok(18_446_744_073_000_000_000)
        );
        assert_eq!(ns.duration(u64::MAX).as_secs(), u64::MAX / 1_000_000_000);
        assert_eq!(Clock::manual(0).hz(), 1);
    }
}
