//! The DNS resolver end to end, on every backend: the project's own DNS server
//! (`levent_core::dns::Server`, scripted to misbehave where a scenario needs it) and the
//! resolver share one engine, so every scenario is one deterministic loop on the simulated
//! network and a real one over loopback UDP and TCP on epoll and poll.

use levent_core::dns::{
    Class, Config, ConnectError, Connector, DnsError, Done, Family, Flags, Hosts, Message,
    MessageBuilder, NameBuf, Origin, Query, RData, RType, Rcode, Request, Resolver, Server, Txt,
};
use levent_core::io::{Accept, Connect, Datagram};
use levent_core::{Engine, Event, EventId, Fired, Host, Platform, Route};
use levent_hosts::buffer::ChainBuffer;
use levent_hosts::net::{ListenOptions, SocketId, Sockets};
use levent_hosts::sim::{Fate, SimNet};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// What a DNS scenario needs from a backend.
pub trait DnsWorld: Sized {
    /// A socket.
    type H: Copy + PartialEq + std::fmt::Debug;
    /// The IO storage.
    type Io: Datagram<Handle = Self::H> + Connect<Handle = Self::H> + Accept<Handle = Self::H>;
    /// A fresh world.
    fn new() -> Self;
    /// The host.
    fn host(&mut self) -> &mut dyn Host;
    /// The sockets.
    fn io(&mut self) -> &mut Self::Io;
    /// What an engine here must know.
    fn platform(&self) -> Platform;
    /// A UDP socket and a TCP listener on one loopback address and port.
    fn server_sockets(&mut self) -> (Self::H, Self::H, SocketAddr);
    /// A TCP listener on a free loopback port.
    fn listener(&mut self) -> (Self::H, SocketAddr);
    /// A loopback address and port where nobody listens.
    fn nowhere(&mut self) -> SocketAddr;
    /// The simulated network, on the sim backend.
    fn sim(&mut self) -> Option<&mut SimNet> {
        None
    }
    /// Whether time is virtual.
    fn virtual_time(&self) -> bool;
}

/// Real sockets on loopback, on host `H`.
#[cfg(unix)]
///
/// With `RING` (io_uring only), the socket table is the host's own ([`Uring::sockets`]): its
/// streams read and write on the ring.
///
/// [`Uring::sockets`]: levent_hosts::uring::Uring::sockets
pub struct OsDns<H, const RING: bool = false> {
    host: H,
    io: Sockets,
}

#[cfg(unix)]
macro_rules! os_dns {
    ($host:ty) => {
        os_dns!(OsDns<$host>, $host, |_| Sockets::new());
    };
    ($world:ty, $host:ty, $io:expr) => {
        impl DnsWorld for $world {
            type H = SocketId;
            type Io = Sockets;
            fn new() -> Self {
                let mut host = <$host>::new().unwrap();
                let make: fn(&mut $host) -> Sockets = $io;
                let io = make(&mut host);
                OsDns { host, io }
            }
            fn host(&mut self) -> &mut dyn Host {
                &mut self.host
            }
            fn io(&mut self) -> &mut Sockets {
                &mut self.io
            }
            fn platform(&self) -> Platform {
                levent_hosts::PLATFORM
            }
            fn server_sockets(&mut self) -> (SocketId, SocketId, SocketAddr) {
                os_server_sockets(&mut self.io)
            }
            fn listener(&mut self) -> (SocketId, SocketAddr) {
                let l = self
                    .io
                    .listen("127.0.0.1:0".parse().unwrap(), ListenOptions::default())
                    .unwrap();
                (l, self.io.local_addr(l).unwrap())
            }
            fn nowhere(&mut self) -> SocketAddr {
                let mut scratch = Sockets::new();
                let l = scratch
                    .listen("127.0.0.1:0".parse().unwrap(), ListenOptions::default())
                    .unwrap();
                scratch.local_addr(l).unwrap()
            }
            fn virtual_time(&self) -> bool {
                false
            }
        }
    };
}

/// A UDP socket and a TCP listener on the same free loopback port.
pub fn os_server_sockets(io: &mut Sockets) -> (SocketId, SocketId, SocketAddr) {
    for _ in 0..50 {
        let udp = io.bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = io.local_addr(udp).unwrap();
        let opts = ListenOptions {
            reuse_address: false,
            ..ListenOptions::default()
        };
        match io.listen(addr, opts) {
            Ok(tcp) => return (udp, tcp, addr),
            Err(_) => {
                let mut d = levent_core::Engine::<(), 1, 1, 1>::new(levent_hosts::PLATFORM);
                levent_core::io::Transport::close(io, &mut d, udp);
            }
        }
    }
    panic!("no loopback port free for both UDP and TCP");
}

#[cfg(target_os = "linux")]
os_dns!(levent_hosts::epoll::Epoll);
#[cfg(target_os = "linux")]
os_dns!(levent_hosts::uring::Uring);
#[cfg(target_os = "linux")]
os_dns!(
    OsDns<levent_hosts::uring::Uring, true>,
    levent_hosts::uring::Uring,
    |h| h.sockets().unwrap()
);
#[cfg(unix)]
os_dns!(levent_hosts::poll::Poll);

/// The simulated network: virtual time, deterministic.
pub struct SimDns {
    net: SimNet,
    next_port: u16,
}

impl DnsWorld for SimDns {
    type H = levent_core::SourceKey;
    type Io = SimNet;
    fn new() -> Self {
        SimDns {
            net: SimNet::new(0xd115),
            next_port: 5300,
        }
    }
    fn host(&mut self) -> &mut dyn Host {
        &mut self.net
    }
    fn io(&mut self) -> &mut SimNet {
        &mut self.net
    }
    fn platform(&self) -> Platform {
        crate::SIM_PLATFORM
    }
    fn server_sockets(&mut self) -> (Self::H, Self::H, SocketAddr) {
        let port = self.next_port;
        self.next_port += 1;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let udp = self.net.bind_udp(addr).unwrap();
        let tcp = self.net.listen(port).unwrap();
        (udp, tcp, addr)
    }
    fn listener(&mut self) -> (Self::H, SocketAddr) {
        let port = self.next_port;
        self.next_port += 1;
        (
            self.net.listen(port).unwrap(),
            ([127, 0, 0, 1], port).into(),
        )
    }
    fn nowhere(&mut self) -> SocketAddr {
        ([127, 0, 0, 1], 9).into()
    }
    fn sim(&mut self) -> Option<&mut SimNet> {
        Some(&mut self.net)
    }
    fn virtual_time(&self) -> bool {
        true
    }
}

/// Routes events: the resolver, server `n`, a delayed reply of server `n`, a connector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ev {
    /// The resolver.
    Dns,
    /// Test server `route.tag()`.
    Server(Route),
    /// A delayed reply of server `n`.
    Delayed(usize),
    /// A connector.
    Connect,
    /// A listener the connector connects to.
    Listen,
}

impl From<Route> for Ev {
    fn from(r: Route) -> Ev {
        Ev::Server(r)
    }
}

type Eng = Engine<Ev, 512, 128, 1, levent_hosts::Heap>;
/// The resolver under test: 8 lookups, 8 hosts entries, 4 KiB messages.
pub type TestResolver<H, const C: usize = 0> = Resolver<H, ChainBuffer, 8, 8, 4096, C>;
type TestServer<H> = Server<Ev, H, ChainBuffer, 4, 4096>;

