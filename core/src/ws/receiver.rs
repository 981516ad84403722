//! The receiving side of a WebSocket: bytes in, message pieces and control frames out.

use super::frame::{FrameHeader, MAX_CONTROL, MAX_HEADER, Opcode, apply_mask};
use super::utf8::Utf8Stream;
use super::{Role, WsConfig, WsError, close_code_is_valid};

/// What arrived.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Incoming<'a> {
    /// A piece of a message, unmasked. A message arrives as one or more pieces: the first has
    /// `first` set, the last `last` (a short message is one piece with both). Pieces follow the
    /// frames and the receive window, not characters: a text message's piece may end inside a
    /// UTF-8 sequence, but the message as a whole is checked to be valid UTF-8.
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
    /// A ping with its payload (answered with a pong by whoever drives the session).
    Ping(&'a [u8]),
    /// A pong with its payload.
    Pong(&'a [u8]),
    /// The peer starts (or answers) the close handshake: its status code (`None` when the frame
    /// had no payload) and reason.
    Close {
        /// The status code.
        code: Option<u16>,
        /// The reason, valid UTF-8.
        reason: &'a str,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    /// Expecting a frame header.
    Header,
    /// Inside a data frame's payload.
    Payload {
        fin: bool,
        mask: Option<[u8; 4]>,
        /// Payload bytes left in this frame.
        left: u64,
        /// Payload bytes of this frame already delivered (the masking key's phase).
        done: u64,
    },
    /// A close frame arrived, or a protocol error: nothing more is read.
    Closed,
}

/// Decodes what a peer sends into [`Incoming`] items. Sans-IO: the caller copies received bytes
/// into a contiguous buffer and calls [`next`](Self::next), which unmasks in place and says how
/// many bytes it used.
///
/// ```
/// use levent_core::ws::{Incoming, Receiver, Role, WsConfig};
///
/// let mut rx = Receiver::new(Role::Server, WsConfig::DEFAULT);
/// let mut wire = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
/// let (used, item) = rx.next(&mut wire).unwrap();
/// assert_eq!(used, 11);
/// assert_eq!(
///     item,
///     Some(Incoming::Data { text: true, first: true, last: true, data: b"Hello" })
/// );
/// ```
#[derive(Clone, Debug)]
pub struct Receiver {
    role: Role,
    cfg: WsConfig,
    state: State,
    /// The message in progress: text or binary, if one has started.
    message: Option<bool>,
    /// Its length so far, frames announced included.
    message_len: u64,
    /// A piece was delivered for the message in progress.
    started: bool,
    utf8: Utf8Stream,
}

impl Receiver {
    /// A receiver for the `role` this side plays (a server expects masked frames, a client
    /// unmasked ones), with `cfg`'s limits.
    pub fn new(role: Role, cfg: WsConfig) -> Receiver {
        Receiver {
            role,
            cfg,
            state: State::Header,
            message: None,
            message_len: 0,
            started: false,
            utf8: Utf8Stream::default(),
        }
    }

    /// Whether a close frame (or an error) ended the receiving side.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Decode from the start of `buf`, the received bytes not used yet: how many bytes were used,
    /// and the item they made, if any. `(0, None)` means more bytes are needed; a header or a
    /// control frame is used only once it is complete in `buf`, so `buf` should have room for
    /// [`MAX_HEADER`] + 125 bytes. Data is delivered as far as `buf` holds it.
    ///
    /// # Errors
    ///
    /// The peer broke the protocol ([`WsError::Protocol`]: bad header, unmasked frame to a
    /// server, masked frame to a client, a continuation without a message or a new message
    /// inside one, a bad close frame), sent a text that is not UTF-8 ([`WsError::InvalidUtf8`]),
    /// or a message above [`WsConfig::max_message`] ([`WsError::TooBig`]). Nothing more is
    /// decoded after an error: answer it with a close frame carrying [`WsError::close_code`].
    pub fn next<'b>(
        &mut self,
        buf: &'b mut [u8],
    ) -> Result<(usize, Option<Incoming<'b>>), WsError> {
        let result = self.decode(buf);
        if result.is_err() {
            self.state = State::Closed;
        }
        result
    }

    fn decode<'b>(&mut self, buf: &'b mut [u8]) -> Result<(usize, Option<Incoming<'b>>), WsError> {
        match self.state {
            State::Closed => Ok((0, None)),
            State::Header => self.header(buf),
            State::Payload {
                fin,
                mask,
                left,
                done,
            } => self.payload(buf, 0, fin, mask, left, done),
        }
    }

    fn header<'b>(&mut self, buf: &'b mut [u8]) -> Result<(usize, Option<Incoming<'b>>), WsError> {
        let Some((h, n)) = FrameHeader::parse(buf)? else {
            return Ok((0, None));
        };
        match (self.role, h.mask) {
            (Role::Server, None) => return Err(WsError::Protocol("unmasked frame from a client")),
            (Role::Client, Some(_)) => return Err(WsError::Protocol("masked frame from a server")),
            _ => {}
        }
        if h.opcode.is_control() {
            // Whole, or not yet: at most 125 bytes.
            let len = h.len as usize;
            let Some(payload) = buf.get_mut(n..n + len) else {
                return Ok((0, None));
            };
            if let Some(k) = h.mask {
                apply_mask(payload, k, 0);
            }
            let item = match h.opcode {
                Opcode::Ping => Incoming::Ping(payload),
                Opcode::Pong => Incoming::Pong(payload),
                _ => {
                    self.state = State::Closed;
                    close_frame(payload)?
                }
            };
            return Ok((n + len, Some(item)));
        }
        let text = match (h.opcode, self.message) {
            (Opcode::Continuation, Some(text)) => text,
            (Opcode::Continuation, None) => {
                return Err(WsError::Protocol("continuation frame without a message"));
            }
            (_, Some(_)) => return Err(WsError::Protocol("new message inside a fragmented one")),
            (op, None) => {
                self.message_len = 0;
                self.started = false;
                op == Opcode::Text
            }
        };
        self.message = Some(text);
        self.message_len = self.message_len.saturating_add(h.len);
        if self.message_len > self.cfg.max_message as u64 {
            return Err(WsError::TooBig);
        }
        let (used, item) = self.payload(buf, n, h.fin, h.mask, h.len, 0)?;
        Ok((used, item))
    }

    fn payload<'b>(
        &mut self,
        buf: &'b mut [u8],
        at: usize,
        fin: bool,
        mask: Option<[u8; 4]>,
        left: u64,
        done: u64,
    ) -> Result<(usize, Option<Incoming<'b>>), WsError> {
        let text = self.message.unwrap_or(false);
        let avail = buf.len().saturating_sub(at) as u64;
        let n = left.min(avail) as usize;
        let rest = left - n as u64;
        let ends = rest == 0;
        // An empty piece is worth delivering only when it ends an empty frame that ends (or
        // starts) a message; otherwise wait for bytes.
        if n == 0 && !(ends && (fin || !self.started)) {
            self.state = State::Payload {
                fin,
                mask,
                left,
                done,
            };
            return Ok((at, None));
        }
        let data = buf.get_mut(at..at + n).unwrap_or_default();
        if let Some(k) = mask {
            apply_mask(data, k, done);
        }
        let last = ends && fin;
        if text && (!self.utf8.feed(data) || (last && !self.utf8.finish())) {
            return Err(WsError::InvalidUtf8);
        }
        let first = !self.started;
        self.started = true;
        self.state = if ends {
            State::Header
        } else {
            State::Payload {
                fin,
                mask,
                left: rest,
                done: done + n as u64,
            }
        };
        if last {
            self.message = None;
        }
        Ok((
            at + n,
            Some(Incoming::Data {
                text,
                first,
                last,
                data,
            }),
        ))
    }
}

