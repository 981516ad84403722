//! Domain names: [`Name`], a zero-copy view into a message that decompresses lazily, and
//! [`NameBuf`], an owned, uncompressed copy of at most 255 bytes.

use super::error::{DecodeError, NameError};
use core::fmt::{self, Write as _};
use core::hash::{Hash, Hasher};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The longest name in wire form, root label included (RFC 1035 §3.1).
pub const MAX_NAME_LEN: usize = 255;
/// The longest label (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;
/// The most compression pointers one name may follow. A name of at most 255 octets has at most
/// 127 labels, so no well-formed compression needs more; the bound keeps the work per name small
/// even for a 64 KiB message made of pointer chains.
pub(crate) const MAX_POINTER_HOPS: usize = 128;

/// A domain name inside a message (or inside a [`NameBuf`]): a cheap `Copy` view that reads its
/// labels on demand, following compression pointers as it goes.
///
/// A `Name` only ever comes from bytes that were validated when it was made (by
/// [`Message::parse`](super::Message::parse), [`Name::decode`] or a [`NameBuf`]), and its label
/// iterator re-checks the rules it relies on (pointers strictly backwards, at most 128 of them,
/// at most 255 bytes), so walking a name always terminates and never panics.
///
/// Comparison is case-insensitive for ASCII letters (RFC 4343), as is [`Hash`]; `Display` writes
/// the name in master-file form (`www.example.com`, with `\.`, `\\` and `\DDD` escapes; the root is
/// `.`); the alternate form `{:#}` adds the final dot (`www.example.com.`).
///
/// ```
/// use levent_core::dns::{Name, NameBuf};
/// let wire = [3, b'w', b'w', b'w', 7, b'E', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'c', b'o', b'm', 0];
/// let (name, end) = Name::decode(&wire, 0).unwrap();
/// assert_eq!(end, wire.len());
/// assert_eq!(name, "www.example.COM");
/// assert_eq!(name.to_string(), "www.Example.com");
/// assert_eq!(format!("{name:#}"), "www.Example.com.");
/// assert_eq!(name.label_count(), 3);
/// assert!(name.ends_with(NameBuf::from_dotted("example.com").unwrap().as_name()));
/// let owned: NameBuf = name.to_name_buf();
/// assert_eq!(owned.as_wire(), &wire[..]);
/// ```
#[derive(Clone, Copy)]
pub struct Name<'a> {
    msg: &'a [u8],
    start: usize,
}

/// The labels of a [`Name`], from the leftmost; the root label is not included.
#[derive(Clone, Debug)]
pub struct Labels<'a> {
    msg: &'a [u8],
    pos: usize,
    seg_start: usize,
    hops: usize,
    total: usize,
    done: bool,
}

impl<'a> Labels<'a> {
    fn new(msg: &'a [u8], start: usize) -> Self {
        Labels {
            msg,
            pos: start,
            seg_start: start,
            hops: 0,
            total: 1,
            done: false,
        }
    }
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        while !self.done {
            let Some(&len) = self.msg.get(self.pos) else {
                break;
            };
            match len {
                1..=63 => {
                    let l = usize::from(len);
                    let total = self.total + l + 1;
                    match self.msg.get(self.pos + 1..self.pos + 1 + l) {
                        Some(label) if total <= MAX_NAME_LEN => {
                            self.total = total;
                            self.pos += 1 + l;
                            return Some(label);
                        }
                        _ => break,
                    }
                }
                0xC0..=0xFF => {
                    let Some(&low) = self.msg.get(self.pos + 1) else {
                        break;
                    };
                    let target = (usize::from(len & 0x3F) << 8) | usize::from(low);
                    if target >= self.seg_start || self.hops >= MAX_POINTER_HOPS {
                        break;
                    }
                    self.hops += 1;
                    self.seg_start = target;
                    self.pos = target;
                }
                _ => break,
            }
        }
        self.done = true;
        None
    }
}

impl core::iter::FusedIterator for Labels<'_> {}

