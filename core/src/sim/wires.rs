//! In-memory byte streams: a [`Transport`] and [`Accept`] with no operating system, for tests,
//! examples and simulations of connection code.

use crate::buffer::{Buffer, RingBuffer};
use crate::event::{Ready, SourceKey};
use crate::host::Dispatcher;
use crate::io::{Accept, IoError, Transport};

use super::{Sim, SimFull};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Not in use.
    Free,
    /// Dialed, waiting on the listener.
    Waiting,
    Open,
    /// The transport side closed it.
    Closed,
}

struct Wire<const CAP: usize> {
    state: State,
    /// Bytes the peer sent, for the transport to read.
    inbound: RingBuffer<CAP>,
    /// Bytes the transport wrote, for the peer to take.
    outbound: RingBuffer<CAP>,
    /// The peer sends nothing more: reads return end of file once `inbound` is empty.
    hung_up: bool,
    /// The peer reset the stream: reads and writes fail with [`IoError::Reset`].
    reset: bool,
    /// The transport shut down its writing side.
    shut: bool,
}

impl<const CAP: usize> Wire<CAP> {
    const FREE: Self = Wire {
        state: State::Free,
        inbound: RingBuffer::new(),
        outbound: RingBuffer::new(),
        hung_up: false,
        reset: false,
        shut: false,
    };
}

/// `N` in-memory byte streams of `CAP` bytes each way, and a listener: the transport a test
/// hands a [`Connection`](crate::Connection) or a [`ConnTable`](crate::ConnTable) in place of
/// sockets, playing the peer itself with [`send`](Self::send), [`recv`](Self::recv) and
/// [`hang_up`](Self::hang_up).
///
/// Handles are `0..N`; the listener is handle `N` ([`LISTENER`](Self::LISTENER)), and accepting
/// on it hands out the streams [`dial`](Self::dial) made, oldest first. Handle `h` reports
/// readiness on [`SourceKey`]`(h)`: [`sync`](Self::sync) tells a [`Sim`] host what each one is
/// ready for now (level-triggered), which a test calls before each turn.
///
/// ```
/// use levent_core::conn::{ConnEvent, ConnTable, Route, TableConfig, events_needed};
/// use levent_core::sim::{Sim, Wires};
/// use levent_core::{Engine, Platform, RingBuffer};
///
/// let mut engine: Engine<Route, { events_needed(2, 0) }, 3, 1> = Engine::new(Platform::manual(1000));
/// let (mut sim, mut wires) = (Sim::<8>::new(1), Wires::<2, 64>::new());
/// let mut echo = ConnTable::<Route, usize, RingBuffer<64>, 2>::new(TableConfig::default());
/// echo.listen(&mut engine, &wires, Wires::<2, 64>::LISTENER)?;
///
/// let client = wires.dial().unwrap();
/// wires.send(client, b"hello");
/// for _ in 0..4 {
///     wires.sync(&mut sim)?;
///     if let Some(fired) = engine.next(&mut sim)? {
///         echo.handle(&mut engine, &mut wires, &fired, fired.datum, |c, ev| {
///             if ev == ConnEvent::Read {
///                 c.echo();
///             }
///         });
///     }
/// }
/// let mut back = [0; 8];
/// let n = wires.recv(client, &mut back);
/// assert_eq!(&back[..n], b"hello");
/// # Ok::<(), Box<dyn core::error::Error>>(())
/// ```
pub struct Wires<const N: usize, const CAP: usize> {
    wires: [Wire<CAP>; N],
    /// Dial order, so that accept hands out the oldest waiting stream first.
    dialed: [u64; N],
    dials: u64,
}

impl<const N: usize, const CAP: usize> Default for Wires<N, CAP> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize, const CAP: usize> core::fmt::Debug for Wires<N, CAP> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let open = self.wires.iter().filter(|w| w.state == State::Open).count();
        f.debug_struct("Wires")
            .field("open", &open)
            .finish_non_exhaustive()
    }
}

