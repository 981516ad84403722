//! Connecting by name (libevent's `bufferevent_socket_connect_hostname`): resolve `host`, then
//! try each address in turn until one connects.
//!
//! A [`Connector`] is a small state machine over any transport storage that can start a
//! non-blocking connect ([`Connect`]). It starts its lookups on the application's
//! [`Resolver`] (A, AAAA or both); the application forwards the resolver's finished lookups to
//! [`Connector::resolved`] and the connector's own events to [`Connector::handle`]. The result
//! is a connected transport handle and the address it reached — wrap it in a
//! [`Connection`](crate::Connection) with `Connection::new` — or the reason nothing connected.
//!
//! Choices: with [`Family::Any`] both lookups run at once and the IPv6 addresses are tried
//! before the IPv4 ones (RFC 6724's default preference); each address gets `timeout` to connect
//! (a refused or unreachable one fails at once); a host given as an IP address is not resolved
//! at all. There is no "happy eyeballs" race: one connect at a time, which is what libevent
//! does and what a board can afford.

use super::config::{DnsError, Query};
use super::resolver::{Done, RequestId, Resolver};
use super::types::RType;
use crate::buffer::Buffer;
use crate::error::Rejected;
use crate::event::{Event, EventId, Fired, Ready};
use crate::events::Events;
use crate::io::{Connect, Datagram, IoError, Transport};
use core::fmt;
use core::net::{IpAddr, SocketAddr};
use core::time::Duration;

/// Which addresses to look up and try.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Family {
    /// IPv4 only (A records).
    V4,
    /// IPv6 only (AAAA records).
    V6,
    /// Both; IPv6 addresses are tried first.
    #[default]
    Any,
}

/// Why connecting by name failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ConnectError {
    /// The name did not resolve to any address (the lookup's error; for [`Family::Any`], the
    /// IPv4 lookup's when both failed).
    Resolve(DnsError),
    /// Every address was tried and none connected: the last one's error.
    Connect(IoError),
    /// The host is not a valid name.
    BadName,
    /// The resolver is full, or the engine has no room for an event.
    Busy,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Resolve(e) => write!(f, "cannot resolve: {e}"),
            ConnectError::Connect(e) => write!(f, "cannot connect: {e}"),
            ConnectError::BadName => f.write_str("not a valid host name"),
            ConnectError::Busy => f.write_str("resolver or engine full"),
        }
    }
}

impl core::error::Error for ConnectError {}

/// A connected transport, and the address it reached.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Connected<H> {
    /// The transport, connected; the application owns it now.
    pub handle: H,
    /// The address it is connected to.
    pub addr: SocketAddr,
}

/// Resolve a host name, then connect to its addresses in turn; up to `A` addresses are kept.
/// See the [module documentation](self).
#[derive(Debug)]
pub struct Connector<H, const A: usize = 8> {
    port: u16,
    timeout: Duration,
    /// The lookups in progress: IPv4, IPv6.
    lookups: [Option<RequestId>; 2],
    errors: [Option<DnsError>; 2],
    v4: heapless::Vec<SocketAddr, A>,
    v6: heapless::Vec<SocketAddr, A>,
    /// The next address to try: an index into `v6` then `v4`.
    next: usize,
    attempt: Option<(H, EventId, SocketAddr)>,
    last_error: Option<IoError>,
    finished: bool,
}

