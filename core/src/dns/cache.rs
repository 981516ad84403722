//! The resolver's answer cache: finished lookups kept for their TTL (answers) or their negative
//! TTL (RFC 2308: NXDOMAIN and NODATA with an SOA), in a fixed arena of `C` bytes.
//!
//! Entries are laid end to end in insertion order; when a new one does not fit, the oldest go
//! first. A lookup scans the arena (a few KiB on a board, so a scan is cheaper than an index).
//! Entry layout, big-endian:
//!
//! ```text
//! len u16 | kind u8 | absolute u8 | qtype u16 | stored u64 | expires u64 |
//! key_len u8 | key (the query's name, wire form) | name_len u8 | name (the answer's owner) |
//! message (the rest)
//! ```

use super::config::{DnsError, Query};
use super::message::Message;
use super::name::NameBuf;
use super::rdata::RData;
use super::types::RType;
use crate::time::Tick;

/// The longest an answer is kept, whatever its TTL says (one day).
pub(crate) const MAX_TTL: u32 = 86_400;
/// The longest a negative answer is kept (RFC 2308 §5: one to three hours work well).
pub(crate) const MAX_NEGATIVE_TTL: u32 = 10_800;

const HEADER: usize = 2 + 1 + 1 + 2 + 8 + 8;

const ANSWER: u8 = 0;
const NXDOMAIN: u8 = 1;
const NODATA: u8 = 2;

/// What the cache holds for a query.
pub(crate) enum Hit<'a> {
    /// An answer: the message, the owner name of its records, and when it was stored.
    Answer {
        msg: &'a [u8],
        name: &'a [u8],
        stored: Tick,
    },
    /// A negative answer.
    Negative(DnsError),
}

/// A fixed arena of `C` bytes of cached lookups.
pub(crate) struct Cache<const C: usize> {
    bytes: [u8; C],
    used: usize,
}

impl<const C: usize> Cache<C> {
    pub(crate) const fn new() -> Self {
        Cache {
            bytes: [0; C],
            used: 0,
        }
    }

    /// Entries `(offset, len)`, oldest first.
    fn entries(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let mut at = 0;
        core::iter::from_fn(move || {
            let len = usize::from(u16::from_be_bytes([
                *self.bytes.get(at)?,
                *self.bytes.get(at + 1)?,
            ]));
            if at >= self.used || len < HEADER {
                return None;
            }
            let e = (at, len);
            at += len;
            Some(e)
        })
    }

    fn u64_at(&self, at: usize) -> u64 {
        let mut b = [0u8; 8];
        if let Some(s) = self.bytes.get(at..at + 8) {
            b.copy_from_slice(s);
        }
        u64::from_be_bytes(b)
    }

    /// The entry at `at` (of `len` bytes) is for `query`.
    fn is_for(&self, at: usize, len: usize, query: &Query) -> bool {
        let e = &self.bytes[at..at + len];
        let qtype = u16::from_be_bytes([e[4], e[5]]);
        let key_len = usize::from(e[HEADER]);
        let key = e.get(HEADER + 1..HEADER + 1 + key_len);
        qtype == u16::from(query.qtype())
            && (e[3] != 0) == query.is_absolute()
            && key.is_some_and(|k| k.eq_ignore_ascii_case(query.name().as_wire()))
    }

