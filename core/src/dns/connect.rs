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
//! With [`Family::Any`] it races the addresses as Happy Eyeballs v2 (RFC 8305) says:
//!
//! - both lookups run at once; connecting starts as soon as the AAAA answer is in, or
//!   [`RESOLUTION_DELAY`] after the A answer if the AAAA one is still out;
//! - the addresses are tried alternating families, IPv6 first (`v6, v4, v6, v4, …`), and
//!   addresses that arrive late join the ones not tried yet;
//! - a new attempt starts every [`ATTEMPT_DELAY`] while the earlier ones are still connecting
//!   (at most [`RACE`] at once), and at once when one fails; the first to connect wins and the
//!   others are closed.
//!
//! Each attempt gets `timeout` to connect (a refused or unreachable one fails at once); a host
//! given as an IP address is not resolved at all. The connector needs up to `RACE + 1` engine
//! events at once: one per attempt and its timer.

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

/// How long to wait for the AAAA answer once the A answer is in, before connecting over IPv4
/// (RFC 8305 §3: 50 ms).
pub const RESOLUTION_DELAY: Duration = Duration::from_millis(50);

/// How long an attempt has to connect before the next address is tried beside it (RFC 8305 §5
/// recommends 250 ms).
pub const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// The most connection attempts a [`Connector`] has in flight at once.
pub const RACE: usize = 4;

/// Resolve a host name, then race connects to its addresses; up to `A` addresses of each family
/// are kept. See the [module documentation](self).
#[derive(Debug)]
pub struct Connector<H, const A: usize = 8> {
    port: u16,
    timeout: Duration,
    /// The lookups in progress: IPv4, IPv6.
    lookups: [Option<RequestId>; 2],
    errors: [Option<DnsError>; 2],
    v4: heapless::Vec<SocketAddr, A>,
    v6: heapless::Vec<SocketAddr, A>,
    /// How many addresses of each family were tried: IPv4, IPv6.
    tried: [usize; 2],
    /// Which family goes next when both have addresses left.
    v6_next: bool,
    /// The connects in progress: transport, its write event, the address.
    attempts: heapless::Vec<(H, EventId, SocketAddr), RACE>,
    /// The timer of the resolution and attempt delays, once made; whether it is armed.
    delay: Option<EventId>,
    delay_armed: bool,
    last_error: Option<IoError>,
    finished: bool,
}