/// Reads and validates the name at `start`. Labels in place (before the first pointer) may not
/// reach `limit` (the end of a record's RDATA, or of the message); once a pointer is followed
/// the whole message is readable. Returns the name and the offset just past it in place.
pub(crate) fn read_name(
    msg: &[u8],
    start: usize,
    limit: usize,
) -> Result<(Name<'_>, usize), DecodeError> {
    let mut pos = start;
    let mut bound = limit.min(msg.len());
    let mut seg_start = start;
    let mut end = None;
    let mut total = 1usize;
    let mut hops = 0usize;
    loop {
        if pos >= bound {
            return Err(DecodeError::TruncatedName);
        }
        let len = *msg.get(pos).ok_or(DecodeError::TruncatedName)?;
        match len {
            0 => {
                let end = end.unwrap_or(pos + 1);
                return Ok((Name { msg, start }, end));
            }
            1..=63 => {
                total += usize::from(len) + 1;
                if total > MAX_NAME_LEN {
                    return Err(DecodeError::NameTooLong);
                }
                pos += 1 + usize::from(len);
                if pos > bound {
                    return Err(DecodeError::TruncatedName);
                }
            }
            0xC0..=0xFF => {
                if pos + 1 >= bound {
                    return Err(DecodeError::TruncatedName);
                }
                let low = *msg.get(pos + 1).ok_or(DecodeError::TruncatedName)?;
                let target = (usize::from(len & 0x3F) << 8) | usize::from(low);
                if target >= msg.len() {
                    return Err(DecodeError::PointerOutOfBounds);
                }
                if target > pos {
                    return Err(DecodeError::ForwardPointer);
                }
                if target >= seg_start {
                    return Err(DecodeError::PointerLoop);
                }
                hops += 1;
                if hops > MAX_POINTER_HOPS {
                    return Err(DecodeError::TooManyPointers);
                }
                if end.is_none() {
                    end = Some(pos + 2);
                    bound = msg.len();
                }
                seg_start = target;
                pos = target;
            }
            _ => return Err(DecodeError::LabelTooLong),
        }
    }
}

