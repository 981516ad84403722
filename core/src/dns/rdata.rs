//! Typed record data: [`RData`] and the structures of its variants.

use super::error::DecodeError;
use super::name::{Name, read_name};
use super::types::{Class, RType};
use core::fmt::{self, Write as _};
use core::net::{Ipv4Addr, Ipv6Addr};

/// The data of a resource record, by type.
///
/// A, AAAA and SRV are defined for class IN only (RFC 1035 §3.4, RFC 3596, RFC 2782): in another
/// class their data is [`RData::Unknown`]. The other typed variants are decoded in any class.
/// Names inside RDATA may be compressed (RFC 3597 §4 allows it for the RFC 1035 types; SRV
/// targets should not be, but compressed ones are accepted when reading and never written).
///
/// `Display` writes the master-file form, as `dig` shows it: `10 mail.example.com.`,
/// `"hello" "world"`, and RFC 3597's `\# 3 abcdef` for unknown data.
///
/// ```
/// use core::net::Ipv4Addr;
/// use levent_core::dns::{Mx, NameBuf, RData, RType};
/// let exchange = NameBuf::from_dotted("mail.example.com").unwrap();
/// let mx = RData::Mx(Mx { preference: 10, exchange: exchange.as_name() });
/// assert_eq!((mx.rtype(), mx.to_string().as_str()), (RType::MX, "10 mail.example.com."));
/// assert_eq!(RData::A(Ipv4Addr::new(192, 0, 2, 1)).to_string(), "192.0.2.1");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RData<'a> {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// An IPv6 address.
    Aaaa(Ipv6Addr),
    /// The canonical name this owner is an alias for.
    Cname(Name<'a>),
    /// An authoritative name server for the owner's zone.
    Ns(Name<'a>),
    /// The name an address (or other reverse name) points to.
    Ptr(Name<'a>),
    /// A mail exchange.
    Mx(Mx<'a>),
    /// One or more character-strings.
    Txt(Txt<'a>),
    /// A service location.
    Srv(Srv<'a>),
    /// A zone's start of authority; in a negative answer its `minimum` bounds the negative TTL.
    Soa(Soa<'a>),
    /// EDNS0 (RFC 6891): the OPT pseudo-record's class, TTL and RDATA, decoded together.
    Opt(Edns<'a>),
    /// Any other type (or a class-specific type outside class IN): the raw RDATA. For the
    /// obsolete RFC 1035 types with names (MB, MG, MR, MINFO, MD, MF) the bytes may hold
    /// compression pointers into the original message.
    Unknown {
        /// The record type.
        rtype: RType,
        /// The RDATA as it was on the wire.
        data: &'a [u8],
    },
}

// By hand: defmt knows `core::net` addresses only with its `ip_in_core` feature.
#[cfg(feature = "defmt")]
impl defmt::Format for RData<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        match self {
            RData::A(a) => {
                let [a, b, c, d] = a.octets();
                defmt::write!(f, "A {}.{}.{}.{}", a, b, c, d);
            }
            RData::Aaaa(a) => defmt::write!(f, "AAAA {=[u8]:02x}", a.octets()),
            RData::Cname(n) => defmt::write!(f, "CNAME {}", n),
            RData::Ns(n) => defmt::write!(f, "NS {}", n),
            RData::Ptr(n) => defmt::write!(f, "PTR {}", n),
            RData::Mx(mx) => defmt::write!(f, "MX {}", mx),
            RData::Txt(t) => defmt::write!(f, "TXT {}", t),
            RData::Srv(s) => defmt::write!(f, "SRV {}", s),
            RData::Soa(s) => defmt::write!(f, "SOA {}", s),
            RData::Opt(e) => defmt::write!(f, "OPT {}", e),
            RData::Unknown { rtype, data } => defmt::write!(f, "{} {=[u8]:x}", rtype, data),
        }
    }
}

/// MX data (RFC 1035 §3.3.9).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Mx<'a> {
    /// Lower is preferred.
    pub preference: u16,
    /// The mail server.
    pub exchange: Name<'a>,
}

/// SRV data (RFC 2782).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Srv<'a> {
    /// Lower is tried first.
    pub priority: u16,
    /// Relative weight among targets of the same priority.
    pub weight: u16,
    /// The port of the service.
    pub port: u16,
    /// The host providing the service; the root means "not available here".
    pub target: Name<'a>,
}

/// SOA data (RFC 1035 §3.3.13).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Soa<'a> {
    /// The primary name server of the zone.
    pub mname: Name<'a>,
    /// The mailbox of the person responsible, as a name (`hostmaster.example.com`).
    pub rname: Name<'a>,
    /// The zone's version.
    pub serial: u32,
    /// Seconds between secondary refreshes.
    pub refresh: u32,
    /// Seconds between retries of a failed refresh.
    pub retry: u32,
    /// Seconds after which a secondary stops answering without a refresh.
    pub expire: u32,
    /// The negative-caching TTL (RFC 2308).
    pub minimum: u32,
}

/// TXT data: a sequence of character-strings, each at most 255 bytes of any value.
///
/// Read from a message it is a view of the validated RDATA; to write one, make it from a slice
/// of strings with [`Txt::new`]. Two `Txt`s are equal when their strings are.
///
/// ```
/// use levent_core::dns::Txt;
/// let strings: [&[u8]; 2] = [b"v=spf1", b"-all"];
/// let txt = Txt::new(&strings);
/// assert_eq!(txt.strings().count(), 2);
/// assert_eq!(txt.to_string(), r#""v=spf1" "-all""#);
/// ```
#[derive(Clone, Copy)]
pub struct Txt<'a>(TxtRepr<'a>);

#[derive(Clone, Copy)]
enum TxtRepr<'a> {
    /// Length-prefixed strings, validated.
    Wire(&'a [u8]),
    List(&'a [&'a [u8]]),
}

