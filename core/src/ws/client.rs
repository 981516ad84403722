//! A WebSocket client: the opening handshake over a new connection, then a [`Session`].

use super::handshake::check_accept;
use super::session::Drive;
use super::{Role, SendError, Session, WsConfig, WsConn, WsEvent, WsHandler};
use crate::buffer::Buffer;
use crate::conn::{ConnId, ConnOptions, Connection};
use crate::event::{EventId, Fired};
use crate::events::Events;
use crate::http::exchange::Link;
use crate::http::{Header, ResponseParser, Status};
use crate::io::{Connect, IoError, Transport};
use base64::Engine as _;
use core::fmt;
use core::net::SocketAddr;
use core::time::Duration;

/// Why a client could not open its WebSocket.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ClientError {
    /// The host or path cannot go into a request (a control character, a space), or the request
    /// head does not fit in the client's scratch.
    InvalidRequest,
    /// The connect failed, or the connection did afterwards.
    Io(IoError),
    /// The server's answer is not a valid acceptance: says what is wrong (a status other than
    /// 101, a wrong `Sec-WebSocket-Accept`, a malformed head).
    Handshake(&'static str),
    /// No answer within the handshake timeout.
    Timeout,
    /// The server closed the connection before answering.
    Closed,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::InvalidRequest => f.write_str("invalid websocket request"),
            ClientError::Io(e) => write!(f, "websocket connection failed: {e}"),
            ClientError::Handshake(what) => write!(f, "websocket handshake refused: {what}"),
            ClientError::Timeout => f.write_str("websocket handshake timed out"),
            ClientError::Closed => f.write_str("the server closed before the handshake completed"),
        }
    }
}

impl core::error::Error for ClientError {}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    /// The upgrade request is out (or queued until the connect completes); waiting for 101.
    Handshake,
    /// The session runs.
    Open,
    /// Over: closed, or failed (see [`Client::error`]).
    Done,
}

/// A WebSocket client (RFC 6455 §4.1): it connects, sends the upgrade request, checks the
/// server's answer, then runs a [`Session`] whose events go to the [`WsHandler`] given to
/// [`handle`](Self::handle), starting with [`WsEvent::Open`].
///
/// `HEAD` is its scratch: the request and response heads must fit, and received frames are
/// handed over in pieces of at most this many bytes.
///
/// ```text
/// let mut ws = ws::Client::<Ev, _, Buf>::connect(&mut engine, &mut io, addr, "example.com", "/chat",
///                                               ws::WsConfig::DEFAULT, seed, Ev::Ws)?;
/// while let Some(fired) = engine.next(&mut host)? {
///     ws.handle(&mut engine, &mut io, &fired, &mut |ev: WsEvent<'_>, c: &mut WsConn<'_>| match ev {
///         WsEvent::Open => { let _ = c.send(true, b"hello"); }
///         WsEvent::Data { data, .. } => println!("{data:?}"),
///         _ => {}
///     });
///     if ws.is_done() { break }
/// }
/// ```
pub struct Client<T, H, B, const HEAD: usize = 4096> {
    conn: Option<Connection<H, B>>,
    _datum: core::marker::PhantomData<T>,
    state: State,
    key: [u8; 24],
    session: Session,
    error: Option<ClientError>,
    handshake_timeout: Option<Duration>,
    /// The session is over: writing is shut down, waiting for the server to close.
    lingering: bool,
    rx: [u8; HEAD],
    tx: [u8; 512],
}

impl<T, H, B, const HEAD: usize> fmt::Debug for Client<T, H, B, HEAD> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ws::Client")
            .field("state", &self.state)
            .field("error", &self.error)
            .finish()
    }
}

/// Whether `s` can go into a request line or field value as it is.
fn plain(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic())
}

