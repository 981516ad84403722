//! [`Exchange`]: the answering side of one HTTP exchange, and [`Body`], a request body the server
//! collected whole.

use super::{Header, Version, encode_chunk_header, reason_phrase};
use crate::buffer::Buffer;
use crate::conn::{ConnId, Connection};
use crate::events::Events;
use crate::io::Transport;
use core::fmt;
use core::net::SocketAddr;

/// A whole request body as the server collected it, in the pieces of its buffer: what
/// [`Exchange::body`] gives a service that asked for whole bodies
/// ([`BodyMode::Whole`](super::server::BodyMode::Whole)).
#[derive(Clone, Copy)]
pub struct Body<'a> {
    buf: &'a dyn Buffer,
    start: usize,
    len: usize,
}

impl fmt::Debug for Body<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Body").field("len", &self.len).finish()
    }
}

impl<'a> Body<'a> {
    /// The `len` bytes of `buf` from `start`.
    pub(super) fn new(buf: &'a dyn Buffer, start: usize, len: usize) -> Self {
        Body { buf, start, len }
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Its bytes, in the pieces they lie in.
    pub fn chunks(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let (buf, end) = (self.buf, self.start + self.len);
        let mut at = self.start;
        core::iter::from_fn(move || {
            if at >= end {
                return None;
            }
            let chunk = buf.chunk_at(at);
            let n = chunk.len().min(end - at);
            if n == 0 {
                return None;
            }
            at += n;
            chunk.get(..n)
        })
    }

    /// Copy as much of it as fits into `out`; returns how many bytes were copied.
    pub fn copy_to(&self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.len);
        self.buf
            .peek(self.start, out.get_mut(..n).unwrap_or_default())
    }

    /// Its bytes as one slice, when they lie in one piece.
    pub fn as_slice(&self) -> Option<&'a [u8]> {
        let chunk = self.buf.chunk_at(self.start);
        chunk.get(..self.len).filter(|_| chunk.len() >= self.len)
    }
}

/// What an [`Exchange`] needs of the server's configuration.
#[derive(Clone, Copy, Debug)]
pub(super) struct Answering {
    /// [`Exchange::send`] keeps the output at or below this many bytes.
    pub(super) write_high: usize,
    /// A `Server` field to send, if any.
    pub(super) server_name: Option<&'static str>,
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
    /// the body with [`Exchange::start`] instead, or wait for [`Service::writable`](super::server::Service::writable).
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

/// The output side of a connection, without its type parameters.
pub(crate) trait Wire {
    fn write(&mut self, data: &[u8]) -> usize;
    fn pending(&self) -> usize;
    fn room(&self) -> usize;
}

pub(crate) struct Link<'a, 'e, T, H, B, IO> {
    pub(crate) conn: &'a mut Connection<H, B>,
    pub(crate) events: &'a mut (dyn Events<T> + 'e),
    pub(crate) io: &'a mut IO,
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
pub(super) enum Out {
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
    /// `101 Switching Protocols` to a WebSocket was sent: the connection leaves HTTP once the
    /// request is read.
    Upgraded,
}

/// The response state of one exchange.
#[derive(Clone, Copy, Debug)]
pub(super) struct Resp {
    pub(super) out: Out,
    pub(super) status: u16,
    pub(super) sent: u64,
    /// Answering HEAD: no body goes out.
    pub(super) head: bool,
    pub(super) version: Version,
    pub(super) keep_alive: bool,
    pub(super) tag: usize,
    pub(super) id: ConnId,
    pub(super) peer: Option<SocketAddr>,
}

impl Resp {
    /// Before the first request of a connection.
    pub(super) const NEW: Resp = Resp {
        out: Out::Waiting,
        status: 0,
        sent: 0,
        head: false,
        version: Version::HTTP_11,
        keep_alive: false,
        tag: 0,
        id: ConnId::NONE,
        peer: None,
    };
}

/// How a response head frames the body.
enum Frame {
    None,
    Length(u64),
    Chunked,
    Close,
}

/// The answering side of one exchange, handed to every [`Service`](super::server::Service) callback. See the
/// [server's documentation](super::server) for the rules it applies.
pub struct Exchange<'a> {
    pub(super) wire: &'a mut dyn Wire,
    pub(super) resp: &'a mut Resp,
    pub(super) tx: &'a mut [u8],
    pub(super) cfg: Answering,
    pub(super) body: Option<Body<'a>>,
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

impl<'a> Exchange<'a> {
    /// The connection this exchange is on.
    pub fn id(&self) -> ConnId {
        self.resp.id
    }

