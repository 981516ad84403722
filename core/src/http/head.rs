//! Incremental, zero-copy parsing of request and response heads, and what a head says about its
//! message: [`Framing`], persistence, `Expect: 100-continue`, [`Upgrade`].

use super::chars::{
    hex_value, is_text, is_token, is_token_or_quoted, is_vchar, is_ws, list, parse_decimal,
    split_once, trim_ows,
};
use super::{HeadError, Limits};

/// An HTTP version, `HTTP/major.minor`.
///
/// ```
/// use levent_core::http::Version;
/// assert!(Version::HTTP_10 < Version::HTTP_11);
/// assert_eq!(Version::HTTP_11, Version { major: 1, minor: 1 });
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Version {
    /// The major version, a single digit on the wire.
    pub major: u8,
    /// The minor version, a single digit on the wire.
    pub minor: u8,
}

impl Version {
    /// `HTTP/1.0`.
    pub const HTTP_10: Version = Version { major: 1, minor: 0 };
    /// `HTTP/1.1`.
    pub const HTTP_11: Version = Version { major: 1, minor: 1 };

    /// Whether HTTP/1.1 rules apply (persistence by default, Host required, Upgrade and Expect
    /// honoured): `HTTP/1.1` and any later `HTTP/1.x` (RFC 9112 §2.3).
    pub const fn is_11(self) -> bool {
        self.major == 1 && self.minor >= 1
    }

    fn parse(v: &[u8]) -> Option<Version> {
        match v {
            [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
                if major.is_ascii_digit() && minor.is_ascii_digit() =>
            {
                Some(Version {
                    major: major - b'0',
                    minor: minor - b'0',
                })
            }
            _ => None,
        }
    }
}

/// A field line: a name and a value, both borrowed from the parsed bytes. The value has no
/// leading or trailing whitespace.
///
/// ```
/// use levent_core::http::Header;
/// let mut headers = [Header::EMPTY; 16]; // storage for a parser
/// headers[0] = Header { name: "Host", value: b"example.com" };
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Header<'a> {
    /// The field name, a token, as sent (compare it case-insensitively).
    pub name: &'a str,
    /// The field value: visible ASCII, spaces, tabs, and bytes above 0x7f.
    pub value: &'a [u8],
}

impl<'a> Header<'a> {
    /// An empty header, to initialise header storage.
    pub const EMPTY: Header<'a> = Header {
        name: "",
        value: b"",
    };
}

/// The outcome of feeding a parser: the head is complete, or more bytes are needed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Status<T> {
    /// The head is complete; `T` tells its length and contents.
    Complete(T),
    /// The bytes so far are a valid beginning; feed the same bytes again with more after them.
    Partial,
}

impl<T> Status<T> {
    /// The complete value, if any.
    pub fn complete(self) -> Option<T> {
        match self {
            Status::Complete(t) => Some(t),
            Status::Partial => None,
        }
    }

    /// Whether more bytes are needed.
    pub const fn is_partial(&self) -> bool {
        matches!(self, Status::Partial)
    }
}

/// How the body of a message is delimited (RFC 9112 §6.3). Hand it to a
/// [`BodyDecoder`](super::BodyDecoder).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Framing {
    /// No body: the message ends with its head (a request without Content-Length or
    /// Transfer-Encoding; a response to HEAD; 1xx, 204 and 304 responses).
    None,
    /// Exactly this many bytes (Content-Length).
    Length(u64),
    /// Chunked transfer coding, ending with the last chunk and the trailer section.
    Chunked,
    /// Everything until the server closes the connection (responses only).
    CloseDelimited,
    /// No body, and the bytes after the head belong to another protocol: a 101 response, or a
    /// 2xx response to CONNECT.
    Tunnel,
}

/// What a request asks to switch to once it is answered (see [`Request::upgrade`]). The switch
/// happens only if the server agrees (101, or 2xx to CONNECT); otherwise HTTP/1.1 goes on.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Upgrade {
    /// An `Upgrade` field with the `upgrade` connection option, in HTTP/1.1 (RFC 9110 §7.8).
    Protocol,
    /// A CONNECT request: a tunnel after a 2xx answer (RFC 9110 §9.3.6).
    Connect,
    /// `PRI * HTTP/2.0` (or `PRI *` with any version): the HTTP/2 connection preface, RFC 9113
    /// §3.4; the bytes after the head are HTTP/2's.
    Http2Preface,
}

