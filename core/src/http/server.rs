//! The HTTP/1.1 server (libevent's evhttp) as a sans-IO state machine over the core's
//! [`Listener`] and [`Connection`]s: no allocation, capacities fixed by const generics, the same
//! code over epoll, poll, the simulated network and smoltcp sockets with
//! [`RingBuffer`](crate::RingBuffer)s.
//!
//! # Shape
//!
//! The server owns its listener and up to `C` connections; the application owns the engine, the
//! IO storage and a [`Service`], and forwards every fired event whose datum carries a [`Token`]
//! to [`Server::handle`], passing its service along. The server does the IO and calls the
//! service back while it is on the stack: [`Service::request`] when a head arrives (with the
//! parsed [`Request`] and an [`Exchange`] to answer through), [`Service::body`] for each piece of
//! the request body, [`Service::body_end`], [`Service::writable`] when a streamed response may
//! continue, [`Service::log`] when an exchange is complete. Nothing is stored in the engine but
//! the `Copy` token, so there are no callbacks to register and nothing to allocate.
//!
//! ```text
//! #[derive(Clone, Copy)]
//! enum Ev { Http(Token), Signal }
//! impl From<Token> for Ev { fn from(t: Token) -> Self { Ev::Http(t) } }
//!
//! server.bind(&mut engine, &io, listening)?;
//! while let Some(fired) = engine.next(&mut host)? {
//!     match fired.datum {
//!         Ev::Http(token) => server.handle(&mut engine, &mut io, &fired, token, &mut app),
//!         Ev::Signal => server.shutdown(&mut engine, &mut io),
//!     }
//!     if server.is_finished() { break }
//! }
//! ```
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
//! slots of about 700 bytes plus the two buffers of each connection (`B::default()`; with a
//! growable host buffer they are allocated per connection and reused blocks serve every request,
//! so a request in the steady state allocates nothing). No `Date` field is sent, since the core
//! has no wall clock: a service that has one adds it. `TCP_NODELAY` is a socket option the host
//! sets (on the listening socket, whose accepted sockets inherit it on Linux).

use super::route::Methods;
use super::{
    BodyDecoder, Framing, Header, Limits, Request, RequestParser, Status, Version,
    encode_chunk_header, parse_fields, reason_phrase,
};
use crate::buffer::Buffer;
use crate::conn::{ConnOptions, Connection, Listener, Outcome};
use crate::error::Rejected;
use crate::event::{Event, EventId, Fired};
use crate::events::Events;
use crate::io::{Accept, Transport};
use crate::time::Tick;
use core::fmt;
use core::net::SocketAddr;
use core::time::Duration;

/// What the server's events carry: the listener or a connection slot. Make the engine's datum
/// type `From<Token>` and hand the token back to [`Server::handle`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Token(u32);

impl Token {
    /// The listener's token.
    pub const LISTENER: Token = Token(u32::MAX);
}

/// One connection, for its whole life: slots are reused, ids are not (a generation tells them
/// apart), so a late [`Server::resume`] for a closed connection is refused.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConnId {
    slot: u32,
    generation: u32,
}

impl ConnId {
    /// The slot, below the server's capacity `C`: to index a side table of per-connection state.
    pub const fn slot(self) -> usize {
        self.slot as usize
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.slot, self.generation)
    }
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
    };
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Why an [`Exchange`] call was refused. Nothing was written when an error is returned, except
/// for [`RespondError::ShortBody`] (see there).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RespondError {
    /// A response was already started for this request.
    AlreadyStarted,
    /// [`Exchange::send`] or [`Exchange::finish`] before [`Exchange::start`].
    NotStarted,
    /// The response is complete already.
    Finished,
    /// A status outside `200..=599` (interim responses are the server's business).
    InvalidStatus,
    /// A field name that is not a token, or a value with control characters.
    InvalidHeader,
    /// `Content-Length`, `Transfer-Encoding` or `Connection`: the server sets those.
    ReservedHeader,
    /// A body for a status that has none (204, 304).
    BodyNotAllowed,
    /// The response head does not fit in the server's scratch of `HEAD` bytes.
    HeadTooLarge,
    /// The connection's output buffer cannot take this many bytes now (a fixed buffer): stream
    /// the body with [`Exchange::start`] instead, or wait for [`Service::writable`].
    NoRoom {
        /// Bytes the call needed.
        needed: usize,
    },
    /// More body than the `Content-Length` given to [`Exchange::start`].
    BodyTooLong,
    /// [`Exchange::finish`] before the announced length was sent: the response is marked complete
    /// and the connection will close, so the client sees a truncated body rather than a hang.
    ShortBody {
        /// Bytes that were announced and not sent.
        missing: u64,
    },
}

impl fmt::Display for RespondError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RespondError::AlreadyStarted => f.write_str("response already started"),
            RespondError::NotStarted => f.write_str("response not started"),
            RespondError::Finished => f.write_str("response already finished"),
            RespondError::InvalidStatus => f.write_str("status outside 200..=599"),
            RespondError::InvalidHeader => f.write_str("invalid response field"),
            RespondError::ReservedHeader => {
                f.write_str("Content-Length, Transfer-Encoding and Connection are the server's")
            }
            RespondError::BodyNotAllowed => f.write_str("this status has no body"),
            RespondError::HeadTooLarge => f.write_str("response head too large"),
            RespondError::NoRoom { needed } => write!(f, "no room for {needed} bytes of output"),
            RespondError::BodyTooLong => f.write_str("more body than the announced length"),
            RespondError::ShortBody { missing } => {
                write!(f, "{missing} bytes of the announced body were not sent")
            }
        }
    }
}

