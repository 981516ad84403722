//! The HTTP server (and client) end to end, on every backend: the server, raw clients that
//! write exact bytes and read exact bytes, and a test service, all on one engine, so every
//! scenario is one deterministic loop on the simulated network and a real one on epoll and poll.

use crate::net::NetWorld;
use levent_core::buffer::Buffer;
use levent_core::conn::{ConnTable, NoHandler, TableConfig};
use levent_core::http::client::{Client, ClientConfig, ClientError, ClientRequest, Receiver};
use levent_core::http::route::{Methods, Router, Rule};
use levent_core::http::server::{ConnId, Exchange, LogEntry, Server, ServerConfig, Service};
use levent_core::http::{BodyDecoder, Header, Limits, Request, Response, ResponseParser, Status};
use levent_core::io::Connect;
use levent_core::ws::{WsConn, WsEvent};
use levent_core::{ConnEvent, Engine, Event, Route};
use levent_hosts::Heap;
use levent_hosts::buffer::ChainBuffer;
use std::net::SocketAddr;
use std::time::Duration;

/// The engine's datum in these scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ev {
    /// The server's events.
    Http(Route),
    /// A raw client's events.
    Client(Route),
    /// The harness's clock tick.
    Tick,
    /// Something else's (the HTTP client's).
    Other(usize),
    /// A canned server's.
    Canned(Route),
}

impl From<Route> for Ev {
    fn from(r: Route) -> Self {
        Ev::Http(r)
    }
}

/// The engine of the scenarios.
pub type Eng = Engine<Ev, 8192, 8192, 1, Heap>;
/// The server of the scenarios: room for 1,100 connections.
pub type Srv<W> = Server<Ev, <W as NetWorld>::Handle, ChainBuffer, 1100, 8192, 64, Heap>;
/// The raw clients' table: each connection's state is its index in [`Harness::clients`].
type Clients<W> = ConnTable<Ev, <W as NetWorld>::Handle, ChainBuffer, 1100, usize, Heap>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Page {
    Hello,
    Echo,
    Stream,
    Sized,
    Defer,
    Big,
    WebSocket,
}

const ROUTES: &[Rule<'static, Page>] = &[
    Rule::exact("/", Page::Hello),
    Rule::exact("/hello", Page::Hello),
    Rule::exact("/echo", Page::Echo).methods(Methods::POST),
    Rule::prefix("/stream/", Page::Stream),
    Rule::prefix("/sized/", Page::Sized),
    Rule::exact("/defer", Page::Defer).methods(Methods::GET.union(Methods::POST)),
    Rule::exact("/big", Page::Big).on_host("big.example"),
    Rule::exact("/ws", Page::WebSocket),
];

/// The test service: `/hello`, `POST /echo` (streams the body back, chunked), `/stream/N` (N
/// bytes, chunked, driven by `writable`), `/sized/N` (N bytes with Content-Length), `/defer`
/// (answered later through `Server::resume`), and a virtual host.
#[derive(Default)]
pub struct TestService {
    /// The access log.
    pub log: Vec<(String, u16, u64)>,
    /// Deferred requests.
    pub deferred: Vec<ConnId>,
    /// Aborted exchanges.
    pub aborted: Vec<ConnId>,
    /// Streams in progress: (connection, bytes left).
    pub streams: Vec<(ConnId, u64)>,
    /// Requests seen.
    pub requests: usize,
    /// What the WebSocket echo at `/ws` saw: `open`, `data`, `ping`, `close CODE`,
    /// `closed CODE`.
    pub ws: Vec<String>,
}

/// The byte at offset `i` of a generated body.
pub fn body_byte(i: u64) -> u8 {
    b"abcdefghijklmnopqrstuvwxyz0123456789"[(i % 36) as usize]
}

impl TestService {
    fn pump_stream(&mut self, ex: &mut Exchange<'_>) {
        let Some(k) = self.streams.iter().position(|(id, _)| *id == ex.id()) else {
            return;
        };
        let mut chunk = [0u8; 4096];
        loop {
            let (_, left) = self.streams[k];
            if left == 0 {
                ex.finish().unwrap();
                self.streams.swap_remove(k);
                return;
            }
            let total = ex.tag() as u64;
            let n = left.min(chunk.len() as u64) as usize;
            for (j, b) in chunk[..n].iter_mut().enumerate() {
                *b = body_byte(total + j as u64);
            }
            let took = ex.send(&chunk[..n]).unwrap();
            self.streams[k].1 -= took as u64;
            ex.set_tag(ex.tag() + took);
            if took < n {
                return;
            }
        }
    }
}

/// The tag of an echo exchange.
const ECHO: usize = usize::MAX;