/// What the head's fields say, gathered while they are validated.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Meta {
    content_length: Option<u64>,
    te_present: bool,
    te_codings: u16,
    chunked_seen: bool,
    chunked_last: bool,
    unknown_coding: bool,
    conn_close: bool,
    conn_keep_alive: bool,
    conn_upgrade: bool,
    upgrade: bool,
    expect_continue: bool,
    hosts: u8,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// Skipping empty lines, or waiting for the end of the start line.
    Start,
    /// Reading field lines.
    Fields,
    /// The head ended at this offset.
    Done(usize),
    /// Refused; sticky.
    Failed(HeadError),
}

/// The resumable line scanner shared by both parsers. It remembers offsets only, so the caller
/// may grow (and move) its buffer between calls as long as the bytes already fed stay the same.
#[derive(Clone, Debug)]
struct Scanner {
    limits: Limits,
    response: bool,
    require_host: bool,
    phase: Phase,
    /// Start of the first line not processed yet.
    pos: usize,
    /// Where the search for the next LF resumes (`>= pos`).
    searched: usize,
    /// Start of the start line (after the skipped empty lines).
    line_start: usize,
    /// Whether anything but empty lines has arrived.
    started: bool,
    /// Request: method end, target start, target end. Response: reason start, reason end.
    marks: [usize; 3],
    version: Version,
    status: u16,
    fields: usize,
    meta: Meta,
}

impl Scanner {
    const fn new(limits: Limits, response: bool) -> Self {
        Scanner {
            limits,
            response,
            require_host: true,
            phase: Phase::Start,
            pos: 0,
            searched: 0,
            line_start: 0,
            started: false,
            marks: [0; 3],
            version: Version::HTTP_11,
            status: 0,
            fields: 0,
            meta: Meta {
                content_length: None,
                te_present: false,
                te_codings: 0,
                chunked_seen: false,
                chunked_last: false,
                unknown_coding: false,
                conn_close: false,
                conn_keep_alive: false,
                conn_upgrade: false,
                upgrade: false,
                expect_continue: false,
                hosts: 0,
            },
        }
    }

    fn reset(&mut self) {
        *self = Scanner {
            require_host: self.require_host,
            ..Scanner::new(self.limits, self.response)
        };
    }

    /// Validates as far as `buf` goes. `Ok(Some(n))`: the head is `buf[..n]`.
    fn advance(&mut self, buf: &[u8], capacity: usize) -> Result<Option<usize>, HeadError> {
        match self.phase {
            Phase::Done(n) => return Ok(Some(n)),
            Phase::Failed(e) => return Err(e),
            Phase::Start | Phase::Fields => {}
        }
        let r = self.run(buf, capacity);
        match r {
            Err(e) => self.phase = Phase::Failed(e),
            Ok(Some(n)) => self.phase = Phase::Done(n),
            Ok(None) => {}
        }
        r
    }

    fn run(&mut self, buf: &[u8], capacity: usize) -> Result<Option<usize>, HeadError> {
        loop {
            let s = self.pos;
            let from = self.searched.max(s);
            let lf = buf
                .get(from..)
                .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
                .map(|i| from + i);
            self.check_limits(buf, s, lf)?;
            let Some(e) = lf else {
                self.searched = buf.len().max(s);
                if self.phase == Phase::Start && !matches!(buf.get(s..), None | Some(b"" | b"\r")) {
                    self.started = true;
                }
                return Ok(None);
            };
            let mut line = buf.get(s..e).unwrap_or_default();
            if let [rest @ .., b'\r'] = line {
                line = rest;
            }
            self.pos = e + 1;
            self.searched = self.pos;
            if line.contains(&b'\r') {
                return Err(HeadError::BareCr);
            }
            match self.phase {
                Phase::Start if line.is_empty() => self.line_start = self.pos,
                Phase::Start => {
                    self.started = true;
                    if self.response {
                        self.status_line(line, s)?;
                    } else {
                        self.request_line(line, s)?;
                    }
                    self.phase = Phase::Fields;
                }
                Phase::Fields if line.is_empty() => {
                    self.finish()?;
                    return Ok(Some(self.pos));
                }
                Phase::Fields => {
                    let (name, value) = split_field(line)?;
                    if self.fields >= self.limits.max_headers.min(capacity) {
                        return Err(HeadError::TooManyHeaders);
                    }
                    self.fields += 1;
                    self.field(name, value)?;
                }
                Phase::Done(_) | Phase::Failed(_) => return Ok(None),
            }
        }
    }

