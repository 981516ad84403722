//! Writing a message: [`MessageBuilder`] into a caller's buffer, with name compression.

use super::error::EncodeError;
use super::message::{HEADER_LEN, MAX_MESSAGE_LEN, Message};
use super::name::Name;
use super::rdata::{Edns, RData};
use super::types::{Class, Flags, Header, RType, Rcode, Section};

/// The highest offset a compression pointer can reach (14 bits).
const MAX_POINTER: usize = 0x3FFF;

/// Writes a DNS message into a caller-provided buffer.
///
/// Add questions, then answer, authority and additional records, in that order (an earlier
/// section after a later one is [`EncodeError::OutOfOrder`]); set header fields at any time
/// through [`header_mut`](Self::header_mut); then [`finish`](Self::finish) writes the header and
/// hands back the message bytes. Nothing is ever truncated silently: a call that does not fit
/// returns [`EncodeError::NoSpace`] and leaves the message as it was, so a server can set TC and
/// finish with what fit. The message never exceeds 65,535 bytes, whatever the buffer size.
///
/// Names are compressed (RFC 1035 §4.1.4) against a table of up to `N` offsets where names and
/// their suffixes were written (32 by default). When the table is full, new names are no longer
/// remembered but still compress against those already in it; `N = 0` turns compression off.
/// Matching is byte-exact, so a name in mixed case (0x20 randomisation) is only compressed
/// against the same spelling. Names inside SRV data are never compressed (RFC 2782), but later
/// names may point into them.
///
/// ```
/// use levent_core::dns::{Class, Flags, Message, MessageBuilder, NameBuf, RData, RType};
/// let name = NameBuf::from_dotted("www.example.com").unwrap();
/// let mut buf = [0u8; 512];
/// let mut b = MessageBuilder::new(&mut buf);
/// b.header_mut().id = 0xBEEF;
/// b.header_mut().flags = Flags::QR | Flags::AA;
/// b.question(&name, RType::A, Class::IN).unwrap();
/// b.answer(&name, 300, &RData::A([192, 0, 2, 1].into())).unwrap();
/// let bytes = b.finish().unwrap();
/// assert_eq!(bytes.len(), 49); // the answer's owner is a 2-byte pointer to the question
///
/// let msg = Message::parse(bytes).unwrap();
/// assert_eq!(msg.answers().next().unwrap().name, "www.example.com");
/// ```
#[derive(Debug)]
pub struct MessageBuilder<'b, const N: usize = 32> {
    buf: &'b mut [u8],
    /// `min(buf.len(), 65535)`.
    cap: usize,
    /// Bytes written, the header's 12 included.
    len: usize,
    header: Header,
    counts: [u16; 4],
    /// The section being written: 0 questions, then [`Section::index`].
    section: usize,
    /// Where a name (or the suffix of one) was written, and how many labels it has: a suffix
    /// is only compared with entries of its own length.
    names: heapless::Vec<(u16, u8), N>,
    /// Where the OPT record's TTL field is, once written.
    opt_ttl_at: Option<usize>,
}

/// What to restore when an operation fails halfway.
#[derive(Clone, Copy)]
struct Mark {
    len: usize,
    names: usize,
    section: usize,
}

impl<'b> MessageBuilder<'b> {
    /// A builder over `buf` with a 32-entry compression table and a default header (id 0, a
    /// query, no flags). Use [`with_table`](Self::with_table) for another table size.
    pub fn new(buf: &'b mut [u8]) -> Self {
        Self::with_table(buf)
    }

