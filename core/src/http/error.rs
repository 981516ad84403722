//! One error type per operation: [`HeadError`] (parsing a head), [`BodyError`] (decoding a
//! body), [`EncodeError`] (serializing). Each parse error suggests the status code a server
//! answers with, through `status()`.

use core::fmt;

/// Why a request or response head was refused. The parser stops at the first problem; feeding it
/// more bytes returns the same error.
///
/// ```
/// use levent_core::http::{Header, HeadError, Limits, RequestParser};
///
/// let mut headers = [Header::EMPTY; 8];
/// let mut parser = RequestParser::new(Limits::DEFAULT);
/// let raw = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
/// let err = parser.parse(raw, &mut headers).unwrap_err();
/// assert_eq!(err, HeadError::ContentLengthWithTransferEncoding);
/// assert_eq!(err.status(), 400);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HeadError {
    /// The method is empty or not a token.
    InvalidMethod,
    /// The request target is empty or holds a byte that is not visible ASCII.
    InvalidTarget,
    /// The version is not `HTTP/DIGIT.DIGIT`, or is not followed by exactly one space (responses)
    /// or the end of the line (requests).
    InvalidVersion,
    /// A well-formed version this codec does not speak (requests: not `HTTP/1.x`; responses:
    /// major version above 1). Answer 505.
    UnsupportedVersion,
    /// The status code is not three digits in `100..=599`, or is not separated by one space.
    InvalidStatus,
    /// The reason phrase holds a control character.
    InvalidReason,
    /// A field line without a colon, or a field name that is empty or not a token.
    InvalidHeaderName,
    /// Whitespace between a field name and its colon (RFC 9112 §5.1).
    WhitespaceBeforeColon,
    /// A field value holding NUL or another control character (RFC 9110 §5.5).
    InvalidHeaderValue,
    /// A line that starts with whitespace: obsolete line folding, or whitespace between the start
    /// line and the first field (RFC 9112 §2.2, §5.2).
    ObsFold,
    /// A CR that is not followed by LF (RFC 9112 §2.2).
    BareCr,
    /// A Content-Length that is not a list of identical decimal numbers.
    InvalidContentLength,
    /// Content-Length given more than once with different values.
    ConflictingContentLength,
    /// Both Content-Length and Transfer-Encoding: ambiguous framing (RFC 9112 §6.3).
    ContentLengthWithTransferEncoding,
    /// Transfer-Encoding in an HTTP/1.0 message, whose framing is then faulty (RFC 9112 §6.1).
    TransferEncodingInHttp10,
    /// A Transfer-Encoding that is empty, malformed, or applies `chunked` more than once.
    InvalidTransferEncoding,
    /// A request whose final transfer coding is not `chunked`: its length cannot be determined
    /// (RFC 9112 §6.3).
    ChunkedNotFinal,
    /// A request transfer coding this codec does not know. Answer 501.
    UnknownTransferCoding,
    /// An HTTP/1.1 request without Host (RFC 9112 §3.2).
    MissingHost,
    /// More than one Host field line.
    DuplicateHost,
    /// A Host value that is not `uri-host [ ":" port ]`.
    InvalidHost,
    /// The start line is longer than [`Limits::max_request_line`](super::Limits). Answer 414.
    StartLineTooLong,
    /// More field lines than [`Limits::max_headers`](super::Limits) or than the caller's header
    /// array holds. Answer 431.
    TooManyHeaders,
    /// The head is longer than [`Limits::max_head_size`](super::Limits). Answer 431.
    HeadTooLarge,
    /// The Content-Length exceeds [`Limits::max_body_size`](super::Limits). Answer 413.
    BodyTooLarge,
}

impl HeadError {
    /// The status code a server answers this error with: 414, 431, 413, 501, 505, or 400.
    pub const fn status(self) -> u16 {
        match self {
            HeadError::StartLineTooLong => 414,
            HeadError::TooManyHeaders | HeadError::HeadTooLarge => 431,
            HeadError::BodyTooLarge => 413,
            HeadError::UnknownTransferCoding => 501,
            HeadError::UnsupportedVersion => 505,
            _ => 400,
        }
    }
}

impl fmt::Display for HeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HeadError::InvalidMethod => "invalid method",
            HeadError::InvalidTarget => "invalid request target",
            HeadError::InvalidVersion => "invalid HTTP version",
            HeadError::UnsupportedVersion => "unsupported HTTP version",
            HeadError::InvalidStatus => "invalid status code",
            HeadError::InvalidReason => "invalid reason phrase",
            HeadError::InvalidHeaderName => "invalid field name",
            HeadError::WhitespaceBeforeColon => "whitespace between field name and colon",
            HeadError::InvalidHeaderValue => "control character in field value",
            HeadError::ObsFold => "line starts with whitespace (obsolete line folding)",
            HeadError::BareCr => "CR not followed by LF",
            HeadError::InvalidContentLength => "invalid Content-Length",
            HeadError::ConflictingContentLength => "conflicting Content-Length values",
            HeadError::ContentLengthWithTransferEncoding => {
                "both Content-Length and Transfer-Encoding"
            }
            HeadError::TransferEncodingInHttp10 => "Transfer-Encoding in an HTTP/1.0 message",
            HeadError::InvalidTransferEncoding => "invalid Transfer-Encoding",
            HeadError::ChunkedNotFinal => "final transfer coding is not chunked",
            HeadError::UnknownTransferCoding => "unknown transfer coding",
            HeadError::MissingHost => "missing Host",
            HeadError::DuplicateHost => "more than one Host",
            HeadError::InvalidHost => "invalid Host",
            HeadError::StartLineTooLong => "start line too long",
            HeadError::TooManyHeaders => "too many header fields",
            HeadError::HeadTooLarge => "head too large",
            HeadError::BodyTooLarge => "body too large",
        })
    }
}

