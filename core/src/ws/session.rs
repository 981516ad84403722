//! A WebSocket session over one of the core's connections: the receiver and sender together,
//! the automatic answers (pong, the close reply, close codes for errors), and the handle an
//! application sends through.

use super::frame::{MAX_HEADER, Opcode, apply_mask};
use super::receiver::Incoming;
use super::sender::CONTROL_FRAME;
use super::{Receiver, Role, Sender, WsConfig, close, close_code_is_valid};
use crate::buffer::Buffer;
use crate::conn::{ConnId, Connection};
use crate::events::Events;
use crate::http::exchange::{Link, Wire};
use crate::io::Transport;
use core::fmt;

/// What happened on a WebSocket, as its handler sees it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum WsEvent<'a> {
    /// The session is open (the opening handshake completed): the first event.
    Open,
    /// A piece of a message (see [`Incoming::Data`]).
    Data {
        /// A text message (else binary).
        text: bool,
        /// The first piece of its message.
        first: bool,
        /// The last piece of its message.
        last: bool,
        /// The bytes.
        data: &'a [u8],
    },
    /// A ping arrived; the pong has been sent already.
    Ping(&'a [u8]),
    /// A pong arrived.
    Pong(&'a [u8]),
    /// The peer's close frame arrived (its code, `None` if it gave none, and reason); the answer
    /// has been sent already, and [`Closed`](WsEvent::Closed) follows.
    Close {
        /// The peer's status code.
        code: Option<u16>,
        /// The peer's reason.
        reason: &'a str,
    },
    /// The output has drained: send more.
    Writable,
    /// The session is over (the last event): with the peer's close code after a clean close
    /// handshake, the code this side sent after a protocol error, 1005 after a close frame
    /// without a code, or 1006 when the connection ended without a close frame.
    Closed {
        /// The code.
        code: u16,
    },
}

/// The application's side of a session.
pub trait WsHandler {
    /// Something happened; answer through `ws`.
    fn event(&mut self, ev: WsEvent<'_>, ws: &mut WsConn<'_>);
}

impl<F: FnMut(WsEvent<'_>, &mut WsConn<'_>)> WsHandler for F {
    fn event(&mut self, ev: WsEvent<'_>, ws: &mut WsConn<'_>) {
        self(ev, ws)
    }
}

/// Why a send was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SendError {
    /// A close frame was sent already: nothing may follow it.
    Closed,
    /// The connection's output cannot take the frame now (a fixed buffer): nothing was written;
    /// wait for [`WsEvent::Writable`].
    NoRoom {
        /// Bytes the frame needs.
        needed: usize,
    },
    /// A piece out of order: a continuation without a message started, or a new message while
    /// a fragmented one is being sent.
    Order,
    /// A control frame's payload is longer than 125 bytes.
    TooLong,
    /// A close code that may not be sent ([`close_code_is_valid`]).
    InvalidCode,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed => f.write_str("the websocket's close frame was sent already"),
            SendError::NoRoom { needed } => write!(f, "no room for a {needed}-byte frame"),
            SendError::Order => f.write_str("message piece out of order"),
            SendError::TooLong => f.write_str("control frame payload longer than 125 bytes"),
            SendError::InvalidCode => f.write_str("close code that may not be sent"),
        }
    }
}

impl core::error::Error for SendError {}

/// The state of one WebSocket: what was received, what is being sent, how far the close
/// handshake got.
#[derive(Clone, Debug)]
pub struct Session {
    rx: Receiver,
    tx: Sender,
    /// A close frame was sent.
    close_sent: bool,
    /// A fragmented message is being sent: text or binary.
    sending: Option<bool>,
    /// The code [`WsEvent::Closed`] reports.
    code: u16,
    /// [`WsEvent::Closed`] was delivered.
    ended: bool,
}

/// What the connection under a session should do next.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Drive {
    /// Keep it: wait for input, output room, or the peer's close.
    Keep,
    /// The session is over: flush, shut down writing and close once the peer has.
    Finish,
    /// The peer is gone: close now.
    Close,
}

impl Session {
    /// A session for `role` with `cfg`'s limits; `seed` seeds a client's masking keys (see
    /// [`Sender`]).
    pub fn new(role: Role, cfg: WsConfig, seed: u64) -> Session {
        Session {
            rx: Receiver::new(role, cfg),
            tx: Sender::new(role, seed),
            close_sent: false,
            sending: None,
            code: close::ABNORMAL,
            ended: false,
        }
    }

    /// Whether this side has sent its close frame.
    pub fn close_sent(&self) -> bool {
        self.close_sent
    }

    /// Whether [`WsEvent::Closed`] was delivered.
    pub fn is_over(&self) -> bool {
        self.ended
    }

