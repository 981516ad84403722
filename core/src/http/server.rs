//! The HTTP/1.1 server (libevent's evhttp) as a sans-IO state machine over the core's
//! [`ConnTable`]: no allocation, capacities fixed by const generics, the same code over epoll,
//! poll, the simulated network and smoltcp sockets with [`RingBuffer`](crate::RingBuffer)s.
//!
//! # Shape
//!
//! The server owns its listener and up to `C` connections (a [`ConnTable`]); the application
//! owns the engine, the IO storage and a [`Service`], and forwards every fired event whose datum
//! carries the server's [`Route`] to [`Server::handle`], passing its service along. The server does the IO and calls the
//! service back while it is on the stack: [`Service::request`] when a head arrives (with the
//! parsed [`Request`] and an [`Exchange`] to answer through), [`Service::body`] for each piece of
//! the request body, [`Service::body_end`], [`Service::writable`] when a streamed response may
//! continue, [`Service::log`] when an exchange is complete. Nothing is stored in the engine but
//! the `Copy` route, so there are no callbacks to register and nothing to allocate.
//!
//! ```text
//! #[derive(Clone, Copy)]
//! enum Ev { Http(Route), Signal }
//! impl From<Route> for Ev { fn from(r: Route) -> Self { Ev::Http(r) } }
//!
//! server.bind(&mut engine, &io, listening)?;   // fails if the engine is too small
//! while let Some(fired) = engine.next(&mut host)? {
//!     match fired.datum {
//!         Ev::Http(route) => server.handle(&mut engine, &mut io, &fired, route, &mut app),
//!         Ev::Signal => server.shutdown(&mut engine, &mut io),
//!     }
//!     if server.is_finished() { break }
//! }
//! ```
//!
//! Each connection needs three engine events (two of its own and a timer) and a source:
//! [`events_needed`] sizes the engine, and [`Server::bind`] checks it.
//!
//! # Whole bodies or streamed
//!
//! A service gets request bodies in pieces through [`Service::body`] (the default), or, when
//! [`Service::body_mode`] asks for [`BodyMode::Whole`], as evhttp hands them over: the server
//! collects the body (up to a limit, 413 beyond) and calls [`Service::request`] once it is
//! complete, with the body in [`Exchange::body`].
//!
//! A service may answer at once (in any callback), or later: keep the [`ConnId`] of
//! [`Exchange::id`] and call [`Server::resume`] when the answer is ready (libevent lets a
//! callback keep the `evhttp_request` and reply later the same way).
//!
//! # Answering
//!
//! - [`Exchange::respond`]: status, fields and a whole body from a slice; the server adds
//!   `Content-Length`, and sends head and body with one write when they fit in its scratch.
//! - [`Exchange::start`], [`Exchange::send`], [`Exchange::finish`]: a streamed body, with a known
//!   length (`Content-Length`) or not (chunked; close-delimited for an HTTP/1.0 client). `send`
//!   takes what the output can hold under [`ServerConfig::write_high`] and says how much; once it
//!   takes less than it was given, wait for [`Service::writable`], which comes when the output has
//!   drained to [`ServerConfig::write_low`] (the connection's `Outcome::drained`).
//! - The server manages `Content-Length`, `Transfer-Encoding` and `Connection`; a service that
//!   passes one of them gets [`RespondError::ReservedHeader`] (use [`Exchange::close`] to end the
//!   connection after the response). Responses to HEAD carry the head only; 204 and 304 carry no
//!   body. The status line is always `HTTP/1.1` (RFC 9110 §6.2).
//!
//! # Requests, in order
//!
//! One exchange per connection at a time. Pipelined requests wait in the input buffer and are
//! parsed once the previous response is complete and the output is below `write_high`, so
//! responses go out in request order and a client that sends without reading cannot make the
//! output grow. HTTP/1.0 clients get keep-alive when they ask for it (`Connection: keep-alive`,
//! echoed in the response). `Expect: 100-continue` is answered with `100 Continue` after
//! [`Service::request`] returns without a final response; a service that answers at once (with
//! 401 or 413, say) gets its response sent with `Connection: close` and the body is never read
//! (one that only starts a streamed response still gets the body, which the client sends after a
//! while without the 100, and the connection closes after the exchange).
//! A request whose response completes before its body was read has the rest of its body read and
//! dropped (through [`Service::body`], which may still look at it), so the connection stays
//! usable.
//!
//! # Limits, timeouts, errors
//!
//! - The codec's [`Limits`] apply (414, 431, 413 and 400 answers, sent with `Connection: close`);
//!   `max_head_size` is also capped by the scratch size `HEAD`, and the header array by `HDRS`.
//!   Methods outside [`ServerConfig::methods`] get 501 (as libevent's
//!   `evhttp_set_allowed_methods`); unknown methods are refused this way by default.
//! - **Head timeout**: a new connection must deliver a whole head within `head_timeout` of being
//!   accepted, and a kept-alive one within `head_timeout` of the next request's first byte; the
//!   deadline does not move while bytes trickle in (no slowloris). A partial head gets 408, a
//!   connection that sent nothing is closed.
//! - **Idle timeout**: a kept-alive connection with no request for `idle_timeout` is closed.
//! - **Body timeout**: no body bytes for `body_timeout` while a body is expected: 408 (or a close
//!   once a response has started).
//! - **Write timeout**: pending output that makes no progress for `write_timeout` closes the
//!   connection.
//! - After an error response or `Connection: close`, the server flushes, shuts down writing and
//!   reads (and drops) whatever the client still sends until it closes or `linger` passes, so the
//!   client reads the response instead of a reset.
//!
//! # Shutdown, memory, and what is left to the host
//!
//! [`Server::shutdown`] closes the listener, closes idle connections at once, lets exchanges in
//! flight finish (answered with `Connection: close`), and [`Server::is_finished`] says when the
//! last connection is gone. When all `C` slots are busy the server stops accepting (the kernel's
//! backlog holds new clients) until one frees.
//!
//! Memory: the server holds two scratch areas of `HEAD` bytes (request heads and body pieces are
//! copied into one before a callback sees them, response heads are built in the other) and `C`
//! slots (in the memory `M`: inline, or a host's heap) of about 800 bytes plus three buffers of
//! each connection (`B::default()`: input, output, and whole bodies; with a growable host buffer
//! they are allocated per connection when used and reused blocks serve every request, so a
//! request in the steady state allocates nothing). No `Date` field is sent, since the core
//! has no wall clock: a service that has one adds it. `TCP_NODELAY` is a socket option the host
//! sets (on the listening socket, whose accepted sockets inherit it on Linux).