impl<'a> Name<'a> {
    /// The root name, `.`.
    pub const ROOT: Name<'static> = Name {
        msg: &[0],
        start: 0,
    };

    /// A view of the name at `start` of `msg`, which the caller wrote or validated. `Labels`
    /// re-checks its own invariants, so even a wrong caller gets a short name, not a hang.
    pub(crate) const fn trusted(msg: &'a [u8], start: usize) -> Self {
        Name { msg, start }
    }

    /// Reads the name at `offset` of the message `msg`, following compression pointers, and
    /// returns it with the offset just past it (past its first pointer, if it is compressed).
    ///
    /// Pointers must point strictly backwards: before where the name starts, and each one before
    /// the previous one's target. This is RFC 1035's "prior occurrence" rule made strict, and it
    /// makes loops impossible; a name may also follow at most 128 pointers.
    ///
    /// ```
    /// use levent_core::dns::{DecodeError, Name};
    /// // "a" at offset 0, then "b" followed by a pointer to offset 0.
    /// let msg = [1, b'a', 0, 1, b'b', 0xC0, 0];
    /// let (name, end) = Name::decode(&msg, 3).unwrap();
    /// assert_eq!((name.to_string().as_str(), end), ("b.a", 7));
    /// // A pointer to itself is refused, not followed forever.
    /// assert_eq!(Name::decode(&[0xC0, 0], 0).unwrap_err(), DecodeError::PointerLoop);
    /// ```
    pub fn decode(msg: &'a [u8], offset: usize) -> Result<(Name<'a>, usize), DecodeError> {
        read_name(msg, offset, msg.len())
    }

    /// The labels, leftmost first, without the empty root label.
    pub fn labels(&self) -> Labels<'a> {
        Labels::new(self.msg, self.start)
    }

    /// How many labels the name has (0 for the root).
    pub fn label_count(&self) -> usize {
        self.labels().count()
    }

    /// The length of the name in uncompressed wire form, root label included (1 to 255).
    pub fn wire_len(&self) -> usize {
        1 + self.labels().map(|l| l.len() + 1).sum::<usize>()
    }

    /// Whether this is the root name.
    pub fn is_root(&self) -> bool {
        self.labels().next().is_none()
    }

    /// An owned, uncompressed copy.
    pub fn to_name_buf(&self) -> NameBuf {
        let mut buf = NameBuf::root();
        for label in self.labels() {
            buf.push_label_unchecked(label);
        }
        buf
    }

    /// Whether `suffix` is this name or one of its ancestors, comparing case-insensitively
    /// (every name ends with the root). Useful for bailiwick checks.
    pub fn ends_with(&self, suffix: Name<'_>) -> bool {
        let (Some(mine), Some(theirs)) = (collect_labels(*self), collect_labels(suffix)) else {
            return false;
        };
        theirs.len() <= mine.len()
            && mine
                .iter()
                .rev()
                .zip(theirs.iter().rev())
                .all(|(a, b)| a.eq_ignore_ascii_case(b))
    }

    /// Whether the two names are the same byte for byte, the case of every letter included
    /// (names compare case-insensitively with `==`; a resolver that randomises the case of its
    /// questions needs this one).
    ///
    /// ```
    /// use levent_core::dns::NameBuf;
    /// let (a, b) = (NameBuf::from_dotted("wWw.example").unwrap(), NameBuf::from_dotted("www.example").unwrap());
    /// assert!(a == b && !a.as_name().eq_exact(b.as_name()));
    /// assert!(a.as_name().eq_exact(a.as_name()));
    /// ```
    pub fn eq_exact(&self, other: Name<'_>) -> bool {
        let (mut mine, mut theirs) = (self.labels(), other.labels());
        loop {
            match (mine.next(), theirs.next()) {
                (None, None) => return true,
                (Some(a), Some(b)) if a == b => {}
                _ => return false,
            }
        }
    }

    /// Whether the name equals the dotted text `text` (as read by [`NameBuf::from_dotted`]),
    /// case-insensitively; `false` if `text` is not a valid name.
    ///
    /// ```
    /// use levent_core::dns::NameBuf;
    /// let n = NameBuf::from_dotted("WwW.ExAmPlE.cOm").unwrap();
    /// assert!(n.as_name().eq_dotted("www.example.com."));
    /// assert!(!n.as_name().eq_dotted("www..example.com"));
    /// ```
    pub fn eq_dotted(&self, text: &str) -> bool {
        NameBuf::from_dotted(text).is_ok_and(|other| *self == other.as_name())
    }

    /// The address a reverse-lookup name stands for: `d.c.b.a.in-addr.arpa` gives IPv4
    /// `a.b.c.d`, and 32 nibble labels under `ip6.arpa` give an IPv6 address; `None` for any
    /// other name (including partial reverse names such as `2.0.192.in-addr.arpa`).
    ///
    /// ```
    /// use core::net::IpAddr;
    /// use levent_core::dns::NameBuf;
    /// let n = NameBuf::from_dotted("4.3.2.1.in-addr.arpa").unwrap();
    /// assert_eq!(n.as_name().reverse_addr(), Some(IpAddr::from([1, 2, 3, 4])));
    /// ```
    pub fn reverse_addr(&self) -> Option<IpAddr> {
        let labels = collect_labels(*self)?;
        match labels.as_slice() {
            [d, c, b, a, inaddr, arpa]
                if inaddr.eq_ignore_ascii_case(b"in-addr")
                    && arpa.eq_ignore_ascii_case(b"arpa") =>
            {
                let mut octets = [0u8; 4];
                for (slot, label) in octets.iter_mut().zip([a, b, c, d]) {
                    *slot = parse_decimal_octet(label)?;
                }
                Some(IpAddr::V4(Ipv4Addr::from(octets)))
            }
            [nibbles @ .., ip6, arpa]
                if nibbles.len() == 32
                    && ip6.eq_ignore_ascii_case(b"ip6")
                    && arpa.eq_ignore_ascii_case(b"arpa") =>
            {
                let mut value = 0u128;
                for label in nibbles.iter().rev() {
                    let [digit] = label else { return None };
                    let nibble = char::from(*digit).to_digit(16)?;
                    value = (value << 4) | u128::from(nibble);
                }
                Some(IpAddr::V6(Ipv6Addr::from(value)))
            }
            _ => None,
        }
    }
}