    /// The limits, judged as if the bytes had come one at a time: of two limits crossed by the
    /// same line, the one crossed at the earlier byte wins, so feeding a message whole or in
    /// pieces gives the same error. `lf` is the index of the line's LF, if it has arrived.
    fn check_limits(&self, buf: &[u8], s: usize, lf: Option<usize>) -> Result<(), HeadError> {
        let seen = lf.map_or(buf.len(), |e| e + 1);
        // The start line is too long once it holds more than `max_request_line` bytes that cannot
        // be the CR of its CRLF; `line_at` is the prefix length at which that is first known.
        let line_at = if self.phase == Phase::Start {
            let bound = lf.unwrap_or(buf.len());
            s.checked_add(self.limits.max_request_line)
                .and_then(|last| {
                    if last >= bound {
                        None
                    } else if buf.get(last) != Some(&b'\r') {
                        Some(last + 1)
                    } else if last + 1 < bound {
                        Some(last + 2)
                    } else {
                        None
                    }
                })
        } else {
            None
        };
        let head_at = self
            .limits
            .max_head_size
            .checked_add(1)
            .filter(|&at| at <= seen);
        match (line_at, head_at) {
            (Some(l), Some(h)) if h < l => Err(HeadError::HeadTooLarge),
            (Some(_), _) => Err(HeadError::StartLineTooLong),
            (None, Some(_)) => Err(HeadError::HeadTooLarge),
            (None, None) => Ok(()),
        }
    }

    fn request_line(&mut self, line: &[u8], s: usize) -> Result<(), HeadError> {
        let (method, rest) = match split_once(line, b' ') {
            Some((m, rest)) => (m, Some(rest)),
            None => (line, None),
        };
        if !is_token(method) {
            return Err(HeadError::InvalidMethod);
        }
        let rest = rest.ok_or(HeadError::InvalidTarget)?;
        let (target, version) = match split_once(rest, b' ') {
            Some((t, v)) => (t, Some(v)),
            None => (rest, None),
        };
        if target.is_empty() || !target.iter().all(|&b| is_vchar(b)) {
            return Err(HeadError::InvalidTarget);
        }
        let version = version
            .and_then(Version::parse)
            .ok_or(HeadError::InvalidVersion)?;
        let preface = method == b"PRI" && target == b"*";
        if version.major != 1 && !(preface && version == (Version { major: 2, minor: 0 })) {
            return Err(HeadError::UnsupportedVersion);
        }
        self.version = version;
        let method_end = s + method.len();
        self.marks = [method_end, method_end + 1, method_end + 1 + target.len()];
        Ok(())
    }

    fn status_line(&mut self, line: &[u8], s: usize) -> Result<(), HeadError> {
        let version = line
            .get(..8)
            .and_then(Version::parse)
            .ok_or(HeadError::InvalidVersion)?;
        let after = line.get(8..).unwrap_or_default();
        let (code, reason) = match after {
            [] => return Err(HeadError::InvalidStatus),
            [b' ', a, b, c, rest @ ..] if [a, b, c].iter().all(|d| d.is_ascii_digit()) => {
                let code = [a, b, c]
                    .iter()
                    .fold(0u16, |n, &&d| n * 10 + u16::from(d - b'0'));
                match rest {
                    [] => (code, rest),
                    [b' ', reason @ ..] => (code, reason),
                    _ => return Err(HeadError::InvalidStatus),
                }
            }
            [b' ', ..] => return Err(HeadError::InvalidStatus),
            _ => return Err(HeadError::InvalidVersion),
        };
        if !(100..=599).contains(&code) {
            return Err(HeadError::InvalidStatus);
        }
        if !reason.iter().all(|&b| is_text(b)) {
            return Err(HeadError::InvalidReason);
        }
        if version.major > 1 {
            return Err(HeadError::UnsupportedVersion);
        }
        self.version = version;
        self.status = code;
        let reason_start = s + line.len() - reason.len();
        self.marks = [reason_start, reason_start + reason.len(), 0];
        Ok(())
    }