use super::exchange::{Answering, Link, Out, Resp};
pub use super::exchange::{Body, Exchange, RespondError};
use super::methods::Methods;
use super::{BodyDecoder, Framing, Header, Limits, Request, RequestParser, Status, Version};
use super::{parse_fields, reason_phrase};
use crate::buffer::Buffer;
pub use crate::conn::ConnId;
use crate::conn::{
    Conn, ConnEvent, ConnHandler, ConnOptions, ConnTable, Connection, Refusal, Route, SetupError,
    TableConfig,
};
use crate::event::{Event, EventId};
use crate::events::Events;
use crate::io::{Accept, Transport};
use crate::memory::{Inline, Memory};
use crate::time::Tick;
use crate::ws::session::Drive;
use crate::ws::{Role, Session, WsConfig, WsConn, WsEvent};
use core::fmt;
use core::net::SocketAddr;
use core::time::Duration;

/// Engine events a [`Server`] of `conns` connections needs: three per connection (its read and
/// write events and its timer) and two for the listener. A `const fn`, for the engine's capacity:
/// `Engine<Ev, { events_needed(CONNS) }, { CONNS + 8 }, 1>` (one source per connection and one
/// for the listener).
pub const fn events_needed(conns: usize) -> usize {
    crate::conn::events_needed(conns, 1)
}

/// How a [`Server`] behaves (libevent's `evhttp_set_*`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ServerConfig {
    /// The codec's limits on request heads and bodies.
    pub limits: Limits,
    /// Methods the server lets through to the service; others get 501.
    pub methods: Methods,
    /// A whole head must arrive within this long (see the [module documentation](self)).
    pub head_timeout: Option<Duration>,
    /// Close a kept-alive connection after this long without a request.
    pub idle_timeout: Option<Duration>,
    /// Give up on a request body after this long without a byte of it.
    pub body_timeout: Option<Duration>,
    /// Close a connection whose pending output makes no progress for this long.
    pub write_timeout: Option<Duration>,
    /// After shutting down writing, how long to read and drop what the client still sends.
    pub linger: Duration,
    /// [`Service::writable`] comes once the output has drained to this many bytes.
    pub write_low: usize,
    /// [`Exchange::send`] keeps the output at or below this many bytes; pipelined requests wait
    /// while the output is above it.
    pub write_high: usize,
    /// Stop reading a connection while its input holds this many bytes (raised to `HEAD` if
    /// lower, so that a whole head fits).
    pub read_high: usize,
    /// A `Server` field to send, if any.
    pub server_name: Option<&'static str>,
    /// Limits of the WebSocket connections a service accepts
    /// ([`Exchange::accept_websocket`]).
    pub websocket: WsConfig,
}

impl ServerConfig {
    /// Default limits; 30 s for a head, 60 s idle, 30 s without body progress, 30 s without
    /// write progress, 2 s of linger; output kept between 16 and 64 KiB; the default methods.
    pub const DEFAULT: ServerConfig = ServerConfig {
        limits: Limits::DEFAULT,
        methods: Methods::DEFAULT,
        head_timeout: Some(Duration::from_secs(30)),
        idle_timeout: Some(Duration::from_secs(60)),
        body_timeout: Some(Duration::from_secs(30)),
        write_timeout: Some(Duration::from_secs(30)),
        linger: Duration::from_secs(2),
        write_low: 16 * 1024,
        write_high: 64 * 1024,
        read_high: 64 * 1024,
        server_name: None,
        websocket: WsConfig::DEFAULT,
    };
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// How a request's body reaches the [`Service`]: what [`Service::body_mode`] answers.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BodyMode {
    /// In pieces, through [`Service::body`], after [`Service::request`] (the default).
    #[default]
    Stream,
    /// Whole (evhttp's way): the server collects up to `limit` bytes (a larger body is answered
    /// 413) and calls [`Service::request`] once, with the body in [`Exchange::body`]. Trailer
    /// fields of a chunked body are dropped.
    Whole {
        /// The largest body taken.
        limit: usize,
    },
}

/// What [`Service::log`] receives once an exchange is complete: enough for the Common Log
/// Format (`host ident authuser [date] "request" status bytes`), except the date, which the
/// application takes from its own clock.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct LogEntry<'a> {
    /// The connection.
    pub id: ConnId,
    /// The client's address, when the transport knows it.
    pub peer: Option<SocketAddr>,
    /// The request line, `METHOD target HTTP/x.y`, truncated to 256 bytes; empty when the
    /// request was refused before its request line was read.
    pub request_line: &'a str,
    /// The status sent.
    pub status: u16,
    /// Body bytes sent (0 for HEAD).
    pub body_bytes: u64,
}

