//! Reading a message: [`Message::parse`] validates everything once; iterating cannot fail.

use super::error::DecodeError;
use super::name::{Name, read_name};
use super::rdata::{self, Edns, RData};
use super::types::{Class, Flags, Header, Opcode, RType, Rcode, Section};
use core::fmt;

/// The size of a message header.
pub const HEADER_LEN: usize = 12;
/// The largest DNS message (the TCP length prefix is 16 bits).
pub const MAX_MESSAGE_LEN: usize = 65_535;

/// A question: what is being asked about which name.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Question<'a> {
    /// The name asked about.
    pub name: Name<'a>,
    /// The type asked for (may be a query-only type such as [`RType::ANY`]).
    pub qtype: RType,
    /// The class, normally [`Class::IN`].
    pub qclass: Class,
}

/// A resource record.
///
/// For the OPT pseudo-record `class` and `ttl` hold the raw EDNS fields (payload size; extended
/// rcode, version and flags), which [`RData::Opt`] also gives decoded.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Record<'a> {
    /// The owner name.
    pub name: Name<'a>,
    /// The class, normally [`Class::IN`].
    pub class: Class,
    /// Seconds the record may be cached, as sent; [`effective_ttl`](Self::effective_ttl) applies
    /// RFC 2181's reading of it.
    pub ttl: u32,
    /// The typed data; its [`rtype`](RData::rtype) is the record's type.
    pub data: RData<'a>,
}

impl Record<'_> {
    /// The record type.
    pub const fn rtype(&self) -> RType {
        self.data.rtype()
    }

    /// The TTL to cache with: `ttl`, or 0 if its top bit is set (RFC 2181 §8).
    ///
    /// ```
    /// use levent_core::dns::{Class, Name, RData, Record};
    /// let rr = Record { name: Name::ROOT, class: Class::IN, ttl: 0xFFFF_FF11, data: RData::A([0; 4].into()) };
    /// assert_eq!(rr.effective_ttl(), 0);
    /// ```
    pub const fn effective_ttl(&self) -> u32 {
        if self.ttl > 0x7FFF_FFFF { 0 } else { self.ttl }
    }
}

impl fmt::Display for Question<'_> {
    /// `dig`'s form: `www.example.com. IN A`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#} {} {}", self.name, self.qclass, self.qtype)
    }
}

impl fmt::Display for Record<'_> {
    /// `dig`'s form: `www.example.com. 300 IN A 192.0.2.1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:#} {} {} {} {}",
            self.name,
            self.ttl,
            self.class,
            self.rtype(),
            self.data
        )
    }
}

/// A parsed DNS message: a view of the bytes it was parsed from.
///
/// [`parse`](Self::parse) checks the whole message before returning — every name, every record
/// header, every RDATA of a typed record, the section counts and the EDNS rules — so the section
/// iterators afterwards yield exactly the counted entries and need no error handling. Nothing is
/// copied: names decompress lazily from the original bytes.
///
/// Bytes after the last counted record are allowed and ignored, as libevent's evdns and c-ares
/// do; [`trailing`](Self::trailing) shows them.
///
/// ```
/// use levent_core::dns::{Message, RData, RType, Rcode};
/// let bytes = [
///     0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, // id, QR RD RA, 1 question, 1 answer
///     3, b'w', b'w', b'w', 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'c', b'o', b'm', 0,
///     0, 1, 0, 1, // A IN
///     0xC0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, 1, // compressed name, TTL 300
/// ];
/// let msg = Message::parse(&bytes).unwrap();
/// assert_eq!((msg.id(), msg.rcode(), msg.is_response()), (0x1234, Rcode::NOERROR, true));
/// let q = msg.question().unwrap();
/// assert_eq!((q.name.to_string().as_str(), q.qtype), ("www.example.com", RType::A));
/// for rr in msg.answers() {
///     assert_eq!(rr.name, q.name);
///     assert_eq!(rr.data, RData::A([192, 0, 2, 1].into()));
/// }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    bytes: &'a [u8],
    header: Header,
    counts: [u16; 4],
    /// Where each section starts: question, answer, authority, additional.
    starts: [usize; 4],
    end: usize,
    edns: Option<Edns<'a>>,
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    let pair = bytes.get(at..at + 2)?;
    Some(u16::from_be_bytes([*pair.first()?, *pair.get(1)?]))
}

