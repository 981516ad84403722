//! Rate limits (libevent's `bufferevent_set_rate_limit` and rate-limit groups): token buckets
//! that bound how fast a [`Connection`](super::Connection) reads and writes.
//!
//! A [`RateLimit`] says how many bytes a connection may read and write per tick of a given
//! length, and how many it may save up (the burst). A connection with a limit takes from its
//! bucket for every byte it reads or writes; when the bucket is empty it stops reading (or
//! writing) and arms a timer of its own for the next tick, when the bucket refills: no busy loop,
//! and the kernel's buffers push back on the peer meanwhile. A [`RateGroup`] is one budget shared
//! by many connections (every connection of a [`ConnTable`](super::ConnTable) with
//! [`TableConfig::group_rate`](super::TableConfig::group_rate)); each member takes at most a fair
//! share of what the group has left in a tick, so no connection starves the others.
//!
//! Buckets refill at tick boundaries of the engine's clock (multiples of the tick length since
//! time zero), so every member of a group sees the same boundaries, and the amount moved over a
//! span of time is exact to one tick's worth.
//!
//! ```
//! use core::time::Duration;
//! use levent_core::conn::RateLimit;
//!
//! // 64 KiB/s down, unlimited up, refilled ten times a second.
//! let limit = RateLimit::bytes_per_second(64 * 1024, RateLimit::UNLIMITED);
//! assert_eq!((limit.read_rate, limit.tick), (6553, Duration::from_millis(100)));
//! assert!(limit.write_rate == RateLimit::UNLIMITED);
//! ```

use crate::error::{AddError, CreateError};
use crate::event::{Event, EventId};
use crate::events::Events;
use crate::host::Platform;
use crate::time::Tick;
use core::time::Duration;

/// How fast a connection (or a [`RateGroup`]) may read and write: libevent's
/// `ev_token_bucket_cfg`. Rates are in bytes per `tick`; a bucket holds at most its burst.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RateLimit {
    /// Bytes that may be read per tick ([`UNLIMITED`](Self::UNLIMITED) for no limit).
    pub read_rate: u32,
    /// Bytes of reading a bucket may save up (at least `read_rate` makes sense).
    pub read_burst: u32,
    /// Bytes that may be written per tick ([`UNLIMITED`](Self::UNLIMITED) for no limit).
    pub write_rate: u32,
    /// Bytes of writing a bucket may save up.
    pub write_burst: u32,
    /// How often the buckets refill (rounded up to the engine's clock; at least one tick of it).
    pub tick: Duration,
}

impl RateLimit {
    /// A rate (or burst) that is no limit at all.
    pub const UNLIMITED: u32 = u32::MAX;

    /// No limit in either direction: what a group member with no limit of its own has.
    pub const NONE: RateLimit = RateLimit {
        read_rate: Self::UNLIMITED,
        read_burst: Self::UNLIMITED,
        write_rate: Self::UNLIMITED,
        write_burst: Self::UNLIMITED,
        tick: Duration::from_millis(100),
    };

    /// `read` and `write` bytes per second ([`UNLIMITED`](Self::UNLIMITED) for no limit), refilled
    /// every 100 ms with a burst of one refill: a connection never moves more than a tenth of a
    /// second's worth at once. Rates below 10 bytes per second round up to one byte per refill.
    ///
    /// ```
    /// use levent_core::conn::RateLimit;
    ///
    /// let limit = RateLimit::bytes_per_second(1_000_000, 250_000);
    /// assert_eq!((limit.read_rate, limit.read_burst), (100_000, 100_000));
    /// assert_eq!((limit.write_rate, limit.write_burst), (25_000, 25_000));
    /// ```
    pub const fn bytes_per_second(read: u32, write: u32) -> RateLimit {
        const fn per_tick(rate: u32) -> u32 {
            if rate == RateLimit::UNLIMITED {
                rate
            } else if rate < 10 {
                1
            } else {
                rate / 10
            }
        }
        RateLimit {
            read_rate: per_tick(read),
            read_burst: per_tick(read),
            write_rate: per_tick(write),
            write_burst: per_tick(write),
            tick: Duration::from_millis(100),
        }
    }

    /// Whether this limits nothing.
    ///
    /// ```
    /// use levent_core::conn::RateLimit;
    ///
    /// assert!(RateLimit::NONE.is_none());
    /// assert!(!RateLimit::bytes_per_second(1024, RateLimit::UNLIMITED).is_none());
    /// ```
    pub const fn is_none(&self) -> bool {
        self.read_rate == Self::UNLIMITED && self.write_rate == Self::UNLIMITED
    }
}

/// Which way bytes move.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Dir {
    Read,
    Write,
}

