//! [`TimeHost`]: a board host without a network: timers, priorities and Notifier wake-ups.

use crate::time::convert;
use levent_core::{Clock, Dispatcher, Host, HostError, NotifySource, Tick, Turn, Wait};

/// A host for an engine that needs no network: timers, user events, and
/// [`Notifier`](levent_core::Notifier) wake-ups from interrupt handlers. Like
/// [`NetHost`](crate::NetHost) it never sleeps in a turn; run it with [`next`](crate::next) in an
/// embassy task (or move a manual clock with [`set_now`](Self::set_now) in a simulation).
///
/// IO events cannot fire here: their registrations are accepted and ignored.
///
/// ```
/// use core::time::Duration;
/// use levent_core::{Clock, Engine, Event, Exit, Platform};
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
    clock: Clock,
    now: Tick,
    notifier: Option<&'static dyn NotifySource>,
    pub(crate) signal: Option<usize>,
    deadline: Option<Tick>,
    pub(crate) yielded: bool,
}

impl TimeHost {
    /// A host on `clock`: [`CLOCK`](crate::CLOCK) on a board, a manual clock in a simulation.
    pub fn new(clock: Clock) -> Self {
        TimeHost {
            clock,
            now: clock.read().unwrap_or(0),
            notifier: None,
            signal: None,
            deadline: None,
            yielded: false,
        }
    }

    /// Drain `notifier` at every turn and let it wake the task running [`next`](crate::next).
    /// Fails with [`HostError::Capacity`] when [`MAX_RUNNERS`](crate::MAX_RUNNERS) hosts already
    /// have a notifier attached.
    pub fn attach(&mut self, notifier: &'static dyn NotifySource) -> Result<(), HostError> {
        let slot = match self.signal {
            Some(s) => s,
            None => crate::runner::claim().ok_or(HostError::Capacity)?,
        };
        self.signal = Some(slot);
        notifier.set_waker(Some(crate::runner::waker(slot)));
        if let Some(old) = self.notifier.replace(notifier)
            && !core::ptr::addr_eq(old, notifier)
        {
            old.set_waker(None);
        }
        Ok(())
    }

    /// The time of the last turn.
    pub fn now(&self) -> Tick {
        self.now
    }

    /// Move a manual clock to `now` (never back).
    pub fn set_now(&mut self, now: Tick) {
        self.now = self.now.max(now);
    }

    /// When to run the next turn at the latest after a turn yielded: the engine's deadline, or
    /// `None` (only a notification can make something happen).
    pub fn wake_at(&mut self) -> Option<Tick> {
        self.deadline
    }

    /// Whether the last turn yielded.
    pub fn yielded(&self) -> bool {
        self.yielded
    }

    pub(crate) fn hz(&self) -> u64 {
        self.clock.hz()
    }

    pub(crate) fn clock(&self) -> Clock {
        self.clock
    }

    /// The start of a turn: the notifier drained into `d`, the clock read (a manual clock keeps
    /// what [`set_now`](Self::set_now) gave it).
    pub(crate) fn begin_turn(&mut self, d: &mut dyn Dispatcher) {
        if let Some(n) = self.notifier {
            n.drain_into(d);
        }
        self.read_clock();
    }

    pub(crate) fn read_clock(&mut self) {
        if let Some(t) = self.clock.read() {
            self.set_now(t);
        }
    }

    /// The end of a turn: time advanced in `d`, and the turn yields when the engine wanted to
    /// wait (the caller sleeps until [`wake_at`](Self::wake_at) or a notification).
    pub(crate) fn end_turn(&mut self, d: &mut dyn Dispatcher, wait: Wait) -> Turn {
        self.deadline = match wait {
            Wait::Until(t) => Some(t),
            Wait::No | Wait::Forever => None,
        };
        d.advance(self.now);
        self.yielded = wait != Wait::No;
        if self.yielded {
            Turn::Yielded
        } else {
            Turn::Waited
        }
    }
}

impl Drop for TimeHost {
    fn drop(&mut self) {
        if let Some(n) = self.notifier.take() {
            n.set_waker(None);
        }
        if let Some(slot) = self.signal.take() {
            crate::runner::release(slot);
        }
    }
}

impl Host for TimeHost {
    fn turn(&mut self, d: &mut dyn Dispatcher, wait: Wait) -> Result<Turn, HostError> {
        while d.next_change().is_some() {}
        self.begin_turn(d);
        Ok(self.end_turn(d, wait))
    }
}

/// Ticks of this host's clock as embassy ticks.
pub(crate) fn to_embassy(t: Tick, hz: u64) -> Tick {
    convert(t, hz, embassy_time::TICK_HZ)
}
