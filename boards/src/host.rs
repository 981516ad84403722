//! [`NetHost`]: the synchronous core of the board adapter. It polls a smoltcp [`Interface`],
//! derives readiness from socket state, and feeds the dispatcher; it never sleeps.
//!
//! # Sources
//!
//! Every socket the host holds is a source, named by a [`SourceKey`] below `N` (its slot in the
//! host's table); each listening pool is a source too, with a key from `N` on. The key is also
//! the [`Transport`] handle, so the core's [`Connection`](levent_core::Connection) and
//! [`Listener`](levent_core::Listener) run over a `NetHost` unchanged.
//!
//! After every [`Interface::poll`] the host reports, for each registered source:
//!
//! | socket | readable | writable | closed |
//! |---|---|---|---|
//! | TCP | data to receive, or the peer sent FIN (end of file) | room in the send buffer | the peer sent FIN; reset or timed out (then readable and writable too, so the next read or write sees the error) |
//! | listening pool | a pool socket finished its handshake: [`Accept::accept`] has a connection | – | – |
//! | UDP | a datagram is queued | room for a datagram | – |
//!
//! With the `udp` feature, UDP sockets are added with `NetHost::add_udp` (smoltcp needs their
//! packet buffers) and bound either with `NetHost::udp` or through the core's `Datagram` trait,
//! whose `bind` takes the first UDP socket that is not bound yet; the DNS server runs over the
//! latter.
//!
//! Level-triggered sources are reported at every turn while the condition holds; edge-triggered
//! ones when it appears, and again when more data arrives.
//!
//! # Accepting without `accept`
//!
//! smoltcp has no `accept`: a socket in `Listen` state becomes the connection. [`NetHost::listen`]
//! therefore keeps a fixed *pool* of TCP sockets listening on one endpoint. When one of them
//! completes a handshake the pool's source turns readable, [`Accept::accept`] hands that socket
//! out as a new connection, and the others keep listening. When the application closes the
//! connection, the socket lingers until its FIN is acknowledged (at most the
//! [linger time](NetHost::set_linger)), then listens again. While every socket of a pool is
//! handed out nobody listens, and smoltcp answers new connection attempts with a reset (a
//! client sees [`IoError::Refused`]), as a Linux listener with a full backlog and
//! `tcp_abort_on_overflow` does; the pool recovers as connections close.
//!
//! # Time and waiting
//!
//! Ticks come from the [`Clock`] given to [`NetHost::new`]: [`CLOCK`](crate::CLOCK) on a board
//! (embassy's `Instant`), or a [manual](Clock::manual) clock moved with [`NetHost::set_now`] in a
//! simulation. A turn never blocks: it applies the change list, drains the notifier, polls,
//! feeds readiness, advances the engine's time and, if the engine wanted to wait, returns
//! [`Turn::Yielded`]. The caller then sleeps until [`NetHost::wake_at`] (the earlier of the
//! engine's deadline and smoltcp's `poll_at`), a frame, or a notification: the async
//! [`next`](crate::next) does exactly that on embassy, a simulation moves its virtual clock.

use crate::guard::{Guarded, Tuple};
use crate::time::{from_smoltcp, to_smoltcp};
use crate::{TimeHost, Waking};
use core::net::SocketAddr;
#[cfg(feature = "udp")]
use core::net::{Ipv4Addr, SocketAddrV4};
use core::time::Duration;
#[cfg(feature = "udp")]
use levent_core::io::Datagram;
use levent_core::io::{Accept, IoError, Transport};
use levent_core::{
    Attached, Change, Clock, Dispatcher, Feed, Host, HostError, Interest, Ready, SourceKey, Tick,
    Token, Turn, Wait,
};
use smoltcp::iface::{
    Config, Interface, PollIngressSingleResult, PollResult, SocketHandle, SocketSet, SocketStorage,
};
use smoltcp::phy::Device;
use smoltcp::socket::tcp;
#[cfg(feature = "udp")]
use smoltcp::socket::udp;
use smoltcp::wire::{IpEndpoint, IpListenEndpoint};

/// Receive and send buffers for one TCP socket, sized by const generics, to keep in a `static`
/// (or a `StaticCell`) and hand to [`NetHost::add_tcp`].
///
/// ```
/// use levent_embassy::TcpBuffers;
/// let bufs: &'static mut [TcpBuffers<1024, 1024>; 2] =
///     Box::leak(Box::new([TcpBuffers::new(), TcpBuffers::new()])); // a StaticCell on a board
/// let (rx, tx) = bufs[0].split();
/// assert_eq!((rx.len(), tx.len()), (1024, 1024));
/// ```
#[derive(Debug)]
pub struct TcpBuffers<const RX: usize, const TX: usize> {
    rx: [u8; RX],
    tx: [u8; TX],
}

impl<const RX: usize, const TX: usize> Default for TcpBuffers<RX, TX> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const RX: usize, const TX: usize> TcpBuffers<RX, TX> {
    /// Zeroed buffers; `const`, so they can initialise a `static`.
    pub const fn new() -> Self {
        TcpBuffers {
            rx: [0; RX],
            tx: [0; TX],
        }
    }