/// The application's side of a [`Server`]: see the [module documentation](self). Only
/// [`request`](Service::request) is required.
pub trait Service {
    /// A request head arrived. Answer through `ex` now, or keep [`Exchange::id`] and answer
    /// later through [`Server::resume`]. The body, if any, follows through
    /// [`body`](Service::body).
    fn request(&mut self, req: &Request<'_, '_>, ex: &mut Exchange<'_>);

    /// A piece of the request body (in [`BodyMode::Stream`]). Return how many bytes were taken; fewer than `data.len()`
    /// pauses the body (the rest stays in the input, and reading stops once it is full) until the
    /// output drains. The default takes and drops everything.
    fn body(&mut self, data: &[u8], ex: &mut Exchange<'_>) -> usize {
        let _ = ex;
        data.len()
    }

    /// The request body ended (for every request, after an empty body too), with its trailer
    /// fields.
    fn body_end(&mut self, trailers: &[Header<'_>], ex: &mut Exchange<'_>) {
        let _ = (trailers, ex);
    }

    /// The output drained while a streamed response is in progress: [`Exchange::send`] more.
    fn writable(&mut self, ex: &mut Exchange<'_>) {
        let _ = ex;
    }

    /// An exchange is complete (or the server answered an error itself): the access-log hook.
    fn log(&mut self, entry: &LogEntry<'_>) {
        let _ = entry;
    }

    /// Connection `id` closed (error, timeout, client gone) with its exchange unfinished: drop
    /// any state kept to answer it later.
    fn aborted(&mut self, id: ConnId) {
        let _ = id;
    }

    /// How `req`'s body should arrive: streamed through [`body`](Service::body) (the default), or
    /// whole with the request. Asked when the head has arrived, before
    /// [`request`](Service::request); requests without a body never ask.
    fn body_mode(&mut self, req: &Request<'_, '_>) -> BodyMode {
        let _ = req;
        BodyMode::Stream
    }

    /// A connection was accepted and refused (the engine had no room for it) or accepting failed;
    /// the server has logged it already.
    fn refused(&mut self, why: Refusal) {
        let _ = why;
    }

    /// Something happened on a WebSocket this service accepted with
    /// [`Exchange::accept_websocket`]: it opened, a piece of a message arrived, a ping or a pong,
    /// the peer's close, the output drained, the session ended ([`WsEvent`]). Pings are answered
    /// and the close handshake is completed by the server; send through `ws`. The default
    /// ignores everything.
    fn websocket(&mut self, ev: WsEvent<'_>, ws: &mut WsConn<'_>) {
        let _ = (ev, ws);
    }
}

/// Where the request side of a connection is.
#[derive(Clone, Debug)]
enum Rx {
    /// Between requests: nothing of the next one has arrived.
    Idle,
    /// Part of a head has arrived.
    Head,
    /// Reading the body; `held` decoded body bytes wait at the front of the input.
    Body { dec: BodyDecoder, held: usize },
    /// Collecting a whole body ([`BodyMode::Whole`]) after the head, in the slot's `whole`
    /// buffer; `held` as for `Body`.
    Whole {
        dec: BodyDecoder,
        held: usize,
        head_len: usize,
        limit: usize,
    },
    /// The request is read; waiting for the response to complete.
    Done,
    /// The connection became a WebSocket.
    Ws(Session),
}

/// Longest request line kept for the access log.
const LOG_LINE: usize = 256;

/// A connection's one timer, re-armed lazily: moving a deadline later (every request moves the
/// idle deadline) only records it; the engine's timer, armed for an earlier deadline, checks
/// the recorded one when it fires and re-arms for the rest. Moving it earlier re-arms at once.
#[derive(Clone, Copy, Debug)]
struct Timer {
    id: EventId,
    /// When the connection really times out, if it can.
    deadline: Option<Tick>,
    /// When the engine's timer fires, if it is armed.
    armed: Option<Tick>,
}

/// A connection's state beyond its buffered connection: the table's per-connection value.
struct Slot<B> {
    timer: Option<Timer>,
    parser: RequestParser,
    rx: Rx,
    resp: Resp,
    /// An exchange is in progress: a request was parsed and not logged yet.
    active: bool,
    /// Shutting down: output flushing, input dropped, until end of file or the linger timer.
    closing: bool,
    requests: u32,
    line: [u8; LOG_LINE],
    line_len: usize,
    /// A whole body being collected: the request head, then the decoded body.
    whole: B,
}

impl<B: Default> Default for Slot<B> {
    fn default() -> Self {
        Slot {
            timer: None,
            parser: RequestParser::new(Limits::DEFAULT),
            rx: Rx::Idle,
            resp: Resp::NEW,
            active: false,
            closing: false,
            requests: 0,
            line: [0; LOG_LINE],
            line_len: 0,
            whole: B::default(),
        }
    }
}

/// What the state machine wants done with a connection.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Next {
    Keep,
    Close,
}

/// One step of a connection's state machine.
enum Step {
    /// Go on: the state changed.
    Again,
    /// Wait for more input, output room or a timer.
    Wait(Next),
}

/// The HTTP/1.1 server. See the [module documentation](self).
///
/// - `T`: the engine's datum type, `From<Route>`; `H`, `B`: the transport handle and buffer types
///   of its connections.
/// - `C`: the most connections at once.
/// - `HEAD`: the size of each of its two scratch areas, and the largest request head.
/// - `HDRS`: the most header fields in a request head (and trailer fields).
/// - `M`: where the connection slots live ([`Inline`], or a host's heap memory, so that a server
///   for thousands of connections is never on the stack).
pub struct Server<
    T,
    H,
    B,
    const C: usize,
    const HEAD: usize = 8192,
    const HDRS: usize = 64,
    M: Memory = Inline,
> {
    cfg: ServerConfig,
    table: ConnTable<T, H, B, C, Slot<B>, M>,
    shutting_down: bool,
    rx: [u8; HEAD],
    tx: [u8; HEAD],
}

impl<T, H, B, const C: usize, const HEAD: usize, const HDRS: usize, M: Memory> fmt::Debug
    for Server<T, H, B, C, HEAD, HDRS, M>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("connections", &self.table)
            .field("shutting_down", &self.shutting_down)
            .finish()
    }
}

impl<T, H, B, const C: usize, const HEAD: usize, const HDRS: usize, M>
    Server<T, H, B, C, HEAD, HDRS, M>