fn parse_decimal_octet(label: &[u8]) -> Option<u8> {
    if label.is_empty() || label.len() > 3 || (label.len() > 1 && label.first() == Some(&b'0')) {
        return None;
    }
    let mut value = 0u16;
    for &b in label {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value * 10 + u16::from(b - b'0');
    }
    u8::try_from(value).ok()
}

/// The labels of a name in a small array (at most 127 fit in 255 bytes).
fn collect_labels(name: Name<'_>) -> Option<heapless::Vec<&[u8], 128>> {
    let mut out = heapless::Vec::new();
    for label in name.labels() {
        out.push(label).ok()?;
    }
    Some(out)
}

fn labels_eq(mut a: Labels<'_>, mut b: Labels<'_>) -> bool {
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) if x.eq_ignore_ascii_case(y) => {}
            _ => return false,
        }
    }
}

/// Writes one label in master-file form: the characters special there are backslash-escaped,
/// bytes outside printable ASCII (and space) become `\DDD`. The same set as BIND and dnspython.
pub(crate) fn write_label(f: &mut fmt::Formatter<'_>, label: &[u8]) -> fmt::Result {
    for &b in label {
        match b {
            b'"' | b'(' | b')' | b'.' | b';' | b'\\' | b'@' | b'$' => {
                f.write_char('\\')?;
                f.write_char(char::from(b))?;
            }
            0x21..=0x7E => f.write_char(char::from(b))?,
            _ => write!(f, "\\{b:03}")?,
        }
    }
    Ok(())
}

fn write_labels(f: &mut fmt::Formatter<'_>, mut labels: Labels<'_>) -> fmt::Result {
    let Some(first) = labels.next() else {
        return f.write_char('.');
    };
    write_label(f, first)?;
    for label in labels {
        f.write_char('.')?;
        write_label(f, label)?;
    }
    if f.alternate() {
        f.write_char('.')?;
    }
    Ok(())
}

fn hash_labels<H: Hasher>(labels: Labels<'_>, state: &mut H) {
    for label in labels {
        state.write_u8(label.len() as u8);
        for &b in label {
            state.write_u8(b.to_ascii_lowercase());
        }
    }
    state.write_u8(0);
}

impl PartialEq for Name<'_> {
    fn eq(&self, other: &Self) -> bool {
        labels_eq(self.labels(), other.labels())
    }
}

impl Eq for Name<'_> {}

impl PartialEq<NameBuf> for Name<'_> {
    fn eq(&self, other: &NameBuf) -> bool {
        *self == other.as_name()
    }
}

impl PartialEq<str> for Name<'_> {
    fn eq(&self, other: &str) -> bool {
        self.eq_dotted(other)
    }
}

impl PartialEq<&str> for Name<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.eq_dotted(other)
    }
}

impl Hash for Name<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_labels(self.labels(), state);
    }
}

impl fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_labels(f, self.labels())
    }
}

impl fmt::Debug for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({:#})", self)
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Name<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        let mut labels = self.labels();
        match labels.next() {
            None => defmt::write!(f, "."),
            Some(first) => {
                defmt::write!(f, "{=[u8]:a}", first);
                for label in labels {
                    defmt::write!(f, ".{=[u8]:a}", label);
                }
            }
        }
    }
}

/// An owned domain name in uncompressed wire form, at most 255 bytes, on the stack (256 bytes).
///
/// Make one from dotted text ([`from_dotted`](Self::from_dotted), also [`str::parse`]), label by
/// label ([`push_label`](Self::push_label)), from an address for a reverse lookup
/// ([`reverse`](Self::reverse)), or by copying a [`Name`]. View it as a [`Name`] with
/// [`as_name`](Self::as_name) (or `&buf` wherever a builder takes `impl Into<Name>`).
///
/// Comparison and hashing are ASCII case-insensitive, like [`Name`]'s.
///
/// ```
/// use levent_core::dns::{NameBuf, NameError};
/// let mut n: NameBuf = "www.example.com".parse().unwrap();
/// assert_eq!(n.wire_len(), 17);
/// n.push_label(b"local").unwrap();
/// assert_eq!(n.to_string(), "www.example.com.local");
/// assert_eq!(NameBuf::from_dotted("a..b").unwrap_err(), NameError::EmptyLabel);
/// ```
#[derive(Clone)]
pub struct NameBuf {
    /// Always a valid uncompressed name ending with the root label.
    wire: heapless::Vec<u8, MAX_NAME_LEN, u8>,
}