impl core::error::Error for RespondError {}

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

    /// A piece of the request body. Return how many bytes were taken; fewer than `data.len()`
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
}

/// The output side of a connection, without its type parameters.
trait Wire {
    fn write(&mut self, data: &[u8]) -> usize;
    fn pending(&self) -> usize;
    fn room(&self) -> usize;
}

struct Link<'a, 'e, T, H, B, IO> {
    conn: &'a mut Connection<H, B>,
    events: &'a mut (dyn Events<T> + 'e),
    io: &'a mut IO,
}

impl<T, H, B, IO> Wire for Link<'_, '_, T, H, B, IO>
where
    T: Copy,
    H: Copy + PartialEq + fmt::Debug,
    B: Buffer,
    IO: Transport<Handle = H>,
{
    fn write(&mut self, data: &[u8]) -> usize {
        self.conn.write(&mut *self.events, self.io, data)
    }
    fn pending(&self) -> usize {
        self.conn.output().len()
    }
    fn room(&self) -> usize {
        self.conn.output().room()
    }
}

/// Where the response of the current exchange is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Out {
    /// Nothing sent yet.
    Waiting,
    /// Head sent; this many body bytes still to send.
    Length(u64),
    /// Head sent; chunked body.
    Chunked,
    /// Head sent; body until the connection closes (HTTP/1.0, unknown length).
    Close,
    /// Head sent; the body is not sent (HEAD, 204, 304): `send` drops it.
    Discard,
    /// Complete.
    Done,
}

/// The response state of one exchange.
#[derive(Clone, Copy, Debug)]
struct Resp {
    out: Out,
    status: u16,
    sent: u64,
    /// Answering HEAD: no body goes out.
    head: bool,
    version: Version,
    keep_alive: bool,
    tag: usize,
    id: ConnId,
    peer: Option<SocketAddr>,
}

/// How a response head frames the body.
enum Frame {
    None,
    Length(u64),
    Chunked,
    Close,
}

/// The answering side of one exchange, handed to every [`Service`] callback. See the
/// [module documentation](self) for the rules it applies.
pub struct Exchange<'a> {
    wire: &'a mut dyn Wire,
    resp: &'a mut Resp,
    tx: &'a mut [u8],
    cfg: &'a ServerConfig,
}

impl fmt::Debug for Exchange<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exchange")
            .field("id", &self.resp.id)
            .field("out", &self.resp.out)
            .finish()
    }
}

const fn no_body_status(status: u16) -> bool {
    status == 204 || status == 304
}

/// Checks a response field as the codec's encoder would: a token name, a value of visible
/// characters, spaces and tabs without leading or trailing whitespace.
fn check_field(name: &str, value: &[u8]) -> Result<(), RespondError> {
    use super::chars::{is_text, is_token, is_ws};
    let ok = is_token(name.as_bytes())
        && value.iter().all(|&b| is_text(b))
        && !value.first().is_some_and(|&b| is_ws(b))
        && !value.last().is_some_and(|&b| is_ws(b));
    if ok {
        Ok(())
    } else {
        Err(RespondError::InvalidHeader)
    }
}

/// Writes `data` at `*pos` in `buf`, or fails with `HeadTooLarge`.
fn put(buf: &mut [u8], pos: &mut usize, data: &[u8]) -> Result<(), RespondError> {
    let dst = buf
        .get_mut(*pos..*pos + data.len())
        .ok_or(RespondError::HeadTooLarge)?;
    dst.copy_from_slice(data);
    *pos += data.len();
    Ok(())
}

