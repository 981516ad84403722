//! Serializing heads and chunks into a caller's buffer. Every function checks its inputs (so
//! what it writes parses back to the same thing), then either writes the whole part and returns
//! its length, or writes nothing and returns an error: never a truncated part.

use super::chars::{is_text, is_token, is_vchar, is_ws};
use super::{EncodeError, Header, Version};

/// Counts, then writes: the same emitter runs twice, first without a buffer.
struct Sink<'a> {
    buf: Option<&'a mut [u8]>,
    len: usize,
}

impl Sink<'_> {
    fn put(&mut self, bytes: &[u8]) {
        if let Some(dst) = self
            .buf
            .as_deref_mut()
            .and_then(|b| b.get_mut(self.len..self.len + bytes.len()))
        {
            dst.copy_from_slice(bytes);
        }
        self.len += bytes.len();
    }
}

fn emit(buf: &mut [u8], f: impl Fn(&mut Sink<'_>)) -> Result<usize, EncodeError> {
    let mut count = Sink { buf: None, len: 0 };
    f(&mut count);
    if count.len > buf.len() {
        return Err(EncodeError::BufferTooSmall { needed: count.len });
    }
    let mut sink = Sink {
        buf: Some(buf),
        len: 0,
    };
    f(&mut sink);
    Ok(sink.len)
}

/// `HTTP/x.y` for a version of single digits.
pub(crate) fn check_version(v: Version) -> Result<[u8; 8], EncodeError> {
    if v.major > 9 || v.minor > 9 {
        return Err(EncodeError::InvalidVersion);
    }
    Ok([
        b'H',
        b'T',
        b'T',
        b'P',
        b'/',
        b'0' + v.major,
        b'.',
        b'0' + v.minor,
    ])
}

fn check_header(h: &Header<'_>) -> Result<(), EncodeError> {
    if !is_token(h.name.as_bytes()) {
        return Err(EncodeError::InvalidHeaderName);
    }
    let v = h.value;
    if !v.iter().all(|&b| is_text(b))
        || v.first().is_some_and(|&b| is_ws(b))
        || v.last().is_some_and(|&b| is_ws(b))
    {
        return Err(EncodeError::InvalidHeaderValue);
    }
    Ok(())
}

fn check_headers(headers: &[Header<'_>]) -> Result<(), EncodeError> {
    headers.iter().try_for_each(check_header)
}

fn put_headers(s: &mut Sink<'_>, headers: &[Header<'_>]) {
    for h in headers {
        s.put(h.name.as_bytes());
        s.put(b": ");
        s.put(h.value);
        s.put(b"\r\n");
    }
}

fn check_request_line(
    method: &str,
    target: &str,
    version: Version,
) -> Result<[u8; 8], EncodeError> {
    if !is_token(method.as_bytes()) {
        return Err(EncodeError::InvalidMethod);
    }
    if target.is_empty() || !target.bytes().all(is_vchar) {
        return Err(EncodeError::InvalidTarget);
    }
    check_version(version)
}

/// A checked status line: version, code and reason, ready to write.
type StatusLine<'r> = ([u8; 8], [u8; 3], &'r [u8]);

fn check_status_line(
    version: Version,
    status: u16,
    reason: Option<&[u8]>,
) -> Result<StatusLine<'_>, EncodeError> {
    let v = check_version(version)?;
    if !(100..=599).contains(&status) {
        return Err(EncodeError::InvalidStatus);
    }
    let reason = match reason {
        Some(r) if r.iter().all(|&b| is_text(b)) => r,
        Some(_) => return Err(EncodeError::InvalidReason),
        None => reason_phrase(status).unwrap_or_default().as_bytes(),
    };
    let code = [
        b'0' + (status / 100) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
    ];
    Ok((v, code, reason))
}

/// Writes a request line, `METHOD SP target SP HTTP/x.y CRLF`.
///
/// ```
/// use levent_core::http::{encode_request_line, Version};
/// let mut buf = [0u8; 32];
/// let n = encode_request_line(&mut buf, "GET", "/index.html", Version::HTTP_11).unwrap();
/// assert_eq!(&buf[..n], b"GET /index.html HTTP/1.1\r\n");
/// ```
///
/// # Errors
///
/// A method that is not a token, a target that is empty or not visible ASCII, a version
/// component above 9, or a buffer too small.
pub fn encode_request_line(
    buf: &mut [u8],
    method: &str,
    target: &str,
    version: Version,
) -> Result<usize, EncodeError> {
    let v = check_request_line(method, target, version)?;
    emit(buf, |s| {
        s.put(method.as_bytes());
        s.put(b" ");
        s.put(target.as_bytes());
        s.put(b" ");
        s.put(&v);
        s.put(b"\r\n");
    })
}