impl NameBuf {
    /// The root name, `.`.
    pub fn root() -> Self {
        let mut wire = heapless::Vec::new();
        let pushed = wire.push(0);
        debug_assert!(pushed.is_ok());
        NameBuf { wire }
    }

    /// Reads a name written as dotted text: `www.example.com`, with or without a final dot;
    /// `""` and `"."` are the root.
    ///
    /// Master-file escapes are understood, so any label can be written: `\.` is a dot inside a
    /// label, `\\` a backslash, `\DDD` the byte with decimal value `DDD`, and `\X` the
    /// character `X`. Other bytes are taken as they are: levent does not check host-name syntax
    /// (DNS labels may hold any byte, and SRV names start with `_`) and does not convert
    /// internationalised names to punycode.
    ///
    /// # Errors
    ///
    /// [`NameError::EmptyLabel`] for `a..b` or `.a`, [`NameError::LabelTooLong`] for a label
    /// over 63 bytes, [`NameError::NameTooLong`] for a name over 255 bytes in wire form,
    /// [`NameError::BadEscape`] for a trailing `\` or a bad `\DDD`.
    ///
    /// ```
    /// use levent_core::dns::{NameBuf, NameError};
    /// let n = NameBuf::from_dotted(r"dot\.inside.example.").unwrap();
    /// assert_eq!(n.as_name().label_count(), 2);
    /// assert_eq!(n.to_string(), r"dot\.inside.example");
    /// let long = "a".repeat(64);
    /// assert_eq!(NameBuf::from_dotted(&long).unwrap_err(), NameError::LabelTooLong);
    /// let huge = ["x".repeat(63).as_str(); 4].join(".");
    /// assert_eq!(NameBuf::from_dotted(&huge).unwrap_err(), NameError::NameTooLong);
    /// ```
    pub fn from_dotted(text: &str) -> Result<Self, NameError> {
        let mut name = NameBuf::root();
        if text == "." {
            return Ok(name);
        }
        let mut label: heapless::Vec<u8, MAX_LABEL_LEN, u8> = heapless::Vec::new();
        let mut bytes = text.bytes();
        while let Some(b) = bytes.next() {
            let byte = match b {
                b'.' => {
                    if label.is_empty() {
                        return Err(NameError::EmptyLabel);
                    }
                    name.push_label(&label)?;
                    label.clear();
                    continue;
                }
                b'\\' => match bytes.next() {
                    None => return Err(NameError::BadEscape),
                    Some(d) if d.is_ascii_digit() => {
                        let mut value = u16::from(d - b'0');
                        for _ in 0..2 {
                            match bytes.next() {
                                Some(d) if d.is_ascii_digit() => {
                                    value = value * 10 + u16::from(d - b'0');
                                }
                                _ => return Err(NameError::BadEscape),
                            }
                        }
                        u8::try_from(value).map_err(|_| NameError::BadEscape)?
                    }
                    Some(other) => other,
                },
                other => other,
            };
            label.push(byte).map_err(|_| NameError::LabelTooLong)?;
        }
        if !label.is_empty() {
            name.push_label(&label)?;
        }
        Ok(name)
    }

    /// Appends a label on the right (before the root): `www.example` + `com`.
    ///
    /// # Errors
    ///
    /// [`NameError::EmptyLabel`], [`NameError::LabelTooLong`] (over 63 bytes) or
    /// [`NameError::NameTooLong`] (the result would exceed 255 bytes); the name is unchanged.
    pub fn push_label(&mut self, label: &[u8]) -> Result<(), NameError> {
        if label.is_empty() {
            return Err(NameError::EmptyLabel);
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(NameError::LabelTooLong);
        }
        if self.wire.len() + 1 + label.len() > MAX_NAME_LEN {
            return Err(NameError::NameTooLong);
        }
        self.push_label_unchecked(label);
        Ok(())
    }

