//! What a [`Resolver`](super::Resolver) is told: [`Config`] (name servers, search domains,
//! timeouts: what `/etc/resolv.conf` says), the [`Hosts`] table (what `/etc/hosts` says), and
//! the [`Query`] of one lookup; and [`DnsError`], how a lookup fails.

use super::error::NameError;
use super::name::{Name, NameBuf};
use super::types::RType;
use crate::io::IoError;
use core::fmt;
use core::net::{IpAddr, SocketAddr};
use core::time::Duration;

/// The most name servers a [`Config`] holds (glibc reads 3 from `resolv.conf`).
pub const MAX_SERVERS: usize = 4;
/// The most search domains a [`Config`] holds (glibc's limit).
pub const MAX_SEARCH: usize = 6;

/// How a resolver asks: name servers, search domains and retry policy (libevent's
/// `evdns_base_nameserver_add`, `evdns_base_search_add` and `evdns_base_set_option`; the
/// `nameserver`, `search` and `options` lines of `resolv.conf`).
///
/// ```
/// use core::time::Duration;
/// use levent_core::dns::{Config, NameBuf};
/// let mut c = Config::new();
/// c.add_server("127.0.0.1:53".parse().unwrap()).unwrap();
/// c.add_search(NameBuf::from_dotted("lan.example").unwrap()).unwrap();
/// c.timeout = Duration::from_secs(2);
/// assert_eq!((c.servers().len(), c.attempts, c.ndots), (1, 2, 1));
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    servers: heapless::Vec<SocketAddr, MAX_SERVERS>,
    search: heapless::Vec<NameBuf, MAX_SEARCH>,
    /// A name with at least this many dots is first tried as it is, before the search domains;
    /// one with fewer is tried with each search domain first (`options ndots:n`, default 1).
    pub ndots: u8,
    /// How long one try waits for its answer (`options timeout:n`, default 5 s).
    pub timeout: Duration,
    /// How many rounds over all the servers a lookup makes before it gives up
    /// (`options attempts:n`, default 2): a lookup makes at most `attempts × servers` tries.
    pub attempts: u8,
    /// Start each lookup at the next server instead of the first (`options rotate`), spreading
    /// the load; off by default, as in `resolv.conf`.
    pub rotate: bool,
    /// Advertise this UDP payload size with EDNS0 (RFC 6891); `None` sends plain 512-byte
    /// queries. Default 1232, which avoids IP fragmentation. A server that answers FORMERR to
    /// EDNS is asked again without it.
    pub edns: Option<u16>,
    /// Re-ask over TCP when a UDP answer is truncated (default on). Without TCP a truncated
    /// answer is used as it is.
    pub tcp: bool,
    /// How many UDP sockets per address family the resolver keeps open at most (1 to 4,
    /// default 4); each query leaves from one of them, drawn at random.
    pub udp_sockets: u8,
    /// How many queries a UDP socket carries before it is replaced by a new one on a new random
    /// port (default 256; 1 gives every query its own port, at the price of a socket each).
    pub socket_queries: u32,
    /// How many CNAME records a lookup follows before it fails with [`DnsError::Loop`]
    /// (default 8).
    pub max_cname_hops: u8,
    /// Randomise the case of the letters of every name asked (0x20, draft-vixie-dnsext-dns0x20)
    /// and drop answers whose question does not carry the same case, byte for byte: a forged
    /// answer must guess one more bit per letter. Default on; turn it off for a server that
    /// does not copy the question as it was sent.
    pub randomize_case: bool,
    /// After this many tries in a row that a server let time out, it is taken as down (libevent's
    /// `max-timeouts`, default 3): lookups ask the other servers first until its back-off ends,
    /// and a server that is down is asked only when every server is.
    pub max_timeouts: u8,
    /// How long a server that went down is passed over before a lookup tries it again (the
    /// probe); each probe that times out doubles it, up to an hour, and any answer from the
    /// server brings it back (default 10 s, libevent's `initial-probe-timeout`).
    pub probe_backoff: Duration,
}

impl Config {
    /// No server, no search domain, and the defaults above.
    pub const fn new() -> Self {
        Config {
            servers: heapless::Vec::new(),
            search: heapless::Vec::new(),
            ndots: 1,
            timeout: Duration::from_secs(5),
            attempts: 2,
            rotate: false,
            edns: Some(1232),
            tcp: true,
            udp_sockets: 4,
            socket_queries: 256,
            max_cname_hops: 8,
            randomize_case: true,
            max_timeouts: 3,
            probe_backoff: Duration::from_secs(10),
        }
    }

