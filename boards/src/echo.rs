//! The reference TCP echo server (RFC 862): the core's [`Listener`] and [`Connection`]s with
//! fixed ring buffers, over any [`Accept`] transport — a [`NetHost`](crate::NetHost) on a board,
//! `SimNet` or real sockets on a host. The host tests and the qemu firmware run it.
//!
//! Events are routed by a number: 0 for the listener, `1 + i` for connection slot `i`; the
//! application maps its own datum to and from that number, so the server fits in any `match`.

use levent_core::buffer::{Buffer, RingBuffer};
use levent_core::io::Accept;
use levent_core::{ConnOptions, Connection, Events, Fired, Listener, Rejected};

/// What an [`EchoServer`] did so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EchoStats {
    /// Connections accepted.
    pub accepted: u32,
    /// Connections accepted and closed at once because all `C` slots were busy.
    pub rejected: u32,
    /// Connections closed (end of file, error or timeout).
    pub closed: u32,
    /// Connections that ended with an error or a timeout.
    pub failed: u32,
    /// Bytes echoed.
    pub echoed: u64,
}

/// A TCP echo server with up to `C` connections of `B`-byte input and output buffers. See the
/// [module documentation](self).
pub struct EchoServer<T, H, const C: usize, const B: usize> {
    listener: Listener<H>,
    conns: [Option<Connection<H, RingBuffer<B>>>; C],
    /// Flushing its output before closing (the peer sent end of file).
    closing: [bool; C],
    wrap: fn(usize) -> T,
    opts: ConnOptions,
    stats: EchoStats,
}

impl<T: Copy, H: Copy + PartialEq + core::fmt::Debug, const C: usize, const B: usize>
    EchoServer<T, H, C, B>
{
    /// Serve listening transport `listening`; `wrap` turns a route number (0 for the listener,
    /// `1 + i` for connection `i`) into the datum its events carry. Fails when the engine has no
    /// room for the listener's events.
    pub fn new<IO: Accept<Handle = H>>(
        events: &mut dyn Events<T>,
        io: &IO,
        listening: H,
        wrap: fn(usize) -> T,
    ) -> Result<Self, Rejected<T>> {
        Ok(EchoServer {
            listener: Listener::new(events, io, listening, wrap(0))?,
            conns: [const { None }; C],
            closing: [false; C],
            wrap,
            opts: ConnOptions::DEFAULT,
            stats: EchoStats::default(),
        })
    }

    /// Watermarks and timeouts for connections accepted from now on.
    pub fn set_options(&mut self, opts: ConnOptions) {
        self.opts = opts;
    }

    /// What the server did so far.
    pub fn stats(&self) -> EchoStats {
        self.stats
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.conns.iter().filter(|c| c.is_some()).count()
    }

    /// The listener (to disable, enable or close it).
    pub fn listener(&mut self) -> &mut Listener<H> {
        &mut self.listener
    }

    /// Handle a fired event whose datum maps to `route`; anything not this server's is ignored.
    pub fn handle<IO: Accept<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        fired: &Fired<T>,
        route: usize,
    ) {
        if route == 0 {
            self.accept(events, io);
            return;
        }
        let i = route - 1;
        let Some(Some(c)) = self.conns.get_mut(i) else {
            return;
        };
        let out = c.handle(events, io, fired);
        if out.readable() || out.drained() || out.eof() {
            self.stats.echoed += pump(c, events, io);
        }
        if out.eof() && !self.closing[i] {
            self.closing[i] = true;
            let _ = c.shutdown(events, io);
        }
        let done = self.closing[i] && c.output().is_empty() && c.input().is_empty();
        if out.failed() || done {
            if out.failed() {
                self.stats.failed += 1;
            }
            self.close(events, io, i);
        }
    }

    fn close<IO: Accept<Handle = H>>(&mut self, events: &mut dyn Events<T>, io: &mut IO, i: usize) {
        if let Some(c) = self.conns[i].take() {
            c.close(events, io);
            self.stats.closed += 1;
        }
        self.closing[i] = false;
    }

    fn accept<IO: Accept<Handle = H>>(&mut self, events: &mut dyn Events<T>, io: &mut IO) {
        while let Some(r) = self.listener.accept(events, io) {
            let Ok(h) = r else { continue };
            self.stats.accepted += 1;
            let made = self.conns.iter().position(Option::is_none).and_then(|i| {
                Connection::new(
                    events,
                    io,
                    h,
                    RingBuffer::new(),
                    RingBuffer::new(),
                    self.opts,
                    (self.wrap)(1 + i),
                )
                .ok()
                .map(|c| (i, c))
            });
            match made {
                Some((i, c)) => self.conns[i] = Some(c),
                None => {
                    self.stats.rejected += 1;
                    io.close(events, h);
                }
            }
        }
    }
}

/// Move as much input to the output as fits; returns how many bytes moved.
fn pump<T: Copy, H: Copy + PartialEq + core::fmt::Debug, IO: Accept<Handle = H>, const B: usize>(
    c: &mut Connection<H, RingBuffer<B>>,
    events: &mut dyn Events<T>,
    io: &mut IO,
) -> u64 {
    let mut moved = 0;
    let mut scratch = [0u8; 128];
    loop {
        let n = c.input().peek(0, &mut scratch);
        if n == 0 {
            break;
        }
        let w = c.write(events, io, &scratch[..n]);
        if w == 0 {
            break;
        }
        c.consume(events, w);
        moved += w as u64;
    }
    moved
}
