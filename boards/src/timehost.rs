//! [`TimeHost`]: a board host without a network: timers, priorities and Notifier wake-ups.

use crate::wake;
use levent_core::{Attached, Change, Clock, Feed, Host, HostError, NotifierSlot, Tick, Turn, Wait};

/// A host for an engine that needs no network: timers, user events, and
/// [`Notifier`](levent_core::Notifier) wake-ups from interrupt handlers. Like
/// [`NetHost`](crate::NetHost) it never sleeps in a turn; run it with [`next`](crate::next) in an
/// embassy task (or move a manual clock with [`set_now`](Self::set_now) in a simulation).
///
/// IO events cannot fire here: their registrations are accepted and ignored.
///
/// ```
/// use core::time::Duration;
/// use levent_core::{Clock, Engine, Event, Exit, Host, Platform};
/// use levent_embassy::TimeHost;
///
/// let mut engine: Engine<u8, 4, 1, 1> = Engine::new(Platform::manual(1000));
/// let mut host = TimeHost::new(Clock::manual(1000));
/// engine.start(Event::timer(), 1, Some(Duration::from_millis(5))).unwrap();
/// assert_eq!(engine.next(&mut host).unwrap(), None); // yielded: sleep until `wake_at`
/// assert_eq!((engine.last_exit(), host.wake_at()), (Some(Exit::Done), Some(5)));
/// host.set_now(5);
/// assert_eq!(engine.next(&mut host).unwrap().map(|f| f.datum), Some(1));
/// ```
pub struct TimeHost {
    /// First, so it is dropped first: the waker is cleared before the slot is given back.
    notifier: NotifierSlot,
    clock: Clock,
    now: Tick,
    slot: Option<usize>,
    deadline: Option<Tick>,
}

impl TimeHost {
    /// A host on `clock`: [`CLOCK`](crate::CLOCK) on a board, a manual clock in a simulation.
    pub fn new(clock: Clock) -> Self {
        TimeHost {
            notifier: NotifierSlot::default(),
            clock,
            now: clock.read().unwrap_or(0),
            slot: None,
            deadline: None,
        }
    }

    /// The time of the last turn.
    pub fn now(&self) -> Tick {
        self.now
    }

    /// Move a manual clock to `now` (never back).
    pub fn set_now(&mut self, now: Tick) {
        self.now = self.now.max(now);
    }

    /// The clock this host reads.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Read the clock (a manual clock keeps what [`set_now`](Self::set_now) gave it).
    pub(crate) fn read_clock(&mut self) {
        if let Some(t) = self.clock.read() {
            self.set_now(t);
        }
    }

    /// The start of a turn's wait: feed the ids the notifier queued; the turn does not yield
    /// when that activated anything.
    pub(crate) fn wake_ups(&mut self, wait: Wait, feed: &mut dyn Feed) -> Wait {
        if self.notifier.drain(feed) > 0 {
            Wait::No
        } else {
            wait
        }
    }

    /// The end of a turn's wait: remember the engine's deadline for [`Host::wake_at`], and yield
    /// when the engine wanted to wait (the caller sleeps until then or a notification).
    pub(crate) fn yield_for(&mut self, wait: Wait) -> Turn {
        self.deadline = match wait {
            Wait::Until(t) => Some(t),
            Wait::No | Wait::Forever => None,
        };
        if wait == Wait::No {
            Turn::Waited
        } else {
            Turn::Yielded
        }
    }
}

impl Drop for TimeHost {
    fn drop(&mut self) {
        self.notifier = NotifierSlot::default();
        if let Some(slot) = self.slot.take() {
            wake::release(slot);
        }
    }
}

impl Host for TimeHost {
    fn clock(&self) -> Option<Clock> {
        Some(self.clock)
    }

    /// There are no sources here: registrations are accepted and ignored.
    fn apply(&mut self, _: Change) -> Result<(), HostError> {
        Ok(())
    }

    fn wait(&mut self, wait: Wait, feed: &mut dyn Feed) -> Result<Turn, HostError> {
        let wait = self.wake_ups(wait, feed);
        self.read_clock();
        Ok(self.yield_for(wait))
    }

    fn now(&mut self) -> Tick {
        self.now
    }

    /// Feed `notifier`'s ids at every turn and let it wake the task running [`next`](crate::next).
    /// Fails with [`HostError::Capacity`] when [`MAX_RUNNERS`](crate::MAX_RUNNERS) hosts already
    /// have a notifier attached.
    fn attach(&mut self, notifier: Attached) -> Result<(), HostError> {
        let slot = match self.slot {
            Some(s) => s,
            None => wake::claim().ok_or(HostError::Capacity)?,
        };
        self.slot = Some(slot);
        self.notifier.install(notifier, Some(wake::waker(slot)));
        Ok(())
    }

    /// The engine's deadline after a turn yielded, or `None` (only a notification can make
    /// something happen).
    fn wake_at(&mut self) -> Option<Tick> {
        self.deadline
    }

    fn register_waker(&mut self, waker: &core::task::Waker) {
        if let Some(slot) = self.slot {
            wake::register(slot, waker);
        }
    }
}
