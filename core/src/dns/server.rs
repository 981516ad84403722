//! A DNS server port (libevent's `evdns_add_server_port`), as a sans-IO state machine: it reads
//! questions from a UDP socket and from TCP connections, and the application answers each one.
//!
//! The application opens the sockets (a UDP socket with [`Datagram::bind`], a TCP listener with
//! its storage's `listen`), hands their handles to [`Server::serve_udp`] and
//! [`Server::serve_tcp`], and forwards every fired event carrying the server's [`Route`] (its
//! events carry `T::from(route)`, with [`Config::tag`](crate::conn::TableConfig::tag) telling
//! several servers on one engine apart) to [`Server::handle`]. That returns a [`Request`] when a whole query has arrived: look at its
//! [`message`](Request::message), then answer it once, with records
//! ([`Request::reply`]), with a [`MessageBuilder`] for anything else ([`Request::respond`]), with
//! raw bytes ([`Request::send_raw`], for tests that need a misbehaving server), or not at all
//! (drop the request). libevent calls a callback per request; returning the request as a value
//! keeps the application's state in its own hands (no callback or context stored).
//!
//! - **UDP answers fit what the client can take**: 512 bytes, or the payload size its EDNS
//!   record advertises (at most the server's buffer, `M` bytes). Records that do not fit are
//!   left out and the TC flag is set, so the client asks again over TCP (RFC 1035 §4.2.1,
//!   RFC 7766). A query with EDNS gets EDNS in its reply when it fits (RFC 6891 §7).
//! - **TCP** connections live in a [`ConnTable`] of `C` connections with buffers `B`; queries
//!   are framed with a 2-byte length (several per connection, pipelined, answered in order), and
//!   a connection is closed after 10 s without a query, or once a client that closed its side
//!   has all its answers. While all `C` are busy, new connections wait in the kernel's backlog.
//! - **Malformed queries** (anything [`Message::parse`] refuses, responses, or queries without
//!   exactly one question) are answered FORMERR when their header can be read, and otherwise
//!   dropped; neither ever reaches the application.

use super::builder::MessageBuilder;
use super::error::EncodeError;
use super::message::{HEADER_LEN, Message, Record};
use super::types::{Flags, Rcode};
use crate::buffer::Buffer;
use crate::conn::{
    Conn, ConnEvent, ConnId, ConnOptions, ConnTable, NoHandler, Route, SetupError, TableConfig,
};
use crate::error::Rejected;
use crate::event::{Event, EventId, Fired, Ready};
use crate::events::Events;
use crate::io::{Accept, Datagram, IoError, Transport};
use core::fmt;
use core::net::SocketAddr;
use core::time::Duration;

/// Where a request came from, and so where its answer goes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Origin {
    /// A UDP datagram from this address.
    Udp(SocketAddr),
    /// A TCP connection.
    Tcp(ConnId),
}

/// A DNS server port for one UDP socket and one TCP listener with up to `C` connections, over
/// transport handles `H`, TCP buffers `B` and messages of up to `M` bytes; its events carry
/// `T::from(route)`. See the [module documentation](self).
pub struct Server<T, H, B, const C: usize, const M: usize = 4096> {
    wake: EventId,
    udp: Option<(H, EventId)>,
    table: ConnTable<T, H, B, C>,
    query: [u8; M],
    reply: [u8; M],
}

impl<T, H, B, const C: usize, const M: usize> fmt::Debug for Server<T, H, B, C, M>
where
    H: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("udp", &self.udp.as_ref().map(|u| &u.0))
            .field("tcp", &self.table)
            .finish_non_exhaustive()
    }
}

const IDLE: Duration = Duration::from_secs(10);

