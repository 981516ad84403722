//! The HTTP/1.1 message codec (RFC 9110, RFC 9112): sans-IO parsing and serializing, the layer
//! levent's evhttp-like server and client are built on. No allocation, no `unsafe`, no panics on
//! anything from the network: every malformed input is an error value.
//!
//! - **Heads**: [`RequestParser`] and [`ResponseParser`] take the bytes received so far and answer
//!   [`Status::Complete`] (a [`Request`] or [`Response`] borrowing those bytes, with the head's
//!   length), [`Status::Partial`], or a [`HeadError`]. Field lines go into a caller-provided
//!   `[Header; N]`. The parsers are resumable: they remember how far they validated, so feeding a
//!   growing buffer costs only the new bytes, and feeding a message whole or one byte at a time
//!   gives the same result (limits included: of two limits, the one crossed at the earlier byte
//!   is reported).
//! - **Semantics**: [`Request::framing`] and [`Response::framing`] (RFC 9112 §6.3),
//!   `keep_alive()`, [`Request::expects_continue`], [`Request::upgrade`].
//! - **Bodies**: [`BodyDecoder`] for Content-Length, chunked (extensions validated, trailers
//!   handed back) and close-delimited bodies; it says how many bytes it consumed and where the
//!   data is, without copying.
//! - **Serializing** into a caller's `&mut [u8]`: [`encode_request_head`],
//!   [`encode_response_head`], [`encode_header`], [`encode_chunk`], [`encode_last_chunk`]. A part
//!   that does not fit is an error and nothing is written.
//! - **Limits** ([`Limits`]): each has its own error and status code: 414 for the request line,
//!   431 for the fields, 413 for the body; [`HeadError::status`] and [`BodyError::status`] give
//!   the code to answer any error with (400, 414, 431, 413, 501, 505).
//!
//! ```
//! use levent_core::http::{BodyDecoder, Header, Limits, RequestParser, Status};
//!
//! let wire = b"POST /log HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
//! let limits = Limits::DEFAULT;
//! let mut headers = [Header::EMPTY; 16];
//! let mut parser = RequestParser::new(limits);
//! let Status::Complete(req) = parser.parse(wire, &mut headers)? else { unreachable!() };
//! let mut body = BodyDecoder::new(req.framing(), &limits);
//! let mut pos = req.head_len();
//! let mut data = Vec::new();
//! while !body.is_done() {
//!     let d = body.decode(&wire[pos..])?;
//!     data.extend_from_slice(d.data(&wire[pos..]));
//!     pos += d.consumed;
//! }
//! assert_eq!((&data[..], req.keep_alive()), (&b"abc"[..], true));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Strictness, and the choices behind it
//!
//! Ambiguous framing never lets the bytes after a message be read as another message. Refused:
//! Content-Length together with Transfer-Encoding; differing Content-Length values; a
//! Content-Length that is not decimal digits; in a request, a Transfer-Encoding whose final
//! coding is not `chunked` (400) or that names an unknown coding (501); `chunked` applied twice;
//! Transfer-Encoding in HTTP/1.0 (RFC 9112 §6.1: its framing is faulty); obs-fold and any line
//! starting with whitespace; whitespace between a field name and its colon; a CR not followed
//! by LF, anywhere; NUL and every other control character but HTAB in field values and reason
//! phrases; a missing (HTTP/1.1), repeated or invalid Host in requests; a method that is not a
//! token; a version that is not `HTTP/DIGIT.DIGIT`.
//!
//! Where RFC 9112 leaves a choice, levent takes the one below; the acceptance corpus
//! (`core/tests/data/`, from llhttp, http-parser, httparse and h11) decided the close calls.
//!
//! - **Bare LF** ends a line of a head or trailer section (RFC 9112 §2.2 allows it; httparse,
//!   hyper, h11 and the corpus accept it, for responses and requests alike), and the CR before an
//!   LF is dropped. The framing lines of chunked coding are exact: a chunk-size line and the end
//!   of chunk data need CRLF (the corpus rejects `1\nA\n`), because that is where request
//!   smuggling hides.
//! - **Empty lines before a start line** are skipped, in requests (RFC 9112 §2.2) and in
//!   responses (a client reading `304` followed by CRLF and the next response). They count
//!   towards the head size. [`RequestParser::started`] tells whether a message has begun.
//! - **Repeated identical Content-Length** values (`5, 5`, or two lines of `5`) are accepted as
//!   one (RFC 9110 §8.6 allows it); leading zeros are fine (`003` is 3).
//! - **obs-fold is refused** in requests (RFC 9112 §5.2 allows 400) and in responses too, as
//!   hyper does by default: a user agent is asked to unfold, which a zero-copy parser cannot do
//!   in place.
//! - **Control characters** other than HTAB are refused in field values (RFC 9110 §5.5 calls
//!   them invalid; keeping them is only a MAY). Bytes 0x80–0xFF (obs-text) are accepted in field
//!   values and reason phrases, and handed over as bytes.
//! - **The request target** must be 1*VCHAR (0x21–0x7E): UTF-8 and other bytes above 0x7E are
//!   refused, characters such as `"`, `{`, `|` or `\` that browsers send are accepted, and the
//!   URI grammar is left to the router. Exactly one space separates the parts of the request
//!   line.
//! - **Methods** are any token: an unknown method is a well-formed request that the application
//!   answers with 501 (RFC 9110 §9.1), not a syntax error.
//! - **Versions**: requests must be `HTTP/1.x` (505 otherwise; `HTTP/1.2` and later minors
//!   are handled as 1.1, RFC 9112 §2.3), except `PRI * HTTP/2.0`, the HTTP/2 preface, which is
//!   reported as [`Upgrade::Http2Preface`]. Responses may be `HTTP/0.x` or `HTTP/1.x`.
//! - **Status lines**: three digits in `100..=599`; the space and reason after the code may be
//!   missing (`HTTP/1.1 200`), as httparse, h11 and the corpus accept.
//! - **Host** may be empty (RFC 9112 §3.2) and must otherwise be `uri-host [":" port]`. The
//!   missing-Host check can be turned off ([`RequestParser::require_host`]) for peers such as
//!   SSDP; repeated and invalid values are always refused.
//! - **Transfer codings** known for requests: `chunked`, `gzip`, `x-gzip`, `deflate`,
//!   `compress`, `x-compress` (the body is still delivered coded). A response whose final coding
//!   is not chunked is close-delimited (RFC 9112 §6.3).
//! - **Chunk lines** follow RFC 9112 §7.1 exactly: `1*HEXDIG *(BWS ";" BWS name [BWS "=" BWS
//!   value]) CRLF`, value a token or quoted string; whitespace after the size without a `;`
//!   (`5 \r\n`) is refused. Sizes above `u64::MAX` are refused.
//! - **Trailers** are validated like header fields and returned as a range of the input; the
//!   decoder does not interpret them (they must not change the framing anyway).
//! - **Upgrade** needs both the `Upgrade` field and the `upgrade` connection option, in HTTP/1.1
//!   (RFC 9110 §7.8); CONNECT and the HTTP/2 preface count as upgrades too. A response upgrades
//!   only with 101 (or 2xx to CONNECT): [`Framing::Tunnel`].
//! - **Limits** count raw bytes; a line's length excludes its line ending.
//!
//! # Why not httparse
//!
//! httparse 1.10 (seanmonstar's, no_std with `default-features = false`) was evaluated first. It
//! is a fine tokenizer but could not give the verdicts required here without redoing most of
//! its work: it re-parses from the first byte on every call (quadratic when fed byte by byte;
//! no resumable state); it has no line or head size limits, so a 414 or 431 needs a scan of our
//! own anyway, before httparse sees the line; it accepts bytes 0x80–0xFF in the request target;
//! it answers every version but `HTTP/1.0` and `HTTP/1.1` with one `Error::Version`, so 505
//! cannot be told from 400, and `HTTP/0.9` status lines are refused; it returns an empty reason
//! phrase when the phrase has obs-text; and its `parse_chunk_size` accepts any byte in chunk
//! extensions and whitespace after the size. What would remain of it, the token and field-value
//! byte classes, is a few tables, so the codec has its own line scanner instead.
//!
//! # Feeding the parsers
//!
//! A parser borrows nothing between calls: it keeps offsets. Feed it the same bytes again with
//! more after them (the buffer may grow or move). After `Complete`, the body starts at
//! `head_len()`; [`RequestParser::reset`] prepares the parser for the next message, fed from
//! the first byte after the previous one. The [`BodyDecoder`] works the same way: drop the bytes
//! it consumed, feed the rest with more after them.

mod body;
mod chars;
pub mod client;
mod encode;
mod error;
pub(crate) mod exchange;
mod head;
mod limits;
mod methods;
pub mod route;
pub mod server;

pub use body::{BodyDecoder, Decoded};
pub use encode::{
    encode_chunk, encode_chunk_header, encode_header, encode_last_chunk, encode_request_head,
    encode_request_line, encode_response_head, encode_status_line, reason_phrase,
};
pub use error::{BodyError, EncodeError, HeadError};
pub use head::{
    Framing, Header, Request, RequestParser, Response, ResponseParser, Status, Upgrade, Version,
    parse_fields,
};
pub use limits::Limits;
