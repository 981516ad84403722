//! [`Listener`]: libevent's evconnlistener, as a sans-IO state machine over an [`Accept`]
//! transport.

use crate::error::Rejected;
use crate::event::{Event, EventId};
use crate::events::Events;
use crate::io::{Accept, IoError};
use core::time::Duration;

/// A listening transport that accepts in a loop (libevent's evconnlistener).
///
/// When accepting fails because the process is out of descriptors, the listener neither dies nor
/// spins: it stops watching the listening transport for a back-off period (100 ms by default),
/// reports the error, and tries again when the back-off timer fires.
#[derive(Debug)]
pub struct Listener<H> {
    handle: H,
    read_ev: EventId,
    backoff_ev: EventId,
    backoff: Duration,
    enabled: bool,
    backing_off: bool,
}

impl<H: Copy + PartialEq + core::fmt::Debug> Listener<H> {
    /// Watch listening transport `handle`; its events carry `datum`.
    pub fn new<T: Copy, IO: Accept<Handle = H>>(
        events: &mut dyn Events<T>,
        io: &IO,
        handle: H,
        datum: T,
    ) -> Result<Self, Rejected<T>> {
        let read_ev = events.start(Event::read(io.source(handle)).persist(), datum, None)?;
        let backoff_ev = match events.create(Event::timer(), datum) {
            Ok(id) => id,
            Err(r) => {
                let _ = events.free(read_ev);
                return Err(r);
            }
        };
        Ok(Listener {
            handle,
            read_ev,
            backoff_ev,
            backoff: Duration::from_millis(100),
            enabled: true,
            backing_off: false,
        })
    }

    /// Wait this long after running out of descriptors before accepting again.
    pub fn set_backoff(&mut self, backoff: Duration) {
        self.backoff = backoff;
    }

    /// The listening transport's handle.
    pub fn handle_id(&self) -> H {
        self.handle
    }

    /// Whether `id` is one of this listener's events.
    pub fn owns(&self, id: EventId) -> bool {
        id == self.read_ev || id == self.backoff_ev
    }

    /// Whether accepting is paused after running out of descriptors.
    pub fn is_backing_off(&self) -> bool {
        self.backing_off
    }

    /// The next accepted connection, or `None` when nobody is waiting (call this in a loop when
    /// the listener's event fires). Transient failures of one connection (`Aborted`) come back as
    /// errors and the loop may continue; [`IoError::NoDescriptors`] starts the back-off.
    pub fn accept<T: Copy, IO: Accept<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
    ) -> Option<Result<H, IoError>> {
        if !self.enabled {
            return None;
        }
        if self.backing_off {
            if events.pending(self.backoff_ev).is_ok_and(|p| p.added) {
                return None;
            }
            self.backing_off = false;
            let _ = events.add(self.read_ev, None);
        }
        match io.accept(self.handle) {
            Ok(h) => Some(Ok(h)),
            Err(IoError::WouldBlock) => None,
            Err(IoError::NoDescriptors) => {
                self.backing_off = true;
                let _ = events.del(self.read_ev);
                let _ = events.add(self.backoff_ev, Some(self.backoff));
                Some(Err(IoError::NoDescriptors))
            }
            Err(e) => Some(Err(e)),
        }
    }

    /// Stop accepting until [`enable`](Self::enable).
    pub fn disable<T: Copy>(&mut self, events: &mut dyn Events<T>) {
        self.enabled = false;
        let _ = events.del(self.read_ev);
        let _ = events.del(self.backoff_ev);
        self.backing_off = false;
    }

    /// Accept again.
    pub fn enable<T: Copy>(&mut self, events: &mut dyn Events<T>) {
        if !self.enabled {
            self.enabled = true;
            let _ = events.add(self.read_ev, None);
        }
    }

    /// Free the listener's events and close the listening transport.
    pub fn close<T: Copy, IO: Accept<Handle = H>>(self, events: &mut dyn Events<T>, io: &mut IO) {
        let _ = events.free(self.read_ev);
        let _ = events.free(self.backoff_ev);
        io.close(events, self.handle);
    }
}