/// A token bucket for both directions, refilled at the tick boundaries of its limit.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct Bucket {
    limit: RateLimit,
    /// The tick length in engine ticks (at least 1).
    tick_len: Tick,
    read: u32,
    write: u32,
    /// The boundary (engine time / `tick_len`) of the last refill.
    epoch: u64,
}

impl Bucket {
    /// A full bucket on `platform`'s clock, as of engine time `now`.
    pub(crate) fn new(limit: RateLimit, platform: &Platform, now: Tick) -> Bucket {
        let tick_len = platform.clock.ticks(limit.tick).unwrap_or(Tick::MAX).max(1);
        Bucket {
            limit,
            tick_len,
            read: limit.read_burst.max(limit.read_rate),
            write: limit.write_burst.max(limit.write_rate),
            epoch: now / tick_len,
        }
    }

    pub(crate) fn limit(&self) -> RateLimit {
        self.limit
    }

    fn refill(&mut self, now: Tick) {
        let epoch = now / self.tick_len;
        let n = epoch.saturating_sub(self.epoch);
        if n == 0 {
            return;
        }
        self.epoch = epoch;
        let add = |tokens: u32, rate: u32, burst: u32| -> u32 {
            let more = u64::from(rate).saturating_mul(n);
            let total = u64::from(tokens).saturating_add(more);
            // A burst below the rate would never let a tick's worth through.
            total.min(u64::from(burst.max(rate))) as u32
        };
        self.read = add(self.read, self.limit.read_rate, self.limit.read_burst);
        self.write = add(self.write, self.limit.write_rate, self.limit.write_burst);
    }

    /// What may move in direction `dir` now (`usize::MAX` for no limit).
    pub(crate) fn available(&mut self, dir: Dir, now: Tick) -> usize {
        let rate = match dir {
            Dir::Read => self.limit.read_rate,
            Dir::Write => self.limit.write_rate,
        };
        if rate == RateLimit::UNLIMITED {
            return usize::MAX;
        }
        self.refill(now);
        match dir {
            Dir::Read => self.read as usize,
            Dir::Write => self.write as usize,
        }
    }

    /// Take `n` bytes' worth out of direction `dir`.
    pub(crate) fn charge(&mut self, dir: Dir, n: usize) {
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        match dir {
            Dir::Read if self.limit.read_rate != RateLimit::UNLIMITED => {
                self.read = self.read.saturating_sub(n);
            }
            Dir::Write if self.limit.write_rate != RateLimit::UNLIMITED => {
                self.write = self.write.saturating_sub(n);
            }
            _ => {}
        }
    }

    /// The engine time of the next refill after `now`.
    pub(crate) fn next_refill(&self, now: Tick) -> Tick {
        (now / self.tick_len)
            .saturating_add(1)
            .saturating_mul(self.tick_len)
    }
}

/// One budget shared by many connections (libevent's `bufferevent_rate_limit_group`): what the
/// connections of a [`ConnTable`](super::ConnTable) with
/// [`TableConfig::group_rate`](super::TableConfig::group_rate) read and write together. See the
/// [module documentation](self).
#[derive(Clone, Copy, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RateGroup {
    bucket: Bucket,
    members: usize,
    min_share: u32,
    read_total: u64,
    written_total: u64,
}

impl RateGroup {
    /// The smallest share of a tick's budget a member takes when there is that much left: small
    /// enough to keep many members fair, large enough to keep reads and writes worth their
    /// system call (libevent's default, too).
    pub const MIN_SHARE: u32 = 64;

    /// A group of no connections yet, with a full budget, on `platform`'s clock as of engine time
    /// `now`.
    ///
    /// ```
    /// use levent_core::Platform;
    /// use levent_core::conn::{RateGroup, RateLimit};
    ///
    /// let group = RateGroup::new(RateLimit::bytes_per_second(1_000_000, 1_000_000),
    ///     &Platform::manual(1000), 0);
    /// assert_eq!((group.members(), group.totals()), (0, (0, 0)));
    /// ```
    pub fn new(limit: RateLimit, platform: &Platform, now: Tick) -> RateGroup {
        RateGroup {
            bucket: Bucket::new(limit, platform, now),
            members: 0,
            min_share: Self::MIN_SHARE,
            read_total: 0,
            written_total: 0,
        }
    }

    /// The group's limit.
    ///
    /// ```
    /// use levent_core::Platform;
    /// use levent_core::conn::{RateGroup, RateLimit};
    ///
    /// let limit = RateLimit::bytes_per_second(4096, 4096);
    /// assert_eq!(RateGroup::new(limit, &Platform::manual(1000), 0).limit(), limit);
    /// ```
    pub fn limit(&self) -> RateLimit {
        self.bucket.limit()
    }