/// Check a close frame's payload (§5.5.1, §7.4).
fn close_frame(payload: &[u8]) -> Result<Incoming<'_>, WsError> {
    match payload {
        [] => Ok(Incoming::Close {
            code: None,
            reason: "",
        }),
        [_] => Err(WsError::Protocol("close frame with a one-byte payload")),
        [a, b, reason @ ..] => {
            let code = u16::from_be_bytes([*a, *b]);
            if !close_code_is_valid(code) {
                return Err(WsError::Protocol("invalid close code"));
            }
            let reason = core::str::from_utf8(reason).map_err(|_| WsError::InvalidUtf8)?;
            Ok(Incoming::Close {
                code: Some(code),
                reason,
            })
        }
    }
}

/// Room a receive buffer needs so that every header and control frame fits.
pub const MIN_BUFFER: usize = MAX_HEADER + MAX_CONTROL;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::{Sender, WsConfig};
    use std::string::String;
    use std::vec::Vec;
    use std::{format, vec};

    fn frame(fin: bool, op: Opcode, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
        let h = FrameHeader {
            fin,
            opcode: op,
            mask,
            len: payload.len() as u64,
        };
        let mut out = vec![0u8; MAX_HEADER];
        let n = h.write(&mut out).unwrap();
        out.truncate(n);
        let mut p = payload.to_vec();
        if let Some(k) = mask {
            apply_mask(&mut p, k, 0);
        }
        out.extend(p);
        out
    }

    /// Everything decoded from `wire` fed in slices of `step` bytes (the unused rest kept).
    fn decode_all(rx: &mut Receiver, wire: &[u8], step: usize) -> Result<Vec<String>, WsError> {
        let mut out = vec![];
        let mut pending: Vec<u8> = vec![];
        let mut msg = vec![];
        for piece in wire.chunks(step.max(1)) {
            pending.extend_from_slice(piece);
            loop {
                let mut buf = pending.clone();
                let (used, item) = rx.next(&mut buf)?;
                let item = item.map(|i| match i {
                    Incoming::Data {
                        text, last, data, ..
                    } => {
                        msg.extend_from_slice(data);
                        if last {
                            let m = core::mem::take(&mut msg);
                            Some(format!(
                                "{}:{}",
                                if text { "T" } else { "B" },
                                String::from_utf8_lossy(&m)
                            ))
                        } else {
                            None
                        }
                    }
                    Incoming::Ping(p) => Some(format!("ping:{}", String::from_utf8_lossy(p))),
                    Incoming::Pong(p) => Some(format!("pong:{}", String::from_utf8_lossy(p))),
                    Incoming::Close { code, reason } => Some(format!("close:{code:?}:{reason}")),
                });
                pending.drain(..used);
                if let Some(Some(s)) = item {
                    out.push(s);
                }
                if used == 0 {
                    break;
                }
            }
        }
        Ok(out)
    }

    #[test]
    fn fragmented_messages_with_control_frames_between_decode_the_same_at_any_split() {
        let k = Some([9, 8, 7, 6]);
        let mut wire = frame(false, Opcode::Text, "grü".as_bytes(), k);
        wire.extend(frame(true, Opcode::Ping, b"p1", k));
        wire.extend(frame(false, Opcode::Continuation, "ße ".as_bytes(), k));
        wire.extend(frame(true, Opcode::Continuation, b"", k));
        wire.extend(frame(true, Opcode::Binary, &[0, 1, 2], k));
        wire.extend(frame(true, Opcode::Text, b"", k));
        wire.extend(frame(
            true,
            Opcode::Close,
            &[0x03, 0xe8, b'b', b'y', b'e'],
            k,
        ));
        for step in [1, 2, 3, 5, 7, wire.len()] {
            let mut rx = Receiver::new(Role::Server, WsConfig::DEFAULT);
            let got = decode_all(&mut rx, &wire, step).unwrap();
            assert_eq!(
                got,
                [
                    "ping:p1",
                    "T:grüße ",
                    "B:\u{0}\u{1}\u{2}",
                    "T:",
                    "close:Some(1000):bye"
                ],
                "step {step}"
            );
            assert!(rx.is_closed());
        }
    }

    #[test]
    fn each_violation_gets_its_error() {
        let k = Some([1, 2, 3, 4]);
        let cases: Vec<(Vec<u8>, WsError)> = vec![
            (
                frame(true, Opcode::Text, b"hi", None),
                WsError::Protocol(""),
            ),
            (
                frame(true, Opcode::Continuation, b"x", k),
                WsError::Protocol(""),
            ),
            (
                [
                    frame(false, Opcode::Text, b"a", k),
                    frame(true, Opcode::Text, b"b", k),
                ]
                .concat(),
                WsError::Protocol(""),
            ),
            (
                frame(true, Opcode::Text, b"\xff\xfe", k),
                WsError::InvalidUtf8,
            ),
            (
                frame(true, Opcode::Text, b"ok\xe2\x82", k),
                WsError::InvalidUtf8,
            ),
            (frame(true, Opcode::Close, &[3], k), WsError::Protocol("")),
            (
                frame(true, Opcode::Close, &[0x03, 0xed], k),
                WsError::Protocol(""),
            ), // 1005
            (
                frame(true, Opcode::Close, &[0x03, 0xe8, 0xff], k),
                WsError::InvalidUtf8,
            ),
            (frame(true, Opcode::Binary, &[0; 65], k), WsError::TooBig),
            (
                [
                    frame(false, Opcode::Binary, &[0; 40], k),
                    frame(true, Opcode::Continuation, &[0; 40], k),
                ]
                .concat(),
                WsError::TooBig,
            ),
        ];
        let cfg = WsConfig { max_message: 64 };
        for (wire, want) in cases {
            let mut rx = Receiver::new(Role::Server, cfg);
            let got = decode_all(&mut rx, &wire, wire.len()).unwrap_err();
            assert_eq!(got.close_code(), want.close_code(), "{wire:02x?}: {got:?}");
            // Nothing more is decoded after an error.
            assert_eq!(
                rx.next(&mut frame(true, Opcode::Ping, b"", k)),
                Ok((0, None))
            );
        }
        // A client refuses masked frames.
        let mut rx = Receiver::new(Role::Client, cfg);
        assert!(decode_all(&mut rx, &frame(true, Opcode::Text, b"x", k), 99).is_err());
    }

    #[test]
    fn what_a_sender_writes_a_receiver_reads() {
        let mut wire = vec![0u8; 4096];
        let mut s = Sender::new(Role::Client, 42);
        let mut n = s
            .frame(&mut wire, Opcode::Text, false, "hé".as_bytes())
            .unwrap();
        n += s
            .frame(&mut wire[n..], Opcode::Continuation, true, "llo".as_bytes())
            .unwrap();
        n += s.close(&mut wire[n..], 1001, "away").unwrap();
        let mut rx = Receiver::new(Role::Server, WsConfig::DEFAULT);
        let got = decode_all(&mut rx, &wire[..n], 3).unwrap();
        assert_eq!(got, ["T:héllo", "close:Some(1001):away"]);
    }
}