    /// The handle for `handler`, over `wire`.
    pub(crate) fn conn_for<'a>(
        &'a mut self,
        wire: &'a mut dyn Wire,
        tx: &'a mut [u8],
        id: ConnId,
    ) -> WsConn<'a> {
        WsConn {
            wire,
            session: self,
            tx,
            id,
        }
    }

    /// Deliver [`WsEvent::Closed`] once.
    pub(crate) fn end(
        &mut self,
        wire: &mut dyn Wire,
        tx: &mut [u8],
        id: ConnId,
        handler: &mut dyn WsHandler,
    ) {
        if self.ended {
            return;
        }
        self.ended = true;
        // Nothing may be sent once the session is over.
        self.close_sent = true;
        let code = self.code;
        handler.event(WsEvent::Closed { code }, &mut self.conn_for(wire, tx, id));
    }

    /// Send a close frame now, unless one went out already.
    pub(crate) fn send_close(&mut self, wire: &mut dyn Wire, tx: &mut [u8], id: ConnId, code: u16) {
        let _ = self.conn_for(wire, tx, id).close(code, "");
    }

    /// Read and act on what arrived in `conn`'s input, as far as it goes: `rx` is scratch of at
    /// least [`MIN_BUFFER`](super::MIN_BUFFER) bytes, `tx` scratch for masking; reading pauses
    /// while the output holds more than `write_high` bytes. With `drained`, the handler first
    /// hears [`WsEvent::Writable`].
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn drive<T, H, B, IO>(
        &mut self,
        conn: &mut Connection<H, B>,
        events: &mut dyn Events<T>,
        io: &mut IO,
        rx: &mut [u8],
        tx: &mut [u8],
        id: ConnId,
        write_high: usize,
        drained: bool,
        handler: &mut dyn WsHandler,
    ) -> Drive
    where
        T: Copy,
        H: Copy + PartialEq + fmt::Debug,
        B: Buffer,
        IO: Transport<Handle = H>,
    {
        if self.ended {
            return Drive::Finish;
        }
        if drained && !self.close_sent {
            let mut link = Link {
                conn: &mut *conn,
                events: &mut *events,
                io: &mut *io,
            };
            handler.event(WsEvent::Writable, &mut self.conn_for(&mut link, tx, id));
        }
        loop {
            if self.ended {
                return Drive::Finish;
            }
            if conn.output().len() > write_high {
                return Drive::Keep;
            }
            let avail = conn.input().len();
            let n = avail.min(rx.len());
            let got = conn.input().peek(0, rx.get_mut(..n).unwrap_or_default());
            let buf = rx.get_mut(..got).unwrap_or_default();
            let step = self.rx.next(buf);
            let mut link = Link {
                conn: &mut *conn,
                events: &mut *events,
                io: &mut *io,
            };
            let (used, item) = match step {
                Ok(step) => step,
                Err(e) => {
                    debug!("levent: websocket: closing: {}", e.close_code());
                    self.send_close(&mut link, tx, id, e.close_code());
                    self.code = e.close_code();
                    self.end(&mut link, tx, id, handler);
                    return Drive::Finish;
                }
            };
            link.conn.consume(&mut *link.events, used);
            let Some(item) = item else {
                if link.conn.at_eof() {
                    // Ended without a close frame (1006), or after ours without the answer.
                    self.end(&mut link, tx, id, handler);
                    return Drive::Close;
                }
                return Drive::Keep;
            };
            let mut ws = self.conn_for(&mut link, tx, id);
            match item {
                Incoming::Data {
                    text,
                    first,
                    last,
                    data,
                } => handler.event(
                    WsEvent::Data {
                        text,
                        first,
                        last,
                        data,
                    },
                    &mut ws,
                ),
                Incoming::Ping(p) => {
                    let _ = ws.control(Opcode::Pong, p);
                    handler.event(WsEvent::Ping(p), &mut ws);
                }
                Incoming::Pong(p) => handler.event(WsEvent::Pong(p), &mut ws),
                Incoming::Close { code, reason } => {
                    // Echo the peer's code (§5.5.1); a close without one is answered with none.
                    if !ws.session.close_sent {
                        let _ = match code {
                            Some(c) => ws.close(c, ""),
                            None => ws.close_frame(&[]),
                        };
                    }
                    ws.session.code = code.unwrap_or(close::NO_STATUS);
                    handler.event(WsEvent::Close { code, reason }, &mut ws);
                    self.end(&mut link, tx, id, handler);
                    return Drive::Finish;
                }
            }
        }
    }
}

/// The sending side of a WebSocket, handed to every handler call.
pub struct WsConn<'a> {
    wire: &'a mut dyn Wire,
    session: &'a mut Session,
    tx: &'a mut [u8],
    id: ConnId,
}

impl fmt::Debug for WsConn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsConn")
            .field("id", &self.id)
            .field("close_sent", &self.session.close_sent)
            .finish()
    }
}