    fn field(&mut self, name: &[u8], value: &[u8]) -> Result<(), HeadError> {
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        let m = &mut self.meta;
        if is("content-length") {
            for element in list(value) {
                let n = parse_decimal(element).ok_or(HeadError::InvalidContentLength)?;
                match m.content_length {
                    Some(prev) if prev != n => return Err(HeadError::ConflictingContentLength),
                    _ => m.content_length = Some(n),
                }
                if !self.response && n > self.limits.max_body_size {
                    return Err(HeadError::BodyTooLarge);
                }
            }
        } else if is("transfer-encoding") {
            m.te_present = true;
            for element in list(value).filter(|e| !e.is_empty()) {
                let (coding, params) = match split_once(element, b';') {
                    Some((c, p)) => (trim_ows(c), Some(p)),
                    None => (element, None),
                };
                if !is_token(coding) || !params.is_none_or(valid_params) {
                    return Err(HeadError::InvalidTransferEncoding);
                }
                let chunked = coding.eq_ignore_ascii_case(b"chunked");
                if chunked && (m.chunked_seen || params.is_some()) {
                    return Err(HeadError::InvalidTransferEncoding);
                }
                m.chunked_seen |= chunked;
                m.chunked_last = chunked;
                m.unknown_coding |= !chunked && !is_known_coding(coding);
                m.te_codings = m.te_codings.saturating_add(1);
            }
        } else if is("connection") {
            for option in list(value) {
                m.conn_close |= option.eq_ignore_ascii_case(b"close");
                m.conn_keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
                m.conn_upgrade |= option.eq_ignore_ascii_case(b"upgrade");
            }
        } else if is("upgrade") {
            m.upgrade |= !value.is_empty();
        } else if self.response {
            // Host and Expect mean nothing in a response.
        } else if is("host") {
            m.hosts = m.hosts.saturating_add(1);
            if m.hosts > 1 {
                return Err(HeadError::DuplicateHost);
            }
            if !valid_host(value) {
                return Err(HeadError::InvalidHost);
            }
        } else if is("expect") {
            m.expect_continue |= value.eq_ignore_ascii_case(b"100-continue");
        }
        Ok(())
    }

    /// The checks that need the whole head.
    fn finish(&self) -> Result<(), HeadError> {
        let m = &self.meta;
        if m.te_present {
            if m.content_length.is_some() {
                return Err(HeadError::ContentLengthWithTransferEncoding);
            }
            if self.version < Version::HTTP_11 {
                return Err(HeadError::TransferEncodingInHttp10);
            }
            if m.te_codings == 0 {
                return Err(HeadError::InvalidTransferEncoding);
            }
            if !self.response && m.unknown_coding {
                return Err(HeadError::UnknownTransferCoding);
            }
            if !self.response && !m.chunked_last {
                return Err(HeadError::ChunkedNotFinal);
            }
        }
        if !self.response && self.require_host && self.version.is_11() && m.hosts == 0 {
            return Err(HeadError::MissingHost);
        }
        Ok(())
    }

    /// Fills `headers` from a complete, validated head; returns how many it filled.
    fn fill<'b>(&self, buf: &'b [u8], end: usize, headers: &mut [Header<'b>]) -> usize {
        let head = buf.get(self.line_start..end).unwrap_or_default();
        let fields = head
            .split(|&b| b == b'\n')
            .skip(1)
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .take_while(|l| !l.is_empty())
            // Validated by `run` already: only split.
            .filter_map(|l| split_once(l, b':').map(|(n, v)| (n, trim_ows(v))));
        let mut n = 0;
        for (slot, (name, value)) in headers.iter_mut().zip(fields) {
            *slot = Header {
                name: core::str::from_utf8(name).unwrap_or_default(),
                value,
            };
            n += 1;
        }
        n
    }

    fn str_at(buf: &[u8], from: usize, to: usize) -> &str {
        buf.get(from..to)
            .and_then(|s| core::str::from_utf8(s).ok())
            .unwrap_or_default()
    }
}

