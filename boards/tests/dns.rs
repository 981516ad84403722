//! levent's DNS server (the core's `dns::Server`) over `NetHost`'s UDP through the core's
//! `Datagram` trait, on a seeded simulated link: the UDP path that qemu's restricted user
//! network cannot carry back to the host (it drops the guest's UDP), and a board that keeps
//! answering after runt and malformed frames.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use levent_core::buffer::RingBuffer;
use levent_core::dns::{Class, Message, MessageBuilder, NameBuf, RData, RType, Rcode, Record};
use levent_core::io::Datagram;
use levent_core::{Engine, Event, Route, SourceKey};
use levent_embassy::link::LinkConfig;
use smoltcp::phy::{Device, Medium, TxToken};
use smoltcp::socket::udp;
use support::{HZ, Net, SERVER, World, drain, platform, seed};

type Dns = levent_core::dns::Server<Route, SourceKey, RingBuffer<64>, 0, 512>;

fn add_udp(net: &mut Net) -> SourceKey {
    let meta = |n| Box::leak(vec![udp::PacketMetadata::EMPTY; n].into_boxed_slice());
    let data = |n| Box::leak(vec![0u8; n].into_boxed_slice());
    let rx = udp::PacketBuffer::new(&mut meta(4)[..], &mut data(2048)[..]);
    let tx = udp::PacketBuffer::new(&mut meta(4)[..], &mut data(2048)[..]);
    net.add_udp(rx, tx).unwrap()
}

struct Run {
    world: World,
    se: Box<Engine<Route, 8, 8, 1>>,
    ce: Box<Engine<u8, 4, 4, 1>>,
    dns: Box<Dns>,
    client: SourceKey,
}

fn setup(seed: u64) -> Run {
    let mut world = World::new(LinkConfig::ideal(Medium::Ethernet), seed, 0, 0);
    let mut se = Box::new(Engine::new(platform()));
    let mut ce = Box::new(Engine::new(platform()));
    add_udp(&mut world.server);
    let socket = Datagram::bind(&mut world.server, "0.0.0.0:53".parse().unwrap()).unwrap();
    assert_eq!(
        Datagram::local_addr(&world.server, socket).unwrap(),
        "0.0.0.0:53".parse().unwrap()
    );
    // One UDP socket only: a second bind finds none free.
    assert!(Datagram::bind(&mut world.server, "0.0.0.0:54".parse().unwrap()).is_err());
    let mut dns: Box<Dns> = Box::new(Dns::new(&mut *se, 0).unwrap());
    dns.serve_udp(&mut *se, &world.server, socket).unwrap();
    let client = add_udp(&mut world.client);
    world.client.udp(client).unwrap().bind(5353).unwrap();
    ce.start(Event::read(client).persist(), 0, None).unwrap();
    Run {
        world,
        se,
        ce,
        dns,
        client,
    }
}

impl Run {
    /// Ask `name` (A) and run both boards until the answer arrives.
    fn ask(&mut self, id: u16, name: &str) -> Vec<u8> {
        let mut buf = [0u8; 512];
        let q = NameBuf::from_dotted(name).unwrap();
        let query = MessageBuilder::query(&mut buf, id, &q, RType::A, true, None).unwrap();
        self.world
            .client
            .send_to(self.client, query, (SERVER, 53))
            .unwrap();
        let limit = self.world.now + 10 * HZ;
        let mut reply = None;
        while reply.is_none() {
            let dns = &mut self.dns;
            let a = drain(&mut *self.se, &mut self.world.server, |e, net, f| {
                let Some(req) = dns.handle(e, net, &f, f.datum) else {
                    return;
                };
                let msg = req.message();
                let q = msg.question().unwrap();
                if q.name.eq_dotted("board.test") {
                    let a = Record {
                        name: q.name,
                        class: Class::IN,
                        ttl: 60,
                        data: RData::A([10, 0, 0, 1].into()),
                    };
                    req.reply(e, net, Rcode::NOERROR, &[a]).unwrap();
                } else {
                    req.reply(e, net, Rcode::NXDOMAIN, &[]).unwrap();
                }
            });
            let client = self.client;
            let b = drain(&mut *self.ce, &mut self.world.client, |_, net, _| {
                let mut buf = [0u8; 512];
                if let Ok((n, from)) = net.recv_from(client, &mut buf) {
                    assert_eq!(from, (SERVER, 53).into());
                    reply = Some(buf[..n].to_vec());
                }
            });
            if a + b == 0 && reply.is_none() {
                self.world.idle();
            }
            assert!(self.world.now < limit, "no answer to {name}");
        }
        reply.unwrap()
    }

    /// Put a raw frame on the link from the client's side.
    fn inject(&mut self, frame: &[u8]) {
        let now = smoltcp::time::Instant::from_micros(self.world.now as i64);
        let token = self.world.client.device().transmit(now).unwrap();
        token.consume(frame.len(), |buf| buf.copy_from_slice(frame));
    }
}

#[test]
fn dns_server_answers_over_nethost_udp() {
    let mut r = setup(seed(53));
    let reply = r.ask(1, "board.test");
    let msg = Message::parse(&reply).unwrap();
    assert_eq!((msg.id(), msg.rcode()), (1, Rcode::NOERROR));
    let answers: Vec<_> = msg.answers().map(|a| a.data.to_string()).collect();
    assert_eq!(answers, ["10.0.0.1"]);
    let msg_bytes = r.ask(2, "nowhere.test");
    let msg = Message::parse(&msg_bytes).unwrap();
    assert_eq!((msg.id(), msg.rcode()), (2, Rcode::NXDOMAIN));
}

#[test]
fn board_answers_after_runt_and_malformed_frames() {
    let mut r = setup(seed(54));
    let server_mac = [2, 0, 0, 0, 0, 1];
    let client_mac = [2, 0, 0, 0, 0, 2];
    let eth = |ethertype: [u8; 2], payload: &[u8]| {
        let mut f = server_mac.to_vec();
        f.extend_from_slice(&client_mac);
        f.extend_from_slice(&ethertype);
        f.extend_from_slice(payload);
        f
    };
    let frames = [
        vec![0xff; 3],                                  // shorter than a header
        server_mac.to_vec(),                            // a destination and nothing else
        eth([0x08, 0x00], &[]),                         // IPv4 without a header
        eth([0x08, 0x00], &[0x45, 0, 0, 200, 0, 0, 0]), // a truncated IPv4 header
        eth([0x08, 0x00], &[0x4f; 40]),                 // a header length past the packet
        eth([0x08, 0x06], &[0; 10]),                    // a truncated ARP
        eth([0x88, 0xb5], &[0xaa; 50]),                 // an unknown ethertype
    ];
    for f in &frames {
        r.inject(f);
    }
    let reply = r.ask(3, "board.test");
    let msg = Message::parse(&reply).unwrap();
    assert_eq!((msg.id(), msg.rcode()), (3, Rcode::NOERROR));
}
