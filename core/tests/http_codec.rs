//! The HTTP/1.1 codec against the acceptance corpus (`tests/data/`), rule by rule, limit by
//! limit, and under property tests.
//!
//! # How a corpus case gets its verdict
//!
//! The case's bytes are the start of a connection, read by a server (`request`) or a client
//! (`response`, answering a GET). [`Driver`] reads them message after message: parse a head, then
//! decode its body by its framing, then, if the connection persists, the next head.
//!
//! - `reject`: a head or body error, or bytes after a message that ends the connection
//!   (`Connection: close`, HTTP/1.0 without keep-alive): those bytes must never be read as
//!   another message.
//! - `upgrade`: a request asking to switch protocols (Upgrade with `Connection: upgrade`,
//!   CONNECT, the HTTP/2 preface) whose body, if any, is complete, or a 101 response (or 2xx to
//!   CONNECT): the rest of the bytes belong to the other protocol.
//! - `incomplete`: the input ends inside a head or a body, a close-delimited body included (it
//!   ends only with the connection, which the corpus never closes).
//! - `accept`: at least one message, every one complete, and nothing after the last but the empty
//!   lines a server skips before a request line.
//! - `head_only` cases judge the first head alone (accept once it is complete).
//! - `h11_host_policy_only` cases carry the source suite's verdict, which ignores Host: they are
//!   judged with [`RequestParser::require_host`] off, and with it on (the default) each must be
//!   rejected (see `host_policy_cases_are_rejected_when_host_is_required`).
//!
//! Every case runs twice, fed whole and fed one byte at a time; both runs must agree on the
//! verdict, the error, the heads and the body bytes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use levent_core::http::{
    BodyDecoder, BodyError, EncodeError, Framing, HeadError, Header, Limits, RequestParser,
    ResponseParser, Status, Upgrade, Version, encode_chunk, encode_chunk_header, encode_header,
    encode_last_chunk, encode_request_head, encode_request_line, encode_response_head,
    encode_status_line, parse_fields, reason_phrase,
};
use proptest::prelude::*;
use std::collections::BTreeSet;

// ---------------------------------------------------------------------------------------------
// The driver: a connection's bytes, message after message.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Request,
    Response,
}

#[derive(Clone, PartialEq, Eq, Debug)]
enum Failure {
    Head(HeadError),
    Body(BodyError),
    /// Bytes after a message that ends the connection.
    AfterLast,
}

#[derive(Clone, PartialEq, Eq, Debug)]
enum Outcome {
    Accept,
    Incomplete,
    Upgrade,
    Reject(Failure),
}

impl Outcome {
    fn verdict(&self) -> &'static str {
        match self {
            Outcome::Accept => "accept",
            Outcome::Incomplete => "incomplete",
            Outcome::Upgrade => "upgrade",
            Outcome::Reject(_) => "reject",
        }
    }
}

/// What the driver saw, for comparing runs.
#[derive(Clone, PartialEq, Eq, Debug)]
enum Seen {
    Head(String),
    Data(Vec<u8>),
    Trailers(Vec<u8>),
    End,
}

enum State {
    Head,
    Body {
        decoder: BodyDecoder,
        upgrade: bool,
        keep_alive: bool,
    },
    /// The last message ended the connection.
    Closed,
}

struct Driver {
    kind: Kind,
    head_only: bool,
    limits: Limits,
    requests: RequestParser,
    responses: ResponseParser,
    buf: Vec<u8>,
    pos: usize,
    state: State,
    messages: usize,
    seen: Vec<Seen>,
    outcome: Option<Outcome>,
}

impl Driver {
    fn new(kind: Kind, require_host: bool, head_only: bool, limits: Limits) -> Self {
        Driver {
            kind,
            head_only,
            limits,
            requests: RequestParser::new(limits).require_host(require_host),
            responses: ResponseParser::new(limits),
            buf: Vec::new(),
            pos: 0,
            state: State::Head,
            messages: 0,
            seen: Vec::new(),
            outcome: None,
        }
    }

    fn push(&mut self, piece: &[u8]) {
        self.buf.extend_from_slice(piece);
        while self.outcome.is_none() && self.step() {}
    }

    fn data(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if let Some(Seen::Data(d)) = self.seen.last_mut() {
            d.extend_from_slice(bytes);
        } else {
            self.seen.push(Seen::Data(bytes.to_vec()));
        }
    }