/// The character-strings of a [`Txt`].
#[derive(Clone, Debug)]
pub struct TxtStrings<'a>(TxtStringsRepr<'a>);

#[derive(Clone, Debug)]
enum TxtStringsRepr<'a> {
    Wire(&'a [u8]),
    List(core::slice::Iter<'a, &'a [u8]>),
}

impl<'a> Txt<'a> {
    /// TXT data made of these strings. Each must be at most 255 bytes; a longer one makes the
    /// builder return [`EncodeError::StringTooLong`](super::EncodeError::StringTooLong).
    pub const fn new(strings: &'a [&'a [u8]]) -> Self {
        Txt(TxtRepr::List(strings))
    }

    /// The strings, in order.
    pub fn strings(&self) -> TxtStrings<'a> {
        TxtStrings(match self.0 {
            TxtRepr::Wire(w) => TxtStringsRepr::Wire(w),
            TxtRepr::List(l) => TxtStringsRepr::List(l.iter()),
        })
    }
}

impl<'a> Iterator for TxtStrings<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        match &mut self.0 {
            TxtStringsRepr::Wire(w) => {
                let (&len, rest) = w.split_first()?;
                let (s, rest) = rest.split_at_checked(usize::from(len))?;
                *w = rest;
                Some(s)
            }
            TxtStringsRepr::List(it) => it.next().copied(),
        }
    }
}

impl PartialEq for Txt<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.strings().eq(other.strings())
    }
}

impl Eq for Txt<'_> {}

impl fmt::Debug for Txt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Txt({self})")
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Txt<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        for s in self.strings() {
            defmt::write!(f, "{=[u8]:a} ", s);
        }
    }
}

/// Writes a character-string in master-file form: quoted, with `"` and `\` escaped and bytes
/// outside printable ASCII as `\DDD`.
fn write_char_string(f: &mut fmt::Formatter<'_>, s: &[u8]) -> fmt::Result {
    f.write_char('"')?;
    for &b in s {
        match b {
            b'"' | b'\\' => {
                f.write_char('\\')?;
                f.write_char(char::from(b))?;
            }
            0x20..=0x7E => f.write_char(char::from(b))?,
            _ => write!(f, "\\{b:03}")?,
        }
    }
    f.write_char('"')
}

impl fmt::Display for Txt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.strings().enumerate() {
            if i > 0 {
                f.write_char(' ')?;
            }
            write_char_string(f, s)?;
        }
        Ok(())
    }
}