where
    T: Copy + From<Route>,
    H: Copy + PartialEq + fmt::Debug,
    B: Buffer + Default,
    M: Memory,
{
    /// A server with `config`, not listening yet, whose routes carry tag 0.
    pub fn new(config: ServerConfig) -> Self {
        Self::tagged(config, 0)
    }

    /// A server whose routes carry `tag` ([`Route::tag`]), to tell several servers (or tables) on
    /// one engine apart.
    pub fn tagged(config: ServerConfig, tag: u16) -> Self {
        let mut cfg = config;
        let head_max = HEAD.saturating_sub(1);
        cfg.limits.max_head_size = cfg.limits.max_head_size.min(head_max);
        cfg.limits.max_request_line = cfg.limits.max_request_line.min(head_max);
        if cfg.read_high != 0 {
            cfg.read_high = cfg.read_high.max(HEAD);
        }
        cfg.write_high = cfg.write_high.max(cfg.write_low).max(1);
        let table = TableConfig {
            tag,
            conn: ConnOptions {
                read_low: 0,
                read_high: cfg.read_high,
                write_low: cfg.write_low,
                read_timeout: None,
                write_timeout: cfg.write_timeout,
                close_on_free: true,
            },
            extra_events: 1,
            close_on_eof: false,
            ..TableConfig::default()
        };
        Server {
            cfg,
            table: ConnTable::new(table),
            shutting_down: false,
            rx: [0; HEAD],
            tx: [0; HEAD],
        }
    }

    /// The configuration in force (limits capped by `HEAD`).
    pub fn config(&self) -> &ServerConfig {
        &self.cfg
    }

    /// Accept connections on listening transport `handle` (one listener per server).
    ///
    /// # Errors
    ///
    /// The engine has less room free than `C` connections need ([`events_needed`]), or the
    /// server listens already.
    pub fn bind<IO: Accept<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &IO,
        handle: H,
    ) -> Result<(), SetupError> {
        self.table.listen(events, io, handle)
    }

    /// How many connections are open.
    pub fn connections(&self) -> usize {
        self.table.len()
    }

    /// Whether [`shutdown`](Self::shutdown) was called and every connection is gone.
    pub fn is_finished(&self) -> bool {
        self.shutting_down && self.table.is_empty()
    }

    /// What the server's connection table did so far (connections opened, closed, refused).
    pub fn stats(&self) -> crate::conn::TableStats {
        self.table.stats()
    }

    /// Handle a fired event whose datum carried `route`: accept, read, parse, call `service`,
    /// write. Events that are not the server's (stale ones included) are ignored.
    pub fn handle<IO, S>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        fired: &crate::Fired<T>,
        route: Route,
        service: &mut S,
    ) where
        IO: Accept<Handle = H>,
        S: Service + ?Sized,
    {
        let mut h = Handler::<S, HDRS> {
            cfg: &self.cfg,
            rx: &mut self.rx,
            tx: &mut self.tx,
            shutting: self.shutting_down,
            service,
        };
        self.table.dispatch(events, io, fired, route, &mut h);
    }

    /// Answer a request later: run `f` with the exchange of connection `id` (if it is still
    /// open), then carry on with the connection as after any callback. Returns whether the
    /// connection was found.
    pub fn resume<IO, S>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        id: ConnId,
        service: &mut S,
        f: impl FnOnce(&mut S, &mut Exchange<'_>),
    ) -> bool
    where
        IO: Accept<Handle = H>,
        S: Service + ?Sized,
    {
        let mut h = Handler::<S, HDRS> {
            cfg: &self.cfg,
            rx: &mut self.rx,
            tx: &mut self.tx,
            shutting: self.shutting_down,
            service,
        };
        let mut next = Next::Keep;
        let found = {
            let (cfg, rx, tx, shutting) = (h.cfg, &mut *h.rx, &mut *h.tx, h.shutting);
            let service = &mut *h.service;
            self.table.with(events, io, id, &mut NoEvents, |c| {
                let mut p = Pump::<_, _, _, _, S, HDRS>::new(c, tx, cfg, shutting, service);
                if p.slot.active {
                    p.exchange(false, f);
                }
                next = p.run(rx);
            })
        };
        if found && next == Next::Close {
            // Closed through the server's handler, so the service hears of an unfinished
            // exchange.
            self.table.close(events, io, id, &mut h);
        }
        found
    }

    /// Graceful shutdown: stop accepting (the listening transport is closed), close idle
    /// connections now, and let exchanges in progress finish with `Connection: close`. Keep
    /// handling events until [`is_finished`](Self::is_finished).
    pub fn shutdown<IO: Accept<Handle = H>>(&mut self, events: &mut dyn Events<T>, io: &mut IO) {
        self.shutting_down = true;
        self.table.close_listener(events, io);
        for i in 0..C {
            let Some(id) = self.table.id_at(i) else {
                continue;
            };
            let (tx, cfg) = (&mut self.tx, &self.cfg);
            self.table.with(events, io, id, &mut NoEvents, |c| {
                let (slot, conn, events, io) = c.parts();
                if let Rx::Ws(session) = &mut slot.rx {
                    // A WebSocket goes away with 1001, and closes when the client answers or
                    // `linger` has passed.
                    let mut link = Link { conn, events, io };
                    session.send_close(
                        &mut link,
                        &mut tx[..],
                        slot.resp.id,
                        crate::ws::close::GOING_AWAY,
                    );
                    if slot.timer.is_some_and(|t| t.deadline.is_none()) {
                        arm_slot(events, slot, Some(cfg.linger));
                    }
                    return;
                }
                slot.resp.keep_alive = false;
                let idle = !slot.active
                    && !slot.closing
                    && matches!(slot.rx, Rx::Idle)
                    && conn.input().is_empty();
                if idle {
                    c.close();
                }
            });
        }
    }
}

/// A handler that ignores the table's events: where the caller acts on the connection itself.
/// A connection it closes still has its timer freed by [`Handler`] when the table reports the
/// close through [`Server::handle`] or a later close; here the close is reported as well.
struct NoEvents;

impl<T: Copy, IO: Transport, B: Buffer> ConnHandler<T, IO, B, Slot<B>> for NoEvents {
    fn event(&mut self, c: &mut Conn<'_, T, IO, B, Slot<B>>, ev: ConnEvent) {
        if ev == ConnEvent::Closed {
            free_timer(c);
        }
    }
}

fn free_timer<T: Copy, IO: Transport, B: Buffer>(c: &mut Conn<'_, T, IO, B, Slot<B>>) {
    let (slot, _, events, _) = c.parts();
    if let Some(t) = slot.timer.take() {
        let _ = events.free(t.id);
    }
}