    /// The receive and the send buffer.
    pub fn split(&mut self) -> (&mut [u8], &mut [u8]) {
        (&mut self.rx, &mut self.tx)
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Reg {
    token: Option<Token>,
    interest: Interest,
    edge: bool,
    /// Readiness last reported (edge-triggered sources report what is new).
    last: Ready,
    /// Receive queue length last seen: more data is a new edge.
    rx: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Use {
    /// No socket in this slot.
    Empty,
    /// Closed and unused: [`NetHost::connect`] may take it.
    Free,
    /// Listening (or finishing a handshake) for pool `p`.
    Pooled(u8),
    /// Handed to the application (accepted from pool `p`, or connected).
    Open(Option<u8>),
    /// Closed by the application; back to its pool once the FIN is acknowledged.
    Closing { pool: Option<u8>, since: Tick },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Proto {
    Tcp,
    #[cfg(feature = "udp")]
    Udp,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    handle: Option<SocketHandle>,
    proto: Proto,
    use_: Use,
    /// The connection was established at some point: a later close without FIN is a reset,
    /// not a refused connect.
    established: bool,
    reg: Reg,
}

impl Slot {
    const EMPTY: Slot = Slot {
        handle: None,
        proto: Proto::Tcp,
        use_: Use::Empty,
        established: false,
        reg: Reg {
            token: None,
            interest: Interest::NONE,
            edge: false,
            last: Ready::NONE,
            rx: 0,
        },
    };
}

#[derive(Clone, Copy, Debug)]
struct Pool {
    endpoint: Option<IpListenEndpoint>,
    reg: Reg,
}

/// The synchronous board host: a smoltcp interface, its device and its sockets, as a levent
/// [`Host`] and [`Transport`]. See the [module documentation](self).
///
/// `N` bounds the sockets (the slots of the storage given to [`new`](Self::new)), `L` the
/// listening pools.
pub struct NetHost<'a, D, const N: usize, const L: usize = 1> {
    iface: Interface,
    device: D,
    sockets: SocketSet<'a>,
    capacity: usize,
    slots: [Slot; N],
    pools: [Pool; L],
    /// Time, the notifier and yielding: what a host without a network does too.
    pub(crate) time: TimeHost,
    linger: Tick,
    keep_alive: Option<smoltcp::time::Duration>,
    next_port: u16,
    /// The DHCPv4 client, if [`add_dhcp`](Self::add_dhcp) added one.
    #[cfg(feature = "dhcpv4")]
    dhcp: Option<SocketHandle>,
}

fn tcp_ready(s: &tcp::Socket<'_>) -> Ready {
    use tcp::State::*;
    match s.state() {
        Listen | SynSent | SynReceived => Ready::NONE,
        Closed => Ready::READ | Ready::WRITE | Ready::CLOSED,
        state => {
            let mut r = Ready::NONE;
            if s.can_recv() {
                r |= Ready::READ;
            }
            if matches!(state, CloseWait | LastAck | Closing | TimeWait) {
                r |= Ready::READ | Ready::CLOSED;
            }
            if s.can_send() {
                r |= Ready::WRITE;
            }
            r
        }
    }
}

fn past_handshake(state: tcp::State) -> bool {
    use tcp::State::*;
    !matches!(state, Closed | Listen | SynSent | SynReceived)
}

#[cfg(feature = "udp")]
fn udp_ready(s: &udp::Socket<'_>) -> Ready {
    let mut r = Ready::NONE;
    if s.can_recv() {
        r |= Ready::READ;
    }
    if s.can_send() {
        r |= Ready::WRITE;
    }
    r
}

impl<'a, D: Device, const N: usize, const L: usize> NetHost<'a, D, N, L> {
    /// A host over `device` with interface `config`, keeping its sockets in `storage` (at most
    /// `N` of them), on `clock`: [`CLOCK`](crate::CLOCK) on a board, a manual clock in a
    /// simulation (the engine must use the same tick rate).
    ///
    /// Fails when the hardware address of `config` does not match the device's medium.
    pub fn new(
        config: Config,
        mut device: D,
        storage: &'a mut [SocketStorage<'a>],
        clock: Clock,
    ) -> Result<Self, HostError> {
        let medium = match config.hardware_addr {
            smoltcp::wire::HardwareAddress::Ethernet(_) => smoltcp::phy::Medium::Ethernet,
            _ => smoltcp::phy::Medium::Ip,
        };
        if medium != device.capabilities().medium {
            return Err(HostError::Other(
                "the hardware address does not match the device's medium",
            ));
        }
        let time = TimeHost::new(clock);
        let iface = Interface::new(config, &mut device, to_smoltcp(time.now(), &clock));
        let capacity = storage.len().min(N);
        Ok(NetHost {
            iface,
            device,
            sockets: SocketSet::new(storage),
            capacity,
            slots: [Slot::EMPTY; N],
            pools: [Pool {
                endpoint: None,
                reg: Reg::default(),
            }; L],
            time,
            linger: clock.ticks(Duration::from_secs(30)).unwrap_or(Tick::MAX),
            keep_alive: Some(smoltcp::time::Duration::from_secs(10)),
            next_port: 49152,
            #[cfg(feature = "dhcpv4")]
            dhcp: None,
        })
    }

    /// The smoltcp interface: set addresses and routes here.
    pub fn interface(&mut self) -> &mut Interface {
        &mut self.iface
    }

    /// The device.
    pub fn device(&mut self) -> &mut D {
        &mut self.device
    }

    /// The time of the last turn (or of [`set_now`](Self::set_now)).
    pub fn now(&self) -> Tick {
        self.time.now()
    }

    /// Move a manual clock to `now` (time never goes back). A readable clock is read at every
    /// turn instead.
    pub fn set_now(&mut self, now: Tick) {
        self.time.set_now(now);
    }

    /// How long a closed connection may take to finish its close (FIN acknowledged) before it is
    /// aborted and its socket reused. 30 seconds by default (under heavy loss smoltcp backs its
    /// retransmissions off to seconds apart).
    pub fn set_linger(&mut self, linger: Duration) {
        self.linger = self.time.clock().ticks(linger).unwrap_or(Tick::MAX);
    }

    /// The TCP keep-alive interval of sockets added from now on (smoltcp's `set_keep_alive`);
    /// 10 seconds by default, `None` for none. Besides finding dead peers it unsticks a
    /// connection whose window update was lost, which smoltcp 0.14 does not always recover from
    /// by itself under loss. Costs one small segment per idle connection and interval.
    pub fn set_keep_alive(&mut self, interval: Option<Duration>) {
        self.keep_alive = interval.map(|d| {
            smoltcp::time::Duration::from_micros(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        });
    }

    fn add<S: smoltcp::socket::AnySocket<'a>>(
        &mut self,
        socket: S,
        proto: Proto,
    ) -> Result<usize, IoError> {
        let used = self.slots.iter().filter(|s| s.use_ != Use::Empty).count();
        let i = self
            .slots
            .iter()
            .position(|s| s.use_ == Use::Empty)
            .filter(|_| used < self.capacity)
            .ok_or(IoError::NoDescriptors)?;
        let handle = self.sockets.add(socket);
        self.slots[i] = Slot {
            handle: Some(handle),
            proto,
            use_: Use::Free,
            ..Slot::EMPTY
        };
        Ok(i)
    }

    /// Add a TCP socket with these buffers to the host's free sockets, for
    /// [`connect`](Self::connect) and [`listen`](Self::listen). Fails with
    /// [`IoError::NoDescriptors`] when `N` sockets (or the storage) are in use.
    pub fn add_tcp(&mut self, rx: &'a mut [u8], tx: &'a mut [u8]) -> Result<(), IoError> {
        let mut socket = tcp::Socket::new(tcp::SocketBuffer::new(rx), tcp::SocketBuffer::new(tx));
        // Under loss a smoltcp 0.14 connection can stall with data queued and no timer running
        // (a lost window update that zero-window probing does not recover); a keep-alive
        // elicits the peer's ACK and window, and the data flows again. See `set_keep_alive`.
        socket.set_keep_alive(self.keep_alive);
        self.add(socket, Proto::Tcp).map(|_| ())
    }

    #[cfg(feature = "udp")]
    /// Add a UDP socket with these packet buffers; bind it with [`udp`](Self::udp). Its key is
    /// its source and the handle for [`send_to`](Self::send_to) and
    /// [`recv_from`](Self::recv_from).
    pub fn add_udp(
        &mut self,
        rx: udp::PacketBuffer<'a>,
        tx: udp::PacketBuffer<'a>,
    ) -> Result<SourceKey, IoError> {
        let i = self.add(udp::Socket::new(rx, tx), Proto::Udp)?;
        self.slots[i].use_ = Use::Open(None);
        Ok(SourceKey(i))
    }

    /// How many TCP sockets are free for [`connect`](Self::connect) or [`listen`](Self::listen).
    pub fn free_tcp(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.proto == Proto::Tcp && s.use_ == Use::Free)
            .count()
    }

    fn take_free(&mut self) -> Result<usize, IoError> {
        self.slots
            .iter()
            .position(|s| s.proto == Proto::Tcp && s.use_ == Use::Free)
            .ok_or(IoError::NoDescriptors)
    }

    fn tcp_at(&mut self, i: usize) -> Option<&mut tcp::Socket<'a>> {
        let slot = self.slots.get(i)?;
        match (slot.handle, slot.proto) {
            (Some(h), Proto::Tcp) => Some(self.sockets.get_mut::<tcp::Socket<'a>>(h)),
            _ => None,
        }
    }

    /// Listen on `endpoint` with a pool of `backlog` free TCP sockets (see the
    /// [module documentation](self)); returns the pool's key, a handle for
    /// [`Listener`](levent_core::Listener). Fails with [`IoError::NoDescriptors`] when fewer
    /// sockets are free or all `L` pools are in use, [`IoError::AddrInUse`] when a pool already
    /// listens there, and [`IoError::Other`] for port 0.
    pub fn listen(
        &mut self,
        endpoint: impl Into<IpListenEndpoint>,
        backlog: usize,
    ) -> Result<SourceKey, IoError> {
        let endpoint = endpoint.into();
        if endpoint.port == 0 {
            return Err(IoError::Other(0));
        }
        if self.pools.iter().any(|p| p.endpoint == Some(endpoint)) {
            return Err(IoError::AddrInUse);
        }
        if backlog == 0 || self.free_tcp() < backlog {
            return Err(IoError::NoDescriptors);
        }
        let p = self
            .pools
            .iter()
            .position(|p| p.endpoint.is_none())
            .ok_or(IoError::NoDescriptors)?;
        self.pools[p] = Pool {
            endpoint: Some(endpoint),
            reg: Reg::default(),
        };
        for _ in 0..backlog {
            let i = self.take_free()?;
            self.slots[i].use_ = Use::Pooled(p as u8);
            if let Some(s) = self.tcp_at(i) {
                s.listen(endpoint).map_err(|_| IoError::Other(0))?;
            }
        }
        Ok(SourceKey(N + p))
    }

    /// How many sockets of pool `key` are listening now (not handed out, not lingering).
    pub fn listening(&self, key: SourceKey) -> usize {
        let Some(p) = key.0.checked_sub(N).filter(|&p| p < L) else {
            return 0;
        };
        let mut n = 0;
        for slot in &self.slots {
            if let (Use::Pooled(q), Some(h)) = (slot.use_, slot.handle)
                && usize::from(q) == p
                && self.sockets.get::<tcp::Socket<'a>>(h).state() == tcp::State::Listen
            {
                n += 1;
            }
        }
        n
    }

    /// Start connecting a free TCP socket to `remote` from an ephemeral port; returns its key,
    /// a handle for [`Connection::connecting`](levent_core::Connection::connecting). The
    /// connect completes (or fails) as the host polls. Fails with [`IoError::NoDescriptors`]
    /// when no TCP socket is free, [`IoError::Unreachable`] for an unusable address.
    pub fn connect(&mut self, remote: impl Into<IpEndpoint>) -> Result<SourceKey, IoError> {
        let i = self.take_free()?;
        let port = self.next_port;
        self.next_port = if port == u16::MAX { 49152 } else { port + 1 };
        let Some(h) = self.slots[i].handle else {
            return Err(IoError::Closed);
        };
        let s = self.sockets.get_mut::<tcp::Socket<'a>>(h);
        s.connect(self.iface.context(), remote.into(), port)
            .map_err(|_| IoError::Unreachable)?;
        self.slots[i].use_ = Use::Open(None);
        self.slots[i].established = false;
        self.slots[i].reg = Reg::default();
        Ok(SourceKey(i))
    }

    /// The TCP socket of `key` (an open connection or a free socket), for smoltcp's settings
    /// and queries (`remote_endpoint`, `set_nagle_enabled`, `set_keep_alive`, …).
    pub fn tcp(&mut self, key: SourceKey) -> Option<&mut tcp::Socket<'a>> {
        self.tcp_at(key.0)
    }

