//! The HTTP/1.1 client (libevent's `evhttp_connection`): requests to one origin over a kept-alive
//! connection, as a sans-IO state machine over the core's [`Connection`].
//!
//! A [`Client`] talks to one origin (the `Host` it sends, and the addresses it may connect to).
//! It sends one request at a time ([`Client::send`] refuses a second with [`ClientError::Busy`]:
//! make a few clients for concurrency, as one makes a few `evhttp_connection`s) and hands the
//! response to a [`Receiver`] passed to [`Client::handle`]: the head, the body in pieces as they
//! arrive (Content-Length, chunked, or until the server closes), then `done`.
//!
//! - **Keep-alive**: after a complete response that allows it, the connection stays open and the
//!   next request reuses it; it is closed after [`ClientConfig::idle_timeout`] without a request,
//!   or when the server closes it.
//! - **Retry**: a request that went out on a *reused* connection and got no byte of response
//!   before the connection closed or was reset (the server closed an idle connection as the
//!   request left) is sent again, once, on a new connection, if its method is idempotent (GET,
//!   HEAD, PUT, DELETE, OPTIONS, TRACE) and it fitted in the client's scratch of `HEAD` bytes.
//! - **Timeouts**: [`ClientConfig::connect_timeout`] bounds each connect;
//!   [`ClientConfig::timeout`] bounds a request's silences (no byte sent or received for that
//!   long ends it with [`ClientError::Timeout`]).
//!
//! # Addresses, and where a resolver plugs in
//!
//! The client connects through the core's [`Connect`] (`levent-hosts` implements it for
//! `Sockets` and for the simulated network) to the addresses given to [`Client::new`] or
//! [`Client::set_addrs`], in order, moving to the next when a connect fails. It does not resolve
//! names itself: hand it the addresses of a [`dns::Resolver`](crate::dns::Resolver) answer (the
//! `http-get` example resolves with levent's resolver on the same engine, then sends), or any
//! other source of `SocketAddr`s.
//!
//! # Bodies, redirects, pools
//!
//! - **Request bodies** go whole ([`ClientRequest::body`]) or streamed ([`ClientRequest::stream`]:
//!   a length or chunked), written with [`Client::write_body`] as the connection takes them
//!   ([`Receiver::writable`] says when to go on), optionally after `Expect: 100-continue`.
//! - **Response bodies** are bounded by [`Limits::max_body_size`](super::Limits) (an error past
//!   it, the connection closed).
//! - **Redirects** are the application's to follow ([`redirect`] gives RFC 9110's method rules,
//!   [`CREDENTIAL_FIELDS`] what not to carry to another origin): the next URL may be another
//!   origin, which needs another client, and perhaps a lookup and TLS. `http-get -L` follows
//!   them.
//! - **A pool per origin**: [`Pool`] bounds the connections to one origin and reuses the
//!   kept-alive ones. There is no pipelining: a connection carries one request at a time.
//! - No cookies, no caching, no TLS here (the transport can be TLS: `levent_hosts::tls`).

use super::{
    BodyDecoder, EncodeError, Framing, HeadError, Header, Limits, Response, ResponseParser, Status,
    Version, encode_header, encode_request_line,
};
use crate::buffer::Buffer;
use crate::conn::{ConnOptions, Connection};
use crate::event::{Event, EventId, Fired};
use crate::events::Events;
use crate::io::{Connect, IoError, Transport};
use core::fmt;
use core::net::SocketAddr;
use core::time::Duration;

/// How a [`Client`] behaves.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ClientConfig {
    /// Limits on response heads and bodies.
    pub limits: Limits,
    /// Bound on each connect.
    pub connect_timeout: Option<Duration>,
    /// Bound on each silence of a request in progress: no byte received (or sent, while sending)
    /// for this long.
    pub timeout: Option<Duration>,
    /// Close a kept-alive connection after this long without a request.
    pub idle_timeout: Option<Duration>,
    /// The most bytes of a streamed request body queued in the connection's output at once
    /// (the output buffer's room bounds it too): what [`Client::body_room`] offers, and the
    /// backpressure a growable buffer would not give.
    pub upload_window: usize,
}

impl ClientConfig {
    /// Default limits; 10 s to connect, 30 s of silence, 30 s idle, 64 KiB of request body
    /// queued at once.
    pub const DEFAULT: ClientConfig = ClientConfig {
        limits: Limits::DEFAULT,
        connect_timeout: Some(Duration::from_secs(10)),
        timeout: Some(Duration::from_secs(30)),
        idle_timeout: Some(Duration::from_secs(30)),
        upload_window: 64 * 1024,
    };
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A request to send.
#[derive(Clone, Copy, Debug)]
pub struct ClientRequest<'a> {
    /// The method.
    pub method: &'a str,
    /// The target, origin-form (`/path?query`).
    pub target: &'a str,
    /// Fields to send besides `Host`, `Content-Length`, `Transfer-Encoding` and `Expect` (which
    /// the client writes).
    pub headers: &'a [Header<'a>],
    /// The body, whole (sent with `Content-Length`; none for an empty body, except for POST, PUT
    /// and PATCH, which say `Content-Length: 0`). Empty when the body is [streamed](Self::stream).
    pub body: &'a [u8],
    /// A body written piece by piece after [`Client::send`], with
    /// [`Client::write_body`] and [`Client::finish_body`]: of a known length, or chunked.
    pub stream: Option<Stream>,
}

