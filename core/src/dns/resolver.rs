//! The stub resolver (libevent's evdns client side), as a sans-IO state machine: no allocation,
//! capacities fixed by const generics, driven by the events the application forwards to it.
//!
//! # Shape
//!
//! A [`Resolver`] owns, like a [`Connection`] does, only handles and event
//! ids: its UDP sockets' handles and read events, one timer per request slot, a wake-up event,
//! and at most one TCP connection. The sockets themselves live in the application's IO storage
//! (`levent_hosts::net::Sockets`, the simulated network, smoltcp's socket set), which it passes
//! to every call. The application starts lookups with [`Resolver::lookup`], which hands back a
//! [`RequestId`], and forwards every fired event carrying the resolver's datum to
//! [`Resolver::handle`], which returns a finished lookup ([`Done`]) when there is one. Nothing
//! is stored as a callback; events that are not the resolver's are ignored.
//!
//! ```
//! use levent_core::dns::{Config, Hosts, Query, Resolver};
//! use levent_core::buffer::RingBuffer;
//! use levent_core::{Engine, Platform};
//! # use levent_core::io::{Connect, Datagram, IoError, Transport};
//! # use levent_core::{Dispatcher, SourceKey};
//! # use core::net::SocketAddr;
//! # struct NoNet;
//! # impl Transport for NoNet {
//! #     type Handle = u8;
//! #     fn source(&self, _: u8) -> SourceKey { SourceKey(0) }
//! #     fn read(&mut self, _: u8, _: &mut [u8]) -> Result<usize, IoError> { Err(IoError::Closed) }
//! #     fn write(&mut self, _: u8, _: &[u8]) -> Result<usize, IoError> { Err(IoError::Closed) }
//! #     fn shutdown_write(&mut self, _: u8) -> Result<(), IoError> { Ok(()) }
//! #     fn connected(&mut self, _: u8) -> Result<(), IoError> { Ok(()) }
//! #     fn close(&mut self, _: &mut dyn Dispatcher, _: u8) {}
//! # }
//! # impl Connect for NoNet {
//! #     fn connect(&mut self, _: SocketAddr) -> Result<u8, IoError> { Err(IoError::Unreachable) }
//! # }
//! # impl Datagram for NoNet {
//! #     type Handle = u8;
//! #     fn bind(&mut self, _: SocketAddr) -> Result<u8, IoError> { Err(IoError::Unreachable) }
//! #     fn source(&self, _: u8) -> SourceKey { SourceKey(0) }
//! #     fn local_addr(&self, _: u8) -> Result<SocketAddr, IoError> { Err(IoError::Closed) }
//! #     fn send_to(&mut self, _: u8, _: &[u8], _: SocketAddr) -> Result<usize, IoError> { Err(IoError::Closed) }
//! #     fn recv_from(&mut self, _: u8, _: &mut [u8]) -> Result<(usize, SocketAddr), IoError> { Err(IoError::WouldBlock) }
//! #     fn close(&mut self, _: &mut dyn Dispatcher, _: u8) {}
//! # }
//! # let mut io = NoNet;
//! # let mut host = levent_core::sim::Sim::<8>::new(1);
//! #[derive(Clone, Copy, Debug, PartialEq)]
//! enum Ev { Dns }
//!
//! let mut engine: Engine<Ev, 16, 8, 1> = Engine::new(Platform::manual(1000));
//! let mut hosts: Hosts<4> = Hosts::new();
//! hosts.insert("printer.lan".parse().unwrap(), [192, 0, 2, 7].into()).unwrap();
//! // 4 lookups at once, a 4-entry hosts table, 1232-byte messages, TCP over a 2 KiB ring.
//! let mut resolver: Resolver<u8, RingBuffer<2048>, 4, 4, 1232> =
//!     Resolver::new(&mut engine, Config::new(), hosts, [42; 16], Ev::Dns).unwrap();
//! let id = resolver.lookup(&mut engine, &mut io, Query::a("printer.lan").unwrap()).unwrap();
//! while let Some(fired) = engine.next(&mut host).unwrap() {
//!     match fired.datum {
//!         Ev::Dns => {
//!             if let Some(done) = resolver.handle(&mut engine, &mut io, &fired) {
//!                 assert_eq!(done.id, id);
//!                 let answer = done.result.unwrap();
//!                 assert!(answer.from_hosts());
//!                 assert_eq!(answer.addrs().next(), Some([192, 0, 2, 7].into()));
//!                 break;
//!             }
//!         }
//!     }
//! }
//! ```
//!
//! # Behaviour (and the choices made where libevent and the issue left room)
//!
//! - **Every lookup ends exactly once**, through [`handle`](Resolver::handle): with an answer,
//!   an error, or [`DnsError::Cancelled`] after [`cancel`](Resolver::cancel) (libevent calls the
//!   callback with `DNS_ERR_CANCEL` too). Answers from the hosts table and failures that happen
//!   inside `lookup` or `cancel` come out of the next `handle` of the resolver's wake-up event,
//!   which the resolver activates itself: the application's loop stays the only place results
//!   arrive.
//! - **The hosts table first**: an A or AAAA lookup of a name the table has an address of that
//!   family for, or a PTR lookup of an address it has, is answered from it (as a synthesised
//!   authoritative reply, so [`Answer`] reads the same). The name is looked up as given, without
//!   search domains, as glibc does.
//! - **Search domains** follow `resolv.conf`: a name with at least `ndots` dots is tried as it
//!   is first, then with each search domain; one with fewer is tried with each search domain
//!   first, then as it is; a final dot (an absolute name) or [`Query::no_search`] skips them.
//!   NXDOMAIN and NODATA move on to the next candidate; after the last one the lookup fails with
//!   NODATA if any candidate said NODATA, else NXDOMAIN (c-ares's rule). Other failures end the
//!   search at once.
//! - **Tries**: a try is one query to one server, waiting [`Config::timeout`]. The tries go round
//!   the servers `attempts` times, starting at the first server (or the next one for each lookup
//!   with [`Config::rotate`]). SERVFAIL, REFUSED and NOTIMP move on to the next try at once; the
//!   lookup fails with the last of them when the tries run out, or with `Timeout` when nothing
//!   answered at all. FORMERR to a query with EDNS makes the next try go without EDNS.
//! - **A late answer to an earlier try is taken**: a request remembers its last four tries
//!   (transaction id, socket, server), and an answer to any of them counts, as glibc and libevent
//!   (which keeps the id across retransmissions) accept it. Anything else is ignored while the
//!   request keeps waiting: a reply whose id, socket or source address matches no try, one that
//!   is not a response, or one whose question is not the request's (RFC 5452). A matching reply
//!   that cannot be parsed is ignored too, but remembered: if nothing better comes the lookup
//!   fails with `Malformed` rather than `Timeout`.
//! - **Random transaction ids and source ports**: ids come from [`Rng`]
//!   (SipHash-2-4, keyed by the seed given to [`Resolver::new`]). Queries leave from up to
//!   `udp_sockets` sockets per address family, bound to port 0 (a random port on hosts), one
//!   drawn at random for each query; a socket is replaced by a new one after
//!   `socket_queries` queries, once its last answer is in. One socket per query would cost a
//!   `socket`, `bind`, registration and `close` each: the pool keeps most of the port
//!   randomness for little of that cost.
//! - **CNAME chains** in an answer are followed to the record asked for; a chain that ends
//!   without one is asked for again at its end (a server that does not chase aliases), unless the
//!   answer carries an SOA (a recursive server's NODATA) or is NXDOMAIN. More than
//!   `max_cname_hops` aliases in all, a loop included, fail with [`DnsError::Loop`].
//! - **Truncated answers** are asked again over TCP (RFC 7766 framing: a 2-byte length) from the
//!   same server, as one try with its own timeout. The resolver keeps **one TCP connection at a
//!   time**: truncation is rare, a board may not afford more, and a request that needs TCP while
//!   another uses it waits its turn (its deadline running). A TCP answer must fit the resolver's
//!   message buffer (`M` bytes), or the try fails as `Malformed`.
//! - **Every lookup is bounded**: whatever the servers do (stay silent, fail, answer garbage or
//!   forgeries, truncate and then never answer over TCP), a lookup ends within
//!   [`Config::lookup_timeout`] of its start: `timeout × attempts × servers`, search domains,
//!   CNAME restarts and the wait for the TCP connection included. When the deadline passes it
//!   fails with the last error a try met, or `Timeout`. (libevent's oldest open DNS bug is a
//!   request that hangs when every server is down.)
//! - **Server health**: a server that let [`Config::max_timeouts`] tries in a row time out is
//!   down: its turns go to the next server that is up, and it is asked only when every server
//!   is down. After [`Config::probe_backoff`] the next lookup that would ask it does (the probe);
//!   a probe that times out doubles the back-off, up to an hour, and any answer brings the
//!   server back. There is no probe traffic of its own: a resolver nobody uses sends nothing.
//! - **0x20**: with [`Config::randomize_case`] (the default) the letters of every name asked over
//!   UDP get a random case, and an answer must carry the question back byte for byte: a forger
//!   has one more bit per letter to guess, beside the 16-bit id and the source port. Over TCP
//!   the name goes as it is.
//! - **The cache** (`C` bytes, none by default): a lookup's answer is kept for the smallest TTL
//!   of its answer section (at most a day), an NXDOMAIN or NODATA for its negative TTL when the
//!   reply carries an SOA (the smaller of the SOA's TTL and its `minimum`, at most three hours,
//!   RFC 2308), keyed by the query as given (name without case, type, search or not). A hit
//!   finishes at the next `handle` like a hosts-table answer, with [`Answer::from_cache`] and
//!   [`Answer::age`] set and [`Answer::ttl`] what is left; TTLs of 0 and negative answers
//!   without an SOA are not kept. When a new entry does not fit, the oldest go.
//! - **Full**: at most `Q` lookups are in progress (finished ones count until `handle` hands
//!   them out); [`lookup`](Resolver::lookup) hands the query back in [`Full`] beyond that.
//!
//! # Memory
//!
//! About 700 bytes per request slot (two names of up to 255 bytes and the tries), `M` bytes of
//! message buffer, the hosts table (`N` × 272 bytes), two buffers `B` for the TCP connection, and
//! a few hundred bytes of configuration, and the cache's `C` bytes. `Resolver<_,
//! RingBuffer<1024>, 4, 0, 1232>` is about 6 KiB; a host's `Resolver<SocketId, ChainBuffer,
//! 128, 64, 65535, 16384>` about 190 KiB (box it).