    /// Writes a standard query for `name` (class IN) and returns its bytes: the given id, RD if
    /// `recursion_desired`, and an EDNS0 OPT record advertising `edns_udp_payload` if given
    /// (1232 is the usual choice, avoiding IP fragmentation).
    ///
    /// # Errors
    ///
    /// [`EncodeError::NoSpace`] if `buf` is too small (a query needs 17 bytes plus the name,
    /// and 11 more with EDNS).
    ///
    /// ```
    /// use levent_core::dns::{Message, MessageBuilder, NameBuf, RType};
    /// let name = NameBuf::from_dotted("example.com").unwrap();
    /// let mut buf = [0u8; 64];
    /// let q = MessageBuilder::query(&mut buf, 0x1234, &name, RType::AAAA, true, Some(1232)).unwrap();
    /// let msg = Message::parse(q).unwrap();
    /// assert_eq!(msg.question().unwrap().qtype, RType::AAAA);
    /// assert_eq!(msg.edns().unwrap().udp_payload_size, 1232);
    /// ```
    pub fn query<'n>(
        buf: &'b mut [u8],
        id: u16,
        name: impl Into<Name<'n>>,
        qtype: RType,
        recursion_desired: bool,
        edns_udp_payload: Option<u16>,
    ) -> Result<&'b [u8], EncodeError> {
        let mut b = Self::new(buf);
        b.header.id = id;
        b.header.flags = Flags::NONE.with(Flags::RD, recursion_desired);
        b.question(name, qtype, Class::IN)?;
        if let Some(size) = edns_udp_payload {
            b.edns(&Edns::new(size))?;
        }
        b.finish()
    }

    /// Starts the reply to `query`: same id and opcode, QR set, AA if `authoritative`, RD and CD
    /// copied (RFC 1035 §4.1.1, RFC 4035 §3.2.2), the given response code, and the query's
    /// questions copied. Add answers to the returned builder, then finish it.
    ///
    /// If the query had EDNS, RFC 6891 §7 asks the reply to have it too: call
    /// [`edns`](Self::edns) with the server's own payload size. A response code above 15 needs
    /// it anyway.
    ///
    /// # Errors
    ///
    /// [`EncodeError::NoSpace`] if the questions do not fit.
    ///
    /// ```
    /// use levent_core::dns::{Message, MessageBuilder, NameBuf, RData, RType, Rcode};
    /// let name = NameBuf::from_dotted("printer.local").unwrap();
    /// let mut qbuf = [0u8; 64];
    /// let query = MessageBuilder::query(&mut qbuf, 7, &name, RType::A, true, None).unwrap();
    /// let query = Message::parse(query).unwrap();
    ///
    /// let mut rbuf = [0u8; 512];
    /// let mut reply = MessageBuilder::reply(&mut rbuf, &query, Rcode::NOERROR, true).unwrap();
    /// let q = query.question().unwrap();
    /// reply.answer(q.name, 60, &RData::A([10, 0, 0, 7].into())).unwrap();
    /// let reply = Message::parse(reply.finish().unwrap()).unwrap();
    /// assert!(reply.is_response() && reply.id() == 7);
    /// assert_eq!(reply.answers().len(), 1);
    /// ```
    pub fn reply(
        buf: &'b mut [u8],
        query: &Message<'_>,
        rcode: Rcode,
        authoritative: bool,
    ) -> Result<Self, EncodeError> {
        let mut b = Self::new(buf);
        let asked = query.flags();
        b.header = Header {
            id: query.id(),
            flags: (Flags::QR | (asked & (Flags::RD | Flags::CD))).with(Flags::AA, authoritative),
            opcode: query.opcode(),
            rcode,
        };
        for q in query.questions() {
            b.question(q.name, q.qtype, q.qclass)?;
        }
        Ok(b)
    }
}

impl<'b, const N: usize> MessageBuilder<'b, N> {
    /// A builder over `buf` with an `N`-entry compression table:
    /// `MessageBuilder::<8>::with_table(&mut buf)`.
    pub fn with_table(buf: &'b mut [u8]) -> Self {
        let cap = buf.len().min(MAX_MESSAGE_LEN);
        MessageBuilder {
            buf,
            cap,
            len: HEADER_LEN,
            header: Header::default(),
            counts: [0; 4],
            section: 0,
            names: heapless::Vec::new(),
            opt_ttl_at: None,
        }
    }

    /// The header to be written.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The header to be written, to change: id, flags, opcode, rcode (the full twelve bits;
    /// values above 15 need [`edns`](Self::edns)).
    pub fn header_mut(&mut self) -> &mut Header {
        &mut self.header
    }