fn number(path: &str, prefix: &str) -> u64 {
    path.strip_prefix(prefix)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

impl Service for TestService {
    fn request(&mut self, req: &Request<'_, '_>, ex: &mut Exchange<'_>) {
        self.requests += 1;
        let page = match Router::new(ROUTES).find(req) {
            Ok(p) => p,
            Err(miss) => {
                miss.respond(ex);
                return;
            }
        };
        let path = levent_core::http::route::path_of(req.target());
        match page {
            Page::Hello => {
                let h = [Header {
                    name: "Content-Type",
                    value: b"text/plain",
                }];
                ex.respond(200, &h, b"hello world");
            }
            Page::Big => ex.respond(200, &[], b"big host"),
            Page::Echo => ex.set_tag(ECHO),
            Page::Stream => {
                ex.start(200, &[], None).unwrap();
                self.streams.push((ex.id(), number(path, "/stream/")));
                self.pump_stream(ex);
            }
            Page::Sized => {
                let n = number(path, "/sized/");
                ex.start(200, &[], Some(n)).unwrap();
                self.streams.push((ex.id(), n));
                self.pump_stream(ex);
            }
            Page::Defer => self.deferred.push(ex.id()),
            Page::WebSocket => {
                let _ = ex.accept_websocket(req);
            }
        }
    }

    fn websocket(&mut self, ev: WsEvent<'_>, ws: &mut WsConn<'_>) {
        let seen = match ev {
            WsEvent::Open => "open".to_string(),
            WsEvent::Data {
                text,
                first,
                last,
                data,
            } => {
                ws.send_piece(text, first, last, data).unwrap();
                "data".to_string()
            }
            WsEvent::Ping(_) => "ping".to_string(),
            WsEvent::Pong(_) => "pong".to_string(),
            WsEvent::Close { code, .. } => format!("close {}", code.unwrap_or(0)),
            WsEvent::Writable => return,
            WsEvent::Closed { code } => format!("closed {code}"),
        };
        if self.ws.last() != Some(&seen) || seen != "data" {
            self.ws.push(seen);
        }
    }

    fn body(&mut self, data: &[u8], ex: &mut Exchange<'_>) -> usize {
        if ex.tag() != ECHO || ex.is_finished() {
            return data.len();
        }
        if !ex.is_started() {
            ex.start(200, &[], None).unwrap();
        }
        ex.send(data).unwrap()
    }

    fn body_end(&mut self, _: &[Header<'_>], ex: &mut Exchange<'_>) {
        if ex.tag() == ECHO && !ex.is_finished() {
            if !ex.is_started() {
                ex.start(200, &[], None).unwrap();
            }
            ex.finish().unwrap();
        }
    }

    fn writable(&mut self, ex: &mut Exchange<'_>) {
        self.pump_stream(ex);
    }

    fn log(&mut self, e: &LogEntry<'_>) {
        self.log
            .push((e.request_line.to_string(), e.status, e.body_bytes));
    }

    fn aborted(&mut self, id: ConnId) {
        self.aborted.push(id);
        self.streams.retain(|s| s.0 != id);
    }
}

/// A client that writes exact bytes and keeps every byte it reads.
pub struct Raw {
    /// Its connection in the clients' table, while it is open.
    id: Option<ConnId>,
    /// Everything received.
    pub got: Vec<u8>,
    /// The server closed (or reset) the connection.
    pub closed: bool,
    /// Stop reading (to test backpressure).
    pub paused: bool,
}

/// A server, its service and raw clients on one engine over world `W`.
pub struct Harness<W: NetWorld> {
    /// The network.
    pub w: W,
    /// The engine.
    pub e: Box<Eng>,
    /// The server.
    pub server: Box<Srv<W>>,
    /// The service.
    pub svc: TestService,
    /// Where the server listens.
    pub target: SocketAddr,
    /// The raw clients.
    pub clients: Vec<Raw>,
    table: Box<Clients<W>>,
    /// When the harness started, in ticks.
    start: u64,
}

impl<W: NetWorld> Harness<W> {
    /// A server with `cfg` listening on a fresh port.
    pub fn new(cfg: ServerConfig) -> Self {
        let mut w = W::new();
        let mut e = Box::new(Eng::new(w.platform()));
        e.start(
            Event::timer().persist(),
            Ev::Tick,
            Some(Duration::from_millis(10)),
        )
        .unwrap();
        let (lh, target) = w.listen();
        let mut server = Box::new(Srv::<W>::new(cfg));
        server.bind(&mut *e, w.io(), lh).unwrap();
        let clients = TableConfig {
            tag: 1,
            close_on_eof: false,
            ..TableConfig::default()
        };
        let start = e.now();
        Harness {
            w,
            e,
            server,
            svc: TestService::default(),
            target,
            clients: vec![],
            table: Box::new(Clients::<W>::with_datum(clients, Ev::Client)),
            start,
        }
    }

    /// Milliseconds since the harness started.
    pub fn elapsed_ms(&self) -> u64 {
        (self.e.now() - self.start) / 1_000_000
    }

    /// Connect a new raw client; returns its index.
    pub fn connect(&mut self) -> usize {
        let h = self.w.connect(self.target);
        let i = self.clients.len();
        let id = self.table.connect(&mut *self.e, self.w.io(), h).unwrap();
        self.table
            .with(&mut *self.e, self.w.io(), id, &mut NoHandler, |c| {
                *c.state() = i;
            });
        self.clients.push(Raw {
            id: Some(id),
            got: vec![],
            closed: false,
            paused: false,
        });
        i
    }

    /// Run `f` on client `i`'s connection, if it is open.
    fn on_client(
        &mut self,
        i: usize,
        f: impl FnOnce(&mut levent_core::Conn<'_, Ev, W::Io, ChainBuffer, usize>),
    ) {
        if let Some(id) = self.clients[i].id {
            self.table
                .with(&mut *self.e, self.w.io(), id, &mut NoHandler, f);
        }
    }

    /// Queue bytes on client `i`.
    pub fn send(&mut self, i: usize, data: &[u8]) {
        self.on_client(i, |c| {
            c.write(data);
        });
    }

    /// Close client `i`.
    pub fn close(&mut self, i: usize) {
        if let Some(id) = self.clients[i].id.take() {
            self.table
                .close(&mut *self.e, self.w.io(), id, &mut NoHandler);
        }
    }

    /// Stop or resume reading on client `i`.
    pub fn pause(&mut self, i: usize, paused: bool) {
        self.clients[i].paused = paused;
        self.on_client(i, |c| {
            if paused {
                c.disable_reading();
            } else {
                c.enable(levent_core::Interest::READ);
            }
        });
    }

    /// Handle one fired event that is not the HTTP client's; returns it if it is.
    pub fn dispatch(&mut self, f: levent_core::Fired<Ev>) -> Option<levent_core::Fired<Ev>> {
        match f.datum {
            Ev::Http(r) => self
                .server
                .handle(&mut *self.e, self.w.io(), &f, r, &mut self.svc),
            Ev::Client(r) => {
                let clients = &mut self.clients;
                self.table
                    .handle(&mut *self.e, self.w.io(), &f, r, |c, ev| {
                        let raw = &mut clients[*c.state()];
                        loop {
                            let chunk = c.input().chunk_at(0);
                            if chunk.is_empty() {
                                break;
                            }
                            raw.got.extend_from_slice(chunk);
                            let n = chunk.len();
                            c.consume(n);
                        }
                        if matches!(ev, ConnEvent::Eof | ConnEvent::Error(_)) {
                            raw.closed = true;
                            raw.id = None;
                            c.close();
                        }
                    });
            }
            Ev::Tick => {}
            Ev::Other(_) | Ev::Canned(_) => return Some(f),
        }
        None
    }

    /// Run until `done` holds, or panic after `limit` (of the world's time).
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Self) -> bool) {
        self.drive(limit, |h, _| done(h));
    }

    /// Run until `step` returns true, or panic after `limit`. `step` sees every event that is
    /// not the harness's (`Some`), and `None` before each turn.
    pub fn drive(
        &mut self,
        limit: Duration,
        mut step: impl FnMut(&mut Self, Option<levent_core::Fired<Ev>>) -> bool,
    ) {
        let deadline = self.e.now() + limit.as_nanos() as u64;
        while !step(self, None) {
            assert!(self.e.now() < deadline, "not done after {limit:?}");
            self.e.turn(self.w.host(), true).unwrap();
            while let Some(f) = self.e.next_fired() {
                if let Some(other) = self.dispatch(f) {
                    step(self, Some(other));
                }
            }
        }
    }

    /// Run for `d` of the world's time.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.e.now() + d.as_nanos() as u64;
        self.run_until(d + Duration::from_secs(1), |h| h.e.now() >= until);
    }

    /// The complete responses client `i` has received so far (to requests with `methods`).
    pub fn responses(&self, i: usize, methods: &[&str]) -> Vec<Resp> {
        parse_responses(&self.clients[i].got, methods).0
    }

    /// Run until client `i` has `n` complete responses; returns them.
    pub fn expect_responses(&mut self, i: usize, n: usize) -> Vec<Resp> {
        self.run_until(Duration::from_secs(60), |h| {
            parse_responses(&h.clients[i].got, &[]).0.len() >= n || h.clients[i].closed
        });
        let r = self.responses(i, &[]);
        assert!(
            r.len() >= n,
            "client {i}: {} responses of {n}: {:?}",
            r.len(),
            String::from_utf8_lossy(&self.clients[i].got)
        );
        r
    }
}

/// A parsed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Fields, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The decoded body.
    pub body: Vec<u8>,
}