impl<const N: usize, const CAP: usize> Wires<N, CAP> {
    /// The listener's handle: [`accept`](Accept::accept) on it takes a dialed stream.
    pub const LISTENER: usize = N;

    /// `N` free streams and nobody dialing.
    pub const fn new() -> Self {
        Wires {
            wires: [const { Wire::FREE }; N],
            dialed: [0; N],
            dials: 0,
        }
    }

    /// A stream never used, or else one the transport side closed.
    fn free(&self) -> Option<usize> {
        let unused = self.wires.iter().position(|w| w.state == State::Free);
        unused.or_else(|| self.wires.iter().position(|w| w.state == State::Closed))
    }

    /// An open stream, connected at once (what [`Connection::new`](crate::Connection::new)
    /// takes); `None` when all `N` are in use. A stream closed by the transport side is reused
    /// once no stream is left unused.
    ///
    /// ```
    /// # use levent_core::{Transport, sim::Wires};
    /// let mut wires = Wires::<1, 16>::new();
    /// let h = wires.open().unwrap();
    /// assert_eq!(wires.write(h, b"hi"), Ok(2));
    /// assert!(wires.open().is_none()); // room for one only
    /// ```
    pub fn open(&mut self) -> Option<usize> {
        let h = self.free()?;
        self.wires[h] = Wire::FREE;
        self.wires[h].state = State::Open;
        Some(h)
    }

    /// A stream waiting on the listener, as a client that connects: the next
    /// [`accept`](Accept::accept) returns it. The peer may [`send`](Self::send) on it at once.
    /// `None` when all `N` are in use.
    ///
    /// ```
    /// # use levent_core::{Accept, sim::Wires};
    /// let mut wires = Wires::<2, 16>::new();
    /// let client = wires.dial().unwrap();
    /// assert_eq!(wires.accept(Wires::<2, 16>::LISTENER), Ok(client));
    /// ```
    pub fn dial(&mut self) -> Option<usize> {
        let h = self.free()?;
        self.wires[h] = Wire::FREE;
        self.wires[h].state = State::Waiting;
        self.dials += 1;
        self.dialed[h] = self.dials;
        Some(h)
    }

    /// The peer sends `bytes` on stream `h`: as much as fits in its `CAP` bytes is queued for the
    /// transport to read, and the count comes back (0 for a stream not open or hung up).
    ///
    /// ```
    /// # use levent_core::{Transport, sim::Wires};
    /// let mut wires = Wires::<1, 4>::new();
    /// let h = wires.open().unwrap();
    /// assert_eq!(wires.send(h, b"hello"), 4); // 4 bytes of room
    /// let mut buf = [0; 8];
    /// assert_eq!(wires.read(h, &mut buf), Ok(4));
    /// ```
    pub fn send(&mut self, h: usize, bytes: &[u8]) -> usize {
        match self.wires.get_mut(h) {
            Some(w) if w.state != State::Free && !w.hung_up && !w.reset => w.inbound.append(bytes),
            _ => 0,
        }
    }

    /// The peer takes what the transport wrote on stream `h`, up to `out.len()` bytes.
    ///
    /// ```
    /// # use levent_core::{Transport, sim::Wires};
    /// let mut wires = Wires::<1, 16>::new();
    /// let h = wires.open().unwrap();
    /// wires.write(h, b"pong").unwrap();
    /// let mut out = [0; 16];
    /// let n = wires.recv(h, &mut out);
    /// assert_eq!(&out[..n], b"pong");
    /// ```
    pub fn recv(&mut self, h: usize, out: &mut [u8]) -> usize {
        let Some(w) = self.wires.get_mut(h) else {
            return 0;
        };
        let n = w.outbound.peek(0, out);
        w.outbound.drain(n)
    }