/// Reads the question at `pos`, returning it and the offset after it.
fn read_question(msg: &[u8], pos: usize) -> Result<(Question<'_>, usize), DecodeError> {
    if pos >= msg.len() {
        return Err(DecodeError::CountOverrun);
    }
    let (name, pos) = read_name(msg, pos, msg.len())?;
    let fields = msg
        .get(pos..pos + 4)
        .ok_or(DecodeError::TruncatedQuestion)?;
    let (Some(qtype), Some(qclass)) = (be16(fields, 0), be16(fields, 2)) else {
        return Err(DecodeError::TruncatedQuestion);
    };
    let question = Question {
        name,
        qtype: RType::from(qtype),
        qclass: Class::from(qclass),
    };
    Ok((question, pos + 4))
}

/// Reads the record at `pos`, returning it and the offset after it.
fn read_record(msg: &[u8], pos: usize) -> Result<(Record<'_>, usize), DecodeError> {
    if pos >= msg.len() {
        return Err(DecodeError::CountOverrun);
    }
    let (name, pos) = read_name(msg, pos, msg.len())?;
    let fixed = msg.get(pos..pos + 10).ok_or(DecodeError::TruncatedRecord)?;
    let (Some(rtype), Some(class), Some(ttl_hi), Some(ttl_lo), Some(rdlen)) = (
        be16(fixed, 0),
        be16(fixed, 2),
        be16(fixed, 4),
        be16(fixed, 6),
        be16(fixed, 8),
    ) else {
        return Err(DecodeError::TruncatedRecord);
    };
    let start = pos + 10;
    let end = start + usize::from(rdlen);
    if end > msg.len() {
        return Err(DecodeError::TruncatedRdata);
    }
    let (rtype, class) = (RType::from(rtype), Class::from(class));
    let ttl = (u32::from(ttl_hi) << 16) | u32::from(ttl_lo);
    let data = rdata::decode(msg, rtype, class, ttl, start, usize::from(rdlen))?;
    Ok((
        Record {
            name,
            class,
            ttl,
            data,
        },
        end,
    ))
}