    /// One step; false when more bytes are needed.
    fn step(&mut self) -> bool {
        let input = &self.buf[self.pos..];
        match &mut self.state {
            State::Closed => {
                if !input.is_empty() {
                    self.outcome = Some(Outcome::Reject(Failure::AfterLast));
                }
                false
            }
            State::Head => {
                let mut headers = [Header::EMPTY; 128];
                let head = match self.kind {
                    Kind::Request => match self.requests.parse(input, &mut headers) {
                        Err(e) => Err(e),
                        Ok(Status::Partial) => return false,
                        Ok(Status::Complete(r)) => Ok((
                            format!(
                                "{} {} {:?} {:?} {:?}",
                                r.method(),
                                r.target(),
                                r.version(),
                                r.headers(),
                                r.framing()
                            ),
                            r.head_len(),
                            r.framing(),
                            r.upgrade().is_some(),
                            r.keep_alive(),
                        )),
                    },
                    Kind::Response => match self.responses.parse(input, &mut headers) {
                        Err(e) => Err(e),
                        Ok(Status::Partial) => return false,
                        Ok(Status::Complete(r)) => {
                            let framing = r.framing("GET");
                            Ok((
                                format!(
                                    "{} {:?} {:?} {:?} {:?}",
                                    r.status(),
                                    r.reason(),
                                    r.version(),
                                    r.headers(),
                                    framing
                                ),
                                r.head_len(),
                                framing,
                                framing == Framing::Tunnel,
                                r.is_interim() || r.keep_alive(),
                            ))
                        }
                    },
                };
                match head {
                    Err(e) => {
                        self.outcome = Some(Outcome::Reject(Failure::Head(e)));
                        false
                    }
                    Ok((summary, len, framing, upgrade, keep_alive)) => {
                        self.seen.push(Seen::Head(summary));
                        if self.head_only {
                            self.outcome = Some(Outcome::Accept);
                            return false;
                        }
                        self.pos += len;
                        self.requests.reset();
                        self.responses.reset();
                        self.state = State::Body {
                            decoder: BodyDecoder::new(framing, &self.limits),
                            upgrade,
                            keep_alive,
                        };
                        true
                    }
                }
            }
            State::Body {
                decoder,
                upgrade,
                keep_alive,
            } => {
                let (upgrade, keep_alive) = (*upgrade, *keep_alive);
                let d = match decoder.decode(input) {
                    Ok(d) => d,
                    Err(e) => {
                        self.outcome = Some(Outcome::Reject(Failure::Body(e)));
                        return false;
                    }
                };
                let data = d.data(input).to_vec();
                let trailers = input[d.trailers.clone()].to_vec();
                self.data(&data);
                if !trailers.is_empty() {
                    self.seen.push(Seen::Trailers(trailers));
                }
                self.pos += d.consumed;
                if d.done {
                    self.messages += 1;
                    self.seen.push(Seen::End);
                    if upgrade {
                        self.outcome = Some(Outcome::Upgrade);
                        return false;
                    }
                    self.state = if keep_alive {
                        State::Head
                    } else {
                        State::Closed
                    };
                    return true;
                }
                d.consumed > 0
            }
        }
    }

    /// The verdict once the input has ended (the connection stays open).
    fn outcome(&self) -> Outcome {
        if let Some(o) = &self.outcome {
            return o.clone();
        }
        match self.state {
            State::Closed => Outcome::Accept,
            State::Head if self.messages > 0 && !self.started() => Outcome::Accept,
            State::Head | State::Body { .. } => Outcome::Incomplete,
        }
    }

    fn started(&self) -> bool {
        match self.kind {
            Kind::Request => self.requests.started(),
            Kind::Response => self.responses.started(),
        }
    }
}

/// Runs `raw` cut into `pieces`, returning the outcome and what was seen.
fn run_pieces<'a>(
    kind: Kind,
    require_host: bool,
    head_only: bool,
    limits: Limits,
    pieces: impl IntoIterator<Item = &'a [u8]>,
) -> (Outcome, Vec<Seen>) {
    let mut d = Driver::new(kind, require_host, head_only, limits);
    for p in pieces {
        d.push(p);
    }
    (d.outcome(), d.seen)
}

/// Runs `raw` whole and one byte at a time; both must agree.
fn run(kind: Kind, require_host: bool, head_only: bool, raw: &[u8]) -> (Outcome, Vec<Seen>) {
    let whole = run_pieces(kind, require_host, head_only, Limits::DEFAULT, [raw]);
    let bytes = run_pieces(
        kind,
        require_host,
        head_only,
        Limits::DEFAULT,
        raw.chunks(1),
    );
    assert_eq!(whole, bytes, "whole and byte-at-a-time disagree on {raw:?}");
    whole
}

// ---------------------------------------------------------------------------------------------
// The corpus.

struct Case {
    id: String,
    kind: Kind,
    raw: Vec<u8>,
    expect: String,
    head_only: bool,
    host_policy_only: bool,
}

fn corpus() -> Vec<Case> {
    let text = include_str!("data/http1_acceptance_candidates.json");
    let json: serde_json::Value = serde_json::from_str(text).unwrap();
    json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            id: c["id"].as_str().unwrap().to_owned(),
            kind: match c["kind"].as_str().unwrap() {
                "request" => Kind::Request,
                "response" => Kind::Response,
                k => panic!("unknown kind {k}"),
            },
            raw: base64::engine::general_purpose::STANDARD
                .decode(c["raw_b64"].as_str().unwrap())
                .unwrap(),
            expect: c["expect"].as_str().unwrap().to_owned(),
            head_only: c["head_only"].as_bool().unwrap(),
            host_policy_only: c["h11_host_policy_only"].as_bool().unwrap(),
        })
        .collect()
}