/// EDNS0 information (RFC 6891), carried by the OPT pseudo-record.
///
/// In a parsed message, [`Message::edns`](super::Message::edns) returns it. To send it, pass one
/// to [`MessageBuilder::edns`](super::MessageBuilder::edns); the builder takes the extended
/// response code from the header's rcode, not from `ext_rcode`.
///
/// ```
/// use levent_core::dns::Edns;
/// let e = Edns::new(1232);
/// assert_eq!((e.udp_payload_size, e.version, e.dnssec_ok()), (1232, 0, false));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Edns<'a> {
    /// The largest UDP payload the sender can receive (the OPT record's class field). Values
    /// below 512 are to be treated as 512 (RFC 6891 §6.2.3); they are reported as sent.
    pub udp_payload_size: u16,
    /// The upper eight bits of the twelve-bit response code.
    pub ext_rcode: u8,
    /// The EDNS version; levent speaks version 0.
    pub version: u8,
    /// The sixteen flag bits; the top one is DO ([`Edns::DO`]).
    pub flags: u16,
    /// The options.
    pub options: EdnsOptions<'a>,
}

impl Edns<'static> {
    /// Version 0 with this payload size, no flags and no options.
    pub const fn new(udp_payload_size: u16) -> Self {
        Edns {
            udp_payload_size,
            ext_rcode: 0,
            version: 0,
            flags: 0,
            options: EdnsOptions::EMPTY,
        }
    }
}

impl Edns<'_> {
    /// The DNSSEC OK flag (RFC 3225): the sender wants DNSSEC records.
    pub const DO: u16 = 0x8000;

    /// Whether the DO flag is set.
    pub const fn dnssec_ok(&self) -> bool {
        self.flags & Self::DO != 0
    }

    pub(crate) fn ttl(&self, ext_rcode: u8) -> u32 {
        (u32::from(ext_rcode) << 24) | (u32::from(self.version) << 16) | u32::from(self.flags)
    }
}

/// One EDNS option: a code (RFC 6891 §6.1.2, IANA "EDNS0 Option Codes") and its raw data.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EdnsOption<'a> {
    /// The option code.
    pub code: u16,
    /// The option data.
    pub data: &'a [u8],
}

impl EdnsOption<'_> {
    /// Name server identifier (RFC 5001).
    pub const NSID: u16 = 3;
    /// Client subnet (RFC 7871).
    pub const CLIENT_SUBNET: u16 = 8;
    /// Cookie (RFC 7873).
    pub const COOKIE: u16 = 10;
    /// TCP keepalive (RFC 7828).
    pub const TCP_KEEPALIVE: u16 = 11;
    /// Padding (RFC 7830).
    pub const PADDING: u16 = 12;
    /// Extended DNS error (RFC 8914).
    pub const EXTENDED_ERROR: u16 = 15;
}

/// The options of an OPT record: a validated view of the wire, or a slice to write
/// ([`EdnsOptions::new`]). Two are equal when they hold the same options in the same order.
///
/// ```
/// use levent_core::dns::{EdnsOption, EdnsOptions};
/// let opts = [EdnsOption { code: EdnsOption::COOKIE, data: &[1, 2, 3, 4, 5, 6, 7, 8] }];
/// let options = EdnsOptions::new(&opts);
/// assert_eq!(options.iter().next().map(|o| o.code), Some(10));
/// ```
#[derive(Clone, Copy)]
pub struct EdnsOptions<'a>(OptionsRepr<'a>);

#[derive(Clone, Copy)]
enum OptionsRepr<'a> {
    Wire(&'a [u8]),
    List(&'a [EdnsOption<'a>]),
}

/// Iterator over [`EdnsOptions`].
#[derive(Clone, Debug)]
pub struct EdnsOptionsIter<'a>(OptionsIterRepr<'a>);

#[derive(Clone, Debug)]
enum OptionsIterRepr<'a> {
    Wire(&'a [u8]),
    List(core::slice::Iter<'a, EdnsOption<'a>>),
}

impl<'a> EdnsOptions<'a> {
    /// No options.
    pub const EMPTY: EdnsOptions<'static> = EdnsOptions(OptionsRepr::List(&[]));