use super::builder::MessageBuilder;
use super::cache::{Cache, Hit};
use super::config::{Config, DnsError, Hosts, MAX_SERVERS, Query};
use super::message::{Message, Record};
use super::name::{Name, NameBuf};
use super::rdata::RData;
use super::rng::Rng;
use super::types::{Class, Flags, RType, Rcode};
use crate::buffer::Buffer;
use crate::conn::{ConnOptions, Connection};
use crate::error::Rejected;
use crate::event::{Event, EventId, Fired, Ready};
use crate::events::Events;
use crate::io::{Connect, Datagram, IoError, Transport};
use crate::time::{Clock, Tick};
use core::fmt;
use core::net::{IpAddr, SocketAddr};
use core::time::Duration;

/// How many UDP sockets a resolver may hold at once (up to 4 per address family).
const UDP_SLOTS: usize = 8;
/// How many of its tries a request remembers (and accepts answers to).
const TRIES_KEPT: usize = 4;
/// The largest query: a 255-byte name, the header, the question's tail and an OPT record.
const QUERY_MAX: usize = 300;
/// The longest a server that is down is passed over.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// Names one lookup of a [`Resolver`]. Stale ids (of lookups already handed out) are never
/// confused with the lookup that reuses the slot.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RequestId {
    index: u16,
    generation: u16,
}

impl RequestId {
    /// The slot index, below the resolver's `Q`: useful to index a side table.
    pub const fn index(self) -> usize {
        self.index as usize
    }
}

/// Every request slot is in use: the query is handed back (libevent's evdns queues instead;
/// here the application decides whether to wait, drop or queue).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Full {
    /// The query that did not fit.
    pub query: Query,
}

impl fmt::Display for Full {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("too many lookups in flight")
    }
}

impl core::error::Error for Full {}

/// A finished lookup, as [`Resolver::handle`] returns it.
#[derive(Debug)]
pub struct Done<'a> {
    /// Which lookup.
    pub id: RequestId,
    /// The answer, or why there is none.
    pub result: Result<Answer<'a>, DnsError>,
}

/// A successful answer: the reply, and the name its records belong to once CNAMEs are
/// followed. It borrows the resolver's buffer: copy out what you keep before the next call.
#[derive(Clone, Copy, Debug)]
pub struct Answer<'a> {
    msg: Message<'a>,
    name: Name<'a>,
    qtype: RType,
    from_hosts: bool,
    /// Seconds since a cached answer was received (0 for a fresh one).
    age: u32,
    from_cache: bool,
}

impl<'a> Answer<'a> {
    /// The whole reply (the last one, for a chain asked for over several queries), to read
    /// other sections or records of other types. From the hosts table it is synthesised.
    pub fn message(&self) -> &Message<'a> {
        &self.msg
    }

    /// The name the records belong to: the query's name, or where its CNAME chain ended (the
    /// canonical name).
    pub fn name(&self) -> Name<'a> {
        self.name
    }

    /// The record type asked for.
    pub fn qtype(&self) -> RType {
        self.qtype
    }

    /// Whether the answer came from the hosts table.
    pub fn from_hosts(&self) -> bool {
        self.from_hosts
    }

    /// Whether the answer came from the resolver's cache: the message is the one received
    /// [`age`](Self::age) seconds ago, its records' TTLs as they were then.
    pub fn from_cache(&self) -> bool {
        self.from_cache
    }

    /// Seconds since the answer was received: 0 unless it [came from the
    /// cache](Self::from_cache).
    pub fn age(&self) -> u32 {
        self.age
    }

    /// The answer records of the type asked for, owned by [`name`](Self::name) (never empty for
    /// a successful lookup).
    pub fn records(&self) -> impl Iterator<Item = Record<'a>> + 'a {
        let name = self.name;
        let qtype = self.qtype;
        self.msg
            .answers()
            .filter(move |r| r.rtype() == qtype && r.class == Class::IN && r.name == name)
    }

    /// The addresses of an A or AAAA answer.
    pub fn addrs(&self) -> impl Iterator<Item = IpAddr> + 'a {
        self.records().filter_map(|r| match r.data {
            RData::A(a) => Some(IpAddr::V4(a)),
            RData::Aaaa(a) => Some(IpAddr::V6(a)),
            _ => None,
        })
    }

    /// The names of a PTR (or CNAME, NS) answer.
    pub fn names(&self) -> impl Iterator<Item = Name<'a>> + 'a {
        self.records().filter_map(|r| match r.data {
            RData::Ptr(n) | RData::Cname(n) | RData::Ns(n) => Some(n),
            _ => None,
        })
    }

    /// The smallest TTL of the records, in seconds, less the answer's [`age`](Self::age): how
    /// much longer it may be cached.
    pub fn ttl(&self) -> u32 {
        let ttl = self.records().map(|r| r.effective_ttl()).min().unwrap_or(0);
        ttl.saturating_sub(self.age)
    }
}

