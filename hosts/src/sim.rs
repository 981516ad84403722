//! Simulation: the core's [`Sim`] host, and [`SimNet`], in-memory pipes and stream socket pairs
//! whose readiness follows their buffers, on virtual time.
//!
//! `SimNet` lets a test written against real descriptors (write into one end, see the other end
//! become readable, shut down, close, reuse a number) run unchanged and deterministically: the
//! same seed gives the same trace. It also listens and connects on numbered ports, and implements
//! the core's [`Transport`] and [`Accept`], so buffered connections and listeners run on it as on
//! real sockets — with a descriptor limit to exhaust ([`SimNet::set_fd_limit`]) and resets to
//! inject ([`SimNet::reset`]).
//!
//! It also carries datagrams: [`SimNet::bind_udp`] opens a simulated UDP socket on an address
//! (port 0 draws a free port from the seed), and it implements the core's [`Datagram`]. A test
//! decides the fate of every datagram sent with [`SimNet::set_datagram_fate`]: deliver it, drop
//! it, or delay it by some ticks (datagrams delayed by different amounts arrive reordered).
//! Without a rule every datagram arrives at once, in the order sent. A datagram to an address
//! nobody is bound to is dropped, as UDP does.

pub use levent_core::sim::{Action, Sim, SimFull};

use levent_core::io::{Accept, Connect, Datagram, IoError, Transport};
use levent_core::{
    Attached, Change, Clock, Dispatcher, Feed, Host, HostError, Ready, SourceKey, Tick, Turn, Wait,
};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Sources and scripted actions a [`SimNet`] can hold.
pub const SIM_CAPACITY: usize = 4096;

#[derive(Debug)]
struct End {
    peer: Option<SourceKey>,
    inbox: VecDeque<u8>,
    /// This end may write (false for the read end of a pipe, or after `shutdown_write`).
    can_write: bool,
    /// Writing was shut down: writes fail at once, so the end reports writable (as Linux
    /// reports `EPOLLOUT` after `shutdown(SHUT_WR)`).
    shut: bool,
    /// The peer will send nothing more: it shut down writing or closed.
    eof: bool,
    /// The connection was reset: reads and writes fail with `Reset`.
    reset: bool,
    /// A connect to a port nobody listens on: `connected` reports `Refused`.
    refused: bool,
    /// Listening on this port: connections waiting to be accepted.
    backlog: Option<VecDeque<SourceKey>>,
    /// A connect into a black hole: never completes (`connected` says `WouldBlock`).
    pending: bool,
}

/// A datagram on its way, as a [`SimNet::set_datagram_fate`] rule sees it.
#[derive(Debug)]
pub struct SimDatagram<'a> {
    /// The sender's address.
    pub from: SocketAddr,
    /// The destination.
    pub to: SocketAddr,
    /// The payload.
    pub data: &'a [u8],
    /// How many datagrams were sent before this one (0 for the first), across the network.
    pub seq: u64,
}

/// What happens to a datagram (see [`SimNet::set_datagram_fate`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Fate {
    /// Arrives at once.
    Deliver,
    /// Lost.
    Drop,
    /// Arrives after this many ticks.
    Delay(Tick),
}