/// Splits a field line (line ending and bare CRs already ruled out) into its name and value.
fn split_field(line: &[u8]) -> Result<(&[u8], &[u8]), HeadError> {
    if line.first().is_some_and(|&b| is_ws(b)) {
        return Err(HeadError::ObsFold);
    }
    let (name, value) = split_once(line, b':').ok_or(HeadError::InvalidHeaderName)?;
    if name.last().is_some_and(|&b| is_ws(b)) {
        return Err(HeadError::WhitespaceBeforeColon);
    }
    if !is_token(name) {
        return Err(HeadError::InvalidHeaderName);
    }
    let value = trim_ows(value);
    if !value.iter().all(|&b| is_text(b)) {
        return Err(HeadError::InvalidHeaderValue);
    }
    Ok((name, value))
}

/// `*( OWS ";" OWS name "=" value )` after a transfer coding, without the first `;`.
fn valid_params(params: &[u8]) -> bool {
    params.split(|&b| b == b';').all(|p| {
        split_once(trim_ows(p), b'=').is_some_and(|(n, v)| is_token(n) && is_token_or_quoted(v))
    })
}

/// The registered transfer codings a recipient can frame (RFC 9112 §7).
fn is_known_coding(c: &[u8]) -> bool {
    ["gzip", "x-gzip", "deflate", "compress", "x-compress"]
        .iter()
        .any(|k| c.eq_ignore_ascii_case(k.as_bytes()))
}

/// `Host = uri-host [ ":" port ]` (RFC 9110 §7.2), the empty value included (RFC 9112 §3.2).
fn valid_host(v: &[u8]) -> bool {
    let (host, port) = if let [b'[', rest @ ..] = v {
        let Some((literal, after)) = split_once(rest, b']') else {
            return false;
        };
        let literal_ok = match literal {
            [b'v' | b'V', future @ ..] => {
                !future.is_empty()
                    && future
                        .iter()
                        .all(|&b| is_unreserved(b) || is_sub_delim(b) || b == b':')
            }
            _ => {
                !literal.is_empty()
                    && literal
                        .iter()
                        .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
            }
        };
        if !literal_ok {
            return false;
        }
        match after {
            [] => return true,
            [b':', port @ ..] => (&b""[..], port),
            _ => return false,
        }
    } else {
        match split_once(v, b':') {
            Some((h, p)) => (h, p),
            None => (v, &b""[..]),
        }
    };
    port.iter().all(u8::is_ascii_digit) && valid_reg_name(host)
}

/// `reg-name = *( unreserved / pct-encoded / sub-delims )`, which also covers IPv4 addresses.
fn valid_reg_name(mut s: &[u8]) -> bool {
    loop {
        match s {
            [] => return true,
            [b'%', a, b, rest @ ..] if hex_value(*a).is_some() && hex_value(*b).is_some() => {
                s = rest;
            }
            [c, rest @ ..] if is_unreserved(*c) || is_sub_delim(*c) => s = rest,
            _ => return false,
        }
    }
}

const fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

const fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

/// Finds the first field named `name` (case-insensitively).
fn find<'b>(headers: &[Header<'b>], name: &str) -> Option<&'b [u8]> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

/// Parses request heads, incrementally: feed it the bytes received so far, again and again as
/// more arrive, until it answers [`Status::Complete`]. It remembers how far it has validated, so
/// each call only looks at the new bytes (and the line they complete).
///
/// Lines may end with CRLF or a bare LF; empty lines before the request line are skipped (RFC
/// 9112 §2.2). Everything else is strict; see the [module documentation](super).
///
/// ```
/// use levent_core::http::{Framing, Header, Limits, RequestParser, Status};
///
/// let raw = b"POST /upload HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello";
/// let mut parser = RequestParser::new(Limits::DEFAULT);
/// for end in 1..raw.len() {
///     let mut headers = [Header::EMPTY; 16];
///     let req = match parser.parse(&raw[..end], &mut headers).unwrap() {
///         Status::Partial => continue,
///         Status::Complete(req) => req,
///     };
///     assert_eq!((req.method(), req.target()), ("POST", "/upload"));
///     assert_eq!(req.header("host"), Some(&b"example.com"[..]));
///     assert_eq!(req.framing(), Framing::Length(5));
///     assert_eq!(&raw[req.head_len()..], b"hello");
///     break;
/// }
/// ```
#[derive(Clone, Debug)]
pub struct RequestParser {
    scanner: Scanner,
}