    /// The peer finishes sending on stream `h`: once the transport has read what was sent, it
    /// reads end of file.
    ///
    /// ```
    /// # use levent_core::{IoError, Transport, sim::Wires};
    /// let mut wires = Wires::<1, 16>::new();
    /// let h = wires.open().unwrap();
    /// wires.send(h, b"bye");
    /// wires.hang_up(h);
    /// let mut buf = [0; 8];
    /// assert_eq!(wires.read(h, &mut buf), Ok(3));
    /// assert_eq!(wires.read(h, &mut buf), Ok(0));
    /// ```
    pub fn hang_up(&mut self, h: usize) {
        if let Some(w) = self.wires.get_mut(h) {
            w.hung_up = true;
        }
    }

    /// The peer resets stream `h`: every read and write fails with [`IoError::Reset`] from now
    /// on, and what was queued either way is lost.
    ///
    /// ```
    /// # use levent_core::{IoError, Transport, sim::Wires};
    /// let mut wires = Wires::<1, 16>::new();
    /// let h = wires.open().unwrap();
    /// wires.reset(h);
    /// assert_eq!(wires.write(h, b"x"), Err(IoError::Reset));
    /// ```
    pub fn reset(&mut self, h: usize) {
        if let Some(w) = self.wires.get_mut(h) {
            w.reset = true;
            w.inbound.clear();
            w.outbound.clear();
        }
    }

    /// Whether the transport side closed stream `h` ([`Transport::close`]).
    ///
    /// ```
    /// # use levent_core::{Dispatcher, Engine, Platform, Transport, sim::Wires};
    /// let mut engine: Engine<(), 1, 1, 1> = Engine::new(Platform::manual(1000));
    /// let mut wires = Wires::<1, 16>::new();
    /// let h = wires.open().unwrap();
    /// wires.close(&mut engine, h);
    /// assert!(wires.is_closed(h));
    /// ```
    pub fn is_closed(&self, h: usize) -> bool {
        self.wires.get(h).is_some_and(|w| w.state == State::Closed)
    }

    /// Whether the transport side shut down writing on stream `h`
    /// ([`Transport::shutdown_write`]): the peer has read the end of what it will get.
    ///
    /// ```
    /// # use levent_core::{Transport, sim::Wires};
    /// let mut wires = Wires::<1, 16>::new();
    /// let h = wires.open().unwrap();
    /// wires.shutdown_write(h).unwrap();
    /// assert!(wires.is_shut(h));
    /// ```
    pub fn is_shut(&self, h: usize) -> bool {
        self.wires.get(h).is_some_and(|w| w.shut)
    }

    /// What handle `h` is ready for now: readable when bytes wait, at end of file or after a
    /// reset; writable while it has room; the listener is readable while a dialed stream waits.
    ///
    /// ```
    /// # use levent_core::{Ready, sim::Wires};
    /// let mut wires = Wires::<1, 16>::new();
    /// let h = wires.open().unwrap();
    /// assert_eq!(wires.ready(h), Ready::WRITE);
    /// wires.send(h, b"x");
    /// assert_eq!(wires.ready(h), Ready::READ | Ready::WRITE);
    /// ```
    pub fn ready(&self, h: usize) -> Ready {
        if h == N {
            let waiting = self.wires.iter().any(|w| w.state == State::Waiting);
            return if waiting { Ready::READ } else { Ready::NONE };
        }
        let Some(w) = self.wires.get(h).filter(|w| w.state == State::Open) else {
            return Ready::NONE;
        };
        let mut ready = Ready::NONE;
        if !w.inbound.is_empty() || w.hung_up || w.reset {
            ready |= Ready::READ;
        }
        if w.outbound.room() > 0 || w.reset {
            ready |= Ready::WRITE;
        }
        ready
    }

    /// Tell `sim` what every open stream and the listener are ready for now, level-triggered:
    /// readiness that appeared is set, readiness that went away is cleared. Call it before each
    /// turn of an engine running on `sim`.
    pub fn sync<const S: usize>(&self, sim: &mut Sim<S>) -> Result<(), SimFull> {
        for h in 0..=N {
            let key = SourceKey(h);
            let now = self.ready(h);
            let stale = sim.readiness(key) & !now;
            if stale != Ready::NONE {
                sim.clear_ready(key, stale);
            }
            let fresh = now & !sim.readiness(key);
            if fresh != Ready::NONE {
                sim.set_ready(key, fresh)?;
            }
        }
        Ok(())
    }