/// One query sent: the socket it left from, its id, the server it went to.
#[derive(Clone, Copy, Debug)]
struct Try {
    sock: u8,
    id: u16,
    server: SocketAddr,
    /// The case pattern of the name asked ([`NameBuf::with_case`]; 0: as it is).
    case: u64,
}

/// What the resolver knows of a name server's health (libevent's failed nameservers).
#[derive(Clone, Copy, Debug, Default)]
struct Health {
    /// The server this is about: the entry starts over when the configuration changes.
    addr: Option<SocketAddr>,
    /// Tries in a row that timed out.
    timeouts: u8,
    /// While down (`timeouts` reached the limit): passed over until this tick.
    down_until: Tick,
    /// Back-offs so far: the next is `probe_backoff` times 2 to this.
    backoffs: u8,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Free,
    /// Waiting for UDP answers.
    Udp,
    /// Waiting for the TCP connection to be free.
    TcpQueued,
    /// Asking over TCP.
    Tcp,
    /// Finished inside `lookup` or `cancel` (or by another request's event): handed out at the
    /// next wake-up. `Ok` is an answer from the hosts table.
    Finished(Result<(), DnsError>),
}

#[derive(Debug)]
struct Slot {
    generation: u16,
    phase: Phase,
    timer: EventId,
    query: Query,
    /// The name asked now: a search candidate, or where a CNAME chain led.
    name: NameBuf,
    candidate: u8,
    hops: u8,
    tries_made: u16,
    first_server: u8,
    tries: heapless::Vec<Try, TRIES_KEPT>,
    edns: bool,
    saw_nodata: bool,
    last_error: Option<DnsError>,
    tcp_server: Option<SocketAddr>,
    /// When the lookup fails whatever is still in flight ([`Config::lookup_timeout`] after it
    /// started).
    deadline: Tick,
    /// Finished from the cache (to be copied out at the hand-out).
    cached: bool,
}

#[derive(Debug)]
struct UdpSock<H> {
    handle: H,
    ev: EventId,
    v6: bool,
    queries: u32,
    refs: u16,
    retiring: bool,
}

#[derive(Debug)]
struct TcpExchange<H, B> {
    conn: Connection<H, B>,
    slot: u16,
    id: u16,
}

/// What a reply did to its request.
enum Verdict {
    /// Still waiting (another query went out, or the reply was not the end).
    Continue,
    /// Finished: `Ok` means the answer is in the reply, for the name in `answer_name`.
    Done(Result<(), DnsError>),
}

/// A stub resolver for up to `Q` lookups at once (at most 65,535), over transport handles `H`,
/// with TCP buffers `B`, a hosts table of `N` entries, a message buffer of `M` bytes (at
/// least 512, and at least the EDNS payload size advertised; the largest TCP answer taken) and
/// an answer cache of `C` bytes (0, the default: none). See the [module documentation](self).
pub struct Resolver<
    H,
    B,
    const Q: usize,
    const N: usize = 0,
    const M: usize = 4096,
    const C: usize = 0,
> {
    st: State<H, B, Q, N>,
    buf: [u8; M],
    cache: Cache<C>,
}

struct State<H, B, const Q: usize, const N: usize> {
    config: Config,
    hosts: Hosts<N>,
    rng: Rng,
    slots: heapless::Vec<Slot, Q>,
    active: usize,
    wake: EventId,
    finished: heapless::Deque<u16, Q>,
    udp: [Option<UdpSock<H>>; UDP_SLOTS],
    tcp: Option<TcpExchange<H, B>>,
    tcp_queue: heapless::Deque<RequestId, Q>,
    health: [Health; MAX_SERVERS],
    rotation: u8,
    /// Where the answer handed out last ends its CNAME chain.
    answer_name: NameBuf,
}

impl<H, B, const Q: usize, const N: usize, const M: usize, const C: usize> fmt::Debug
    for Resolver<H, B, Q, N, M, C>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("servers", &self.st.config.servers())
            .field("in_flight", &self.st.active)
            .finish_non_exhaustive()
    }
}

impl<H, B, const Q: usize, const N: usize, const M: usize, const C: usize>
    Resolver<H, B, Q, N, M, C>