impl RequestParser {
    /// A parser for one request head.
    pub const fn new(limits: Limits) -> Self {
        RequestParser {
            scanner: Scanner::new(limits, false),
        }
    }

    /// Whether an HTTP/1.1 request without Host is refused ([`HeadError::MissingHost`]); on by
    /// default, as RFC 9112 §3.2 requires of servers. Turning it off keeps the checks on repeated
    /// and invalid Host values.
    #[must_use]
    pub const fn require_host(mut self, yes: bool) -> Self {
        self.scanner.require_host = yes;
        self
    }

    /// Parses `buf`, the bytes received so far. `headers` receives the field lines once the
    /// head is complete; it must hold them all (else [`HeadError::TooManyHeaders`]), and should
    /// have the same length on every call.
    ///
    /// Each call must see the bytes of the previous calls unchanged, possibly followed by new
    /// ones. After `Complete`, the body starts at [`Request::head_len`]; call
    /// [`reset`](Self::reset) before the next message, and feed it from there.
    pub fn parse<'b, 'h>(
        &mut self,
        buf: &'b [u8],
        headers: &'h mut [Header<'b>],
    ) -> Result<Status<Request<'b, 'h>>, HeadError> {
        let Some(end) = self.scanner.advance(buf, headers.len())? else {
            return Ok(Status::Partial);
        };
        let sc = &self.scanner;
        let n = sc.fill(buf, end, headers);
        let [method_end, target_start, target_end] = sc.marks;
        Ok(Status::Complete(Request {
            method: Scanner::str_at(buf, sc.line_start, method_end),
            target: Scanner::str_at(buf, target_start, target_end),
            version: sc.version,
            headers: headers.get(..n).unwrap_or_default(),
            head_len: end,
            meta: sc.meta,
        }))
    }

    /// Whether the current message has begun: bytes other than the empty lines skipped before a
    /// request line have arrived. A connection closed before that ended cleanly.
    pub const fn started(&self) -> bool {
        self.scanner.started
    }

    /// Forgets the current message, keeping the limits and options.
    pub fn reset(&mut self) {
        self.scanner.reset();
    }
}

/// Parses response heads, incrementally; the twin of [`RequestParser`].
///
/// ```
/// use levent_core::http::{Framing, Header, Limits, ResponseParser, Status};
///
/// let mut headers = [Header::EMPTY; 8];
/// let mut parser = ResponseParser::new(Limits::DEFAULT);
/// let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
/// let Status::Complete(resp) = parser.parse(raw, &mut headers).unwrap() else { panic!() };
/// assert_eq!((resp.status(), resp.reason()), (200, &b"OK"[..]));
/// assert_eq!(resp.framing("GET"), Framing::Chunked);
/// assert_eq!(resp.framing("HEAD"), Framing::None);
/// ```
#[derive(Clone, Debug)]
pub struct ResponseParser {
    scanner: Scanner,
}

impl ResponseParser {
    /// A parser for one response head.
    pub const fn new(limits: Limits) -> Self {
        ResponseParser {
            scanner: Scanner::new(limits, true),
        }
    }

    /// Parses `buf`, the bytes received so far; the contract of [`RequestParser::parse`].
    pub fn parse<'b, 'h>(
        &mut self,
        buf: &'b [u8],
        headers: &'h mut [Header<'b>],
    ) -> Result<Status<Response<'b, 'h>>, HeadError> {
        let Some(end) = self.scanner.advance(buf, headers.len())? else {
            return Ok(Status::Partial);
        };
        let sc = &self.scanner;
        let n = sc.fill(buf, end, headers);
        let [reason_start, reason_end, _] = sc.marks;
        Ok(Status::Complete(Response {
            version: sc.version,
            status: sc.status,
            reason: buf.get(reason_start..reason_end).unwrap_or_default(),
            headers: headers.get(..n).unwrap_or_default(),
            head_len: end,
            meta: sc.meta,
        }))
    }

    /// Whether the current message has begun (see [`RequestParser::started`]).
    pub const fn started(&self) -> bool {
        self.scanner.started
    }

    /// Forgets the current message, keeping the limits.
    pub fn reset(&mut self) {
        self.scanner.reset();
    }
}

