//! The resolver over an in-memory network on the simulation host: small enough for miri, so the
//! state machine is checked for undefined behaviour too. (The full scenarios, with the project's
//! own server over real sockets and the simulated network, are in the `levent-tests` crate.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use core::net::SocketAddr;
use core::time::Duration;
use levent_core::buffer::RingBuffer;
use levent_core::dns::{
    Config, DnsError, Flags, Hosts, Message, MessageBuilder, NameBuf, Query, RData, RType, Rcode,
    Resolver,
};
use levent_core::io::{Connect, Datagram, IoError, Transport};
use levent_core::sim::Sim;
use levent_core::{
    Attached, Change, Clock, Dispatcher, Engine, Feed, Host, HostError, Platform, Ready, SourceKey,
    Tick, Turn, Wait,
};
use std::collections::VecDeque;

/// What the fake server does with a query: reply bytes, or silence.
type Answer = Box<dyn FnMut(&Message<'_>) -> Option<Vec<u8>>>;

/// A socket: its address and the datagrams waiting (source, payload).
type Sock = (SocketAddr, VecDeque<(SocketAddr, Vec<u8>)>);

/// UDP sockets whose datagrams to `server` are answered at once by `answer`; no TCP.
struct Net {
    sim: Sim<32>,
    socks: Vec<Sock>,
    server: SocketAddr,
    answer: Answer,
    queries: usize,
}

impl Host for Net {
    fn clock(&self) -> Option<Clock> {
        self.sim.clock()
    }
    fn apply(&mut self, change: Change) -> Result<(), HostError> {
        Host::apply(&mut self.sim, change)
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

impl Transport for Net {
    type Handle = usize;
    fn source(&self, h: usize) -> SourceKey {
        SourceKey(100 + h)
    }
    fn read(&mut self, _: usize, _: &mut [u8]) -> Result<usize, IoError> {
        Err(IoError::NotConnected)
    }
    fn write(&mut self, _: usize, _: &[u8]) -> Result<usize, IoError> {
        Err(IoError::NotConnected)
    }
    fn shutdown_write(&mut self, _: usize) -> Result<(), IoError> {
        Ok(())
    }
    fn connected(&mut self, _: usize) -> Result<(), IoError> {
        Err(IoError::Refused)
    }
    fn close(&mut self, _: &mut dyn Dispatcher, _: usize) {}
}

impl Connect for Net {
    fn connect(&mut self, _: SocketAddr) -> Result<usize, IoError> {
        Err(IoError::Refused)
    }
}

impl Datagram for Net {
    type Handle = usize;
    fn bind(&mut self, _: SocketAddr) -> Result<usize, IoError> {
        let port = 40000 + self.socks.len() as u16;
        self.socks
            .push((SocketAddr::from(([127, 0, 0, 1], port)), VecDeque::new()));
        Ok(self.socks.len() - 1)
    }
    fn source(&self, h: usize) -> SourceKey {
        SourceKey(100 + h)
    }
    fn local_addr(&self, h: usize) -> Result<SocketAddr, IoError> {
        Ok(self.socks[h].0)
    }
    fn send_to(&mut self, h: usize, buf: &[u8], to: SocketAddr) -> Result<usize, IoError> {
        if to != self.server {
            return Ok(buf.len());
        }
        self.queries += 1;
        let msg = Message::parse(buf).unwrap();
        if let Some(reply) = (self.answer)(&msg) {
            self.socks[h].1.push_back((to, reply));
            self.sim.set_ready(SourceKey(100 + h), Ready::READ).unwrap();
        }
        Ok(buf.len())
    }
    fn recv_from(&mut self, h: usize, buf: &mut [u8]) -> Result<(usize, SocketAddr), IoError> {
        match self.socks[h].1.pop_front() {
            Some((from, data)) => {
                buf[..data.len()].copy_from_slice(&data);
                Ok((data.len(), from))
            }
            None => {
                self.sim.clear_ready(SourceKey(100 + h), Ready::READ);
                Err(IoError::WouldBlock)
            }
        }
    }
    fn close(&mut self, _: &mut dyn Dispatcher, _: usize) {}
}

/// A reply to `q` with `rcode` and the given answers (owner, data).
fn reply(q: &Message<'_>, rcode: Rcode, answers: &[(&str, RData<'_>)], tc: bool) -> Vec<u8> {
    let mut buf = vec![0u8; 1232];
    let mut b = MessageBuilder::reply(&mut buf, q, rcode, true).unwrap();
    if tc {
        b.header_mut().flags |= Flags::TC;
    }
    for (owner, data) in answers {
        b.answer(&NameBuf::from_dotted(owner).unwrap(), 60, data)
            .unwrap();
    }
    b.finish().unwrap().to_vec()
}

/// The zone every test's server knows.
fn zone(q: &Message<'_>) -> Option<Vec<u8>> {
    let question = q.question().unwrap();
    let name = question.name.to_string().to_ascii_lowercase();
    let www = NameBuf::from_dotted("www.example").unwrap();
    let a = RData::A([192, 0, 2, 1].into());
    Some(match (name.as_str(), question.qtype) {
        ("www.example", RType::A) => reply(q, Rcode::NOERROR, &[("www.example", a)], false),
        ("alias.example", RType::A) => reply(
            q,
            Rcode::NOERROR,
            &[
                ("alias.example", RData::Cname(www.as_name())),
                ("www.example", a),
            ],
            false,
        ),
        ("www.example", _) => reply(q, Rcode::NOERROR, &[], false),
        ("host.lan.example", RType::A) => {
            reply(q, Rcode::NOERROR, &[("host.lan.example", a)], false)
        }
        ("silent.example", _) => return None,
        ("fail.example", _) => reply(q, Rcode::SERVFAIL, &[], false),
        ("big.example", _) => reply(q, Rcode::NOERROR, &[("big.example", a)], true),
        _ => reply(q, Rcode::NXDOMAIN, &[], false),
    })
}

type R = Resolver<usize, RingBuffer<64>, 2, 2, 1232>;

fn setup(shape: impl FnOnce(&mut Config)) -> (Box<Engine<u8, 32, 16, 1>>, Net, Box<R>) {
    let mut e = Box::new(Engine::new(Platform::manual(1000)));
    let server: SocketAddr = ([127, 0, 0, 53], 53).into();
    let mut config = Config::new();
    config.add_server(server).unwrap();
    config.timeout = Duration::from_millis(100);
    config.udp_sockets = 1;
    shape(&mut config);
    let mut hosts = Hosts::new();
    hosts
        .insert(
            NameBuf::from_dotted("gw.lan").unwrap(),
            [10, 0, 0, 1].into(),
        )
        .unwrap();
    let r = Box::new(Resolver::new(&mut *e, config, hosts, [1; 16], 0).unwrap());
    let net = Net {
        sim: Sim::new(5),
        socks: vec![],
        server,
        answer: Box::new(zone),
        queries: 0,
    };
    (e, net, r)
}

/// Run until a lookup finishes: its records as text, or its error.
fn next_done(
    e: &mut Engine<u8, 32, 16, 1>,
    net: &mut Net,
    r: &mut R,
) -> Result<Vec<String>, DnsError> {
    loop {
        let f = e.next(net).unwrap().expect("loop ended");
        if let Some(done) = r.handle(e, net, &f) {
            return done
                .result
                .map(|a| a.records().map(|r| r.data.to_string()).collect());
        }
    }
}

#[test]
fn lookups_follow_cnames_and_tell_nxdomain_from_nodata() {
    let (mut e, mut net, mut r) = setup(|_| {});
    r.lookup(&mut *e, &mut net, Query::a("alias.example").unwrap())
        .unwrap();
    assert_eq!(next_done(&mut e, &mut net, &mut r).unwrap(), ["192.0.2.1"]);
    r.lookup(&mut *e, &mut net, Query::a("nothing.example").unwrap())
        .unwrap();
    assert_eq!(next_done(&mut e, &mut net, &mut r), Err(DnsError::NxDomain));
    r.lookup(&mut *e, &mut net, Query::aaaa("www.example").unwrap())
        .unwrap();
    assert_eq!(next_done(&mut e, &mut net, &mut r), Err(DnsError::NoData));
}

#[test]
fn silent_server_times_out_after_every_try_and_servfail_is_reported() {
    let (mut e, mut net, mut r) = setup(|c| c.attempts = 3);
    r.lookup(&mut *e, &mut net, Query::a("silent.example").unwrap())
        .unwrap();
    assert_eq!(next_done(&mut e, &mut net, &mut r), Err(DnsError::Timeout));
    assert_eq!((net.queries, e.now()), (3, 300));
    r.lookup(&mut *e, &mut net, Query::a("fail.example").unwrap())
        .unwrap();
    assert_eq!(next_done(&mut e, &mut net, &mut r), Err(DnsError::ServFail));
}

#[test]
fn search_domains_hosts_table_cancel_and_full() {
    let (mut e, mut net, mut r) = setup(|c| {
        c.add_search(NameBuf::from_dotted("lan.example").unwrap())
            .unwrap();
    });
    r.lookup(&mut *e, &mut net, Query::a("host").unwrap())
        .unwrap();
    assert_eq!(next_done(&mut e, &mut net, &mut r).unwrap(), ["192.0.2.1"]);
    r.lookup(&mut *e, &mut net, Query::a("gw.lan").unwrap())
        .unwrap();
    assert_eq!(next_done(&mut e, &mut net, &mut r).unwrap(), ["10.0.0.1"]);
    let a = r
        .lookup(&mut *e, &mut net, Query::a("silent.example").unwrap())
        .unwrap();
    let _b = r
        .lookup(&mut *e, &mut net, Query::a("silent.example").unwrap())
        .unwrap();
    let full = r.lookup(&mut *e, &mut net, Query::a("www.example").unwrap());
    assert_eq!(full.unwrap_err().query, Query::a("www.example").unwrap());
    assert!(r.cancel(&mut *e, &mut net, a));
    assert_eq!(
        next_done(&mut e, &mut net, &mut r),
        Err(DnsError::Cancelled)
    );
}

#[test]
fn truncated_answer_without_tcp_is_used_as_it_is() {
    let (mut e, mut net, mut r) = setup(|c| c.tcp = false);
    r.lookup(&mut *e, &mut net, Query::a("big.example").unwrap())
        .unwrap();
    assert_eq!(next_done(&mut e, &mut net, &mut r).unwrap(), ["192.0.2.1"]);
    // With TCP on and no way to connect, every try fails over to the next.
    let (mut e, mut net, mut r) = setup(|c| c.attempts = 2);
    r.lookup(&mut *e, &mut net, Query::a("big.example").unwrap())
        .unwrap();
    assert_eq!(
        next_done(&mut e, &mut net, &mut r),
        Err(DnsError::Io(IoError::Refused))
    );
}
