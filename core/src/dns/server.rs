//! A DNS server port (libevent's `evdns_add_server_port`), as a sans-IO state machine: it reads
//! questions from a UDP socket and from TCP connections, and the application answers each one.
//!
//! The application opens the sockets (a UDP socket with [`Datagram::bind`], a TCP listener with
//! its storage's `listen`), hands their handles to [`Server::serve_udp`] and
//! [`Server::serve_tcp`], and forwards every fired event carrying the server's datum to
//! [`Server::handle`]. That returns a [`Request`] when a whole query has arrived: look at its
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
//! - **TCP** connections use the core's [`Connection`] with buffers `B`, read queries framed
//!   with a 2-byte length (several per connection, pipelined, answered in order), and are closed
//!   after 10 s without a query, or once a client that closed its side has all its answers. At most `C` connections are open;
//!   beyond that a new one is closed at once.
//! - **Malformed queries** (anything [`Message::parse`] refuses, responses, or queries without
//!   exactly one question) are answered FORMERR when their header can be read, and otherwise
//!   dropped; neither ever reaches the application.

use super::builder::MessageBuilder;
use super::error::EncodeError;
use super::message::{HEADER_LEN, Message, Record};
use super::types::{Flags, Rcode};
use crate::buffer::Buffer;
use crate::conn::{ConnOptions, Connection, Listener};
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
    /// TCP connection number `n` (an index below the server's `C`).
    Tcp(usize),
}

/// A DNS server port for one UDP socket and one TCP listener with up to `C` connections, over
/// transport handles `H`, TCP buffers `B` and messages of up to `M` bytes. See the [module
/// documentation](self).
pub struct Server<H, B, const C: usize, const M: usize = 4096> {
    wake: EventId,
    udp: Option<(H, EventId)>,
    listener: Option<Listener<H>>,
    conns: heapless::Vec<Option<Connection<H, B>>, C>,
    query: [u8; M],
    reply: [u8; M],
}

impl<H, B, const C: usize, const M: usize> fmt::Debug for Server<H, B, C, M>
where
    H: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("udp", &self.udp.as_ref().map(|u| &u.0))
            .field("connections", &self.conns.iter().flatten().count())
            .finish_non_exhaustive()
    }
}

const IDLE: Duration = Duration::from_secs(10);