impl<T, H, B, const C: usize, const M: usize> Server<T, H, B, C, M>
where
    T: Copy + From<Route>,
    H: Copy + PartialEq + fmt::Debug,
    B: Buffer + Default,
{
    /// A server with no socket yet, whose events carry routes tagged `tag`.
    ///
    /// # Errors
    ///
    /// The engine has no room for its wake-up event; the datum is handed back.
    pub fn new(events: &mut dyn Events<T>, tag: u16) -> Result<Self, Rejected<T>> {
        let wake = events.create(Event::user(), T::from(Route::listener(tag)))?;
        let cfg = TableConfig {
            tag,
            conn: ConnOptions {
                read_timeout: Some(IDLE),
                write_timeout: Some(IDLE),
                ..ConnOptions::DEFAULT
            },
            // A client that closed its side still gets its answers (see `finished`).
            close_on_eof: false,
            ..TableConfig::default()
        };
        Ok(Server {
            wake,
            udp: None,
            table: ConnTable::new(cfg),
            query: [0; M],
            reply: [0; M],
        })
    }

    fn route(&self) -> Route {
        Route::listener(self.table.config().tag)
    }

    /// Answer questions arriving on UDP socket `socket` (bound by the application).
    ///
    /// # Errors
    ///
    /// The engine has no room for the socket's read event.
    pub fn serve_udp<IO: Datagram<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &IO,
        socket: H,
    ) -> Result<(), Rejected<T>> {
        let datum = T::from(self.route());
        let ev = events.start(Event::read(io.source(socket)).persist(), datum, None)?;
        self.udp = Some((socket, ev));
        Ok(())
    }

    /// Accept TCP connections on listening transport `listener` and answer their questions.
    ///
    /// # Errors
    ///
    /// The engine has no room for the listener and all `C` connections
    /// ([`SetupError::TooSmall`]).
    pub fn serve_tcp<IO: Accept<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &IO,
        listener: H,
    ) -> Result<(), SetupError> {
        self.table.listen(events, io, listener)
    }

    /// The UDP socket served, if any.
    pub fn udp_socket(&self) -> Option<H> {
        self.udp.map(|u| u.0)
    }

    /// How many TCP connections are open.
    pub fn connections(&self) -> usize {
        self.table.len()
    }

    /// Send a datagram from the server's UDP socket: an answer given later than its
    /// [`Request`] (a delayed reply, say), built by the application.
    ///
    /// # Errors
    ///
    /// No UDP socket is served, or the send failed.
    pub fn send_udp<IO: Datagram<Handle = H>>(
        &mut self,
        io: &mut IO,
        to: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), IoError> {
        let (socket, _) = self.udp.ok_or(IoError::Closed)?;
        io.send_to(socket, bytes, to).map(|_| ())
    }

    /// Handle a fired event whose datum carried `route`: accept connections, read queries;
    /// returns the next query to answer, if one has arrived. When more may be waiting the server
    /// re-activates its event, so the loop brings it back here.
    pub fn handle<IO>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        fired: &Fired<T>,
        route: Route,
    ) -> Option<Request<'_, T, H, B, C, M>>
    where
        IO: Datagram<Handle = H> + Accept<Handle = H>,
    {
        if route.slot().is_none() {
            if let Some((socket, ev)) = self.udp
                && fired.id == ev
            {
                return self.read_udp(events, io, socket, ev);
            }
            if fired.id == self.wake {
                return self.next_tcp_query(events, io);
            }
        }
        let mut readable = false;
        self.table.handle(events, io, fired, route, |c, ev| {
            readable |= ev == ConnEvent::Read;
            if matches!(ev, ConnEvent::Read | ConnEvent::Drained | ConnEvent::Eof) && finished(c) {
                c.close();
            }
        });
        if readable {
            let _ = events.activate(self.wake, Ready::USER);
        }
        None
    }

    fn read_udp<IO>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        socket: H,
        ev: EventId,
    ) -> Option<Request<'_, T, H, B, C, M>>
    where
        IO: Datagram<Handle = H> + Accept<Handle = H>,
    {
        let (len, from) = loop {
            let (n, from) = match io.recv_from(socket, &mut self.query) {
                Ok(r) => r,
                Err(IoError::Interrupted) => continue,
                Err(_) => return None,
            };
            let n = n.min(M);
            match check(&self.query[..n]) {
                Check::Query => break (n, from),
                Check::FormErr => {
                    if let Ok(bytes) = formerr(&self.query[..n], &mut self.reply) {
                        let _ = io.send_to(socket, bytes, from);
                    }
                }
                Check::Drop => {}
            }
        };
        // More queries may be waiting: come back in this pass.
        let _ = events.activate(ev, Ready::READ);
        self.request(len, Origin::Udp(from))
    }

    /// The next whole query waiting in a TCP connection's input.
    fn next_tcp_query<IO>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
    ) -> Option<Request<'_, T, H, B, C, M>>
    where
        IO: Datagram<Handle = H> + Accept<Handle = H>,
    {
        let mut found = None;
        for slot in 0..C {
            let Some(id) = self.table.id_at(slot) else {
                continue;
            };
            let (query, reply) = (&mut self.query, &mut self.reply);
            self.table.with(events, io, id, &mut NoHandler, |c| {
                found = take_query(c, query, reply).map(|len| (id, len));
            });
            if found.is_some() {
                break;
            }
        }
        let (id, len) = found?;
        // Another connection (or this one) may hold a further query.
        let _ = events.activate(self.wake, Ready::USER);
        self.request(len, Origin::Tcp(id))
    }

    fn request(&mut self, len: usize, origin: Origin) -> Option<Request<'_, T, H, B, C, M>> {
        let msg = Message::parse(&self.query[..len]).ok()?;
        Some(Request {
            msg,
            origin,
            reply: &mut self.reply,
            udp: self.udp.map(|u| u.0),
            table: &mut self.table,
        })
    }

    /// Close the sockets and connections and free every event.
    pub fn close<IO>(mut self, events: &mut dyn Events<T>, io: &mut IO)
    where
        IO: Datagram<Handle = H> + Accept<Handle = H>,
    {
        for slot in 0..C {
            if let Some(id) = self.table.id_at(slot) {
                self.table.close(events, io, id, &mut NoHandler);
            }
        }
        self.table.close_listener(events, io);
        if let Some((socket, ev)) = self.udp.take() {
            let _ = events.free(ev);
            Datagram::close(io, events, socket);
        }
        let _ = events.free(self.wake);
    }
}