    /// The longest a lookup can take, whatever the servers do (silent, failing, answering
    /// garbage, truncating and then never answering over TCP): [`timeout`](Self::timeout)
    /// times [`attempts`](Self::attempts) times the number of servers (at least one). A lookup
    /// still in progress then, search domains, aliases and a TCP retry included, fails with the
    /// last error a try met, or [`DnsError::Timeout`](super::DnsError::Timeout).
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use levent_core::dns::Config;
    /// let mut c = Config::new();
    /// c.add_server("192.0.2.53:53".parse().unwrap()).unwrap();
    /// c.add_server("198.51.100.53:53".parse().unwrap()).unwrap();
    /// assert_eq!(c.lookup_timeout(), Duration::from_secs(20)); // 5 s x 2 attempts x 2 servers
    /// ```
    pub fn lookup_timeout(&self) -> Duration {
        let tries = u32::from(self.attempts.max(1)) * (self.servers.len().max(1) as u32);
        self.timeout.saturating_mul(tries)
    }

    /// Add a name server (port 53 is the usual one). A server already in the list is not added
    /// twice.
    ///
    /// # Errors
    ///
    /// Hands the address back when [`MAX_SERVERS`] are configured already.
    pub fn add_server(&mut self, addr: SocketAddr) -> Result<(), SocketAddr> {
        if self.servers.contains(&addr) {
            return Ok(());
        }
        self.servers.push(addr)
    }

    /// The name servers, in the order they are asked.
    pub fn servers(&self) -> &[SocketAddr] {
        &self.servers
    }

    /// Forget every name server.
    pub fn clear_servers(&mut self) {
        self.servers.clear();
    }

    /// Add a search domain.
    ///
    /// # Errors
    ///
    /// Hands the name back when [`MAX_SEARCH`] domains are configured already.
    #[allow(
        clippy::result_large_err,
        reason = "a full table hands the value back, as heapless does"
    )]
    pub fn add_search(&mut self, domain: NameBuf) -> Result<(), NameBuf> {
        self.search.push(domain)
    }

    /// The search domains, in the order they are tried.
    pub fn search(&self) -> &[NameBuf] {
        &self.search
    }

    /// Forget every search domain.
    pub fn clear_search(&mut self) {
        self.search.clear();
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

/// One line's worth of a hosts table: a name and one of its addresses.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct HostEntry {
    /// The name (case is kept; lookups ignore it).
    pub name: NameBuf,
    /// The address.
    pub addr: IpAddr,
}

/// A fixed-capacity hosts table (`/etc/hosts`), consulted before any name server: A and AAAA
/// lookups of a name it has an address of that family for, and PTR lookups of an address it
/// has, are answered from it at once.
///
/// The first name entered for an address is the one a PTR lookup returns, as with the
/// canonical name of an `/etc/hosts` line.
///
/// ```
/// use levent_core::dns::{Hosts, NameBuf, RType};
/// let mut h: Hosts<4> = Hosts::new();
/// h.insert(NameBuf::from_dotted("printer.lan").unwrap(), [192, 0, 2, 9].into()).unwrap();
/// let name = NameBuf::from_dotted("PRINTER.lan").unwrap();
/// assert_eq!(h.addrs(name.as_name(), RType::A).count(), 1);
/// assert_eq!(h.addrs(name.as_name(), RType::AAAA).count(), 0);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Hosts<const N: usize> {
    entries: heapless::Vec<HostEntry, N>,
}

impl<const N: usize> Hosts<N> {
    /// An empty table.
    pub const fn new() -> Self {
        Hosts {
            entries: heapless::Vec::new(),
        }
    }

    /// Add `name` → `addr`; an entry already there is not added twice.
    ///
    /// # Errors
    ///
    /// Hands the entry back when the table is full.
    #[allow(
        clippy::result_large_err,
        reason = "a full table hands the value back, as heapless does"
    )]
    pub fn insert(&mut self, name: NameBuf, addr: IpAddr) -> Result<(), HostEntry> {
        if self
            .entries
            .iter()
            .any(|e| e.addr == addr && e.name == name)
        {
            return Ok(());
        }
        self.entries.push(HostEntry { name, addr })
    }

    /// The entries, in the order they were added.
    pub fn entries(&self) -> &[HostEntry] {
        &self.entries
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forget every entry.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// The addresses of `name` that answer a query of type `qtype` (A: IPv4, AAAA: IPv6;
    /// nothing for other types).
    pub fn addrs<'s>(&'s self, name: Name<'s>, qtype: RType) -> impl Iterator<Item = IpAddr> + 's {
        self.entries
            .iter()
            .filter(move |e| {
                e.name.as_name() == name
                    && match e.addr {
                        IpAddr::V4(_) => qtype == RType::A,
                        IpAddr::V6(_) => qtype == RType::AAAA,
                    }
            })
            .map(|e| e.addr)
    }

    /// The name of `addr` (the first entered), for a PTR lookup.
    pub fn name_of(&self, addr: IpAddr) -> Option<&NameBuf> {
        self.entries
            .iter()
            .find(|e| e.addr == addr)
            .map(|e| &e.name)
    }
}

