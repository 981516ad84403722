//! The numbers of the DNS: record types, classes, opcodes, response codes, header flags.

use core::fmt;

/// Parses `PREFIX<decimal>` (RFC 3597's `TYPE65400`, `CLASS3`), case-insensitively.
fn parse_generic(text: &str, prefix: &str, max: u32) -> Option<u32> {
    let head = text.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let digits = text.get(prefix.len()..)?;
    if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut value = 0u32;
    for b in digits.bytes() {
        value = value * 10 + u32::from(b - b'0');
    }
    (value <= max).then_some(value)
}

macro_rules! code {
    (
        $(#[$doc:meta])*
        $name:ident($repr:ty), max = $max:expr, generic = $generic:literal {
            $($(#[$cdoc:meta])* $konst:ident = $val:literal;)*
        }
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        pub struct $name($repr);

        impl $name {
            $($(#[$cdoc])* pub const $konst: Self = $name($val);)*

            /// The numeric value.
            pub const fn value(self) -> $repr {
                self.0
            }

            /// The mnemonic (`"AAAA"`, `"NXDOMAIN"`), if the value has one levent knows.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($val => Some(stringify!($konst)),)*
                    _ => None,
                }
            }

            /// The value named by a mnemonic or by the generic form
            #[doc = concat!("`", $generic, "<number>`,")]
            /// case-insensitively; `None` for anything else.
            pub fn from_name(text: &str) -> Option<Self> {
                $(if text.eq_ignore_ascii_case(stringify!($konst)) {
                    return Some($name($val));
                })*
                match parse_generic(text, $generic, $max) {
                    Some(v) => <$repr>::try_from(v).ok().map($name),
                    None => None,
                }
            }
        }

        /// The mnemonic, or the generic form
        #[doc = concat!("(`", $generic, "<number>`)")]
        /// for values without one.
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, concat!($generic, "{}"), self.0),
                }
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl From<$name> for $repr {
            fn from(v: $name) -> $repr {
                v.0
            }
        }
    };
}

code! {
    /// A resource record type (RFC 1035 §3.2.2, IANA "Resource Record (RR) TYPEs"); any `u16` is
    /// a valid value. Types levent decodes are listed in [`RData`](super::RData).
    ///
    /// ```
    /// use levent_core::dns::RType;
    /// assert_eq!(RType::from(28), RType::AAAA);
    /// assert_eq!(RType::from_name("aaaa"), Some(RType::AAAA));
    /// assert_eq!(RType::from_name("TYPE65400").map(u16::from), Some(65400));
    /// assert_eq!(format!("{} {}", RType::SRV, RType::from(65400)), "SRV TYPE65400");
    /// ```
    RType(u16), max = 0xFFFF, generic = "TYPE" {
        /// IPv4 address (RFC 1035).
        A = 1;
        /// Authoritative name server (RFC 1035).
        NS = 2;
        /// Canonical name, an alias (RFC 1035).
        CNAME = 5;
        /// Start of a zone of authority (RFC 1035).
        SOA = 6;
        /// Null record (RFC 1035).
        NULL = 10;
        /// Domain name pointer, for reverse lookups (RFC 1035).
        PTR = 12;
        /// Host information (RFC 1035).
        HINFO = 13;
        /// Mail exchange (RFC 1035).
        MX = 15;
        /// Text strings (RFC 1035).
        TXT = 16;
        /// IPv6 address (RFC 3596).
        AAAA = 28;
        /// Service location (RFC 2782).
        SRV = 33;
        /// Naming authority pointer (RFC 3403).
        NAPTR = 35;
        /// Delegation name (RFC 6672).
        DNAME = 39;
        /// The EDNS0 pseudo-record (RFC 6891).
        OPT = 41;
        /// Delegation signer (RFC 4034).
        DS = 43;
        /// DNSSEC signature (RFC 4034).
        RRSIG = 46;
        /// Next secure record (RFC 4034).
        NSEC = 47;
        /// DNSSEC public key (RFC 4034).
        DNSKEY = 48;
        /// TLSA certificate association (RFC 6698).
        TLSA = 52;
        /// Service binding (RFC 9460).
        SVCB = 64;
        /// HTTPS service binding (RFC 9460).
        HTTPS = 65;
        /// Incremental zone transfer (RFC 1995), a query type.
        IXFR = 251;
        /// Zone transfer (RFC 1035), a query type.
        AXFR = 252;
        /// Every type (RFC 1035's `*`), a query type.
        ANY = 255;
        /// Certification authority authorisation (RFC 8659).
        CAA = 257;
    }
}

code! {
    /// A class (RFC 1035 §3.2.4); in practice always [`Class::IN`]. Any `u16` is a valid value.
    /// In an OPT record the class field carries the EDNS UDP payload size instead.
    ///
    /// ```
    /// use levent_core::dns::Class;
    /// assert_eq!(Class::from(1), Class::IN);
    /// assert_eq!(Class::from_name("ch"), Some(Class::CH));
    /// assert_eq!(Class::from(7).to_string(), "CLASS7");
    /// ```
    Class(u16), max = 0xFFFF, generic = "CLASS" {
        /// The Internet.
        IN = 1;
        /// Chaos (used for `version.bind` style server queries).
        CH = 3;
        /// Hesiod.
        HS = 4;
        /// No class (RFC 2136 updates).
        NONE = 254;
        /// Any class, a query class.
        ANY = 255;
    }
}

code! {
    /// A message's opcode (RFC 1035 §4.1.1, RFC 1996, RFC 2136), four bits.
    ///
    /// ```
    /// use levent_core::dns::Opcode;
    /// assert_eq!(Opcode::new(0), Some(Opcode::QUERY));
    /// assert_eq!(Opcode::new(16), None); // only four bits on the wire
    /// assert_eq!(Opcode::NOTIFY.to_string(), "NOTIFY");
    /// ```
    Opcode(u8), max = 15, generic = "OPCODE" {
        /// A standard query.
        QUERY = 0;
        /// An inverse query (obsolete).
        IQUERY = 1;
        /// A server status request.
        STATUS = 2;
        /// A zone change notification (RFC 1996).
        NOTIFY = 4;
        /// A dynamic update (RFC 2136).
        UPDATE = 5;
        /// DNS stateful operations (RFC 8490).
        DSO = 6;
    }
}

code! {
    /// A response code, twelve bits: the header's four, extended by the eight of an EDNS OPT
    /// record (RFC 6891 §6.1.3). [`Message::rcode`](super::Message::rcode) returns the combined
    /// value; [`MessageBuilder`](super::MessageBuilder) splits it again.
    ///
    /// ```
    /// use levent_core::dns::Rcode;
    /// assert_eq!(Rcode::new(3), Some(Rcode::NXDOMAIN));
    /// assert_eq!(Rcode::new(0x1000), None);
    /// assert!(Rcode::BADVERS.is_extended() && !Rcode::REFUSED.is_extended());
    /// assert_eq!(Rcode::SERVFAIL.to_string(), "SERVFAIL");
    /// ```
    Rcode(u16), max = 0xFFF, generic = "RCODE" {
        /// No error.
        NOERROR = 0;
        /// The server could not interpret the query.
        FORMERR = 1;
        /// The server failed.
        SERVFAIL = 2;
        /// The name does not exist.
        NXDOMAIN = 3;
        /// The server does not implement this kind of query.
        NOTIMP = 4;
        /// The server refuses to answer.
        REFUSED = 5;
        /// A name exists that should not (RFC 2136).
        YXDOMAIN = 6;
        /// An RRset exists that should not (RFC 2136).
        YXRRSET = 7;
        /// An RRset that should exist does not (RFC 2136).
        NXRRSET = 8;
        /// Not authoritative for the zone (RFC 2136).
        NOTAUTH = 9;
        /// Name not in the zone (RFC 2136).
        NOTZONE = 10;
        /// DSO type not implemented (RFC 8490).
        DSOTYPENI = 11;
        /// Unsupported EDNS version (RFC 6891); needs an OPT record.
        BADVERS = 16;
        /// Key not recognised (RFC 8945).
        BADKEY = 17;
        /// Signature out of its time window (RFC 8945).
        BADTIME = 18;
        /// Bad TKEY mode (RFC 2930).
        BADMODE = 19;
        /// Duplicate key name (RFC 2930).
        BADNAME = 20;
        /// Algorithm not supported (RFC 2930).
        BADALG = 21;
        /// Bad truncation (RFC 8945).
        BADTRUNC = 22;
        /// Bad or missing server cookie (RFC 7873).
        BADCOOKIE = 23;
    }
}

impl From<u16> for RType {
    fn from(v: u16) -> Self {
        RType(v)
    }
}

impl From<u16> for Class {
    fn from(v: u16) -> Self {
        Class(v)
    }
}

impl Opcode {
    /// The opcode with this value, or `None` above 15 (it has four bits on the wire).
    pub const fn new(value: u8) -> Option<Self> {
        if value <= 15 {
            Some(Opcode(value))
        } else {
            None
        }
    }
}

impl Rcode {
    /// The response code with this value, or `None` above `0xFFF` (twelve bits: four in the
    /// header, eight in the OPT record).
    pub const fn new(value: u16) -> Option<Self> {
        if value <= 0xFFF {
            Some(Rcode(value))
        } else {
            None
        }
    }

    /// Whether the value needs the upper bits carried by an EDNS OPT record (above 15).
    pub const fn is_extended(self) -> bool {
        self.0 > 15
    }

    pub(crate) const fn from_parts(low: u8, ext: u8) -> Self {
        Rcode(((ext as u16) << 4) | (low as u16 & 0xF))
    }
}

/// The single-bit flags of a message header (RFC 1035 §4.1.1, RFC 4035 §3.2 for AD and CD),
/// at their wire positions.
///
/// ```
/// use levent_core::dns::Flags;
/// let f = Flags::QR | Flags::RD | Flags::RA;
/// assert!(f.contains(Flags::RD) && !f.contains(Flags::TC));
/// assert_eq!(format!("{f:?}"), "qr|rd|ra");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Flags(u16);

impl Flags {
    /// No flag.
    pub const NONE: Self = Flags(0);
    /// A response (clear in a query).
    pub const QR: Self = Flags(0x8000);
    /// Authoritative answer.
    pub const AA: Self = Flags(0x0400);
    /// Truncated: the answer did not fit; retry over TCP.
    pub const TC: Self = Flags(0x0200);
    /// Recursion desired.
    pub const RD: Self = Flags(0x0100);
    /// Recursion available.
    pub const RA: Self = Flags(0x0080);
    /// The reserved bit between RA and AD; must be zero, kept so a message re-encodes exactly.
    pub const Z: Self = Flags(0x0040);
    /// Authentic data (DNSSEC-validated by the resolver).
    pub const AD: Self = Flags(0x0020);
    /// Checking disabled (do not DNSSEC-validate).
    pub const CD: Self = Flags(0x0010);

    const MASK: u16 = 0x87F0;

    /// The flags set in `bits`, a header's third and fourth bytes as a big-endian `u16`
    /// (opcode and rcode bits are ignored).
    pub const fn from_bits(bits: u16) -> Self {
        Flags(bits & Self::MASK)
    }
    /// The raw bits at their header positions.
    pub const fn bits(self) -> u16 {
        self.0
    }
    /// Whether every flag of `other` is set in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
    /// Whether no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// `self` with the flags of `other` set or cleared.
    #[must_use]
    pub const fn with(self, other: Self, on: bool) -> Self {
        if on {
            Flags(self.0 | other.0)
        } else {
            Flags(self.0 & !other.0)
        }
    }
}

impl core::ops::BitOr for Flags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Flags(self.0 | rhs.0)
    }
}

