//! Arbitrary bytes into the DNS codec. Whatever parses is walked completely (names, RDATA,
//! options, text forms), written again with `MessageBuilder`, and parsed back: the second reading
//! must equal the first. The same bytes, read as text, go through `NameBuf::from_dotted`, whose
//! output must survive `Display` and a second read.

#![no_main]

use levent_core::dns::{EncodeError, Message, NameBuf, RData, Section};
use libfuzzer_sys::fuzz_target;
use std::fmt::Write as _;

const SECTIONS: [Section; 3] = [Section::Answer, Section::Authority, Section::Additional];

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = Message::parse(data) {
        check_message(&msg);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        check_dotted(text);
    }
});

fn check_message(msg: &Message<'_>) {
    let mut sink = String::new();
    let _ = write!(sink, "{:?} {:?}", msg.header(), msg.edns());
    for q in msg.questions() {
        let _ = write!(sink, "{q} {:?}", q.name.reverse_addr());
        assert!(q.name.wire_len() <= 255);
    }
    for section in SECTIONS {
        for rr in msg.records(section) {
            let _ = write!(sink, "{rr} {rr:?}");
        }
    }

    let mut buf = vec![0u8; 65_535];
    let Some(len) = reencode(msg, &mut buf) else {
        return;
    };
    let again = Message::parse(&buf[..len]).expect("the builder's output parses");
    assert_eq!(again.header(), msg.header());
    assert_eq!(again.edns(), msg.edns());
    assert!(again.questions().eq(msg.questions()));
    for (a, b) in again.questions().zip(msg.questions()) {
        assert!(
            a.name.labels().eq(b.name.labels()),
            "names keep their bytes"
        );
    }
    for section in SECTIONS {
        let not_opt = |r: &levent_core::dns::Record<'_>| !matches!(r.data, RData::Opt(_));
        let mut first = msg.records(section).filter(not_opt);
        let mut second = again.records(section).filter(not_opt);
        loop {
            match (first.next(), second.next()) {
                (None, None) => break,
                (Some(a), Some(b)) => {
                    assert_eq!(a, b);
                    assert!(a.name.labels().eq(b.name.labels()));
                    assert_eq!(a.data.to_string(), b.data.to_string());
                }
                (a, b) => panic!("record lists differ: {a:?} vs {b:?}"),
            }
        }
    }
}

/// `None` when the rewrite does not fit in 64 KiB: the original may be compressed harder than
/// the builder's table allows.
fn reencode(msg: &Message<'_>, buf: &mut [u8]) -> Option<usize> {
    use levent_core::dns::MessageBuilder;
    let fits = |r: Result<(), EncodeError>| match r {
        Ok(()) => Some(()),
        Err(EncodeError::NoSpace) => None,
        Err(e) => panic!("re-encoding a parsed message: {e}"),
    };
    let mut b = MessageBuilder::new(buf);
    *b.header_mut() = msg.header();
    for q in msg.questions() {
        fits(b.question(q.name, q.qtype, q.qclass))?;
    }
    for section in SECTIONS {
        for rr in msg.records(section) {
            if !matches!(rr.data, RData::Opt(_)) {
                fits(b.record(section, rr.name, rr.class, rr.ttl, &rr.data))?;
            }
        }
    }
    if let Some(edns) = msg.edns() {
        fits(b.edns(&edns))?;
    }
    match b.finish() {
        Ok(bytes) => Some(bytes.len()),
        Err(EncodeError::NoSpace) => None,
        Err(e) => panic!("finishing a re-encoded message: {e}"),
    }
}

fn check_dotted(text: &str) {
    if let Ok(name) = NameBuf::from_dotted(text) {
        assert!(name.wire_len() <= 255);
        let shown = name.to_string();
        let again = NameBuf::from_dotted(&shown).expect("Display output reads back");
        assert!(again.labels().eq(name.labels()));
        assert!(name.as_name().eq_dotted(text));
    }
}
