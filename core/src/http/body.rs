//! [`BodyDecoder`]: incremental, zero-copy decoding of a message body.

use super::chars::{hex_value, is_qdtext, is_tchar, is_text, is_ws};
use super::head::check_field_line;
use super::{BodyError, Framing, Limits};
use core::ops::Range;

/// What one call to [`BodyDecoder::decode`] did.
#[derive(Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Decoded {
    /// How many input bytes were used up. The caller drops them and feeds the rest again, with
    /// more bytes after it, on the next call.
    pub consumed: usize,
    /// Where the body bytes of this call are in the input (empty if none). At most one range
    /// per call, so each call is cheap and the data is never copied.
    pub data: Range<usize>,
    /// Where the trailer field lines are in the input (empty if none); only set on the call that
    /// finishes a chunked body. Split them with [`parse_fields`](super::parse_fields).
    pub trailers: Range<usize>,
    /// The body is complete: bytes after `consumed` belong to the next message.
    pub done: bool,
}

impl Decoded {
    /// The body bytes of this call, from the `input` it was given.
    pub fn data<'a>(&self, input: &'a [u8]) -> &'a [u8] {
        input.get(self.data.clone()).unwrap_or_default()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ext {
    /// Hex digits of the size.
    Digits,
    /// Whitespace after the size or an extension, before `;`.
    Bws,
    /// After `;`, before an extension name.
    NameStart,
    Name,
    /// Whitespace after a name, before `=` or `;`.
    AfterName,
    /// After `=`, before the value.
    ValueStart,
    Token,
    Quoted,
    QuotedPair,
    AfterQuoted,
    /// Got the CR; the LF must follow.
    Lf,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct SizeLine {
    size: u64,
    /// Significant hexadecimal digits.
    digits: u8,
    /// Hexadecimal digits, leading zeros included.
    hex: usize,
    len: usize,
    in_ext: bool,
    at: Ext,
}

impl SizeLine {
    const NEW: SizeLine = SizeLine {
        size: 0,
        digits: 0,
        hex: 0,
        len: 0,
        in_ext: false,
        at: Ext::Digits,
    };

    /// Takes one byte; `Some(size)` once the line's LF arrives.
    fn byte(&mut self, b: u8, max_ext: usize) -> Result<Option<u64>, BodyError> {
        use Ext::*;
        let bad = if self.in_ext {
            BodyError::InvalidChunkExtension
        } else {
            BodyError::InvalidChunkSize
        };
        if self.at == Lf {
            return if b == b'\n' {
                Ok(Some(self.size))
            } else {
                Err(BodyError::InvalidChunkSize)
            };
        }
        if b == b'\r' {
            return match self.at {
                Digits if self.len > 0 => {
                    self.at = Lf;
                    Ok(None)
                }
                Name | Token | AfterQuoted => {
                    self.at = Lf;
                    Ok(None)
                }
                _ => Err(bad),
            };
        }
        self.len += 1;
        let v = hex_value(b);
        if self.at == Digits && v.is_some() {
            self.hex += 1;
        }
        if self.len - self.hex.min(16) > max_ext {
            return Err(BodyError::ChunkExtensionTooLong);
        }
        if let (Digits, Some(v)) = (self.at, v) {
            if self.digits > 0 || v > 0 {
                self.digits += 1;
                if self.digits > 16 {
                    return Err(BodyError::InvalidChunkSize);
                }
            }
            self.size = self.size << 4 | u64::from(v);
            return Ok(None);
        }
        self.at = match (self.at, b) {
            (Digits, _) if self.len == 1 => return Err(BodyError::InvalidChunkSize),
            (Digits | Bws | Token | AfterQuoted, b';') => {
                self.in_ext = true;
                NameStart
            }
            (Digits | Bws | Token | AfterQuoted, _) if is_ws(b) => Bws,
            (NameStart, _) if is_ws(b) => NameStart,
            (NameStart | Name, _) if is_tchar(b) => Name,
            (Name | AfterName, b';') => NameStart,
            (Name | AfterName, b'=') => ValueStart,
            (Name | AfterName, _) if is_ws(b) => AfterName,
            (ValueStart, _) if is_ws(b) => ValueStart,
            (ValueStart, b'"') => Quoted,
            (ValueStart | Token, _) if is_tchar(b) => Token,
            (Quoted, b'"') => AfterQuoted,
            (Quoted, b'\\') => QuotedPair,
            (Quoted, _) if is_qdtext(b) => Quoted,
            (QuotedPair, _) if is_text(b) => Quoted,
            _ => return Err(bad),
        };
        Ok(None)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Length(u64),
    Close,
    Size(SizeLine),
    Data(u64),
    DataCr,
    DataLf,
    /// In the trailer section; the offset of the first line not validated yet, counted from the
    /// section's start (the first byte the caller feeds again).
    Trailers(usize),
    Done,
    Failed(BodyError),
}

/// Decodes a body framed by Content-Length, chunked coding, or the end of the connection,
/// incrementally and without copying: each call takes the bytes received so far (that earlier
/// calls did not consume) and says how many it consumed and where the body data is.
///
/// Chunk extensions are validated (RFC 9112 §7.1.1) and skipped; chunk-size lines and the CRLF
/// after chunk data must end with CRLF exactly. The trailer section is validated like a head's
/// fields and handed back as a range once complete; it is not consumed until then, so it must fit
/// in the caller's buffer ([`Limits::max_trailer_size`]).
///
/// ```
/// use levent_core::http::{BodyDecoder, Framing, Limits};
///
/// let wire = b"5\r\nhello\r\n6;lang=en\r\n world\r\n0\r\nX-Sum: 1\r\n\r\nNEXT";
/// let mut body = BodyDecoder::new(Framing::Chunked, &Limits::DEFAULT);
/// let (mut pos, mut out) = (0, Vec::new());
/// loop {
///     let d = body.decode(&wire[pos..]).unwrap();
///     out.extend_from_slice(d.data(&wire[pos..]));
///     if d.done {
///         assert_eq!(&wire[pos..][d.trailers.clone()], b"X-Sum: 1\r\n");
///         pos += d.consumed;
///         break;
///     }
///     pos += d.consumed;
/// }
/// assert_eq!((&out[..], &wire[pos..]), (&b"hello world"[..], &b"NEXT"[..]));
/// ```
#[derive(Clone, Debug)]
pub struct BodyDecoder {
    state: State,
    total: u64,
    max_body: u64,
    max_ext: usize,
    max_trailer: usize,
}

impl BodyDecoder {
    /// A decoder for a body with this framing. [`Framing::None`] and [`Framing::Tunnel`] have
    /// no body: the decoder is done at once.
    pub const fn new(framing: Framing, limits: &Limits) -> Self {
        BodyDecoder {
            state: match framing {
                Framing::None | Framing::Tunnel | Framing::Length(0) => State::Done,
                Framing::Length(n) => State::Length(n),
                Framing::Chunked => State::Size(SizeLine::NEW),
                Framing::CloseDelimited => State::Close,
            },
            total: 0,
            max_body: limits.max_body_size,
            max_ext: limits.max_chunk_ext,
            max_trailer: limits.max_trailer_size,
        }
    }

    /// Whether the body is complete.
    pub const fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Body bytes delivered so far.
    pub const fn body_len(&self) -> u64 {
        self.total
    }

    /// Decodes from `input`, the received bytes that earlier calls did not consume. Call again
    /// while `consumed` is non-zero and the body is not done; `consumed == 0` without `done`
    /// means more bytes are needed.
    ///
    /// # Errors
    ///
    /// Malformed chunked coding, or a limit exceeded; the error is sticky.
    pub fn decode(&mut self, input: &[u8]) -> Result<Decoded, BodyError> {
        let r = self.step(input);
        if let Err(e) = r {
            self.state = State::Failed(e);
        }
        r
    }

    /// Tells the decoder the connection ended. Fine for a close-delimited or finished body;
    /// [`BodyError::Truncated`] otherwise.
    ///
    /// # Errors
    ///
    /// [`BodyError::Truncated`], or the error the decoder already failed with.
    pub fn finish(&mut self) -> Result<(), BodyError> {
        match self.state {
            State::Done => Ok(()),
            State::Close => {
                self.state = State::Done;
                Ok(())
            }
            State::Failed(e) => Err(e),
            _ => {
                self.state = State::Failed(BodyError::Truncated);
                Err(BodyError::Truncated)
            }
        }
    }

    fn step(&mut self, input: &[u8]) -> Result<Decoded, BodyError> {
        let mut out = Decoded {
            consumed: 0,
            data: 0..0,
            trailers: 0..0,
            done: false,
        };
        let mut i = 0;
        loop {
            match self.state {
                State::Failed(e) => return Err(e),
                State::Done => {
                    out.done = true;
                    break;
                }
                State::Length(rem) => {
                    if self.total.saturating_add(rem) > self.max_body {
                        return Err(BodyError::BodyTooLarge);
                    }
                    let n = self.take(input, i, rem, &mut out);
                    i += n;
                    self.state = if rem == n as u64 {
                        State::Done
                    } else {
                        State::Length(rem - n as u64)
                    };
                    out.done = self.state == State::Done;
                    break;
                }
                State::Close => {
                    let avail = self.max_body.saturating_sub(self.total);
                    if avail == 0 && i < input.len() {
                        return Err(BodyError::BodyTooLarge);
                    }
                    i += self.take(input, i, avail, &mut out);
                    break;
                }
                State::Data(rem) => {
                    let n = self.take(input, i, rem, &mut out);
                    i += n;
                    self.state = if rem == n as u64 {
                        State::DataCr
                    } else {
                        State::Data(rem - n as u64)
                    };
                    break;
                }
                State::Trailers(scanned) => {
                    let section = input.get(i..).unwrap_or_default();
                    match self.trailers(section, scanned)? {
                        Some((fields, len)) => {
                            out.trailers = i..i + fields;
                            i += len;
                            self.state = State::Done;
                        }
                        None => break,
                    }
                }
                State::Size(_) | State::DataCr | State::DataLf => {
                    let Some(&b) = input.get(i) else { break };
                    i += 1;
                    self.state = match self.state {
                        State::DataCr if b == b'\r' => State::DataLf,
                        State::DataLf if b == b'\n' => State::Size(SizeLine::NEW),
                        State::Size(mut line) => match line.byte(b, self.max_ext)? {
                            None => State::Size(line),
                            Some(0) => State::Trailers(0),
                            Some(size) => {
                                if self.total.saturating_add(size) > self.max_body {
                                    return Err(BodyError::BodyTooLarge);
                                }
                                State::Data(size)
                            }
                        },
                        _ => return Err(BodyError::MissingChunkCrlf),
                    };
                }
            }
        }
        out.consumed = i;
        Ok(out)
    }

    /// Hands out up to `max` bytes from `input[at..]` as this call's data.
    fn take(&mut self, input: &[u8], at: usize, max: u64, out: &mut Decoded) -> usize {
        let avail = input.len().saturating_sub(at);
        let n = usize::try_from(max).map_or(avail, |m| m.min(avail));
        out.data = at..at + n;
        self.total += n as u64;
        n
    }

    /// Validates the trailer section from line offset `scanned`. `Some((fields, len))` once its
    /// empty line has arrived: the field lines are `section[..fields]`, the whole is `len` bytes.
    fn trailers(
        &mut self,
        section: &[u8],
        mut scanned: usize,
    ) -> Result<Option<(usize, usize)>, BodyError> {
        loop {
            let lf = section
                .get(scanned..)
                .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
                .map(|at| scanned + at);
            let Some(e) = lf else {
                if section.len() > self.max_trailer {
                    return Err(BodyError::TrailersTooLarge);
                }
                self.state = State::Trailers(scanned);
                return Ok(None);
            };
            if e + 1 > self.max_trailer {
                return Err(BodyError::TrailersTooLarge);
            }
            let line = section.get(scanned..e).unwrap_or_default();
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                return Ok(Some((scanned, e + 1)));
            }
            check_field_line(line).map_err(BodyError::InvalidTrailer)?;
            scanned = e + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &[u8]) -> Result<Option<u64>, BodyError> {
        let mut l = SizeLine::NEW;
        let mut r = Ok(None);
        for &b in s {
            r = l.byte(b, 64);
            if !matches!(r, Ok(None)) {
                break;
            }
        }
        r
    }

    #[test]
    fn size_lines() {
        assert_eq!(line(b"1e\r\n"), Ok(Some(30)));
        assert_eq!(line(b"000\r\n"), Ok(Some(0)));
        assert_eq!(line(b"5 ; a = \"x\\\"y\" ; b\r\n"), Ok(Some(5)));
        assert_eq!(line(b"ffffffffffffffff\r\n"), Ok(Some(u64::MAX)));
        assert_eq!(
            line(b"10000000000000000\r\n"),
            Err(BodyError::InvalidChunkSize)
        );
        assert_eq!(line(b"5 \r\n"), Err(BodyError::InvalidChunkSize));
        assert_eq!(line(b"5\n"), Err(BodyError::InvalidChunkSize));
        assert_eq!(line(b"\r\n"), Err(BodyError::InvalidChunkSize));
        assert_eq!(line(b"5;a=\r\n"), Err(BodyError::InvalidChunkExtension));
        assert_eq!(line(b"5;a b\r\n"), Err(BodyError::InvalidChunkExtension));
        assert_eq!(line(b"5;a=\"b\r\n"), Err(BodyError::InvalidChunkExtension));
    }
}