/// `n` in decimal.
fn decimal(mut n: u64, out: &mut [u8; 20]) -> &[u8] {
    let mut i = out.len();
    loop {
        i -= 1;
        if let Some(slot) = out.get_mut(i) {
            *slot = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    out.get(i..).unwrap_or_default()
}

impl Exchange<'_> {
    /// The connection this exchange is on.
    pub fn id(&self) -> ConnId {
        self.resp.id
    }

    /// The client's address, when the transport knows it.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.resp.peer
    }

    /// A word of the application's, kept with the exchange from one callback to the next (which
    /// route it took, say); 0 when the request arrives.
    pub fn tag(&self) -> usize {
        self.resp.tag
    }

    /// Set the word [`tag`](Self::tag) returns.
    pub fn set_tag(&mut self, tag: usize) {
        self.resp.tag = tag;
    }

    /// The request's version.
    pub fn version(&self) -> Version {
        self.resp.version
    }

    /// Whether a response was started (or sent whole).
    pub fn is_started(&self) -> bool {
        self.resp.out != Out::Waiting
    }

    /// Whether the response is complete.
    pub fn is_finished(&self) -> bool {
        self.resp.out == Out::Done
    }

    /// Close the connection after this response (sends `Connection: close` if the head has not
    /// gone out yet).
    pub fn close(&mut self) {
        self.resp.keep_alive = false;
    }

    /// How many body bytes [`send`](Self::send) would take now (before chunk framing).
    pub fn room(&self) -> usize {
        let pending = self.wire.pending();
        self.cfg
            .write_high
            .saturating_sub(pending)
            .min(self.wire.room())
    }

    /// Answer with `status`, the fields `headers`, and `body` (sent with `Content-Length`).
    ///
    /// # Errors
    ///
    /// A response already started; an invalid status or field, or a reserved one; a body for
    /// 204 or 304; a head larger than the scratch; a fixed output buffer without room for the
    /// whole response (use [`start`](Self::start) then).
    pub fn respond(
        &mut self,
        status: u16,
        headers: &[Header<'_>],
        body: &[u8],
    ) -> Result<(), RespondError> {
        if self.resp.out != Out::Waiting {
            return Err(RespondError::AlreadyStarted);
        }
        let no_body = no_body_status(status);
        if no_body && !body.is_empty() {
            return Err(RespondError::BodyNotAllowed);
        }
        let frame = if no_body {
            Frame::None
        } else {
            Frame::Length(body.len() as u64)
        };
        let h = self.head(status, headers, &frame)?;
        let blen = if self.resp.head || no_body {
            0
        } else {
            body.len()
        };
        let body = body.get(..blen).unwrap_or_default();
        if self.wire.room() < h + blen {
            return Err(RespondError::NoRoom { needed: h + blen });
        }
        if let Some(dst) = self.tx.get_mut(h..h + blen) {
            dst.copy_from_slice(body);
            self.wire.write(self.tx.get(..h + blen).unwrap_or_default());
        } else {
            self.wire.write(self.tx.get(..h).unwrap_or_default());
            self.wire.write(body);
        }
        self.resp.status = status;
        self.resp.sent = blen as u64;
        self.resp.out = Out::Done;
        Ok(())
    }

    /// Start a streamed response: the head goes out now, the body through
    /// [`send`](Self::send), then [`finish`](Self::finish). With `length`, the body is sent with
    /// `Content-Length` and must have exactly that many bytes; without, it is chunked (to an
    /// HTTP/1.0 client: delimited by closing the connection).
    ///
    /// # Errors
    ///
    /// As [`respond`](Self::respond), except that the body need not fit.
    pub fn start(
        &mut self,
        status: u16,
        headers: &[Header<'_>],
        length: Option<u64>,
    ) -> Result<(), RespondError> {
        if self.resp.out != Out::Waiting {
            return Err(RespondError::AlreadyStarted);
        }
        let no_body = no_body_status(status);
        let frame = match length {
            _ if no_body => Frame::None,
            Some(n) => Frame::Length(n),
            None if self.resp.version.is_11() => Frame::Chunked,
            None => Frame::Close,
        };
        let h = self.head(status, headers, &frame)?;
        if self.wire.room() < h {
            return Err(RespondError::NoRoom { needed: h });
        }
        self.wire.write(self.tx.get(..h).unwrap_or_default());
        self.resp.status = status;
        self.resp.out = match frame {
            _ if self.resp.head => Out::Discard,
            Frame::None => Out::Discard,
            Frame::Length(n) => Out::Length(n),
            Frame::Chunked => Out::Chunked,
            Frame::Close => Out::Close,
        };
        Ok(())
    }

    /// Send body bytes of a started response; returns how many were taken, which may be fewer
    /// than given (0 included) when the output is at `write_high`: send the rest after
    /// [`Service::writable`]. Responses without a body (HEAD, 204, 304) take everything and send
    /// nothing.
    ///
    /// # Errors
    ///
    /// Not started, already finished, or more than the announced length.
    pub fn send(&mut self, data: &[u8]) -> Result<usize, RespondError> {
        let allowance = self.room();
        match self.resp.out {
            Out::Waiting => Err(RespondError::NotStarted),
            Out::Done => Err(RespondError::Finished),
            Out::Discard => Ok(data.len()),
            Out::Length(rem) => {
                if rem == 0 && !data.is_empty() {
                    return Err(RespondError::BodyTooLong);
                }
                let n = usize::try_from(rem)
                    .unwrap_or(usize::MAX)
                    .min(data.len())
                    .min(allowance);
                let taken = self.wire.write(data.get(..n).unwrap_or_default());
                self.resp.out = Out::Length(rem - taken as u64);
                self.resp.sent += taken as u64;
                Ok(taken)
            }
            Out::Close => {
                let n = data.len().min(allowance);
                let taken = self.wire.write(data.get(..n).unwrap_or_default());
                self.resp.sent += taken as u64;
                Ok(taken)
            }
            Out::Chunked => {
                // Size line, data and CRLF go out in one write, through the scratch.
                const FRAMING: usize = 16 + 4;
                let n = data
                    .len()
                    .min(allowance.saturating_sub(FRAMING))
                    .min(self.tx.len().saturating_sub(FRAMING));
                if n == 0 {
                    return Ok(0);
                }
                let mut pos = encode_chunk_header(self.tx, n as u64)
                    .map_err(|_| RespondError::HeadTooLarge)?;
                put(self.tx, &mut pos, data.get(..n).unwrap_or_default())?;
                put(self.tx, &mut pos, b"\r\n")?;
                self.wire.write(self.tx.get(..pos).unwrap_or_default());
                self.resp.sent += n as u64;
                Ok(n)
            }
        }
    }

    /// End a started response (the last chunk of a chunked body).
    ///
    /// # Errors
    ///
    /// Not started or already finished; no room for the last chunk (try again after
    /// [`Service::writable`]); [`RespondError::ShortBody`] when less than the announced length
    /// was sent (the response counts as complete and the connection closes).
    pub fn finish(&mut self) -> Result<(), RespondError> {
        match self.resp.out {
            Out::Waiting => Err(RespondError::NotStarted),
            Out::Done => Err(RespondError::Finished),
            Out::Length(rem) if rem > 0 => {
                self.resp.out = Out::Done;
                self.resp.keep_alive = false;
                Err(RespondError::ShortBody { missing: rem })
            }
            Out::Chunked => {
                const LAST: &[u8] = b"0\r\n\r\n";
                if self.wire.room() < LAST.len() {
                    return Err(RespondError::NoRoom { needed: LAST.len() });
                }
                self.wire.write(LAST);
                self.resp.out = Out::Done;
                Ok(())
            }
            Out::Close => {
                self.resp.keep_alive = false;
                self.resp.out = Out::Done;
                Ok(())
            }
            Out::Length(_) | Out::Discard => {
                self.resp.out = Out::Done;
                Ok(())
            }
        }
    }

    /// Builds the response head in the scratch; returns its length.
    fn head(
        &mut self,
        status: u16,
        headers: &[Header<'_>],
        frame: &Frame,
    ) -> Result<usize, RespondError> {
        if !(200..=599).contains(&status) {
            return Err(RespondError::InvalidStatus);
        }
        for h in headers {
            let reserved = ["content-length", "transfer-encoding", "connection"];
            if reserved.iter().any(|r| h.name.eq_ignore_ascii_case(r)) {
                return Err(RespondError::ReservedHeader);
            }
        }
        if matches!(frame, Frame::Close) {
            self.resp.keep_alive = false;
        }
        let tx = &mut *self.tx;
        // The status line and the server's own fields are known to be valid: written as they are.
        let mut pos = 0;
        let code = [
            b'0' + (status / 100) as u8,
            b'0' + (status / 10 % 10) as u8,
            b'0' + (status % 10) as u8,
        ];
        put(tx, &mut pos, b"HTTP/1.1 ")?;
        put(tx, &mut pos, &code)?;
        put(tx, &mut pos, b" ")?;
        put(tx, &mut pos, reason_phrase(status).unwrap_or("").as_bytes())?;
        put(tx, &mut pos, b"\r\n")?;
        let mut field = |name: &str, value: &[u8], pos: &mut usize| {
            put(tx, pos, name.as_bytes())?;
            put(tx, pos, b": ")?;
            put(tx, pos, value)?;
            put(tx, pos, b"\r\n")
        };
        if let Some(name) = self.cfg.server_name {
            check_field("Server", name.as_bytes())?;
            field("Server", name.as_bytes(), &mut pos)?;
        }
        for h in headers {
            check_field(h.name, h.value)?;
            field(h.name, h.value, &mut pos)?;
        }
        let mut digits = [0u8; 20];
        match frame {
            Frame::Length(n) => field("Content-Length", decimal(*n, &mut digits), &mut pos)?,
            Frame::Chunked => field("Transfer-Encoding", b"chunked", &mut pos)?,
            Frame::None | Frame::Close => {}
        }
        if !self.resp.keep_alive {
            field("Connection", b"close", &mut pos)?;
        } else if !self.resp.version.is_11() {
            field("Connection", b"keep-alive", &mut pos)?;
        }
        put(tx, &mut pos, b"\r\n")?;
        Ok(pos)
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
    /// The request is read; waiting for the response to complete.
    Done,
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

struct Slot<H, B> {
    conn: Connection<H, B>,
    timer: Timer,
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
}

/// What the state machine wants done with a connection.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Next {
    Keep,
    Close,
}

/// The HTTP/1.1 server. See the [module documentation](self).
///
/// - `H`, `B`: the transport handle and buffer types of its connections.
/// - `C`: the most connections at once.
/// - `HEAD`: the size of each of its two scratch areas, and the largest request head.
/// - `HDRS`: the most header fields in a request head (and trailer fields).
pub struct Server<H, B, const C: usize, const HEAD: usize = 8192, const HDRS: usize = 64> {
    cfg: ServerConfig,
    listener: Option<Listener<H>>,
    slots: [Option<Slot<H, B>>; C],
    generations: [u32; C],
    live: usize,
    /// Accepting is paused: every slot is busy.
    full: bool,
    shutting_down: bool,
    rx: [u8; HEAD],
    tx: [u8; HEAD],
}

impl<H, B, const C: usize, const HEAD: usize, const HDRS: usize> fmt::Debug
    for Server<H, B, C, HEAD, HDRS>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("connections", &self.live)
            .field("capacity", &C)
            .field("shutting_down", &self.shutting_down)
            .finish()
    }
}

impl<H, B, const C: usize, const HEAD: usize, const HDRS: usize> Server<H, B, C, HEAD, HDRS>
where
    H: Copy + PartialEq + fmt::Debug,
    B: Buffer + Default,
{
    /// A server with `config`, not listening yet.
    pub fn new(config: ServerConfig) -> Self {
        let mut cfg = config;
        let head_max = HEAD.saturating_sub(1);
        cfg.limits.max_head_size = cfg.limits.max_head_size.min(head_max);
        cfg.limits.max_request_line = cfg.limits.max_request_line.min(head_max);
        if cfg.read_high != 0 {
            cfg.read_high = cfg.read_high.max(HEAD);
        }
        cfg.write_high = cfg.write_high.max(cfg.write_low).max(1);
        Server {
            cfg,
            listener: None,
            slots: [const { None }; C],
            generations: [0; C],
            live: 0,
            full: false,
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
    /// The engine has no room for the listener's events.
    pub fn bind<T, IO>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &IO,
        handle: H,
    ) -> Result<(), Rejected<T>>
    where
        T: Copy + From<Token>,
        IO: Accept<Handle = H>,
    {
        self.listener = Some(Listener::new(events, io, handle, T::from(Token::LISTENER))?);
        Ok(())
    }

    /// How many connections are open.
    pub fn connections(&self) -> usize {
        self.live
    }

    /// Whether [`shutdown`](Self::shutdown) was called and every connection is gone.
    pub fn is_finished(&self) -> bool {
        self.shutting_down && self.live == 0
    }

    /// Handle a fired event whose datum carried `token`: accept, read, parse, call `service`,
    /// write. Events that are not the server's (stale ones included) are ignored.
    pub fn handle<T, IO, S>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        fired: &Fired<T>,
        token: Token,
        service: &mut S,
    ) where
        T: Copy + From<Token>,
        IO: Accept<Handle = H>,
        S: Service + ?Sized,
    {
        if token == Token::LISTENER {
            if self.listener.as_ref().is_some_and(|l| l.owns(fired.id)) {
                self.accept(events, io);
            }
            return;
        }
        let i = token.0 as usize;
        let Some(slot) = self.slots.get_mut(i).and_then(Option::as_mut) else {
            return;
        };
        let next = if fired.id == slot.timer.id {
            if !due(events, &mut slot.timer) {
                return;
            }
            Self::timeout(slot, &mut self.tx, &self.cfg, events, io, service)
        } else if slot.conn.owns(fired.id) {
            let out = slot.conn.handle(events, io, fired);
            Self::outcome(
                slot,
                out,
                &mut self.rx,
                &mut self.tx,
                &self.cfg,
                self.shutting_down,
                events,
                io,
                service,
            )
        } else {
            Next::Keep
        };
        if next == Next::Close {
            self.close_slot(i, events, io, service);
        }
    }

    /// Answer a request later: run `f` with the exchange of connection `id` (if it is still
    /// open), then carry on with the connection as after any callback. Returns whether the
    /// connection was found.
    pub fn resume<T, IO, S>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        id: ConnId,
        service: &mut S,
        f: impl FnOnce(&mut S, &mut Exchange<'_>),
    ) -> bool
    where
        T: Copy + From<Token>,
        IO: Accept<Handle = H>,
        S: Service + ?Sized,
    {
        let i = id.slot as usize;
        let Some(slot) = self.slots.get_mut(i).and_then(Option::as_mut) else {
            return false;
        };
        if slot.resp.id != id {
            return false;
        }
        if slot.active {
            let mut link = Link {
                conn: &mut slot.conn,
                events: &mut *events,
                io: &mut *io,
            };
            let mut ex = Exchange {
                wire: &mut link,
                resp: &mut slot.resp,
                tx: &mut self.tx,
                cfg: &self.cfg,
            };
            f(service, &mut ex);
        }
        let next = Self::pump(
            slot,
            &mut self.rx,
            &mut self.tx,
            &self.cfg,
            self.shutting_down,
            events,
            io,
            service,
        );
        if next == Next::Close {
            self.close_slot(i, events, io, service);
        }
        true
    }

    /// Graceful shutdown: stop accepting (the listening transport is closed), close idle
    /// connections now, and let exchanges in progress finish with `Connection: close`. Keep
    /// handling events until [`is_finished`](Self::is_finished).
    pub fn shutdown<T, IO>(&mut self, events: &mut dyn Events<T>, io: &mut IO)
    where
        T: Copy + From<Token>,
        IO: Accept<Handle = H>,
    {
        self.shutting_down = true;
        if let Some(l) = self.listener.take() {
            l.close(events, io);
        }
        for i in 0..C {
            let Some(slot) = self.slots.get_mut(i).and_then(Option::as_mut) else {
                continue;
            };
            slot.resp.keep_alive = false;
            let idle = !slot.active
                && !slot.closing
                && matches!(slot.rx, Rx::Idle)
                && slot.conn.input().is_empty();
            if idle {
                self.close_slot(i, events, io, &mut NoService);
            }
        }
    }

    fn accept<T, IO>(&mut self, events: &mut dyn Events<T>, io: &mut IO)
    where
        T: Copy + From<Token>,
        IO: Accept<Handle = H>,
    {
        let Some(listener) = self.listener.as_mut() else {
            return;
        };
        // A bounded batch: the listener's event fires again while clients wait.
        for _ in 0..64 {
            let Some(i) = self.slots.iter().position(Option::is_none) else {
                listener.disable(events);
                self.full = true;
                return;
            };
            let h = match listener.accept(events, io) {
                None => return,
                Some(Err(_)) => continue,
                Some(Ok(h)) => h,
            };
            let datum = T::from(Token(i as u32));
            let Ok(timer) = events.create(Event::timer(), datum) else {
                io.close(events, h);
                continue;
            };
            let opts = ConnOptions {
                read_low: 0,
                read_high: self.cfg.read_high,
                write_low: self.cfg.write_low,
                read_timeout: None,
                write_timeout: self.cfg.write_timeout,
                close_on_free: true,
            };
            let conn = match Connection::new(events, io, h, B::default(), B::default(), opts, datum)
            {
                Ok(c) => c,
                Err(_) => {
                    let _ = events.free(timer);
                    io.close(events, h);
                    continue;
                }
            };
            let mut timer = Timer {
                id: timer,
                deadline: None,
                armed: None,
            };
            arm(events, &mut timer, self.cfg.head_timeout);
            let generation = self
                .generations
                .get(i)
                .copied()
                .unwrap_or(0)
                .wrapping_add(1);
            if let Some(g) = self.generations.get_mut(i) {
                *g = generation;
            }
            let id = ConnId {
                slot: i as u32,
                generation,
            };
            let slot = Slot {
                conn,
                timer,
                parser: RequestParser::new(self.cfg.limits),
                rx: Rx::Idle,
                resp: Resp {
                    out: Out::Waiting,
                    status: 0,
                    sent: 0,
                    head: false,
                    version: Version::HTTP_11,
                    keep_alive: false,
                    tag: 0,
                    id,
                    peer: io.peer_addr(h),
                },
                active: false,
                closing: false,
                requests: 0,
                line: [0; LOG_LINE],
                line_len: 0,
            };
            if let Some(s) = self.slots.get_mut(i) {
                *s = Some(slot);
                self.live += 1;
            }
        }
    }

    fn close_slot<T, IO, S>(
        &mut self,
        i: usize,
        events: &mut dyn Events<T>,
        io: &mut IO,
        service: &mut S,
    ) where
        T: Copy + From<Token>,
        IO: Accept<Handle = H>,
        S: Service + ?Sized,
    {
        let Some(slot) = self.slots.get_mut(i).and_then(Option::take) else {
            return;
        };
        self.live -= 1;
        if slot.active {
            service.aborted(slot.resp.id);
        }
        let _ = events.free(slot.timer.id);
        slot.conn.close(events, io);
        if self.full
            && let Some(l) = self.listener.as_mut()
        {
            l.enable(events);
            self.full = false;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn outcome<T, IO, S>(
        slot: &mut Slot<H, B>,
        out: Outcome,
        rx: &mut [u8],
        tx: &mut [u8],
        cfg: &ServerConfig,
        shutting: bool,
        events: &mut dyn Events<T>,
        io: &mut IO,
        service: &mut S,
    ) -> Next
    where
        T: Copy,
        IO: Transport<Handle = H>,
        S: Service + ?Sized,
    {
        if out.failed() {
            return Next::Close;
        }
        if out.drained()
            && slot.active
            && matches!(slot.resp.out, Out::Length(_) | Out::Chunked | Out::Close)
        {
            let mut link = Link {
                conn: &mut slot.conn,
                events: &mut *events,
                io: &mut *io,
            };
            let mut ex = Exchange {
                wire: &mut link,
                resp: &mut slot.resp,
                tx: &mut *tx,
                cfg,
            };
            service.writable(&mut ex);
        }
        if out.is_empty() {
            return Next::Keep;
        }
        Self::pump(slot, rx, tx, cfg, shutting, events, io, service)
    }

    fn timeout<T, IO, S>(
        slot: &mut Slot<H, B>,
        tx: &mut [u8],
        cfg: &ServerConfig,
        events: &mut dyn Events<T>,
        io: &mut IO,
        service: &mut S,
    ) -> Next
    where
        T: Copy,
        IO: Transport<Handle = H>,
        S: Service + ?Sized,
    {
        if slot.closing {
            return Next::Close;
        }
        match slot.rx {
            Rx::Idle => Next::Close,
            Rx::Head => Self::fail(slot, 408, tx, cfg, events, io, service),
            Rx::Body { .. } if slot.resp.out == Out::Waiting => {
                Self::fail(slot, 408, tx, cfg, events, io, service)
            }
            Rx::Body { .. } => Next::Close,
            Rx::Done => Next::Keep,
        }
    }

    /// Answer `status` with `Connection: close` (if nothing was sent yet), log it, and close.
    fn fail<T, IO, S>(
        slot: &mut Slot<H, B>,
        status: u16,
        tx: &mut [u8],
        cfg: &ServerConfig,
        events: &mut dyn Events<T>,
        io: &mut IO,
        service: &mut S,
    ) -> Next
    where
        T: Copy,
        IO: Transport<Handle = H>,
        S: Service + ?Sized,
    {
        if slot.resp.out != Out::Waiting {
            return Next::Close;
        }
        if !slot.active {
            slot.line_len = 0;
            slot.resp.head = false;
            slot.resp.version = Version::HTTP_11;
            slot.resp.sent = 0;
        }
        slot.resp.keep_alive = false;
        let mut body = [0u8; 64];
        let reason = reason_phrase(status).unwrap_or("Error").as_bytes();
        let n = reason.len().min(body.len() - 1);
        body[..n].copy_from_slice(&reason[..n]);
        body[n] = b'\n';
        let mut link = Link {
            conn: &mut slot.conn,
            events: &mut *events,
            io: &mut *io,
        };
        let mut ex = Exchange {
            wire: &mut link,
            resp: &mut slot.resp,
            tx,
            cfg,
        };
        let text = [Header {
            name: "Content-Type",
            value: b"text/plain",
        }];
        if ex.respond(status, &text, &body[..=n]).is_err() {
            return Next::Close;
        }
        Self::log(slot, service);
        Self::start_closing(slot, cfg, events, io)
    }

    fn log<S: Service + ?Sized>(slot: &mut Slot<H, B>, service: &mut S) {
        slot.active = false;
        let line = slot
            .line
            .get(..slot.line_len)
            .and_then(|l| core::str::from_utf8(l).ok())
            .unwrap_or_default();
        service.log(&LogEntry {
            id: slot.resp.id,
            peer: slot.resp.peer,
            request_line: line,
            status: slot.resp.status,
            body_bytes: slot.resp.sent,
        });
    }

    fn start_closing<T, IO>(
        slot: &mut Slot<H, B>,
        cfg: &ServerConfig,
        events: &mut dyn Events<T>,
        io: &mut IO,
    ) -> Next
    where
        T: Copy,
        IO: Transport<Handle = H>,
    {
        slot.closing = true;
        slot.rx = Rx::Idle;
        if slot.conn.shutdown(events, io).is_err() {
            return Next::Close;
        }
        arm(events, &mut slot.timer, Some(cfg.linger));
        let n = slot.conn.input().len();
        slot.conn.consume(events, n);
        if slot.conn.at_eof() && slot.conn.output().is_empty() {
            return Next::Close;
        }
        Next::Keep
    }

    fn record_line(slot: &mut Slot<H, B>, req: &Request<'_, '_>) {
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

    /// Runs the connection's state machine as far as its input and output allow.
    #[allow(clippy::too_many_arguments, clippy::too_many_lines)]
    fn pump<T, IO, S>(
        slot: &mut Slot<H, B>,
        rx: &mut [u8],
        tx: &mut [u8],
        cfg: &ServerConfig,
        shutting: bool,
        events: &mut dyn Events<T>,
        io: &mut IO,
        service: &mut S,
    ) -> Next
    where
        T: Copy,
        IO: Transport<Handle = H>,
        S: Service + ?Sized,
    {
        macro_rules! exchange {
            (|$ex:ident| $body:expr) => {{
                let mut link = Link {
                    conn: &mut slot.conn,
                    events: &mut *events,
                    io: &mut *io,
                };
                let mut $ex = Exchange {
                    wire: &mut link,
                    resp: &mut slot.resp,
                    tx: &mut *tx,
                    cfg,
                };
                $body
            }};
        }
        loop {
            if slot.closing {
                let n = slot.conn.input().len();
                slot.conn.consume(events, n);
                if slot.conn.at_eof() && slot.conn.output().is_empty() {
                    return Next::Close;
                }
                return Next::Keep;
            }
            match &mut slot.rx {
                Rx::Idle | Rx::Head => {
                    let idle = matches!(slot.rx, Rx::Idle);
                    if slot.conn.output().len() > cfg.write_high {
                        return Next::Keep;
                    }
                    let avail = slot.conn.input().len();
                    if avail == 0 {
                        let gone = slot.conn.at_eof() || (shutting && idle);
                        return if gone { Next::Close } else { Next::Keep };
                    }
                    let n = avail.min(rx.len());
                    let rx_head = rx.get_mut(..n).unwrap_or_default();
                    slot.conn.input().peek(0, rx_head);
                    let mut hdrs = [Header::EMPTY; HDRS];
                    let parsed = slot.parser.parse(rx_head, &mut hdrs);
                    let req = match parsed {
                        Ok(Status::Partial) => {
                            if slot.conn.input().room() == 0 || n == rx.len() {
                                return Self::fail(slot, 431, tx, cfg, events, io, service);
                            }
                            if slot.conn.at_eof() {
                                return Next::Close;
                            }
                            if idle && slot.parser.started() {
                                slot.rx = Rx::Head;
                                if slot.requests > 0 {
                                    arm(events, &mut slot.timer, cfg.head_timeout);
                                }
                            }
                            return Next::Keep;
                        }
                        Err(e) => {
                            return Self::fail(slot, e.status(), tx, cfg, events, io, service);
                        }
                        Ok(Status::Complete(req)) => req,
                    };
                    slot.requests = slot.requests.saturating_add(1);
                    Self::record_line(slot, &req);
                    let method = super::route::Methods::of(req.method());
                    let framing = req.framing();
                    let keep = req.keep_alive() && !shutting;
                    slot.resp = Resp {
                        out: Out::Waiting,
                        status: 0,
                        sent: 0,
                        head: method == Methods::HEAD,
                        version: req.version(),
                        keep_alive: keep,
                        tag: 0,
                        id: slot.resp.id,
                        peer: slot.resp.peer,
                    };
                    slot.active = true;
                    slot.parser.reset();
                    slot.conn.consume(events, req.head_len());
                    // The head timer stays armed: it is ignored once the request is read, and
                    // re-armed (cheaply, to a later deadline) for the body or the next request.
                    let has_body = framing != Framing::None;
                    slot.rx = Rx::Body {
                        dec: BodyDecoder::new(framing, &cfg.limits),
                        held: 0,
                    };
                    if !cfg.methods.contains(method) {
                        return Self::fail(slot, 501, tx, cfg, events, io, service);
                    }
                    let expect = req.expects_continue() && has_body;
                    if expect {
                        // An answer given before the body was asked for ends the connection.
                        slot.resp.keep_alive = false;
                    }
                    exchange!(|ex| service.request(&req, &mut ex));
                    if expect {
                        match slot.resp.out {
                            Out::Waiting => {
                                slot.resp.keep_alive = keep;
                                slot.conn
                                    .write(events, io, b"HTTP/1.1 100 Continue\r\n\r\n");
                            }
                            // Answered without the body: it is not read, and the connection ends.
                            Out::Done => slot.rx = Rx::Done,
                            // A response streaming already: the client sends the body without a
                            // 100 (RFC 9110 §10.1.1), and the connection ends after it.
                            _ => {}
                        }
                    }
                    if has_body && matches!(slot.rx, Rx::Body { .. }) {
                        arm(events, &mut slot.timer, cfg.body_timeout);
                    }
                }
                Rx::Body { dec, held } => {
                    if *held > 0 {
                        let n = (*held).min(rx.len());
                        let piece = rx.get_mut(..n).unwrap_or_default();
                        let n = slot.conn.input().peek(0, piece);
                        let piece = rx.get(..n).unwrap_or_default();
                        let held_now = *held;
                        let took = exchange!(|ex| service.body(piece, &mut ex)).min(n);
                        slot.conn.consume(events, took);
                        if let Rx::Body { held, .. } = &mut slot.rx {
                            *held = held_now - took;
                        }
                        if took > 0 {
                            arm(events, &mut slot.timer, cfg.body_timeout);
                        }
                        if took < n || n == 0 {
                            return Next::Keep;
                        }
                        continue;
                    }
                    let input = slot.conn.input();
                    let first = input.chunk_at(0);
                    let mut decoded = dec.decode(first);
                    let mut scratch = false;
                    if matches!(&decoded, Ok(d) if d.consumed == 0 && !d.done)
                        && input.len() > first.len()
                    {
                        let n = input.len().min(rx.len());
                        let view = rx.get_mut(..n).unwrap_or_default();
                        input.peek(0, view);
                        decoded = dec.decode(rx.get(..n).unwrap_or_default());
                        scratch = true;
                    }
                    let d = match decoded {
                        Ok(d) => d,
                        Err(e) => {
                            if slot.resp.out == Out::Waiting {
                                return Self::fail(slot, e.status(), tx, cfg, events, io, service);
                            }
                            return Next::Close;
                        }
                    };
                    if !d.data.is_empty() {
                        *held = d.data.len();
                        slot.conn.consume(events, d.data.start);
                        continue;
                    }
                    if d.done {
                        let t = d.trailers.clone();
                        if !scratch && !t.is_empty() {
                            let view = rx.get_mut(..t.end).unwrap_or_default();
                            slot.conn.input().peek(0, view);
                        }
                        slot.conn.consume(events, d.consumed);
                        slot.rx = Rx::Done;
                        if t.is_empty() {
                            exchange!(|ex| service.body_end(&[], &mut ex));
                        } else {
                            let mut th = [Header::EMPTY; HDRS];
                            let section = rx.get(t).unwrap_or_default();
                            let trailers = parse_fields(section, &mut th).unwrap_or_default();
                            exchange!(|ex| service.body_end(trailers, &mut ex));
                        }
                        continue;
                    }
                    if d.consumed > 0 {
                        slot.conn.consume(events, d.consumed);
                        arm(events, &mut slot.timer, cfg.body_timeout);
                        continue;
                    }
                    if slot.conn.at_eof() {
                        return Next::Close;
                    }
                    return Next::Keep;
                }
                Rx::Done => {
                    if slot.resp.out != Out::Done {
                        if slot.conn.at_eof() {
                            slot.resp.keep_alive = false;
                        }
                        return Next::Keep;
                    }
                    Self::log(slot, service);
                    if slot.resp.keep_alive && !shutting && !slot.conn.at_eof() {
                        slot.rx = Rx::Idle;
                        arm(events, &mut slot.timer, cfg.idle_timeout);
                        continue;
                    }
                    return Self::start_closing(slot, cfg, events, io);
                }
            }
        }
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

/// The service used where none is needed (closing idle connections).
struct NoService;

impl Service for NoService {
    fn request(&mut self, _: &Request<'_, '_>, _: &mut Exchange<'_>) {}
}