/// A client that closed its side is done once its last answer has gone out.
fn finished<T: Copy, IO: Transport, B: Buffer, U>(c: &Conn<'_, T, IO, B, U>) -> bool {
    c.at_eof() && !has_query(c.input()) && c.output().is_empty()
}

/// Take the next whole query out of `c`'s input into `query`, answering FORMERR (with `reply`
/// as scratch) to unreadable ones and dropping the connection when a length is too large for
/// `query`. Returns its length.
fn take_query<T: Copy, IO: Transport, B: Buffer, U>(
    c: &mut Conn<'_, T, IO, B, U>,
    query: &mut [u8],
    reply: &mut [u8],
) -> Option<usize> {
    while has_query(c.input()) {
        let mut head = [0u8; 2];
        c.input().peek(0, &mut head);
        let len = usize::from(u16::from_be_bytes(head));
        let Some(q) = query.get_mut(..len) else {
            // Longer than any question levent answers: drop the connection.
            c.close();
            return None;
        };
        c.input().peek(2, q);
        c.consume(2 + len);
        match check(q) {
            Check::Query => return Some(len),
            Check::FormErr => {
                if let Ok(bytes) = formerr(q, reply) {
                    write_framed(c, bytes);
                }
            }
            Check::Drop => {}
        }
    }
    if finished(c) {
        c.close();
    }
    None
}

fn has_query<B: Buffer>(input: &B) -> bool {
    let mut head = [0u8; 2];
    input.peek(0, &mut head) == 2 && input.len() >= 2 + usize::from(u16::from_be_bytes(head))
}

fn write_framed<T: Copy, IO: Transport, B: Buffer, U>(
    c: &mut Conn<'_, T, IO, B, U>,
    bytes: &[u8],
) -> bool {
    let head = (bytes.len() as u16).to_be_bytes();
    c.write(&head) == 2 && c.write(bytes) == bytes.len()
}

enum Check {
    Query,
    FormErr,
    Drop,
}

/// Whether `bytes` is a query the application should see.
fn check(bytes: &[u8]) -> Check {
    match Message::parse(bytes) {
        Ok(m) if !m.is_response() && m.question_count() == 1 => Check::Query,
        Ok(m) if m.is_response() => Check::Drop,
        _ if bytes.len() >= HEADER_LEN && bytes[2] & 0x80 == 0 => Check::FormErr,
        _ => Check::Drop,
    }
}

/// A FORMERR reply to an unreadable query: its id and opcode, no question.
fn formerr<'b>(query: &[u8], out: &'b mut [u8]) -> Result<&'b [u8], EncodeError> {
    let mut b = MessageBuilder::new(out);
    let h = b.header_mut();
    h.id = u16::from_be_bytes([query[0], query[1]]);
    h.flags = Flags::QR;
    h.opcode = super::types::Opcode::new((query[2] >> 3) & 0xF).unwrap_or_default();
    h.rcode = Rcode::FORMERR;
    b.finish()
}

/// A query to answer, as [`Server::handle`] returns it. Answer it once, or drop it to send
/// nothing.
pub struct Request<'s, T, H, B, const C: usize, const M: usize> {
    msg: Message<'s>,
    origin: Origin,
    reply: &'s mut [u8; M],
    udp: Option<H>,
    table: &'s mut ConnTable<T, H, B, C>,
}

impl<T, H: fmt::Debug, B, const C: usize, const M: usize> fmt::Debug
    for Request<'_, T, H, B, C, M>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("message", &self.msg)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl<'s, T, H, B, const C: usize, const M: usize> Request<'s, T, H, B, C, M>