impl<'a> ClientRequest<'a> {
    /// A `GET` of `target` without fields.
    pub const fn get(target: &'a str) -> Self {
        ClientRequest {
            method: "GET",
            target,
            headers: &[],
            body: b"",
            stream: None,
        }
    }

    /// A `POST` of `body`, whole, to `target`.
    pub const fn post(target: &'a str, body: &'a [u8]) -> Self {
        ClientRequest {
            method: "POST",
            target,
            headers: &[],
            body,
            stream: None,
        }
    }
}

/// How a streamed request body goes out (see [`ClientRequest::stream`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Stream {
    /// `Some(n)`: `Content-Length: n`, and exactly `n` bytes must be written; `None`:
    /// `Transfer-Encoding: chunked`, each [`Client::write_body`] one chunk.
    pub length: Option<u64>,
    /// Send `Expect: 100-continue` and hold the body until the server says `100 Continue`, or
    /// for [`EXPECT_WAIT`] if it says nothing (servers that ignore the field); a final response
    /// instead means the body is not wanted, and the connection is not reused.
    pub expect_continue: bool,
}

impl Stream {
    /// A body of exactly `n` bytes.
    pub const fn length(n: u64) -> Stream {
        Stream {
            length: Some(n),
            expect_continue: false,
        }
    }

    /// A chunked body of any length.
    pub const fn chunked() -> Stream {
        Stream {
            length: None,
            expect_continue: false,
        }
    }

    /// The same, waiting for `100 Continue` before the body.
    pub const fn expect_continue(self) -> Stream {
        Stream {
            expect_continue: true,
            ..self
        }
    }
}

/// The request that follows a redirect (RFC 9110 §15.4), as [`redirect`] rules it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Redirect<'a> {
    /// The method of the next request.
    pub method: &'a str,
    /// Whether the next request carries the body again.
    pub keep_body: bool,
}

/// Fields that carry credentials: a redirect to another origin (scheme, host or port) must not
/// carry them (`http-get -L` drops them, as curl does).
pub const CREDENTIAL_FIELDS: [&str; 3] = ["authorization", "cookie", "proxy-authorization"];

/// The next request after a response of `status` to a `method` request, for a client that
/// follows redirects: 301 and 302 turn a POST into a GET without body (what user agents do,
/// which RFC 9110 allows), 303 turns anything but HEAD into a GET without body, 307 and 308
/// keep the method and the body. `None` for any other status (304 included: it is not a
/// redirect to follow).
///
/// ```
/// use levent_core::http::client::{Redirect, redirect};
/// assert_eq!(redirect(303, "PUT"), Some(Redirect { method: "GET", keep_body: false }));
/// assert_eq!(redirect(307, "POST"), Some(Redirect { method: "POST", keep_body: true }));
/// assert_eq!(redirect(302, "POST").map(|r| r.method), Some("GET"));
/// assert_eq!(redirect(304, "GET"), None);
/// ```
pub fn redirect(status: u16, method: &str) -> Option<Redirect<'_>> {
    let (method, keep_body) = match status {
        301 | 302 if method == "POST" => ("GET", false),
        301 | 302 | 307 | 308 => (method, true),
        303 if method == "HEAD" => ("HEAD", false),
        303 => ("GET", false),
        _ => return None,
    };
    Some(Redirect { method, keep_body })
}

/// How long a request with `Expect: 100-continue` waits for the `100` before it sends its body
/// anyway (curl waits 1 s too).
pub const EXPECT_WAIT: Duration = Duration::from_secs(1);

/// Why a request failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ClientError {
    /// A request is in progress already.
    Busy,
    /// No address to connect to.
    NoAddress,
    /// Every address refused or failed; the last error.
    Connect(IoError),
    /// The connection failed during the exchange.
    Io(IoError),
    /// The connection closed before the response was complete.
    Closed,
    /// Silence for longer than [`ClientConfig::timeout`] (or the connect timeout).
    Timeout,
    /// The response head was malformed or over a limit.
    Head(HeadError),
    /// The response body was malformed or over a limit.
    Body(super::BodyError),
    /// The request could not be serialized (an invalid method, target or field).
    Encode(EncodeError),
    /// The request does not fit in the connection's output buffer (a fixed buffer).
    TooLarge,
    /// A streamed body did not match its `Content-Length` (more written, or finished short), or
    /// a whole body was given with a stream.
    BodyLength,
    /// No streamed body is being sent: [`Client::write_body`] or [`Client::finish_body`]
    /// without one, after it was finished, or after the server answered without waiting for it.
    NotStreaming,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Busy => f.write_str("a request is in progress"),
            ClientError::NoAddress => f.write_str("no address to connect to"),
            ClientError::Connect(e) => write!(f, "cannot connect: {e}"),
            ClientError::Io(e) => write!(f, "connection failed: {e}"),
            ClientError::Closed => f.write_str("connection closed before the response ended"),
            ClientError::Timeout => f.write_str("timed out"),
            ClientError::Head(e) => write!(f, "bad response head: {e}"),
            ClientError::Body(e) => write!(f, "bad response body: {e}"),
            ClientError::Encode(e) => write!(f, "cannot write the request: {e}"),
            ClientError::TooLarge => f.write_str("request larger than the output buffer"),
            ClientError::BodyLength => f.write_str("request body does not match its length"),
            ClientError::NotStreaming => f.write_str("no request body is being sent"),
        }
    }
}