/// A rule deciding each datagram's [`Fate`].
type FateRule = Box<dyn FnMut(&SimDatagram<'_>) -> Fate>;

#[derive(Debug)]
struct UdpEnd {
    local: SocketAddr,
    inbox: VecDeque<(SocketAddr, Vec<u8>)>,
}

#[derive(Debug)]
struct InFlight {
    due: Tick,
    seq: u64,
    key: SourceKey,
    to: SocketAddr,
    from: SocketAddr,
    data: Vec<u8>,
}

/// Simulated UDP: sockets, bindings, datagrams on their way, and the test's rule.
#[derive(Default)]
struct Udp {
    sockets: HashMap<SourceKey, UdpEnd>,
    bound: HashMap<SocketAddr, SourceKey>,
    in_flight: Vec<InFlight>,
    sent: u64,
    rule: Option<FateRule>,
}

/// In-memory pipes and socket pairs on the simulation host. See the [module documentation](self).
pub struct SimNet {
    /// First, so it is dropped first: the waker is cleared before the descriptors it writes to
    /// close.
    udp: Udp,
    sim: Box<Sim<SIM_CAPACITY>>,
    ends: HashMap<SourceKey, End>,
    ports: HashMap<u16, SourceKey>,
    capacity: usize,
    /// Accepted connections still open, and how many may be.
    accepted: std::collections::HashSet<SourceKey>,
    fd_limit: usize,
    /// Addresses whose connects never complete.
    black_holes: std::collections::HashSet<IpAddr>,
}

impl SimNet {
    /// A simulated network whose random choices all come from `seed`; each direction of a pipe
    /// or socket pair buffers at most 64 KiB.
    pub fn new(seed: u64) -> Self {
        SimNet {
            udp: Udp::default(),
            sim: Box::new(Sim::new(seed).shuffle(true)),
            ends: HashMap::new(),
            ports: HashMap::new(),
            capacity: 64 * 1024,
            accepted: Default::default(),
            fd_limit: usize::MAX,
            black_holes: std::collections::HashSet::new(),
        }
    }

    /// Change how many bytes each direction buffers before a write would block.
    pub fn with_buffer(mut self, bytes: usize) -> Self {
        self.capacity = bytes.max(1);
        self
    }

    /// The underlying simulation host (virtual clock, scripts, signals).
    pub fn sim(&mut self) -> &mut Sim<SIM_CAPACITY> {
        &mut self.sim
    }

    /// The lowest free key, as `open` returns the lowest free descriptor.
    fn key(&mut self) -> SourceKey {
        let mut k = 3;
        while self.ends.contains_key(&SourceKey(k)) || self.udp.sockets.contains_key(&SourceKey(k))
        {
            k += 1;
        }
        SourceKey(k)
    }

    fn end(peer: Option<SourceKey>, can_write: bool) -> End {
        End {
            peer,
            inbox: VecDeque::new(),
            can_write,
            shut: false,
            eof: false,
            reset: false,
            refused: false,
            backlog: None,
            pending: false,
        }
    }

    /// Let the accepting side hold at most `n` accepted connections at once: accepting beyond that
    /// fails with [`IoError::NoDescriptors`], as `EMFILE` does when a server runs out of
    /// descriptors.
    pub fn set_fd_limit(&mut self, n: usize) {
        self.fd_limit = n;
    }

    /// How many descriptors are open.
    pub fn open(&self) -> usize {
        self.ends.len()
    }

    /// Listen on `port`. Fails with `AddrInUse` when something already listens there.
    pub fn listen(&mut self, port: u16) -> Result<SourceKey, IoError> {
        if self.ports.contains_key(&port) {
            return Err(IoError::AddrInUse);
        }
        let k = self.key();
        let mut end = Self::end(None, false);
        end.backlog = Some(VecDeque::new());
        self.ends.insert(k, end);
        self.ports.insert(port, k);
        self.update(k);
        Ok(k)
    }

    /// Start connecting to `port`: the connection completes at once if something listens there
    /// (it waits in the listener's backlog), and is refused otherwise — reported, as for a real
    /// non-blocking connect, by [`Transport::connected`] once the socket is writable.
    pub fn connect(&mut self, port: u16) -> SourceKey {
        match self.ports.get(&port).copied() {
            Some(l) => {
                let (client, server) = self.pair();
                if let Some(b) = self.ends.get_mut(&l).and_then(|e| e.backlog.as_mut()) {
                    b.push_back(server);
                }
                self.update(l);
                client
            }
            None => self.refused(),
        }
    }

    /// A socket whose connect was refused, as [`connect`](Self::connect) to a port nobody
    /// listens on gives: [`Transport::connected`] reports `Refused` once it is writable.
    pub fn refused(&mut self) -> SourceKey {
        let k = self.key();
        let mut end = Self::end(None, true);
        end.refused = true;
        self.ends.insert(k, end);
        self.update(k);
        k
    }

    /// Make `ip` a black hole: a connect to it never completes and never fails (its SYN is lost
    /// every time), as for a host that is down behind a router that says nothing; only the
    /// connecting side's timeout ends it.
    pub fn black_hole(&mut self, ip: IpAddr) {
        self.black_holes.insert(ip);
    }

    /// Reset the connection of `key` as a peer's `RST` would: both ends fail with
    /// [`IoError::Reset`] from now on.
    pub fn reset(&mut self, key: SourceKey) {
        let peer = self.ends.get(&key).and_then(|e| e.peer);
        for k in [Some(key), peer].into_iter().flatten() {
            if let Some(e) = self.ends.get_mut(&k) {
                e.reset = true;
                e.inbox.clear();
            }
            self.update(k);
        }
    }

    /// The other end of the stream of `key` (a pair's other socket, an accepted connection's
    /// client), while both are open.
    pub fn peer(&self, key: SourceKey) -> Option<SourceKey> {
        self.ends.get(&key).and_then(|e| e.peer)
    }

    /// A connected pair of stream sockets (`socketpair(AF_UNIX, SOCK_STREAM)`).
    pub fn pair(&mut self) -> (SourceKey, SourceKey) {
        let a = self.key();
        self.ends.insert(a, Self::end(None, true));
        let b = self.key();
        self.ends.insert(b, Self::end(Some(a), true));
        if let Some(e) = self.ends.get_mut(&a) {
            e.peer = Some(b);
        }
        self.update(a);
        self.update(b);
        (a, b)
    }

    /// A pipe: `(read end, write end)`.
    pub fn pipe(&mut self) -> (SourceKey, SourceKey) {
        let (r, w) = self.pair();
        if let Some(e) = self.ends.get_mut(&r) {
            e.can_write = false;
        }
        if let Some(e) = self.ends.get_mut(&w) {
            e.eof = true;
        }
        self.update(r);
        self.update(w);
        (r, w)
    }

    fn unknown() -> io::Error {
        io::Error::new(io::ErrorKind::NotFound, "no such simulated descriptor")
    }

    /// Write into `key`; the data arrives at its peer. Blocks (`WouldBlock`) when the peer's buffer
    /// is full; `BrokenPipe` when the peer is gone or cannot read.
    pub fn write(&mut self, key: SourceKey, data: &[u8]) -> io::Result<usize> {
        let end = self.ends.get(&key).ok_or_else(Self::unknown)?;
        if end.reset {
            return Err(io::ErrorKind::ConnectionReset.into());
        }
        if !end.can_write {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let Some(peer) = end.peer.and_then(|p| self.ends.get_mut(&p)) else {
            return Err(io::ErrorKind::BrokenPipe.into());
        };
        let room = self.capacity.saturating_sub(peer.inbox.len());
        if data.is_empty() {
            return Ok(0);
        }
        if room == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = room.min(data.len());
        peer.inbox.extend(&data[..n]);
        if let Some(p) = self.ends.get(&key).and_then(|e| e.peer) {
            // New data is a new edge even if the peer was readable already.
            let _ = self.sim.set_ready(p, Ready::READ);
            self.update(p);
        }
        self.update(key);
        Ok(n)
    }

    /// Read from `key`: `Ok(0)` at end of file, `WouldBlock` when nothing is there yet.
    pub fn read(&mut self, key: SourceKey, buf: &mut [u8]) -> io::Result<usize> {
        let end = self.ends.get_mut(&key).ok_or_else(Self::unknown)?;
        if end.reset {
            return Err(io::ErrorKind::ConnectionReset.into());
        }
        if end.inbox.is_empty() {
            return if end.eof || end.peer.is_none() {
                Ok(0)
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            };
        }
        let n = buf.len().min(end.inbox.len());
        let (a, b) = end.inbox.as_slices();
        let first = a.len().min(n);
        buf[..first].copy_from_slice(&a[..first]);
        buf[first..n].copy_from_slice(&b[..n - first]);
        end.inbox.drain(..n);
        let peer = end.peer;
        self.update(key);
        if let Some(p) = peer {
            self.update(p);
        }
        Ok(n)
    }

    /// Shut down the writing side of `key`: its peer reads end of file after the buffered data.
    pub fn shutdown_write(&mut self, key: SourceKey) -> io::Result<()> {
        let end = self.ends.get_mut(&key).ok_or_else(Self::unknown)?;
        end.can_write = false;
        end.shut = true;
        if let Some(p) = end.peer {
            if let Some(pe) = self.ends.get_mut(&p) {
                pe.eof = true;
            }
            self.update(p);
        }
        self.update(key);
        Ok(())
    }

    /// Close `key`: deregister it from `d` at once, then drop it. Its peer sees end of file (and
    /// `BrokenPipe` when writing). The key may be handed out again by the next `pair` or `pipe`.
    pub fn close(&mut self, d: &mut dyn Dispatcher, key: SourceKey) -> io::Result<()> {
        self.forget(d, key);
        let end = self.ends.remove(&key).ok_or_else(Self::unknown)?;
        self.ports.retain(|_, k| *k != key);
        self.accepted.remove(&key);
        for waiting in end.backlog.iter().flatten() {
            self.reset(*waiting);
        }
        if let Some(p) = end.peer {
            if let Some(pe) = self.ends.get_mut(&p) {
                pe.eof = true;
                pe.peer = None;
            }
            self.update(p);
        }
        self.sim
            .clear_ready(key, Ready::READ | Ready::WRITE | Ready::CLOSED);
        Ok(())
    }

    /// Bring the simulation's readiness for `key` in line with its buffers.
    fn update(&mut self, key: SourceKey) {
        if self.udp.sockets.contains_key(&key) {
            self.update_udp(key);
            return;
        }
        let Some(end) = self.ends.get(&key) else {
            return;
        };
        let mut want = Ready::NONE;
        if let Some(backlog) = &end.backlog {
            if !backlog.is_empty() {
                want |= Ready::READ;
            }
        } else if end.pending {
            // Nothing ever happens.
        } else if end.reset || end.refused {
            // Every operation fails at once: report it so the program finds out.
            want = Ready::READ | Ready::WRITE | Ready::CLOSED;
        } else {
            if !end.inbox.is_empty() || end.eof || end.peer.is_none() {
                want |= Ready::READ;
            }
            if end.eof || end.peer.is_none() {
                want |= Ready::CLOSED;
            }
            if end.can_write {
                let room = match end.peer.and_then(|p| self.ends.get(&p)) {
                    Some(peer) => peer.inbox.len() < self.capacity,
                    // Writing fails at once: report it so the program finds out.
                    None => true,
                };
                if room {
                    want |= Ready::WRITE;
                }
            } else if end.shut {
                want |= Ready::WRITE;
            }
        }
        let have = self.sim.readiness(key);
        self.sim.clear_ready(key, have & !want);
        let new = want & !have;
        if !new.is_empty() {
            let _ = self.sim.set_ready(key, new);
        }
    }
}

impl SimNet {
    /// Open a simulated UDP socket bound to `local`; port 0 draws a free port (49152 to 65535)
    /// from the seed. Fails with `AddrInUse` when the address is taken.
    pub fn bind_udp(&mut self, local: SocketAddr) -> Result<SourceKey, IoError> {
        let mut local = local;
        if local.port() == 0 {
            loop {
                let port = self.sim.rng().u16(49152..=65535);
                local.set_port(port);
                if !self.udp.bound.contains_key(&local) {
                    break;
                }
            }
        } else if self.udp.bound.contains_key(&local) {
            return Err(IoError::AddrInUse);
        }
        let k = self.key();
        self.udp.sockets.insert(
            k,
            UdpEnd {
                local,
                inbox: VecDeque::new(),
            },
        );
        self.udp.bound.insert(local, k);
        self.update(k);
        Ok(k)
    }

    /// Decide the fate of every datagram sent from now on with `rule` (deliver, drop, delay);
    /// the rule sees each datagram's addresses, payload and sequence number. Keep the rule
    /// deterministic (draw from a seeded generator) and the simulation stays deterministic.
    pub fn set_datagram_fate(&mut self, rule: impl FnMut(&SimDatagram<'_>) -> Fate + 'static) {
        self.udp.rule = Some(Box::new(rule));
    }

    /// Deliver every datagram at once again.
    pub fn clear_datagram_fate(&mut self) {
        self.udp.rule = None;
    }

    /// How many datagrams have been sent on this network.
    pub fn datagrams_sent(&self) -> u64 {
        self.udp.sent
    }

    /// The socket bound to `to`, or to the unspecified address of its family on its port.
    fn udp_dest(&self, to: SocketAddr) -> Option<SourceKey> {
        let any = match to.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        self.udp
            .bound
            .get(&to)
            .or_else(|| self.udp.bound.get(&SocketAddr::new(any, to.port())))
            .copied()
    }

    fn udp_send(&mut self, key: SourceKey, data: &[u8], to: SocketAddr) -> Result<usize, IoError> {
        let local = self.udp.sockets.get(&key).ok_or(IoError::Closed)?.local;
        let from = if local.ip().is_unspecified() {
            let ip = match local.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            };
            SocketAddr::new(ip, local.port())
        } else {
            local
        };
        let seq = self.udp.sent;
        self.udp.sent += 1;
        let fate = match self.udp.rule.as_mut() {
            Some(rule) => rule(&SimDatagram {
                from,
                to,
                data,
                seq,
            }),
            None => Fate::Deliver,
        };
        let Some(dest) = self.udp_dest(to) else {
            return Ok(data.len());
        };
        match fate {
            Fate::Drop => {}
            Fate::Deliver => {
                if let Some(end) = self.udp.sockets.get_mut(&dest) {
                    end.inbox.push_back((from, data.to_vec()));
                    let _ = self.sim.set_ready(dest, Ready::READ);
                }
            }
            Fate::Delay(ticks) => {
                let due = self.sim.now().saturating_add(ticks);
                self.udp.in_flight.push(InFlight {
                    due,
                    seq,
                    key: dest,
                    to,
                    from,
                    data: data.to_vec(),
                });
                let _ = self
                    .sim
                    .schedule(due, levent_core::sim::Action::SetReady(dest, Ready::READ));
            }
        }
        Ok(data.len())
    }

    /// Move the delayed datagrams that are due into their sockets' inboxes, in order of arrival.
    fn deliver_due(&mut self) {
        let now = self.sim.now();
        if !self.udp.in_flight.iter().any(|d| d.due <= now) {
            return;
        }
        self.udp.in_flight.sort_by_key(|d| (d.due, d.seq));
        let split = self.udp.in_flight.partition_point(|d| d.due <= now);
        let due: Vec<InFlight> = self.udp.in_flight.drain(..split).collect();
        for d in due {
            // Delivered only if the same socket is still bound where it was sent.
            if self.udp_dest(d.to) == Some(d.key)
                && let Some(end) = self.udp.sockets.get_mut(&d.key)
            {
                end.inbox.push_back((d.from, d.data));
                let _ = self.sim.set_ready(d.key, Ready::READ);
            }
        }
    }

    fn udp_recv(&mut self, key: SourceKey, buf: &mut [u8]) -> Result<(usize, SocketAddr), IoError> {
        self.deliver_due();
        let end = self.udp.sockets.get_mut(&key).ok_or(IoError::Closed)?;
        let Some((from, data)) = end.inbox.pop_front() else {
            self.update_udp(key);
            return Err(IoError::WouldBlock);
        };
        let n = data.len().min(buf.len());
        buf[..n].copy_from_slice(&data[..n]);
        self.update_udp(key);
        Ok((n, from))
    }

    fn udp_close(&mut self, d: &mut dyn Dispatcher, key: SourceKey) {
        self.forget(d, key);
        if let Some(end) = self.udp.sockets.remove(&key) {
            self.udp.bound.remove(&end.local);
        }
        self.udp.in_flight.retain(|d| d.key != key);
        self.sim
            .clear_ready(key, Ready::READ | Ready::WRITE | Ready::CLOSED);
    }

    fn update_udp(&mut self, key: SourceKey) {
        let Some(end) = self.udp.sockets.get(&key) else {
            return;
        };
        let now = self.sim.now();
        let mut want = Ready::WRITE;
        if !end.inbox.is_empty()
            || self
                .udp
                .in_flight
                .iter()
                .any(|d| d.key == key && d.due <= now)
        {
            want |= Ready::READ;
        }
        let have = self.sim.readiness(key);
        self.sim.clear_ready(key, have & !want);
        let new = want & !have;
        if !new.is_empty() {
            let _ = self.sim.set_ready(key, new);
        }
    }
}

impl Datagram for SimNet {
    type Handle = SourceKey;

    fn bind(&mut self, local: SocketAddr) -> Result<SourceKey, IoError> {
        self.bind_udp(local)
    }

    fn source(&self, h: SourceKey) -> SourceKey {
        h
    }

    fn local_addr(&self, h: SourceKey) -> Result<SocketAddr, IoError> {
        self.udp
            .sockets
            .get(&h)
            .map(|e| e.local)
            .ok_or(IoError::Closed)
    }

    fn send_to(&mut self, h: SourceKey, buf: &[u8], to: SocketAddr) -> Result<usize, IoError> {
        self.udp_send(h, buf, to)
    }

    fn recv_from(&mut self, h: SourceKey, buf: &mut [u8]) -> Result<(usize, SocketAddr), IoError> {
        self.udp_recv(h, buf)
    }

    fn close(&mut self, d: &mut dyn Dispatcher, h: SourceKey) {
        self.udp_close(d, h);
    }
}

impl Connect for SimNet {
    /// Connects to the port of `to`. Simulated streams are numbered by port only and listen on
    /// the simulated host's loopback addresses, so a connect to any other address (127.0.0.2,
    /// say) is refused, as where nobody listens.
    fn connect(&mut self, to: SocketAddr) -> Result<SourceKey, IoError> {
        if self.black_holes.contains(&to.ip()) {
            let k = self.key();
            let mut end = Self::end(None, true);
            end.pending = true;
            self.ends.insert(k, end);
            self.update(k);
            return Ok(k);
        }
        let local = match to.ip() {
            IpAddr::V4(ip) => ip == Ipv4Addr::LOCALHOST || ip.is_unspecified(),
            IpAddr::V6(ip) => ip == Ipv6Addr::LOCALHOST || ip.is_unspecified(),
        };
        // Port 0 is never listened on: the connect is refused like any unheard port.
        Ok(SimNet::connect(self, if local { to.port() } else { 0 }))
    }
}

/// The simulated network's host is its simulation host: virtual time, the engine's own ticks.
impl Host for SimNet {
    fn clock(&self) -> Option<Clock> {
        self.sim.clock()
    }

    fn apply(&mut self, change: Change) -> Result<(), HostError> {
        Host::apply(&mut *self.sim, change)
    }

    fn wait(&mut self, wait: Wait, feed: &mut dyn Feed) -> Result<Turn, HostError> {
        self.sim.wait(wait, feed)
    }

    fn now(&mut self) -> Tick {
        self.sim.now()
    }

    fn attach(&mut self, notifier: Attached) -> Result<(), HostError> {
        self.sim.attach(notifier)
    }
}

impl Transport for SimNet {
    type Handle = SourceKey;

    fn source(&self, h: SourceKey) -> SourceKey {
        h
    }

    fn read(&mut self, h: SourceKey, buf: &mut [u8]) -> Result<usize, IoError> {
        SimNet::read(self, h, buf).map_err(|e| crate::net::io_error(&e))
    }

    fn write(&mut self, h: SourceKey, buf: &[u8]) -> Result<usize, IoError> {
        SimNet::write(self, h, buf).map_err(|e| crate::net::io_error(&e))
    }

    fn shutdown_write(&mut self, h: SourceKey) -> Result<(), IoError> {
        SimNet::shutdown_write(self, h).map_err(|_| IoError::Closed)
    }

    fn connected(&mut self, h: SourceKey) -> Result<(), IoError> {
        match self.ends.get(&h) {
            None => Err(IoError::Closed),
            Some(e) if e.pending => Err(IoError::WouldBlock),
            Some(e) if e.refused => Err(IoError::Refused),
            Some(e) if e.reset => Err(IoError::Reset),
            Some(_) => Ok(()),
        }
    }

    fn close(&mut self, d: &mut dyn Dispatcher, h: SourceKey) {
        let _ = SimNet::close(self, d, h);
    }
}

impl Accept for SimNet {
    fn accept(&mut self, h: SourceKey) -> Result<SourceKey, IoError> {
        let full = self.accepted.len() >= self.fd_limit;
        let end = self.ends.get_mut(&h).ok_or(IoError::Closed)?;
        let backlog = end.backlog.as_mut().ok_or(IoError::NotConnected)?;
        if backlog.is_empty() {
            return Err(IoError::WouldBlock);
        }
        if full {
            return Err(IoError::NoDescriptors);
        }
        let k = backlog.pop_front().ok_or(IoError::WouldBlock)?;
        self.accepted.insert(k);
        self.update(h);
        Ok(k)
    }
}