    /// How many connections share the budget.
    ///
    /// ```
    /// use levent_core::Platform;
    /// use levent_core::conn::{RateGroup, RateLimit};
    ///
    /// let group = RateGroup::new(RateLimit::NONE, &Platform::manual(1000), 0);
    /// assert_eq!(group.members(), 0);
    /// ```
    pub fn members(&self) -> usize {
        self.members
    }

    /// Bytes read and written by the group's members so far (libevent's
    /// `bufferevent_rate_limit_group_get_totals`).
    ///
    /// ```
    /// use levent_core::Platform;
    /// use levent_core::conn::{RateGroup, RateLimit};
    ///
    /// let group = RateGroup::new(RateLimit::NONE, &Platform::manual(1000), 0);
    /// let (read, written) = group.totals();
    /// assert_eq!(read + written, 0);
    /// ```
    pub fn totals(&self) -> (u64, u64) {
        (self.read_total, self.written_total)
    }

    /// Change the smallest share a member takes (libevent's
    /// `bufferevent_rate_limit_group_set_min_share`); at least 1.
    ///
    /// ```
    /// use levent_core::Platform;
    /// use levent_core::conn::{RateGroup, RateLimit};
    ///
    /// let mut group = RateGroup::new(RateLimit::NONE, &Platform::manual(1000), 0);
    /// group.set_min_share(512);
    /// ```
    pub fn set_min_share(&mut self, bytes: u32) {
        self.min_share = bytes.max(1);
    }

    pub(crate) fn join(&mut self) {
        self.members += 1;
    }

    pub(crate) fn leave(&mut self) {
        self.members = self.members.saturating_sub(1);
    }

    /// What one member may move in direction `dir` now: its share of what is left this tick.
    pub(crate) fn share(&mut self, dir: Dir, now: Tick) -> usize {
        let left = self.bucket.available(dir, now);
        if left == usize::MAX || left == 0 {
            return left;
        }
        (left / self.members.max(1))
            .max(self.min_share as usize)
            .min(left)
    }

    pub(crate) fn charge(&mut self, dir: Dir, n: usize) {
        self.bucket.charge(dir, n);
        match dir {
            Dir::Read => self.read_total += n as u64,
            Dir::Write => self.written_total += n as u64,
        }
    }

    pub(crate) fn next_refill(&self, now: Tick) -> Tick {
        self.bucket.next_refill(now)
    }
}

/// A connection's side of rate limiting: its bucket, the timer that wakes it when a bucket it
/// waits for refills, and which directions wait.
pub(crate) struct Limiter {
    bucket: Bucket,
    /// The bucket arithmetic: [`OPS`], which only [`Limiter::new`] names.
    ops: &'static Ops,
    timer: EventId,
    /// The timer is added.
    armed: bool,
    read_starved: bool,
    write_starved: bool,
}

impl core::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Limiter")
            .field("bucket", &self.bucket)
            .field("timer", &self.timer)
            .field("armed", &self.armed)
            .field("read_starved", &self.read_starved)
            .field("write_starved", &self.write_starved)
            .finish()
    }
}

/// What a limited connection computes as it reads and writes, reached through a pointer that
/// only [`Limiter::new`] takes: every connection checks for a limiter, but a program that never
/// limits one links none of this (the buckets' refills, shares and waits).
pub(crate) struct Ops {
    allow: fn(&mut Bucket, Dir, Tick, Option<&mut RateGroup>) -> usize,
    charge: fn(&mut Bucket, Dir, usize, Option<&mut RateGroup>),
    wait: fn(&mut Bucket, Dir, Tick, Option<&mut RateGroup>, &Platform) -> Duration,
}

static OPS: Ops = Ops {
    allow: |bucket, dir, now, group| {
        let own = bucket.available(dir, now);
        match group {
            Some(g) => own.min(g.share(dir, now)),
            None => own,
        }
    },
    charge: |bucket, dir, n, group| {
        bucket.charge(dir, n);
        if let Some(g) = group {
            g.charge(dir, n);
        }
    },
    wait: |bucket, dir, now, group, platform| {
        // The connection's own bucket if that is empty, the group's otherwise.
        let at = match group {
            Some(g) if bucket.available(dir, now) > 0 => g.next_refill(now),
            _ => bucket.next_refill(now),
        };
        platform.clock.duration(at.saturating_sub(now))
    },
};

impl Limiter {
    /// A limiter whose timer carries `datum`, with a full bucket.
    pub(crate) fn new<T: Copy>(
        events: &mut dyn Events<T>,
        limit: RateLimit,
        datum: T,
    ) -> Result<Limiter, CreateError> {
        let timer = events.create(Event::timer(), datum).map_err(|r| r.error)?;
        Ok(Limiter {
            bucket: Bucket::new(limit, &events.platform(), events.now()),
            ops: &OPS,
            timer,
            armed: false,
            read_starved: false,
            write_starved: false,
        })
    }

