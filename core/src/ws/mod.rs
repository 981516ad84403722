//! WebSocket (RFC 6455) as a sans-IO state machine: the opening handshake on the HTTP server
//! and client, framing with the masking rules, fragmentation, ping and pong, the close handshake
//! with status codes, text validated as UTF-8, and limits. No allocation, no `unsafe`: the same
//! code on a desktop and on a board (feature `ws`, on by default).
//!
//! # Pieces
//!
//! - [`FrameHeader`] parses and writes frame headers; [`apply_mask`] masks payloads.
//! - [`Receiver`] turns received bytes into [`Incoming`] items: message pieces, pings, pongs and
//!   close frames, checking every rule of §5 and §7 on the way; [`Sender`] writes frames (masked
//!   by a client, unmasked by a server).
//! - [`accept_key`] computes `Sec-WebSocket-Accept` (SHA-1 and base64, both no_std crates);
//!   [`check_upgrade`] checks a request asking for the upgrade.
//! - [`Session`] joins both sides over one of the core's [`Connection`](crate::Connection)s and
//!   drives it: pings are answered, the close handshake is completed, a protocol error is
//!   answered with the close code the RFC gives it; the application sees [`WsEvent`]s and sends
//!   through a [`WsConn`].
//! - The HTTP server upgrades a request when its service calls
//!   [`Exchange::accept_websocket`](crate::http::server::Exchange::accept_websocket); the
//!   connection stays in the server's table and its events come to
//!   [`Service::websocket`](crate::http::server::Service::websocket). [`Client`] opens one to a
//!   server.
//!
//! # Messages in pieces
//!
//! A message reaches the application as the frames and the receive buffer bring it, in pieces
//! ([`WsEvent::Data`], `first` and `last` marking its ends), so a 1 MiB message needs no 1 MiB
//! buffer; an application that wants whole messages collects the pieces (up to
//! [`WsConfig::max_message`], which the receiver enforces with close code 1009). Sending mirrors
//! it: [`WsConn::send`] sends a whole message as one frame, [`WsConn::send_piece`] one piece of
//! a fragmented one — an echo sends every piece back as it comes.
//!
//! # Close codes for what peers get wrong (§7.4)
//!
//! | the peer sent | answered with |
//! |---|---|
//! | a frame with reserved bits, an unknown opcode, a fragmented or longer than 125 bytes control frame, an unmasked frame to a server or a masked one to a client, a continuation without a message or a new message inside one, a close frame with a one-byte payload or an invalid code | 1002 (protocol error) |
//! | a text message (or close reason) that is not UTF-8 | 1007 |
//! | a message longer than [`WsConfig::max_message`] | 1009 (too big) |
//! | nothing more: the connection ended without a close frame | reported as 1006 to the application, nothing sent |
//!
//! ```
//! use levent_core::ws::{accept_key, check_upgrade};
//! use levent_core::http::{Header, RequestParser, Limits, Status};
//!
//! let wire = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
//!              Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
//!              Sec-WebSocket-Version: 13\r\n\r\n";
//! let mut headers = [Header::EMPTY; 8];
//! let Status::Complete(req) = RequestParser::new(Limits::DEFAULT).parse(wire, &mut headers)? else {
//!     unreachable!()
//! };
//! let key = check_upgrade(&req)?;
//! assert_eq!(&accept_key(key), b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod client;
mod frame;
mod handshake;
mod receiver;
mod sender;
pub(crate) mod session;
mod utf8;

pub use client::{Client, ClientError};
pub use frame::{FrameHeader, MAX_CONTROL, MAX_HEADER, Opcode, apply_mask};
pub use handshake::{UpgradeError, accept_key, check_upgrade, has_token};
pub use receiver::{Incoming, MIN_BUFFER, Receiver};
pub use sender::Sender;
pub use session::{SendError, Session, WsConn, WsEvent, WsHandler};
pub use utf8::Utf8Stream;

use core::fmt;

/// Which side of the connection this is: a client masks what it sends, a server expects it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Role {
    /// The side that accepted the upgrade.
    Server,
    /// The side that asked for it.
    Client,
}

/// Limits of a WebSocket connection.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct WsConfig {
    /// The longest message taken, all its frames together; a longer one is refused with close
    /// code 1009.
    pub max_message: usize,
}

impl WsConfig {
    /// Messages of up to 1 MiB.
    pub const DEFAULT: WsConfig = WsConfig {
        max_message: 1 << 20,
    };
}

impl Default for WsConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What a peer got wrong; each has the close code to answer it with.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WsError {
    /// A rule of the framing protocol was broken (close code 1002); says which.
    Protocol(&'static str),
    /// A text message or a close reason is not UTF-8 (1007).
    InvalidUtf8,
    /// A message is longer than [`WsConfig::max_message`] (1009).
    TooBig,
}

impl WsError {
    /// The close code to answer this error with (§7.4.1).
    pub const fn close_code(&self) -> u16 {
        match self {
            WsError::Protocol(_) => close::PROTOCOL_ERROR,
            WsError::InvalidUtf8 => close::INVALID_DATA,
            WsError::TooBig => close::TOO_BIG,
        }
    }
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WsError::Protocol(what) => write!(f, "websocket protocol error: {what}"),
            WsError::InvalidUtf8 => f.write_str("websocket text that is not UTF-8"),
            WsError::TooBig => f.write_str("websocket message too big"),
        }
    }
}

impl core::error::Error for WsError {}

/// Close status codes (§7.4.1).
pub mod close {
    /// The purpose of the connection is fulfilled.
    pub const NORMAL: u16 = 1000;
    /// The endpoint goes away (a server shutting down, a browser leaving a page).
    pub const GOING_AWAY: u16 = 1001;
    /// A protocol error.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A type of data the endpoint cannot accept.
    pub const UNSUPPORTED: u16 = 1003;
    /// Reported locally when a close frame had no code; never sent.
    pub const NO_STATUS: u16 = 1005;
    /// Reported locally when the connection ended without a close frame; never sent.
    pub const ABNORMAL: u16 = 1006;
    /// Data inconsistent with the message's type (text that is not UTF-8).
    pub const INVALID_DATA: u16 = 1007;
    /// A message that violates the endpoint's policy.
    pub const POLICY: u16 = 1008;
    /// A message too big to process.
    pub const TOO_BIG: u16 = 1009;
    /// The server met a condition that prevented it from fulfilling the request.
    pub const INTERNAL_ERROR: u16 = 1011;
}

/// Whether `code` may be sent in a close frame (§7.4): 1000–1003, 1007–1011, the three IANA
/// registered since (1012 service restart, 1013 try again later, 1014 bad gateway) and the ranges
/// for libraries (3000–3999) and applications (4000–4999).
///
/// ```
/// use levent_core::ws::close_code_is_valid;
/// assert!(close_code_is_valid(1000) && close_code_is_valid(4001));
/// assert!(!close_code_is_valid(1005) && !close_code_is_valid(999) && !close_code_is_valid(5000));
/// ```
pub const fn close_code_is_valid(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}