/// A parsed request head, borrowing the received bytes and the caller's header storage.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Request<'b, 'h> {
    method: &'b str,
    target: &'b str,
    version: Version,
    headers: &'h [Header<'b>],
    head_len: usize,
    meta: Meta,
}

impl<'b, 'h> Request<'b, 'h> {
    /// The method, a case-sensitive token (`GET`, `POST`, …; any token is accepted: an unknown
    /// method is for the application to answer with 501).
    pub const fn method(&self) -> &'b str {
        self.method
    }

    /// The request target as sent: visible ASCII, not decoded.
    pub const fn target(&self) -> &'b str {
        self.target
    }

    /// The version.
    pub const fn version(&self) -> Version {
        self.version
    }

    /// The field lines, in order, repeated names included.
    pub const fn headers(&self) -> &'h [Header<'b>] {
        self.headers
    }

    /// The value of the first field named `name` (case-insensitively).
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        find(self.headers, name)
    }

    /// The length of the head, empty lines skipped before it included: the body starts here.
    pub const fn head_len(&self) -> usize {
        self.head_len
    }

    /// The Content-Length, if given.
    pub const fn content_length(&self) -> Option<u64> {
        self.meta.content_length
    }

    /// How the body is delimited: chunked, Content-Length, or no body (RFC 9112 §6.3; a request
    /// is never close-delimited).
    pub const fn framing(&self) -> Framing {
        match (self.meta.chunked_last, self.meta.content_length) {
            (true, _) => Framing::Chunked,
            (false, Some(n)) => Framing::Length(n),
            (false, None) => Framing::None,
        }
    }

    /// Whether the connection may carry another request after this one: HTTP/1.1 unless
    /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive` (RFC 9112 §9.3).
    pub const fn keep_alive(&self) -> bool {
        !self.meta.conn_close && (self.version.is_11() || self.meta.conn_keep_alive)
    }

    /// Whether the client waits for `100 Continue` before sending the body: `Expect:
    /// 100-continue` in HTTP/1.1 (an HTTP/1.0 expectation is ignored, RFC 9110 §10.1.1).
    pub const fn expects_continue(&self) -> bool {
        self.meta.expect_continue && self.version.is_11()
    }

    /// What the request asks to switch to, if anything: a protocol upgrade (`Upgrade` with
    /// `Connection: upgrade`, HTTP/1.1 only), a CONNECT tunnel, or the HTTP/2 preface. The body,
    /// if framed, comes first; the switch happens only if the server agrees.
    pub fn upgrade(&self) -> Option<Upgrade> {
        if self.method == "CONNECT" {
            Some(Upgrade::Connect)
        } else if self.method == "PRI" && self.target == "*" {
            Some(Upgrade::Http2Preface)
        } else if self.version.is_11() && self.meta.upgrade && self.meta.conn_upgrade {
            Some(Upgrade::Protocol)
        } else {
            None
        }
    }
}

/// A parsed response head, borrowing the received bytes and the caller's header storage.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Response<'b, 'h> {
    version: Version,
    status: u16,
    reason: &'b [u8],
    headers: &'h [Header<'b>],
    head_len: usize,
    meta: Meta,
}

impl<'b, 'h> Response<'b, 'h> {
    /// The version (`HTTP/0.x` and `HTTP/1.x` are accepted, and handled as HTTP/1.0 and 1.1).
    pub const fn version(&self) -> Version {
        self.version
    }

    /// The status code, in `100..=599`.
    pub const fn status(&self) -> u16 {
        self.status
    }