where
    T: Copy,
    H: Copy + PartialEq + fmt::Debug,
    B: Buffer + Default,
{
    /// The query (exactly one question; see [`Message::question`]).
    pub fn message(&self) -> Message<'s> {
        self.msg
    }

    /// Where it came from.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// The largest reply the client takes: 512 bytes over UDP, or its EDNS payload size; the
    /// server's buffer size over TCP.
    pub fn max_reply(&self) -> usize {
        match self.origin {
            Origin::Udp(_) => self
                .msg
                .edns()
                .map_or(512, |e| usize::from(e.udp_payload_size).max(512))
                .min(M),
            Origin::Tcp(_) => M.min(super::message::MAX_MESSAGE_LEN),
        }
    }

    /// Answer with `rcode` and `answers` (in the answer section, in order), authoritatively.
    /// Over UDP, records that do not fit are left out and TC is set.
    ///
    /// # Errors
    ///
    /// The reply could not be sent (the socket or connection failed); a record that cannot be
    /// encoded (a TXT string over 255 bytes) is [`IoError::Other`].
    pub fn reply<IO: Datagram<Handle = H> + Transport<Handle = H>>(
        self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        rcode: Rcode,
        answers: &[Record<'_>],
    ) -> Result<(), IoError> {
        self.respond(events, io, rcode, true, |b| {
            for r in answers {
                b.record(
                    super::types::Section::Answer,
                    r.name,
                    r.class,
                    r.ttl,
                    &r.data,
                )?;
            }
            Ok(())
        })
    }

    /// Answer with a reply started by [`MessageBuilder::reply`] (id, flags and question copied,
    /// `rcode`, AA if `authoritative`, EDNS added if the query had it) and filled by `fill`.
    /// When `fill` runs out of room ([`EncodeError::NoSpace`]) the reply goes out with what fit
    /// and TC set.
    ///
    /// # Errors
    ///
    /// As [`reply`](Self::reply).
    pub fn respond<IO: Datagram<Handle = H> + Transport<Handle = H>>(
        self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        rcode: Rcode,
        authoritative: bool,
        fill: impl FnOnce(&mut MessageBuilder<'_>) -> Result<(), EncodeError>,
    ) -> Result<(), IoError> {
        let limit = self.max_reply();
        let msg = self.msg;
        let edns = msg.edns().map(|_| {
            super::rdata::Edns::new(u16::try_from(M.min(65_535)).unwrap_or(u16::MAX).max(512))
        });
        let Request {
            origin,
            reply,
            udp,
            table,
            ..
        } = self;
        let (body, _) = reply.split_at_mut(limit);
        let mut b = MessageBuilder::reply(body, &msg, rcode, authoritative)
            .map_err(|_| IoError::Other(0))?;
        match fill(&mut b) {
            Ok(()) => {}
            Err(EncodeError::NoSpace) => b.header_mut().flags |= Flags::TC,
            Err(_) => return Err(IoError::Other(0)),
        }
        // EDNS goes in when it fits (RFC 6891 §7 asks for it; a full reply goes without).
        if let Some(e) = edns {
            let _ = b.edns(&e);
        }
        let bytes = b.finish().map_err(|_| IoError::Other(0))?;
        send(origin, udp, table, events, io, bytes)
    }

    /// Send `bytes` as the answer, whatever they are (tests use it to play a server that sends a
    /// wrong id, a wrong question or garbage).
    ///
    /// # Errors
    ///
    /// As [`reply`](Self::reply).
    pub fn send_raw<IO: Datagram<Handle = H> + Transport<Handle = H>>(
        self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        bytes: &[u8],
    ) -> Result<(), IoError> {
        send(self.origin, self.udp, self.table, events, io, bytes)
    }
}

fn send<H, B, T, IO, const C: usize>(
    origin: Origin,
    udp: Option<H>,
    table: &mut ConnTable<T, H, B, C>,
    events: &mut dyn Events<T>,
    io: &mut IO,
    bytes: &[u8],
) -> Result<(), IoError>
where
    H: Copy + PartialEq + fmt::Debug,
    B: Buffer + Default,
    T: Copy,
    IO: Datagram<Handle = H> + Transport<Handle = H>,
{
    match origin {
        Origin::Udp(to) => {
            let socket = udp.ok_or(IoError::Closed)?;
            io.send_to(socket, bytes, to).map(|_| ())
        }
        Origin::Tcp(id) => {
            let mut sent = None;
            table.with(events, io, id, &mut NoHandler, |c| {
                sent = Some(write_framed(c, bytes));
            });
            match sent {
                Some(true) => Ok(()),
                Some(false) => Err(IoError::WouldBlock),
                None => Err(IoError::Closed),
            }
        }
    }
}
