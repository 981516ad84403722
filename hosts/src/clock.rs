//! The hosts' clock: nanoseconds of a monotonic clock since its first reading in this process.

use levent_core::{Clock, Tick, Wait};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static ORIGIN: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds since the first reading in this process (monotonic; `CLOCK_MONOTONIC` on Unix,
/// `QueryPerformanceCounter` on Windows, through [`Instant`]).
pub fn now() -> Tick {
    let origin = *ORIGIN.get_or_init(Instant::now);
    u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Nanosecond ticks read with [`now`].
pub const CLOCK: Clock = Clock::new(1_000_000_000, now);

/// How long to block for `wait`, given the current time: `None` blocks without a deadline.
pub(crate) fn remaining(wait: Wait, now: Tick) -> Option<Duration> {
    match wait {
        Wait::No => Some(Duration::ZERO),
        Wait::Until(t) => Some(Duration::from_nanos(t.saturating_sub(now))),
        Wait::Forever => None,
    }
}