    /// The reason phrase as sent, possibly empty; not UTF-8 in general.
    pub const fn reason(&self) -> &'b [u8] {
        self.reason
    }

    /// The field lines, in order.
    pub const fn headers(&self) -> &'h [Header<'b>] {
        self.headers
    }

    /// The value of the first field named `name` (case-insensitively).
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        find(self.headers, name)
    }

    /// The length of the head: the body starts here.
    pub const fn head_len(&self) -> usize {
        self.head_len
    }

    /// The Content-Length, if given.
    pub const fn content_length(&self) -> Option<u64> {
        self.meta.content_length
    }

    /// Whether this is an interim response (1xx other than 101): the final response follows it.
    pub const fn is_interim(&self) -> bool {
        self.status < 200 && self.status != 101
    }

    /// How the body is delimited, given the method of the request this answers (RFC 9112 §6.3):
    /// none for HEAD, 1xx, 204 and 304; a tunnel for 101 and for 2xx to CONNECT; else chunked,
    /// Content-Length, or until the connection closes.
    pub fn framing(&self, request_method: &str) -> Framing {
        let s = self.status;
        if s == 101 || (request_method == "CONNECT" && (200..300).contains(&s)) {
            Framing::Tunnel
        } else if s < 200 || s == 204 || s == 304 || request_method == "HEAD" {
            Framing::None
        } else if self.meta.te_present {
            if self.meta.chunked_last {
                Framing::Chunked
            } else {
                Framing::CloseDelimited
            }
        } else if let Some(n) = self.meta.content_length {
            Framing::Length(n)
        } else {
            Framing::CloseDelimited
        }
    }

    /// Whether the server keeps the connection open after this response, by its version and
    /// Connection field (RFC 9112 §9.3). A close-delimited body ends the connection regardless.
    pub const fn keep_alive(&self) -> bool {
        !self.meta.conn_close && (self.version.is_11() || self.meta.conn_keep_alive)
    }
}

/// Splits a validated field section (the trailer section a [`BodyDecoder`](super::BodyDecoder)
/// reports, or any run of field lines) into `headers`, returning the filled part.
///
/// ```
/// use levent_core::http::{parse_fields, Header};
///
/// let mut headers = [Header::EMPTY; 4];
/// let fields = parse_fields(b"Expires: never\r\nX-Sum: 42\r\n", &mut headers).unwrap();
/// assert_eq!(fields[1], Header { name: "X-Sum", value: b"42" });
/// ```
///
/// # Errors
///
/// A malformed field line, or more lines than `headers` holds.
pub fn parse_fields<'b, 'h>(
    section: &'b [u8],
    headers: &'h mut [Header<'b>],
) -> Result<&'h [Header<'b>], HeadError> {
    let mut n = 0;
    let mut rest = section;
    while !rest.is_empty() {
        let (line, after) = split_once(rest, b'\n').unwrap_or((rest, &[]));
        rest = after;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.contains(&b'\r') {
            return Err(HeadError::BareCr);
        }
        let (name, value) = split_field(line)?;
        let slot = headers.get_mut(n).ok_or(HeadError::TooManyHeaders)?;
        *slot = Header {
            name: core::str::from_utf8(name).map_err(|_| HeadError::InvalidHeaderName)?,
            value,
        };
        n += 1;
    }
    Ok(headers.get(..n).unwrap_or_default())
}

/// Validates one trailer or header field line (no line ending); shared with the body decoder.
pub(crate) fn check_field_line(line: &[u8]) -> Result<(), HeadError> {
    if line.contains(&b'\r') {
        return Err(HeadError::BareCr);
    }
    split_field(line).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        for ok in [
            &b""[..],
            b"a",
            b"example.com:8080",
            b"0.0.0.0=5000",
            b"%C3%B1",
            b"[::1]:80",
            b"[v1.x]",
            b":80",
        ] {
            assert!(valid_host(ok), "{ok:?}");
        }
        for bad in [
            &b"a b"[..],
            b"a/b",
            b"a:8x",
            b"[::1",
            b"[]",
            b"%zz",
            b"a@b",
            b"[::1]x",
        ] {
            assert!(!valid_host(bad), "{bad:?}");
        }
    }

    #[test]
    fn fields() {
        assert_eq!(split_field(b"A: b"), Ok((&b"A"[..], &b"b"[..])));
        assert_eq!(split_field(b"A : b"), Err(HeadError::WhitespaceBeforeColon));
        assert_eq!(split_field(b" A: b"), Err(HeadError::ObsFold));
        assert_eq!(split_field(b"A b"), Err(HeadError::InvalidHeaderName));
        assert_eq!(split_field(b"A: \x7f"), Err(HeadError::InvalidHeaderValue));
    }
}
