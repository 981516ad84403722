//! One error type per operation: decoding a message, building one, making a name from text.

use super::types::RType;
use core::fmt;

/// Why [`Message::parse`](super::Message::parse) (or [`Name::decode`](super::Name::decode))
/// refused some bytes. Each kind of damage has its own variant, so a resolver can log what a
/// server (or an attacker) sent.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DecodeError {
    /// Fewer than the 12 bytes of a header.
    ShortHeader,
    /// More than 65,535 bytes: no DNS transport can carry that.
    TooLong,
    /// The header counts more questions or records than the message holds: it ends where
    /// another entry should start.
    CountOverrun,
    /// The message ends inside a name (a label, or the second byte of a compression pointer).
    TruncatedName,
    /// The message ends inside a question's type or class.
    TruncatedQuestion,
    /// The message ends inside a record's type, class, TTL or RDLENGTH.
    TruncatedRecord,
    /// A record's RDLENGTH runs past the end of the message.
    TruncatedRdata,
    /// A record's RDATA does not have the shape its type requires within its RDLENGTH: an
    /// address of the wrong size, a name or string that crosses the end of the RDATA, fixed
    /// fields cut short, or bytes left over.
    RdataLength(RType),
    /// A label length byte from 64 to 191 (`0x40`–`0xBF`): a label longer than 63 octets, or
    /// one of the obsolete extended label types (RFC 6891 §5), which are not supported.
    LabelTooLong,
    /// A name longer than 255 octets once decompressed (RFC 1035 §3.1).
    NameTooLong,
    /// A compression pointer to an offset at or past the end of the message.
    PointerOutOfBounds,
    /// A compression pointer to data after the pointer itself. RFC 1035 §4.1.4 says a pointer
    /// refers to a *prior* occurrence of a name.
    ForwardPointer,
    /// A compression pointer back into the part of the name already being read (to itself, or
    /// not strictly before the previous pointer's target): following it would loop.
    PointerLoop,
    /// A name needs more than 128 compression pointers. A name of at most 255 octets has at most
    /// 127 labels, so well-formed compression never needs that many.
    TooManyPointers,
    /// An OPT record outside the additional section, or with an owner name other than the root
    /// (RFC 6891 §6.1.1).
    MisplacedOpt,
    /// More than one OPT record (RFC 6891 §6.1.1).
    DuplicateOpt,
}

/// Why a [`MessageBuilder`](super::MessageBuilder) refused to add something. A refused call
/// leaves the message as it was before the call, so the caller can, for instance, set the TC
/// flag and finish what did fit.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EncodeError {
    /// The buffer (or the 65,535-byte limit of a DNS message) is full.
    NoSpace,
    /// Sections must be written in order: questions, answers, authority, additional.
    OutOfOrder,
    /// A TXT character-string longer than 255 bytes.
    StringTooLong,
    /// [`RData::Opt`](super::RData::Opt) given to a record method: write EDNS with
    /// [`edns`](super::MessageBuilder::edns), which keeps the OPT record unique and its
    /// extended response code consistent with the header.
    UseEdns,
    /// [`edns`](super::MessageBuilder::edns) called twice.
    DuplicateEdns,
    /// The response code is above 15 but the message has no OPT record to carry its upper bits.
    RcodeNeedsEdns,
}

/// Why [`NameBuf::from_dotted`](super::NameBuf::from_dotted) or
/// [`NameBuf::push_label`](super::NameBuf::push_label) refused a name.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NameError {
    /// An empty label: two dots in a row, or a leading dot (`"a..b"`, `".a"`).
    EmptyLabel,
    /// A label longer than 63 bytes.
    LabelTooLong,
    /// A name longer than 255 bytes in wire form.
    NameTooLong,
    /// A backslash at the end, or `\DDD` with a value above 255 or fewer than three digits.
    BadEscape,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::ShortHeader => f.write_str("message shorter than a DNS header"),
            DecodeError::TooLong => f.write_str("message longer than 65535 bytes"),
            DecodeError::CountOverrun => f.write_str("header counts more entries than present"),
            DecodeError::TruncatedName => f.write_str("message ends inside a name"),
            DecodeError::TruncatedQuestion => f.write_str("message ends inside a question"),
            DecodeError::TruncatedRecord => f.write_str("message ends inside a record header"),
            DecodeError::TruncatedRdata => f.write_str("RDLENGTH runs past the end of message"),
            DecodeError::RdataLength(t) => write!(f, "{t} RDATA does not match its RDLENGTH"),
            DecodeError::LabelTooLong => f.write_str("label longer than 63 bytes"),
            DecodeError::NameTooLong => f.write_str("name longer than 255 bytes"),
            DecodeError::PointerOutOfBounds => {
                f.write_str("compression pointer past the end of message")
            }
            DecodeError::ForwardPointer => f.write_str("compression pointer to later data"),
            DecodeError::PointerLoop => f.write_str("compression pointer loop"),
            DecodeError::TooManyPointers => f.write_str("too many compression pointers"),
            DecodeError::MisplacedOpt => f.write_str("OPT record misplaced"),
            DecodeError::DuplicateOpt => f.write_str("more than one OPT record"),
        }
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EncodeError::NoSpace => "message buffer full",
            EncodeError::OutOfOrder => "sections written out of order",
            EncodeError::StringTooLong => "TXT string longer than 255 bytes",
            EncodeError::UseEdns => "OPT data must be written with edns()",
            EncodeError::DuplicateEdns => "EDNS already added",
            EncodeError::RcodeNeedsEdns => "extended response code without an OPT record",
        })
    }
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameError::EmptyLabel => "empty label",
            NameError::LabelTooLong => "label longer than 63 bytes",
            NameError::NameTooLong => "name longer than 255 bytes",
            NameError::BadEscape => "bad backslash escape",
        })
    }
}

impl core::error::Error for DecodeError {}
impl core::error::Error for EncodeError {}
impl core::error::Error for NameError {}
