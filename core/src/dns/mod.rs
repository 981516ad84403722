//! DNS for levent (libevent's evdns): the message codec — RFC 1035 messages, AAAA (RFC 3596)
//! and EDNS0 (RFC 6891), read without copying and written into a caller's buffer, with no
//! allocation and no panics on anything from the network — and on top of it, as sans-IO state
//! machines driven by the engine's events:
//!
//! - [`Resolver`] ([`resolver`] module): a stub resolver for A, AAAA, PTR and any other type,
//!   with several servers, retries, TCP fallback, CNAME chains, search domains and a hosts
//!   table; configured by a [`Config`] and a [`Hosts`] table, asked with a [`Query`], answering
//!   with a [`Done`] that holds an [`Answer`] or a [`DnsError`];
//! - [`Server`] ([`server`] module): a DNS server port over UDP and TCP whose [`Request`]s the
//!   application answers with records or a [`MessageBuilder`];
//! - [`Connector`] ([`connect`] module): connect to `host:port` by name, racing its addresses
//!   as Happy Eyeballs v2 does.
//!
//! They run over any IO storage implementing the core's [`Datagram`](crate::io::Datagram) and
//! [`Connect`](crate::io::Connect) traits: `levent_hosts::net::Sockets` (with the system's
//! configuration read by `levent_hosts::dns`), the simulated network, or a board's smoltcp
//! sockets — the same code. The codec is also usable alone, on a host or a microcontroller.
//!
//! # Reading
//!
//! [`Message::parse`] validates a whole message at once, then hands out the header, the
//! [`Question`]s and the [`Record`]s of each section through iterators that cannot fail. Record
//! data is typed ([`RData`]): A, AAAA, CNAME, NS, PTR, MX, TXT, SRV, SOA, OPT, and
//! [`RData::Unknown`] with the raw bytes for every other type. Names are [`Name`] views that
//! decompress lazily from the message; copy one into a [`NameBuf`] to keep it.
//!
//! ```
//! use levent_core::dns::{Message, MessageBuilder, NameBuf, RData, RType};
//! // A query, as a resolver sends it, then a look at it as a server receives it.
//! let name = NameBuf::from_dotted("example.com").unwrap();
//! let mut buf = [0u8; 512];
//! let bytes = MessageBuilder::query(&mut buf, 0x4242, &name, RType::MX, true, Some(1232)).unwrap();
//! let msg = Message::parse(bytes).unwrap();
//! for q in msg.questions() {
//!     assert_eq!(q.to_string(), "example.com. IN MX");
//! }
//! assert_eq!(msg.edns().map(|e| e.udp_payload_size), Some(1232));
//! ```
//!
//! # Writing
//!
//! [`MessageBuilder`] writes questions, records of every type above and an EDNS0 OPT record
//! into a `&mut [u8]`, compressing names. A call that does not fit returns
//! [`EncodeError::NoSpace`] and leaves the message as it was: nothing is truncated silently.
//! [`MessageBuilder::query`] and [`MessageBuilder::reply`] cover the common cases.
//!
//! # Choices made here
//!
//! - **Validate eagerly.** `parse` walks every name and record once, so iteration afterwards
//!   has no error cases (the iterators re-read the bytes, which costs about what parsing did,
//!   but a resolver then handles errors in one place). Names are still views: nothing is copied.
//! - **Compression pointers must point strictly backwards**: before the start of the name, and
//!   each before the previous pointer's target (RFC 1035 says "a prior occurrence"; dnspython
//!   checks the same). Loops are then impossible, and a name may in addition follow at most 128
//!   pointers, so decoding a name costs at most a few hundred steps whatever the input. Forward
//!   pointers, self-pointers, pointers past the end and over-long chains are distinct
//!   [`DecodeError`]s.
//! - **Typed RDATA must fill RDLENGTH exactly** (an A record of 5 bytes, an MX whose name runs
//!   past its RDATA, leftover bytes: [`DecodeError::RdataLength`]). A, AAAA and SRV are typed in
//!   class IN only, as their RFCs define them; elsewhere they are `Unknown`. Names in SRV data
//!   are accepted compressed but never written compressed (RFC 2782).
//! - **Trailing bytes after the last record are ignored**, as evdns and c-ares do (dnspython
//!   refuses them); [`Message::trailing`] shows them. Counts that promise more entries than the
//!   message holds are an error ([`DecodeError::CountOverrun`]).
//! - **EDNS is strict where RFC 6891 is**: at most one OPT record, in the additional section,
//!   owned by the root. Its extended rcode is folded into [`Message::rcode`], and the builder
//!   splits the header's twelve-bit [`Rcode`] back into header and OPT, so the two cannot
//!   disagree. The OPT record also stays visible in [`Message::additional`].
//! - **Names compare ASCII case-insensitively** (RFC 4343) and keep their case: a reply echoes
//!   a 0x20-randomised question byte for byte. Dotted text is read and written in master-file
//!   syntax (`\.`, `\\`, `\DDD` escapes); `Display` omits the final dot like evdns and c-ares
//!   (`www.example.com`, the root is `.`), `{:#}` adds it. No host-name (LDH) or IDNA checks:
//!   DNS labels may hold any byte.
//! - **Empty TXT data** (no character-string at all, which RFC 1035 does not allow) is accepted
//!   when reading, as an empty list, and written back the same way.
//! - **Messages are at most 65,535 bytes** in both directions ([`DecodeError::TooLong`]).
//!
//! # Why not an existing crate
//!
//! There is no maintained DNS codec that is `no_std`, allocation-free and covers these record
//! types: smoltcp's `wire::dns` parses only the few types its own stub resolver needs (A, AAAA,
//! CNAME) and has no builder for records or EDNS; hickory-proto, domain and simple-dns need
//! `alloc`. This module is about 3,000 lines, docs and unit tests included, and depends on
//! `heapless` only.
//!
//! # Footprint
//!
//! A [`Message`] is a few words (a slice, the header, counts and offsets); a [`Name`] is a slice
//! and an offset; a [`NameBuf`] is 256 bytes; a [`MessageBuilder`] is a slice and a handful of
//! words plus 4 bytes per compression-table entry. Nothing recurses. The resolver's and server's
//! sizes are set by their const generics (see their modules).

mod builder;
mod cache;
mod config;
pub mod connect;
mod error;
mod message;
mod name;
mod rdata;
pub mod resolver;
mod rng;
pub mod server;
mod types;

pub use builder::MessageBuilder;
pub use config::{Config, DnsError, HostEntry, Hosts, MAX_SEARCH, MAX_SERVERS, Query};
pub use connect::{
    ATTEMPT_DELAY, ConnectError, Connected, Connector, Family, RACE, RESOLUTION_DELAY,
};
pub use error::{DecodeError, EncodeError, NameError};
pub use message::{HEADER_LEN, MAX_MESSAGE_LEN, Message, Question, Questions, Record, Records};
pub use name::{Labels, MAX_LABEL_LEN, MAX_NAME_LEN, Name, NameBuf};
pub use rdata::{
    Edns, EdnsOption, EdnsOptions, EdnsOptionsIter, Mx, RData, Soa, Srv, Txt, TxtStrings,
};
pub use resolver::{Answer, Done, Full, RequestId, Resolver};
pub use rng::Rng;
pub use server::{Origin, Request, Server};
pub use types::{Class, Flags, Header, Opcode, RType, Rcode, Section};
