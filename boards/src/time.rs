//! Ticks on a board: embassy's clock as levent's [`Platform`], and the conversions between engine
//! ticks, smoltcp's microsecond [`Instant`](smoltcp::time::Instant) and embassy's ticks.

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

/// Ticks of a `hz` clock to smoltcp's time (microseconds), rounded down: smoltcp then never sees
/// a time that has not come yet.
pub(crate) fn to_smoltcp(t: Tick, hz: u64) -> smoltcp::time::Instant {
    let micros = u128::from(t) * 1_000_000 / u128::from(hz.max(1));
    smoltcp::time::Instant::from_micros(i64::try_from(micros).unwrap_or(i64::MAX))
}

/// smoltcp's time to ticks of a `hz` clock, rounded up: a wake-up is never early.
pub(crate) fn from_smoltcp(i: smoltcp::time::Instant, hz: u64) -> Tick {
    let micros = u128::try_from(i.total_micros()).unwrap_or(0);
    let ticks = (micros * u128::from(hz.max(1))).div_ceil(1_000_000);
    Tick::try_from(ticks).unwrap_or(Tick::MAX)
}

/// Ticks of a `from` clock to ticks of a `to` clock, rounded up.
pub(crate) fn convert(t: Tick, from: u64, to: u64) -> Tick {
    if from == to {
        return t;
    }
    let ticks = (u128::from(t) * u128::from(to.max(1))).div_ceil(u128::from(from.max(1)));
    Tick::try_from(ticks).unwrap_or(Tick::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_never_wake_early() {
        assert_eq!(to_smoltcp(1_500, 1_000).total_millis(), 1_500);
        assert_eq!(to_smoltcp(3, 32_768).total_micros(), 91);
        assert_eq!(
            from_smoltcp(smoltcp::time::Instant::from_micros(92), 32_768),
            4
        );
        assert_eq!(
            from_smoltcp(smoltcp::time::Instant::from_micros(-5), 1_000),
            0
        );
        assert_eq!(convert(7, 1_000, 1_000), 7);
        assert_eq!(convert(1, 1_000_000, 1_000), 1);
        assert_eq!(convert(1_000, 1_000_000, 1_000), 1);
        assert_eq!(convert(1_001, 1_000_000, 1_000), 2);
    }
}