impl core::ops::BitOrAssign for Flags {
    fn bitor_assign(&mut self, rhs: Self) {
        self.0 |= rhs.0;
    }
}

impl core::ops::BitAnd for Flags {
    type Output = Self;
    fn bitand(self, rhs: Self) -> Self {
        Flags(self.0 & rhs.0)
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const ALL: [(Flags, &str); 8] = [
            (Flags::QR, "qr"),
            (Flags::AA, "aa"),
            (Flags::TC, "tc"),
            (Flags::RD, "rd"),
            (Flags::RA, "ra"),
            (Flags::Z, "z"),
            (Flags::AD, "ad"),
            (Flags::CD, "cd"),
        ];
        let mut first = true;
        for (flag, name) in ALL {
            if self.contains(flag) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// What a message header says, apart from the section counts (which a parsed
/// [`Message`](super::Message) reports and a [`MessageBuilder`](super::MessageBuilder) counts).
///
/// `rcode` is the full twelve-bit response code: in a parsed message it includes the upper bits
/// from the OPT record; a builder writes the low four bits into the header and the rest into the
/// OPT record.
///
/// ```
/// use levent_core::dns::{Flags, Header, Opcode, Rcode};
/// let h = Header { id: 7, flags: Flags::RD, ..Header::default() };
/// assert_eq!((h.opcode, h.rcode), (Opcode::QUERY, Rcode::NOERROR));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Header {
    /// The query id a reply must echo.
    pub id: u16,
    /// QR, AA, TC, RD, RA, Z, AD, CD.
    pub flags: Flags,
    /// The kind of message.
    pub opcode: Opcode,
    /// The response code, including the extended bits.
    pub rcode: Rcode,
}

impl Default for Opcode {
    fn default() -> Self {
        Opcode::QUERY
    }
}

impl Default for Rcode {
    fn default() -> Self {
        Rcode::NOERROR
    }
}

/// A record section of a message (the question section holds questions, not records).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Section {
    /// Records that answer the question.
    Answer,
    /// Records naming the authority: NS for a referral, SOA for a negative answer.
    Authority,
    /// Related records: glue addresses, and the EDNS OPT record.
    Additional,
}

impl Section {
    pub(crate) const fn index(self) -> usize {
        match self {
            Section::Answer => 1,
            Section::Authority => 2,
            Section::Additional => 3,
        }
    }
}