impl core::error::Error for ClientError {}

/// Where a [`Client`] hands a response: see the [module documentation](self).
pub trait Receiver {
    /// The final response head (interim 1xx responses are skipped).
    fn response(&mut self, resp: &Response<'_, '_>);
    /// A piece of the body.
    fn body(&mut self, data: &[u8]);
    /// The exchange ended: the response is complete, or it failed.
    fn done(&mut self, result: Result<(), ClientError>);
    /// A streamed request body may go on: the connection's output drained, or the server said
    /// `100 Continue` (or [`EXPECT_WAIT`] passed without a word). Write more with
    /// [`Client::write_body`]; [`Client::body_room`] says how much it takes now.
    fn writable(&mut self) {}
}

/// Where a streamed request body stands.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Upload {
    /// No streamed body (none, or a whole one sent with the head).
    None,
    /// Waiting for `100 Continue` before the first byte.
    Waiting,
    /// Being written: `left` bytes still owed (`None`: chunked).
    Sending { left: Option<u64> },
    /// Finished: every byte (and the last chunk) is in the output.
    Sent,
    /// Given up: the server answered first; the connection is not reused.
    Dropped,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    /// No request in progress.
    Idle,
    /// Request sent (or queued); waiting for the response head.
    Head,
    /// Reading the body.
    Body,
}

/// Most addresses a client tries.
pub const MAX_ADDRS: usize = 4;

/// An HTTP/1.1 client for one origin. See the [module documentation](self).
///
/// `HEAD` is the size of each of its two scratch areas (the request kept for a retry, and the
/// response head, which must fit in it); `HDRS` the most fields in a response head.
pub struct Client<T, H, B, const HEAD: usize = 4096, const HDRS: usize = 32> {
    cfg: ClientConfig,
    datum: T,
    addrs: heapless::Vec<SocketAddr, MAX_ADDRS>,
    host: heapless::Vec<u8, 256>,
    conn: Option<Connection<H, B>>,
    timer: Option<EventId>,
    state: State,
    /// The connection served a response before this request.
    reused: bool,
    /// The current request can be sent again (idempotent, kept whole in `req`).
    retryable: bool,
    retried: bool,
    /// Some response byte arrived for the current request.
    answered: bool,
    /// The current connection is established.
    up: bool,
    /// Which address the current connection went to.
    addr_at: usize,
    method_head: bool,
    keep: bool,
    upload: Upload,
    /// The streamed body's length (`None`: chunked), for when `100 Continue` comes.
    stream_len: Option<u64>,
    parser: ResponseParser,
    body: BodyDecoder,
    req: [u8; HEAD],
    req_len: usize,
    rx: [u8; HEAD],
}

impl<T, H, B, const HEAD: usize, const HDRS: usize> fmt::Debug for Client<T, H, B, HEAD, HDRS> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("state", &self.state)
            .field("connected", &self.conn.is_some())
            .finish()
    }
}

fn idempotent(method: &str) -> bool {
    matches!(
        method,
        "GET" | "HEAD" | "PUT" | "DELETE" | "OPTIONS" | "TRACE"
    )
}