impl WsConn<'_> {
    /// The connection this session runs on.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// Bytes waiting in the connection's output. An application that sends a lot checks it, and
    /// waits for [`WsEvent::Writable`] once it is high.
    pub fn pending(&self) -> usize {
        self.wire.pending()
    }

    /// Whether this side has sent its close frame (nothing more can be sent).
    pub fn is_closing(&self) -> bool {
        self.session.close_sent
    }

    /// Send a whole message as one frame.
    ///
    /// # Errors
    ///
    /// [`SendError::Closed`] after a close frame, [`SendError::Order`] while a fragmented
    /// message is being sent, [`SendError::NoRoom`] when a fixed output buffer cannot take it.
    pub fn send(&mut self, text: bool, data: &[u8]) -> Result<(), SendError> {
        self.send_piece(text, true, true, data)
    }

    /// Send one piece of a message, as [`WsEvent::Data`] delivers them: the first piece starts a
    /// message (text or binary), later ones continue it, and the piece with `last` ends it. An
    /// echo sends each piece it receives straight back.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send), and [`SendError::Order`] for a piece that does not follow.
    pub fn send_piece(
        &mut self,
        text: bool,
        first: bool,
        last: bool,
        data: &[u8],
    ) -> Result<(), SendError> {
        if self.session.close_sent {
            return Err(SendError::Closed);
        }
        let opcode = match (first, self.session.sending) {
            (true, None) if text => Opcode::Text,
            (true, None) => Opcode::Binary,
            (false, Some(_)) => Opcode::Continuation,
            _ => return Err(SendError::Order),
        };
        self.frame(opcode, last, data)?;
        self.session.sending = if last { None } else { Some(text) };
        Ok(())
    }

    /// Send a ping (at most 125 bytes of payload).
    ///
    /// # Errors
    ///
    /// [`SendError::TooLong`], [`SendError::Closed`], [`SendError::NoRoom`].
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), SendError> {
        if self.session.close_sent {
            return Err(SendError::Closed);
        }
        self.control(Opcode::Ping, payload)
    }

    /// Start the close handshake with `code` and `reason` (cut to fit a control frame): nothing
    /// more can be sent; the session ends when the peer's close frame comes back.
    ///
    /// # Errors
    ///
    /// [`SendError::InvalidCode`], [`SendError::Closed`] (sent already), [`SendError::NoRoom`].
    pub fn close(&mut self, code: u16, reason: &str) -> Result<(), SendError> {
        if !close_code_is_valid(code) {
            return Err(SendError::InvalidCode);
        }
        if self.session.close_sent {
            return Err(SendError::Closed);
        }
        let mut payload = [0u8; super::MAX_CONTROL];
        let mut cut = reason.len().min(super::MAX_CONTROL - 2);
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        payload[..2].copy_from_slice(&code.to_be_bytes());
        payload[2..2 + cut].copy_from_slice(&reason.as_bytes()[..cut]);
        self.close_frame(&payload[..2 + cut])?;
        if self.session.code == close::ABNORMAL {
            self.session.code = code;
        }
        Ok(())
    }

    /// A close frame with `payload` (empty, or a code and a reason).
    fn close_frame(&mut self, payload: &[u8]) -> Result<(), SendError> {
        if self.session.close_sent {
            return Err(SendError::Closed);
        }
        self.control(Opcode::Close, payload)?;
        self.session.close_sent = true;
        Ok(())
    }

    fn control(&mut self, opcode: Opcode, payload: &[u8]) -> Result<(), SendError> {
        if payload.len() > super::MAX_CONTROL {
            return Err(SendError::TooLong);
        }
        let mut frame = [0u8; CONTROL_FRAME];
        let n = self
            .session
            .tx
            .frame(&mut frame, opcode, true, payload)
            .ok_or(SendError::TooLong)?;
        if self.wire.room() < n {
            return Err(SendError::NoRoom { needed: n });
        }
        self.wire.write(frame.get(..n).unwrap_or_default());
        Ok(())
    }

    /// One data frame: the header, then the payload (masked through the scratch by a client).
    fn frame(&mut self, opcode: Opcode, fin: bool, data: &[u8]) -> Result<(), SendError> {
        let needed = self.session.tx.wire_len(data.len());
        if self.wire.room() < needed {
            return Err(SendError::NoRoom { needed });
        }
        let mut head = [0u8; MAX_HEADER];
        let Some((n, mask)) = self
            .session
            .tx
            .header(&mut head, opcode, fin, data.len() as u64)
        else {
            return Err(SendError::NoRoom { needed });
        };
        self.wire.write(head.get(..n).unwrap_or_default());
        match mask {
            None => {
                self.wire.write(data);
            }
            Some(k) => {
                let step = self.tx.len().max(1);
                let mut done = 0u64;
                for piece in data.chunks(step) {
                    let out = self.tx.get_mut(..piece.len()).unwrap_or_default();
                    out.copy_from_slice(piece);
                    apply_mask(out, k, done);
                    self.wire.write(out);
                    done += piece.len() as u64;
                }
            }
        }
        Ok(())
    }
}
