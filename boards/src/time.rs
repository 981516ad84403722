//! Ticks on a board: embassy's clock as levent's [`Platform`], and the conversions between engine
//! ticks, smoltcp's microsecond [`Instant`](smoltcp::time::Instant) and embassy's ticks.

use core::num::NonZeroU64;
use core::time::Duration;
use levent_core::{Clock, Platform, Signals, Tick};

/// The platform of an engine on a board: embassy's tick rate (`embassy_time::TICK_HZ`, chosen
/// with embassy-time's `tick-hz-*` features), read from `embassy_time::Instant::now()`, and no
/// signals (interrupts reach the engine through a [`Notifier`](levent_core::Notifier)).
///
/// Reading it needs an embassy time driver linked into the program, as every embassy program
/// has.
///
/// ```no_run
/// use levent_core::Engine;
/// let engine: Engine<u8, 8, 4, 2> = Engine::new(levent_embassy::PLATFORM);
/// # drop(engine);
/// ```
pub const PLATFORM: Platform = Platform {
    clock: CLOCK,
    signals: Signals::NONE,
};

/// Embassy's clock: `embassy_time::TICK_HZ` ticks per second, read from
/// `embassy_time::Instant::now()`.
pub const CLOCK: Clock = Clock::new(embassy_time::TICK_HZ, embassy_now);

fn embassy_now() -> Tick {
    embassy_time::Instant::now().as_ticks()
}

/// Ticks of `clock` to smoltcp's time (microseconds), rounded down: smoltcp then never sees a
/// time that has not come yet.
#[inline(never)]
pub(crate) fn to_smoltcp(t: Tick, clock: &Clock) -> smoltcp::time::Instant {
    let d = clock.duration(t);
    let micros = d
        .as_secs()
        .checked_mul(1_000_000)
        .and_then(|m| m.checked_add(u64::from(d.subsec_micros())))
        .and_then(|m| i64::try_from(m).ok());
    smoltcp::time::Instant::from_micros(micros.unwrap_or(i64::MAX))
}

/// smoltcp's time to ticks of `clock`, rounded up: a wake-up is never early.
pub(crate) fn from_smoltcp(i: smoltcp::time::Instant, clock: &Clock) -> Tick {
    let micros = u64::try_from(i.total_micros()).unwrap_or(0);
    clock
        .ticks(Duration::from_micros(micros))
        .unwrap_or(Tick::MAX)
}

/// Ticks of a `from` clock to ticks of a `to` clock, rounded up. No 128-bit arithmetic: its
/// division alone is most of a kilobyte of flash on a 32-bit target.
#[inline(never)]
pub(crate) fn convert(t: Tick, from: u64, to: u64) -> Tick {
    if from == to {
        return t;
    }
    let from = NonZeroU64::new(from).unwrap_or(NonZeroU64::MIN);
    // t = q * from + r: q * to ticks exactly, and r * to / from rounded up (r below from).
    let (q, r) = (t / from, t % from);
    let (part, rest) = mul_div_below(r, to.max(1), from);
    q.checked_mul(to.max(1))
        .and_then(|w| w.checked_add(part))
        .and_then(|w| w.checked_add(u64::from(rest != 0)))
        .unwrap_or(Tick::MAX)
}

/// `a * b / c` rounded down and the remainder, for `a` below `c` (so the quotient, below `b`,
/// fits): in 64 bits when the product fits, else one bit of `b` at a time (clocks faster than
/// 4 GHz).
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
    fn conversions_never_wake_early() {
        let (ms, khz32) = (Clock::manual(1_000), Clock::manual(32_768));
        assert_eq!(to_smoltcp(1_500, &ms).total_millis(), 1_500);
        assert_eq!(to_smoltcp(3, &khz32).total_micros(), 91);
        assert_eq!(
            from_smoltcp(smoltcp::time::Instant::from_micros(92), &khz32),
            4
        );
        assert_eq!(
            from_smoltcp(smoltcp::time::Instant::from_micros(-5), &ms),
            0
        );
        assert_eq!(convert(7, 1_000, 1_000), 7);
        assert_eq!(convert(1, 1_000_000, 1_000), 1);
        assert_eq!(convert(1_000, 1_000_000, 1_000), 1);
        assert_eq!(convert(1_001, 1_000_000, 1_000), 2);
        // Beyond 64 bits in the middle: exact all the same.
        let (fast, faster) = (1 << 40, (1 << 41) + 1);
        assert_eq!(convert(u64::MAX, 1, 2), u64::MAX);
        for (t, from, to) in [
            (12_345, 32_768, 1_000),
            (u64::MAX / 4, fast, faster),
            (u64::MAX / 4, faster, fast),
            (u64::MAX, fast, faster),
            (999, 7, 3),
        ] {
            let wide = (u128::from(t) * u128::from(to)).div_ceil(u128::from(from));
            assert_eq!(
                convert(t, from, to),
                u64::try_from(wide).unwrap_or(u64::MAX)
            );
        }
    }
}