impl<T, H, B, const HEAD: usize, const HDRS: usize> Client<T, H, B, HEAD, HDRS>
where
    T: Copy,
    H: Copy + PartialEq + fmt::Debug,
    B: Buffer + Default,
{
    /// A client for origin `host` (the `Host` field: `name[:port]`, at most 256 bytes) at
    /// `addrs` (the first [`MAX_ADDRS`]); its events carry `datum`.
    pub fn new(config: ClientConfig, host: &str, addrs: &[SocketAddr], datum: T) -> Self {
        let mut c = Client {
            cfg: config,
            datum,
            addrs: heapless::Vec::new(),
            host: heapless::Vec::new(),
            conn: None,
            timer: None,
            state: State::Idle,
            reused: false,
            retryable: false,
            retried: false,
            answered: false,
            up: false,
            addr_at: 0,
            method_head: false,
            keep: false,
            upload: Upload::None,
            stream_len: None,
            parser: ResponseParser::new(config.limits),
            body: BodyDecoder::new(Framing::None, &config.limits),
            req: [0; HEAD],
            req_len: 0,
            rx: [0; HEAD],
        };
        let n = host.len().min(256);
        let _ = c
            .host
            .extend_from_slice(host.as_bytes().get(..n).unwrap_or_default());
        c.set_addrs(addrs);
        c
    }

    /// Replace the addresses (a resolver's new answer); the open connection, if any, is kept.
    pub fn set_addrs(&mut self, addrs: &[SocketAddr]) {
        self.addrs.clear();
        for a in addrs.iter().take(MAX_ADDRS) {
            let _ = self.addrs.push(*a);
        }
    }

    /// Whether a request is in progress.
    pub fn is_busy(&self) -> bool {
        self.state != State::Idle
    }

    /// Whether a connection is open (kept alive, or serving a request).
    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// Whether `id` is one of this client's events.
    pub fn owns(&self, id: EventId) -> bool {
        self.timer == Some(id) || self.conn.as_ref().is_some_and(|c| c.owns(id))
    }

    /// Send `req`: on the kept-alive connection if there is one, else on a new one. The response
    /// comes through the [`Receiver`] given to [`handle`](Self::handle).
    ///
    /// # Errors
    ///
    /// [`ClientError::Busy`], an invalid request, no address, or a connect that fails at once on
    /// every address.
    pub fn send<IO>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        req: &ClientRequest<'_>,
    ) -> Result<(), ClientError>
    where
        IO: Connect<Handle = H>,
    {
        if self.state != State::Idle {
            return Err(ClientError::Busy);
        }
        if req.stream.is_some() && !req.body.is_empty() {
            return Err(ClientError::BodyLength);
        }
        let head = self.encode_head(req)?;
        let whole = head + req.body.len();
        let body_in_scratch = whole <= HEAD;
        if let (true, Some(dst)) = (body_in_scratch, self.req.get_mut(head..whole)) {
            dst.copy_from_slice(req.body);
        }
        self.req_len = if body_in_scratch { whole } else { head };
        self.stream_len = req.stream.and_then(|s| s.length);
        self.upload = match req.stream {
            None => Upload::None,
            Some(s) if s.expect_continue => Upload::Waiting,
            Some(Stream {
                length: Some(0), ..
            }) => Upload::Sent,
            Some(s) => Upload::Sending { left: s.length },
        };
        // A streamed body is not kept: such a request cannot be sent again.
        self.retryable = body_in_scratch && req.stream.is_none() && idempotent(req.method);
        self.retried = false;
        self.method_head = req.method == "HEAD";
        if self.timer.is_none() {
            self.timer = Some(
                events
                    .create(Event::timer(), self.datum)
                    .map_err(|_| ClientError::Io(IoError::NoDescriptors))?,
            );
        }
        if let Some(t) = self.timer {
            let _ = events.del(t);
        }
        let extra = if body_in_scratch { &b""[..] } else { req.body };
        self.begin(events, io, extra)?;
        if self.upload == Upload::Waiting
            && let Some(t) = self.timer
        {
            let _ = events.add(t, Some(EXPECT_WAIT));
        }
        Ok(())
    }

    /// How many bytes of a streamed body [`write_body`](Self::write_body) takes now: the room
    /// in the connection's output within [`ClientConfig::upload_window`] (less a chunk's
    /// framing), at most what the `Content-Length` still owes; 0 while the request waits for
    /// `100 Continue` or before it is connected.
    pub fn body_room(&self) -> usize {
        let Upload::Sending { left } = self.upload else {
            return 0;
        };
        let Some(conn) = self.conn.as_ref().filter(|_| self.up) else {
            return 0;
        };
        let queued = conn.output().len();
        let room = conn
            .output()
            .room()
            .min(self.cfg.upload_window.saturating_sub(queued));
        match left {
            Some(left) => room.min(usize::try_from(left).unwrap_or(usize::MAX)),
            // `{len:x}\r\n` and `\r\n` around the data: at most 16 + 4 bytes.
            None => room.saturating_sub(20),
        }
    }

    /// Write the next piece of a streamed body: as much of `data` as
    /// [`body_room`](Self::body_room) allows (a chunk of that size, for a chunked body); the
    /// count. 0 means wait for [`Receiver::writable`] (the output is full, the request waits
    /// for `100 Continue`, or the connect is still in progress).
    ///
    /// # Errors
    ///
    /// [`ClientError::BodyLength`] for bytes beyond the `Content-Length`;
    /// [`ClientError::NotStreaming`] when no streamed body is being sent (none was asked for, it
    /// was finished, or the server answered without it).
    pub fn write_body<IO: Transport<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        data: &[u8],
    ) -> Result<usize, ClientError> {
        let left = match self.upload {
            Upload::Waiting => return Ok(0),
            Upload::Sending { left } => left,
            _ => return Err(ClientError::NotStreaming),
        };
        if left.is_some_and(|l| data.len() as u64 > l) {
            return Err(ClientError::BodyLength);
        }
        let n = self.body_room().min(data.len());
        let (Some(conn), true) = (self.conn.as_mut(), n > 0) else {
            return Ok(0);
        };
        let piece = data.get(..n).unwrap_or_default();
        match left {
            Some(l) => {
                conn.write(events, io, piece);
                let l = l - n as u64;
                self.upload = if l == 0 {
                    Upload::Sent
                } else {
                    Upload::Sending { left: Some(l) }
                };
            }
            None => {
                let mut size = [0u8; 18];
                let len = chunk_size_line(&mut size, n);
                conn.write(events, io, size.get(..len).unwrap_or_default());
                conn.write(events, io, piece);
                conn.write(events, io, b"\r\n");
            }
        }
        Ok(n)
    }

    /// End a streamed body: the last chunk of a chunked one; for one with a length, check that
    /// all of it was written.
    ///
    /// # Errors
    ///
    /// [`ClientError::BodyLength`] when a length is still owed; [`ClientError::NotStreaming`]
    /// as for [`write_body`](Self::write_body); [`ClientError::TooLarge`] when the output has no
    /// room for the last chunk yet (try again after [`Receiver::writable`]).
    pub fn finish_body<IO: Transport<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
    ) -> Result<(), ClientError> {
        match self.upload {
            Upload::Sent => Ok(()),
            Upload::Sending { left: Some(_) } => Err(ClientError::BodyLength),

            Upload::Sending { left: None } => {
                let conn = self.conn.as_mut().ok_or(ClientError::NotStreaming)?;
                if conn.output().room() < 5 {
                    return Err(ClientError::TooLarge);
                }
                conn.write(events, io, b"0\r\n\r\n");
                self.upload = Upload::Sent;
                Ok(())
            }
            Upload::Waiting | Upload::None | Upload::Dropped => Err(ClientError::NotStreaming),
        }
    }

    /// Whether a streamed body is still owed (being written, or waiting for `100 Continue`).
    pub fn is_uploading(&self) -> bool {
        matches!(self.upload, Upload::Waiting | Upload::Sending { .. })
    }

    /// Drop the connection, ending a request in progress without calling its receiver.
    pub fn close<IO: Transport<Handle = H>>(&mut self, events: &mut dyn Events<T>, io: &mut IO) {
        if let Some(c) = self.conn.take() {
            c.close(events, io);
        }
        if let Some(t) = self.timer.take() {
            let _ = events.free(t);
        }
        self.state = State::Idle;
    }

    /// Handle a fired event of this client (others are ignored), calling `recv` with what the
    /// response brings.
    pub fn handle<IO, R>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        fired: &Fired<T>,
        recv: &mut R,
    ) where
        IO: Connect<Handle = H>,
        R: Receiver + ?Sized,
    {
        if Some(fired.id) == self.timer {
            if self.state == State::Idle {
                self.drop_conn(events, io);
            } else if self.upload == Upload::Waiting {
                // No `100 Continue` in time: send the body anyway.
                self.start_upload(recv);
            }
            return;
        }
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        if !conn.owns(fired.id) {
            return;
        }
        let out = conn.handle(events, io, fired);
        if out.connected() {
            self.up = true;
            let opts = ConnOptions {
                read_timeout: self.cfg.timeout,
                write_timeout: self.cfg.timeout,
                ..conn.options()
            };
            conn.set_options(events, opts);
        }
        if !self.up && (out.error().is_some() || out.write_timeout()) {
            // The connect failed: the next address, if any.
            self.drop_conn(events, io);
            self.addr_at += 1;
            let last = match out.error() {
                Some(e) => ClientError::Connect(e),
                None => ClientError::Timeout,
            };
            let next = if self.addr_at < self.addrs.len() {
                self.connect(events, io)
                    .and_then(|()| self.write_req(events, io, b""))
            } else {
                Err(last)
            };
            if let Err(e) = next {
                self.fail(events, io, recv, e);
            }
            return;
        }
        if out.readable() || out.eof() {
            self.read(events, io, recv);
        }
        if (out.drained() || out.connected())
            && matches!(self.upload, Upload::Sending { .. })
            && self.state != State::Idle
        {
            recv.writable();
        }
        let Some(conn) = self.conn.as_ref() else {
            return;
        };
        if !(out.failed() || conn.at_eof()) {
            return;
        }
        match self.state {
            State::Idle => self.drop_conn(events, io),
            _ if out.read_timeout() || out.write_timeout() => {
                self.fail(events, io, recv, ClientError::Timeout);
            }
            _ if !self.answered && self.reused && self.retryable && !self.retried => {
                // The server closed the kept-alive connection as the request went out.
                self.retried = true;
                self.drop_conn(events, io);
                self.addr_at = 0;
                if let Err(e) = self
                    .connect(events, io)
                    .and_then(|()| self.write_req(events, io, b""))
                {
                    self.fail(events, io, recv, e);
                }
            }
            _ => {
                let err = match out.error() {
                    Some(e) => ClientError::Io(e),
                    None => ClientError::Closed,
                };
                self.fail(events, io, recv, err);
            }
        }
    }

    fn encode_head(&mut self, req: &ClientRequest<'_>) -> Result<usize, ClientError> {
        let buf = &mut self.req;
        let mut pos = encode_request_line(buf, req.method, req.target, Version::HTTP_11)
            .map_err(map_encode)?;
        let mut field = |name: &str, value: &[u8], pos: &mut usize| -> Result<(), ClientError> {
            let rest = buf.get_mut(*pos..).unwrap_or_default();
            *pos += encode_header(rest, name, value).map_err(map_encode)?;
            Ok(())
        };
        field("Host", &self.host, &mut pos)?;
        for h in req.headers {
            let reserved = ["host", "content-length", "transfer-encoding", "expect"];
            if reserved.iter().any(|r| h.name.eq_ignore_ascii_case(r)) {
                return Err(ClientError::Encode(EncodeError::InvalidHeaderName));
            }
            field(h.name, h.value, &mut pos)?;
        }
        let length = match req.stream {
            Some(Stream { length: None, .. }) => {
                field("Transfer-Encoding", b"chunked", &mut pos)?;
                None
            }
            Some(Stream {
                length: Some(n), ..
            }) => Some(n),
            None if !req.body.is_empty() || matches!(req.method, "POST" | "PUT" | "PATCH") => {
                Some(req.body.len() as u64)
            }
            None => None,
        };
        if req.stream.is_some_and(|s| s.expect_continue) {
            field("Expect", b"100-continue", &mut pos)?;
        }
        if let Some(mut n) = length {
            let mut digits = [0u8; 20];
            let mut i = digits.len();
            loop {
                i -= 1;
                if let Some(d) = digits.get_mut(i) {
                    *d = b'0' + (n % 10) as u8;
                }
                n /= 10;
                if n == 0 || i == 0 {
                    break;
                }
            }
            field(
                "Content-Length",
                digits.get(i..).unwrap_or_default(),
                &mut pos,
            )?;
        }
        let end =
            buf.get_mut(pos..pos + 2)
                .ok_or(ClientError::Encode(EncodeError::BufferTooSmall {
                    needed: pos + 2,
                }))?;
        end.copy_from_slice(b"\r\n");
        Ok(pos + 2)
    }

    /// Send the prepared request (plus `extra` body bytes not kept in the scratch).
    fn begin<IO>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        extra: &[u8],
    ) -> Result<(), ClientError>
    where
        IO: Connect<Handle = H>,
    {
        self.answered = false;
        self.reused = self.conn.is_some();
        if let Some(conn) = self.conn.as_mut() {
            let opts = ConnOptions {
                read_timeout: self.cfg.timeout,
                write_timeout: self.cfg.timeout,
                ..conn.options()
            };
            conn.set_options(events, opts);
        } else {
            self.addr_at = 0;
            self.connect(events, io)?;
        }
        self.write_req(events, io, extra)
    }

    fn write_req<IO>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        extra: &[u8],
    ) -> Result<(), ClientError>
    where
        IO: Connect<Handle = H>,
    {
        let Some(conn) = self.conn.as_mut() else {
            return Err(ClientError::Closed);
        };
        let len = self.req_len + extra.len();
        if conn.output().room() < len {
            return Err(ClientError::TooLarge);
        }
        conn.write(events, io, self.req.get(..self.req_len).unwrap_or_default());
        if !extra.is_empty() {
            conn.write(events, io, extra);
        }
        self.state = State::Head;
        self.parser.reset();
        Ok(())
    }

    /// Connect to the addresses from `addr_at` on, until one starts.
    fn connect<IO>(&mut self, events: &mut dyn Events<T>, io: &mut IO) -> Result<(), ClientError>
    where
        IO: Connect<Handle = H>,
    {
        let mut last = ClientError::NoAddress;
        while let Some(addr) = self.addrs.get(self.addr_at) {
            match io.connect(*addr) {
                Ok(h) => {
                    let opts = ConnOptions {
                        write_timeout: self.cfg.connect_timeout,
                        ..ConnOptions::DEFAULT
                    };
                    match Connection::connecting(
                        events,
                        io,
                        h,
                        B::default(),
                        B::default(),
                        opts,
                        self.datum,
                    ) {
                        Ok(c) => {
                            self.conn = Some(c);
                            self.reused = false;
                            self.up = false;
                            return Ok(());
                        }
                        Err(_) => {
                            io.close(events, h);
                            return Err(ClientError::Io(IoError::NoDescriptors));
                        }
                    }
                }
                Err(e) => last = ClientError::Connect(e),
            }
            self.addr_at += 1;
        }
        Err(last)
    }

    fn drop_conn<IO: Transport<Handle = H>>(&mut self, events: &mut dyn Events<T>, io: &mut IO) {
        if let Some(c) = self.conn.take() {
            c.close(events, io);
        }
    }

    fn fail<IO, R>(&mut self, events: &mut dyn Events<T>, io: &mut IO, recv: &mut R, e: ClientError)
    where
        IO: Transport<Handle = H>,
        R: Receiver + ?Sized,
    {
        self.drop_conn(events, io);
        self.state = State::Idle;
        self.upload = Upload::None;
        recv.done(Err(e));
    }

    /// The body may go out now: tell the receiver.
    fn start_upload<R: Receiver + ?Sized>(&mut self, recv: &mut R) {
        if self.upload == Upload::Waiting {
            self.upload = match self.stream_len {
                Some(0) => Upload::Sent,
                left => Upload::Sending { left },
            };
            recv.writable();
        }
    }

    /// Parse what arrived.
    fn read<IO, R>(&mut self, events: &mut dyn Events<T>, io: &mut IO, recv: &mut R)
    where
        IO: Connect<Handle = H>,
        R: Receiver + ?Sized,
    {
        loop {
            let Some(conn) = self.conn.as_mut() else {
                return;
            };
            match self.state {
                State::Idle => {
                    // Bytes nobody asked for: the connection is not usable any more.
                    let n = conn.input().len();
                    if n > 0 {
                        conn.consume(events, n);
                        self.drop_conn(events, io);
                    }
                    return;
                }
                State::Head => {
                    let avail = conn.input().len();
                    if avail == 0 {
                        return;
                    }
                    self.answered = true;
                    let n = avail.min(HEAD);
                    let view = self.rx.get_mut(..n).unwrap_or_default();
                    conn.input().peek(0, view);
                    let mut hdrs = [Header::EMPTY; HDRS];
                    let view = self.rx.get(..n).unwrap_or_default();
                    let resp = match self.parser.parse(view, &mut hdrs) {
                        Ok(Status::Partial) if n < HEAD => return,
                        Ok(Status::Partial) => {
                            self.fail(events, io, recv, ClientError::Head(HeadError::HeadTooLarge));
                            return;
                        }
                        Err(e) => {
                            self.fail(events, io, recv, ClientError::Head(e));
                            return;
                        }
                        Ok(Status::Complete(r)) => r,
                    };
                    let head_len = resp.head_len();
                    if resp.is_interim() {
                        let go_on = resp.status() == 100 && self.upload == Upload::Waiting;
                        conn.consume(events, head_len);
                        self.parser.reset();
                        if go_on {
                            if let Some(t) = self.timer {
                                let _ = events.del(t);
                            }
                            self.start_upload(recv);
                        }
                        continue;
                    }
                    let refused = match self.upload {
                        Upload::Waiting => true,
                        // A server may answer while the body is coming (an echo); an error
                        // status says it does not want the rest (RFC 9112 §9.5).
                        Upload::Sending { .. } => resp.status() >= 300,
                        _ => false,
                    };
                    if refused {
                        // The body stops here, and the connection cannot carry another
                        // request.
                        self.upload = Upload::Dropped;
                        if let Some(t) = self.timer {
                            let _ = events.del(t);
                        }
                    }
                    let method = if self.method_head { "HEAD" } else { "GET" };
                    let framing = resp.framing(method);
                    self.keep = resp.keep_alive()
                        && self.upload != Upload::Dropped
                        && !matches!(framing, Framing::CloseDelimited | Framing::Tunnel);
                    recv.response(&resp);
                    conn.consume(events, head_len);
                    self.body = BodyDecoder::new(framing, &self.cfg.limits);
                    self.state = State::Body;
                }
                State::Body => {
                    let input = conn.input();
                    let first = input.chunk_at(0);
                    let mut scratch = false;
                    let mut decoded = self.body.decode(first);
                    if matches!(&decoded, Ok(d) if d.consumed == 0 && !d.done)
                        && input.len() > first.len()
                    {
                        let n = input.len().min(HEAD);
                        let view = self.rx.get_mut(..n).unwrap_or_default();
                        input.peek(0, view);
                        decoded = self.body.decode(self.rx.get(..n).unwrap_or_default());
                        scratch = true;
                    }
                    let d = match decoded {
                        Ok(d) => d,
                        Err(e) => {
                            self.fail(events, io, recv, ClientError::Body(e));
                            return;
                        }
                    };
                    if !d.data.is_empty() {
                        let data = if scratch {
                            self.rx.get(d.data.clone()).unwrap_or_default()
                        } else {
                            first.get(d.data.clone()).unwrap_or_default()
                        };
                        recv.body(data);
                    }
                    conn.consume(events, d.consumed);
                    if d.done {
                        self.complete(events, io, recv);
                        return;
                    }
                    if d.consumed == 0 {
                        if conn.at_eof() {
                            match self.body.finish() {
                                Ok(()) => {
                                    self.keep = false;
                                    self.complete(events, io, recv);
                                }
                                Err(e) => self.fail(events, io, recv, ClientError::Body(e)),
                            }
                        }
                        return;
                    }
                }
            }
        }
    }

    fn complete<IO, R>(&mut self, events: &mut dyn Events<T>, io: &mut IO, recv: &mut R)
    where
        IO: Transport<Handle = H>,
        R: Receiver + ?Sized,
    {
        self.state = State::Idle;
        if self.upload != Upload::None && self.upload != Upload::Sent {
            self.keep = false;
        }
        self.upload = Upload::None;
        let reusable = self.keep
            && self
                .conn
                .as_ref()
                .is_some_and(|c| !c.at_eof() && c.input().is_empty());
        if reusable {
            if let Some(conn) = self.conn.as_mut() {
                let opts = ConnOptions {
                    read_timeout: None,
                    ..conn.options()
                };
                conn.set_options(events, opts);
            }
            if let Some(t) = self.timer {
                let _ = events.add(t, self.cfg.idle_timeout);
            }
        } else {
            self.drop_conn(events, io);
        }
        recv.done(Ok(()));
    }
}