    /// Appends every label of `suffix` (a search domain, say): `host` + `example.com`.
    ///
    /// # Errors
    ///
    /// [`NameError::NameTooLong`] if the result would exceed 255 bytes; the name is unchanged.
    ///
    /// ```
    /// use levent_core::dns::NameBuf;
    /// let mut n = NameBuf::from_dotted("printer").unwrap();
    /// n.push_name(NameBuf::from_dotted("lan.example").unwrap().as_name()).unwrap();
    /// assert_eq!(n, "printer.lan.example");
    /// ```
    pub fn push_name(&mut self, suffix: Name<'_>) -> Result<(), NameError> {
        if self.wire.len() - 1 + suffix.wire_len() > MAX_NAME_LEN {
            return Err(NameError::NameTooLong);
        }
        for label in suffix.labels() {
            self.push_label_unchecked(label);
        }
        Ok(())
    }

    /// Appends a label whose length and fit were checked by the caller.
    fn push_label_unchecked(&mut self, label: &[u8]) {
        self.wire.pop();
        let fits = self.wire.push(label.len() as u8).is_ok()
            && self.wire.extend_from_slice(label).is_ok()
            && self.wire.push(0).is_ok();
        debug_assert!(fits, "NameBuf capacity checked by the caller");
    }

    /// The reverse-lookup name of an address, for a PTR query: `4.3.2.1.in-addr.arpa` for
    /// `1.2.3.4`, and 32 nibbles under `ip6.arpa` for an IPv6 address (RFC 3596 §2.5).
    ///
    /// ```
    /// use core::net::IpAddr;
    /// use levent_core::dns::NameBuf;
    /// let v4 = NameBuf::reverse(IpAddr::from([192, 0, 2, 1]));
    /// assert_eq!(v4.to_string(), "1.2.0.192.in-addr.arpa");
    /// let v6 = NameBuf::reverse("2001:db8::1".parse().unwrap());
    /// assert_eq!(
    ///     v6.to_string(),
    ///     "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
    /// );
    /// assert_eq!(v6.as_name().reverse_addr(), Some("2001:db8::1".parse().unwrap()));
    /// ```
    pub fn reverse(addr: IpAddr) -> Self {
        let mut name = NameBuf::root();
        match addr {
            IpAddr::V4(v4) => {
                for octet in v4.octets().into_iter().rev() {
                    let digits = [octet / 100, octet / 10 % 10, octet % 10].map(|d| b'0' + d);
                    let skip = if octet >= 100 {
                        0
                    } else if octet >= 10 {
                        1
                    } else {
                        2
                    };
                    name.push_label_unchecked(digits.get(skip..).unwrap_or(&digits));
                }
                name.push_label_unchecked(b"in-addr");
            }
            IpAddr::V6(v6) => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                for byte in v6.octets().into_iter().rev() {
                    for nibble in [byte & 0xF, byte >> 4] {
                        let digit = HEX.get(usize::from(nibble)).copied().unwrap_or(b'0');
                        name.push_label_unchecked(&[digit]);
                    }
                }
                name.push_label_unchecked(b"ip6");
            }
        }
        name.push_label_unchecked(b"arpa");
        name
    }

    /// The name as a [`Name`] view.
    pub fn as_name(&self) -> Name<'_> {
        Name {
            msg: &self.wire,
            start: 0,
        }
    }

    /// The uncompressed wire form, root label included.
    pub fn as_wire(&self) -> &[u8] {
        &self.wire
    }

    /// The length of the wire form, root label included (1 to 255).
    pub fn wire_len(&self) -> usize {
        self.wire.len()
    }

    /// Whether this is the root name.
    pub fn is_root(&self) -> bool {
        self.wire.len() == 1
    }

    /// The labels, leftmost first, without the root label.
    pub fn labels(&self) -> Labels<'_> {
        self.as_name().labels()
    }

    /// This name with the case of its letters set by `pattern` (0x20 randomisation): the
    /// `i`-th letter is upper case when bit `i % 64` of `pattern`, rotated left by `i / 64`, is
    /// set. Pattern 0 leaves the name as it is. The same name under case-insensitive comparison.
    pub(crate) fn with_case(&self, pattern: u64) -> NameBuf {
        let mut out = self.clone();
        if pattern == 0 {
            return out;
        }
        // Length bytes are at most 63 and never ASCII letters, so every letter is in a label.
        let letters = out.wire.iter_mut().filter(|b| b.is_ascii_alphabetic());
        for (i, b) in letters.enumerate() {
            let bits = pattern.rotate_left((i / 64) as u32);
            if bits >> (i % 64) & 1 == 1 {
                b.make_ascii_uppercase();
            } else {
                b.make_ascii_lowercase();
            }
        }
        out
    }
}