    /// Options to write.
    pub const fn new(options: &'a [EdnsOption<'a>]) -> Self {
        EdnsOptions(OptionsRepr::List(options))
    }

    /// The options, in order.
    pub fn iter(&self) -> EdnsOptionsIter<'a> {
        EdnsOptionsIter(match self.0 {
            OptionsRepr::Wire(w) => OptionsIterRepr::Wire(w),
            OptionsRepr::List(l) => OptionsIterRepr::List(l.iter()),
        })
    }

    /// Whether there are no options.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

impl<'a> IntoIterator for EdnsOptions<'a> {
    type Item = EdnsOption<'a>;
    type IntoIter = EdnsOptionsIter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a> Iterator for EdnsOptionsIter<'a> {
    type Item = EdnsOption<'a>;
    fn next(&mut self) -> Option<EdnsOption<'a>> {
        match &mut self.0 {
            OptionsIterRepr::Wire(w) => {
                let (code, rest) = split_u16(w)?;
                let (len, rest) = split_u16(rest)?;
                let (data, rest) = rest.split_at_checked(usize::from(len))?;
                *w = rest;
                Some(EdnsOption { code, data })
            }
            OptionsIterRepr::List(it) => it.next().copied(),
        }
    }
}

impl Default for EdnsOptions<'_> {
    fn default() -> Self {
        EdnsOptions::EMPTY
    }
}

impl PartialEq for EdnsOptions<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for EdnsOptions<'_> {}

impl fmt::Debug for EdnsOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for EdnsOptions<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        for o in self.iter() {
            defmt::write!(f, "{} ", o);
        }
    }
}

fn split_u16(bytes: &[u8]) -> Option<(u16, &[u8])> {
    let (head, rest) = bytes.split_first_chunk::<2>()?;
    Some((u16::from_be_bytes(*head), rest))
}

/// A cursor over the RDATA of one record, failing with `RdataLength` when the RDATA ends early.
struct Rd<'a> {
    msg: &'a [u8],
    pos: usize,
    end: usize,
    rtype: RType,
}

impl<'a> Rd<'a> {
    fn err(&self) -> DecodeError {
        DecodeError::RdataLength(self.rtype)
    }

    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let next = self.pos + N;
        if next > self.end {
            return Err(self.err());
        }
        let out = self
            .msg
            .get(self.pos..next)
            .and_then(|s| <[u8; N]>::try_from(s).ok())
            .ok_or(self.err())?;
        self.pos = next;
        Ok(out)
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        self.bytes::<2>().map(u16::from_be_bytes)
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        self.bytes::<4>().map(u32::from_be_bytes)
    }

    fn name(&mut self) -> Result<Name<'a>, DecodeError> {
        let (name, next) = read_name(self.msg, self.pos, self.end).map_err(|e| match e {
            DecodeError::TruncatedName => self.err(),
            other => other,
        })?;
        self.pos = next;
        Ok(name)
    }

    fn rest(&mut self) -> Result<&'a [u8], DecodeError> {
        let rest = self.msg.get(self.pos..self.end).ok_or(self.err())?;
        self.pos = self.end;
        Ok(rest)
    }

    fn finish<T>(&self, value: T) -> Result<T, DecodeError> {
        if self.pos == self.end {
            Ok(value)
        } else {
            Err(self.err())
        }
    }
}

/// Walks length-prefixed items (`header` bytes, from which `len_of` reads the length of what
/// follows) and checks that they tile `data` exactly.
fn tiles(data: &[u8], header: usize, len_of: impl Fn(&[u8]) -> usize) -> bool {
    let mut rest = data;
    while !rest.is_empty() {
        let Some((head, tail)) = rest.split_at_checked(header) else {
            return false;
        };
        let Some((_, tail)) = tail.split_at_checked(len_of(head)) else {
            return false;
        };
        rest = tail;
    }
    true
}