    /// The whole request body, for a request whose service asked for it
    /// ([`BodyMode::Whole`](super::server::BodyMode::Whole)); `None` otherwise.
    pub fn body(&self) -> Option<Body<'a>> {
        self.body
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
        matches!(self.resp.out, Out::Done | Out::Upgraded)
    }

    /// Accept `req`'s request for a WebSocket (RFC 6455 §4.2.2): `101 Switching Protocols` with
    /// the accept key goes out, and once the request is read the connection becomes a WebSocket
    /// whose events reach [`Service::websocket`](super::server::Service::websocket), starting
    /// with [`WsEvent::Open`](crate::ws::WsEvent::Open). The connection stays in the server's
    /// table; the server's head, idle and body timeouts no longer apply to it.
    ///
    /// # Errors
    ///
    /// A request that does not ask for a WebSocket properly is answered here with
    /// [`UpgradeError::status`](crate::ws::UpgradeError::status) (400, or 426 with
    /// `Sec-WebSocket-Version: 13`) and the error comes back; [`UpgradeError::Answered`](crate::ws::UpgradeError::Answered)
    /// when the response had started already, or a fixed output buffer has no room for the
    /// answer.
    pub fn accept_websocket(
        &mut self,
        req: &super::Request<'_, '_>,
    ) -> Result<(), crate::ws::UpgradeError> {
        let key = match crate::ws::check_upgrade(req) {
            Ok(key) => key,
            Err(e) => {
                if self.resp.out == Out::Waiting {
                    let version = [Header {
                        name: "Sec-WebSocket-Version",
                        value: b"13",
                    }];
                    let fields: &[Header<'_>] = if e.status() == 426 { &version } else { &[] };
                    self.close();
                    self.respond(e.status(), fields, b"");
                }
                return Err(e);
            }
        };
        if self.resp.out != Out::Waiting {
            return Err(crate::ws::UpgradeError::Answered);
        }
        let accept = crate::ws::accept_key(key);
        let mut pos = 0;
        let server = self.cfg.server_name.unwrap_or_default();
        let parts: [&[u8]; 5] = [
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ",
            &accept,
            if server.is_empty() { b"" } else { b"\r\nServer: " },
            server.as_bytes(),
            b"\r\n\r\n",
        ];
        for part in parts {
            if put(self.tx, &mut pos, part).is_err() {
                return Err(crate::ws::UpgradeError::Answered);
            }
        }
        if self.wire.room() < pos {
            return Err(crate::ws::UpgradeError::Answered);
        }
        self.wire.write(self.tx.get(..pos).unwrap_or_default());
        self.resp.status = 101;
        self.resp.sent = 0;
        self.resp.out = Out::Upgraded;
        Ok(())
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
    /// A response that cannot be sent (a response already started, an invalid or reserved field,
    /// a body for 204 or 304, a head larger than the scratch, a fixed output buffer without room
    /// for the whole response) is a mistake of the service's: it is logged, and the client gets
    /// `500 Internal Server Error` if nothing was sent yet. [`try_respond`](Self::try_respond)
    /// says why instead.
    pub fn respond(&mut self, status: u16, headers: &[Header<'_>], body: &[u8]) {
        if let Err(e) = self.try_respond(status, headers, body) {
            self.refused(e);
        }
    }

    /// [`respond`](Self::respond) with a body in pieces: a [`Body`] the server collected.
    pub fn respond_with(&mut self, status: u16, headers: &[Header<'_>], body: Body<'_>) {
        if let Err(e) = self.try_respond_with(status, headers, body) {
            self.refused(e);
        }
    }

    fn refused(&mut self, e: RespondError) {
        warn!("levent: http: response refused: {}", e);
        if self.resp.out == Out::Waiting {
            let text = [Header {
                name: "Content-Type",
                value: b"text/plain",
            }];
            let _ = self.try_respond(500, &text, b"Internal Server Error\n");
        }
    }

    /// [`respond`](Self::respond), or why the response could not be sent.
    ///
    /// # Errors
    ///
    /// A response already started; an invalid status or field, or a reserved one; a body for
    /// 204 or 304; a head larger than the scratch; a fixed output buffer without room for the
    /// whole response (use [`start`](Self::start) then).
    pub fn try_respond(
        &mut self,
        status: u16,
        headers: &[Header<'_>],
        body: &[u8],
    ) -> Result<(), RespondError> {
        let h = self.whole_head(status, headers, body.len())?;
        let blen = if self.resp.head || no_body_status(status) {
            0
        } else {
            body.len()
        };
        let body = body.get(..blen).unwrap_or_default();
        if let Some(dst) = self.tx.get_mut(h..h + blen) {
            dst.copy_from_slice(body);
            self.wire.write(self.tx.get(..h + blen).unwrap_or_default());
        } else {
            self.wire.write(self.tx.get(..h).unwrap_or_default());
            self.wire.write(body);
        }
        self.sent_whole(status, blen);
        Ok(())
    }

    /// [`try_respond`](Self::try_respond) with a [`Body`] the server collected.
    ///
    /// # Errors
    ///
    /// As [`try_respond`](Self::try_respond).
    pub fn try_respond_with(
        &mut self,
        status: u16,
        headers: &[Header<'_>],
        body: Body<'_>,
    ) -> Result<(), RespondError> {
        let h = self.whole_head(status, headers, body.len())?;
        self.wire.write(self.tx.get(..h).unwrap_or_default());
        let mut blen = 0;
        if !self.resp.head && !no_body_status(status) {
            for chunk in body.chunks() {
                blen += self.wire.write(chunk);
            }
        }
        self.sent_whole(status, blen);
        Ok(())
    }

    /// The head of a whole response with a body of `len` bytes, built in the scratch, once it is
    /// known that head and body fit in the output; its length.
    fn whole_head(
        &mut self,
        status: u16,
        headers: &[Header<'_>],
        len: usize,
    ) -> Result<usize, RespondError> {
        if self.resp.out != Out::Waiting {
            return Err(RespondError::AlreadyStarted);
        }
        let no_body = no_body_status(status);
        if no_body && len > 0 {
            return Err(RespondError::BodyNotAllowed);
        }
        let frame = if no_body {
            Frame::None
        } else {
            Frame::Length(len as u64)
        };
        let h = self.head(status, headers, &frame)?;
        let blen = if self.resp.head || no_body { 0 } else { len };
        if self.wire.room() < h + blen {
            return Err(RespondError::NoRoom { needed: h + blen });
        }
        Ok(h)
    }

    fn sent_whole(&mut self, status: u16, blen: usize) {
        self.resp.status = status;
        self.resp.sent = blen as u64;
        self.resp.out = Out::Done;
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
    /// [`Service::writable`](super::server::Service::writable). Responses without a body (HEAD, 204, 304) take everything and send
    /// nothing.
    ///
    /// # Errors
    ///
    /// Not started, already finished, or more than the announced length.
    pub fn send(&mut self, data: &[u8]) -> Result<usize, RespondError> {
        let allowance = self.room();
        match self.resp.out {
            Out::Waiting => Err(RespondError::NotStarted),
            Out::Done | Out::Upgraded => Err(RespondError::Finished),
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
    /// [`Service::writable`](super::server::Service::writable)); [`RespondError::ShortBody`] when less than the announced length
    /// was sent (the response counts as complete and the connection closes).
    pub fn finish(&mut self) -> Result<(), RespondError> {
        match self.resp.out {
            Out::Waiting => Err(RespondError::NotStarted),
            Out::Done | Out::Upgraded => Err(RespondError::Finished),
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
