//! The HTTP server as a board runs it: fixed `RingBuffer`s of 1 KiB, a 512-byte scratch, two
//! connections, on the core's simulation host with an in-memory transport, no allocator in the
//! server. A 4 KiB page goes out through the 1 KiB output ring by backpressure, and pipelined
//! requests on one kept-alive connection are answered in order.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use levent_core::http::server::{Exchange, Server, ServerConfig, Service};
use levent_core::http::{Header, Limits, Request};
use levent_core::io::{Accept, IoError, Transport};
use levent_core::sim::Sim;
use levent_core::{
    Attached, Change, Clock, Dispatcher, Engine, Feed, Host, HostError, Platform, Ready,
    RingBuffer, Route, SourceKey, Tick, Turn, Wait,
};
use std::collections::{HashMap, VecDeque};

/// In-memory streams on the simulation host: what a board's smoltcp sockets are to the server.
struct World {
    sim: Sim<16>,
    inbox: HashMap<SourceKey, VecDeque<u8>>,
    peer: HashMap<SourceKey, SourceKey>,
    backlog: VecDeque<SourceKey>,
    next: usize,
}

const LISTENER: SourceKey = SourceKey(1);

impl World {
    fn new() -> Self {
        World {
            sim: Sim::new(1),
            inbox: HashMap::new(),
            peer: HashMap::new(),
            backlog: VecDeque::new(),
            next: 2,
        }
    }

    /// A client connects: returns the client's end.
    fn connect(&mut self) -> SourceKey {
        let (c, s) = (SourceKey(self.next), SourceKey(self.next + 1));
        self.next += 2;
        for (a, b) in [(c, s), (s, c)] {
            self.inbox.insert(a, VecDeque::new());
            self.peer.insert(a, b);
            self.sim.set_ready(a, Ready::WRITE).unwrap();
        }
        self.backlog.push_back(s);
        self.sim.set_ready(LISTENER, Ready::READ).unwrap();
        c
    }

    fn client_send(&mut self, c: SourceKey, data: &[u8]) {
        Transport::write(self, c, data).unwrap();
    }

    fn client_take(&mut self, c: SourceKey) -> Vec<u8> {
        let got = self.inbox.get_mut(&c).unwrap().drain(..).collect();
        // Room again at the client: the server's end may write.
        if let Some(&s) = self.peer.get(&c) {
            self.sim.set_ready(s, Ready::WRITE).unwrap();
        }
        got
    }
}