/// Decodes the RDATA at `start..start + len` of `msg` (which the caller has checked lies within
/// the message). `class` and `ttl` are the record's, needed for OPT and class-specific types.
pub(crate) fn decode<'a>(
    msg: &'a [u8],
    rtype: RType,
    class: Class,
    ttl: u32,
    start: usize,
    len: usize,
) -> Result<RData<'a>, DecodeError> {
    let mut rd = Rd {
        msg,
        pos: start,
        end: start + len,
        rtype,
    };
    let is_in = class == Class::IN;
    let data = match rtype {
        RType::A if is_in => RData::A(Ipv4Addr::from(rd.bytes::<4>()?)),
        RType::AAAA if is_in => RData::Aaaa(Ipv6Addr::from(rd.bytes::<16>()?)),
        RType::CNAME => RData::Cname(rd.name()?),
        RType::NS => RData::Ns(rd.name()?),
        RType::PTR => RData::Ptr(rd.name()?),
        RType::MX => RData::Mx(Mx {
            preference: rd.u16()?,
            exchange: rd.name()?,
        }),
        RType::SRV if is_in => RData::Srv(Srv {
            priority: rd.u16()?,
            weight: rd.u16()?,
            port: rd.u16()?,
            target: rd.name()?,
        }),
        RType::SOA => RData::Soa(Soa {
            mname: rd.name()?,
            rname: rd.name()?,
            serial: rd.u32()?,
            refresh: rd.u32()?,
            retry: rd.u32()?,
            expire: rd.u32()?,
            minimum: rd.u32()?,
        }),
        RType::TXT => {
            let data = rd.rest()?;
            if !tiles(data, 1, |h| h.first().map_or(0, |&l| usize::from(l))) {
                return Err(rd.err());
            }
            RData::Txt(Txt(TxtRepr::Wire(data)))
        }
        RType::OPT => {
            let data = rd.rest()?;
            let option_len = |h: &[u8]| match h {
                [_, _, hi, lo] => usize::from(u16::from_be_bytes([*hi, *lo])),
                _ => 0,
            };
            if !tiles(data, 4, option_len) {
                return Err(rd.err());
            }
            let [ext_rcode, version, flags_hi, flags_lo] = ttl.to_be_bytes();
            RData::Opt(Edns {
                udp_payload_size: class.value(),
                ext_rcode,
                version,
                flags: u16::from_be_bytes([flags_hi, flags_lo]),
                options: EdnsOptions(OptionsRepr::Wire(data)),
            })
        }
        _ => RData::Unknown {
            rtype,
            data: rd.rest()?,
        },
    };
    rd.finish(data)
}

impl RData<'_> {
    /// The record type of this data.
    pub const fn rtype(&self) -> RType {
        match self {
            RData::A(_) => RType::A,
            RData::Aaaa(_) => RType::AAAA,
            RData::Cname(_) => RType::CNAME,
            RData::Ns(_) => RType::NS,
            RData::Ptr(_) => RType::PTR,
            RData::Mx(_) => RType::MX,
            RData::Txt(_) => RType::TXT,
            RData::Srv(_) => RType::SRV,
            RData::Soa(_) => RType::SOA,
            RData::Opt(_) => RType::OPT,
            RData::Unknown { rtype, .. } => *rtype,
        }
    }
}

impl fmt::Display for RData<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RData::A(a) => write!(f, "{a}"),
            RData::Aaaa(a) => write!(f, "{a}"),
            RData::Cname(n) | RData::Ns(n) | RData::Ptr(n) => write!(f, "{n:#}"),
            RData::Mx(mx) => write!(f, "{} {:#}", mx.preference, mx.exchange),
            RData::Txt(txt) => write!(f, "{txt}"),
            RData::Srv(s) => write!(f, "{} {} {} {:#}", s.priority, s.weight, s.port, s.target),
            RData::Soa(s) => write!(
                f,
                "{:#} {:#} {} {} {} {} {}",
                s.mname, s.rname, s.serial, s.refresh, s.retry, s.expire, s.minimum
            ),
            RData::Opt(e) => {
                write!(
                    f,
                    "; EDNS: version {}, flags {:#06x}, udp {}",
                    e.version, e.flags, e.udp_payload_size
                )?;
                for o in e.options.iter() {
                    write!(f, "; option {} ", o.code)?;
                    write_hex(f, o.data)?;
                }
                Ok(())
            }
            RData::Unknown { data, .. } => {
                write!(f, "\\# {}", data.len())?;
                if !data.is_empty() {
                    f.write_char(' ')?;
                    write_hex(f, data)?;
                }
                Ok(())
            }
        }
    }
}

fn write_hex(f: &mut fmt::Formatter<'_>, data: &[u8]) -> fmt::Result {
    for b in data {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}