impl<H, B, const C: usize, const M: usize> Server<H, B, C, M>
where
    H: Copy + PartialEq + fmt::Debug,
    B: Buffer + Default,
{
    /// A server with no socket yet; its events will carry `datum`.
    ///
    /// # Errors
    ///
    /// The engine has no room for its wake-up event; `datum` is handed back.
    pub fn new<T: Copy>(events: &mut dyn Events<T>, datum: T) -> Result<Self, Rejected<T>> {
        let wake = events.create(Event::user(), datum)?;
        let mut conns = heapless::Vec::new();
        for _ in 0..C {
            let _ = conns.push(None);
        }
        Ok(Server {
            wake,
            udp: None,
            listener: None,
            conns,
            query: [0; M],
            reply: [0; M],
        })
    }

    /// Answer questions arriving on UDP socket `socket` (bound by the application); its event
    /// carries `datum` (the same as the server's, so that the application routes it here).
    ///
    /// # Errors
    ///
    /// The engine has no room for the socket's read event.
    pub fn serve_udp<T: Copy, IO: Datagram<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &IO,
        socket: H,
        datum: T,
    ) -> Result<(), Rejected<T>> {
        let ev = events.start(Event::read(io.source(socket)).persist(), datum, None)?;
        self.udp = Some((socket, ev));
        Ok(())
    }

    /// Accept TCP connections on listening transport `listener` and answer their questions;
    /// its events and its connections' carry `datum`.
    ///
    /// # Errors
    ///
    /// The engine has no room for the listener's events.
    pub fn serve_tcp<T: Copy, IO: Accept<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &IO,
        listener: H,
        datum: T,
    ) -> Result<(), Rejected<T>> {
        self.listener = Some(Listener::new(events, io, listener, datum)?);
        Ok(())
    }

    /// The UDP socket served, if any.
    pub fn udp_socket(&self) -> Option<H> {
        self.udp.map(|u| u.0)
    }

    /// How many TCP connections are open.
    pub fn connections(&self) -> usize {
        self.conns.iter().flatten().count()
    }

    /// Whether `id` is one of the server's events.
    pub fn owns(&self, id: EventId) -> bool {
        id == self.wake
            || self.udp.is_some_and(|u| u.1 == id)
            || self.listener.as_ref().is_some_and(|l| l.owns(id))
            || self.conns.iter().flatten().any(|c| c.owns(id))
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

    /// Handle a fired event: accept connections, read queries; returns the next query to answer,
    /// if one has arrived. When more may be waiting the server re-activates its event, so the
    /// loop brings it back here.
    pub fn handle<T: Copy, IO>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        fired: &Fired<T>,
    ) -> Option<Request<'_, H, B, C, M>>
    where
        IO: Datagram<Handle = H> + Accept<Handle = H>,
    {
        if let Some((socket, ev)) = self.udp
            && fired.id == ev
        {
            return self.read_udp(events, io, socket, ev);
        }
        if self.listener.as_ref().is_some_and(|l| l.owns(fired.id)) {
            self.accept(events, io, fired.datum);
            return None;
        }
        if fired.id == self.wake {
            return self.next_tcp_query(events, io);
        }
        let i = self
            .conns
            .iter()
            .position(|c| c.as_ref().is_some_and(|c| c.owns(fired.id)))?;
        let conn = self.conns[i].as_mut()?;
        let out = conn.handle(events, io, fired);
        // A client that closed its side is done once its last answer has gone out.
        let finished = conn.at_eof() && !has_query(conn.input()) && conn.output().is_empty();
        if out.failed() || finished {
            if let Some(c) = self.conns[i].take() {
                c.close(events, io);
            }
            return None;
        }
        if out.readable() {
            let _ = events.activate(self.wake, Ready::USER);
        }
        None
    }

    fn accept<T: Copy, IO: Accept<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        datum: T,
    ) {
        let Some(listener) = self.listener.as_mut() else {
            return;
        };
        while let Some(r) = listener.accept(events, io) {
            let Ok(h) = r else { continue };
            let Some(slot) = self.conns.iter_mut().find(|c| c.is_none()) else {
                io.close(events, h);
                continue;
            };
            let opts = ConnOptions {
                read_timeout: Some(IDLE),
                write_timeout: Some(IDLE),
                ..ConnOptions::DEFAULT
            };
            match Connection::new(events, io, h, B::default(), B::default(), opts, datum) {
                Ok(c) => *slot = Some(c),
                Err(_) => io.close(events, h),
            }
        }
    }

    fn read_udp<T: Copy, IO>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        socket: H,
        ev: EventId,
    ) -> Option<Request<'_, H, B, C, M>>
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
    fn next_tcp_query<T: Copy, IO>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
    ) -> Option<Request<'_, H, B, C, M>>
    where
        IO: Datagram<Handle = H> + Accept<Handle = H>,
    {
        let mut found = None;
        for (i, slot) in self.conns.iter_mut().enumerate() {
            let Some(conn) = slot.as_mut() else { continue };
            while has_query(conn.input()) {
                let mut head = [0u8; 2];
                conn.input().peek(0, &mut head);
                let len = usize::from(u16::from_be_bytes(head));
                if len > M {
                    // Longer than any question levent answers: drop the connection.
                    if let Some(c) = slot.take() {
                        c.close(events, io);
                    }
                    break;
                }
                conn.input().peek(2, &mut self.query[..len]);
                conn.consume(events, 2 + len);
                match check(&self.query[..len]) {
                    Check::Query => {
                        found = Some((i, len));
                        break;
                    }
                    Check::FormErr => {
                        if let Ok(bytes) = formerr(&self.query[..len], &mut self.reply) {
                            write_framed(conn, events, io, bytes);
                        }
                    }
                    Check::Drop => {}
                }
            }
            if found.is_some() {
                break;
            }
        }
        let (i, len) = found?;
        // Another connection (or this one) may hold a further query.
        let _ = events.activate(self.wake, Ready::USER);
        self.request(len, Origin::Tcp(i))
    }

    fn request(&mut self, len: usize, origin: Origin) -> Option<Request<'_, H, B, C, M>> {
        let msg = Message::parse(&self.query[..len]).ok()?;
        Some(Request {
            msg,
            origin,
            reply: &mut self.reply,
            udp: self.udp.map(|u| u.0),
            conns: &mut self.conns,
        })
    }

    /// Close the sockets and connections and free every event.
    pub fn close<T: Copy, IO>(mut self, events: &mut dyn Events<T>, io: &mut IO)
    where
        IO: Datagram<Handle = H> + Accept<Handle = H>,
    {
        for c in self.conns.iter_mut() {
            if let Some(c) = c.take() {
                c.close(events, io);
            }
        }
        if let Some(l) = self.listener.take() {
            l.close(events, io);
        }
        if let Some((socket, ev)) = self.udp.take() {
            let _ = events.free(ev);
            Datagram::close(io, events, socket);
        }
        let _ = events.free(self.wake);
    }
}