    #[cfg(feature = "udp")]
    /// The UDP socket of `key`, to `bind` it and for smoltcp's settings.
    pub fn udp(&mut self, key: SourceKey) -> Option<&mut udp::Socket<'a>> {
        let slot = self.slots.get(key.0)?;
        match (slot.handle, slot.proto) {
            (Some(h), Proto::Udp) => Some(self.sockets.get_mut::<udp::Socket<'a>>(h)),
            _ => None,
        }
    }

    #[cfg(feature = "udp")]
    /// Send one datagram from UDP socket `key` to `to`: [`IoError::WouldBlock`] when its send
    /// buffer is full, [`IoError::Unreachable`] when the socket is unbound or `to` unusable.
    pub fn send_to(
        &mut self,
        key: SourceKey,
        data: &[u8],
        to: impl Into<IpEndpoint>,
    ) -> Result<usize, IoError> {
        let s = self.udp(key).ok_or(IoError::Closed)?;
        match s.send_slice(data, to.into()) {
            Ok(()) => Ok(data.len()),
            Err(udp::SendError::BufferFull) => Err(IoError::WouldBlock),
            Err(udp::SendError::Unaddressable) => Err(IoError::Unreachable),
        }
    }

    #[cfg(feature = "udp")]
    /// Receive one datagram on UDP socket `key`: its length (truncated to `buf`) and sender;
    /// [`IoError::WouldBlock`] when none is queued.
    pub fn recv_from(
        &mut self,
        key: SourceKey,
        buf: &mut [u8],
    ) -> Result<(usize, IpEndpoint), IoError> {
        let s = self.udp(key).ok_or(IoError::Closed)?;
        let r = match s.recv_slice(buf) {
            Ok((n, meta)) => Ok((n, meta.endpoint)),
            Err(udp::RecvError::Exhausted) => Err(IoError::WouldBlock),
            Err(udp::RecvError::Truncated) => Err(IoError::Other(0)),
        };
        let left = s.recv_queue();
        self.consumed(key, left);
        r
    }

