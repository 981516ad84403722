//! The hosts' clock: nanoseconds of a monotonic clock.

use levent_core::{Clock, Tick, Wait};
#[cfg(not(unix))]
use std::sync::OnceLock;
use std::time::Duration;
#[cfg(not(unix))]
use std::time::Instant;

#[cfg(not(unix))]
static ORIGIN: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds of `CLOCK_MONOTONIC` (on Unix: since boot, read straight from the vDSO).
#[cfg(unix)]
pub fn now() -> Tick {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for clock_gettime to fill; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// Nanoseconds since the first reading in this process (monotonic, through [`Instant`], which is
/// `QueryPerformanceCounter` on Windows).
#[cfg(not(unix))]
pub fn now() -> Tick {
    let origin = *ORIGIN.get_or_init(Instant::now);
    u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Nanosecond ticks read with [`now`].
pub const CLOCK: Clock = Clock::new(1_000_000_000, now);

/// How long to block for `wait`: `None` blocks without a deadline. The clock is read only when
/// there is a deadline.
pub(crate) fn remaining(wait: Wait) -> Option<Duration> {
    match wait {
        Wait::No => Some(Duration::ZERO),
        Wait::Until(t) => Some(Duration::from_nanos(t.saturating_sub(now()))),
        Wait::Forever => None,
    }
}