/// Where the case's expectation contradicts the RFC: levent follows the RFC.
const METHOD: &str = "RFC 9110 §9.1: a method is any token; http-parser and llhttp refuse \
    names outside their fixed table. An unknown method is a well-formed request that the \
    application answers with 501, not a parse error";
const NOT_COMPLETE: &str = "http-parser's test_simple only checks that no error occurred so \
    far; the Content-Length body has not arrived (RFC 9112 §6.3), so the message is incomplete, \
    as llhttp's content-length.md:290 says of the same bytes";
const CHUNK_SIZE_WS: &str = "RFC 9112 §7.1: whitespace may follow a chunk size only as the \
    BWS before a `;` chunk extension; `25  CRLF` is no chunk-size line (llhttp's \
    transfer-encoding.md:1184 refuses `a CRLF` for the same reason)";
/// Where the RFC allows both: levent takes the strict side.
const OBS_FOLD: &str = "RFC 9112 §5.2 lets a server refuse obs-fold with 400 instead of \
    unfolding it; levent refuses it (a zero-copy parser cannot unfold in place, and folding \
    is a smuggling vector)";
const CONTROL: &str = "RFC 9110 §5.5: control characters other than HTAB make a field value \
    invalid, keeping them is only a MAY; levent refuses them, as the corpus does for \
    llhttp's lenient-header-value-relaxed.md:38 (a form feed)";

/// The cases where levent's verdict differs from the corpus's: id, levent's verdict, why. Each
/// entry must still be needed: an entry that matches the corpus fails the test.
const ALLOWED: &[(&str, &str, &str)] = &[
    ("llhttp/request/invalid.md:356", "accept", METHOD),
    ("http-parser/test.c:simple[63]", "accept", METHOD),
    ("http-parser/test.c:simple[64]", "accept", METHOD),
    ("http-parser/test.c:simple[65]", "accept", METHOD),
    ("http-parser/test.c:simple[66]", "accept", METHOD),
    ("http-parser/test.c:simple[67]", "accept", METHOD),
    ("http-parser/test.c:simple[68]", "accept", METHOD),
    ("http-parser/test.c:simple[69]", "accept", METHOD),
    ("http-parser/test.c:simple[70]", "accept", METHOD),
    ("http-parser/test.c:simple[71]", "accept", METHOD),
    ("http-parser/test.c:simple[72]", "accept", METHOD),
    ("http-parser/test.c:simple[73]", "accept", METHOD),
    ("http-parser/test.c:simple[9]", "incomplete", NOT_COMPLETE),
    ("http-parser/test.c:simple[29]", "incomplete", NOT_COMPLETE),
    ("http-parser/test.c:responses[4]", "reject", CHUNK_SIZE_WS),
    ("http-parser/test.c:requests[21]", "reject", OBS_FOLD),
    ("http-parser/test.c:requests[32]", "reject", OBS_FOLD),
    ("http-parser/test.c:requests[33]", "reject", OBS_FOLD),
    ("http-parser/test.c:requests[35]", "reject", OBS_FOLD),
    ("http-parser/test.c:simple[76]", "reject", OBS_FOLD),
    (
        "h11/test_io.py:test_readers_unusual:264#15",
        "reject",
        OBS_FOLD,
    ),
    (
        "h11/test_io.py:test_allow_some_garbage_in_cookies:561#45",
        "reject",
        CONTROL,
    ),
];

#[test]
fn corpus_cases_get_their_expected_verdict_whole_and_byte_by_byte() {
    let cases = corpus();
    assert_eq!(cases.len(), 586, "the corpus changed");
    let mut wrong = Vec::new();
    let mut used = BTreeSet::new();
    for case in &cases {
        let (outcome, _) = run(case.kind, !case.host_policy_only, case.head_only, &case.raw);
        let expect = match ALLOWED.iter().find(|(id, _, _)| *id == case.id) {
            Some((id, ours, _)) => {
                used.insert(*id);
                assert_ne!(
                    *ours, case.expect,
                    "{id}: allow-listed but the corpus agrees"
                );
                *ours
            }
            None => case.expect.as_str(),
        };
        if outcome.verdict() != expect {
            wrong.push(format!(
                "{} ({:?}): expected {expect}, got {outcome:?}\n    {:?}",
                case.id,
                case.kind,
                String::from_utf8_lossy(&case.raw)
            ));
        }
    }
    let unused: Vec<_> = ALLOWED
        .iter()
        .filter(|(id, _, _)| !used.contains(id))
        .collect();
    assert!(
        unused.is_empty(),
        "allow-list entries without a case: {unused:?}"
    );
    assert!(
        wrong.is_empty(),
        "{} of {} cases differ:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}

#[test]
fn host_policy_cases_are_rejected_when_host_is_required() {
    for case in corpus().iter().filter(|c| c.host_policy_only) {
        let (outcome, _) = run(case.kind, true, case.head_only, &case.raw);
        assert_eq!(outcome.verdict(), "reject", "{}", case.id);
    }
}