    /// Bytes written so far, header included.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing but the header has been written.
    pub fn is_empty(&self) -> bool {
        self.len == HEADER_LEN
    }

    /// Bytes still free (within the buffer and the 65,535-byte limit).
    pub fn remaining(&self) -> usize {
        self.cap.saturating_sub(self.len)
    }

    /// Adds a question.
    ///
    /// # Errors
    ///
    /// [`EncodeError::NoSpace`], or [`EncodeError::OutOfOrder`] after a record; the message is
    /// unchanged.
    pub fn question<'n>(
        &mut self,
        name: impl Into<Name<'n>>,
        qtype: RType,
        qclass: Class,
    ) -> Result<(), EncodeError> {
        let name = name.into();
        self.atomic(|b| {
            b.enter(0)?;
            b.write_name(name, true)?;
            b.put(&u16::from(qtype).to_be_bytes())?;
            b.put(&u16::from(qclass).to_be_bytes())?;
            b.count(0)
        })
    }

    /// Adds a record to `section`.
    ///
    /// # Errors
    ///
    /// [`EncodeError::NoSpace`]; [`EncodeError::OutOfOrder`] for a section before the current
    /// one; [`EncodeError::StringTooLong`] for a TXT string over 255 bytes;
    /// [`EncodeError::UseEdns`] for [`RData::Opt`]. The message is unchanged.
    pub fn record<'n>(
        &mut self,
        section: Section,
        name: impl Into<Name<'n>>,
        class: Class,
        ttl: u32,
        data: &RData<'_>,
    ) -> Result<(), EncodeError> {
        let name = name.into();
        if matches!(data, RData::Opt(_)) {
            return Err(EncodeError::UseEdns);
        }
        self.atomic(|b| {
            b.enter(section.index())?;
            b.write_name(name, true)?;
            b.put(&u16::from(data.rtype()).to_be_bytes())?;
            b.put(&u16::from(class).to_be_bytes())?;
            b.put(&ttl.to_be_bytes())?;
            b.write_rdata(data)?;
            b.count(section.index())
        })
    }

    /// Adds an answer record of class IN. See [`record`](Self::record).
    pub fn answer<'n>(
        &mut self,
        name: impl Into<Name<'n>>,
        ttl: u32,
        data: &RData<'_>,
    ) -> Result<(), EncodeError> {
        self.record(Section::Answer, name, Class::IN, ttl, data)
    }

    /// Adds an authority record of class IN. See [`record`](Self::record).
    pub fn authority<'n>(
        &mut self,
        name: impl Into<Name<'n>>,
        ttl: u32,
        data: &RData<'_>,
    ) -> Result<(), EncodeError> {
        self.record(Section::Authority, name, Class::IN, ttl, data)
    }

    /// Adds an additional record of class IN. See [`record`](Self::record).
    pub fn additional<'n>(
        &mut self,
        name: impl Into<Name<'n>>,
        ttl: u32,
        data: &RData<'_>,
    ) -> Result<(), EncodeError> {
        self.record(Section::Additional, name, Class::IN, ttl, data)
    }

    /// Adds the EDNS0 OPT record to the additional section (RFC 6891). Its extended response
    /// code is taken from the header's rcode when the message is finished; `edns.ext_rcode` is
    /// ignored.
    ///
    /// # Errors
    ///
    /// [`EncodeError::DuplicateEdns`] the second time; [`EncodeError::NoSpace`];
    /// [`EncodeError::OutOfOrder`] (impossible: the additional section is the last). The
    /// message is unchanged.
    ///
    /// ```
    /// use levent_core::dns::{Edns, EdnsOption, EdnsOptions, Message, MessageBuilder, Rcode};
    /// let cookie = [EdnsOption { code: EdnsOption::COOKIE, data: &[9; 8] }];
    /// let edns = Edns { flags: Edns::DO, options: EdnsOptions::new(&cookie), ..Edns::new(1232) };
    /// let mut buf = [0u8; 64];
    /// let mut b = MessageBuilder::new(&mut buf);
    /// b.header_mut().rcode = Rcode::BADVERS; // 16: the upper bits go into the OPT record
    /// b.edns(&edns).unwrap();
    /// let msg = Message::parse(b.finish().unwrap()).unwrap();
    /// assert_eq!(msg.rcode(), Rcode::BADVERS);
    /// let e = msg.edns().unwrap();
    /// assert!(e.dnssec_ok());
    /// assert_eq!(e.options, edns.options);
    /// ```
    pub fn edns(&mut self, edns: &Edns<'_>) -> Result<(), EncodeError> {
        if self.opt_ttl_at.is_some() {
            return Err(EncodeError::DuplicateEdns);
        }
        let section = Section::Additional.index();
        self.atomic(|b| {
            b.enter(section)?;
            b.put(&[0])?;
            b.put(&u16::from(RType::OPT).to_be_bytes())?;
            b.put(&edns.udp_payload_size.to_be_bytes())?;
            let ttl_at = b.len;
            b.put(&edns.ttl(0).to_be_bytes())?;
            let rdlen_at = b.len;
            b.put(&[0, 0])?;
            for option in edns.options.iter() {
                let len = u16::try_from(option.data.len()).map_err(|_| EncodeError::NoSpace)?;
                b.put(&option.code.to_be_bytes())?;
                b.put(&len.to_be_bytes())?;
                b.put(option.data)?;
            }
            b.patch_len(rdlen_at)?;
            b.count(section)?;
            b.opt_ttl_at = Some(ttl_at);
            Ok(())
        })
    }

    /// Writes the header and returns the message.
    ///
    /// # Errors
    ///
    /// [`EncodeError::RcodeNeedsEdns`] if the rcode is above 15 without an OPT record;
    /// [`EncodeError::NoSpace`] if the buffer cannot even hold a header.
    pub fn finish(self) -> Result<&'b [u8], EncodeError> {
        let MessageBuilder {
            buf,
            cap,
            len,
            header,
            counts,
            opt_ttl_at,
            ..
        } = self;
        if cap < HEADER_LEN {
            return Err(EncodeError::NoSpace);
        }
        let rcode = u16::from(header.rcode);
        let ext = u8::try_from(rcode >> 4).unwrap_or(u8::MAX);
        let low = rcode & 0xF;
        match opt_ttl_at {
            Some(at) => {
                let slot = buf.get_mut(at).ok_or(EncodeError::NoSpace)?;
                *slot = ext;
            }
            None if ext != 0 => return Err(EncodeError::RcodeNeedsEdns),
            None => {}
        }
        let bits = header.flags.bits() | (u16::from(u8::from(header.opcode)) << 11) | low;
        let [c0, c1, c2, c3] = counts;
        let mut fields = [0u8; HEADER_LEN];
        for (chunk, word) in fields
            .chunks_exact_mut(2)
            .zip([header.id, bits, c0, c1, c2, c3])
        {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        buf.get_mut(..HEADER_LEN)
            .ok_or(EncodeError::NoSpace)?
            .copy_from_slice(&fields);
        let buf: &'b [u8] = buf;
        buf.get(..len).ok_or(EncodeError::NoSpace)
    }

    /// Runs `op`, undoing whatever it wrote if it fails.
    fn atomic(
        &mut self,
        op: impl FnOnce(&mut Self) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        let mark = Mark {
            len: self.len,
            names: self.names.len(),
            section: self.section,
        };
        let counts = self.counts;
        let result = op(self);
        if result.is_err() {
            self.len = mark.len;
            self.names.truncate(mark.names);
            self.section = mark.section;
            self.counts = counts;
        }
        result
    }

    fn enter(&mut self, section: usize) -> Result<(), EncodeError> {
        if section < self.section {
            return Err(EncodeError::OutOfOrder);
        }
        self.section = section;
        Ok(())
    }

    fn count(&mut self, section: usize) -> Result<(), EncodeError> {
        let count = self.counts.get_mut(section).ok_or(EncodeError::NoSpace)?;
        *count = count.checked_add(1).ok_or(EncodeError::NoSpace)?;
        Ok(())
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        let end = self.len + bytes.len();
        if end > self.cap {
            return Err(EncodeError::NoSpace);
        }
        self.buf
            .get_mut(self.len..end)
            .ok_or(EncodeError::NoSpace)?
            .copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    /// Writes the length of what follows the two bytes at `at` into them.
    fn patch_len(&mut self, at: usize) -> Result<(), EncodeError> {
        let len = u16::try_from(self.len - at - 2).map_err(|_| EncodeError::NoSpace)?;
        self.buf
            .get_mut(at..at + 2)
            .ok_or(EncodeError::NoSpace)?
            .copy_from_slice(&len.to_be_bytes());
        Ok(())
    }

    fn write_rdata(&mut self, data: &RData<'_>) -> Result<(), EncodeError> {
        let rdlen_at = self.len;
        self.put(&[0, 0])?;
        match data {
            RData::A(a) => self.put(&a.octets())?,
            RData::Aaaa(a) => self.put(&a.octets())?,
            RData::Cname(n) | RData::Ns(n) | RData::Ptr(n) => self.write_name(*n, true)?,
            RData::Mx(mx) => {
                self.put(&mx.preference.to_be_bytes())?;
                self.write_name(mx.exchange, true)?;
            }
            RData::Txt(txt) => {
                for s in txt.strings() {
                    let len = u8::try_from(s.len()).map_err(|_| EncodeError::StringTooLong)?;
                    self.put(&[len])?;
                    self.put(s)?;
                }
            }
            RData::Srv(srv) => {
                self.put(&srv.priority.to_be_bytes())?;
                self.put(&srv.weight.to_be_bytes())?;
                self.put(&srv.port.to_be_bytes())?;
                self.write_name(srv.target, false)?;
            }
            RData::Soa(soa) => {
                self.write_name(soa.mname, true)?;
                self.write_name(soa.rname, true)?;
                for v in [soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum] {
                    self.put(&v.to_be_bytes())?;
                }
            }
            RData::Opt(_) => return Err(EncodeError::UseEdns),
            RData::Unknown { data, .. } => self.put(data)?,
        }
        self.patch_len(rdlen_at)
    }

    /// Writes `name`, ending in a pointer to the longest suffix already written if `compress`,
    /// and remembers where its labels start for later names.
    fn write_name(&mut self, name: Name<'_>, compress: bool) -> Result<(), EncodeError> {
        let mut labels: heapless::Vec<&[u8], 128> = heapless::Vec::new();
        for label in name.labels() {
            labels.push(label).map_err(|_| EncodeError::NoSpace)?;
        }
        let pointer = if compress { self.find(&labels) } else { None };
        let literal = pointer.map_or(labels.len(), |(i, _)| i);
        for (i, label) in labels.iter().take(literal).enumerate() {
            let at = self.len;
            self.put(&[label.len() as u8])?;
            self.put(label)?;
            if at <= MAX_POINTER {
                // A full table stops remembering, it does not stop compressing.
                let _ = self.names.push((at as u16, (labels.len() - i) as u8));
            }
        }
        match pointer {
            Some((_, at)) => self.put(&(0xC000 | at).to_be_bytes()),
            None => self.put(&[0]),
        }
    }

    /// The longest suffix of `labels` already written: the index of its first label, and
    /// where it was written. Suffixes are tried longest first, each only against the entries of
    /// its own length, so every entry is compared at most once and the first match is the best.
    fn find(&self, labels: &[&[u8]]) -> Option<(usize, u16)> {
        let written = self.buf.get(..self.len)?;
        for start in 0..labels.len() {
            let suffix = labels.get(start..)?;
            for &(at, count) in &self.names {
                if usize::from(count) != suffix.len() {
                    continue;
                }
                let mut theirs = Name::trusted(written, usize::from(at)).labels();
                if suffix.iter().all(|mine| theirs.next() == Some(*mine)) && theirs.next().is_none()
                {
                    return Some((start, at));
                }
            }
        }
        None
    }
}