impl<'a> Message<'a> {
    /// Parses and validates a whole message.
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] naming the first problem found. Compression pointers must point
    /// strictly backwards (see [`Name::decode`]); typed RDATA must fill its RDLENGTH exactly;
    /// there may be at most one OPT record, in the additional section, owned by the root.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        if bytes.len() < HEADER_LEN {
            return Err(DecodeError::ShortHeader);
        }
        if bytes.len() > MAX_MESSAGE_LEN {
            return Err(DecodeError::TooLong);
        }
        let word = |i: usize| be16(bytes, 2 * i).ok_or(DecodeError::ShortHeader);
        let (id, bits) = (word(0)?, word(1)?);
        let counts = [word(2)?, word(3)?, word(4)?, word(5)?];

        let mut starts = [HEADER_LEN; 4];
        let mut pos = HEADER_LEN;
        for _ in 0..counts[0] {
            pos = read_question(bytes, pos)?.1;
        }
        let mut edns = None;
        for (section, &count) in counts.iter().enumerate().skip(1) {
            if let Some(start) = starts.get_mut(section) {
                *start = pos;
            }
            for _ in 0..count {
                let (record, next) = read_record(bytes, pos)?;
                if let RData::Opt(e) = record.data {
                    if section != Section::Additional.index() || !record.name.is_root() {
                        return Err(DecodeError::MisplacedOpt);
                    }
                    if edns.replace(e).is_some() {
                        return Err(DecodeError::DuplicateOpt);
                    }
                }
                pos = next;
            }
        }

        let ext = edns.map_or(0, |e: Edns<'_>| e.ext_rcode);
        let [_, low] = bits.to_be_bytes();
        let header = Header {
            id,
            flags: Flags::from_bits(bits),
            opcode: Opcode::new(((bits >> 11) & 0xF) as u8).unwrap_or_default(),
            rcode: Rcode::from_parts(low & 0xF, ext),
        };
        Ok(Message {
            bytes,
            header,
            counts,
            starts,
            end: pos,
            edns,
        })
    }

    /// The bytes the message was parsed from, trailing bytes included.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The header; its rcode includes the extended bits from the OPT record.
    pub fn header(&self) -> Header {
        self.header
    }

    /// The id.
    pub fn id(&self) -> u16 {
        self.header.id
    }

    /// The header flags.
    pub fn flags(&self) -> Flags {
        self.header.flags
    }

    /// The opcode.
    pub fn opcode(&self) -> Opcode {
        self.header.opcode
    }

    /// The response code: the header's four bits extended by the OPT record's eight.
    pub fn rcode(&self) -> Rcode {
        self.header.rcode
    }

    /// Whether QR is set.
    pub fn is_response(&self) -> bool {
        self.header.flags.contains(Flags::QR)
    }

    /// Whether TC is set: the answer was cut to fit, retry over TCP (or with a larger EDNS
    /// payload size).
    pub fn is_truncated(&self) -> bool {
        self.header.flags.contains(Flags::TC)
    }

    /// The EDNS information, if the message has an OPT record.
    pub fn edns(&self) -> Option<Edns<'a>> {
        self.edns
    }

    /// The questions.
    pub fn questions(&self) -> Questions<'a> {
        Questions {
            msg: self.bytes,
            pos: HEADER_LEN,
            left: self.counts[0],
        }
    }

    /// The first question, if any (a message normally has exactly one).
    pub fn question(&self) -> Option<Question<'a>> {
        self.questions().next()
    }

    /// The records of one section.
    pub fn records(&self, section: Section) -> Records<'a> {
        let i = section.index();
        Records {
            msg: self.bytes,
            pos: self.starts.get(i).copied().unwrap_or(self.end),
            left: self.counts.get(i).copied().unwrap_or(0),
        }
    }

    /// The answer section.
    pub fn answers(&self) -> Records<'a> {
        self.records(Section::Answer)
    }

    /// The authority section.
    pub fn authority(&self) -> Records<'a> {
        self.records(Section::Authority)
    }

    /// The additional section, the OPT record included.
    pub fn additional(&self) -> Records<'a> {
        self.records(Section::Additional)
    }

    /// The number of questions.
    pub fn question_count(&self) -> u16 {
        self.counts[0]
    }

    /// The number of records in a section.
    pub fn record_count(&self, section: Section) -> u16 {
        self.counts.get(section.index()).copied().unwrap_or(0)
    }

    /// Bytes after the last record, if the sender appended any.
    pub fn trailing(&self) -> &'a [u8] {
        self.bytes.get(self.end..).unwrap_or(&[])
    }
}

/// The questions of a [`Message`].
#[derive(Clone, Debug)]
pub struct Questions<'a> {
    msg: &'a [u8],
    pos: usize,
    left: u16,
}

impl<'a> Iterator for Questions<'a> {
    type Item = Question<'a>;
    fn next(&mut self) -> Option<Question<'a>> {
        if self.left == 0 {
            return None;
        }
        match read_question(self.msg, self.pos) {
            Ok((q, next)) => {
                self.pos = next;
                self.left -= 1;
                Some(q)
            }
            // Unreachable after `Message::parse` validated the message; end quietly.
            Err(_) => {
                self.left = 0;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::from(self.left), Some(usize::from(self.left)))
    }
}

impl ExactSizeIterator for Questions<'_> {}
impl core::iter::FusedIterator for Questions<'_> {}

/// The records of one section of a [`Message`].
#[derive(Clone, Debug)]
pub struct Records<'a> {
    msg: &'a [u8],
    pos: usize,
    left: u16,
}

impl<'a> Iterator for Records<'a> {
    type Item = Record<'a>;
    fn next(&mut self) -> Option<Record<'a>> {
        if self.left == 0 {
            return None;
        }
        match read_record(self.msg, self.pos) {
            Ok((r, next)) => {
                self.pos = next;
                self.left -= 1;
                Some(r)
            }
            // Unreachable after `Message::parse` validated the message; end quietly.
            Err(_) => {
                self.left = 0;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::from(self.left), Some(usize::from(self.left)))
    }
}

impl ExactSizeIterator for Records<'_> {}
impl core::iter::FusedIterator for Records<'_> {}