    /// The application read from `key`, leaving `left` bytes queued: for an edge-triggered
    /// registration, the next datagram or segment is a new edge even when the queue holds as much
    /// as when readiness was last fed (two queries of one size, one after the other).
    fn consumed(&mut self, key: SourceKey, left: usize) {
        if let Some(reg) = self.reg_mut(key) {
            reg.rx = left;
            if left == 0 {
                reg.last = reg.last & !Ready::READ;
            }
        }
    }

    /// When the caller should run the next turn at the latest, after a turn yielded: the
    /// earlier of the engine's next deadline, smoltcp's `poll_at` (a retransmission, a delayed
    /// ACK, queued output) and the end of a lingering close. `None`: only a frame or a
    /// notification can make something happen. A time not after [`now`](Self::now) means at
    /// once.
    pub fn wake_at(&mut self) -> Option<Tick> {
        let clock = self.time.clock();
        let poll = self
            .iface
            .poll_at(to_smoltcp(self.time.now(), &clock), &self.sockets)
            .map(|i| from_smoltcp(i, &clock));
        let linger = self
            .slots
            .iter()
            .filter_map(|s| match s.use_ {
                Use::Closing { since, .. } => Some(since.saturating_add(self.linger)),
                _ => None,
            })
            .min();
        let earliest = |a: Option<Tick>, b: Option<Tick>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        earliest(earliest(Host::wake_at(&mut self.time), poll), linger)
    }