impl Default for NameBuf {
    fn default() -> Self {
        NameBuf::root()
    }
}

impl<'a> From<&'a NameBuf> for Name<'a> {
    fn from(buf: &'a NameBuf) -> Self {
        buf.as_name()
    }
}

impl From<Name<'_>> for NameBuf {
    fn from(name: Name<'_>) -> Self {
        name.to_name_buf()
    }
}

impl core::str::FromStr for NameBuf {
    type Err = NameError;
    fn from_str(text: &str) -> Result<Self, NameError> {
        NameBuf::from_dotted(text)
    }
}

impl PartialEq for NameBuf {
    fn eq(&self, other: &Self) -> bool {
        self.as_name() == other.as_name()
    }
}

impl Eq for NameBuf {}

impl PartialEq<Name<'_>> for NameBuf {
    fn eq(&self, other: &Name<'_>) -> bool {
        self.as_name() == *other
    }
}

impl PartialEq<str> for NameBuf {
    fn eq(&self, other: &str) -> bool {
        self.as_name().eq_dotted(other)
    }
}

impl PartialEq<&str> for NameBuf {
    fn eq(&self, other: &&str) -> bool {
        self.as_name().eq_dotted(other)
    }
}

impl Hash for NameBuf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_labels(self.labels(), state);
    }
}

impl fmt::Display for NameBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.as_name(), f)
    }
}

impl fmt::Debug for NameBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NameBuf({:#})", self.as_name())
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for NameBuf {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::Format::format(&self.as_name(), f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_case_sets_each_letter_from_its_bit_and_keeps_digits_and_lengths() {
        let n = NameBuf::from_dotted("ab-1.cd").unwrap();
        // Letters a, b, c, d take bits 0..4: 0b0101 makes a and c upper case.
        let cased = n.with_case(0b0101);
        assert_eq!(cased.as_wire(), b"\x04Ab-1\x02Cd\x00");
        assert!(cased == n && !cased.as_name().eq_exact(n.as_name()));
        assert!(n.with_case(0).as_name().eq_exact(n.as_name()));
        // Beyond 64 letters the pattern goes on rotated, never left constant.
        let mut long = NameBuf::from_dotted(&"a".repeat(63)).unwrap();
        long.push_label(&[b'a'; 10]).unwrap();
        let cased = long.with_case(1);
        let upper = cased
            .as_wire()
            .iter()
            .filter(|b| b.is_ascii_uppercase())
            .count();
        assert_eq!(
            upper, 2,
            "letter 0, and letter 65 (bit 1 of the pattern rotated once)"
        );
    }

    /// `Labels` re-checks what it relies on, so even a `Name` over bytes nobody validated (which
    /// the public API cannot make) ends, within the name limits.
    #[test]
    fn labels_of_unvalidated_bytes_always_terminate() {
        let mut state = 0x1234_5678u32;
        let rounds = if cfg!(miri) { 20 } else { 20_000 };
        for _ in 0..rounds {
            let mut bytes = [0u8; 64];
            for b in &mut bytes {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                *b = state.to_le_bytes()[0];
            }
            for start in 0..=bytes.len() {
                let name = Name { msg: &bytes, start };
                let (mut total, mut count) = (1, 0);
                for label in name.labels() {
                    total += label.len() + 1;
                    count += 1;
                }
                assert!(total <= MAX_NAME_LEN && count <= 127);
            }
        }
    }

    #[test]
    fn labels_stop_at_a_loop_they_were_never_meant_to_see() {
        let looping = Name {
            msg: &[1, b'a', 0xC0, 0],
            start: 0,
        };
        assert_eq!(looping.labels().collect::<heapless::Vec<_, 4>>(), [b"a"]);
        let forward = Name {
            msg: &[0xC0, 2, 1, b'a', 0],
            start: 0,
        };
        assert!(forward.is_root());
    }
}
