//! Ticks on a board: embassy's clock as levent's [`Platform`], and the conversions between engine
//! ticks and smoltcp's microsecond [`Instant`](smoltcp::time::Instant) (engine ticks become
//! embassy's with [`Clock::ticks_in`]).

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
    }
}