    fn reg_mut(&mut self, key: SourceKey) -> Option<&mut Reg> {
        if key.0 < N {
            self.slots
                .get_mut(key.0)
                .filter(|s| s.use_ != Use::Empty)
                .map(|s| &mut s.reg)
        } else {
            self.pools
                .get_mut(key.0 - N)
                .filter(|p| p.endpoint.is_some())
                .map(|p| &mut p.reg)
        }
    }

    fn apply(&mut self, change: Change) {
        // Signals do not exist on a board (`PLATFORM` has none): nothing to catch.
        if let Change::Io {
            key,
            token,
            new,
            edge,
            ..
        } = change
            && let Some(reg) = self.reg_mut(key)
        {
            if new.is_empty() {
                // Only the registration this deregistration is about (see the core's host
                // contract): the handle may have been registered again, with a new token.
                if reg.token == Some(token) {
                    *reg = Reg::default();
                }
            } else {
                if reg.token != Some(token) {
                    *reg = Reg::default();
                }
                reg.token = Some(token);
                reg.interest = new;
                reg.edge = edge;
            }
        }
    }

    /// Poll the interface now without an engine: send what is queued, take in what arrived,
    /// finish closes. A turn does this and more; call it to keep the network going while no
    /// engine loop runs (the loop ends when no event is left, but closing connections still have
    /// FINs to send and ACKs to take).
    pub fn poll(&mut self) {
        self.time.read_clock();
        self.poll_iface();
    }

    /// Poll the interface once, then put sockets that finished closing back into their pool.
    ///
    /// While a pool listens, ingress goes one frame at a time through the SYN guard (see
    /// `guard.rs`), with the connections' 4-tuples refreshed before each frame.
    fn poll_iface(&mut self) {
        let ts = to_smoltcp(self.time.now(), &self.time.clock());
        if self.pools.iter().all(|p| p.endpoint.is_none()) {
            self.iface.poll(ts, &mut self.device, &mut self.sockets);
        } else {
            let medium = self.device.capabilities().medium;
            self.iface.poll_maintenance(ts);
            loop {
                let held = self.held();
                let mut guarded = Guarded {
                    device: &mut self.device,
                    held: &held,
                    medium,
                };
                let r = self
                    .iface
                    .poll_ingress_single(ts, &mut guarded, &mut self.sockets);
                if r == PollIngressSingleResult::None {
                    break;
                }
            }
            while self
                .iface
                .poll_egress(ts, &mut self.device, &mut self.sockets)
                != PollResult::None
            {}
        }
        self.housekeeping();
    }

    /// The 4-tuples of the TCP connections on a pool's port, in progress or established.
    fn held(&self) -> heapless::Vec<Tuple, N> {
        let mut held = heapless::Vec::new();
        for slot in &self.slots {
            let (Some(h), Proto::Tcp) = (slot.handle, slot.proto) else {
                continue;
            };
            let s = self.sockets.get::<tcp::Socket<'a>>(h);
            if matches!(s.state(), tcp::State::Closed | tcp::State::Listen) {
                continue;
            }
            if let (Some(local), Some(remote)) = (s.local_endpoint(), s.remote_endpoint())
                && let smoltcp::wire::IpAddress::Ipv4(addr) = remote.addr
                && self
                    .pools
                    .iter()
                    .any(|p| p.endpoint.is_some_and(|e| e.port == local.port))
            {
                let _ = held.push((local.port, addr.octets(), remote.port));
            }
        }
        held
    }

    fn housekeeping(&mut self) {
        let (now, linger) = (self.time.now(), self.linger);
        for i in 0..N {
            let slot = self.slots[i];
            let Some(h) = slot.handle else { continue };
            if slot.proto != Proto::Tcp {
                continue;
            }
            let s = self.sockets.get_mut::<tcp::Socket<'a>>(h);
            let state = s.state();
            if past_handshake(state) {
                self.slots[i].established = true;
            }
            let done = matches!(state, tcp::State::Closed | tcp::State::TimeWait);
            let back_to = match slot.use_ {
                Use::Closing { pool, since } => {
                    if !done && now.saturating_sub(since) >= linger {
                        #[cfg(feature = "defmt")]
                        defmt::debug!("levent: close of socket {} lingered too long: abort", i);
                        s.abort();
                    }
                    (done || now.saturating_sub(since) >= linger).then_some(pool)
                }
                // A pool socket whose half-open connection was reset listens again.
                Use::Pooled(p) if done => Some(Some(p)),
                _ => None,
            };
            match back_to {
                Some(Some(p)) if self.pools[p as usize].endpoint.is_some() => {
                    if let Some(ep) = self.pools[p as usize].endpoint
                        && s.listen(ep).is_ok()
                    {
                        self.slots[i].use_ = Use::Pooled(p);
                    } else {
                        self.slots[i].use_ = Use::Free;
                    }
                }
                Some(_) => self.slots[i].use_ = Use::Free,
                None => {}
            }
        }
    }