fn has_query<B: Buffer>(input: &B) -> bool {
    let mut head = [0u8; 2];
    input.peek(0, &mut head) == 2 && input.len() >= 2 + usize::from(u16::from_be_bytes(head))
}

fn write_framed<H, B, T, IO>(
    conn: &mut Connection<H, B>,
    events: &mut dyn Events<T>,
    io: &mut IO,
    bytes: &[u8],
) -> bool
where
    H: Copy + PartialEq + fmt::Debug,
    B: Buffer,
    T: Copy,
    IO: Transport<Handle = H>,
{
    let head = (bytes.len() as u16).to_be_bytes();
    conn.write(events, io, &head) == 2 && conn.write(events, io, bytes) == bytes.len()
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
pub struct Request<'s, H, B, const C: usize, const M: usize> {
    msg: Message<'s>,
    origin: Origin,
    reply: &'s mut [u8; M],
    udp: Option<H>,
    conns: &'s mut heapless::Vec<Option<Connection<H, B>>, C>,
}

impl<H: fmt::Debug, B, const C: usize, const M: usize> fmt::Debug for Request<'_, H, B, C, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("message", &self.msg)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl<'s, H, B, const C: usize, const M: usize> Request<'s, H, B, C, M>
where
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
    pub fn reply<T: Copy, IO: Datagram<Handle = H> + Transport<Handle = H>>(
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
    pub fn respond<T: Copy, IO: Datagram<Handle = H> + Transport<Handle = H>>(
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
            conns,
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
        send(origin, udp, conns, events, io, bytes)
    }

    /// Send `bytes` as the answer, whatever they are (tests use it to play a server that sends a
    /// wrong id, a wrong question or garbage).
    ///
    /// # Errors
    ///
    /// As [`reply`](Self::reply).
    pub fn send_raw<T: Copy, IO: Datagram<Handle = H> + Transport<Handle = H>>(
        self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        bytes: &[u8],
    ) -> Result<(), IoError> {
        send(self.origin, self.udp, self.conns, events, io, bytes)
    }
}

fn send<H, B, T, IO, const C: usize>(
    origin: Origin,
    udp: Option<H>,
    conns: &mut heapless::Vec<Option<Connection<H, B>>, C>,
    events: &mut dyn Events<T>,
    io: &mut IO,
    bytes: &[u8],
) -> Result<(), IoError>
where
    H: Copy + PartialEq + fmt::Debug,
    B: Buffer,
    T: Copy,
    IO: Datagram<Handle = H> + Transport<Handle = H>,
{
    match origin {
        Origin::Udp(to) => {
            let socket = udp.ok_or(IoError::Closed)?;
            io.send_to(socket, bytes, to).map(|_| ())
        }
        Origin::Tcp(i) => {
            let conn = conns
                .get_mut(i)
                .and_then(Option::as_mut)
                .ok_or(IoError::Closed)?;
            if write_framed(conn, events, io, bytes) {
                Ok(())
            } else {
                Err(IoError::WouldBlock)
            }
        }
    }
}