impl core::error::Error for HeadError {}

/// Why a body could not be decoded. The decoder stops at the first problem; feeding it more
/// bytes returns the same error.
///
/// ```
/// use levent_core::http::{BodyDecoder, BodyError, Framing, Limits};
///
/// let mut body = BodyDecoder::new(Framing::Chunked, &Limits::DEFAULT);
/// assert_eq!(body.decode(b"5 \r\n"), Err(BodyError::InvalidChunkSize));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BodyError {
    /// A chunk-size line that is not `1*HEXDIG [chunk-ext] CRLF`, or a size above `u64::MAX`.
    InvalidChunkSize,
    /// A malformed chunk extension (RFC 9112 §7.1.1).
    InvalidChunkExtension,
    /// A chunk-size line whose extensions exceed
    /// [`Limits::max_chunk_ext`](super::Limits).
    ChunkExtensionTooLong,
    /// Chunk data not followed by CRLF.
    MissingChunkCrlf,
    /// A malformed trailer field line; the reason is the same as in a head.
    InvalidTrailer(HeadError),
    /// The trailer section exceeds [`Limits::max_trailer_size`](super::Limits). Answer 431.
    TrailersTooLarge,
    /// The body exceeds [`Limits::max_body_size`](super::Limits). Answer 413.
    BodyTooLarge,
    /// The connection ended before the body did.
    Truncated,
}

impl BodyError {
    /// The status code a server answers this error with: 413, 431, or 400.
    pub const fn status(self) -> u16 {
        match self {
            BodyError::BodyTooLarge => 413,
            BodyError::TrailersTooLarge => 431,
            _ => 400,
        }
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::InvalidChunkSize => f.write_str("invalid chunk size line"),
            BodyError::InvalidChunkExtension => f.write_str("invalid chunk extension"),
            BodyError::ChunkExtensionTooLong => f.write_str("chunk extension too long"),
            BodyError::MissingChunkCrlf => f.write_str("chunk data not followed by CRLF"),
            BodyError::InvalidTrailer(e) => write!(f, "invalid trailer: {e}"),
            BodyError::TrailersTooLarge => f.write_str("trailer section too large"),
            BodyError::BodyTooLarge => f.write_str("body too large"),
            BodyError::Truncated => f.write_str("connection closed before the body ended"),
        }
    }
}

impl core::error::Error for BodyError {}

/// Why a message part could not be serialized. Nothing is written when an error is returned.
///
/// ```
/// use levent_core::http::{encode_header, EncodeError};
///
/// let mut buf = [0u8; 64];
/// assert_eq!(encode_header(&mut buf, "X-Evil", b"a\r\nb"), Err(EncodeError::InvalidHeaderValue));
/// assert_eq!(encode_header(&mut buf[..4], "Host", b"a"), Err(EncodeError::BufferTooSmall { needed: 9 }));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EncodeError {
    /// The output buffer is shorter than `needed` bytes.
    BufferTooSmall {
        /// How many bytes the whole part needs.
        needed: usize,
    },
    /// The method is not a token.
    InvalidMethod,
    /// The target is empty or not visible ASCII.
    InvalidTarget,
    /// A version component above 9.
    InvalidVersion,
    /// A status code outside `100..=599`.
    InvalidStatus,
    /// A reason phrase with a control character.
    InvalidReason,
    /// A field name that is not a token.
    InvalidHeaderName,
    /// A field value with a control character (CR and LF included), or with leading or
    /// trailing whitespace (which a parser would strip).
    InvalidHeaderValue,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::BufferTooSmall { needed } => {
                write!(f, "output buffer too small: {needed} bytes needed")
            }
            EncodeError::InvalidMethod => f.write_str("method is not a token"),
            EncodeError::InvalidTarget => f.write_str("invalid request target"),
            EncodeError::InvalidVersion => f.write_str("invalid HTTP version"),
            EncodeError::InvalidStatus => f.write_str("status code outside 100..=599"),
            EncodeError::InvalidReason => f.write_str("invalid reason phrase"),
            EncodeError::InvalidHeaderName => f.write_str("field name is not a token"),
            EncodeError::InvalidHeaderValue => f.write_str("invalid field value"),
        }
    }
}

impl core::error::Error for EncodeError {}