/// The server's side of its connection table: what happens to each connection.
struct Handler<'a, S: ?Sized, const HDRS: usize> {
    cfg: &'a ServerConfig,
    rx: &'a mut [u8],
    tx: &'a mut [u8],
    shutting: bool,
    service: &'a mut S,
}

impl<T, IO, B, S, const HDRS: usize> ConnHandler<T, IO, B, Slot<B>> for Handler<'_, S, HDRS>
where
    T: Copy,
    IO: Transport,
    B: Buffer,
    S: Service + ?Sized,
{
    fn event(&mut self, c: &mut Conn<'_, T, IO, B, Slot<B>>, ev: ConnEvent) {
        let next = match ev {
            ConnEvent::Opened => self.opened(c),
            ConnEvent::Closed => {
                let (slot, ..) = c.parts();
                if slot.active {
                    self.service.aborted(slot.resp.id);
                }
                if matches!(slot.rx, Rx::Ws(_)) {
                    Pump::<_, _, _, _, S, HDRS>::new(
                        c,
                        self.tx,
                        self.cfg,
                        self.shutting,
                        self.service,
                    )
                    .ws_gone();
                }
                free_timer(c);
                return;
            }
            ConnEvent::Fired(id, _) => {
                let mut p = Pump::<_, _, _, _, S, HDRS>::new(
                    c,
                    self.tx,
                    self.cfg,
                    self.shutting,
                    self.service,
                );
                if p.slot.timer.is_none_or(|t| t.id != id) || !p.due() {
                    return;
                }
                p.timeout()
            }
            ConnEvent::Read | ConnEvent::Eof | ConnEvent::Drained => {
                let mut p = Pump::<_, _, _, _, S, HDRS>::new(
                    c,
                    self.tx,
                    self.cfg,
                    self.shutting,
                    self.service,
                );
                let streaming =
                    matches!(p.slot.resp.out, Out::Length(_) | Out::Chunked | Out::Close);
                if ev == ConnEvent::Drained && p.slot.active && streaming {
                    p.exchange(false, |s, ex| s.writable(ex));
                }
                if ev == ConnEvent::Drained
                    && matches!(p.slot.rx, Rx::Ws(_))
                    && let Step::Wait(Next::Close) = p.read_ws(self.rx, true)
                {
                    Next::Close
                } else {
                    p.run(self.rx)
                }
            }
            // The table closes the connection; `Closed` follows.
            _ => return,
        };
        if next == Next::Close {
            c.close();
        }
    }

    fn refused(&mut self, why: Refusal) {
        self.service.refused(why);
    }
}

impl<S: Service + ?Sized, const HDRS: usize> Handler<'_, S, HDRS> {
    /// A new connection: its timer (the head timeout), its parser, its id.
    fn opened<T: Copy, IO: Transport, B: Buffer>(
        &mut self,
        c: &mut Conn<'_, T, IO, B, Slot<B>>,
    ) -> Next {
        let Ok(id) = c.create_event(Event::timer()) else {
            // The table checked the engine's room at bind: only an engine shared with code that
            // took it since gets here.
            warn!("levent: http: no engine event left for a connection's timer");
            return Next::Close;
        };
        let (cid, peer) = (c.id(), c.peer_addr());
        let (slot, _, events, _) = c.parts();
        slot.parser = RequestParser::new(self.cfg.limits);
        slot.resp.id = cid;
        slot.resp.peer = peer;
        let mut timer = Timer {
            id,
            deadline: None,
            armed: None,
        };
        arm(events, &mut timer, self.cfg.head_timeout);
        slot.timer = Some(timer);
        Next::Keep
    }
}

/// One connection's state machine, with everything it touches.
struct Pump<'a, T, H, B, IO, S: ?Sized, const HDRS: usize> {
    slot: &'a mut Slot<B>,
    conn: &'a mut Connection<H, B>,
    events: &'a mut dyn Events<T>,
    io: &'a mut IO,
    tx: &'a mut [u8],
    cfg: &'a ServerConfig,
    shutting: bool,
    service: &'a mut S,
}

