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
    ///
    /// ```
    /// # use levent_core::conn::Listener;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Engine, Platform};
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// let mut engine: Engine<&str, 2, 1, 1> = Engine::new(Platform::manual(1000));
    /// let listening = Wires::<2, 64>::LISTENER;
    /// let mut listener = Listener::new(&mut engine, &wires, listening, "listener")?;
    /// assert_eq!(engine.len(), 2); // its read event and its back-off timer
    /// let client = wires.dial().unwrap();
    /// wires.sync(&mut sim)?;
    /// let fired = engine.next(&mut sim)?.unwrap();
    /// assert_eq!(fired.datum, "listener");
    /// assert_eq!(listener.accept(&mut engine, &mut wires), Some(Ok(client)));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
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
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use levent_core::conn::Listener;
    /// # use levent_core::sim::Sim;
    /// # use levent_core::{Engine, Platform, Ready};
    /// # use levent_core::{Accept, Dispatcher, IoError, SourceKey, Transport};
    /// # struct Exhausted; // a listener whose process has no descriptor left
    /// # impl Transport for Exhausted {
    /// #     type Handle = u8;
    /// #     fn source(&self, h: u8) -> SourceKey { SourceKey(h.into()) }
    /// #     fn read(&mut self, _: u8, _: &mut [u8]) -> Result<usize, IoError> {
    /// #         Err(IoError::WouldBlock)
    /// #     }
    /// #     fn write(&mut self, _: u8, b: &[u8]) -> Result<usize, IoError> { Ok(b.len()) }
    /// #     fn shutdown_write(&mut self, _: u8) -> Result<(), IoError> { Ok(()) }
    /// #     fn connected(&mut self, _: u8) -> Result<(), IoError> { Ok(()) }
    /// #     fn close(&mut self, d: &mut dyn Dispatcher, h: u8) {
    /// #         let _ = d.forget_source(SourceKey(h.into()));
    /// #     }
    /// # }
    /// # impl Accept for Exhausted {
    /// #     fn accept(&mut self, _: u8) -> Result<u8, IoError> { Err(IoError::NoDescriptors) }
    /// # }
    /// # let (mut io, mut sim) = (Exhausted, Sim::<8>::new(1));
    /// let mut engine: Engine<(), 2, 1, 1> = Engine::new(Platform::manual(1000));
    /// let mut listener = Listener::new(&mut engine, &io, 0, ())?;
    /// listener.set_backoff(Duration::from_millis(500));
    /// sim.set_ready(SourceKey(0), Ready::READ)?; // a client waits
    /// engine.next(&mut sim)?;
    /// assert_eq!(listener.accept(&mut engine, &mut io), Some(Err(IoError::NoDescriptors)));
    /// // The back-off timer fires 500 ms later: accept again then.
    /// let fired = engine.next(&mut sim)?.unwrap();
    /// assert!(listener.owns(fired.id));
    /// assert_eq!(engine.now(), 500);
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn set_backoff(&mut self, backoff: Duration) {
        self.backoff = backoff;
    }

    /// The listening transport's handle.
    ///
    /// ```
    /// # use levent_core::conn::Listener;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Engine, Platform};
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// let mut engine: Engine<(), 2, 1, 1> = Engine::new(Platform::manual(1000));
    /// let listener = Listener::new(&mut engine, &wires, Wires::<2, 64>::LISTENER, ())?;
    /// assert_eq!(listener.handle_id(), Wires::<2, 64>::LISTENER);
    /// # let _ = (&mut sim, &mut wires);
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn handle_id(&self) -> H {
        self.handle
    }

    /// Whether `id` is one of this listener's events.
    ///
    /// ```
    /// # use levent_core::Event;
    /// # use levent_core::conn::Listener;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Engine, Platform};
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// let mut engine: Engine<u8, 3, 1, 1> = Engine::new(Platform::manual(1000));
    /// let listener = Listener::new(&mut engine, &wires, Wires::<2, 64>::LISTENER, 0)?;
    /// let timer = engine.create(Event::timer(), 1)?;
    /// assert!(!listener.owns(timer));
    /// wires.dial();
    /// wires.sync(&mut sim)?;
    /// let fired = engine.next(&mut sim)?.unwrap();
    /// assert!(listener.owns(fired.id)); // time to accept
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn owns(&self, id: EventId) -> bool {
        id == self.read_ev || id == self.backoff_ev
    }

    /// Whether accepting is paused after running out of descriptors.
    ///
    /// ```
    /// # use levent_core::conn::Listener;
    /// # use levent_core::{Engine, Platform};
    /// # use levent_core::{Accept, Dispatcher, IoError, SourceKey, Transport};
    /// # struct Exhausted; // a listener whose process has no descriptor left
    /// # impl Transport for Exhausted {
    /// #     type Handle = u8;
    /// #     fn source(&self, h: u8) -> SourceKey { SourceKey(h.into()) }
    /// #     fn read(&mut self, _: u8, _: &mut [u8]) -> Result<usize, IoError> {
    /// #         Err(IoError::WouldBlock)
    /// #     }
    /// #     fn write(&mut self, _: u8, b: &[u8]) -> Result<usize, IoError> { Ok(b.len()) }
    /// #     fn shutdown_write(&mut self, _: u8) -> Result<(), IoError> { Ok(()) }
    /// #     fn connected(&mut self, _: u8) -> Result<(), IoError> { Ok(()) }
    /// #     fn close(&mut self, d: &mut dyn Dispatcher, h: u8) {
    /// #         let _ = d.forget_source(SourceKey(h.into()));
    /// #     }
    /// # }
    /// # impl Accept for Exhausted {
    /// #     fn accept(&mut self, _: u8) -> Result<u8, IoError> { Err(IoError::NoDescriptors) }
    /// # }
    /// # let mut io = Exhausted;
    /// let mut engine: Engine<(), 2, 1, 1> = Engine::new(Platform::manual(1000));
    /// let mut listener = Listener::new(&mut engine, &io, 0, ())?;
    /// assert!(!listener.is_backing_off());
    /// assert_eq!(listener.accept(&mut engine, &mut io), Some(Err(IoError::NoDescriptors)));
    /// assert!(listener.is_backing_off());
    /// assert_eq!(listener.accept(&mut engine, &mut io), None); // until the back-off timer fires
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn is_backing_off(&self) -> bool {
        self.backing_off
    }

    /// The next accepted connection, or `None` when nobody is waiting (call this in a loop when
    /// the listener's event fires). Transient failures of one connection (`Aborted`) come back as
    /// errors and the loop may continue; [`IoError::NoDescriptors`] starts the back-off.
    ///
    /// ```
    /// # use levent_core::conn::Listener;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Engine, Platform};
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// let mut engine: Engine<(), 2, 1, 1> = Engine::new(Platform::manual(1000));
    /// let mut listener = Listener::new(&mut engine, &wires, Wires::<2, 64>::LISTENER, ())?;
    /// let (a, b) = (wires.dial().unwrap(), wires.dial().unwrap());
    /// wires.sync(&mut sim)?;
    /// let fired = engine.next(&mut sim)?.unwrap();
    /// assert!(listener.owns(fired.id));
    /// assert_eq!(listener.accept(&mut engine, &mut wires), Some(Ok(a)));
    /// assert_eq!(listener.accept(&mut engine, &mut wires), Some(Ok(b)));
    /// assert_eq!(listener.accept(&mut engine, &mut wires), None); // nobody else waits
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
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
    ///
    /// ```
    /// # use levent_core::conn::Listener;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Engine, Platform};
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// let mut engine: Engine<(), 2, 1, 1> = Engine::new(Platform::manual(1000));
    /// let mut listener = Listener::new(&mut engine, &wires, Wires::<2, 64>::LISTENER, ())?;
    /// wires.dial();
    /// listener.disable(&mut engine);
    /// assert_eq!(listener.accept(&mut engine, &mut wires), None); // the client waits
    /// wires.sync(&mut sim)?;
    /// assert_eq!(engine.next(&mut sim)?, None); // and nothing fires
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn disable<T: Copy>(&mut self, events: &mut dyn Events<T>) {
        self.enabled = false;
        let _ = events.del(self.read_ev);
        let _ = events.del(self.backoff_ev);
        self.backing_off = false;
    }

    /// Accept again.
    ///
    /// ```
    /// # use levent_core::conn::Listener;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Engine, Platform};
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// let mut engine: Engine<(), 2, 1, 1> = Engine::new(Platform::manual(1000));
    /// let mut listener = Listener::new(&mut engine, &wires, Wires::<2, 64>::LISTENER, ())?;
    /// let client = wires.dial().unwrap();
    /// listener.disable(&mut engine);
    /// assert_eq!(listener.accept(&mut engine, &mut wires), None);
    /// listener.enable(&mut engine);
    /// assert_eq!(listener.accept(&mut engine, &mut wires), Some(Ok(client)));
    /// # let _ = &mut sim;
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn enable<T: Copy>(&mut self, events: &mut dyn Events<T>) {
        if !self.enabled {
            self.enabled = true;
            let _ = events.add(self.read_ev, None);
        }
    }

    /// Free the listener's events and close the listening transport.
    ///
    /// ```
    /// # use levent_core::conn::Listener;
    /// # use levent_core::sim::{Sim, Wires};
    /// # use levent_core::{Engine, Platform};
    /// # let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
    /// let mut engine: Engine<(), 2, 1, 1> = Engine::new(Platform::manual(1000));
    /// let listener = Listener::new(&mut engine, &wires, Wires::<2, 64>::LISTENER, ())?;
    /// assert_eq!(engine.len(), 2);
    /// listener.close(&mut engine, &mut wires);
    /// assert!(engine.is_empty());
    /// # let _ = &mut sim;
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn close<T: Copy, IO: Accept<Handle = H>>(self, events: &mut dyn Events<T>, io: &mut IO) {
        let _ = events.free(self.read_ev);
        let _ = events.free(self.backoff_ev);
        io.close(events, self.handle);
    }
}
