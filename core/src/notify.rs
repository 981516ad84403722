//! Waking the loop from interrupt handlers and other threads.
//!
//! A [`Notifier`] is a small fixed-capacity set of event ids behind a critical section. Any
//! context — an interrupt handler, another thread, a callback — calls [`Notifier::notify`] with
//! the id of a user event; the notifier remembers the id and wakes the host through the [`Waker`]
//! the host installed (an eventfd write, an `EVFILT_USER` trigger, an embassy signal). At its next
//! turn the engine drains the notifier (`Feed::feed_user` for each id), which
//! activates each event with [`Ready::USER`](crate::Ready::USER).
//!
//! Several notifications of the same event before the loop sees them merge into one firing, as
//! several `event_active` calls do in libevent.

use crate::event::EventId;
use core::cell::RefCell;
use critical_section::Mutex;

/// How a host asks to be woken: a plain function and a word of context (a file descriptor, a
/// pointer-sized handle), so that a `static` notifier needs no allocation and no lifetime.
#[derive(Clone, Copy, Debug)]
pub struct Waker {
    /// Called, outside the critical section, after a notification.
    pub wake: fn(usize),
    /// Passed to `wake`.
    pub context: usize,
}

/// A notification could not be queued: `N` different events are already waiting. The id is
/// handed back; nothing was queued and the host was still woken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NotifyFull(pub EventId);

impl core::fmt::Display for NotifyFull {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("notifier full: too many different events waiting")
    }
}

impl core::error::Error for NotifyFull {}

struct State<const N: usize> {
    ids: heapless::Vec<EventId, N>,
    waker: Option<Waker>,
}

/// Activates user events and wakes the host, from anywhere. `Send + Sync`; safe in interrupt
/// handlers through [`critical_section`].
///
/// ```
/// use levent_core::{Engine, Event, Host, Notifier, Platform, Ready, sim::Sim};
///
/// static WAKE: Notifier<4> = Notifier::new();
///
/// let mut engine: Engine<&str, 4, 1, 1> = Engine::new(Platform::manual(1000));
/// let id = engine.start(Event::user().persist(), "button", None).unwrap();
/// let mut host = Sim::<4>::new(0);
/// host.attach((&WAKE).into()).unwrap();
///
/// // In an interrupt handler, or another thread:
/// WAKE.notify(id).unwrap();
///
/// let fired = engine.next(&mut host).unwrap().unwrap();
/// assert_eq!((fired.datum, fired.ready), ("button", Ready::USER));
/// ```
pub struct Notifier<const N: usize> {
    state: Mutex<RefCell<State<N>>>,
}

impl<const N: usize> Default for Notifier<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Notifier<N> {
    /// An empty notifier with room for `N` different pending events. `const`, so it can be a
    /// `static`.
    pub const fn new() -> Self {
        Notifier {
            state: Mutex::new(RefCell::new(State {
                ids: heapless::Vec::new(),
                waker: None,
            })),
        }
    }

    /// Queue user event `id` for activation and wake the host.
    ///
    /// A second notification of an id that is still queued merges with the first. Fails with
    /// [`NotifyFull`] (after waking the host, which will make room) when `N` other ids are
    /// queued.
    pub fn notify(&self, id: EventId) -> Result<(), NotifyFull> {
        let (queued, waker) = critical_section::with(|cs| {
            let mut st = self.state.borrow_ref_mut(cs);
            let queued = st.ids.contains(&id) || st.ids.push(id).is_ok();
            (queued, st.waker)
        });
        if let Some(w) = waker {
            (w.wake)(w.context);
        }
        if queued { Ok(()) } else { Err(NotifyFull(id)) }
    }

    /// Wake the host without activating anything (its turn ends early, as after a signal).
    pub fn wake(&self) {
        if let Some(w) = critical_section::with(|cs| self.state.borrow_ref(cs).waker) {
            (w.wake)(w.context);
        }
    }
}

/// The host side of a notifier, object-safe so a host can hold any `Notifier<N>`.
pub trait NotifySource: Sync {
    /// Install (or, with `None`, remove) the waker. A host removes its waker before it goes away.
    fn set_waker(&self, waker: Option<Waker>);
    /// Take every queued id and hand each to `each` (the engine's turn feeds them to itself as
    /// user activations). Returns how many there were.
    fn drain_into(&self, each: &mut dyn FnMut(EventId)) -> usize;
}

impl<const N: usize> NotifySource for Notifier<N> {
    fn set_waker(&self, waker: Option<Waker>) {
        critical_section::with(|cs| self.state.borrow_ref_mut(cs).waker = waker);
    }

    fn drain_into(&self, each: &mut dyn FnMut(EventId)) -> usize {
        let ids =
            critical_section::with(|cs| core::mem::take(&mut self.state.borrow_ref_mut(cs).ids));
        for &id in &ids {
            each(id);
        }
        ids.len()
    }
}

/// A notifier a host holds: one in a `static`, or (with the `alloc` feature) one shared with
/// other threads through an `Arc`.
///
/// ```
/// use levent_core::{Attached, Notifier};
///
/// static WAKE: Notifier<4> = Notifier::new();
/// let attached: Attached = (&WAKE).into();
/// # drop(attached);
/// ```
#[derive(Clone)]
pub enum Attached {
    /// A notifier in a `static`.
    Static(&'static dyn NotifySource),
    /// A notifier shared with other threads.
    #[cfg(feature = "alloc")]
    Shared(alloc::sync::Arc<dyn NotifySource + Send + Sync>),
}

impl Attached {
    /// The notifier.
    pub fn get(&self) -> &dyn NotifySource {
        match self {
            Attached::Static(n) => *n,
            #[cfg(feature = "alloc")]
            Attached::Shared(n) => &**n,
        }
    }

    /// Whether `self` and `other` are the same notifier.
    pub fn is(&self, other: &Attached) -> bool {
        core::ptr::addr_eq(self.get(), other.get())
    }
}

impl core::fmt::Debug for Attached {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Attached(..)")
    }
}

impl<const N: usize> From<&'static Notifier<N>> for Attached {
    fn from(n: &'static Notifier<N>) -> Self {
        Attached::Static(n)
    }
}

impl From<&'static dyn NotifySource> for Attached {
    fn from(n: &'static dyn NotifySource) -> Self {
        Attached::Static(n)
    }
}

#[cfg(feature = "alloc")]
impl<const N: usize> From<alloc::sync::Arc<Notifier<N>>> for Attached {
    fn from(n: alloc::sync::Arc<Notifier<N>>) -> Self {
        Attached::Shared(n)
    }
}