impl<'a, T, H, B, IO, S, const HDRS: usize> Pump<'a, T, H, B, IO, S, HDRS>
where
    T: Copy,
    H: Copy + PartialEq + fmt::Debug,
    B: Buffer,
    IO: Transport<Handle = H>,
    S: Service + ?Sized,
{
    fn new<'c>(
        c: &'a mut Conn<'c, T, IO, B, Slot<B>>,
        tx: &'a mut [u8],
        cfg: &'a ServerConfig,
        shutting: bool,
        service: &'a mut S,
    ) -> Pump<'a, T, H, B, IO, S, HDRS>
    where
        IO: Transport<Handle = H>,
    {
        let (slot, conn, events, io) = c.parts();
        Pump {
            slot,
            conn,
            events,
            io,
            tx,
            cfg,
            shutting,
            service,
        }
    }

    /// Run `f` with the service and the exchange of the request in progress; with `whole`, the
    /// exchange carries the body collected for it.
    fn exchange<R>(&mut self, whole: bool, f: impl FnOnce(&mut S, &mut Exchange<'_>) -> R) -> R {
        let mut link = Link {
            conn: &mut *self.conn,
            events: &mut *self.events,
            io: &mut *self.io,
        };
        let body = match self.slot.rx {
            Rx::Whole { head_len, .. } if whole => {
                let len = self.slot.whole.len().saturating_sub(head_len);
                Some(Body::new(&self.slot.whole, head_len, len))
            }
            _ => None,
        };
        let mut ex = Exchange {
            wire: &mut link,
            resp: &mut self.slot.resp,
            tx: &mut *self.tx,
            cfg: Answering {
                write_high: self.cfg.write_high,
                server_name: self.cfg.server_name,
            },
            body,
        };
        f(self.service, &mut ex)
    }

    /// Run the connection's state machine as far as its input and output allow.
    fn run(&mut self, rx: &mut [u8]) -> Next {
        loop {
            let step = if self.slot.closing {
                self.drop_input()
            } else {
                match self.slot.rx {
                    Rx::Idle | Rx::Head => self.read_head(rx),
                    Rx::Body { .. } | Rx::Whole { .. } => self.read_body(rx),
                    Rx::Done => self.complete(),
                    Rx::Ws(_) => self.read_ws(rx, false),
                }
            };
            match step {
                Step::Again => {}
                Step::Wait(next) => return next,
            }
        }
    }

    /// Closing: drop what the client still sends, until it closes.
    fn drop_input(&mut self) -> Step {
        let n = self.conn.input().len();
        self.conn.consume(self.events, n);
        if self.conn.at_eof() && self.conn.output().is_empty() {
            Step::Wait(Next::Close)
        } else {
            Step::Wait(Next::Keep)
        }
    }

    /// Between requests or inside a head: parse what arrived, and start the exchange once the
    /// head is whole.
    fn read_head(&mut self, rx: &mut [u8]) -> Step {
        let idle = matches!(self.slot.rx, Rx::Idle);
        if self.conn.output().len() > self.cfg.write_high {
            return Step::Wait(Next::Keep);
        }
        let avail = self.conn.input().len();
        if avail == 0 {
            let gone = self.conn.at_eof() || (self.shutting && idle);
            return Step::Wait(if gone { Next::Close } else { Next::Keep });
        }
        let n = avail.min(rx.len());
        self.conn
            .input()
            .peek(0, rx.get_mut(..n).unwrap_or_default());
        let head = rx.get(..n).unwrap_or_default();
        let mut hdrs = [Header::EMPTY; HDRS];
        let req = match self.slot.parser.parse(head, &mut hdrs) {
            Ok(Status::Complete(req)) => req,
            Ok(Status::Partial) => {
                if self.conn.input().room() == 0 || n == rx.len() {
                    return self.fail(431);
                }
                if self.conn.at_eof() {
                    return Step::Wait(Next::Close);
                }
                if idle && self.slot.parser.started() {
                    self.slot.rx = Rx::Head;
                    if self.slot.requests > 0 {
                        arm_slot(self.events, self.slot, self.cfg.head_timeout);
                    }
                }
                return Step::Wait(Next::Keep);
            }
            Err(e) => return self.fail(e.status()),
        };
        self.start_exchange(&req, head.get(..req.head_len()).unwrap_or_default())
    }

    /// A whole head arrived: set the exchange up and tell the service (or, for a whole body,
    /// start collecting it).
    fn start_exchange(&mut self, req: &Request<'_, '_>, raw: &[u8]) -> Step {
        self.slot.requests = self.slot.requests.saturating_add(1);
        record_line(self.slot, req);
        let method = Methods::of(req.method());
        let framing = req.framing();
        let keep = req.keep_alive() && !self.shutting;
        self.slot.resp = Resp {
            head: method == Methods::HEAD,
            version: req.version(),
            keep_alive: keep,
            ..Resp {
                id: self.slot.resp.id,
                peer: self.slot.resp.peer,
                ..Resp::NEW
            }
        };
        self.slot.active = true;
        self.slot.parser.reset();
        self.conn.consume(self.events, req.head_len());
        // The head timer stays armed: it is ignored once the request is read, and re-armed
        // (cheaply, to a later deadline) for the body or the next request.
        let has_body = framing != Framing::None;
        let dec = BodyDecoder::new(framing, &self.cfg.limits);
        self.slot.rx = Rx::Body {
            dec: dec.clone(),
            held: 0,
        };
        if !self.cfg.methods.contains(method) {
            return self.fail(501);
        }
        let expect = req.expects_continue() && has_body;
        if has_body && let BodyMode::Whole { limit } = self.service.body_mode(req) {
            if req.content_length().is_some_and(|n| n > limit as u64) {
                return self.fail(413);
            }
            // Keep the head for the request callback, which comes with the whole body.
            let whole = &mut self.slot.whole;
            let _ = whole.drain(whole.len());
            if whole.append(raw) < raw.len() {
                return self.fail(431);
            }
            self.slot.rx = Rx::Whole {
                dec,
                held: 0,
                head_len: req.head_len(),
                limit,
            };
            if expect {
                self.conn
                    .write(self.events, self.io, b"HTTP/1.1 100 Continue\r\n\r\n");
            }
            arm_slot(self.events, self.slot, self.cfg.body_timeout);
            return Step::Again;
        }
        if expect {
            // An answer given before the body was asked for ends the connection.
            self.slot.resp.keep_alive = false;
        }
        self.exchange(false, |s, ex| s.request(req, ex));
        if expect {
            match self.slot.resp.out {
                Out::Waiting => {
                    self.slot.resp.keep_alive = keep;
                    self.conn
                        .write(self.events, self.io, b"HTTP/1.1 100 Continue\r\n\r\n");
                }
                // Answered without the body: it is not read, and the connection ends.
                Out::Done => self.slot.rx = Rx::Done,
                // A response streaming already: the client sends the body without a 100 (RFC
                // 9110 §10.1.1), and the connection ends after it.
                _ => {}
            }
        }
        if has_body && matches!(self.slot.rx, Rx::Body { .. }) {
            arm_slot(self.events, self.slot, self.cfg.body_timeout);
        }
        Step::Again
    }

    /// Reading a body: hand the decoded pieces to the service (or collect them), then end it.
    fn read_body(&mut self, rx: &mut [u8]) -> Step {
        let held = match self.slot.rx {
            Rx::Body { held, .. } | Rx::Whole { held, .. } => held,
            _ => 0,
        };
        if held > 0 {
            return self.held_body(rx, held);
        }
        let (dec, whole) = match &mut self.slot.rx {
            Rx::Body { dec, .. } => (dec, false),
            Rx::Whole { dec, .. } => (dec, true),
            _ => return Step::Again,
        };
        let input = self.conn.input();
        let first = input.chunk_at(0);
        let mut decoded = dec.decode(first);
        let mut scratch = false;
        if matches!(&decoded, Ok(d) if d.consumed == 0 && !d.done) && input.len() > first.len() {
            // A chunk line split across the buffer's pieces: decode a contiguous copy.
            let n = input.len().min(rx.len());
            input.peek(0, rx.get_mut(..n).unwrap_or_default());
            decoded = dec.decode(rx.get(..n).unwrap_or_default());
            scratch = true;
        }
        let d = match decoded {
            Ok(d) => d,
            Err(e) if self.slot.resp.out == Out::Waiting => return self.fail(e.status()),
            Err(_) => return Step::Wait(Next::Close),
        };
        if !d.data.is_empty() {
            if let Rx::Body { held, .. } | Rx::Whole { held, .. } = &mut self.slot.rx {
                *held = d.data.len();
            }
            self.conn.consume(self.events, d.data.start);
            return Step::Again;
        }
        if d.done {
            let t = d.trailers.clone();
            if !scratch && !t.is_empty() {
                let view = rx.get_mut(..t.end).unwrap_or_default();
                self.conn.input().peek(0, view);
            }
            self.conn.consume(self.events, d.consumed);
            if whole {
                return self.whole_request(rx);
            }
            self.slot.rx = Rx::Done;
            if t.is_empty() {
                self.exchange(false, |s, ex| s.body_end(&[], ex));
            } else {
                let mut th = [Header::EMPTY; HDRS];
                let section = rx.get(t).unwrap_or_default();
                let trailers = parse_fields(section, &mut th).unwrap_or_default();
                self.exchange(false, |s, ex| s.body_end(trailers, ex));
            }
            return Step::Again;
        }
        if d.consumed > 0 {
            self.conn.consume(self.events, d.consumed);
            arm_slot(self.events, self.slot, self.cfg.body_timeout);
            return Step::Again;
        }
        Step::Wait(if self.conn.at_eof() {
            Next::Close
        } else {
            Next::Keep
        })
    }

    /// `held` decoded body bytes wait at the front of the input: give them to the service, or
    /// collect them for a whole body.
    fn held_body(&mut self, rx: &mut [u8], held: usize) -> Step {
        let n = held.min(rx.len());
        let n = self
            .conn
            .input()
            .peek(0, rx.get_mut(..n).unwrap_or_default());
        let piece = rx.get(..n).unwrap_or_default();
        let took = match self.slot.rx {
            Rx::Whole {
                head_len, limit, ..
            } => {
                let whole = &mut self.slot.whole;
                if whole.len() - head_len + n > limit || whole.append(piece) < n {
                    return self.fail(413);
                }
                n
            }
            _ => self.exchange(false, |s, ex| s.body(piece, ex)).min(n),
        };
        self.conn.consume(self.events, took);
        if let Rx::Body { held, .. } | Rx::Whole { held, .. } = &mut self.slot.rx {
            *held -= took;
        }
        if took > 0 {
            arm_slot(self.events, self.slot, self.cfg.body_timeout);
        }
        if took < n || n == 0 {
            Step::Wait(Next::Keep)
        } else {
            Step::Again
        }
    }

    /// A whole body is in: parse the kept head again and hand the request over with its body.
    fn whole_request(&mut self, rx: &mut [u8]) -> Step {
        let Rx::Whole { head_len, .. } = self.slot.rx else {
            return Step::Again;
        };
        let n = self
            .slot
            .whole
            .peek(0, rx.get_mut(..head_len).unwrap_or_default());
        let mut hdrs = [Header::EMPTY; HDRS];
        let mut parser = RequestParser::new(self.cfg.limits);
        let Ok(Status::Complete(req)) = parser.parse(rx.get(..n).unwrap_or_default(), &mut hdrs)
        else {
            // The head parsed once already: only a mistake of ours gets here.
            return self.fail(500);
        };
        self.exchange(true, |s, ex| s.request(&req, ex));
        let whole = &mut self.slot.whole;
        let _ = whole.drain(whole.len());
        self.slot.rx = Rx::Done;
        Step::Again
    }

    /// The request is read: once its response is complete, log it, then take the next request
    /// or close.
    fn complete(&mut self) -> Step {
        if self.slot.resp.out == Out::Upgraded {
            return self.upgrade();
        }
        if self.slot.resp.out != Out::Done {
            if self.conn.at_eof() {
                self.slot.resp.keep_alive = false;
            }
            return Step::Wait(Next::Keep);
        }
        self.log();
        if self.slot.resp.keep_alive && !self.shutting && !self.conn.at_eof() {
            self.slot.rx = Rx::Idle;
            arm_slot(self.events, self.slot, self.cfg.idle_timeout);
            return Step::Again;
        }
        self.start_closing()
    }

    /// The connection's timer fired and its deadline has come.
    fn timeout(&mut self) -> Next {
        if self.slot.closing {
            return Next::Close;
        }
        let step = match self.slot.rx {
            Rx::Idle => return Next::Close,
            Rx::Head => self.fail(408),
            Rx::Body { .. } | Rx::Whole { .. } if self.slot.resp.out == Out::Waiting => {
                self.fail(408)
            }
            Rx::Body { .. } | Rx::Whole { .. } => return Next::Close,
            Rx::Done => return Next::Keep,
            // Armed only while our close frame waits for the peer's.
            Rx::Ws(_) => return Next::Close,
        };
        match step {
            Step::Wait(next) => next,
            Step::Again => Next::Keep,
        }
    }

    /// Whether the engine's timer firing means the connection's deadline has come (else it is
    /// re-armed for the rest).
    fn due(&mut self) -> bool {
        match self.slot.timer.as_mut() {
            Some(t) => due(self.events, t),
            None => false,
        }
    }

    /// Answer `status` with `Connection: close` (if nothing was sent yet), log it, and close.
    fn fail(&mut self, status: u16) -> Step {
        if self.slot.resp.out != Out::Waiting {
            return Step::Wait(Next::Close);
        }
        debug!("levent: http: answering {} and closing", status);
        if !self.slot.active {
            self.slot.line_len = 0;
            self.slot.resp.head = false;
            self.slot.resp.version = Version::HTTP_11;
            self.slot.resp.sent = 0;
        }
        self.slot.resp.keep_alive = false;
        let mut body = [0u8; 64];
        let reason = reason_phrase(status).unwrap_or("Error").as_bytes();
        let n = reason.len().min(body.len() - 1);
        body[..n].copy_from_slice(&reason[..n]);
        body[n] = b'\n';
        let text = [Header {
            name: "Content-Type",
            value: b"text/plain",
        }];
        let sent = self.exchange(false, |_, ex| ex.try_respond(status, &text, &body[..=n]));
        if sent.is_err() {
            return Step::Wait(Next::Close);
        }
        self.log();
        self.start_closing()
    }

    /// The exchange is over: tell the service's access log.
    fn log(&mut self) {
        let slot = &mut *self.slot;
        slot.active = false;
        let line = slot
            .line
            .get(..slot.line_len)
            .and_then(|l| core::str::from_utf8(l).ok())
            .unwrap_or_default();
        self.service.log(&LogEntry {
            id: slot.resp.id,
            peer: slot.resp.peer,
            request_line: line,
            status: slot.resp.status,
            body_bytes: slot.resp.sent,
        });
    }

    /// The 101 went out and the request is read: the connection becomes a WebSocket.
    fn upgrade(&mut self) -> Step {
        self.log();
        if let Some(t) = self.slot.timer.as_mut() {
            t.deadline = None;
        }
        let mut session = Session::new(Role::Server, self.cfg.websocket, 0);
        let mut link = Link {
            conn: &mut *self.conn,
            events: &mut *self.events,
            io: &mut *self.io,
        };
        self.service.websocket(
            WsEvent::Open,
            &mut session.conn_for(&mut link, self.tx, self.slot.resp.id),
        );
        self.slot.rx = Rx::Ws(session);
        Step::Again
    }

    /// A WebSocket: read frames and hand them to the service (`drained`: tell it first that the
    /// output drained).
    fn read_ws(&mut self, rx: &mut [u8], drained: bool) -> Step {
        let Rx::Ws(session) = &mut self.slot.rx else {
            return Step::Again;
        };
        let service = &mut *self.service;
        let mut handler = |ev: WsEvent<'_>, ws: &mut WsConn<'_>| service.websocket(ev, ws);
        let drive = session.drive(
            &mut *self.conn,
            &mut *self.events,
            &mut *self.io,
            rx,
            &mut *self.tx,
            self.slot.resp.id,
            self.cfg.write_high,
            drained,
            &mut handler,
        );
        let waiting_for_close = session.close_sent();
        match drive {
            Drive::Keep => {
                if waiting_for_close && self.slot.timer.is_some_and(|t| t.deadline.is_none()) {
                    arm_slot(self.events, self.slot, Some(self.cfg.linger));
                }
                Step::Wait(Next::Keep)
            }
            Drive::Finish => self.start_closing(),
            Drive::Close => Step::Wait(Next::Close),
        }
    }

    /// The connection goes away (closed by the table, or by the server shutting down): a
    /// WebSocket on it ends, with 1006 if no close handshake happened.
    fn ws_gone(&mut self) {
        let Rx::Ws(session) = &mut self.slot.rx else {
            return;
        };
        let service = &mut *self.service;
        let mut handler = |ev: WsEvent<'_>, ws: &mut WsConn<'_>| service.websocket(ev, ws);
        let mut link = Link {
            conn: &mut *self.conn,
            events: &mut *self.events,
            io: &mut *self.io,
        };
        session.end(&mut link, self.tx, self.slot.resp.id, &mut handler);
    }

    /// Flush, shut down writing, and read (and drop) what the client still sends until it
    /// closes or `linger` passes, so it reads the response instead of a reset.
    fn start_closing(&mut self) -> Step {
        self.slot.closing = true;
        self.slot.rx = Rx::Idle;
        if self.conn.shutdown(self.events, self.io).is_err() {
            return Step::Wait(Next::Close);
        }
        arm_slot(self.events, self.slot, Some(self.cfg.linger));
        self.drop_input()
    }
}

