//! Ticks, clocks and the conversion from [`Duration`].
//!
//! The core never reads a clock by itself while a host is driving it: every host turn passes the
//! current [`Tick`] in through [`Dispatcher::advance`](crate::Dispatcher::advance). A [`Clock`]
//! tells the engine how long a tick is, and optionally how to read the time when no turn is in
//! progress (so that a timer added before the loop starts counts from the moment it was added).

use core::num::NonZeroU64;
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
    hz: NonZeroU64,
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

const NANOS: NonZeroU64 = NonZeroU64::new(1_000_000_000).unwrap();

impl Clock {
    const fn rate(hz: u64) -> NonZeroU64 {
        match NonZeroU64::new(hz) {
            Some(hz) => hz,
            None => NonZeroU64::MIN,
        }
    }

    /// A clock of `hz` ticks per second that can be read with `read` (a monotonic source).
    ///
    /// A rate of zero is treated as one tick per second.
    pub const fn new(hz: u64, read: fn() -> Tick) -> Self {
        Clock {
            hz: Self::rate(hz),
            read: Some(read),
        }
    }

    /// A clock of `hz` ticks per second whose time only moves when a host advances it: virtual
    /// time for simulations and tests.
    pub const fn manual(hz: u64) -> Self {
        Clock {
            hz: Self::rate(hz),
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
        self.hz.get()
    }

    /// The current time, if this clock can be read (`None` for a [manual](Clock::manual) clock).
    pub fn read(&self) -> Option<Tick> {
        self.read.map(|f| f())
    }

    /// How many ticks `d` lasts, rounded up so that a timeout never ends early.
    ///
    /// Fails with [`Overflow`] when the result does not fit in a [`Tick`].
    // One copy, not one inlined into every caller, and no 128-bit arithmetic: a 128-bit division
    // by a constant alone is most of a kilobyte on a 32-bit target.
    #[inline(never)]
    pub fn ticks(&self, d: Duration) -> Result<Tick, Overflow> {
        let whole = d.as_secs().checked_mul(self.hz.get()).ok_or(Overflow)?;
        // The seconds' ticks are exact, so only the nanoseconds round: up to one tick more.
        let (part, rest) = mul_div_below(u64::from(d.subsec_nanos()), self.hz.get(), NANOS);
        whole
            .checked_add(part)
            .and_then(|t| t.checked_add(u64::from(rest != 0)))
            .ok_or(Overflow)
    }

    /// The tick `d` after `now`, or [`Overflow`].
    pub fn after(&self, now: Tick, d: Duration) -> Result<Tick, Overflow> {
        now.checked_add(self.ticks(d)?).ok_or(Overflow)
    }

    /// `t` ticks of this clock in ticks of clock `to`, rounded up so that a wake-up converted
    /// from one clock to the other is never early; [`Tick::MAX`] when the result does not fit.
    ///
    /// ```
    /// use levent_core::Clock;
    ///
    /// let (us, ms) = (Clock::manual(1_000_000), Clock::manual(1_000));
    /// assert_eq!(us.ticks_in(1_500, &ms), 2); // 1.5 ms: the second millisecond
    /// assert_eq!(ms.ticks_in(2, &us), 2_000);
    /// ```
    #[inline(never)]
    pub fn ticks_in(&self, t: Tick, to: &Clock) -> Tick {
        if self.hz == to.hz {
            return t;
        }
        // t = q * hz + r: q seconds of `to` ticks exactly, and r * to.hz / hz rounded up.
        let (q, r) = (t / self.hz, t % self.hz);
        let (part, rest) = mul_div_below(r, to.hz.get(), self.hz);
        q.checked_mul(to.hz.get())
            .and_then(|w| w.checked_add(part))
            .and_then(|w| w.checked_add(u64::from(rest != 0)))
            .unwrap_or(Tick::MAX)
    }

    /// How long `ticks` lasts (saturating at [`Duration::MAX`]).
    #[inline(never)]
    pub fn duration(&self, ticks: Tick) -> Duration {
        let (secs, rest) = (ticks / self.hz, ticks % self.hz);
        // `rest / hz` of a second, below one: below 1e9 nanoseconds.
        let (nanos, _) = mul_div_below(rest, NANOS.get(), self.hz);
        Duration::new(secs, nanos.min(NANOS.get() - 1) as u32)
    }
}

/// `a * b / c` rounded down and the remainder, for `a` below `c` (so the quotient, below `b`,
/// fits): in 64 bits when the product fits, else one bit of `b` at a time. No 128-bit
/// arithmetic, whose division is large on 32-bit targets.
fn mul_div_below(a: u64, b: u64, c: NonZeroU64) -> (u64, u64) {
    if let Some(p) = a.checked_mul(b) {
        return (p / c, p % c);
    }
    let c = c.get();
    // Below c, plus below c: one subtraction of c brings the sum back below c.
    let add = |x: u64, y: u64| match x.overflowing_add(y) {
        (s, false) if s < c => (s, 0),
        (s, _) => (s.wrapping_sub(c), 1),
    };
    // Invariant: a * (the bits of b so far) = q * c + r, with r below c.
    let (mut q, mut r) = (0u64, 0u64);
    for bit in (0..64).rev() {
        let (r2, carry) = add(r, r);
        (q, r) = ((q << 1) | carry, r2);
        if (b >> bit) & 1 == 1 {
            let (r2, carry) = add(r, a);
            (q, r) = (q + carry, r2);
        }
    }
    (q, r)
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

    #[test]
    fn conversions_match_wide_arithmetic() {
        let g = NANOS.get();
        let rates = [1, 3, 1_000, 32_768, 1_000_000, 16_000_000, g, 3 * g + 7];
        let rates = rates.into_iter().chain([1 << 40, u64::MAX / 3, u64::MAX]);
        let spans = [
            0,
            1,
            7,
            999,
            123_456_789,
            1 << 33,
            u64::MAX / 1000,
            u64::MAX - 1,
        ];
        for hz in rates {
            let clock = Clock::manual(hz);
            for &t in &spans {
                let nanos = u128::from(t) * u128::from(g) / u128::from(hz);
                let d = Duration::new(
                    (nanos / u128::from(g)) as u64,
                    (nanos % u128::from(g)) as u32,
                );
                assert_eq!(clock.duration(t), d, "duration({t}) at {hz} Hz");
                for d in [Duration::from_nanos(t), Duration::new(t, 999_999_999)] {
                    let wide = d.as_nanos().checked_mul(u128::from(hz));
                    let wide = wide.map(|n| n.div_ceil(u128::from(g)));
                    let expected = wide.and_then(|t| Tick::try_from(t).ok()).ok_or(Overflow);
                    assert_eq!(clock.ticks(d), expected, "ticks({d:?}) at {hz} Hz");
                }
            }
        }
        for (from, to) in [
            (1_000, 1_000),
            (1_000_000, 1_000),
            (32_768, 1_000),
            (1 << 40, (1 << 41) + 1),
        ] {
            let (from_clock, to_clock) = (Clock::manual(from), Clock::manual(to));
            for t in [0, 1, 999, 1_001, 123_456_789, u64::MAX / 4, u64::MAX] {
                let wide = (u128::from(t) * u128::from(to)).div_ceil(u128::from(from));
                let expected = Tick::try_from(wide).unwrap_or(Tick::MAX);
                assert_eq!(
                    from_clock.ticks_in(t, &to_clock),
                    expected,
                    "{t} at {from} Hz in {to} Hz"
                );
            }
        }
        for (a, b, c) in [
            (u64::MAX - 1, u64::MAX, u64::MAX),
            (1 << 63, 6, 1 << 63 | 1),
            (123_456_789_012, 987_654_321_098, 1_000_000_000_007),
            (0, u64::MAX, 1),
        ] {
            let p = u128::from(a) * u128::from(b);
            let (q, r) = (p / u128::from(c), p % u128::from(c));
            let c = NonZeroU64::new(c).unwrap();
            assert_eq!(
                mul_div_below(a, b, c),
                (q as u64, r as u64),
                "{a} * {b} / {c}"
            );
        }
    }
}