/// Writes a status line, `HTTP/x.y SP code SP reason CRLF`; with `reason: None`, the canonical
/// phrase of [`reason_phrase`] (empty for a code it does not know).
///
/// ```
/// use levent_core::http::{encode_status_line, Version};
/// let mut buf = [0u8; 32];
/// let n = encode_status_line(&mut buf, Version::HTTP_11, 404, None).unwrap();
/// assert_eq!(&buf[..n], b"HTTP/1.1 404 Not Found\r\n");
/// ```
///
/// # Errors
///
/// A status outside `100..=599`, a reason with control characters, a version component above
/// 9, or a buffer too small.
pub fn encode_status_line(
    buf: &mut [u8],
    version: Version,
    status: u16,
    reason: Option<&[u8]>,
) -> Result<usize, EncodeError> {
    let (v, code, reason) = check_status_line(version, status, reason)?;
    emit(buf, |s| {
        s.put(&v);
        s.put(b" ");
        s.put(&code);
        s.put(b" ");
        s.put(reason);
        s.put(b"\r\n");
    })
}

/// Writes one field line, `name: value CRLF`.
///
/// ```
/// use levent_core::http::encode_header;
/// let mut buf = [0u8; 32];
/// let n = encode_header(&mut buf, "Content-Length", b"5").unwrap();
/// assert_eq!(&buf[..n], b"Content-Length: 5\r\n");
/// ```
///
/// # Errors
///
/// A name that is not a token; a value with a control character (CR, LF and NUL included) or
/// with leading or trailing whitespace; a buffer too small.
pub fn encode_header(buf: &mut [u8], name: &str, value: &[u8]) -> Result<usize, EncodeError> {
    let h = Header { name, value };
    check_header(&h)?;
    emit(buf, |s| put_headers(s, &[h]))
}