/// Keep the request line for the access log.
fn record_line<B>(slot: &mut Slot<B>, req: &Request<'_, '_>) {
    // The parser accepts single digits only, so the fallback is never logged.
    let version = super::encode::check_version(req.version()).unwrap_or(*b"HTTP/?.?");
    let mut pos = 0;
    for part in [
        req.method().as_bytes(),
        b" ",
        req.target().as_bytes(),
        b" ",
        &version,
    ] {
        let room = LOG_LINE - pos;
        let n = part.len().min(room);
        if let (Some(dst), Some(src)) = (slot.line.get_mut(pos..pos + n), part.get(..n)) {
            dst.copy_from_slice(src);
        }
        pos += n;
    }
    slot.line_len = pos;
}

/// Time the connection of `slot` out `after` from now, or never.
fn arm_slot<T, B>(events: &mut dyn Events<T>, slot: &mut Slot<B>, after: Option<Duration>) {
    if let Some(t) = slot.timer.as_mut() {
        arm(events, t, after);
    }
}

/// Time a connection out `after` from now (see [`Timer`]), or never.
fn arm<T>(events: &mut dyn Events<T>, timer: &mut Timer, after: Option<Duration>) {
    let Some(d) = after else {
        // A timer still armed fires and finds no deadline.
        timer.deadline = None;
        return;
    };
    let now = events.now();
    let want = events
        .platform()
        .clock
        .ticks(d)
        .map_or(Tick::MAX, |t| now.saturating_add(t));
    timer.deadline = Some(want);
    if timer.armed.is_none_or(|at| at > want) && events.add(timer.id, Some(d)).is_ok() {
        timer.armed = Some(want);
    }
}

/// The engine's timer fired: whether the connection's deadline has come (else it is re-armed
/// for the rest).
fn due<T>(events: &mut dyn Events<T>, timer: &mut Timer) -> bool {
    timer.armed = None;
    let Some(deadline) = timer.deadline else {
        return false;
    };
    let now = events.now();
    if now >= deadline {
        return true;
    }
    let rest = events.platform().clock.duration(deadline - now);
    if events.add(timer.id, Some(rest)).is_ok() {
        timer.armed = Some(deadline);
    }
    false
}