    fn open_wire(&mut self, h: usize) -> Result<&mut Wire<CAP>, IoError> {
        match self.wires.get_mut(h) {
            Some(w) if w.state == State::Open && w.reset => Err(IoError::Reset),
            Some(w) if w.state == State::Open => Ok(w),
            _ => Err(IoError::Closed),
        }
    }
}

impl<const N: usize, const CAP: usize> Transport for Wires<N, CAP> {
    type Handle = usize;

    fn source(&self, h: usize) -> SourceKey {
        SourceKey(h)
    }

    fn read(&mut self, h: usize, buf: &mut [u8]) -> Result<usize, IoError> {
        let w = self.open_wire(h)?;
        let n = w.inbound.peek(0, buf);
        if n > 0 {
            return Ok(w.inbound.drain(n));
        }
        if w.hung_up || buf.is_empty() {
            Ok(0)
        } else {
            Err(IoError::WouldBlock)
        }
    }

    fn write(&mut self, h: usize, buf: &[u8]) -> Result<usize, IoError> {
        let w = self.open_wire(h)?;
        if w.shut {
            return Err(IoError::BrokenPipe);
        }
        match w.outbound.append(buf) {
            0 if !buf.is_empty() => Err(IoError::WouldBlock),
            n => Ok(n),
        }
    }

    fn shutdown_write(&mut self, h: usize) -> Result<(), IoError> {
        self.open_wire(h)?.shut = true;
        Ok(())
    }

    fn connected(&mut self, h: usize) -> Result<(), IoError> {
        self.open_wire(h).map(|_| ())
    }

    fn close(&mut self, d: &mut dyn Dispatcher, h: usize) {
        let _ = d.forget_source(self.source(h));
        if let Some(w) = self.wires.get_mut(h) {
            w.state = State::Closed;
        }
    }
}

impl<const N: usize, const CAP: usize> Accept for Wires<N, CAP> {
    fn accept(&mut self, h: usize) -> Result<usize, IoError> {
        if h != N {
            return Err(IoError::Closed);
        }
        let oldest = (0..N)
            .filter(|&i| self.wires[i].state == State::Waiting)
            .min_by_key(|&i| self.dialed[i])
            .ok_or(IoError::WouldBlock)?;
        self.wires[oldest].state = State::Open;
        Ok(oldest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_stream_refuses_writes_until_the_peer_takes_some() {
        let mut w = Wires::<1, 4>::new();
        let h = w.open().unwrap();
        assert_eq!(w.write(h, b"abcdef"), Ok(4));
        assert_eq!(w.write(h, b"g"), Err(IoError::WouldBlock));
        assert_eq!(w.ready(h), Ready::NONE);
        let mut out = [0; 2];
        assert_eq!(w.recv(h, &mut out), 2);
        assert_eq!(w.write(h, b"gh"), Ok(2));
    }

    #[test]
    fn accept_hands_out_the_oldest_dial_and_refuses_a_stream_handle() {
        let mut w = Wires::<3, 4>::new();
        let a = w.dial().unwrap();
        let b = w.dial().unwrap();
        assert_eq!(w.accept(a), Err(IoError::Closed));
        assert_eq!(w.accept(Wires::<3, 4>::LISTENER), Ok(a));
        assert_eq!(w.accept(Wires::<3, 4>::LISTENER), Ok(b));
        assert_eq!(w.accept(Wires::<3, 4>::LISTENER), Err(IoError::WouldBlock));
    }

    #[test]
    fn a_closed_stream_fails_and_its_handle_is_reused_by_the_next_open() {
        let mut w = Wires::<1, 4>::new();
        let h = w.open().unwrap();
        w.wires[h].state = State::Closed;
        assert_eq!(w.read(h, &mut [0; 1]), Err(IoError::Closed));
        assert_eq!(w.open(), Some(h));
        assert_eq!(w.write(h, b"x"), Ok(1));
    }
}