/// Writes a whole request head: the request line, the field lines, and the empty line.
///
/// ```
/// use levent_core::http::{encode_request_head, Header, Version};
/// let mut buf = [0u8; 64];
/// let headers = [Header { name: "Host", value: b"example.com" }];
/// let n = encode_request_head(&mut buf, "GET", "/", Version::HTTP_11, &headers).unwrap();
/// assert_eq!(&buf[..n], b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
/// ```
///
/// # Errors
///
/// Those of [`encode_request_line`] and [`encode_header`].
pub fn encode_request_head(
    buf: &mut [u8],
    method: &str,
    target: &str,
    version: Version,
    headers: &[Header<'_>],
) -> Result<usize, EncodeError> {
    let v = check_request_line(method, target, version)?;
    check_headers(headers)?;
    emit(buf, |s| {
        s.put(method.as_bytes());
        s.put(b" ");
        s.put(target.as_bytes());
        s.put(b" ");
        s.put(&v);
        s.put(b"\r\n");
        put_headers(s, headers);
        s.put(b"\r\n");
    })
}

/// Writes a whole response head: the status line, the field lines, and the empty line.
///
/// ```
/// use levent_core::http::{encode_response_head, Header, Version};
/// let mut buf = [0u8; 64];
/// let headers = [Header { name: "Content-Length", value: b"0" }];
/// let n = encode_response_head(&mut buf, Version::HTTP_11, 204, None, &headers).unwrap();
/// assert_eq!(&buf[..n], b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n");
/// ```
///
/// # Errors
///
/// Those of [`encode_status_line`] and [`encode_header`].
pub fn encode_response_head(
    buf: &mut [u8],
    version: Version,
    status: u16,
    reason: Option<&[u8]>,
    headers: &[Header<'_>],
) -> Result<usize, EncodeError> {
    let (v, code, reason) = check_status_line(version, status, reason)?;
    check_headers(headers)?;
    emit(buf, |s| {
        s.put(&v);
        s.put(b" ");
        s.put(&code);
        s.put(b" ");
        s.put(reason);
        s.put(b"\r\n");
        put_headers(s, headers);
        s.put(b"\r\n");
    })
}

/// `size` in lowercase hexadecimal, without leading zeros: the digits and how many there are.
fn hex(size: u64) -> ([u8; 16], usize) {
    let mut out = [0u8; 16];
    let digits = ((64 - size.leading_zeros()).div_ceil(4)).max(1) as usize;
    for (i, slot) in out.iter_mut().take(digits).enumerate() {
        let shift = 4 * (digits - 1 - i);
        *slot = b"0123456789abcdef"
            .get(((size >> shift) & 0xf) as usize)
            .copied()
            .unwrap_or(b'0');
    }
    (out, digits)
}

/// Writes the start of a chunk, `size-in-hex CRLF`; the caller sends the `size` data bytes and
/// a CRLF after it (for data that is not in memory as one slice). A `size` of 0 writes nothing:
/// that would be the last chunk, which [`encode_last_chunk`] writes.
///
/// ```
/// use levent_core::http::encode_chunk_header;
/// let mut buf = [0u8; 8];
/// let n = encode_chunk_header(&mut buf, 4096).unwrap();
/// assert_eq!(&buf[..n], b"1000\r\n");
/// ```
///
/// # Errors
///
/// A buffer too small.
pub fn encode_chunk_header(buf: &mut [u8], size: u64) -> Result<usize, EncodeError> {
    if size == 0 {
        return Ok(0);
    }
    let (digits, n) = hex(size);
    emit(buf, |s| {
        s.put(digits.get(..n).unwrap_or_default());
        s.put(b"\r\n");
    })
}

/// Writes one chunk of a chunked body, `size CRLF data CRLF`. Empty data writes nothing (an
/// empty chunk would end the body; [`encode_last_chunk`] does that).
///
/// ```
/// use levent_core::http::encode_chunk;
/// let mut buf = [0u8; 32];
/// let n = encode_chunk(&mut buf, b"hello world").unwrap();
/// assert_eq!(&buf[..n], b"b\r\nhello world\r\n");
/// ```
///
/// # Errors
///
/// A buffer too small.
pub fn encode_chunk(buf: &mut [u8], data: &[u8]) -> Result<usize, EncodeError> {
    if data.is_empty() {
        return Ok(0);
    }
    let (digits, n) = hex(data.len() as u64);
    emit(buf, |s| {
        s.put(digits.get(..n).unwrap_or_default());
        s.put(b"\r\n");
        s.put(data);
        s.put(b"\r\n");
    })
}

/// Writes the end of a chunked body: the last chunk `0 CRLF`, the trailer fields, and the empty
/// line.
///
/// ```
/// use levent_core::http::{encode_last_chunk, Header};
/// let mut buf = [0u8; 32];
/// let n = encode_last_chunk(&mut buf, &[Header { name: "X-Sum", value: b"42" }]).unwrap();
/// assert_eq!(&buf[..n], b"0\r\nX-Sum: 42\r\n\r\n");
/// ```
///
/// # Errors
///
/// An invalid trailer field (as in [`encode_header`]), or a buffer too small.
pub fn encode_last_chunk(buf: &mut [u8], trailers: &[Header<'_>]) -> Result<usize, EncodeError> {
    check_headers(trailers)?;
    emit(buf, |s| {
        s.put(b"0\r\n");
        put_headers(s, trailers);
        s.put(b"\r\n");
    })
}

/// The canonical reason phrase of a status code (RFC 9110 §15, and 103 from RFC 8297, 428, 429
/// and 431 from RFC 6585), or `None` for a code without one.
///
/// ```
/// use levent_core::http::reason_phrase;
/// assert_eq!(reason_phrase(413), Some("Content Too Large"));
/// assert_eq!(reason_phrase(299), None);
/// ```
pub const fn reason_phrase(status: u16) -> Option<&'static str> {
    Some(match status {
        100 => "Continue",
        101 => "Switching Protocols",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_digits() {
        for (n, s) in [
            (1u64, &b"1"[..]),
            (15, b"f"),
            (16, b"10"),
            (0xabc, b"abc"),
            (u64::MAX, b"ffffffffffffffff"),
        ] {
            let (d, len) = hex(n);
            assert_eq!(&d[..len], s);
        }
    }

    #[test]
    fn nothing_is_written_when_it_does_not_fit() {
        let mut buf = [b'x'; 10];
        assert_eq!(
            encode_chunk(&mut buf, b"hello world"),
            Err(EncodeError::BufferTooSmall { needed: 16 })
        );
        assert_eq!(buf, [b'x'; 10]);
    }
}