/// What to look up: a name and a record type, and whether search domains apply.
///
/// ```
/// use levent_core::dns::{Query, RType};
/// let q = Query::new("www.example.com.", RType::AAAA).unwrap();
/// assert!(q.is_absolute()); // a final dot: no search domains
/// let p = Query::ptr("192.0.2.1".parse().unwrap());
/// assert_eq!(p.name().to_string(), "1.2.0.192.in-addr.arpa");
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Query {
    name: NameBuf,
    qtype: RType,
    absolute: bool,
}

impl Query {
    /// Look up records of type `qtype` for the dotted name `name`. A final dot makes the name
    /// absolute: search domains are not tried.
    ///
    /// # Errors
    ///
    /// The name is not a valid name ([`NameBuf::from_dotted`]).
    pub fn new(name: &str, qtype: RType) -> Result<Self, NameError> {
        Ok(Query {
            name: NameBuf::from_dotted(name)?,
            qtype,
            absolute: name.ends_with('.') && !name.ends_with("\\."),
        })
    }

    /// IPv4 addresses of `name` (libevent's `evdns_base_resolve_ipv4`).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn a(name: &str) -> Result<Self, NameError> {
        Self::new(name, RType::A)
    }

    /// IPv6 addresses of `name` (`evdns_base_resolve_ipv6`).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn aaaa(name: &str) -> Result<Self, NameError> {
        Self::new(name, RType::AAAA)
    }

    /// The names of an address: a PTR query for its reverse name (`evdns_base_resolve_reverse`
    /// and `_reverse_ipv6`); never searched.
    pub fn ptr(addr: IpAddr) -> Self {
        Query {
            name: NameBuf::reverse(addr),
            qtype: RType::PTR,
            absolute: true,
        }
    }

    /// Records of type `qtype` for a name already in wire form; `absolute` turns search
    /// domains off.
    pub fn from_name(name: NameBuf, qtype: RType, absolute: bool) -> Self {
        Query {
            name,
            qtype,
            absolute,
        }
    }

    /// The same query without search domains (libevent's `DNS_QUERY_NO_SEARCH`).
    #[must_use]
    pub fn no_search(mut self) -> Self {
        self.absolute = true;
        self
    }

    /// The name as given.
    pub fn name(&self) -> &NameBuf {
        &self.name
    }

    /// The record type asked for.
    pub fn qtype(&self) -> RType {
        self.qtype
    }

    /// Whether search domains are skipped.
    pub fn is_absolute(&self) -> bool {
        self.absolute
    }
}

/// Why a lookup failed (libevent's `DNS_ERR_*`). [`kind`](Self::kind) gives the short name a
/// program prints.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DnsError {
    /// The name does not exist (NXDOMAIN), under every search domain tried.
    NxDomain,
    /// The name exists but has no record of the type asked (NOERROR with no answer).
    NoData,
    /// The servers failed (SERVFAIL), or gave an answer levent does not understand.
    ServFail,
    /// The servers refused to answer (REFUSED).
    Refused,
    /// The servers do not implement the query (NOTIMP).
    NotImp,
    /// No server answered in time, after every try.
    Timeout,
    /// A CNAME chain was longer than [`Config::max_cname_hops`], or went round in a loop.
    Loop,
    /// The only answers that came were malformed (or, over TCP, longer than the resolver's
    /// buffer); FORMERR from a server also ends here.
    Malformed,
    /// The lookup was cancelled.
    Cancelled,
    /// No query could be sent: no server is configured, or every send failed.
    Io(IoError),
}

impl DnsError {
    /// The short name: `nxdomain`, `nodata`, `servfail`, `refused`, `notimp`, `timeout`,
    /// `loop`, `malformed`, `cancelled` or `io`.
    pub const fn kind(&self) -> &'static str {
        match self {
            DnsError::NxDomain => "nxdomain",
            DnsError::NoData => "nodata",
            DnsError::ServFail => "servfail",
            DnsError::Refused => "refused",
            DnsError::NotImp => "notimp",
            DnsError::Timeout => "timeout",
            DnsError::Loop => "loop",
            DnsError::Malformed => "malformed",
            DnsError::Cancelled => "cancelled",
            DnsError::Io(_) => "io",
        }
    }
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnsError::Io(e) => write!(f, "io: {e}"),
            other => f.write_str(other.kind()),
        }
    }
}

impl core::error::Error for DnsError {}