impl<T, H, B, const HEAD: usize> Client<T, H, B, HEAD>
where
    T: Copy,
    H: Copy + PartialEq + fmt::Debug,
    B: Buffer + Default,
{
    /// Connect to `addr` and ask for a WebSocket on `path` of `host` (the `Host` field); the
    /// connection's events carry `datum`. `seed` seeds the handshake key and the masking keys:
    /// give it the platform's randomness. The handshake must complete within 10 seconds
    /// ([`set_handshake_timeout`](Self::set_handshake_timeout) before the first event to change it).
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidRequest`], or the connect failing at once
    /// ([`ClientError::Io`]).
    #[allow(clippy::too_many_arguments)]
    pub fn connect<IO: Connect<Handle = H>>(
        events: &mut dyn Events<T>,
        io: &mut IO,
        addr: SocketAddr,
        host: &str,
        path: &str,
        cfg: WsConfig,
        seed: u64,
        datum: T,
    ) -> Result<Self, ClientError> {
        if !plain(host) || !plain(path) || !path.starts_with('/') {
            return Err(ClientError::InvalidRequest);
        }
        let mut nonce = [0u8; 16];
        let mut x = seed ^ 0x9e37_79b9_7f4a_7c15;
        for b in nonce.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = (x >> 24) as u8;
        }
        let mut key = [0u8; 24];
        // 16 bytes are 24 characters of base64: the buffer always fits.
        let _ = base64::engine::general_purpose::STANDARD.encode_slice(nonce, &mut key);
        let mut c = Client {
            conn: None,
            _datum: core::marker::PhantomData,
            state: State::Handshake,
            key,
            session: Session::new(Role::Client, cfg, x),
            error: None,
            handshake_timeout: Some(Duration::from_secs(10)),
            lingering: false,
            rx: [0; HEAD],
            tx: [0; 512],
        };
        let n = c.request(host, path)?;
        let h = io.connect(addr).map_err(ClientError::Io)?;
        let opts = ConnOptions {
            write_timeout: c.handshake_timeout,
            read_timeout: c.handshake_timeout,
            ..ConnOptions::DEFAULT
        };
        let mut conn =
            match Connection::connecting(events, io, h, B::default(), B::default(), opts, datum) {
                Ok(conn) => conn,
                Err(r) => {
                    io.close(events, r.handle);
                    return Err(ClientError::Io(IoError::NoDescriptors));
                }
            };
        let req = c.rx.get(..n).unwrap_or_default();
        if conn.write(events, io, req) < n {
            conn.close(events, io);
            return Err(ClientError::InvalidRequest);
        }
        c.conn = Some(conn);
        Ok(c)
    }

    /// The upgrade request, written into the scratch; its length.
    fn request(&mut self, host: &str, path: &str) -> Result<usize, ClientError> {
        let key = core::str::from_utf8(&self.key).unwrap_or_default();
        let parts: [&str; 7] = [
            "GET ",
            path,
            " HTTP/1.1\r\nHost: ",
            host,
            "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ",
            key,
            "\r\nSec-WebSocket-Version: 13\r\n\r\n",
        ];
        let mut pos = 0;
        for p in parts {
            let dst = self
                .rx
                .get_mut(pos..pos + p.len())
                .ok_or(ClientError::InvalidRequest)?;
            dst.copy_from_slice(p.as_bytes());
            pos += p.len();
        }
        Ok(pos)
    }

    /// Change the handshake timeout (call it right after [`connect`](Self::connect)).
    pub fn set_handshake_timeout(&mut self, events: &mut dyn Events<T>, timeout: Option<Duration>) {
        self.handshake_timeout = timeout;
        if let Some(c) = self.conn.as_mut() {
            let opts = ConnOptions {
                write_timeout: timeout,
                read_timeout: timeout,
                ..c.options()
            };
            c.set_options(events, opts);
        }
    }

    /// Whether `id` is one of this client's events.
    pub fn owns(&self, id: EventId) -> bool {
        self.conn.as_ref().is_some_and(|c| c.owns(id))
    }

    /// Whether the session is open (the handshake completed, and it is not over).
    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// Whether the client is finished: closed, or failed ([`error`](Self::error) says why).
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Why the handshake failed, if it did.
    pub fn error(&self) -> Option<ClientError> {
        self.error
    }

    /// Send through the open session outside a handler call (a message typed by a user, say).
    ///
    /// # Errors
    ///
    /// [`SendError::Closed`] when the session is not open, else as [`WsConn::send`].
    pub fn with<IO, R>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        f: impl FnOnce(&mut WsConn<'_>) -> Result<R, SendError>,
    ) -> Result<R, SendError>
    where
        IO: Transport<Handle = H>,
    {
        let (State::Open, Some(conn)) = (self.state, self.conn.as_mut()) else {
            return Err(SendError::Closed);
        };
        let mut link = Link { conn, events, io };
        f(&mut self.session.conn_for(&mut link, &mut self.tx, ConnId::NONE))
    }

    /// Handle a fired event of this client (others are ignored), calling `handler` with what
    /// happened.
    pub fn handle<IO>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        fired: &Fired<T>,
        handler: &mut dyn WsHandler,
    ) where
        IO: Transport<Handle = H>,
    {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        if !conn.owns(fired.id) {
            return;
        }
        let out = conn.handle(events, io, fired);
        if self.state == State::Handshake {
            if out.read_timeout() || out.write_timeout() {
                return self.fail(events, io, handler, ClientError::Timeout);
            }
            if let Some(e) = out.error() {
                return self.fail(events, io, handler, ClientError::Io(e));
            }
            if !self.handshake(events, io, handler) {
                return;
            }
        }
        if self.state != State::Open {
            return;
        }
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let drive = self.session.drive(
            conn,
            events,
            io,
            &mut self.rx,
            &mut self.tx,
            ConnId::NONE,
            usize::MAX,
            out.drained(),
            handler,
        );
        if self.lingering {
            if out.failed() || conn.at_eof() {
                self.finish(events, io);
            }
            return;
        }
        if out.failed() && !self.session.is_over() {
            let mut link = Link {
                conn,
                events: &mut *events,
                io: &mut *io,
            };
            self.session
                .end(&mut link, &mut self.tx, ConnId::NONE, handler);
            return self.finish(events, io);
        }
        match drive {
            Drive::Keep => {}
            Drive::Finish if !conn.at_eof() => {
                // The close handshake is done: the server closes the connection first (§7.1.1).
                // Shut down writing and wait for it, two seconds at most.
                self.lingering = true;
                let opts = ConnOptions {
                    read_timeout: Some(Duration::from_secs(2)),
                    ..conn.options()
                };
                conn.set_options(events, opts);
                if conn.shutdown(events, io).is_err() {
                    self.finish(events, io);
                }
            }
            Drive::Finish | Drive::Close => self.finish(events, io),
        }
    }

    /// Look for the server's answer; whether the session is open now.
    fn handshake<IO: Transport<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        handler: &mut dyn WsHandler,
    ) -> bool {
        let Some(conn) = self.conn.as_mut() else {
            return false;
        };
        let n = conn.input().len().min(HEAD);
        let got = conn
            .input()
            .peek(0, self.rx.get_mut(..n).unwrap_or_default());
        let mut headers = [Header::EMPTY; 32];
        let mut parser = ResponseParser::new(crate::http::Limits::DEFAULT);
        let parsed = parser.parse(self.rx.get(..got).unwrap_or_default(), &mut headers);
        let head_len = match parsed {
            Ok(Status::Complete(resp)) => match check_accept(&resp, &self.key) {
                Ok(()) => resp.head_len(),
                Err(what) => {
                    self.fail(events, io, handler, ClientError::Handshake(what));
                    return false;
                }
            },
            Ok(Status::Partial) if got == HEAD => {
                self.fail(
                    events,
                    io,
                    handler,
                    ClientError::Handshake("the answer's head is too large"),
                );
                return false;
            }
            Ok(Status::Partial) => {
                if conn.at_eof() {
                    self.fail(events, io, handler, ClientError::Closed);
                }
                return false;
            }
            Err(_) => {
                self.fail(
                    events,
                    io,
                    handler,
                    ClientError::Handshake("malformed answer"),
                );
                return false;
            }
        };
        conn.consume(events, head_len);
        let opts = ConnOptions {
            read_timeout: None,
            write_timeout: None,
            ..conn.options()
        };
        conn.set_options(events, opts);
        self.state = State::Open;
        let mut link = Link { conn, events, io };
        handler.event(
            WsEvent::Open,
            &mut self.session.conn_for(&mut link, &mut self.tx, ConnId::NONE),
        );
        true
    }

    fn fail<IO: Transport<Handle = H>>(
        &mut self,
        events: &mut dyn Events<T>,
        io: &mut IO,
        handler: &mut dyn WsHandler,
        error: ClientError,
    ) {
        self.error = Some(error);
        if let Some(conn) = self.conn.as_mut() {
            let mut link = Link {
                conn,
                events: &mut *events,
                io: &mut *io,
            };
            self.session
                .end(&mut link, &mut self.tx, ConnId::NONE, handler);
        }
        self.finish(events, io);
    }

    fn finish<IO: Transport<Handle = H>>(&mut self, events: &mut dyn Events<T>, io: &mut IO) {
        if let Some(c) = self.conn.take() {
            c.close(events, io);
        }
        self.state = State::Done;
    }

    /// Drop the connection at once, without a close handshake (the session ends with 1006).
    pub fn abort<IO: Transport<Handle = H>>(&mut self, events: &mut dyn Events<T>, io: &mut IO) {
        self.finish(events, io);
    }
}