    fn ready_of(&mut self, key: usize) -> (Ready, usize) {
        if key < N {
            let slot = self.slots[key];
            let Some(h) = slot.handle else {
                return (Ready::NONE, 0);
            };
            match slot.proto {
                Proto::Tcp => {
                    let s = self.sockets.get::<tcp::Socket<'a>>(h);
                    (tcp_ready(s), s.recv_queue())
                }
                #[cfg(feature = "udp")]
                Proto::Udp => {
                    let s = self.sockets.get::<udp::Socket<'a>>(h);
                    (udp_ready(s), s.recv_queue())
                }
            }
        } else {
            let p = (key - N) as u8;
            let waiting = (0..N).any(|i| {
                let slot = self.slots[i];
                slot.use_ == Use::Pooled(p)
                    && slot.handle.is_some_and(|h| {
                        past_handshake(self.sockets.get::<tcp::Socket<'a>>(h).state())
                    })
            });
            (if waiting { Ready::READ } else { Ready::NONE }, 0)
        }
    }

    /// Derive readiness from socket state and feed it, in batches.
    fn feed(&mut self, d: &mut dyn Feed) {
        let mut batch: heapless::Vec<(Token, Ready), 16> = heapless::Vec::new();
        for key in 0..N + L {
            let reg = if key < N {
                self.slots[key].reg
            } else {
                self.pools[key - N].reg
            };
            let Some(token) = reg.token else { continue };
            let (ready, rx) = self.ready_of(key);
            let mut hit = if reg.edge {
                let mut fresh = ready & !reg.last;
                if rx > reg.rx {
                    fresh |= ready & Ready::READ;
                }
                fresh
            } else {
                ready
            };
            hit = hit & Ready::from(reg.interest);
            if let Some(reg) = self.reg_mut(SourceKey(key)) {
                reg.last = ready;
                reg.rx = rx;
            }
            if hit.is_empty() {
                continue;
            }
            if batch.push((token, hit)).is_err() {
                d.feed_io(&batch);
                batch.clear();
                let _ = batch.push((token, hit));
            }
        }
        if !batch.is_empty() {
            d.feed_io(&batch);
        }
    }

    fn open_slot(&mut self, h: SourceKey) -> Result<(&mut tcp::Socket<'a>, bool), IoError> {
        let slot = self.slots.get(h.0).ok_or(IoError::Closed)?;
        let (Use::Open(_), Some(handle), Proto::Tcp) = (slot.use_, slot.handle, slot.proto) else {
            return Err(IoError::Closed);
        };
        let established = slot.established;
        Ok((self.sockets.get_mut::<tcp::Socket<'a>>(handle), established))
    }

    fn failed(state: tcp::State, established: bool) -> IoError {
        use tcp::State::*;
        match state {
            Listen | SynSent | SynReceived => IoError::WouldBlock,
            Closed if established => IoError::Reset,
            Closed => IoError::Refused,
            _ => IoError::BrokenPipe,
        }
    }
}

impl<D: Waking, const N: usize, const L: usize> Host for NetHost<'_, D, N, L> {
    fn clock(&self) -> Option<Clock> {
        Some(self.time.clock())
    }

    fn apply(&mut self, change: Change) -> Result<(), HostError> {
        NetHost::apply(self, change);
        Ok(())
    }

    /// Poll the interface, derive readiness from socket state and feed it; never sleeps: yields
    /// when the engine would wait.
    fn wait(&mut self, wait: Wait, feed: &mut dyn Feed) -> Result<Turn, HostError> {
        let wait = self.time.wake_ups(wait, feed);
        self.time.read_clock();
        self.poll_iface();
        self.feed(feed);
        Ok(self.time.yield_for(wait))
    }

    fn now(&mut self) -> Tick {
        self.time.now()
    }

    /// Feed `notifier`'s ids to the engine at every turn, and let it wake the async runner. Fails
    /// with [`HostError::Capacity`] when [`MAX_RUNNERS`](crate::MAX_RUNNERS) hosts already have
    /// a notifier attached.
    fn attach(&mut self, notifier: Attached) -> Result<(), HostError> {
        self.time.attach(notifier)
    }

    fn wake_at(&mut self) -> Option<Tick> {
        NetHost::wake_at(self)
    }

    fn register_waker(&mut self, waker: &core::task::Waker) {
        self.device.register_waker(waker);
        self.time.register_waker(waker);
    }
}

impl<'a, D: Device, const N: usize, const L: usize> Transport for NetHost<'a, D, N, L> {
    type Handle = SourceKey;

    fn source(&self, h: SourceKey) -> SourceKey {
        h
    }

    fn read(&mut self, h: SourceKey, buf: &mut [u8]) -> Result<usize, IoError> {
        let (s, established) = self.open_slot(h)?;
        let r = match s.recv_slice(buf) {
            Ok(0) => Err(IoError::WouldBlock),
            Ok(n) => Ok(n),
            Err(tcp::RecvError::Finished) => Ok(0),
            Err(tcp::RecvError::InvalidState) => Err(match Self::failed(s.state(), established) {
                IoError::BrokenPipe => IoError::NotConnected,
                e => e,
            }),
        };
        let left = s.recv_queue();
        self.consumed(h, left);
        r
    }

    fn write(&mut self, h: SourceKey, buf: &[u8]) -> Result<usize, IoError> {
        let (s, established) = self.open_slot(h)?;
        match s.send_slice(buf) {
            Ok(0) if !buf.is_empty() => Err(IoError::WouldBlock),
            Ok(n) => Ok(n),
            Err(tcp::SendError::InvalidState) => Err(Self::failed(s.state(), established)),
        }
    }

    fn shutdown_write(&mut self, h: SourceKey) -> Result<(), IoError> {
        let (s, _) = self.open_slot(h)?;
        if s.state() == tcp::State::Closed {
            return Err(IoError::NotConnected);
        }
        s.close();
        Ok(())
    }

    fn connected(&mut self, h: SourceKey) -> Result<(), IoError> {
        let (s, established) = self.open_slot(h)?;
        if past_handshake(s.state()) {
            Ok(())
        } else {
            Err(Self::failed(s.state(), established))
        }
    }

    fn peer_addr(&self, h: SourceKey) -> Option<SocketAddr> {
        let slot = self.slots.get(h.0)?;
        let (Some(handle), Proto::Tcp) = (slot.handle, slot.proto) else {
            return None;
        };
        let remote = self
            .sockets
            .get::<tcp::Socket<'a>>(handle)
            .remote_endpoint()?;
        Some(remote.into())
    }

    fn close(&mut self, d: &mut dyn Dispatcher, h: SourceKey) {
        if let Some(change) = d.forget_source(h) {
            self.apply(change);
        }
        let now = self.time.now();
        if h.0 < N {
            let Some(slot) = self.slots.get(h.0).copied() else {
                return;
            };
            match (slot.use_, slot.proto) {
                (Use::Open(pool), Proto::Tcp) => {
                    if let Some(s) = self.tcp_at(h.0) {
                        s.close();
                    }
                    self.slots[h.0].use_ = Use::Closing { pool, since: now };
                    self.slots[h.0].reg = Reg::default();
                    self.housekeeping();
                }
                #[cfg(feature = "udp")]
                (Use::Open(_), Proto::Udp) => {
                    if let Some(s) = self.udp(h) {
                        s.close();
                    }
                    self.slots[h.0].reg = Reg::default();
                }
                _ => {}
            }
        } else if let Some(p) = h.0.checked_sub(N).filter(|&p| p < L) {
            self.pools[p] = Pool {
                endpoint: None,
                reg: Reg::default(),
            };
            let p = p as u8;
            for i in 0..N {
                match self.slots[i].use_ {
                    Use::Pooled(q) if q == p => {
                        if let Some(s) = self.tcp_at(i) {
                            s.abort();
                        }
                        self.slots[i].use_ = Use::Free;
                    }
                    Use::Open(Some(q)) if q == p => self.slots[i].use_ = Use::Open(None),
                    Use::Closing {
                        pool: Some(q),
                        since,
                    } if q == p => self.slots[i].use_ = Use::Closing { pool: None, since },
                    _ => {}
                }
            }
        }
    }
}

impl<'a, D: Device, const N: usize, const L: usize> Accept for NetHost<'a, D, N, L> {
    fn accept(&mut self, h: SourceKey) -> Result<SourceKey, IoError> {
        let p =
            h.0.checked_sub(N)
                .filter(|&p| p < L && self.pools[p].endpoint.is_some())
                .ok_or(IoError::Closed)? as u8;
        for i in 0..N {
            let slot = self.slots[i];
            if slot.use_ != Use::Pooled(p) {
                continue;
            }
            let Some(handle) = slot.handle else { continue };
            if past_handshake(self.sockets.get::<tcp::Socket<'a>>(handle).state()) {
                self.slots[i].use_ = Use::Open(Some(p));
                self.slots[i].established = true;
                self.slots[i].reg = Reg::default();
                return Ok(SourceKey(i));
            }
        }
        Err(IoError::WouldBlock)
    }
}

/// An IPv4 socket address as smoltcp's listening endpoint (`0.0.0.0` listens on every address).
#[cfg(feature = "udp")]
fn listen_endpoint(local: SocketAddr) -> Result<IpListenEndpoint, IoError> {
    let SocketAddr::V4(v4) = local else {
        // This crate builds smoltcp for IPv4 only.
        return Err(IoError::Unreachable);
    };
    let addr = (!v4.ip().is_unspecified()).then(|| (*v4.ip()).into());
    Ok(IpListenEndpoint {
        addr,
        port: v4.port(),
    })
}

/// UDP through the core's [`Datagram`] trait, for the DNS server and resolver: `bind` takes the
/// first socket added with [`NetHost::add_udp`] that is not bound yet ([`IoError::NoDescriptors`]
/// when there is none, [`IoError::AddrInUse`] when smoltcp refuses the endpoint, which includes
/// port 0: smoltcp has no ephemeral UDP ports), and addresses are IPv4 only
/// ([`IoError::Unreachable`] for IPv6). Needs the `udp` feature.
#[cfg(feature = "udp")]
impl<'a, D: Device, const N: usize, const L: usize> Datagram for NetHost<'a, D, N, L> {
    type Handle = SourceKey;

    fn bind(&mut self, local: SocketAddr) -> Result<SourceKey, IoError> {
        let endpoint = listen_endpoint(local)?;
        let key = (0..N)
            .map(SourceKey)
            .find(|&k| self.udp(k).is_some_and(|s| !s.is_open()))
            .ok_or(IoError::NoDescriptors)?;
        let s = self.udp(key).ok_or(IoError::Closed)?;
        s.bind(endpoint).map_err(|_| IoError::AddrInUse)?;
        Ok(key)
    }

    fn source(&self, h: SourceKey) -> SourceKey {
        h
    }

    fn local_addr(&self, h: SourceKey) -> Result<SocketAddr, IoError> {
        let slot = self.slots.get(h.0).ok_or(IoError::Closed)?;
        let (Some(handle), Proto::Udp) = (slot.handle, slot.proto) else {
            return Err(IoError::Closed);
        };
        let ep = self.sockets.get::<udp::Socket<'a>>(handle).endpoint();
        let ip = match ep.addr {
            Some(smoltcp::wire::IpAddress::Ipv4(a)) => a,
            None => Ipv4Addr::UNSPECIFIED,
        };
        Ok(SocketAddr::V4(SocketAddrV4::new(ip, ep.port)))
    }

    fn send_to(&mut self, h: SourceKey, buf: &[u8], to: SocketAddr) -> Result<usize, IoError> {
        let SocketAddr::V4(to) = to else {
            return Err(IoError::Unreachable);
        };
        NetHost::send_to(self, h, buf, to)
    }

    fn recv_from(&mut self, h: SourceKey, buf: &mut [u8]) -> Result<(usize, SocketAddr), IoError> {
        NetHost::recv_from(self, h, buf).map(|(n, from)| (n, from.into()))
    }

    fn close(&mut self, d: &mut dyn levent_core::Dispatcher, h: SourceKey) {
        Transport::close(self, d, h);
    }
}

/// What [`NetHost::dhcp_update`] applied to the interface (feature `dhcpv4`).
#[cfg(feature = "dhcpv4")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DhcpEvent {
    /// A lease: the interface's only address is now `address`, and its default route goes
    /// through `router` (when the server named one).
    Configured {
        /// The leased address and its prefix.
        address: smoltcp::wire::Ipv4Cidr,
        /// The default gateway, if any.
        router: Option<Ipv4Addr>,
    },
    /// The lease was lost: the interface has no address and no default route.
    Deconfigured,
}

#[cfg(feature = "dhcpv4")]
impl<'a, D: Device, const N: usize, const L: usize> NetHost<'a, D, N, L> {
    /// Run a DHCPv4 client (smoltcp's `dhcpv4::Socket`) on this interface. It takes the storage
    /// of one of the host's sockets, is polled with the interface at every turn (its retries
    /// and renewals are part of [`wake_at`](Self::wake_at)), and is no event source: call
    /// [`dhcp_update`](Self::dhcp_update) (on a timer, say) to apply what it learned. Fails with
    /// [`IoError::NoDescriptors`] when the storage is full, [`IoError::AddrInUse`] when the
    /// host has a DHCP client already.
    pub fn add_dhcp(&mut self, socket: smoltcp::socket::dhcpv4::Socket<'a>) -> Result<(), IoError> {
        if self.dhcp.is_some() {
            return Err(IoError::AddrInUse);
        }
        let used = self.slots.iter().filter(|s| s.use_ != Use::Empty).count();
        if used >= self.capacity {
            return Err(IoError::NoDescriptors);
        }
        self.capacity -= 1;
        self.dhcp = Some(self.sockets.add(socket));
        Ok(())
    }