impl Host for World {
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

impl Transport for World {
    type Handle = SourceKey;
    fn source(&self, h: SourceKey) -> SourceKey {
        h
    }
    fn read(&mut self, h: SourceKey, buf: &mut [u8]) -> Result<usize, IoError> {
        let inbox = self.inbox.get_mut(&h).ok_or(IoError::Closed)?;
        if inbox.is_empty() {
            return if self.peer.contains_key(&h) {
                Err(IoError::WouldBlock)
            } else {
                Ok(0)
            };
        }
        let n = buf.len().min(inbox.len());
        for (slot, b) in buf.iter_mut().zip(inbox.drain(..n)) {
            *slot = b;
        }
        if inbox.is_empty() {
            self.sim.clear_ready(h, Ready::READ);
        }
        Ok(n)
    }
    fn write(&mut self, h: SourceKey, buf: &[u8]) -> Result<usize, IoError> {
        let peer = *self.peer.get(&h).ok_or(IoError::BrokenPipe)?;
        // A small window, as a board's socket buffer: at most 700 bytes waiting at the peer.
        let inbox = self.inbox.get_mut(&peer).ok_or(IoError::BrokenPipe)?;
        let n = buf.len().min(700usize.saturating_sub(inbox.len()));
        if n == 0 {
            self.sim.clear_ready(h, Ready::WRITE);
            return Err(IoError::WouldBlock);
        }
        inbox.extend(&buf[..n]);
        self.sim.set_ready(peer, Ready::READ).unwrap();
        Ok(n)
    }
    fn shutdown_write(&mut self, _: SourceKey) -> Result<(), IoError> {
        Ok(())
    }
    fn connected(&mut self, _: SourceKey) -> Result<(), IoError> {
        Ok(())
    }
    fn close(&mut self, d: &mut dyn Dispatcher, h: SourceKey) {
        if let Some(change) = d.forget_source(h) {
            let _ = self.sim.apply(change);
        }
        self.peer.remove(&h);
    }
}

impl Accept for World {
    fn accept(&mut self, _: SourceKey) -> Result<SourceKey, IoError> {
        let s = self.backlog.pop_front().ok_or(IoError::WouldBlock)?;
        if self.backlog.is_empty() {
            self.sim.clear_ready(LISTENER, Ready::READ);
        }
        Ok(s)
    }
}

#[derive(Clone, Copy, Debug)]
struct Http(Route);
impl From<Route> for Http {
    fn from(r: Route) -> Self {
        Http(r)
    }
}

const PAGE: usize = 4096;

fn page_byte(i: usize) -> u8 {
    b"<p>levent on a board</p>\n"[i % 25]
}

/// Serves `/page` (4 KiB, streamed with Content-Length) and anything else as `ok`.
struct Board {
    sent: usize,
}

impl Board {
    fn pump(&mut self, ex: &mut Exchange<'_>) {
        let mut chunk = [0u8; 256];
        while self.sent < PAGE {
            let n = chunk.len().min(PAGE - self.sent);
            for (k, b) in chunk[..n].iter_mut().enumerate() {
                *b = page_byte(self.sent + k);
            }
            let took = ex.send(&chunk[..n]).unwrap();
            self.sent += took;
            if took < n {
                return;
            }
        }
        ex.finish().unwrap();
    }
}

impl Service for Board {
    fn request(&mut self, req: &Request<'_, '_>, ex: &mut Exchange<'_>) {
        if req.target() == "/page" {
            let h = [Header {
                name: "Content-Type",
                value: b"text/html",
            }];
            ex.start(200, &h, Some(PAGE as u64)).unwrap();
            self.sent = 0;
            self.pump(ex);
        } else {
            ex.respond(200, &[], b"ok");
        }
    }
    fn writable(&mut self, ex: &mut Exchange<'_>) {
        self.pump(ex);
    }
}

#[test]
fn server_with_fixed_ring_buffers_streams_a_page_larger_than_its_output() {
    let mut world = World::new();
    let mut engine: Engine<Http, 16, 8, 1> = Engine::new(Platform::manual(1000));
    let cfg = ServerConfig {
        limits: Limits {
            max_headers: 16,
            ..Limits::DEFAULT
        },
        write_low: 256,
        write_high: 768,
        read_high: 1024,
        ..ServerConfig::DEFAULT
    };
    let mut server: Server<Http, SourceKey, RingBuffer<1024>, 2, 512, 16> = Server::new(cfg);
    server.bind(&mut engine, &world, LISTENER).unwrap();
    let mut board = Board { sent: 0 };
    let c = world.connect();
    world.client_send(
        c,
        b"GET /page HTTP/1.1\r\nHost: board\r\n\r\nGET /x HTTP/1.1\r\nHost: board\r\n\r\n",
    );
    let mut got = Vec::new();
    let rounds = if cfg!(miri) { 400 } else { 2000 };
    for _ in 0..rounds {
        let Some(fired) = engine.next(&mut world).unwrap() else {
            break;
        };
        let Http(token) = fired.datum;
        server.handle(&mut engine, &mut world, &fired, token, &mut board);
        // The client reads slowly: a little at a time.
        got.extend(world.client_take(c));
        if got.ends_with(b"\r\n\r\nok") {
            break;
        }
    }
    let text = String::from_utf8(got).unwrap();
    let head_end = text.find("\r\n\r\n").unwrap();
    assert!(
        text.starts_with(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 4096\r\n\r\n"
        ),
        "{}",
        &text[..head_end]
    );
    let body = &text.as_bytes()[head_end + 4..head_end + 4 + PAGE];
    assert!(body.iter().enumerate().all(|(i, &b)| b == page_byte(i)));
    assert!(
        text.ends_with("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
        "the pipelined request, answered after the page"
    );
    assert_eq!(server.connections(), 1);
}