impl<H: Copy + PartialEq + fmt::Debug, const A: usize> Connector<H, A> {
    /// Start connecting to `host` (a name, or an IP address which is not resolved) on `port`,
    /// giving each address `timeout`. Lookups go to `resolver`; the connector's events carry
    /// `datum`. If `host` is an address, the first connect is on its way already.
    ///
    /// # Errors
    ///
    /// [`ConnectError::BadName`] or [`ConnectError::Busy`] (lookups already started are
    /// cancelled).
    #[allow(
        clippy::too_many_arguments,
        reason = "host, port, family and timeout are one request"
    )]
    pub fn start<T, IO, B, const Q: usize, const N: usize, const M: usize, const C: usize>(
        events: &mut dyn Events<T>,
        io: &mut IO,
        resolver: &mut Resolver<H, B, Q, N, M, C>,
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
            tried: [0, 0],
            v6_next: true,
            attempts: heapless::Vec::new(),
            delay: None,
            delay_armed: false,
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
            return match c.advance(events, io, datum) {
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

    /// Whether `id` is one of this connector's events: forward it to [`handle`](Self::handle).
    pub fn owns(&self, id: EventId) -> bool {
        self.delay == Some(id) || self.attempts.iter().any(|a| a.1 == id)
    }

    /// Take a finished lookup of the resolver. Lookups that are not this connector's are
    /// ignored. Connecting starts when the AAAA answer is in, or [`RESOLUTION_DELAY`] after the
    /// A answer; the result comes from here only if nothing can be tried at all, and from
    /// [`handle`](Self::handle) otherwise.
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
        let started = self.tried != [0, 0];
        if !started && self.delay_armed && self.lookups.iter().all(Option::is_none) {
            // The AAAA answer came within the resolution delay: connect now (RFC 8305 §3).
            return self.advance(events, io, datum);
        }
        if !self.attempts.is_empty() || self.delay_armed {
            // Racing already (or waiting to): the new addresses join the queue.
            return None;
        }
        if !started && slot == 0 && self.lookups[1].is_some() && !self.v4.is_empty() {
            // The A answer came first: give the AAAA one a moment.
            return self.arm_delay(events, RESOLUTION_DELAY, datum);
        }
        self.advance(events, io, datum)
    }

    /// Handle a fired event of this connector (others give `None`): a connect finished, failed
    /// or timed out, or it is time for the next attempt. Returns the result once there is one.
    pub fn handle<T: Copy, IO: Connect<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        fired: &Fired<T>,
    ) -> Option<Result<Connected<H>, ConnectError>> {
        if self.delay == Some(fired.id) {
            self.delay_armed = false;
            return self.advance(events, io, fired.datum);
        }
        let k = self.attempts.iter().position(|a| a.1 == fired.id)?;
        let (h, ev, addr) = self.attempts[k];
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
                self.attempts.swap_remove(k);
                self.stop(events, io);
                self.finished = true;
                Some(Ok(Connected { handle: h, addr }))
            }
            Err(e) => {
                let _ = events.free(ev);
                self.attempts.swap_remove(k);
                io.close(events, h);
                self.last_error = Some(e);
                self.advance(events, io, fired.datum)
            }
        }
    }

    /// Whether the connector has given its result.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Give up: cancel the lookups and close the connects in progress.
    pub fn cancel<T, IO, B, const Q: usize, const N: usize, const M: usize, const C: usize>(
        mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        resolver: &mut Resolver<H, B, Q, N, M, C>,
    ) where
        T: Copy,
        IO: Datagram<Handle = H> + Connect<Handle = H>,
        B: Buffer + Default,
    {
        for id in self.lookups.iter_mut().filter_map(Option::take) {
            resolver.cancel(events, io, id);
        }
        self.stop(events, io);
    }

    /// Close every attempt in progress and free the timer.
    fn stop<T: Copy, IO: Connect<Handle = H>>(&mut self, events: &mut dyn Events<T>, io: &mut IO) {
        for (h, ev, _) in self.attempts.drain(..) {
            let _ = events.free(ev);
            Transport::close(io, events, h);
        }
        if let Some(ev) = self.delay.take() {
            let _ = events.free(ev);
        }
        self.delay_armed = false;
    }

    /// Arm the delay timer for `after` (making it the first time).
    fn arm_delay<T: Copy>(
        &mut self,
        events: &mut dyn Events<T>,
        after: Duration,
        datum: T,
    ) -> Option<Result<Connected<H>, ConnectError>> {
        let armed = match self.delay {
            Some(ev) => events.add(ev, Some(after)).is_ok(),
            None => match events.start(Event::timer(), datum, Some(after)) {
                Ok(ev) => {
                    self.delay = Some(ev);
                    true
                }
                Err(Rejected { .. }) => false,
            },
        };
        // Without a timer there is no race: the next attempt starts when this one ends.
        self.delay_armed = armed;
        None
    }

    /// The next address to try, alternating families (IPv6 first).
    fn next_addr(&mut self) -> Option<SocketAddr> {
        let left6 = self.v6.get(self.tried[1]).copied();
        let left4 = self.v4.get(self.tried[0]).copied();
        let v6 = match (left6, left4) {
            (Some(_), Some(_)) => self.v6_next,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return None,
        };
        self.v6_next = !v6;
        self.tried[usize::from(v6)] += 1;
        if v6 { left6 } else { left4 }
    }

    /// Start the next attempt if there is room and an address, and arm the attempt delay for
    /// the one after; the final error when nothing is left to try or wait for.
    fn advance<T: Copy, IO: Connect<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        datum: T,
    ) -> Option<Result<Connected<H>, ConnectError>> {
        while !self.attempts.is_full() {
            let Some(addr) = self.next_addr() else {
                break;
            };
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
                    // Cannot fail: the list is not full.
                    let _ = self.attempts.push((h, ev, addr));
                    break;
                }
                Err(Rejected { .. }) => {
                    io.close(events, h);
                    if self.attempts.is_empty() {
                        self.stop(events, io);
                        self.finished = true;
                        return Some(Err(ConnectError::Busy));
                    }
                    // The engine is full: the attempts in flight go on alone.
                    return None;
                }
            }
        }
        let more = self.v6.len() > self.tried[1] || self.v4.len() > self.tried[0];
        if more && !self.attempts.is_empty() {
            return self.arm_delay(events, ATTEMPT_DELAY, datum);
        }
        if self.attempts.is_empty() && self.lookups.iter().all(Option::is_none) {
            self.stop(events, io);
            return Some(Err(self.failure()));
        }
        None
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