impl Resp {
    /// The value of field `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Split `bytes` into complete responses (interim ones included) to requests whose methods are
/// `methods` in order (GET when not given); returns them and how many bytes they used.
pub fn parse_responses(bytes: &[u8], methods: &[&str]) -> (Vec<Resp>, usize) {
    let mut out = vec![];
    let mut pos = 0;
    let mut final_count = 0;
    loop {
        let rest = &bytes[pos..];
        if rest.is_empty() {
            break;
        }
        let mut hb = [Header::EMPTY; 64];
        let mut p = ResponseParser::new(Limits::DEFAULT);
        let Ok(Status::Complete(r)) = p.parse(rest, &mut hb) else {
            break;
        };
        let method = methods.get(final_count).copied().unwrap_or("GET");
        let mut dec = BodyDecoder::new(r.framing(method), &Limits::DEFAULT);
        let mut at = r.head_len();
        let mut body = vec![];
        let mut ok = true;
        while !dec.is_done() {
            let d = match dec.decode(&rest[at..]) {
                Ok(d) => d,
                Err(_) => {
                    ok = false;
                    break;
                }
            };
            body.extend_from_slice(d.data(&rest[at..]));
            at += d.consumed;
            if d.consumed == 0 && !d.done {
                ok = false;
                break;
            }
        }
        if !ok {
            break;
        }
        out.push(Resp {
            status: r.status(),
            headers: r
                .headers()
                .iter()
                .map(|h| {
                    (
                        h.name.to_ascii_lowercase(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect(),
            body,
        });
        if !r.is_interim() {
            final_count += 1;
        }
        pos += at;
    }
    (out, pos)
}

fn quick() -> ServerConfig {
    ServerConfig {
        head_timeout: Some(Duration::from_millis(300)),
        idle_timeout: Some(Duration::from_millis(300)),
        body_timeout: Some(Duration::from_millis(300)),
        linger: Duration::from_millis(100),
        ..ServerConfig::DEFAULT
    }
}

const GET: &[u8] = b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n";

/// A hundred requests one after the other on one kept-alive connection all get answers, and
/// the connection stays open.
pub fn keep_alive_serves_a_hundred_requests_on_one_connection<W: NetWorld>() {
    let mut h = Harness::<W>::new(ServerConfig::DEFAULT);
    let c = h.connect();
    for k in 0..100 {
        h.send(c, GET);
        let r = h.expect_responses(c, k + 1);
        assert_eq!(r[k].status, 200);
        assert_eq!(r[k].body, b"hello world");
        assert_eq!(r[k].header("content-length"), Some("11"));
        assert_eq!(r[k].header("connection"), None);
    }
    assert!(!h.clients[c].closed);
    assert_eq!(h.server.connections(), 1);
    assert_eq!(h.svc.log.len(), 100);
    assert_eq!(h.svc.log[0], ("GET /hello HTTP/1.1".to_string(), 200, 11));
}

/// Fifty requests of different kinds sent in one write are answered in request order.
pub fn pipelined_requests_are_answered_in_order<W: NetWorld>() {
    let mut h = Harness::<W>::new(ServerConfig::DEFAULT);
    let c = h.connect();
    let mut wire = vec![];
    let mut expect: Vec<Vec<u8>> = vec![];
    let mut methods = vec![];
    for k in 0..50u64 {
        match k % 5 {
            0 => {
                wire.extend_from_slice(GET);
                expect.push(b"hello world".to_vec());
                methods.push("GET");
            }
            1 => {
                let body = format!("echo number {k}");
                wire.extend_from_slice(
                    format!(
                        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                );
                expect.push(body.into_bytes());
                methods.push("POST");
            }
            2 => {
                let n = 1000 + k * 997;
                wire.extend_from_slice(
                    format!("GET /sized/{n} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes(),
                );
                expect.push((0..n).map(body_byte).collect());
                methods.push("GET");
            }
            3 => {
                wire.extend_from_slice(b"HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n");
                expect.push(vec![]);
                methods.push("HEAD");
            }
            _ => {
                let n = 5000 + k;
                wire.extend_from_slice(
                    format!("GET /stream/{n} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes(),
                );
                expect.push((0..n).map(body_byte).collect());
                methods.push("GET");
            }
        }
    }
    h.send(c, &wire);
    h.run_until(Duration::from_secs(60), |h| {
        parse_responses(&h.clients[c].got, &methods).0.len() >= 50
    });
    let r = h.responses(c, &methods);
    assert_eq!(r.len(), 50);
    for (k, (resp, want)) in r.iter().zip(&expect).enumerate() {
        assert_eq!(resp.status, 200, "response {k}");
        assert_eq!(&resp.body, want, "response {k}");
    }
    assert_eq!(
        r[3].header("content-length"),
        Some("11"),
        "HEAD gets the length"
    );
    assert!(!h.clients[c].closed);
}

/// A chunked request body (with extensions and trailers, in small pieces) is streamed back as
/// a chunked response.
pub fn chunked_request_body_is_echoed_as_a_chunked_response<W: NetWorld>() {
    let mut h = Harness::<W>::new(ServerConfig::DEFAULT);
    let c = h.connect();
    let mut body = vec![];
    let mut wire = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for k in 0..200u64 {
        let piece: Vec<u8> = (0..(k * 37 % 3000 + 1)).map(|i| body_byte(i + k)).collect();
        wire.extend_from_slice(format!("{:x};k={k}\r\n", piece.len()).as_bytes());
        wire.extend_from_slice(&piece);
        wire.extend_from_slice(b"\r\n");
        body.extend_from_slice(&piece);
    }
    wire.extend_from_slice(b"0\r\nX-Trailer: yes\r\n\r\n");
    for piece in wire.chunks(777) {
        h.send(c, piece);
        h.run_for(Duration::from_millis(1));
    }
    let r = h.expect_responses(c, 1);
    assert_eq!(r[0].header("transfer-encoding"), Some("chunked"));
    assert_eq!(r[0].body.len(), body.len());
    assert!(r[0].body == body);
    // The connection is still usable.
    h.send(c, GET);
    assert_eq!(h.expect_responses(c, 2)[1].body, b"hello world");
}

/// An 8 MiB chunked response to a client that reads slowly: the server's output never holds
/// much more than its high mark, and every byte arrives in order.
pub fn large_streamed_response_keeps_server_output_bounded<W: NetWorld>() {
    const N: u64 = 8 << 20;
    let mut h = Harness::<W>::new(ServerConfig::DEFAULT);
    let c = h.connect();
    h.pause(c, true);
    h.send(
        c,
        format!("GET /stream/{N} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes(),
    );
    h.run_for(Duration::from_millis(200));
    assert!(h.svc.streams.len() == 1, "the stream waits for the client");
    h.pause(c, false);
    let r = h.expect_responses(c, 1);
    assert_eq!(r[0].body.len() as u64, N);
    assert!(
        r[0].body
            .iter()
            .enumerate()
            .all(|(i, &b)| b == body_byte(i as u64))
    );
    assert_eq!(h.svc.log.last().map(|l| l.2), Some(N));
}

/// 414 for a request line over the limit, 431 for a head over the limit, 413 for a
/// Content-Length or a chunked body over the limit; each closes the connection.
pub fn limits_answer_414_431_and_413<W: NetWorld>() {
    let cfg = ServerConfig {
        limits: Limits {
            max_request_line: 1024,
            max_head_size: 4096,
            max_body_size: 10_000,
            ..Limits::DEFAULT
        },
        ..quick()
    };
    let mut h = Harness::<W>::new(cfg);
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(2000));
    let big_head = format!(
        "GET / HTTP/1.1\r\nHost: t\r\n{}\r\n",
        "X-Filler: 0123456789012345678901234567890123456789\r\n".repeat(100)
    );
    let big_length = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10001\r\n\r\n".to_string();
    let mut big_chunked =
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_string();
    big_chunked = big_chunked.replace("/echo", "/defer");
    for _ in 0..20 {
        big_chunked.push_str(&format!("3e8\r\n{}\r\n", "z".repeat(1000)));
    }
    for (wire, status) in [
        (long_target, 414),
        (big_head, 431),
        (big_length, 413),
        (big_chunked, 413),
    ] {
        let c = h.connect();
        h.send(c, wire.as_bytes());
        let r = h.expect_responses(c, 1);
        let last = r.last().unwrap();
        assert_eq!(last.status, status, "{}", &wire[..40]);
        assert_eq!(last.header("connection"), Some("close"));
        h.run_until(Duration::from_secs(10), |h| h.clients[c].closed);
    }
    assert_eq!(
        h.svc.log.iter().map(|l| l.1).collect::<Vec<_>>(),
        vec![414, 431, 413, 413]
    );
}

/// A client that trickles a head byte by byte (slowloris) gets 408 and is closed once the head
/// timeout passes, however steadily it sends; one that connects and sends nothing is closed.
pub fn head_timeout_closes_a_client_that_trickles_its_head<W: NetWorld>() {
    let mut h = Harness::<W>::new(quick());
    let silent = h.connect();
    let c = h.connect();
    h.send(c, b"GET / HTTP/1.1\r\n");
    let t0 = h.elapsed_ms();
    let mut k = 0;
    while !h.clients[c].closed {
        h.send(c, format!("X-{k}: y\r\n").as_bytes());
        k += 1;
        h.run_for(Duration::from_millis(20));
        assert!(h.elapsed_ms() - t0 < 5000, "still open after 5 s");
    }
    let took = h.elapsed_ms() - t0;
    assert!(took >= 250, "closed after {took} ms");
    let r = h.responses(c, &[]);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status, 408);
    h.run_until(Duration::from_secs(5), |h| h.clients[silent].closed);
    assert!(h.responses(silent, &[]).is_empty());
}

/// A kept-alive connection with no further request is closed after the idle timeout, and not
/// before.
pub fn idle_timeout_closes_a_kept_alive_connection<W: NetWorld>() {
    let mut h = Harness::<W>::new(quick());
    let c = h.connect();
    h.send(c, GET);
    h.expect_responses(c, 1);
    let t0 = h.elapsed_ms();
    h.run_until(Duration::from_secs(5), |h| h.clients[c].closed);
    let took = h.elapsed_ms() - t0;
    assert!((250..3000).contains(&took), "closed after {took} ms");
    assert_eq!(h.responses(c, &[]).len(), 1);
}

/// A body that stops arriving gets 408 once the body timeout passes without a byte.
pub fn body_timeout_answers_408_when_the_body_stalls<W: NetWorld>() {
    let mut h = Harness::<W>::new(quick());
    let c = h.connect();
    h.send(
        c,
        b"POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n0123456789",
    );
    // /hello answers at once, so the stall is seen on a request whose response is complete; use
    // a deferred request for the 408.
    h.run_until(Duration::from_secs(5), |h| h.clients[c].closed);
    assert_eq!(
        h.responses(c, &[]).len(),
        1,
        "answered, then closed on the stall"
    );
    let d = h.connect();
    h.send(
        d,
        b"POST /defer HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n0123456789",
    );
    let t0 = h.elapsed_ms();
    h.run_until(Duration::from_secs(5), |h| h.clients[d].closed);
    let took = h.elapsed_ms() - t0;
    assert!(took >= 250, "closed after {took} ms");
    let r = h.responses(d, &[]);
    assert_eq!(r[0].status, 408);
}

/// `Expect: 100-continue` gets `100 Continue` before the body is sent; the final response
/// follows the body.
pub fn expect_continue_gets_100_before_the_body<W: NetWorld>() {
    let mut h = Harness::<W>::new(ServerConfig::DEFAULT);
    let c = h.connect();
    h.send(
        c,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    );
    let r = h.expect_responses(c, 1);
    assert_eq!(r[0].status, 100);
    h.send(c, b"hello");
    let r = h.expect_responses(c, 2);
    assert_eq!((r[1].status, &r[1].body[..]), (200, &b"hello"[..]));
    // Answered at once (404 here): no 100, and the connection closes without reading the body.
    let d = h.connect();
    h.send(
        d,
        b"POST /nowhere HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    );
    let r = h.expect_responses(d, 1);
    assert_eq!(
        (r[0].status, r[0].header("connection")),
        (404, Some("close"))
    );
}

/// HTTP/1.0 clients: closed after the response by default, kept alive when they ask, with the
/// answer saying so.
pub fn http10_keep_alive_only_when_asked<W: NetWorld>() {
    let mut h = Harness::<W>::new(ServerConfig::DEFAULT);
    let c = h.connect();
    h.send(c, b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = h.expect_responses(c, 1);
    assert_eq!(r[0].header("connection"), Some("keep-alive"));
    h.send(
        c,
        b"GET /stream/100 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    );
    // Unknown length to a 1.0 client: close-delimited.
    h.run_until(Duration::from_secs(10), |h| h.clients[c].closed);
    let got = String::from_utf8_lossy(&h.clients[c].got).into_owned();
    assert!(got.ends_with(&(0..100).map(body_byte).map(char::from).collect::<String>()));
    let d = h.connect();
    h.send(d, b"GET /hello HTTP/1.0\r\n\r\n");
    h.run_until(Duration::from_secs(10), |h| h.clients[d].closed);
    let r = h.responses(d, &[]);
    assert_eq!(r[0].header("connection"), Some("close"));
}

/// Routing: 404 for an unknown path, 405 with `Allow` for a known path and another method, 501
/// for a method the server does not allow, and virtual hosts.
pub fn routes_answer_404_405_and_501_and_virtual_hosts<W: NetWorld>() {
    let mut h = Harness::<W>::new(ServerConfig::DEFAULT);
    let c = h.connect();
    h.send(c, b"GET /missing HTTP/1.1\r\nHost: t\r\n\r\n");
    h.send(c, b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\n");
    h.send(c, b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
    h.send(c, b"GET /big HTTP/1.1\r\nHost: BIG.example:8080\r\n\r\n");
    let r = h.expect_responses(c, 4);
    assert_eq!(r[0].status, 404);
    assert_eq!((r[1].status, r[1].header("allow")), (405, Some("POST")));
    assert_eq!(r[2].status, 404);
    assert_eq!((r[3].status, &r[3].body[..]), (200, &b"big host"[..]));
    h.send(c, b"BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = h.expect_responses(c, 5);
    assert_eq!(
        (r[4].status, r[4].header("connection")),
        (501, Some("close"))
    );
}

/// Graceful shutdown: the listener closes, idle connections close at once, a request in flight
/// is answered (with `Connection: close`), then the server is finished.
pub fn graceful_shutdown_finishes_requests_in_flight<W: NetWorld>() {
    let mut h = Harness::<W>::new(ServerConfig::DEFAULT);
    let idle = h.connect();
    let busy = h.connect();
    h.send(idle, GET);
    h.send(busy, b"GET /defer HTTP/1.1\r\nHost: t\r\n\r\n");
    h.expect_responses(idle, 1);
    h.run_until(Duration::from_secs(10), |h| h.svc.deferred.len() == 1);
    h.server.shutdown(&mut *h.e, h.w.io());
    h.run_until(Duration::from_secs(10), |h| h.clients[idle].closed);
    assert!(!h.clients[busy].closed);
    assert!(!h.server.is_finished());
    let id = h.svc.deferred[0];
    let Harness {
        server, e, w, svc, ..
    } = &mut h;
    assert!(server.resume(&mut **e, w.io(), id, svc, |_, ex| {
        ex.respond(200, &[], b"late");
    }));
    h.run_until(Duration::from_secs(10), |h| h.clients[busy].closed);
    let r = h.responses(busy, &[]);
    assert_eq!(
        (r[0].status, r[0].header("connection")),
        (200, Some("close"))
    );
    assert_eq!(r[0].body, b"late");
    h.run_until(Duration::from_secs(10), |h| h.server.is_finished());
    // Nobody listens any more.
    let late = h.connect();
    h.run_until(Duration::from_secs(10), |h| h.clients[late].closed);
    assert!(h.clients[late].got.is_empty());
}

/// A masked client frame as a browser sends it.
fn ws_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let k = [7u8, 1, 9, 3];
    let mut out = vec![b0];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n => {
            out.push(0x80 | 126);
            out.extend((n as u16).to_be_bytes());
        }
    }
    out.extend(k);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
    out
}

const WS_UPGRADE: &[u8] =
    b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// The frames in `bytes` after the 101's head, as (opcode, payload): server frames are unmasked.
fn ws_frames(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let Some(at) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return vec![];
    };
    let at = at + 4;
    let (mut out, mut rest) = (vec![], &bytes[at..]);
    while rest.len() >= 2 {
        let (len, hdr) = match rest[1] & 0x7f {
            126 => (usize::from(u16::from_be_bytes([rest[2], rest[3]])), 4),
            n => (usize::from(n), 2),
        };
        if rest.len() < hdr + len {
            break;
        }
        out.push((rest[0], rest[hdr..hdr + len].to_vec()));
        rest = &rest[hdr + len..];
    }
    out
}

/// A WebSocket on the server's connection table: the upgrade, an echo of fragmented text and a
/// 4 KiB binary message, a ping answered, the close handshake (the service hears `closed 1000`),
/// a client that leaves without a close (`closed 1006`), a protocol error (1002 sent), and a
/// WebSocket told 1001 when the server shuts down.
pub fn websocket_echo_close_codes_and_shutdown<W: NetWorld>() {
    let mut h = Harness::<W>::new(ServerConfig::DEFAULT);
    let c = h.connect();
    h.send(c, WS_UPGRADE);
    let big: Vec<u8> = (0..4096).map(|i| (i % 251) as u8).collect();
    let mut frames = ws_frame(0x01, b"hel");
    frames.extend(ws_frame(0x89, b"p"));
    frames.extend(ws_frame(0x80, b"lo"));
    frames.extend(ws_frame(0x82, &big));
    frames.extend(ws_frame(0x88, &1000u16.to_be_bytes()));
    h.send(c, &frames);
    h.run_until(Duration::from_secs(10), |h| h.clients[c].closed);
    let got = ws_frames(&h.clients[c].got);
    let got: Vec<(u8, Vec<u8>)> = got;
    assert_eq!(
        got,
        [
            (0x01, b"hel".to_vec()),
            (0x8a, b"p".to_vec()),
            (0x80, b"lo".to_vec()),
            (0x82, big.clone()),
            (0x88, 1000u16.to_be_bytes().to_vec()),
        ]
    );
    assert_eq!(
        h.svc.ws,
        ["open", "data", "ping", "data", "close 1000", "closed 1000"]
    );
    assert_eq!(h.svc.log.last().map(|l| l.1), Some(101));

    h.svc.ws.clear();
    let gone = h.connect();
    h.send(gone, WS_UPGRADE);
    h.run_until(Duration::from_secs(10), |h| h.svc.ws == ["open"]);
    h.close(gone);
    h.run_until(Duration::from_secs(10), |h| h.svc.ws.len() == 2);
    assert_eq!(h.svc.ws, ["open", "closed 1006"]);

    h.svc.ws.clear();
    let bad = h.connect();
    h.send(bad, WS_UPGRADE);
    h.send(bad, &[0x81, 0x02, b'h', b'i']); // unmasked: a protocol error
    h.run_until(Duration::from_secs(10), |h| h.clients[bad].closed);
    assert_eq!(
        ws_frames(&h.clients[bad].got),
        [(0x88, 1002u16.to_be_bytes().to_vec())]
    );
    assert_eq!(h.svc.ws, ["open", "closed 1002"]);

    h.svc.ws.clear();
    let open = h.connect();
    h.send(open, WS_UPGRADE);
    h.run_until(Duration::from_secs(10), |h| h.svc.ws == ["open"]);
    h.server.shutdown(&mut *h.e, h.w.io());
    h.run_until(Duration::from_secs(10), |h| {
        ws_frames(&h.clients[open].got).len() == 1
    });
    assert_eq!(
        ws_frames(&h.clients[open].got),
        [(0x88, 1001u16.to_be_bytes().to_vec())]
    );
    // The client answers; the server finishes.
    h.send(open, &ws_frame(0x88, &1001u16.to_be_bytes()));
    h.run_until(Duration::from_secs(10), |h| h.server.is_finished());
    assert_eq!(h.svc.ws, ["open", "close 1001", "closed 1001"]);
}

/// A thousand clients at once, each making three requests on its kept-alive connection.
pub fn thousand_concurrent_keep_alive_clients<W: NetWorld>() {
    const N: usize = 1000;
    let mut h = Harness::<W>::new(ServerConfig::DEFAULT);
    let cs: Vec<usize> = (0..N).map(|_| h.connect()).collect();
    for round in 1..=3 {
        for &c in &cs {
            h.send(c, GET);
        }
        h.run_until(Duration::from_secs(60), |h| {
            cs.iter()
                .all(|&c| parse_responses(&h.clients[c].got, &[]).0.len() >= round)
        });
    }
    assert_eq!(h.server.connections(), N);
    for &c in &cs {
        let r = h.responses(c, &[]);
        assert!(r.iter().all(|r| r.body == b"hello world"));
        assert!(!h.clients[c].closed);
    }
    assert_eq!(h.svc.log.len(), 3 * N);
}

/// What a client received.
#[derive(Default, Debug)]
pub struct Got {
    /// The status.
    pub status: Option<u16>,
    /// The body.
    pub body: Vec<u8>,
    /// How it ended.
    pub done: Option<Result<(), ClientError>>,
    /// Times the client said a streamed body may go on.
    pub writable: usize,
}

impl Receiver for Got {
    fn response(&mut self, resp: &Response<'_, '_>) {
        self.status = Some(resp.status());
    }
    fn body(&mut self, data: &[u8]) {
        self.body.extend_from_slice(data);
    }
    fn done(&mut self, result: Result<(), ClientError>) {
        self.done = Some(result);
    }
    fn writable(&mut self) {
        self.writable += 1;
    }
}

/// Send `req` (a streamed one) with `client`, writing `body` as the client takes it, and run
/// until the response is done. The body's end is written once all of it is in.
pub fn upload<W: NetWorld>(
    h: &mut Harness<W>,
    client: &mut Cli<W>,
    req: &ClientRequest<'_>,
    body: &[u8],
) -> Got
where
    W::Io: Connect,
{
    let mut got = Got::default();
    if let Err(e) = client.send(&mut *h.e, h.w.io(), req) {
        got.done = Some(Err(e));
        return got;
    }
    let mut sent = 0;
    let mut finished = false;
    h.drive(Duration::from_secs(60), |h, f| {
        if let Some(f) = f {
            client.handle(&mut *h.e, h.w.io(), &f, &mut got);
        }
        while sent < body.len() && client.is_uploading() {
            match client.write_body(&mut *h.e, h.w.io(), &body[sent..]) {
                Ok(0) => break,
                Ok(n) => sent += n,
                Err(e) => panic!("write_body: {e}"),
            }
        }
        if sent == body.len() && !finished && client.is_uploading() {
            finished = client.finish_body(&mut *h.e, h.w.io()).is_ok();
        }
        got.done.is_some()
    });
    got
}

/// A streamed request body goes out as the connection takes it (backpressure: far more than
/// the buffers hold), chunked or with a length; with `Expect: 100-continue` it waits for the
/// server's `100`. A body longer than its length is refused, and a server that answers before
/// the body (a 404 here) gets none of it and the connection is not reused.
pub fn client_streams_request_bodies_with_backpressure_and_100_continue<W: NetWorld>()
where
    W::Io: Connect,
{
    use levent_core::http::client::{EXPECT_WAIT, Stream};
    let mut h = Harness::<W>::new(ServerConfig::DEFAULT);
    let mut c = client(&h, ClientConfig::DEFAULT, h.target);
    let body: Vec<u8> = (0..300_000u64).map(body_byte).collect();
    for stream in [
        Stream::chunked(),
        Stream::length(body.len() as u64),
        Stream::chunked().expect_continue(),
        Stream::length(body.len() as u64).expect_continue(),
    ] {
        let req = ClientRequest {
            stream: Some(stream),
            ..ClientRequest::post("/echo", b"")
        };
        let t0 = h.elapsed_ms();
        let got = upload(&mut h, &mut c, &req, &body);
        let took = h.elapsed_ms() - t0;
        assert_eq!(got.done, Some(Ok(())), "{stream:?}");
        assert_eq!(got.status, Some(200), "{stream:?}");
        assert!(
            got.body == body,
            "{stream:?}: {} bytes back",
            got.body.len()
        );
        // The `100` (or the connect, or a drained output) says when to write; on a kept-alive
        // connection with room, the body may go at once after `send`.
        if stream.expect_continue {
            assert!(got.writable >= 1, "{stream:?}: told when to write");
            assert!(
                (took as u128) < EXPECT_WAIT.as_millis(),
                "{stream:?}: the server's 100 started the body, not the wait ({took} ms)"
            );
        }
        assert!(c.is_connected(), "{stream:?}: kept alive");
    }
    assert_eq!(h.server.connections(), 1);
    // More than the length said.
    let req = ClientRequest {
        stream: Some(Stream::length(3)),
        ..ClientRequest::post("/echo", b"")
    };
    c.send(&mut *h.e, h.w.io(), &req).unwrap();
    assert_eq!(
        c.write_body(&mut *h.e, h.w.io(), b"four"),
        Err(ClientError::BodyLength)
    );
    c.close(&mut *h.e, h.w.io());
    // A whole body and a stream at once.
    let req = ClientRequest {
        stream: Some(Stream::chunked()),
        ..ClientRequest::post("/echo", b"whole")
    };
    assert_eq!(
        c.send(&mut *h.e, h.w.io(), &req),
        Err(ClientError::BodyLength)
    );
    // A path the server does not serve: it answers 404 to the head and never gets the body.
    let req = ClientRequest {
        stream: Some(Stream::length(body.len() as u64).expect_continue()),
        ..ClientRequest::post("/missing", b"")
    };
    let got = upload(&mut h, &mut c, &req, &body);
    assert_eq!((got.status, got.done), (Some(404), Some(Ok(()))));
    assert!(!c.is_connected(), "a connection owed a body is not reused");
    assert_eq!(
        c.write_body(&mut *h.e, h.w.io(), b"late"),
        Err(ClientError::NotStreaming)
    );
}

/// A pool of two clients for one origin: two requests at once, a third refused as busy; ten
/// more rounds of two reuse the same two kept-alive connections.
pub fn client_pool_bounds_and_reuses_connections_to_one_origin<W: NetWorld>()
where
    W::Io: Connect,
{
    use levent_core::http::client::Pool;
    let mut h = Harness::<W>::new(ServerConfig::DEFAULT);
    let mut pool: Pool<Ev, W::Handle, ChainBuffer, 2> =
        Pool::new(ClientConfig::DEFAULT, "t", &[h.target], Ev::Other(0));
    let get = ClientRequest::get("/hello");
    for round in 0..11 {
        let mut got: [Got; 2] = Default::default();
        let a = pool.send(&mut *h.e, h.w.io(), &get).unwrap();
        let b = pool.send(&mut *h.e, h.w.io(), &get).unwrap();
        assert_ne!(a, b);
        assert_eq!(
            pool.send(&mut *h.e, h.w.io(), &get),
            Err(ClientError::Busy),
            "round {round}: the bound"
        );
        h.drive(Duration::from_secs(60), |h, f| {
            if let Some(f) = f {
                pool.handle(&mut *h.e, h.w.io(), &f, &mut got);
            }
            got.iter().all(|g| g.done.is_some())
        });
        for g in &got {
            assert_eq!((g.status, &g.body[..]), (Some(200), &b"hello world"[..]));
        }
        assert_eq!((pool.busy(), pool.connected()), (0, 2));
    }
    assert_eq!(
        h.server.connections(),
        2,
        "the two connections served all 22"
    );
    // A response body over the client's limit is an error, and that connection is dropped.
    let cfg = ClientConfig {
        limits: levent_core::http::Limits {
            max_body_size: 1000,
            ..levent_core::http::Limits::DEFAULT
        },
        ..ClientConfig::DEFAULT
    };
    let mut small = client(&h, cfg, h.target);
    let got = fetch(&mut h, &mut small, &ClientRequest::get("/sized/5000"));
    assert!(
        matches!(got.done, Some(Err(ClientError::Body(_)))),
        "{:?}",
        got.done
    );
    assert!(got.body.len() <= 1000 && !small.is_connected());
}

/// The HTTP client of the scenarios.
pub type Cli<W> = Client<Ev, <W as NetWorld>::Handle, ChainBuffer>;

/// Send `req` with `client` and run until it is done.
pub fn fetch<W: NetWorld>(h: &mut Harness<W>, client: &mut Cli<W>, req: &ClientRequest<'_>) -> Got
where
    W::Io: Connect,
{
    let mut got = Got::default();
    if let Err(e) = client.send(&mut *h.e, h.w.io(), req) {
        got.done = Some(Err(e));
        return got;
    }
    h.drive(Duration::from_secs(60), |h, f| {
        if let Some(f) = f {
            client.handle(&mut *h.e, h.w.io(), &f, &mut got);
        }
        got.done.is_some()
    });
    got
}

fn client<W: NetWorld>(h: &Harness<W>, cfg: ClientConfig, to: SocketAddr) -> Cli<W>
where
    W::Io: Connect,
{
    let _ = h;
    Client::new(cfg, "t", &[to], Ev::Other(0))
}

/// The client against the project's server: twenty requests of the three kinds of body on one
/// kept-alive connection.
pub fn client_reuses_one_kept_alive_connection<W: NetWorld>()
where
    W::Io: Connect,
{
    let mut h = Harness::<W>::new(ServerConfig::DEFAULT);
    let mut c = client(&h, ClientConfig::DEFAULT, h.target);
    for k in 0..20u64 {
        let (target, want): (String, Vec<u8>) = match k % 3 {
            0 => ("/hello".into(), b"hello world".to_vec()),
            1 => (
                format!("/sized/{}", 5000 + k),
                (0..5000 + k).map(body_byte).collect(),
            ),
            _ => (
                format!("/stream/{}", 70_000 + k),
                (0..70_000 + k).map(body_byte).collect(),
            ),
        };
        let got = fetch(&mut h, &mut c, &ClientRequest::get(&target));
        assert_eq!(got.done, Some(Ok(())), "request {k}");
        assert_eq!(got.status, Some(200));
        assert!(got.body == want, "request {k}");
        assert!(c.is_connected());
    }
    let post = ClientRequest::post("/echo", b"posted");
    let got = fetch(&mut h, &mut c, &post);
    assert_eq!((got.status, &got.body[..]), (Some(200), &b"posted"[..]));
    let head = ClientRequest {
        method: "HEAD",
        ..ClientRequest::get("/hello")
    };
    let got = fetch(&mut h, &mut c, &head);
    assert_eq!((got.status, got.body.len()), (Some(200), 0));
    assert_eq!(
        h.server.connections(),
        1,
        "one connection served everything"
    );
    let missing = fetch(&mut h, &mut c, &ClientRequest::get("/missing"));
    assert_eq!(missing.status, Some(404));
}

/// A raw server that answers each request on its `k`th connection with `script[k]`'s next
/// response, closing when the entry is `None`.
struct Canned<H> {
    table: ConnTable<Ev, H, ChainBuffer, 8, Script>,
    opened: usize,
}

/// Where a canned connection is in its script.
#[derive(Default)]
struct Script {
    conn: usize,
    answered: usize,
}

impl<H: Copy + PartialEq + std::fmt::Debug> Canned<H> {
    fn new<W: NetWorld<Handle = H>>(h: &mut Harness<W>, lh: H) -> Self {
        let cfg = TableConfig {
            tag: 2,
            ..TableConfig::default()
        };
        let mut table = ConnTable::with_datum(cfg, Ev::Canned);
        table.listen(&mut *h.e, h.w.io(), lh).unwrap();
        Canned { table, opened: 0 }
    }

    fn handle<W: NetWorld<Handle = H>>(
        &mut self,
        h: &mut Harness<W>,
        f: &levent_core::Fired<Ev>,
        script: &[&[Option<&[u8]>]],
    ) {
        let Ev::Canned(r) = f.datum else { return };
        let opened = &mut self.opened;
        self.table.handle(&mut *h.e, h.w.io(), f, r, |c, ev| {
            if ev == ConnEvent::Opened {
                c.state().conn = *opened;
                *opened += 1;
            }
            let mut all = vec![0u8; c.input().len()];
            c.input().peek(0, &mut all);
            let Some(end) = all.windows(4).position(|w| w == b"\r\n\r\n") else {
                return;
            };
            c.consume(end + 4);
            let (i, j) = (c.state().conn, c.state().answered);
            c.state().answered += 1;
            match script.get(i).and_then(|s| s.get(j)).copied().flatten() {
                Some(resp) => {
                    c.write(resp);
                    if script.get(i).is_some_and(|s| s.len() == j + 1) {
                        // The last answer: its body ends when the connection does.
                        c.shutdown().unwrap();
                    }
                }
                None => c.close(),
            }
        });
    }
}

/// The client reads a close-delimited body, and retries an idempotent request (not a POST) when
/// the kept-alive connection it reused turns out closed.
pub fn client_reads_close_delimited_bodies_and_retries_on_a_stale_connection<W: NetWorld>()
where
    W::Io: Connect,
{
    let mut h = Harness::<W>::new(ServerConfig::DEFAULT);
    let (lh, target) = h.w.listen();
    let mut canned = Canned::new(&mut h, lh);
    const KEEP: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    const TILL_CLOSE: &[u8] = b"HTTP/1.1 200 OK\r\n\r\nuntil the end";
    // Connection 0: one answer, then closes without answering the second request.
    // Connection 1: answers the retry, then closes without answering (the POST).
    // Connection 2: a close-delimited body.
    let script: &[&[Option<&[u8]>]] = &[
        &[Some(KEEP), None],
        &[Some(KEEP), None],
        &[Some(TILL_CLOSE)],
    ];
    let mut c = client(&h, ClientConfig::DEFAULT, target);
    let mut run = |h: &mut Harness<W>, c: &mut Cli<W>, req: &ClientRequest<'_>| {
        let mut got = Got::default();
        c.send(&mut *h.e, h.w.io(), req).unwrap();
        h.drive(Duration::from_secs(60), |h, f| {
            if let Some(f) = f {
                if c.owns(f.id) {
                    c.handle(&mut *h.e, h.w.io(), &f, &mut got);
                } else {
                    canned.handle(h, &f, script);
                }
            }
            got.done.is_some()
        });
        got
    };
    let first = run(&mut h, &mut c, &ClientRequest::get("/a"));
    assert_eq!((first.status, &first.body[..]), (Some(200), &b"ok"[..]));
    let retried = run(&mut h, &mut c, &ClientRequest::get("/b"));
    assert_eq!(
        retried.done,
        Some(Ok(())),
        "the GET was sent again on a new connection"
    );
    assert_eq!(&retried.body[..], b"ok");
    let post = ClientRequest::post("/c", b"x");
    let refused = run(&mut h, &mut c, &post);
    assert_eq!(
        refused.done,
        Some(Err(ClientError::Closed)),
        "a POST is not retried"
    );
    let till_close = run(&mut h, &mut c, &ClientRequest::get("/d"));
    assert_eq!(till_close.done, Some(Ok(())));
    assert_eq!(&till_close.body[..], b"until the end");
}

/// Errors: a connect where nobody listens, and a response that never comes (timeout).
pub fn client_reports_refused_connections_and_timeouts<W: NetWorld>()
where
    W::Io: Connect,
{
    let mut h = Harness::<W>::new(ServerConfig::DEFAULT);
    let nowhere = h.w.nowhere();
    let mut c = client(&h, ClientConfig::DEFAULT, nowhere);
    let got = fetch(&mut h, &mut c, &ClientRequest::get("/"));
    assert!(
        matches!(got.done, Some(Err(ClientError::Connect(_)))),
        "{:?}",
        got.done
    );
    // Two addresses, the first dead: the second serves.
    c.set_addrs(&[nowhere, h.target]);
    let got = fetch(&mut h, &mut c, &ClientRequest::get("/hello"));
    assert_eq!(got.status, Some(200));
    let cfg = ClientConfig {
        timeout: Some(Duration::from_millis(200)),
        ..ClientConfig::DEFAULT
    };
    let mut slow = client(&h, cfg, h.target);
    let t0 = h.elapsed_ms();
    let got = fetch(&mut h, &mut slow, &ClientRequest::get("/defer"));
    assert_eq!(got.done, Some(Err(ClientError::Timeout)));
    assert!(h.elapsed_ms() - t0 >= 150);
}

/// One `#[test]` per HTTP client scenario, for network world type `$world`.
#[macro_export]
macro_rules! http_client_suite {
    ($world:ty) => {
        $crate::http_client_suite!(@tests $world;
            client_reuses_one_kept_alive_connection,
            client_reads_close_delimited_bodies_and_retries_on_a_stale_connection,
            client_reports_refused_connections_and_timeouts,
            client_streams_request_bodies_with_backpressure_and_100_continue,
            client_pool_bounds_and_reuses_connections_to_one_origin,
        );
    };
    (@tests $world:ty; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::http::$name::<$world>();
            }
        )*
    };
}

/// One `#[test]` per HTTP server scenario, for network world type `$world`.
#[macro_export]
macro_rules! http_server_suite {
    ($world:ty) => {
        $crate::http_server_suite!(@tests $world;
            keep_alive_serves_a_hundred_requests_on_one_connection,
            pipelined_requests_are_answered_in_order,
            chunked_request_body_is_echoed_as_a_chunked_response,
            large_streamed_response_keeps_server_output_bounded,
            limits_answer_414_431_and_413,
            head_timeout_closes_a_client_that_trickles_its_head,
            idle_timeout_closes_a_kept_alive_connection,
            body_timeout_answers_408_when_the_body_stalls,
            expect_continue_gets_100_before_the_body,
            http10_keep_alive_only_when_asked,
            routes_answer_404_405_and_501_and_virtual_hosts,
            graceful_shutdown_finishes_requests_in_flight,
            websocket_echo_close_codes_and_shutdown,
            thousand_concurrent_keep_alive_clients,
        );
    };
    (@tests $world:ty; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::http::$name::<$world>();
            }
        )*
    };
}

/// Whether program `name` runs here (`name --version` succeeds). Under `.ci/run` (which sets
/// `LEVENT_CI` and installs the peers) a missing program fails the test instead of skipping it.
pub fn installed(name: &str) -> bool {
    let found = std::process::Command::new(name)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found || std::env::var_os("LEVENT_CI").is_none(),
        "{name} is not installed, and CI must not skip the tests that need it"
    );
    found
}

/// Run `cmd` to completion while the harness serves; returns its standard output.
pub fn run_child<W: NetWorld>(
    h: &mut Harness<W>,
    cmd: &mut std::process::Command,
) -> (bool, Vec<u8>) {
    use std::io::Read;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut v = vec![];
        out.read_to_end(&mut v).unwrap();
        v
    });
    let mut status = None;
    h.run_until(Duration::from_secs(120), |h| {
        h.run_for(Duration::from_millis(5));
        status = child.try_wait().unwrap();
        status.is_some()
    });
    (status.unwrap().success(), reader.join().unwrap())
}

/// curl as a real client of the server: several URLs on one kept-alive connection, a chunked
/// upload, a large upload with `Expect: 100-continue`, HTTP/1.0, and a HEAD.
pub fn curl_talks_to_the_server<W: NetWorld>() {
    if !installed("curl") {
        println!("skipping curl_talks_to_the_server: curl is not installed");
        return;
    }
    let mut h = Harness::<W>::new(ServerConfig::DEFAULT);
    let base = format!("http://{}", h.target);
    let urls = ["/hello", "/sized/100", "/stream/100000", "/missing"];
    let mut cmd = std::process::Command::new("curl");
    cmd.args([
        "-s",
        "-w",
        "%{http_code} %{size_download} %{num_connects}\n",
    ]);
    for u in urls {
        cmd.args(["-o", "/dev/null", &format!("{base}{u}")]);
    }
    let (ok, out) = run_child(&mut h, &mut cmd);
    assert!(ok);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text, "200 11 1\n200 100 0\n200 100000 0\n404 10 0\n",
        "one connection for the four"
    );
    let dir = std::env::temp_dir().join(format!(
        "levent-curl-{}-{}",
        std::process::id(),
        h.target.port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("upload");
    let data: Vec<u8> = (0..3_000_000u64).map(body_byte).collect();
    std::fs::write(&file, &data).unwrap();
    for extra in [
        &["-H", "Transfer-Encoding: chunked"][..],
        &["-H", "Expect: 100-continue"][..],
        &[][..],
    ] {
        let (ok, out) = run_child(
            &mut h,
            std::process::Command::new("curl")
                .args(["-s", "--fail", "--data-binary"])
                .arg(format!("@{}", file.display()))
                .args(extra)
                .arg(format!("{base}/echo")),
        );
        assert!(ok, "{extra:?}");
        assert!(out == data, "{extra:?}: {} bytes back", out.len());
    }
    let (ok, out) = run_child(
        &mut h,
        std::process::Command::new("curl").args([
            "-s",
            "--http1.0",
            "-i",
            &format!("{base}/stream/10"),
        ]),
    );
    assert!(ok);
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("Connection: close") && text.ends_with("abcdefghij"),
        "{text}"
    );
    let (ok, out) = run_child(
        &mut h,
        std::process::Command::new("curl").args(["-s", "-I", &format!("{base}/hello")]),
    );
    assert!(ok);
    assert!(
        String::from_utf8(out)
            .unwrap()
            .contains("Content-Length: 11")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The client against Python's `http.server` (HTTP/1.0, a new connection per request): a file,
/// a large file, a listing and a 404.
pub fn client_fetches_from_python_http_server<W: NetWorld>()
where
    W::Io: Connect,
{
    use std::io::BufRead;
    if !installed("python3") {
        println!("skipping client_fetches_from_python_http_server: python3 is not installed");
        return;
    }
    let dir = std::env::temp_dir().join(format!(
        "levent-python-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("small.txt"), "small file\n").unwrap();
    let big: Vec<u8> = (0..2_000_000u64).map(body_byte).collect();
    std::fs::write(dir.join("big.bin"), &big).unwrap();
    let mut py = std::process::Command::new("python3")
        .args([
            "-u",
            "-m",
            "http.server",
            "0",
            "--bind",
            "127.0.0.1",
            "--directory",
        ])
        .arg(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut line = String::new();
    std::io::BufReader::new(py.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _py = Kill(py);
    // "Serving HTTP on 127.0.0.1 port 41235 (http://127.0.0.1:41235/) ..."
    let port: u16 = line
        .split_whitespace()
        .skip_while(|w| *w != "port")
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("python said {line:?}"));
    let mut h = Harness::<W>::new(ServerConfig::DEFAULT);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut c = client(&h, ClientConfig::DEFAULT, addr);
    let got = fetch(&mut h, &mut c, &ClientRequest::get("/small.txt"));
    assert_eq!(
        (got.status, &got.body[..]),
        (Some(200), &b"small file\n"[..])
    );
    let got = fetch(&mut h, &mut c, &ClientRequest::get("/big.bin"));
    assert_eq!(got.done, Some(Ok(())));
    assert!(got.body == big);
    let got = fetch(&mut h, &mut c, &ClientRequest::get("/"));
    assert_eq!(got.status, Some(200));
    assert!(String::from_utf8_lossy(&got.body).contains("small.txt"));
    let got = fetch(&mut h, &mut c, &ClientRequest::get("/missing"));
    assert_eq!((got.status, got.done), (Some(404), Some(Ok(()))));
    let _ = std::fs::remove_dir_all(&dir);
}
