//! The reference TCP echo server (RFC 862): the core's [`ConnTable`] with fixed ring buffers,
//! over any [`Accept`] transport — a [`NetHost`](crate::NetHost) on a board, `SimNet` or real
//! sockets on a host. The host tests and the qemu firmware run it.
//!
//! Its events carry `wrap(route)`; hand the [`Route`] of a fired event back to
//! [`EchoServer::handle`]. Every byte goes back as it arrives; a client that half-closes gets
//! the rest of its echo, then the end of the stream.

use levent_core::buffer::RingBuffer;
use levent_core::conn::{ConnEvent, ConnTable, Route, SetupError, TableConfig};
use levent_core::io::Accept;
use levent_core::memory::{Inline, Memory};
use levent_core::{ConnOptions, Events, Fired};

/// What an [`EchoServer`] did so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EchoStats {
    /// Connections accepted.
    pub accepted: u32,
    /// Connections accepted and closed at once because the engine had no room for them.
    pub rejected: u32,
    /// Connections closed (end of file, error or timeout).
    pub closed: u32,
    /// Connections that ended with an error or a timeout.
    pub failed: u32,
    /// Bytes echoed.
    pub echoed: u64,
}

/// A TCP echo server with up to `C` connections of `B`-byte input and output buffers, its
/// connection slots in memory `M` (inline by default: a `static` on a board). See the
/// [module documentation](self).
pub struct EchoServer<T, H, const C: usize, const B: usize, M: Memory = Inline> {
    table: ConnTable<T, H, RingBuffer<B>, C, (), M>,
    stats: EchoStats,
}

impl<T, H, const C: usize, const B: usize, M> EchoServer<T, H, C, B, M>
where
    T: Copy,
    H: Copy + PartialEq + core::fmt::Debug,
    M: Memory,
{
    /// Serve listening transport `listening`; its events carry `wrap(route)`.
    ///
    /// # Errors
    ///
    /// The engine has no room for the listener and `C` connections
    /// ([`events_needed`](levent_core::conn::events_needed)`(C, 0)` events and `C + 1` sources).
    pub fn new<IO: Accept<Handle = H>>(
        events: &mut dyn Events<T>,
        io: &IO,
        listening: H,
        wrap: fn(Route) -> T,
    ) -> Result<Self, SetupError> {
        let mut table = ConnTable::with_datum(TableConfig::default(), wrap);
        table.listen(events, io, listening)?;
        Ok(EchoServer {
            table,
            stats: EchoStats::default(),
        })
    }

    /// Watermarks and timeouts for connections accepted from now on.
    pub fn set_options(&mut self, opts: ConnOptions) {
        self.table.set_options(opts);
    }

    /// What the server did so far.
    pub fn stats(&self) -> EchoStats {
        let t = self.table.stats();
        EchoStats {
            accepted: t.opened as u32,
            rejected: t.refused as u32,
            closed: t.closed as u32,
            ..self.stats
        }
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.table.len()
    }

    /// Handle a fired event whose datum carried `route`; anything not this server's is ignored.
    pub fn handle<IO: Accept<Handle = H>, D>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        fired: &Fired<D>,
        route: Route,
    ) {
        let stats = &mut self.stats;
        self.table
            .handle(events, io, fired, route, |c, ev| match ev {
                ConnEvent::Read | ConnEvent::Drained | ConnEvent::Eof => {
                    stats.echoed += c.echo() as u64;
                }
                ConnEvent::Error(_) | ConnEvent::Timeout { .. } => stats.failed += 1,
                _ => {}
            });
    }
}