where
    H: Copy + PartialEq + fmt::Debug,
    B: Buffer + Default,
{
    /// A resolver asking as `config` says, answering from `hosts` first, with transaction ids
    /// drawn from `seed` (16 bytes of entropy: see [`Rng`]). It creates its `Q + 1`
    /// events in `events` now, carrying `datum`; its sockets are opened at the first lookup.
    ///
    /// # Errors
    ///
    /// The engine has no room for the events; `datum` is handed back.
    pub fn new<T: Copy>(
        events: &mut dyn Events<T>,
        config: Config,
        hosts: Hosts<N>,
        seed: [u8; 16],
        datum: T,
    ) -> Result<Self, Rejected<T>> {
        let wake = events.create(Event::user(), datum)?;
        let mut slots: heapless::Vec<Slot, Q> = heapless::Vec::new();
        for _ in 0..Q {
            let timer = match events.create(Event::timer(), datum) {
                Ok(t) => t,
                Err(r) => {
                    let _ = events.free(wake);
                    for s in &slots {
                        let _ = events.free(s.timer);
                    }
                    return Err(r);
                }
            };
            let fits = slots
                .push(Slot {
                    generation: 0,
                    phase: Phase::Free,
                    timer,
                    query: Query::from_name(NameBuf::root(), RType::A, true),
                    name: NameBuf::root(),
                    candidate: 0,
                    hops: 0,
                    tries_made: 0,
                    first_server: 0,
                    tries: heapless::Vec::new(),
                    edns: true,
                    saw_nodata: false,
                    last_error: None,
                    tcp_server: None,
                    deadline: 0,
                    cached: false,
                })
                .is_ok();
            debug_assert!(fits);
        }
        Ok(Resolver {
            st: State {
                config,
                hosts,
                rng: Rng::new(seed),
                slots,
                active: 0,
                wake,
                finished: heapless::Deque::new(),
                udp: [const { None }; UDP_SLOTS],
                tcp: None,
                tcp_queue: heapless::Deque::new(),
                health: [Health::default(); MAX_SERVERS],
                rotation: 0,
                answer_name: NameBuf::root(),
            },
            buf: [0; M],
            cache: Cache::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.st.config
    }

    /// The configuration, to change: new values apply from the next try on.
    pub fn config_mut(&mut self) -> &mut Config {
        &mut self.st.config
    }

    /// The hosts table.
    pub fn hosts(&self) -> &Hosts<N> {
        &self.st.hosts
    }

    /// The hosts table, to change.
    pub fn hosts_mut(&mut self) -> &mut Hosts<N> {
        &mut self.st.hosts
    }

    /// How many lookups are in progress (or finished and not handed out yet).
    pub fn in_flight(&self) -> usize {
        self.st.active
    }

    /// How many lookups the cache holds (answers and negative answers, expired ones included
    /// until newer ones push them out); always 0 for a resolver without a cache (`C` = 0).
    pub fn cached(&self) -> usize {
        self.cache.len()
    }

    /// Forget every cached answer: the next lookups ask the servers.
    pub fn clear_cache(&mut self) {
        self.cache.clear();
    }

    /// Whether `id` is one of the resolver's events.
    pub fn owns(&self, id: EventId) -> bool {
        let st = &self.st;
        id == st.wake
            || st.udp.iter().flatten().any(|u| u.ev == id)
            || st.tcp.as_ref().is_some_and(|t| t.conn.owns(id))
            || st.slots.iter().any(|s| s.timer == id)
    }

    /// Start a lookup. The first query goes out at once (or the hosts table answers); the result
    /// comes out of [`handle`](Self::handle).
    ///
    /// # Errors
    ///
    /// [`Full`], with the query handed back, when `Q` lookups are in progress.
    #[allow(
        clippy::result_large_err,
        reason = "a full table hands the value back, as heapless does"
    )]
    pub fn lookup<T: Copy, IO>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        query: Query,
    ) -> Result<RequestId, Full>
    where
        IO: Datagram<Handle = H> + Connect<Handle = H>,
    {
        let st = &mut self.st;
        let Some(index) = st.slots.iter().position(|s| s.phase == Phase::Free) else {
            return Err(Full { query });
        };
        st.active += 1;
        let n_servers = st.config.servers().len().max(1);
        let first = if st.config.rotate {
            let f = st.rotation;
            st.rotation = ((usize::from(st.rotation) + 1) % n_servers) as u8;
            f
        } else {
            0
        };
        let slot = &mut st.slots[index];
        slot.phase = Phase::Udp;
        slot.candidate = 0;
        slot.hops = 0;
        slot.tries_made = 0;
        slot.first_server = first;
        slot.tries.clear();
        slot.edns = st.config.edns.is_some();
        slot.saw_nodata = false;
        slot.last_error = None;
        slot.tcp_server = None;
        let bound = st.config.lookup_timeout();
        slot.deadline = events
            .platform()
            .clock
            .after(events.now(), bound)
            .unwrap_or(Tick::MAX);
        let id = RequestId {
            index: index as u16,
            generation: slot.generation,
        };
        let hit = match query.qtype() {
            RType::A | RType::AAAA => st
                .hosts
                .addrs(query.name().as_name(), query.qtype())
                .next()
                .is_some(),
            RType::PTR => query
                .name()
                .as_name()
                .reverse_addr()
                .is_some_and(|a| st.hosts.name_of(a).is_some()),
            _ => false,
        };
        slot.cached = false;
        let cached = match self.cache.get(&query, events.now()) {
            _ if hit => None,
            Some(Hit::Negative(e)) => Some(Err(e)),
            Some(Hit::Answer { .. }) => Some(Ok(())),
            None => None,
        };
        slot.query = query;
        if hit {
            st.finish_later(events, io, index, Ok(()));
            return Ok(id);
        }
        if let Some(result) = cached {
            st.slots[index].cached = true;
            st.finish_later(events, io, index, result);
            return Ok(id);
        }
        st.start(events, io, index);
        Ok(id)
    }

    /// Cancel lookup `id` (libevent's `evdns_cancel_request`): its queries are forgotten, and it
    /// finishes with [`DnsError::Cancelled`] at the next [`handle`](Self::handle). Returns
    /// `false` when `id` is not in progress (finished already, or stale).
    pub fn cancel<T: Copy, IO>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        id: RequestId,
    ) -> bool
    where
        IO: Datagram<Handle = H> + Connect<Handle = H>,
    {
        let st = &mut self.st;
        let index = id.index();
        match st.slots.get(index) {
            Some(s)
                if s.generation == id.generation
                    && matches!(s.phase, Phase::Udp | Phase::TcpQueued | Phase::Tcp) =>
            {
                st.finish_later(events, io, index, Err(DnsError::Cancelled));
                true
            }
            _ => false,
        }
    }

    /// Handle a fired event: read answers, retry after timeouts, hand out finished lookups. Returns
    /// one finished lookup at most; when more may be ready the resolver re-activates its event,
    /// so the loop brings it back here. Events that are not the resolver's return `None`.
    pub fn handle<T: Copy, IO>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        fired: &Fired<T>,
    ) -> Option<Done<'_>>
    where
        IO: Datagram<Handle = H> + Connect<Handle = H>,
    {
        let st = &self.st;
        if fired.id == st.wake {
            return self.hand_out_finished(events, io);
        }
        if let Some(i) = st
            .udp
            .iter()
            .position(|u| u.as_ref().is_some_and(|u| u.ev == fired.id))
        {
            return self.read_udp(events, io, i, fired.id);
        }
        if st.tcp.as_ref().is_some_and(|t| t.conn.owns(fired.id)) {
            return self.handle_tcp(events, io, fired);
        }
        if let Some(index) = st.slots.iter().position(|s| s.timer == fired.id) {
            return self.timed_out(events, io, index);
        }
        None
    }

    /// Close every socket and free every event (the resolver's `evdns_base_free(base, 0)`);
    /// lookups in progress are dropped without a result.
    pub fn close<T: Copy, IO>(mut self, events: &mut dyn Events<T>, io: &mut IO)
    where
        IO: Datagram<Handle = H> + Connect<Handle = H>,
    {
        let st = &mut self.st;
        if let Some(t) = st.tcp.take() {
            t.conn.close(events, io);
        }
        for u in st.udp.iter_mut() {
            if let Some(u) = u.take() {
                let _ = events.free(u.ev);
                Datagram::close(io, events, u.handle);
            }
        }
        for s in &st.slots {
            let _ = events.free(s.timer);
        }
        let _ = events.free(st.wake);
    }

    /// Finish request `index` now: release what it holds and hand it out, with the answer in
    /// the first `len` bytes of the buffer.
    fn done<T: Copy, IO>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        index: usize,
        result: Result<(), DnsError>,
        len: usize,
    ) -> Option<Done<'_>>
    where
        IO: Datagram<Handle = H> + Connect<Handle = H>,
    {
        self.st.release(events, io, index);
        let slot = &mut self.st.slots[index];
        let id = RequestId {
            index: index as u16,
            generation: slot.generation,
        };
        let qtype = slot.query.qtype();
        let now = events.now();
        let clock = events.platform().clock;
        let expires = |ttl: u32| {
            clock
                .after(now, Duration::from_secs(u64::from(ttl)))
                .unwrap_or(Tick::MAX)
        };
        let reply = &self.buf[..len.min(M)];
        match result {
            Ok(()) => {
                let name = &self.st.answer_name;
                self.cache
                    .put_answer(&slot.query, name, reply, now, expires);
            }
            Err(e) if len > 0 => self.cache.put_negative(&slot.query, e, reply, now, expires),
            Err(_) => {}
        }
        self.st.free(index);
        let result = match result {
            Ok(()) => match Message::parse(&self.buf[..len.min(M)]) {
                Ok(msg) => Ok(Answer {
                    msg,
                    name: self.st.answer_name.as_name(),
                    qtype,
                    from_hosts: false,
                    age: 0,
                    from_cache: false,
                }),
                Err(_) => Err(DnsError::Malformed),
            },
            Err(e) => Err(e),
        };
        Some(Done { id, result })
    }

    fn hand_out_finished<T: Copy, IO>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
    ) -> Option<Done<'_>>
    where
        IO: Datagram<Handle = H> + Connect<Handle = H>,
    {
        let clock = events.platform().clock;
        let (index, result, copied) = loop {
            let index = usize::from(self.st.finished.pop_front()?);
            let Phase::Finished(r) = self.st.slots[index].phase else {
                continue;
            };
            if r.is_err() || !self.st.slots[index].cached {
                break (index, r, None);
            }
            match self.copy_from_cache(index, events.now(), &clock) {
                Some(copied) => break (index, r, Some(copied)),
                None => {
                    // Pushed out of the cache since the lookup began: ask the servers after all.
                    let st = &mut self.st;
                    st.slots[index].cached = false;
                    st.slots[index].phase = Phase::Udp;
                    st.start(events, io, index);
                }
            }
        };
        let st = &mut self.st;
        if !st.finished.is_empty() {
            let _ = events.activate(st.wake, Ready::USER);
        }
        let slot = &st.slots[index];
        let id = RequestId {
            index: index as u16,
            generation: slot.generation,
        };
        st.free(index);
        let result = match (result, copied) {
            (Err(e), _) => Err(e),
            (Ok(()), Some((len, age))) => {
                // `copy_from_cache` put the message at the start of the buffer.
                Message::parse(&self.buf[..len])
                    .map(|msg| Answer {
                        msg,
                        name: self.st.answer_name.as_name(),
                        qtype: self.st.slots[index].query.qtype(),
                        from_hosts: false,
                        age,
                        from_cache: true,
                    })
                    .map_err(|_| DnsError::Malformed)
            }
            (Ok(()), None) => {
                let len = self.synthesise_from_hosts(index);
                let slot = &self.st.slots[index];
                self.st.answer_name = slot.query.name().clone();
                Message::parse(&self.buf[..len])
                    .map(|msg| Answer {
                        msg,
                        name: self.st.answer_name.as_name(),
                        qtype: self.st.slots[index].query.qtype(),
                        from_hosts: true,
                        age: 0,
                        from_cache: false,
                    })
                    .map_err(|_| DnsError::Malformed)
            }
        };
        Some(Done { id, result })
    }

    /// Copy the cached answer of request `index` to the start of the buffer and its owner name
    /// into `answer_name`; its length and age in seconds, or `None` if the cache no longer has
    /// it.
    fn copy_from_cache(&mut self, index: usize, now: Tick, clock: &Clock) -> Option<(usize, u32)> {
        let query = &self.st.slots[index].query;
        let Some(Hit::Answer { msg, name, stored }) = self.cache.get(query, now) else {
            return None;
        };
        let out = self.buf.get_mut(..msg.len())?;
        let (owner, _) = Name::decode(name, 0).ok()?;
        out.copy_from_slice(msg);
        self.st.answer_name = owner.to_name_buf();
        let age = clock.duration(now.saturating_sub(stored)).as_secs();
        Some((msg.len(), u32::try_from(age).unwrap_or(u32::MAX)))
    }

    /// Write an authoritative reply from the hosts table into the buffer; its length.
    fn synthesise_from_hosts(&mut self, index: usize) -> usize {
        let st = &self.st;
        let query = &st.slots[index].query;
        let name = query.name().as_name();
        let qtype = query.qtype();
        let mut b = MessageBuilder::new(&mut self.buf);
        b.header_mut().flags = Flags::QR | Flags::AA | Flags::RD | Flags::RA;
        if b.question(name, qtype, Class::IN).is_err() {
            return 0;
        }
        if qtype == RType::PTR {
            if let Some(host) = name.reverse_addr().and_then(|a| st.hosts.name_of(a)) {
                let _ = b.answer(name, 0, &RData::Ptr(host.as_name()));
            }
        } else {
            for addr in st.hosts.addrs(name, qtype) {
                let data = match addr {
                    IpAddr::V4(a) => RData::A(a),
                    IpAddr::V6(a) => RData::Aaaa(a),
                };
                if b.answer(name, 0, &data).is_err() {
                    break;
                }
            }
        }
        b.finish().map_or(0, <[u8]>::len)
    }

    fn read_udp<T: Copy, IO>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        sock: usize,
        ev: EventId,
    ) -> Option<Done<'_>>
    where
        IO: Datagram<Handle = H> + Connect<Handle = H>,
    {
        let handle = self.st.udp[sock].as_ref()?.handle;
        let (index, result, len) = loop {
            let (n, from) = match io.recv_from(handle, &mut self.buf) {
                Ok(r) => r,
                Err(IoError::Interrupted) => continue,
                Err(_) => return None,
            };
            let bytes = &self.buf[..n.min(M)];
            let Some(id) = bytes.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]])) else {
                continue;
            };
            let Some((index, case)) = self.st.find_try(sock, id, from) else {
                continue;
            };
            let msg = match Message::parse(bytes) {
                Ok(msg) => msg,
                Err(_) => {
                    self.st.slots[index]
                        .last_error
                        .get_or_insert(DnsError::Malformed);
                    continue;
                }
            };
            if !self.st.answers_question(index, &msg, case) {
                if case != 0 {
                    debug!("levent: dns: an answer's question is not in the case asked: dropped");
                }
                continue;
            }
            self.st.note_alive(from);
            match self.st.on_reply(events, io, index, &msg, Some(from)) {
                Verdict::Continue => continue,
                Verdict::Done(r) => break (index, r, n),
            }
        };
        // More answers may be waiting on this socket: come back in this pass.
        let _ = events.activate(ev, Ready::READ);
        self.done(events, io, index, result, len)
    }

    fn handle_tcp<T: Copy, IO>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        fired: &Fired<T>,
    ) -> Option<Done<'_>>
    where
        IO: Datagram<Handle = H> + Connect<Handle = H>,
    {
        let st = &mut self.st;
        let t = st.tcp.as_mut()?;
        let out = t.conn.handle(events, io, fired);
        let index = usize::from(t.slot);
        let input = t.conn.input();
        let mut head = [0u8; 2];
        let complete = input.peek(0, &mut head) == 2 && {
            let len = usize::from(u16::from_be_bytes(head));
            input.len() >= 2 + len
        };
        if !complete {
            if out.failed() || out.eof() {
                // The connection ended without a whole answer: this try failed.
                let error = out.error().map_or(DnsError::ServFail, DnsError::Io);
                st.close_tcp(events, io);
                st.slots[index].last_error = Some(error);
                return match st.send_try(events, io, index) {
                    Ok(()) => None,
                    Err(e) => self.done(events, io, index, Err(e), 0),
                };
            }
            return None;
        }
        let len = usize::from(u16::from_be_bytes(head));
        let id = t.id;
        let fits = len <= M;
        if fits {
            t.conn.input().peek(2, &mut self.buf[..len]);
        }
        st.close_tcp(events, io);
        let msg = if fits {
            Message::parse(&self.buf[..len]).ok()
        } else {
            None
        };
        let verdict = match msg {
            Some(msg) if msg.id() == id && st.answers_question(index, &msg, 0) => {
                if let Some(server) = st.slots[index].tcp_server {
                    st.note_alive(server);
                }
                st.on_reply(events, io, index, &msg, None)
            }
            _ => {
                st.slots[index].last_error = Some(DnsError::Malformed);
                match st.send_try(events, io, index) {
                    Ok(()) => Verdict::Continue,
                    Err(e) => Verdict::Done(Err(e)),
                }
            }
        };
        match verdict {
            Verdict::Continue => None,
            Verdict::Done(r) => self.done(events, io, index, r, len),
        }
    }

    fn timed_out<T: Copy, IO>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        index: usize,
    ) -> Option<Done<'_>>
    where
        IO: Datagram<Handle = H> + Connect<Handle = H>,
    {
        let st = &mut self.st;
        let now = events.now();
        let clock = events.platform().clock;
        let phase = st.slots[index].phase;
        match phase {
            Phase::Udp => {
                // The last try is the one the timer waited for: it counts against its server.
                if let Some(t) = st.slots[index].tries.last().copied() {
                    st.note_timeout(t.server, now, &clock);
                }
            }
            Phase::Tcp => {
                if let Some(server) = st.slots[index].tcp_server {
                    st.note_timeout(server, now, &clock);
                }
                st.close_tcp(events, io);
                st.slots[index].phase = Phase::Udp;
            }
            Phase::TcpQueued => {}
            Phase::Free | Phase::Finished(_) => return None,
        }
        if now >= st.slots[index].deadline {
            let error = st.slots[index].last_error.unwrap_or(DnsError::Timeout);
            debug!("levent: dns: lookup ran out of time: {}", error);
            return self.done(events, io, index, Err(error), 0);
        }
        if phase == Phase::TcpQueued {
            // Still waiting for the TCP connection: wait on, up to the deadline.
            st.arm(events, index);
            return None;
        }
        match st.send_try(events, io, index) {
            Ok(()) => None,
            Err(e) => self.done(events, io, index, Err(e), 0),
        }
    }
}