    /// Start over with `limit`: a full bucket, nothing waiting.
    pub(crate) fn reset<T: Copy>(&mut self, events: &mut dyn Events<T>, limit: RateLimit) {
        self.bucket = Bucket::new(limit, &events.platform(), events.now());
        self.wake(events);
    }

    pub(crate) fn limit(&self) -> RateLimit {
        self.bucket.limit()
    }

    pub(crate) fn timer(&self) -> EventId {
        self.timer
    }

    /// Whether direction `dir` waits for tokens.
    pub(crate) fn starved(&self, dir: Dir) -> bool {
        match dir {
            Dir::Read => self.read_starved,
            Dir::Write => self.write_starved,
        }
    }

    /// What may move in direction `dir` now: the least of this connection's bucket and its share
    /// of the group's.
    pub(crate) fn allow(&mut self, dir: Dir, now: Tick, group: Option<&mut RateGroup>) -> usize {
        (self.ops.allow)(&mut self.bucket, dir, now, group)
    }

    /// `n` bytes moved in direction `dir`.
    pub(crate) fn charge(&mut self, dir: Dir, n: usize, group: Option<&mut RateGroup>) {
        (self.ops.charge)(&mut self.bucket, dir, n, group);
    }

    /// Direction `dir` has no tokens: stop it until the bucket it waits for refills, and arm the
    /// timer for then.
    pub(crate) fn starve<T: Copy>(
        &mut self,
        events: &mut dyn Events<T>,
        dir: Dir,
        group: Option<&mut RateGroup>,
    ) {
        match dir {
            Dir::Read => self.read_starved = true,
            Dir::Write => self.write_starved = true,
        }
        if self.armed {
            return;
        }
        let wait = (self.ops.wait)(
            &mut self.bucket,
            dir,
            events.now(),
            group,
            &events.platform(),
        );
        self.armed = events.add(self.timer, Some(wait)).is_ok();
    }

    /// The timer fired (or the limit changed): both directions may try again.
    pub(crate) fn wake<T: Copy>(&mut self, events: &mut dyn Events<T>) {
        if self.armed {
            let _ = events.del(self.timer);
        }
        self.armed = false;
        self.read_starved = false;
        self.write_starved = false;
    }

    /// The timer fired.
    pub(crate) fn fired(&mut self) {
        self.armed = false;
        self.read_starved = false;
        self.write_starved = false;
    }

    /// Free the timer.
    pub(crate) fn free<T: Copy>(self, events: &mut dyn Events<T>) {
        let _ = events.free(self.timer);
    }
}

/// The datum of an event the connection owns, for its timer.
pub(crate) fn datum_of<T: Copy>(events: &dyn Events<T>, id: EventId) -> Result<T, CreateError> {
    events
        .datum(id)
        .map_err(|e| CreateError::Add(AddError::from(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(rate: u32, burst: u32) -> Bucket {
        let limit = RateLimit {
            read_rate: rate,
            read_burst: burst,
            write_rate: RateLimit::UNLIMITED,
            write_burst: RateLimit::UNLIMITED,
            tick: Duration::from_millis(100),
        };
        Bucket::new(limit, &Platform::manual(1000), 0)
    }

    #[test]
    fn a_bucket_refills_at_tick_boundaries_up_to_its_burst() {
        let mut b = bucket(100, 250);
        assert_eq!(b.available(Dir::Read, 0), 250);
        b.charge(Dir::Read, 250);
        assert_eq!(b.available(Dir::Read, 99), 0);
        assert_eq!(b.available(Dir::Read, 100), 100);
        assert_eq!(
            b.available(Dir::Read, 450),
            250,
            "four ticks, capped at the burst"
        );
        assert_eq!(b.next_refill(450), 500);
        assert_eq!(b.available(Dir::Write, 450), usize::MAX);
    }

    #[test]
    fn a_group_hands_out_fair_shares_but_never_more_than_is_left() {
        let limit = RateLimit::bytes_per_second(100_000, 100_000);
        let mut g = RateGroup::new(limit, &Platform::manual(1000), 0);
        for _ in 0..10 {
            g.join();
        }
        assert_eq!(g.share(Dir::Read, 0), 1_000);
        g.charge(Dir::Read, 9_990);
        assert_eq!(
            g.share(Dir::Read, 0),
            10,
            "less than the minimum share is left"
        );
        g.charge(Dir::Read, 10);
        assert_eq!(g.share(Dir::Read, 50), 0);
        assert_eq!(g.share(Dir::Read, 100), 1_000);
        assert_eq!(g.totals(), (10_000, 0));
    }
}