/// Up to `N` [`Client`]s for one origin: the bound on connections to it, with the kept-alive
/// ones used first (what a browser's per-host pool is; libevent leaves it to the application).
/// One request per connection at a time, and no pipelining: [`send`](Self::send) takes an idle
/// client, or hands [`ClientError::Busy`] back when all `N` are busy, for the caller to queue.
///
/// ```
/// use levent_core::http::client::{ClientConfig, ClientError, ClientRequest, Pool};
/// use levent_core::sim::{Sim, Wires};
/// use levent_core::{Engine, Platform, RingBuffer};
/// # use levent_core::io::{Connect, IoError};
/// # struct Net(Wires<4, 256>);
/// # impl levent_core::Transport for Net {
/// #     type Handle = usize;
/// #     fn source(&self, h: usize) -> levent_core::SourceKey { self.0.source(h) }
/// #     fn read(&mut self, h: usize, b: &mut [u8]) -> Result<usize, IoError> { self.0.read(h, b) }
/// #     fn write(&mut self, h: usize, b: &[u8]) -> Result<usize, IoError> { self.0.write(h, b) }
/// #     fn shutdown_write(&mut self, h: usize) -> Result<(), IoError> { self.0.shutdown_write(h) }
/// #     fn connected(&mut self, h: usize) -> Result<(), IoError> { self.0.connected(h) }
/// #     fn close(&mut self, d: &mut dyn levent_core::Dispatcher, h: usize) { self.0.close(d, h) }
/// # }
/// # impl Connect for Net {
/// #     fn connect(&mut self, _: core::net::SocketAddr) -> Result<usize, IoError> {
/// #         self.0.open().ok_or(IoError::NoDescriptors)
/// #     }
/// # }
/// # let mut net = Net(Wires::new());
/// let mut engine: Engine<u8, 16, 8, 1> = Engine::new(Platform::manual(1000));
/// let server = "192.0.2.80:80".parse().unwrap();
/// let mut pool: Pool<u8, usize, RingBuffer<512>, 2> =
///     Pool::new(ClientConfig::DEFAULT, "example.test", &[server], 0);
/// let get = ClientRequest::get("/");
/// assert_eq!(pool.send(&mut engine, &mut net, &get), Ok(0));
/// assert_eq!(pool.send(&mut engine, &mut net, &get), Ok(1));
/// assert_eq!(pool.send(&mut engine, &mut net, &get), Err(ClientError::Busy)); // queue it
/// assert_eq!(pool.busy(), 2);
/// ```
pub struct Pool<T, H, B, const N: usize, const HEAD: usize = 4096, const HDRS: usize = 32> {
    clients: [Client<T, H, B, HEAD, HDRS>; N],
}