    /// Apply the DHCP client's news, if any: a new lease replaces the interface's addresses and
    /// default route, a lost one removes them. `None` when nothing changed (or there is no
    /// DHCP client).
    pub fn dhcp_update(&mut self) -> Option<DhcpEvent> {
        use smoltcp::socket::dhcpv4;
        let h = self.dhcp?;
        let event = match self.sockets.get_mut::<dhcpv4::Socket<'a>>(h).poll()? {
            dhcpv4::Event::Configured(config) => DhcpEvent::Configured {
                address: config.address,
                router: config.router,
            },
            dhcpv4::Event::Deconfigured => DhcpEvent::Deconfigured,
        };
        let iface = &mut self.iface;
        match event {
            DhcpEvent::Configured { address, router } => {
                iface.update_ip_addrs(|addrs| {
                    addrs.clear();
                    let _ = addrs.push(smoltcp::wire::IpCidr::Ipv4(address));
                });
                match router {
                    Some(r) => {
                        let _ = iface.routes_mut().add_default_ipv4_route(r);
                    }
                    None => {
                        iface.routes_mut().remove_default_ipv4_route();
                    }
                }
            }
            DhcpEvent::Deconfigured => {
                iface.update_ip_addrs(|addrs| addrs.clear());
                iface.routes_mut().remove_default_ipv4_route();
            }
        }
        Some(event)
    }
}