/// A record the test zone serves.
#[derive(Clone, Debug)]
pub enum Rd {
    /// IPv4 address.
    A([u8; 4]),
    /// IPv6 address.
    Aaaa(std::net::Ipv6Addr),
    /// Alias.
    Cname(&'static str),
    /// Reverse name.
    Ptr(&'static str),
    /// Mail exchange.
    Mx(u16, &'static str),
    /// Text.
    Txt(&'static str),
    /// Service.
    Srv(u16, u16, u16, &'static str),
}

impl Rd {
    fn rtype(&self) -> RType {
        match self {
            Rd::A(_) => RType::A,
            Rd::Aaaa(_) => RType::AAAA,
            Rd::Cname(_) => RType::CNAME,
            Rd::Ptr(_) => RType::PTR,
            Rd::Mx(..) => RType::MX,
            Rd::Txt(_) => RType::TXT,
            Rd::Srv(..) => RType::SRV,
        }
    }
}

/// How a test server misbehaves.
#[derive(Clone, Debug, Default)]
pub struct Quirks {
    /// Answer every query with this rcode instead.
    pub rcode: Option<Rcode>,
    /// Drop the first `n` queries.
    pub drop_first: usize,
    /// Drop every query after the first.
    pub drop_after_first: bool,
    /// Delay the answer to the first query by this long.
    pub delay_first: Option<Duration>,
    /// Over UDP, answer with TC set and no records.
    pub truncate_udp: bool,
    /// Answer only the first CNAME of a chain (a server that does not chase aliases).
    pub no_chase: bool,
    /// Before the real answer, send replies with a wrong id, a wrong question, and (from
    /// another socket) a wrong source, each carrying address 6.6.6.6.
    pub spoof_first: bool,
    /// Answer with garbage that still carries the query's id.
    pub garbage: bool,
    /// Send only the replies of `spoof_first` (wrong id, question, source), to every query, and
    /// never the real answer.
    pub spoof_only: bool,
    /// Answer with the question's name in lower case (a server that does not copy it as sent).
    pub lower_question: bool,
    /// Take TCP connections but never answer over them.
    pub tcp_silent: bool,
}

/// A scripted DNS server: a small zone, quirks, and a log of the questions it saw.
pub struct Zone<H> {
    server: TestServer<H>,
    /// Where it listens.
    pub addr: SocketAddr,
    records: Vec<(NameBuf, Rd)>,
    /// The questions seen: name, type, over TCP.
    pub log: Vec<(String, RType, bool)>,
    /// The names asked, as they came (the case included).
    pub asked: Vec<String>,
    /// The misbehaviour.
    pub quirks: Quirks,
    delayed: Vec<(EventId, SocketAddr, Vec<u8>)>,
    spoofer: Option<H>,
}

impl<H: Copy + PartialEq + std::fmt::Debug> Zone<H> {
    /// Add a record.
    pub fn add(&mut self, name: &str, rd: Rd) {
        self.records.push((NameBuf::from_dotted(name).unwrap(), rd));
    }
}

/// The answer records for `qname`/`qtype` from `records`, following CNAMEs (only the first if
/// `no_chase`); the rcode, and whether an SOA belongs in the authority section.
fn zone_answer(
    records: &[(NameBuf, Rd)],
    no_chase: bool,
    qname: &NameBuf,
    qtype: RType,
) -> (Rcode, Vec<(NameBuf, Rd)>, bool) {
    {
        let mut out = vec![];
        let mut cur = qname.clone();
        for _ in 0..16 {
            let here: Vec<_> = records
                .iter()
                .filter(|(n, rd)| *n == cur && rd.rtype() == qtype)
                .cloned()
                .collect();
            if !here.is_empty() {
                out.extend(here);
                return (Rcode::NOERROR, out, false);
            }
            let alias = records
                .iter()
                .find(|(n, rd)| *n == cur && matches!(rd, Rd::Cname(_)));
            match alias {
                Some((n, Rd::Cname(target))) if qtype != RType::CNAME => {
                    out.push((n.clone(), Rd::Cname(target)));
                    if no_chase {
                        return (Rcode::NOERROR, out, false);
                    }
                    cur = NameBuf::from_dotted(target).unwrap();
                }
                _ => break,
            }
        }
        if records.iter().any(|(n, _)| *n == cur) {
            (Rcode::NOERROR, out, true)
        } else {
            (Rcode::NXDOMAIN, out, true)
        }
    }
}

/// One test's world: the engine, the resolver, the servers.
pub struct Bed<W: DnsWorld, const C: usize = 0> {
    /// The world.
    pub w: W,
    /// The engine.
    pub e: Box<Eng>,
    /// The resolver under test.
    pub r: Box<TestResolver<W::H, C>>,
    /// The test servers.
    pub zones: Vec<Zone<W::H>>,
    /// Finished lookups.
    pub results: HashMap<levent_core::dns::RequestId, Outcome>,
    /// Order in which lookups finished.
    pub order: Vec<levent_core::dns::RequestId>,
}

/// A finished lookup, owned.
pub type Outcome = Result<Answered, DnsError>;

/// A successful lookup, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answered {
    /// The records' data, as text, sorted.
    pub data: Vec<String>,
    /// The canonical name.
    pub name: String,
    /// From the hosts table.
    pub from_hosts: bool,
    /// From the cache, and its TTL left.
    pub from_cache: bool,
    /// The TTL left, in seconds.
    pub ttl: u32,
}

fn own(done: &Done<'_>) -> Outcome {
    done.result.as_ref().map_err(|e| *e).map(|a| {
        let mut data: Vec<String> = a.records().map(|r| r.data.to_string()).collect();
        data.sort();
        Answered {
            data,
            name: a.name().to_string(),
            from_hosts: a.from_hosts(),
            from_cache: a.from_cache(),
            ttl: a.ttl(),
        }
    })
}

impl<W: DnsWorld, const C: usize> Bed<W, C> {
    /// A world with `servers` test servers and a resolver asking them (timeout `timeout`,
    /// `attempts` rounds).
    pub fn new(servers: usize, timeout: Duration, attempts: u8) -> Self {
        Self::with(servers, |c| {
            c.timeout = timeout;
            c.attempts = attempts;
        })
    }

    /// As [`new`](Self::new), with the configuration shaped by `shape` (servers are added).
    pub fn with(servers: usize, shape: impl FnOnce(&mut Config)) -> Self {
        let mut w = W::new();
        let mut e = Box::new(Eng::new(w.platform()));
        // A guard against a test that hangs: a minute of real time, ten of virtual time (where
        // a test may wait out TTLs).
        let guard = if w.virtual_time() { 600 } else { 60 };
        e.loop_exit(Some(Duration::from_secs(guard))).unwrap();
        let mut zones = vec![];
        let mut config = Config::new();
        config.timeout = Duration::from_millis(300);
        for i in 0..servers {
            let (udp, tcp, addr) = w.server_sockets();
            let mut server: TestServer<W::H> = Server::new(&mut *e, i as u16).unwrap();
            server.serve_udp(&mut *e, w.io(), udp).unwrap();
            server.serve_tcp(&mut *e, w.io(), tcp).unwrap();
            config.add_server(addr).unwrap();
            zones.push(Zone {
                server,
                addr,
                records: vec![],
                log: vec![],
                asked: vec![],
                quirks: Quirks::default(),
                delayed: vec![],
                spoofer: None,
            });
        }
        shape(&mut config);
        let r = Box::new(Resolver::new(&mut *e, config, Hosts::new(), [9; 16], Ev::Dns).unwrap());
        Bed {
            w,
            e,
            r,
            zones,
            results: HashMap::new(),
            order: vec![],
        }
    }

    /// Start a lookup.
    pub fn lookup(&mut self, q: Query) -> levent_core::dns::RequestId {
        self.r.lookup(&mut *self.e, self.w.io(), q).unwrap()
    }

    /// Run until lookup `id` finishes; its outcome.
    pub fn wait(&mut self, id: levent_core::dns::RequestId) -> Outcome {
        self.run_until(|b| b.results.contains_key(&id));
        self.results[&id].clone()
    }

    /// Run the loop until `done` holds.
    pub fn run_until(&mut self, mut done: impl FnMut(&Self) -> bool) {
        while !done(self) {
            let Some(f) = self.e.next(self.w.host()).unwrap() else {
                panic!("loop ended: {:?}", self.e.last_exit());
            };
            self.dispatch(&f);
        }
    }

    /// Run for `d` (virtual or real time), handling everything.
    pub fn run_for(&mut self, d: Duration) {
        let stop = self.e.start(Event::timer(), Ev::Listen, Some(d)).unwrap();
        loop {
            let f = self.e.next(self.w.host()).unwrap().expect("loop ended");
            if f.id == stop {
                return;
            }
            self.dispatch(&f);
        }
    }

    /// Handle one fired event.
    pub fn dispatch(&mut self, f: &Fired<Ev>) {
        match f.datum {
            Ev::Dns => {
                if let Some(done) = self.r.handle(&mut *self.e, self.w.io(), f) {
                    let id = done.id;
                    let outcome = own(&done);
                    assert!(
                        self.results.insert(id, outcome).is_none(),
                        "lookup {id:?} finished twice"
                    );
                    self.order.push(id);
                }
            }
            Ev::Server(r) => self.serve(r, f),
            Ev::Delayed(i) => {
                let z = &mut self.zones[i];
                if let Some(k) = z.delayed.iter().position(|d| d.0 == f.id) {
                    let (ev, to, bytes) = z.delayed.remove(k);
                    let _ = self.e.free(ev);
                    z.server.send_udp(self.w.io(), to, &bytes).unwrap();
                }
            }
            Ev::Connect | Ev::Listen => {}
        }
    }

    fn serve(&mut self, r: Route, f: &Fired<Ev>) {
        let i = usize::from(r.tag());
        let spoofing = self.zones[i].quirks.spoof_first || self.zones[i].quirks.spoof_only;
        let spoofer = match spoofing && self.zones[i].spoofer.is_none() {
            true => Some(self.w.io().bind("127.0.0.1:0".parse().unwrap()).unwrap()),
            false => None,
        };
        let z = &mut self.zones[i];
        if spoofer.is_some() {
            z.spoofer = spoofer;
        }
        let server_udp = z.server.udp_socket().unwrap();
        let Some(req) = z.server.handle(&mut *self.e, self.w.io(), f, r) else {
            return;
        };
        let msg = req.message();
        let q = msg.question().unwrap();
        let qname = q.name.to_name_buf();
        let tcp = matches!(req.origin(), Origin::Tcp(_));
        z.asked.push(qname.to_string());
        z.log
            .push((qname.to_string().to_ascii_lowercase(), q.qtype, tcp));
        let n = z.log.len();
        let quirks = z.quirks.clone();
        if n <= quirks.drop_first || (quirks.drop_after_first && n > 1) {
            return;
        }
        if tcp && quirks.tcp_silent {
            let _ = req;
            return;
        }
        let (rcode, records, negative) = zone_answer(&z.records, quirks.no_chase, &qname, q.qtype);
        let rcode = quirks.rcode.unwrap_or(rcode);
        let udp_from = match req.origin() {
            Origin::Udp(a) => Some(a),
            Origin::Tcp(_) => None,
        };
        if quirks.garbage {
            let id = msg.id().to_be_bytes();
            req.send_raw(
                &mut *self.e,
                self.w.io(),
                &[id[0], id[1], 0x81, 0x80, 0, 1, 0xff],
            )
            .unwrap();
            return;
        }
        let mut buf = vec![0u8; 4096];
        let bytes = build_reply(
            &mut buf,
            &msg,
            rcode,
            &records,
            negative,
            quirks.truncate_udp && !tcp,
        );
        if (quirks.spoof_first && n == 1) || (quirks.spoof_only && !tcp) {
            let from = udp_from.unwrap();
            let evil = [(qname.clone(), Rd::A([6, 6, 6, 6]))];
            let mut sbuf = vec![0u8; 4096];
            // The right id and question from another socket.
            let spoof = build_reply(&mut sbuf, &msg, Rcode::NOERROR, &evil, false, false).to_vec();
            let s = z.spoofer.unwrap();
            self.w.io().send_to(s, &spoof, from).unwrap();
            // A wrong id from the right socket.
            let mut wrong_id = spoof.clone();
            wrong_id[0] ^= 0x55;
            self.w.io().send_to(server_udp, &wrong_id, from).unwrap();
            // The right id, a different question.
            let other = NameBuf::from_dotted("elsewhere.example").unwrap();
            let mut b = MessageBuilder::new(&mut sbuf);
            b.header_mut().id = msg.id();
            b.header_mut().flags = Flags::QR | Flags::RD | Flags::RA;
            b.question(&other, q.qtype, Class::IN).unwrap();
            b.answer(&other, 60, &RData::A([6, 6, 6, 6].into()))
                .unwrap();
            let wrong_q = b.finish().unwrap().to_vec();
            self.w.io().send_to(server_udp, &wrong_q, from).unwrap();
            if quirks.spoof_only {
                return;
            }
        }
        if let (Some(delay), 1, Some(to)) = (quirks.delay_first, n, udp_from) {
            let ev = self
                .e
                .start(Event::timer(), Ev::Delayed(i), Some(delay))
                .unwrap();
            // The request is not answered now: the delayed reply goes out from the timer.
            let bytes = bytes.to_vec();
            let _ = req;
            z.delayed.push((ev, to, bytes));
            return;
        }
        let mut bytes = bytes.to_vec();
        if quirks.lower_question {
            // The question's name starts after the 12-byte header, uncompressed.
            let mut pos = 12;
            while let Some(&len) = bytes.get(pos).filter(|&&l| l != 0) {
                let end = (pos + 1 + usize::from(len)).min(bytes.len());
                bytes[pos + 1..end].make_ascii_lowercase();
                pos = end;
            }
        }
        reply_raw(req, &mut self.e, self.w.io(), &bytes);
    }
}

fn reply_raw<H, IO>(
    req: Request<'_, Ev, H, ChainBuffer, 4, 4096>,
    e: &mut Eng,
    io: &mut IO,
    bytes: &[u8],
) where
    H: Copy + PartialEq + std::fmt::Debug,
    IO: Datagram<Handle = H> + levent_core::io::Transport<Handle = H>,
{
    let max = req.max_reply();
    if bytes.len() > max {
        // Too big for the client over UDP: what fits, with TC (the server API does this for
        // records; raw bytes are cut here the same way).
        let msg = Message::parse(bytes).unwrap();
        req.respond(e, io, msg.rcode(), true, |b| {
            for r in msg.answers() {
                b.record(
                    levent_core::dns::Section::Answer,
                    r.name,
                    r.class,
                    r.ttl,
                    &r.data,
                )?;
            }
            Ok(())
        })
        .unwrap();
    } else {
        req.send_raw(e, io, bytes).unwrap();
    }
}

fn build_reply<'b>(
    buf: &'b mut [u8],
    query: &Message<'_>,
    rcode: Rcode,
    records: &[(NameBuf, Rd)],
    negative: bool,
    truncate: bool,
) -> &'b [u8] {
    let mut b = MessageBuilder::reply(buf, query, rcode, true).unwrap();
    b.header_mut().flags |= Flags::RA;
    if truncate {
        b.header_mut().flags |= Flags::TC;
        return b.finish().unwrap();
    }
    for (name, rd) in records {
        let target;
        let txt;
        let strings;
        let data = match rd {
            Rd::A(a) => RData::A((*a).into()),
            Rd::Aaaa(a) => RData::Aaaa(*a),
            Rd::Cname(t) => {
                target = NameBuf::from_dotted(t).unwrap();
                RData::Cname(target.as_name())
            }
            Rd::Ptr(t) => {
                target = NameBuf::from_dotted(t).unwrap();
                RData::Ptr(target.as_name())
            }
            Rd::Mx(p, t) => {
                target = NameBuf::from_dotted(t).unwrap();
                RData::Mx(levent_core::dns::Mx {
                    preference: *p,
                    exchange: target.as_name(),
                })
            }
            Rd::Txt(t) => {
                strings = [t.as_bytes()];
                txt = Txt::new(&strings);
                RData::Txt(txt)
            }
            Rd::Srv(p, w, port, t) => {
                target = NameBuf::from_dotted(t).unwrap();
                RData::Srv(levent_core::dns::Srv {
                    priority: *p,
                    weight: *w,
                    port: *port,
                    target: target.as_name(),
                })
            }
        };
        b.answer(name, 60, &data).unwrap();
    }
    if negative {
        let zone = NameBuf::from_dotted("example").unwrap();
        let mname = NameBuf::from_dotted("ns.example").unwrap();
        let rname = NameBuf::from_dotted("hostmaster.example").unwrap();
        b.authority(
            &zone,
            60,
            &RData::Soa(levent_core::dns::Soa {
                mname: mname.as_name(),
                rname: rname.as_name(),
                serial: 1,
                refresh: 60,
                retry: 60,
                expire: 60,
                minimum: 60,
            }),
        )
        .unwrap();
    }
    b.finish().unwrap()
}

fn data(outcome: &Outcome) -> Vec<String> {
    outcome.as_ref().map(|a| a.data.clone()).unwrap_or_default()
}

fn world_zone<W: DnsWorld, const C: usize>(b: &mut Bed<W, C>) {
    for z in b.zones.iter_mut() {
        z.add("www.example", Rd::A([192, 0, 2, 1]));
        z.add("www.example", Rd::A([192, 0, 2, 2]));
        z.add("www.example", Rd::Aaaa("2001:db8::1".parse().unwrap()));
        z.add("alias.example", Rd::Cname("alias2.example"));
        z.add("alias2.example", Rd::Cname("www.example"));
        z.add("loop1.example", Rd::Cname("loop2.example"));
        z.add("loop2.example", Rd::Cname("loop1.example"));
        z.add("v4only.example", Rd::A([192, 0, 2, 4]));
        z.add("1.2.0.192.in-addr.arpa", Rd::Ptr("www.example"));
        z.add("example", Rd::Mx(10, "mail.example"));
        z.add("example", Rd::Txt("v=levent test"));
        z.add("_dns._udp.example", Rd::Srv(1, 5, 53, "ns.example"));
        z.add("printer.lan.example", Rd::A([192, 0, 2, 9]));
        z.add("printer.office.example", Rd::A([192, 0, 2, 10]));
        z.add("host.corp.example", Rd::A([192, 0, 2, 11]));
        for i in 0..100u8 {
            z.add("many.example", Rd::A([10, 0, 1, i]));
        }
    }
}

// ----- scenarios --------------------------------------------------------------------------------

/// A and AAAA lookups return the addresses the server has, and nothing else.
pub fn a_and_aaaa_lookups_return_the_servers_addresses<W: DnsWorld>() {
    let mut b = Bed::<W>::new(1, Duration::from_millis(500), 2);
    world_zone(&mut b);
    let a = b.lookup(Query::a("www.example").unwrap());
    let aaaa = b.lookup(Query::aaaa("www.example").unwrap());
    assert_eq!(data(&b.wait(a)), ["192.0.2.1", "192.0.2.2"]);
    let six = b.wait(aaaa).unwrap();
    assert_eq!(six.data, ["2001:db8::1"]);
    assert_eq!(six.name, "www.example");
    assert!(!six.from_hosts);
}

/// PTR (from an address and from a reverse name), MX, TXT and SRV lookups.
pub fn ptr_mx_txt_and_srv_lookups_return_their_records<W: DnsWorld>() {
    let mut b = Bed::<W>::new(1, Duration::from_millis(500), 2);
    world_zone(&mut b);
    let ptr = b.lookup(Query::ptr("192.0.2.1".parse().unwrap()));
    let rev = b.lookup(Query::new("1.2.0.192.in-addr.arpa", RType::PTR).unwrap());
    let mx = b.lookup(Query::new("example", RType::MX).unwrap().no_search());
    let txt = b.lookup(Query::new("example.", RType::TXT).unwrap());
    let srv = b.lookup(Query::new("_dns._udp.example", RType::SRV).unwrap());
    assert_eq!(data(&b.wait(ptr)), ["www.example."]);
    assert_eq!(data(&b.wait(rev)), ["www.example."]);
    assert_eq!(data(&b.wait(mx)), ["10 mail.example."]);
    assert_eq!(data(&b.wait(txt)), ["\"v=levent test\""]);
    assert_eq!(data(&b.wait(srv)), ["1 5 53 ns.example."]);
}

/// A CNAME chain in one answer is followed to the addresses; the canonical name is where it
/// ends.
pub fn cname_chain_is_followed_to_the_addresses<W: DnsWorld>() {
    let mut b = Bed::<W>::new(1, Duration::from_millis(500), 2);
    world_zone(&mut b);
    let id = b.lookup(Query::a("alias.example").unwrap());
    let got = b.wait(id).unwrap();
    assert_eq!(got.data, ["192.0.2.1", "192.0.2.2"]);
    assert_eq!(got.name, "www.example");
    assert_eq!(b.zones[0].log.len(), 1, "one query: the chain came whole");
}

/// A server that answers only the first alias: the resolver asks again at each link's end.
pub fn cname_chain_split_across_answers_is_asked_again_at_its_end<W: DnsWorld>() {
    let mut b = Bed::<W>::new(1, Duration::from_millis(500), 2);
    world_zone(&mut b);
    b.zones[0].quirks.no_chase = true;
    let id = b.lookup(Query::a("alias.example").unwrap());
    let got = b.wait(id).unwrap();
    assert_eq!(got.data, ["192.0.2.1", "192.0.2.2"]);
    let asked: Vec<&str> = b.zones[0].log.iter().map(|l| l.0.as_str()).collect();
    assert_eq!(asked, ["alias.example", "alias2.example", "www.example"]);
}

/// A CNAME loop ends in a `loop` error, in one answer or across answers.
pub fn cname_loop_ends_in_a_loop_error<W: DnsWorld>() {
    let mut b = Bed::<W>::new(1, Duration::from_millis(500), 2);
    world_zone(&mut b);
    let id = b.lookup(Query::a("loop1.example").unwrap());
    assert_eq!(b.wait(id), Err(DnsError::Loop));
    b.zones[0].quirks.no_chase = true;
    let id = b.lookup(Query::a("loop2.example").unwrap());
    assert_eq!(b.wait(id), Err(DnsError::Loop));
    assert_eq!(
        b.zones[0].log.len(),
        1 + 9,
        "8 hops, then the ninth is refused"
    );
}

/// A name that does not exist is NXDOMAIN; a name without records of the type asked is NODATA.
pub fn nxdomain_and_nodata_are_told_apart<W: DnsWorld>() {
    let mut b = Bed::<W>::new(1, Duration::from_millis(500), 2);
    world_zone(&mut b);
    let nx = b.lookup(Query::a("nothing.example").unwrap());
    let nodata = b.lookup(Query::aaaa("v4only.example").unwrap());
    assert_eq!(b.wait(nx), Err(DnsError::NxDomain));
    assert_eq!(b.wait(nodata), Err(DnsError::NoData));
}

/// SERVFAIL and REFUSED move on to the next server at once; when every server fails, the last
/// failure is the error.
pub fn servfail_and_refused_move_on_to_the_next_server<W: DnsWorld>() {
    let mut b = Bed::<W>::new(3, Duration::from_secs(5), 1);
    world_zone(&mut b);
    b.zones[0].quirks.rcode = Some(Rcode::SERVFAIL);
    b.zones[1].quirks.rcode = Some(Rcode::REFUSED);
    let start = b.e.now();
    let id = b.lookup(Query::a("www.example").unwrap());
    assert_eq!(data(&b.wait(id)), ["192.0.2.1", "192.0.2.2"]);
    assert!(
        b.e.now() - start < 2_000_000_000,
        "no timeout was waited for"
    );
    assert_eq!(
        b.zones.iter().map(|z| z.log.len()).collect::<Vec<_>>(),
        [1, 1, 1]
    );
    b.zones[2].quirks.rcode = Some(Rcode::NOTIMP);
    let id = b.lookup(Query::a("www.example").unwrap());
    assert_eq!(b.wait(id), Err(DnsError::NotImp));
    b.zones[2].quirks.rcode = Some(Rcode::SERVFAIL);
    let id = b.lookup(Query::a("www.example").unwrap());
    assert_eq!(b.wait(id), Err(DnsError::ServFail));
}

/// With `rotate`, each lookup starts at the next server; without it, always at the first.
pub fn rotate_spreads_lookups_over_the_servers<W: DnsWorld>() {
    for rotate in [true, false] {
        let mut b = Bed::<W>::with(3, |c| c.rotate = rotate);
        world_zone(&mut b);
        for _ in 0..6 {
            let id = b.lookup(Query::a("www.example").unwrap());
            assert!(b.wait(id).is_ok());
        }
        let counts: Vec<usize> = b.zones.iter().map(|z| z.log.len()).collect();
        let want = if rotate { [2, 2, 2] } else { [6, 0, 0] };
        assert_eq!(counts, want, "rotate: {rotate}");
    }
}

/// A query that gets no answer is sent again after the timeout, and the retry's answer counts.
pub fn timeout_then_retry_gets_the_answer<W: DnsWorld>() {
    let mut b = Bed::<W>::new(1, Duration::from_millis(200), 3);
    world_zone(&mut b);
    b.zones[0].quirks.drop_first = 2;
    let start = b.e.now();
    let id = b.lookup(Query::a("www.example").unwrap());
    assert_eq!(data(&b.wait(id)), ["192.0.2.1", "192.0.2.2"]);
    assert_eq!(b.zones[0].log.len(), 3);
    assert!(
        b.e.now() - start >= 400_000_000,
        "two timeouts were waited for"
    );
}

/// When no server ever answers, the lookup fails with `timeout` after attempts × servers tries.
pub fn silent_servers_end_in_timeout_after_every_try<W: DnsWorld>() {
    let mut b = Bed::<W>::new(2, Duration::from_millis(100), 2);
    world_zone(&mut b);
    b.zones[0].quirks.drop_first = usize::MAX;
    b.zones[1].quirks.drop_first = usize::MAX;
    let id = b.lookup(Query::a("www.example").unwrap());
    assert_eq!(b.wait(id), Err(DnsError::Timeout));
    assert_eq!((b.zones[0].log.len(), b.zones[1].log.len()), (2, 2));
}

/// Run one lookup of `www.example` against two servers that both misbehave as `quirks` says
/// (100 ms per try, 2 rounds: a 400 ms bound); its outcome, and how long it took in engine
/// nanoseconds. Asserts that it ended within [`Config::lookup_timeout`] (on the sim exactly; on
/// a real clock with a margin for a loaded machine).
fn ends_within_the_bound<W: DnsWorld>(quirks: Quirks) -> (Outcome, u64) {
    let mut b = Bed::<W>::new(2, Duration::from_millis(100), 2);
    world_zone(&mut b);
    for z in &mut b.zones {
        z.quirks = quirks.clone();
    }
    let bound = b.r.config().lookup_timeout();
    assert_eq!(bound, Duration::from_millis(400));
    let start = b.e.now();
    let id = b.lookup(Query::a("www.example").unwrap());
    let outcome = b.wait(id);
    let took = b.e.now() - start;
    let margin = if b.w.virtual_time() { 0 } else { 2_000_000_000 };
    assert!(
        took <= bound.as_nanos() as u64 + margin,
        "{quirks:?}: took {took} ns, bound {bound:?}: {outcome:?}"
    );
    (outcome, took)
}

/// Servers that never answer: the lookup fails with `timeout` within its bound.
pub fn silent_servers_end_within_the_lookup_timeout<W: DnsWorld>() {
    let (outcome, _) = ends_within_the_bound::<W>(Quirks {
        drop_first: usize::MAX,
        ..Quirks::default()
    });
    assert_eq!(outcome, Err(DnsError::Timeout));
}

/// Servers that answer SERVFAIL, or REFUSED, to everything: the lookup fails with that at once.
pub fn servfail_and_refused_everywhere_end_within_the_lookup_timeout<W: DnsWorld>() {
    for (rcode, error) in [
        (Rcode::SERVFAIL, DnsError::ServFail),
        (Rcode::REFUSED, DnsError::Refused),
    ] {
        let (outcome, took) = ends_within_the_bound::<W>(Quirks {
            rcode: Some(rcode),
            ..Quirks::default()
        });
        assert_eq!(outcome, Err(error));
        assert!(
            !W::new().virtual_time() || took < 100_000_000,
            "{error}: no timeout was waited for"
        );
    }
}

/// Servers that truncate every UDP answer and never answer over TCP: the TCP tries time out
/// and the lookup ends within its bound.
pub fn truncated_answers_and_a_silent_tcp_server_end_within_the_lookup_timeout<W: DnsWorld>() {
    let (outcome, _) = ends_within_the_bound::<W>(Quirks {
        truncate_udp: true,
        tcp_silent: true,
        ..Quirks::default()
    });
    assert_eq!(outcome, Err(DnsError::Timeout));
}

/// Servers that send only replies with a wrong id, a wrong question, or from a wrong address:
/// none is taken, and the lookup fails with `timeout` within its bound.
pub fn only_forged_replies_end_within_the_lookup_timeout<W: DnsWorld>() {
    let (outcome, _) = ends_within_the_bound::<W>(Quirks {
        spoof_only: true,
        ..Quirks::default()
    });
    assert_eq!(outcome, Err(DnsError::Timeout));
}

/// Servers that answer garbage with the right id: the lookup fails as `malformed` within its
/// bound.
pub fn garbage_answers_end_within_the_lookup_timeout<W: DnsWorld>() {
    let (outcome, _) = ends_within_the_bound::<W>(Quirks {
        garbage: true,
        ..Quirks::default()
    });
    assert_eq!(outcome, Err(DnsError::Malformed));
}

/// Lookups waiting for the one TCP connection while a silent TCP server holds it still end
/// within their bound: the wait counts against it.
pub fn lookups_queued_for_tcp_end_within_the_lookup_timeout<W: DnsWorld>() {
    let mut b = Bed::<W>::new(1, Duration::from_millis(100), 2);
    world_zone(&mut b);
    b.zones[0].quirks.truncate_udp = true;
    b.zones[0].quirks.tcp_silent = true;
    let bound = b.r.config().lookup_timeout().as_nanos() as u64;
    let start = b.e.now();
    let ids: Vec<_> = (0..4)
        .map(|_| b.lookup(Query::a("www.example").unwrap()))
        .collect();
    for id in ids {
        assert_eq!(b.wait(id), Err(DnsError::Timeout));
    }
    let margin = if b.w.virtual_time() { 0 } else { 2_000_000_000 };
    let took = b.e.now() - start;
    assert!(took <= bound + margin, "took {took} ns, bound {bound} ns");
}

/// A server that let `max_timeouts` tries in a row time out is down: lookups go to the others
/// without waiting for it, until its back-off ends; then one lookup probes it, and an answer
/// brings it back.
pub fn a_server_that_stops_answering_is_passed_over_then_probed<W: DnsWorld>() {
    let mut b = Bed::<W>::with(2, |c| {
        c.timeout = Duration::from_millis(100);
        c.attempts = 2;
        c.max_timeouts = 3;
        c.probe_backoff = Duration::from_millis(500);
    });
    world_zone(&mut b);
    b.zones[0].quirks.drop_first = usize::MAX;
    for _ in 0..3 {
        let id = b.lookup(Query::a("www.example").unwrap());
        assert!(b.wait(id).is_ok());
    }
    assert_eq!((b.zones[0].log.len(), b.zones[1].log.len()), (3, 3));
    // Down: the next lookups go straight to the second server.
    for _ in 0..3 {
        let id = b.lookup(Query::a("www.example").unwrap());
        assert!(b.wait(id).is_ok());
    }
    assert_eq!((b.zones[0].log.len(), b.zones[1].log.len()), (3, 6));
    // After the back-off, the first server is asked again; it answers now, and is up.
    b.run_for(Duration::from_millis(600));
    b.zones[0].quirks.drop_first = 0;
    for _ in 0..2 {
        let id = b.lookup(Query::a("www.example").unwrap());
        assert!(b.wait(id).is_ok());
    }
    assert_eq!((b.zones[0].log.len(), b.zones[1].log.len()), (5, 6));
}

/// Every name asked has the case of its letters randomised (0x20); an answer whose question
/// comes back in another case is dropped, unless the randomisation is off.
pub fn answers_with_the_question_in_another_case_are_dropped<W: DnsWorld>() {
    for randomize in [true, false] {
        let mut b = Bed::<W>::with(1, |c| {
            c.timeout = Duration::from_millis(100);
            c.attempts = 2;
            c.randomize_case = randomize;
        });
        world_zone(&mut b);
        b.zones[0].quirks.lower_question = true;
        let id = b.lookup(Query::a("www.example").unwrap());
        let outcome = b.wait(id);
        let asked = &b.zones[0].asked;
        if randomize {
            assert_eq!(outcome, Err(DnsError::Timeout));
            assert_eq!(asked.len(), 2);
            assert!(
                asked.iter().all(|n| n.eq_ignore_ascii_case("www.example")),
                "{asked:?}"
            );
            assert!(
                asked.iter().any(|n| n != "www.example"),
                "the case of 10 letters was left alone twice: {asked:?}"
            );
        } else {
            assert_eq!(data(&outcome), ["192.0.2.1", "192.0.2.2"]);
            assert_eq!(asked, &["www.example"]);
        }
    }
}

/// With a cache, an answer is kept for its TTL (60 s in the test zone) and an NXDOMAIN with an
/// SOA for its negative TTL (the SOA's minimum, 60 s): asking again within it sends nothing,
/// and the cached answer says so and how old it is. On virtual time the entries also expire.
pub fn answers_and_nxdomain_are_cached_for_their_ttls<W: DnsWorld>() {
    let mut b = Bed::<W, 4096>::new(1, Duration::from_millis(300), 2);
    world_zone(&mut b);
    let id = b.lookup(Query::a("www.example").unwrap());
    assert_eq!(data(&b.wait(id)), ["192.0.2.1", "192.0.2.2"]);
    let id = b.lookup(Query::a("nothing.example").unwrap());
    assert_eq!(b.wait(id), Err(DnsError::NxDomain));
    assert_eq!((b.zones[0].log.len(), b.r.cached()), (2, 2));
    // Again, in another case: from the cache.
    let first = b.results[&b.order[0]].clone().unwrap();
    assert!(!first.from_cache && first.ttl == 60);
    if b.w.virtual_time() {
        b.run_for(Duration::from_secs(20));
    }
    let id = b.lookup(Query::a("WWW.example").unwrap());
    let again = b.wait(id).unwrap();
    assert_eq!(again.data, ["192.0.2.1", "192.0.2.2"]);
    assert!(again.from_cache);
    if b.w.virtual_time() {
        assert_eq!(again.ttl, 40, "what is left of the TTL");
    }
    let id = b.lookup(Query::a("nothing.example").unwrap());
    assert_eq!(b.wait(id), Err(DnsError::NxDomain));
    assert_eq!(b.zones[0].log.len(), 2, "nothing was sent");
    // Another type of the same name is another entry.
    let id = b.lookup(Query::new("www.example", RType::AAAA).unwrap());
    let _ = b.wait(id);
    assert_eq!(b.zones[0].log.len(), 3);
    if b.w.virtual_time() {
        b.run_for(Duration::from_secs(61));
        let id = b.lookup(Query::a("www.example").unwrap());
        assert!(b.wait(id).is_ok());
        let id = b.lookup(Query::a("nothing.example").unwrap());
        assert_eq!(b.wait(id), Err(DnsError::NxDomain));
        assert_eq!(b.zones[0].log.len(), 5, "both expired and were asked again");
    }
    b.r.clear_cache();
    assert_eq!(b.r.cached(), 0);
}

/// An answer to an earlier try that arrives after its timeout still completes the lookup.
pub fn late_answer_to_an_earlier_try_is_taken<W: DnsWorld>() {
    let mut b = Bed::<W>::new(1, Duration::from_millis(200), 4);
    world_zone(&mut b);
    b.zones[0].quirks.delay_first = Some(Duration::from_millis(300));
    b.zones[0].quirks.drop_after_first = true;
    let start = b.e.now();
    let id = b.lookup(Query::a("www.example").unwrap());
    assert_eq!(data(&b.wait(id)), ["192.0.2.1", "192.0.2.2"]);
    let took = b.e.now() - start;
    assert!(
        (300_000_000..600_000_000).contains(&took),
        "finished by the late answer at 300 ms, not by a retry: {took} ns"
    );
    assert_eq!(b.zones[0].log.len(), 2, "one retry went out before it came");
}

/// A truncated UDP answer is asked again over TCP: a server that sets TC, and an answer too big
/// for the advertised payload (cut by the server API).
pub fn truncated_answer_is_asked_again_over_tcp<W: DnsWorld>() {
    let mut b = Bed::<W>::new(1, Duration::from_millis(500), 2);
    world_zone(&mut b);
    b.zones[0].quirks.truncate_udp = true;
    let id = b.lookup(Query::a("www.example").unwrap());
    let got = b.wait(id);
    assert_eq!(
        data(&got),
        ["192.0.2.1", "192.0.2.2"],
        "{got:?} {:?}",
        b.zones[0].log
    );
    let tcp: Vec<bool> = b.zones[0].log.iter().map(|l| l.2).collect();
    assert_eq!(tcp, [false, true]);
    b.zones[0].quirks.truncate_udp = false;
    let id = b.lookup(Query::a("many.example").unwrap());
    assert_eq!(data(&b.wait(id)).len(), 100);
    let tcp: Vec<bool> = b.zones[0].log.iter().map(|l| l.2).collect();
    assert_eq!(tcp, [false, true, false, true]);
}

/// Replies with a wrong id, a different question or from another address arrive first; they
/// are ignored and the lookup takes the real answer.
pub fn replies_with_wrong_id_question_or_source_are_ignored<W: DnsWorld>() {
    let mut b = Bed::<W>::new(1, Duration::from_millis(500), 2);
    world_zone(&mut b);
    b.zones[0].quirks.spoof_first = true;
    let id = b.lookup(Query::a("www.example").unwrap());
    assert_eq!(data(&b.wait(id)), ["192.0.2.1", "192.0.2.2"]);
}

/// A reply that matches but cannot be read is ignored; if nothing better comes the lookup fails
/// as `malformed`, not as `timeout`.
pub fn malformed_replies_end_in_malformed<W: DnsWorld>() {
    let mut b = Bed::<W>::new(1, Duration::from_millis(100), 2);
    world_zone(&mut b);
    b.zones[0].quirks.garbage = true;
    let id = b.lookup(Query::a("www.example").unwrap());
    assert_eq!(b.wait(id), Err(DnsError::Malformed));
    assert_eq!(b.zones[0].log.len(), 2);
}

/// Search domains: a short name is tried with each domain in order (NXDOMAIN moves on); a name
/// with `ndots` dots is tried as it is first; an absolute name never gets a domain.
pub fn search_domains_are_tried_in_order_with_ndots<W: DnsWorld>() {
    let mut b = Bed::<W>::with(1, |c| {
        c.add_search(NameBuf::from_dotted("lan.example").unwrap())
            .unwrap();
        c.add_search(NameBuf::from_dotted("office.example").unwrap())
            .unwrap();
        c.add_search(NameBuf::from_dotted("corp.example").unwrap())
            .unwrap();
        c.ndots = 1;
    });
    world_zone(&mut b);
    b.zones[0]
        .records
        .retain(|(n, _)| *n != NameBuf::from_dotted("printer.lan.example").unwrap());
    let id = b.lookup(Query::a("printer").unwrap());
    let got = b.wait(id).unwrap();
    assert_eq!(
        (got.data.as_slice(), got.name.as_str()),
        (
            ["192.0.2.10".to_string()].as_slice(),
            "printer.office.example"
        )
    );
    let asked: Vec<String> = b.zones[0].log.drain(..).map(|l| l.0).collect();
    assert_eq!(asked, ["printer.lan.example", "printer.office.example"]);
    // One dot (= ndots): as it is first, then the domains.
    let id = b.lookup(Query::a("host.corp").unwrap());
    assert_eq!(b.wait(id), Err(DnsError::NxDomain));
    let asked: Vec<String> = b.zones[0].log.drain(..).map(|l| l.0).collect();
    assert_eq!(
        asked,
        [
            "host.corp",
            "host.corp.lan.example",
            "host.corp.office.example",
            "host.corp.corp.example"
        ]
    );
    let id = b.lookup(Query::a("www.example.").unwrap());
    assert!(b.wait(id).is_ok());
    let asked: Vec<String> = b.zones[0].log.drain(..).map(|l| l.0).collect();
    assert_eq!(asked, ["www.example"]);
    // NODATA under one domain and NXDOMAIN elsewhere: NODATA wins.
    let id = b.lookup(Query::aaaa("printer").unwrap());
    assert_eq!(b.wait(id), Err(DnsError::NoData));
}

/// The hosts table answers A, AAAA and PTR before any server is asked; other names and types
/// go to the servers.
pub fn hosts_table_answers_before_the_servers<W: DnsWorld>() {
    let mut b = Bed::<W>::new(1, Duration::from_millis(500), 2);
    world_zone(&mut b);
    let hosts = b.r.hosts_mut();
    hosts
        .insert(
            NameBuf::from_dotted("www.example").unwrap(),
            [127, 0, 0, 7].into(),
        )
        .unwrap();
    hosts
        .insert(
            NameBuf::from_dotted("gw.lan").unwrap(),
            [192, 0, 2, 254].into(),
        )
        .unwrap();
    let a = b.lookup(Query::a("WWW.example").unwrap());
    let ptr = b.lookup(Query::ptr([192, 0, 2, 254].into()));
    let six = b.lookup(Query::aaaa("www.example").unwrap());
    let got = b.wait(a).unwrap();
    assert_eq!(
        (got.data, got.from_hosts),
        (vec!["127.0.0.7".to_string()], true)
    );
    assert_eq!(data(&b.wait(ptr)), ["gw.lan."]);
    assert_eq!(
        data(&b.wait(six)),
        ["2001:db8::1"],
        "no IPv6 entry: the server answers"
    );
    assert_eq!(b.zones[0].log.len(), 1);
}

/// A cancelled lookup finishes once, as `cancelled`; its late answer is ignored and other
/// lookups are unaffected.
pub fn cancelled_lookup_finishes_cancelled_and_its_answer_is_ignored<W: DnsWorld>() {
    let mut b = Bed::<W>::new(1, Duration::from_millis(500), 2);
    world_zone(&mut b);
    b.zones[0].quirks.delay_first = Some(Duration::from_millis(50));
    let slow = b.lookup(Query::a("www.example").unwrap());
    let other = b.lookup(Query::aaaa("www.example").unwrap());
    assert!(b.r.cancel(&mut *b.e, b.w.io(), slow));
    assert!(!b.r.cancel(&mut *b.e, b.w.io(), slow), "once only");
    assert_eq!(b.wait(slow), Err(DnsError::Cancelled));
    assert!(b.wait(other).is_ok());
    b.run_for(Duration::from_millis(100));
    assert_eq!(b.results.len(), 2, "the late answer finished nothing");
    assert_eq!(b.r.in_flight(), 0);
}

/// At most `Q` lookups are in flight; beyond that the query is handed back, and a slot frees up
/// when a lookup finishes.
pub fn in_flight_limit_hands_the_query_back<W: DnsWorld>() {
    let mut b = Bed::<W>::new(1, Duration::from_millis(500), 2);
    world_zone(&mut b);
    let ids: Vec<_> = (0..8)
        .map(|_| b.lookup(Query::a("www.example").unwrap()))
        .collect();
    let full =
        b.r.lookup(&mut *b.e, b.w.io(), Query::aaaa("www.example").unwrap())
            .unwrap_err();
    assert_eq!(full.query, Query::aaaa("www.example").unwrap());
    b.wait(ids[0]).unwrap();
    let again = b.lookup(full.query);
    assert!(b.wait(again).is_ok());
    for id in ids {
        assert!(b.wait(id).is_ok());
    }
}

/// Connect by name: the name has two addresses, nobody listens at the first, the connector
/// moves on to the second and connects.
pub fn connector_tries_each_address_until_one_connects<W: DnsWorld>() {
    let mut b = Bed::<W>::new(1, Duration::from_millis(500), 2);
    let (listener, at) = b.w.listener();
    let IpAddr::V4(live_ip) = at.ip() else {
        unreachable!()
    };
    // Both addresses on one port: nobody listens on 127.0.0.2.
    b.zones[0].add("svc.example", Rd::A([127, 0, 0, 2]));
    b.zones[0].add("svc.example", Rd::A(live_ip.octets()));
    let _l = levent_core::Listener::new(&mut *b.e, b.w.io(), listener, Ev::Listen).unwrap();
    let mut c: Connector<W::H> = Connector::start(
        &mut *b.e,
        b.w.io(),
        &mut *b.r,
        "svc.example",
        at.port(),
        Family::V4,
        Duration::from_secs(2),
        Ev::Connect,
    )
    .unwrap();
    let result = loop {
        let f = b.e.next(b.w.host()).unwrap().expect("loop ended");
        match f.datum {
            Ev::Dns => {
                if let Some(done) = b.r.handle(&mut *b.e, b.w.io(), &f)
                    && let Some(r) = c.resolved(&mut *b.e, b.w.io(), &done, Ev::Connect)
                {
                    break r;
                }
            }
            Ev::Connect => {
                if let Some(r) = c.handle(&mut *b.e, b.w.io(), &f) {
                    break r;
                }
            }
            _ => b.dispatch(&f),
        }
    };
    let connected = result.unwrap();
    assert_eq!(connected.addr, at);
    // A name that does not resolve fails as a resolution error.
    let mut c: Connector<W::H> = Connector::start(
        &mut *b.e,
        b.w.io(),
        &mut *b.r,
        "nothing.example",
        80,
        Family::Any,
        Duration::from_secs(2),
        Ev::Connect,
    )
    .unwrap();
    let result = loop {
        let f = b.e.next(b.w.host()).unwrap().expect("loop ended");
        if f.datum == Ev::Dns {
            if let Some(done) = b.r.handle(&mut *b.e, b.w.io(), &f)
                && let Some(r) = c.resolved(&mut *b.e, b.w.io(), &done, Ev::Connect)
            {
                break r;
            }
        } else {
            b.dispatch(&f);
        }
    };
    assert_eq!(
        result.unwrap_err(),
        ConnectError::Resolve(DnsError::NxDomain)
    );
}

/// Sim only: Happy Eyeballs. The name has an IPv6 address that is a black hole (its connects
/// never complete) and an IPv4 one that listens: the IPv6 attempt goes first, the IPv4 one
/// starts beside it after the attempt delay and wins, long before the IPv6 timeout; the loser
/// is closed.
pub fn happy_eyeballs_races_past_a_black_holed_ipv6_address_sim() {
    use levent_core::dns::ATTEMPT_DELAY;
    let mut b = Bed::<SimDns>::new(1, Duration::from_millis(500), 2);
    let (listener, at) = b.w.listener();
    let IpAddr::V4(live_ip) = at.ip() else {
        unreachable!()
    };
    let hole: std::net::Ipv6Addr = "2001:db8::1".parse().unwrap();
    b.w.sim().unwrap().black_hole(hole.into());
    b.zones[0].add("dual.example", Rd::Aaaa(hole));
    b.zones[0].add("dual.example", Rd::A(live_ip.octets()));
    let _l = levent_core::Listener::new(&mut *b.e, b.w.io(), listener, Ev::Listen).unwrap();
    let open_before = b.w.sim().unwrap().open();
    let start = b.e.now();
    let mut c: Connector<levent_core::SourceKey> = Connector::start(
        &mut *b.e,
        b.w.io(),
        &mut *b.r,
        "dual.example",
        at.port(),
        Family::Any,
        Duration::from_secs(10),
        Ev::Connect,
    )
    .unwrap();
    let result = loop {
        let f = b.e.next(b.w.host()).unwrap().expect("loop ended");
        match f.datum {
            Ev::Dns => {
                if let Some(done) = b.r.handle(&mut *b.e, b.w.io(), &f)
                    && let Some(r) = c.resolved(&mut *b.e, b.w.io(), &done, Ev::Connect)
                {
                    break r;
                }
            }
            Ev::Connect => {
                if let Some(r) = c.handle(&mut *b.e, b.w.io(), &f) {
                    break r;
                }
            }
            _ => b.dispatch(&f),
        }
    };
    let took = Duration::from_nanos(b.e.now() - start);
    let connected = result.unwrap();
    assert_eq!(connected.addr, at, "the IPv4 address won");
    assert!(
        took >= ATTEMPT_DELAY && took < ATTEMPT_DELAY + Duration::from_millis(50),
        "connected after {took:?}: the attempt delay, not the IPv6 timeout"
    );
    assert!(c.is_finished());
    // The winner (and its peer in the listener's backlog) are open; the black-holed attempt is
    // closed.
    assert_eq!(b.w.sim().unwrap().open(), open_before + 2);
}

/// Sim only: a lossy, reordering link (datagrams dropped or delayed at random, from a seed):
/// every lookup still finishes with the right answer, and the same seed gives the same trace.
pub fn lossy_reordering_link_still_answers_every_lookup_sim() {
    fn trace(seed: u64) -> (Vec<levent_core::dns::RequestId>, u64, u64) {
        let mut b = Bed::<SimDns>::new(2, Duration::from_millis(200), 4);
        world_zone(&mut b);
        let mut rng = fastrand::Rng::with_seed(seed);
        b.w.sim()
            .unwrap()
            .set_datagram_fate(move |_| match rng.u8(0..10) {
                0..=2 => Fate::Drop,
                3..=5 => Fate::Delay(rng.u64(1_000_000..150_000_000)),
                _ => Fate::Deliver,
            });
        let mut ids = vec![];
        for round in 0..5 {
            for name in ["www.example", "alias.example", "v4only.example"] {
                let _ = round;
                ids.push(b.lookup(Query::a(name).unwrap()));
            }
            b.run_until(|b| ids.iter().all(|id| b.results.contains_key(id)));
            for id in &ids {
                assert!(b.results[id].is_ok(), "{:?}", b.results[id]);
            }
            ids.clear();
        }
        let sent = b.w.sim().unwrap().datagrams_sent();
        (b.order.clone(), b.e.now(), sent)
    }
    let one = trace(3);
    assert!(one.2 > 30, "datagrams were lost and retried: {}", one.2);
    assert_eq!(one, trace(3), "same seed, same trace");
}

/// One `#[test]` per DNS scenario, for world type `$world`.
#[macro_export]
macro_rules! dns_suite {
    ($world:ty) => {
        $crate::dns_suite!(@tests $world;
            a_and_aaaa_lookups_return_the_servers_addresses,
            ptr_mx_txt_and_srv_lookups_return_their_records,
            cname_chain_is_followed_to_the_addresses,
            cname_chain_split_across_answers_is_asked_again_at_its_end,
            cname_loop_ends_in_a_loop_error,
            nxdomain_and_nodata_are_told_apart,
            servfail_and_refused_move_on_to_the_next_server,
            rotate_spreads_lookups_over_the_servers,
            timeout_then_retry_gets_the_answer,
            silent_servers_end_in_timeout_after_every_try,
            late_answer_to_an_earlier_try_is_taken,
            truncated_answer_is_asked_again_over_tcp,
            replies_with_wrong_id_question_or_source_are_ignored,
            malformed_replies_end_in_malformed,
            search_domains_are_tried_in_order_with_ndots,
            hosts_table_answers_before_the_servers,
            cancelled_lookup_finishes_cancelled_and_its_answer_is_ignored,
            in_flight_limit_hands_the_query_back,
            connector_tries_each_address_until_one_connects,
            silent_servers_end_within_the_lookup_timeout,
            servfail_and_refused_everywhere_end_within_the_lookup_timeout,
            truncated_answers_and_a_silent_tcp_server_end_within_the_lookup_timeout,
            only_forged_replies_end_within_the_lookup_timeout,
            garbage_answers_end_within_the_lookup_timeout,
            lookups_queued_for_tcp_end_within_the_lookup_timeout,
            a_server_that_stops_answering_is_passed_over_then_probed,
            answers_with_the_question_in_another_case_are_dropped,
            answers_and_nxdomain_are_cached_for_their_ttls,
        );
    };
    (@tests $world:ty; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::dns::$name::<$world>();
            }
        )*
    };
}