impl<T, H, B, const N: usize, const HEAD: usize, const HDRS: usize> fmt::Debug
    for Pool<T, H, B, N, HEAD, HDRS>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let busy = self
            .clients
            .iter()
            .filter(|c| c.state != State::Idle)
            .count();
        f.debug_struct("Pool")
            .field("clients", &N)
            .field("busy", &busy)
            .finish()
    }
}

impl<T, H, B, const N: usize, const HEAD: usize, const HDRS: usize> Pool<T, H, B, N, HEAD, HDRS>
where
    T: Copy,
    H: Copy + PartialEq + fmt::Debug,
    B: Buffer + Default,
{
    /// `N` clients for origin `host` at `addrs` (as [`Client::new`]); their events carry
    /// `datum`. No connection is made before the first request.
    pub fn new(config: ClientConfig, host: &str, addrs: &[SocketAddr], datum: T) -> Self {
        Pool {
            clients: core::array::from_fn(|_| Client::new(config, host, addrs, datum)),
        }
    }

    /// Send `req` on an idle client, one with a kept-alive connection first; the client's index
    /// (`0..N`), whose response goes to `recvs[index]` in [`handle`](Self::handle).
    ///
    /// # Errors
    ///
    /// [`ClientError::Busy`] when all `N` clients are busy; otherwise what [`Client::send`]
    /// says.
    pub fn send<IO: Connect<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        req: &ClientRequest<'_>,
    ) -> Result<usize, ClientError> {
        let idle = |c: &Client<T, H, B, HEAD, HDRS>| c.state == State::Idle;
        let i = self
            .clients
            .iter()
            .position(|c| idle(c) && c.is_connected())
            .or_else(|| self.clients.iter().position(idle))
            .ok_or(ClientError::Busy)?;
        self.clients[i].send(events, io, req)?;
        Ok(i)
    }

    /// Route a fired event to the client it belongs to, which hands its response to
    /// `recvs[index]`; that index, or `None` for an event of none of them.
    pub fn handle<IO: Connect<Handle = H>, R: Receiver>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        fired: &Fired<T>,
        recvs: &mut [R; N],
    ) -> Option<usize> {
        let i = self.clients.iter().position(|c| c.owns(fired.id))?;
        self.clients[i].handle(events, io, fired, &mut recvs[i]);
        Some(i)
    }

    /// Client `i`, to stream its body or look at it.
    pub fn client(&mut self, i: usize) -> Option<&mut Client<T, H, B, HEAD, HDRS>> {
        self.clients.get_mut(i)
    }

    /// How many clients have a request in progress.
    pub fn busy(&self) -> usize {
        self.clients.iter().filter(|c| c.is_busy()).count()
    }

    /// How many clients hold a connection (kept alive, or serving a request).
    pub fn connected(&self) -> usize {
        self.clients.iter().filter(|c| c.is_connected()).count()
    }

    /// Whether `id` is an event of one of the clients.
    pub fn owns(&self, id: EventId) -> bool {
        self.clients.iter().any(|c| c.owns(id))
    }

    /// Replace every client's addresses (as [`Client::set_addrs`]).
    pub fn set_addrs(&mut self, addrs: &[SocketAddr]) {
        for c in &mut self.clients {
            c.set_addrs(addrs);
        }
    }

    /// Drop every connection, ending requests in progress without calling their receivers.
    pub fn close<IO: Transport<Handle = H>>(&mut self, events: &mut dyn Events<T>, io: &mut IO) {
        for c in &mut self.clients {
            c.close(events, io);
        }
    }
}

fn map_encode(e: EncodeError) -> ClientError {
    ClientError::Encode(e)
}

/// Write `{n:x}\r\n` into `out` (18 bytes hold any `usize`); its length.
fn chunk_size_line(out: &mut [u8; 18], n: usize) -> usize {
    let digits = (usize::BITS - n.leading_zeros()).div_ceil(4).max(1) as usize;
    for (i, d) in out.iter_mut().take(digits).enumerate() {
        let nibble = (n >> (4 * (digits - 1 - i))) & 0xF;
        *d = b"0123456789abcdef"[nibble];
    }
    out[digits] = b'\r';
    out[digits + 1] = b'\n';
    digits + 2
}