/// The `k`-th name to try for `query` (search domains and `ndots`), skipping candidates that
/// would be too long; the index it was found at and the name.
fn candidate(config: &Config, query: &Query, mut k: u8) -> Option<(u8, NameBuf)> {
    let name = query.name();
    if query.is_absolute() {
        return (k == 0).then(|| (0, name.clone()));
    }
    let search = config.search();
    let dots = name.as_name().label_count().saturating_sub(1);
    let as_is_first = dots >= usize::from(config.ndots);
    loop {
        let i = usize::from(k);
        let suffix = if as_is_first {
            match i {
                0 => return Some((k, name.clone())),
                _ => search.get(i - 1)?,
            }
        } else if i < search.len() {
            &search[i]
        } else if i == search.len() {
            return Some((k, name.clone()));
        } else {
            return None;
        };
        let mut full = name.clone();
        if full.push_name(suffix.as_name()).is_ok() {
            return Some((k, full));
        }
        k = k.checked_add(1)?;
    }
}

impl<H, B, const Q: usize, const N: usize> State<H, B, Q, N>
where
    H: Copy + PartialEq + fmt::Debug,
    B: Buffer + Default,
{
    /// Ask the servers for request `index`'s first search candidate.
    fn start<T: Copy, IO>(&mut self, events: &mut dyn Events<T>, io: &mut IO, index: usize)
    where
        IO: Datagram<Handle = H> + Connect<Handle = H>,
    {
        match candidate(&self.config, &self.slots[index].query, 0) {
            Some((k, name)) => {
                let slot = &mut self.slots[index];
                slot.candidate = k;
                slot.name = name;
                if let Err(e) = self.send_try(events, io, index) {
                    self.finish_later(events, io, index, Err(e));
                }
            }
            None => self.finish_later(events, io, index, Err(DnsError::NxDomain)),
        }
    }

    /// The request a UDP reply on socket `sock` with `id` from `from` belongs to, and the case
    /// pattern its question was sent with.
    fn find_try(&self, sock: usize, id: u16, from: SocketAddr) -> Option<(usize, u64)> {
        self.slots.iter().enumerate().find_map(|(i, s)| {
            if !matches!(s.phase, Phase::Udp | Phase::TcpQueued | Phase::Tcp) {
                return None;
            }
            s.tries
                .iter()
                .find(|t| usize::from(t.sock) == sock && t.id == id && t.server == from)
                .map(|t| (i, t.case))
        })
    }

    /// Whether `msg` is a response to what request `index` asks now, sent with case pattern
    /// `case`: the question must come back byte for byte, unless the case was left as it was.
    fn answers_question(&self, index: usize, msg: &Message<'_>, case: u64) -> bool {
        let slot = &self.slots[index];
        msg.is_response()
            && msg.question_count() == 1
            && msg.question().is_some_and(|q| {
                q.qtype == slot.query.qtype()
                    && q.qclass == Class::IN
                    && match case {
                        0 => q.name == slot.name,
                        _ => q.name.eq_exact(slot.name.with_case(case).as_name()),
                    }
            })
    }

    /// Act on a reply to request `index` (`from`: the UDP server it came from, `None` over TCP).
    fn on_reply<T: Copy, IO>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        index: usize,
        msg: &Message<'_>,
        from: Option<SocketAddr>,
    ) -> Verdict
    where
        IO: Datagram<Handle = H> + Connect<Handle = H>,
    {
        if let Some(server) = from
            && msg.is_truncated()
            && self.config.tcp
        {
            if self.slots[index].phase == Phase::Udp {
                debug!("levent: dns: truncated answer: asking again over TCP");
                // Whatever happens (a connection, a queue, or a failure handed out later), this
                // reply is not the end.
                self.slots[index].tcp_server = Some(server);
                self.start_tcp(events, io, index);
            }
            return Verdict::Continue;
        }
        let rcode = msg.rcode();
        if rcode == Rcode::NOERROR {
            return self.on_noerror(events, io, index, msg);
        }
        if rcode == Rcode::NXDOMAIN {
            return self.next_candidate(events, io, index, DnsError::NxDomain);
        }
        let slot = &mut self.slots[index];
        let error = if rcode == Rcode::FORMERR {
            if slot.edns {
                // Perhaps the server does not know EDNS (RFC 6891 §7): ask without it.
                slot.edns = false;
                slot.tries_made = slot.tries_made.saturating_sub(1);
            }
            DnsError::Malformed
        } else if rcode == Rcode::REFUSED {
            DnsError::Refused
        } else if rcode == Rcode::NOTIMP {
            DnsError::NotImp
        } else {
            DnsError::ServFail
        };
        slot.last_error = Some(error);
        if slot.phase == Phase::Tcp || slot.phase == Phase::TcpQueued {
            slot.phase = Phase::Udp;
        }
        match self.send_try(events, io, index) {
            Ok(()) => Verdict::Continue,
            Err(e) => Verdict::Done(Err(e)),
        }
    }

    fn on_noerror<T: Copy, IO>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        index: usize,
        msg: &Message<'_>,
    ) -> Verdict
    where
        IO: Datagram<Handle = H> + Connect<Handle = H>,
    {
        let slot = &self.slots[index];
        let qtype = slot.query.qtype();
        let mut cur = slot.name.clone();
        let mut hops = slot.hops;
        let found = loop {
            let here = cur.as_name();
            if msg
                .answers()
                .any(|r| r.rtype() == qtype && r.class == Class::IN && r.name == here)
            {
                break true;
            }
            if qtype == RType::CNAME {
                break false;
            }
            let next = msg.answers().find_map(|r| match r.data {
                RData::Cname(target) if r.name == here => Some(target),
                _ => None,
            });
            match next {
                Some(target) => {
                    hops = hops.saturating_add(1);
                    if hops > self.config.max_cname_hops {
                        return Verdict::Done(Err(DnsError::Loop));
                    }
                    cur = target.to_name_buf();
                }
                None => break false,
            }
        };
        if found {
            self.answer_name = cur;
            return Verdict::Done(Ok(()));
        }
        if cur == slot.name {
            return self.next_candidate(events, io, index, DnsError::NoData);
        }
        let negative = msg.authority().any(|r| r.rtype() == RType::SOA);
        if negative {
            return Verdict::Done(Err(DnsError::NoData));
        }
        // The chain ends without the records asked for: ask again where it ends.
        let slot = &mut self.slots[index];
        slot.name = cur;
        slot.hops = hops;
        self.restart(events, io, index)
    }

    fn next_candidate<T: Copy, IO>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        index: usize,
        error: DnsError,
    ) -> Verdict
    where
        IO: Datagram<Handle = H> + Connect<Handle = H>,
    {
        let slot = &mut self.slots[index];
        if error == DnsError::NoData {
            slot.saw_nodata = true;
        }
        let next = slot
            .candidate
            .checked_add(1)
            .and_then(|k| candidate(&self.config, &slot.query, k));
        match next {
            Some((k, name)) => {
                slot.candidate = k;
                slot.name = name;
                slot.hops = 0;
                self.restart(events, io, index)
            }
            None => Verdict::Done(Err(if slot.saw_nodata {
                DnsError::NoData
            } else {
                DnsError::NxDomain
            })),
        }
    }

    /// Ask for the request's (new) name from the first try again.
    fn restart<T: Copy, IO>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        index: usize,
    ) -> Verdict
    where
        IO: Datagram<Handle = H> + Connect<Handle = H>,
    {
        self.drop_tries(events, io, index);
        let slot = &mut self.slots[index];
        slot.tries_made = 0;
        slot.last_error = None;
        if slot.phase != Phase::Udp {
            slot.phase = Phase::Udp;
        }
        match self.send_try(events, io, index) {
            Ok(()) => Verdict::Continue,
            Err(e) => Verdict::Done(Err(e)),
        }
    }

    /// Send the next try of request `index` over UDP and arm its timer; the error to finish
    /// with when no try is left.
    fn send_try<T: Copy, IO>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        index: usize,
    ) -> Result<(), DnsError>
    where
        IO: Datagram<Handle = H> + Connect<Handle = H>,
    {
        let n = self.config.servers().len();
        if n == 0 {
            return Err(DnsError::Io(IoError::Unreachable));
        }
        let total = u16::from(self.config.attempts.max(1)).saturating_mul(n as u16);
        let now = events.now();
        self.slots[index].phase = Phase::Udp;
        while self.slots[index].tries_made < total && now < self.slots[index].deadline {
            let slot = &mut self.slots[index];
            let k = usize::from(slot.first_server) + usize::from(slot.tries_made);
            if slot.tries_made > 0 {
                debug!("levent: dns: try {} of {}", slot.tries_made + 1, total);
            }
            slot.tries_made += 1;
            // A server that is down gives its turn to the next one that is up, if any.
            let k = (0..n)
                .map(|d| (k + d) % n)
                .find(|&i| !self.is_down(i, now))
                .unwrap_or(k % n);
            let server = self.config.servers()[k];
            match self.send_udp(events, io, index, server) {
                Ok(()) => {
                    self.arm(events, index);
                    return Ok(());
                }
                Err(e) => {
                    debug!("levent: dns: cannot send a query: {}", e);
                    self.slots[index].last_error.get_or_insert(DnsError::Io(e));
                }
            }
        }
        Err(self.slots[index].last_error.unwrap_or(DnsError::Timeout))
    }

    /// Arm request `index`'s timer for one try's timeout, or what is left before its deadline
    /// if that is less.
    fn arm<T: Copy>(&self, events: &mut dyn Events<T>, index: usize) {
        let slot = &self.slots[index];
        let left = slot.deadline.saturating_sub(events.now());
        let left = events.platform().clock.duration(left);
        let _ = events.add(slot.timer, Some(self.config.timeout.min(left)));
    }

    /// The health entry of `server`, started over if the entry was about another one.
    fn health_mut(&mut self, server: SocketAddr) -> Option<&mut Health> {
        let i = self.config.servers().iter().position(|&a| a == server)?;
        let h = self.health.get_mut(i)?;
        if h.addr != Some(server) {
            *h = Health {
                addr: Some(server),
                ..Health::default()
            };
        }
        Some(h)
    }

    /// Whether server `i` of the configuration is down and its back-off not over.
    fn is_down(&self, i: usize, now: Tick) -> bool {
        let Some(&addr) = self.config.servers().get(i) else {
            return false;
        };
        self.health.get(i).is_some_and(|h| {
            h.addr == Some(addr)
                && h.timeouts >= self.config.max_timeouts.max(1)
                && now < h.down_until
        })
    }

    /// A try to `server` timed out: after `max_timeouts` in a row it is down for a back-off
    /// (doubled by each probe that times out too, up to an hour).
    fn note_timeout(&mut self, server: SocketAddr, now: Tick, clock: &Clock) {
        let (max, base) = (self.config.max_timeouts.max(1), self.config.probe_backoff);
        // Logged by its place in the configuration: defmt cannot format a `SocketAddr`.
        let nth = self.config.servers().iter().position(|&a| a == server);
        let Some(h) = self.health_mut(server) else {
            return;
        };
        h.timeouts = h.timeouts.saturating_add(1);
        // Timeouts of tries sent before it went down do not stretch the back-off.
        if h.timeouts >= max && now >= h.down_until {
            let backoff = base
                .saturating_mul(1 << h.backoffs.min(16))
                .min(MAX_BACKOFF);
            h.down_until = clock.after(now, backoff).unwrap_or(Tick::MAX);
            h.backoffs = h.backoffs.saturating_add(1);
            warn!(
                "levent: dns: nameserver {} of the configuration is not answering: passed over for {} s",
                nth.map_or(0, |i| i + 1),
                backoff.as_secs()
            );
        }
    }

    /// `server` answered: it is up, whatever it was.
    fn note_alive(&mut self, server: SocketAddr) {
        let max = self.config.max_timeouts.max(1);
        let nth = self.config.servers().iter().position(|&a| a == server);
        if let Some(h) = self.health_mut(server) {
            if h.timeouts >= max {
                info!(
                    "levent: dns: nameserver {} of the configuration is answering again",
                    nth.map_or(0, |i| i + 1)
                );
            }
            *h = Health {
                addr: Some(server),
                ..Health::default()
            };
        }
    }

    fn send_udp<T: Copy, IO>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        index: usize,
        server: SocketAddr,
    ) -> Result<(), IoError>
    where
        IO: Datagram<Handle = H> + Connect<Handle = H>,
    {
        let sock = self.pick_socket(events, io, server.is_ipv6())?;
        let mut id = self.rng.u16();
        for _ in 0..8 {
            if self.find_try(sock, id, server).is_none() {
                break;
            }
            id = self.rng.u16();
        }
        let case = if self.config.randomize_case {
            self.rng.u64().max(1)
        } else {
            0
        };
        let slot = &self.slots[index];
        let edns = if slot.edns { self.config.edns } else { None };
        let mut qbuf = [0u8; QUERY_MAX];
        let name = slot.name.with_case(case);
        let query = MessageBuilder::query(&mut qbuf, id, &name, slot.query.qtype(), true, edns)
            .map_err(|_| IoError::Other(0))?;
        let Some(u) = self.udp[sock].as_mut() else {
            return Err(IoError::Closed);
        };
        io.send_to(u.handle, query, server)?;
        u.refs += 1;
        u.queries += 1;
        if u.queries >= self.config.socket_queries.max(1) {
            u.retiring = true;
        }
        let slot = &mut self.slots[index];
        if slot.tries.is_full() {
            let oldest = slot.tries.remove(0);
            self.unref(events, io, usize::from(oldest.sock));
        }
        let slot = &mut self.slots[index];
        let _ = slot.tries.push(Try {
            sock: sock as u8,
            id,
            server,
            case,
        });
        Ok(())
    }

    /// A socket of the family to send a query from: a new one while there are fewer than
    /// `udp_sockets`, else one drawn at random.
    fn pick_socket<T: Copy, IO>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        v6: bool,
    ) -> Result<usize, IoError>
    where
        IO: Datagram<Handle = H> + Connect<Handle = H>,
    {
        let want = usize::from(self.config.udp_sockets.clamp(1, 4));
        let usable = |u: &Option<UdpSock<H>>| u.as_ref().is_some_and(|u| u.v6 == v6 && !u.retiring);
        let count = self.udp.iter().filter(|u| usable(u)).count();
        if count < want
            && let Some(free) = self.udp.iter().position(Option::is_none)
        {
            let local = if v6 {
                SocketAddr::new(IpAddr::V6(core::net::Ipv6Addr::UNSPECIFIED), 0)
            } else {
                SocketAddr::new(IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED), 0)
            };
            let datum = events.datum(self.wake).map_err(|_| IoError::Other(0))?;
            let handle = io.bind(local)?;
            let key = Datagram::source(io, handle);
            match events.start(Event::read(key).persist(), datum, None) {
                Ok(ev) => {
                    self.udp[free] = Some(UdpSock {
                        handle,
                        ev,
                        v6,
                        queries: 0,
                        refs: 0,
                        retiring: false,
                    });
                    return Ok(free);
                }
                Err(_) => {
                    Datagram::close(io, events, handle);
                    if count == 0 {
                        return Err(IoError::NoDescriptors);
                    }
                }
            }
        }
        if count == 0 {
            return Err(IoError::NoDescriptors);
        }
        let pick = self.rng.below(count as u32) as usize;
        self.udp
            .iter()
            .enumerate()
            .filter(|(_, u)| usable(u))
            .nth(pick)
            .map(|(i, _)| i)
            .ok_or(IoError::NoDescriptors)
    }

    /// One try on socket `sock` is over; close the socket if it is retiring and idle.
    fn unref<T: Copy, IO>(&mut self, events: &mut dyn Events<T>, io: &mut IO, sock: usize)
    where
        IO: Datagram<Handle = H> + Connect<Handle = H>,
    {
        let Some(u) = self.udp.get_mut(sock).and_then(Option::as_mut) else {
            return;
        };
        u.refs = u.refs.saturating_sub(1);
        if u.retiring
            && u.refs == 0
            && let Some(u) = self.udp[sock].take()
        {
            let _ = events.free(u.ev);
            Datagram::close(io, events, u.handle);
        }
    }

    fn drop_tries<T: Copy, IO>(&mut self, events: &mut dyn Events<T>, io: &mut IO, index: usize)
    where
        IO: Datagram<Handle = H> + Connect<Handle = H>,
    {
        while let Some(t) = self.slots[index].tries.pop() {
            self.unref(events, io, usize::from(t.sock));
        }
    }

    /// Ask request `index` over TCP from its `tcp_server`, or queue it while the connection is
    /// busy. A connection that cannot even start counts as a failed try.
    fn start_tcp<T: Copy, IO>(&mut self, events: &mut dyn Events<T>, io: &mut IO, index: usize)
    where
        IO: Datagram<Handle = H> + Connect<Handle = H>,
    {
        let slot = &mut self.slots[index];
        if self.tcp.is_some() {
            // The timer runs on: the wait counts against the lookup's deadline.
            slot.phase = Phase::TcpQueued;
            let id = RequestId {
                index: index as u16,
                generation: slot.generation,
            };
            let _ = self.tcp_queue.push_back(id);
            return;
        }
        let Some(server) = slot.tcp_server else {
            return;
        };
        let started = self.connect_tcp(events, io, index, server);
        match started {
            Ok(()) => {
                self.slots[index].phase = Phase::Tcp;
                self.arm(events, index);
            }
            Err(e) => {
                self.slots[index].last_error = Some(DnsError::Io(e));
                if let Err(e) = self.send_try(events, io, index) {
                    self.finish_later(events, io, index, Err(e));
                }
            }
        }
    }

    fn connect_tcp<T: Copy, IO>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        index: usize,
        server: SocketAddr,
    ) -> Result<(), IoError>
    where
        IO: Datagram<Handle = H> + Connect<Handle = H>,
    {
        let datum = events.datum(self.wake).map_err(|_| IoError::Other(0))?;
        let id = self.rng.u16();
        let slot = &self.slots[index];
        let edns = if slot.edns { self.config.edns } else { None };
        let mut qbuf = [0u8; QUERY_MAX + 2];
        let (head, body) = qbuf.split_at_mut(2);
        let len = MessageBuilder::query(body, id, &slot.name, slot.query.qtype(), true, edns)
            .map_err(|_| IoError::Other(0))?
            .len();
        head.copy_from_slice(&(len as u16).to_be_bytes());
        let handle = io.connect(server)?;
        let mut conn = match Connection::connecting(
            events,
            io,
            handle,
            B::default(),
            B::default(),
            ConnOptions::DEFAULT,
            datum,
        ) {
            Ok(c) => c,
            Err(_) => {
                Transport::close(io, events, handle);
                return Err(IoError::NoDescriptors);
            }
        };
        if conn.write(events, io, &qbuf[..2 + len]) < 2 + len {
            conn.close(events, io);
            return Err(IoError::NoDescriptors);
        }
        self.tcp = Some(TcpExchange {
            conn,
            slot: index as u16,
            id,
        });
        Ok(())
    }

    /// Close the TCP connection and start the next request waiting for it.
    fn close_tcp<T: Copy, IO>(&mut self, events: &mut dyn Events<T>, io: &mut IO)
    where
        IO: Datagram<Handle = H> + Connect<Handle = H>,
    {
        if let Some(t) = self.tcp.take() {
            let index = usize::from(t.slot);
            t.conn.close(events, io);
            if let Some(slot) = self.slots.get_mut(index)
                && slot.phase == Phase::Tcp
            {
                slot.phase = Phase::Udp;
            }
        }
        while self.tcp.is_none() {
            let Some(next) = self.tcp_queue.pop_front() else {
                break;
            };
            let index = next.index();
            let waiting = self
                .slots
                .get(index)
                .is_some_and(|s| s.generation == next.generation && s.phase == Phase::TcpQueued);
            if waiting {
                self.slots[index].phase = Phase::Udp;
                self.start_tcp(events, io, index);
            }
        }
    }

    /// Finish request `index` outside `handle`: hand it out at the next wake-up.
    fn finish_later<T: Copy, IO>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        index: usize,
        result: Result<(), DnsError>,
    ) where
        IO: Datagram<Handle = H> + Connect<Handle = H>,
    {
        self.release(events, io, index);
        self.slots[index].phase = Phase::Finished(result);
        let _ = self.finished.push_back(index as u16);
        let _ = events.activate(self.wake, Ready::USER);
    }

    /// Stop request `index`'s timer, forget its tries and give up its TCP connection.
    fn release<T: Copy, IO>(&mut self, events: &mut dyn Events<T>, io: &mut IO, index: usize)
    where
        IO: Datagram<Handle = H> + Connect<Handle = H>,
    {
        let _ = events.del(self.slots[index].timer);
        self.drop_tries(events, io, index);
        if self
            .tcp
            .as_ref()
            .is_some_and(|t| usize::from(t.slot) == index)
        {
            self.slots[index].phase = Phase::Udp;
            self.close_tcp(events, io);
        }
    }

    /// Return slot `index` to the free list (its events already released).
    fn free(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        slot.phase = Phase::Free;
        slot.generation = slot.generation.wrapping_add(1);
        self.active = self.active.saturating_sub(1);
    }
}