    /// What is cached for `query` at engine time `now`, if it has not expired.
    pub(crate) fn get(&self, query: &Query, now: Tick) -> Option<Hit<'_>> {
        let (at, len) = self
            .entries()
            .filter(|&(at, len)| self.is_for(at, len, query))
            .last()?;
        if now >= self.u64_at(at + 14) {
            return None;
        }
        let e = &self.bytes[at..at + len];
        match e[2] {
            NXDOMAIN => return Some(Hit::Negative(DnsError::NxDomain)),
            NODATA => return Some(Hit::Negative(DnsError::NoData)),
            _ => {}
        }
        let key_len = usize::from(e[HEADER]);
        let name_at = HEADER + 1 + key_len;
        let name_len = usize::from(*e.get(name_at)?);
        let name = e.get(name_at + 1..name_at + 1 + name_len)?;
        let msg = e.get(name_at + 1 + name_len..)?;
        Some(Hit::Answer {
            msg,
            name,
            stored: self.u64_at(at + 6),
        })
    }

    /// How many entries are stored (expired ones included, until they are pushed out).
    pub(crate) fn len(&self) -> usize {
        self.entries().count()
    }

    /// Forget everything.
    pub(crate) fn clear(&mut self) {
        self.used = 0;
    }

    /// Drop entries from the oldest until `need` more bytes fit; false if they never can.
    fn make_room(&mut self, need: usize) -> bool {
        if need > C {
            return false;
        }
        while self.used + need > C {
            let Some((_, len)) = self.entries().next() else {
                self.used = 0;
                break;
            };
            self.bytes.copy_within(len..self.used, 0);
            self.used -= len;
        }
        true
    }

    /// Remove the entries for `query`.
    fn remove(&mut self, query: &Query) {
        loop {
            let found = self
                .entries()
                .find(|&(at, len)| self.is_for(at, len, query));
            let Some((at, len)) = found else {
                break;
            };
            self.bytes.copy_within(at + len..self.used, at);
            self.used -= len;
        }
    }

    fn put(
        &mut self,
        query: &Query,
        kind: u8,
        stored: Tick,
        expires: Tick,
        name: &[u8],
        msg: &[u8],
    ) {
        let key = query.name().as_wire();
        let len = HEADER + 1 + key.len() + 1 + name.len() + msg.len();
        let Ok(len16) = u16::try_from(len) else {
            return;
        };
        self.remove(query);
        if !self.make_room(len) {
            return;
        }
        let e = &mut self.bytes[self.used..self.used + len];
        e[..2].copy_from_slice(&len16.to_be_bytes());
        e[2] = kind;
        e[3] = u8::from(query.is_absolute());
        e[4..6].copy_from_slice(&u16::from(query.qtype()).to_be_bytes());
        e[6..14].copy_from_slice(&stored.to_be_bytes());
        e[14..22].copy_from_slice(&expires.to_be_bytes());
        let mut at = HEADER;
        for part in [key, name] {
            // Wire names are at most 255 bytes.
            e[at] = part.len() as u8;
            e[at + 1..at + 1 + part.len()].copy_from_slice(part);
            at += 1 + part.len();
        }
        e[at..].copy_from_slice(msg);
        self.used += len;
    }

    /// Keep the answer `msg` to `query` (its records owned by `name`) for the smallest TTL of its
    /// answer section, at most [`MAX_TTL`]; `expires(ttl)` turns seconds into an engine tick.
    /// An answer with a TTL of 0 is not kept.
    pub(crate) fn put_answer(
        &mut self,
        query: &Query,
        name: &NameBuf,
        msg: &[u8],
        now: Tick,
        expires: impl Fn(u32) -> Tick,
    ) {
        let Ok(m) = Message::parse(msg) else {
            return;
        };
        let ttl = m.answers().map(|r| r.effective_ttl()).min().unwrap_or(0);
        if ttl == 0 || C == 0 {
            return;
        }
        let until = expires(ttl.min(MAX_TTL));
        self.put(query, ANSWER, now, until, name.as_wire(), msg);
    }

    /// Keep the negative answer `error` to `query`, if `msg` (the last reply) carries an SOA in
    /// its authority section: for the smaller of the SOA's TTL and its `minimum` (RFC 2308 §5),
    /// at most [`MAX_NEGATIVE_TTL`]. Without an SOA nothing is kept.
    pub(crate) fn put_negative(
        &mut self,
        query: &Query,
        error: DnsError,
        msg: &[u8],
        now: Tick,
        expires: impl Fn(u32) -> Tick,
    ) {
        let kind = match error {
            DnsError::NxDomain => NXDOMAIN,
            DnsError::NoData => NODATA,
            _ => return,
        };
        let Ok(m) = Message::parse(msg) else {
            return;
        };
        let ttl = m.authority().find_map(|r| match r.data {
            RData::Soa(soa) if r.rtype() == RType::SOA => Some(r.effective_ttl().min(soa.minimum)),
            _ => None,
        });
        let Some(ttl) = ttl.filter(|&t| t > 0 && C > 0) else {
            return;
        };
        let until = expires(ttl.min(MAX_NEGATIVE_TTL));
        self.put(query, kind, now, until, &[], &[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::builder::MessageBuilder;
    use crate::dns::rdata::Soa;
    use crate::dns::types::Rcode;

    fn answer(name: &str, ttl: u32) -> Vec<u8> {
        let mut buf = [0u8; 512];
        let q = NameBuf::from_dotted(name).unwrap();
        let query = MessageBuilder::query(&mut buf, 1, &q, RType::A, true, None)
            .unwrap()
            .to_vec();
        let query = Message::parse(&query).unwrap();
        let mut out = vec![0u8; 512];
        let mut b = MessageBuilder::reply(&mut out, &query, Rcode::NOERROR, true).unwrap();
        b.answer(&q, ttl, &RData::A([192, 0, 2, 1].into())).unwrap();
        b.finish().unwrap().to_vec()
    }

    use std::{vec, vec::Vec};

    #[test]
    fn answers_expire_after_their_ttl_and_the_oldest_make_room() {
        let mut c: Cache<300> = Cache::new();
        let q = Query::a("www.example").unwrap();
        let msg = answer("www.example", 30);
        let secs = |now: Tick| move |ttl: u32| now + u64::from(ttl);
        c.put_answer(&q, q.name(), &msg, 0, secs(0));
        assert!(matches!(c.get(&q, 29), Some(Hit::Answer { stored: 0, .. })));
        assert!(c.get(&q, 30).is_none(), "expired at its TTL");
        let upper = Query::a("WWW.example").unwrap();
        assert!(c.get(&upper, 1).is_some(), "names compare without case");
        // Three answers of ~100 bytes do not fit in 300: the oldest goes.
        for name in ["a.example", "b.example", "c.example"] {
            let q = Query::a(name).unwrap();
            c.put_answer(&q, q.name(), &answer(name, 60), 0, secs(0));
        }
        assert!(c.get(&q, 1).is_none());
        assert!(c.get(&Query::a("c.example").unwrap(), 1).is_some());
        assert!(c.len() < 4);
        let ttl0 = Query::a("zero.example").unwrap();
        c.put_answer(&ttl0, ttl0.name(), &answer("zero.example", 0), 0, secs(0));
        assert!(c.get(&ttl0, 0).is_none(), "a TTL of 0 is not cached");
    }

    #[test]
    fn negative_answers_are_kept_for_the_soa_minimum_and_only_with_an_soa() {
        let mut c: Cache<512> = Cache::new();
        let q = Query::a("nothing.example").unwrap();
        let name = q.name().clone();
        let mut qbuf = [0u8; 512];
        let query = MessageBuilder::query(&mut qbuf, 1, &name, RType::A, true, None)
            .unwrap()
            .to_vec();
        let query = Message::parse(&query).unwrap();
        let mut out = vec![0u8; 512];
        let mut b = MessageBuilder::reply(&mut out, &query, Rcode::NXDOMAIN, true).unwrap();
        let zone = NameBuf::from_dotted("example").unwrap();
        let soa = Soa {
            mname: zone.as_name(),
            rname: zone.as_name(),
            serial: 1,
            refresh: 1,
            retry: 1,
            expire: 1,
            minimum: 20,
        };
        b.authority(&zone, 300, &RData::Soa(soa)).unwrap();
        let with_soa = b.finish().unwrap().to_vec();
        c.put_negative(&q, DnsError::NxDomain, &with_soa, 0, u64::from);
        assert!(matches!(
            c.get(&q, 19),
            Some(Hit::Negative(DnsError::NxDomain))
        ));
        assert!(c.get(&q, 20).is_none(), "the SOA minimum, not its TTL");
        let other = Query::a("other.example").unwrap();
        c.put_negative(
            &other,
            DnsError::NxDomain,
            &answer("x.example", 5),
            0,
            u64::from,
        );
        assert!(c.get(&other, 0).is_none(), "no SOA, not cached");
    }
}