impl<H: Copy + PartialEq + fmt::Debug, const A: usize> Connector<H, A> {
    /// Start connecting to `host` (a name, or an IP address which is not resolved) on `port`,
    /// giving each address `timeout`. Lookups go to `resolver`; the connector's events carry
    /// `datum`. If `host` is an address, or the resolver answers at once, the first connect may
    /// already be on its way.
    ///
    /// # Errors
    ///
    /// [`ConnectError::BadName`] or [`ConnectError::Busy`] (lookups already started are
    /// cancelled).
    #[allow(
        clippy::too_many_arguments,
        reason = "host, port, family and timeout are one request"
    )]
    pub fn start<T, IO, B, const Q: usize, const N: usize, const M: usize>(
        events: &mut dyn Events<T>,
        io: &mut IO,
        resolver: &mut Resolver<H, B, Q, N, M>,
        host: &str,
        port: u16,
        family: Family,
        timeout: Duration,
        datum: T,
    ) -> Result<Self, ConnectError>
    where
        T: Copy,
        IO: Datagram<Handle = H> + Connect<Handle = H>,
        B: Buffer + Default,
    {
        let mut c = Connector {
            port,
            timeout,
            lookups: [None, None],
            errors: [None, None],
            v4: heapless::Vec::new(),
            v6: heapless::Vec::new(),
            next: 0,
            attempt: None,
            last_error: None,
            finished: false,
        };
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            let list = if ip.is_ipv4() { &mut c.v4 } else { &mut c.v6 };
            let _ = list.push(SocketAddr::new(ip, port));
            return match c.try_next(events, io, datum) {
                Some(Err(e)) => Err(e),
                _ => Ok(c),
            };
        }
        let wanted: &[(usize, RType)] = match family {
            Family::V4 => &[(0, RType::A)],
            Family::V6 => &[(1, RType::AAAA)],
            Family::Any => &[(0, RType::A), (1, RType::AAAA)],
        };
        for &(slot, qtype) in wanted {
            let query = Query::new(host, qtype).map_err(|_| ConnectError::BadName)?;
            match resolver.lookup(events, io, query) {
                Ok(id) => c.lookups[slot] = Some(id),
                Err(_) => {
                    for id in c.lookups.iter().flatten() {
                        resolver.cancel(events, io, *id);
                    }
                    return Err(ConnectError::Busy);
                }
            }
        }
        Ok(c)
    }

    /// Whether `id` is one of this connector's lookups: forward its [`Done`] to
    /// [`resolved`](Self::resolved).
    pub fn owns_lookup(&self, id: RequestId) -> bool {
        self.lookups.contains(&Some(id))
    }

    /// Whether `id` is this connector's event: forward it to [`handle`](Self::handle).
    pub fn owns(&self, id: EventId) -> bool {
        self.attempt.is_some_and(|a| a.1 == id)
    }

    /// Take a finished lookup of the resolver. Lookups that are not this connector's are
    /// ignored. Once every lookup is in, connecting starts; the result comes from here only if
    /// nothing can be tried at all, and from [`handle`](Self::handle) otherwise.
    pub fn resolved<T: Copy, IO: Connect<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        done: &Done<'_>,
        datum: T,
    ) -> Option<Result<Connected<H>, ConnectError>> {
        let slot = self.lookups.iter().position(|l| *l == Some(done.id))?;
        self.lookups[slot] = None;
        match &done.result {
            Ok(answer) => {
                let list = if slot == 0 {
                    &mut self.v4
                } else {
                    &mut self.v6
                };
                for ip in answer.addrs() {
                    let addr = SocketAddr::new(ip, self.port);
                    if !list.contains(&addr) && list.push(addr).is_err() {
                        break;
                    }
                }
            }
            Err(e) => self.errors[slot] = Some(*e),
        }
        if self.lookups.iter().any(Option::is_some) || self.attempt.is_some() {
            return None;
        }
        self.try_next(events, io, datum)
    }

    /// Handle a fired event of this connector (others give `None`): the connect in progress
    /// finished, failed or timed out. Returns the result once there is one.
    pub fn handle<T: Copy, IO: Connect<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        fired: &Fired<T>,
    ) -> Option<Result<Connected<H>, ConnectError>> {
        let (h, ev, addr) = self.attempt?;
        if fired.id != ev {
            return None;
        }
        let result = if fired.ready.intersects(Ready::WRITE | Ready::READ) {
            io.connected(h)
        } else {
            Err(IoError::TimedOut)
        };
        match result {
            Err(IoError::WouldBlock) => {
                let _ = events.add(ev, Some(self.timeout));
                None
            }
            Ok(()) => {
                let _ = events.free(ev);
                self.attempt = None;
                self.finished = true;
                Some(Ok(Connected { handle: h, addr }))
            }
            Err(e) => {
                let _ = events.free(ev);
                self.attempt = None;
                io.close(events, h);
                self.last_error = Some(e);
                self.try_next(events, io, fired.datum)
            }
        }
    }

    /// Whether the connector has given its result.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Give up: cancel the lookups and close the connect in progress.
    pub fn cancel<T, IO, B, const Q: usize, const N: usize, const M: usize>(
        mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        resolver: &mut Resolver<H, B, Q, N, M>,
    ) where
        T: Copy,
        IO: Datagram<Handle = H> + Connect<Handle = H>,
        B: Buffer + Default,
    {
        for id in self.lookups.iter_mut().filter_map(Option::take) {
            resolver.cancel(events, io, id);
        }
        if let Some((h, ev, _)) = self.attempt.take() {
            let _ = events.free(ev);
            Transport::close(io, events, h);
        }
    }

    /// Start connecting to the next address; the final error when none is left.
    fn try_next<T: Copy, IO: Connect<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        datum: T,
    ) -> Option<Result<Connected<H>, ConnectError>> {
        loop {
            let addr = match self.next.checked_sub(self.v6.len()) {
                None => self.v6[self.next],
                Some(i) => match self.v4.get(i) {
                    Some(a) => *a,
                    None => return Some(Err(self.failure())),
                },
            };
            self.next += 1;
            let h = match io.connect(addr) {
                Ok(h) => h,
                Err(e) => {
                    self.last_error = Some(e);
                    continue;
                }
            };
            let key = io.source(h);
            match events.start(Event::write(key), datum, Some(self.timeout)) {
                Ok(ev) => {
                    self.attempt = Some((h, ev, addr));
                    return None;
                }
                Err(Rejected { .. }) => {
                    io.close(events, h);
                    self.finished = true;
                    return Some(Err(ConnectError::Busy));
                }
            }
        }
    }

    fn failure(&mut self) -> ConnectError {
        self.finished = true;
        if let Some(e) = self.last_error {
            return ConnectError::Connect(e);
        }
        match self.errors {
            [Some(e), _] | [None, Some(e)] => ConnectError::Resolve(e),
            [None, None] => ConnectError::Resolve(DnsError::NoData),
        }
    }
}
