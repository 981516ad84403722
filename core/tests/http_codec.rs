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
#[cfg_attr(miri, ignore = "the whole corpus byte by byte is too slow under miri")]
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
#[cfg_attr(miri, ignore = "the whole corpus byte by byte is too slow under miri")]
fn host_policy_cases_are_rejected_when_host_is_required() {
    for case in corpus().iter().filter(|c| c.host_policy_only) {
        let (outcome, _) = run(case.kind, true, case.head_only, &case.raw);
        assert_eq!(outcome.verdict(), "reject", "{}", case.id);
    }
}

// ---------------------------------------------------------------------------------------------
// Rules, one test per rejection.

fn parse_request(raw: &[u8]) -> Result<(), HeadError> {
    parse_request_with(raw, Limits::DEFAULT, 32)
}

fn parse_request_with(raw: &[u8], limits: Limits, capacity: usize) -> Result<(), HeadError> {
    let mut headers = vec![Header::EMPTY; capacity];
    match RequestParser::new(limits).parse(raw, &mut headers)? {
        Status::Complete(r) => {
            assert!(r.head_len() <= raw.len());
            Ok(())
        }
        Status::Partial => panic!("partial: {raw:?}"),
    }
}

fn parse_response(raw: &[u8]) -> Result<(), HeadError> {
    let mut headers = [Header::EMPTY; 32];
    match ResponseParser::new(Limits::DEFAULT).parse(raw, &mut headers)? {
        Status::Complete(_) => Ok(()),
        Status::Partial => panic!("partial: {raw:?}"),
    }
}

/// A request with `fields` between a Host line and the end of the head.
fn request_with(fields: &str) -> Vec<u8> {
    format!("POST / HTTP/1.1\r\nHost: a\r\n{fields}\r\n").into_bytes()
}

#[test]
fn content_length_with_transfer_encoding_is_rejected() {
    for fields in [
        "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
        "Transfer-Encoding: identity\r\nContent-Length: 3\r\n",
    ] {
        let e = parse_request(&request_with(fields)).unwrap_err();
        assert_eq!(e, HeadError::ContentLengthWithTransferEncoding);
        assert_eq!(e.status(), 400);
    }
    let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(
        parse_response(raw),
        Err(HeadError::ContentLengthWithTransferEncoding)
    );
}

#[test]
fn differing_content_lengths_are_rejected() {
    for fields in [
        "Content-Length: 3\r\nContent-Length: 4\r\n",
        "Content-Length: 3, 4\r\n",
    ] {
        assert_eq!(
            parse_request(&request_with(fields)),
            Err(HeadError::ConflictingContentLength)
        );
    }
}

#[test]
fn identical_repeated_content_lengths_count_once() {
    for fields in [
        "Content-Length: 3\r\nContent-Length: 3\r\n",
        "Content-Length: 3, 3\r\n",
        "Content-Length: 3\r\nContent-Length: 003\r\n",
    ] {
        let raw = request_with(fields);
        let mut headers = [Header::EMPTY; 8];
        let Status::Complete(r) = RequestParser::new(Limits::DEFAULT)
            .parse(&raw, &mut headers)
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(r.framing(), Framing::Length(3));
    }
}

#[test]
fn invalid_content_length_syntax_is_rejected() {
    for v in [
        "",
        "abc",
        "-1",
        "+5",
        "4 2",
        "0x10",
        "5,",
        "5, , 5",
        "1.0",
        "18446744073709551616",
    ] {
        assert_eq!(
            parse_request(&request_with(&format!("Content-Length: {v}\r\n"))),
            Err(HeadError::InvalidContentLength),
            "{v:?}"
        );
    }
}

#[test]
fn request_transfer_encoding_must_end_in_chunked() {
    for v in ["gzip", "chunked, gzip", "deflate"] {
        let e = parse_request(&request_with(&format!("Transfer-Encoding: {v}\r\n"))).unwrap_err();
        assert_eq!((e, e.status()), (HeadError::ChunkedNotFinal, 400), "{v}");
    }
    let ok = request_with("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n");
    assert_eq!(parse_request(&ok), Ok(()));
}

#[test]
fn unknown_transfer_coding_answers_501() {
    for v in ["pigeons", "chunkedchunked", "br, chunked"] {
        let e = parse_request(&request_with(&format!("Transfer-Encoding: {v}\r\n"))).unwrap_err();
        assert_eq!(
            (e, e.status()),
            (HeadError::UnknownTransferCoding, 501),
            "{v}"
        );
    }
}

#[test]
fn malformed_or_repeated_chunked_transfer_encoding_is_rejected() {
    for v in [
        "chunked, chunked",
        "",
        " , ",
        "chunked;q=1",
        "gzip;=x, chunked",
        "a b",
    ] {
        assert_eq!(
            parse_request(&request_with(&format!("Transfer-Encoding: {v}\r\n"))),
            Err(HeadError::InvalidTransferEncoding),
            "{v:?}"
        );
    }
}

#[test]
fn transfer_encoding_in_http10_is_rejected() {
    let raw = b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(parse_request(raw), Err(HeadError::TransferEncodingInHttp10));
    let raw = b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(
        parse_response(raw),
        Err(HeadError::TransferEncodingInHttp10)
    );
}

#[test]
fn response_transfer_encoding_not_ending_in_chunked_is_close_delimited() {
    let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n";
    let mut headers = [Header::EMPTY; 4];
    let Status::Complete(r) = ResponseParser::new(Limits::DEFAULT)
        .parse(raw, &mut headers)
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(r.framing("GET"), Framing::CloseDelimited);
}

#[test]
fn obs_fold_is_rejected() {
    assert_eq!(
        parse_request(b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n"),
        Err(HeadError::ObsFold)
    );
    assert_eq!(
        parse_request(b"GET / HTTP/1.1\r\n Host: a\r\n\r\n"),
        Err(HeadError::ObsFold)
    );
    assert_eq!(
        parse_response(b"HTTP/1.1 200 OK\r\nX: 1\r\n\t2\r\n\r\n"),
        Err(HeadError::ObsFold)
    );
}

#[test]
fn whitespace_between_field_name_and_colon_is_rejected() {
    for line in ["Host : a", "Host\t: a", "Content-Length : 0"] {
        let raw = format!("GET / HTTP/1.1\r\n{line}\r\n\r\n");
        assert_eq!(
            parse_request(raw.as_bytes()),
            Err(HeadError::WhitespaceBeforeColon)
        );
    }
}

#[test]
fn bare_cr_is_rejected_anywhere() {
    for raw in [
        &b"GET /\r HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"GET / HTTP/1.1\rHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHo\rst: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\r\n\r\n",
        b"\rGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\r\n",
    ] {
        assert_eq!(parse_request(raw), Err(HeadError::BareCr), "{raw:?}");
    }
}

#[test]
fn control_characters_in_field_values_are_rejected() {
    for c in [0u8, 1, 0x0b, 0x0c, 0x1f, 0x7f] {
        let mut raw = b"GET / HTTP/1.1\r\nHost: a\r\nX: a".to_vec();
        raw.push(c);
        raw.extend_from_slice(b"b\r\n\r\n");
        assert_eq!(
            parse_request(&raw),
            Err(HeadError::InvalidHeaderValue),
            "{c:#x}"
        );
    }
    let ok = b"GET / HTTP/1.1\r\nHost: a\r\nX: a\tb \xff\r\n\r\n";
    assert_eq!(parse_request(ok), Ok(()));
}

#[test]
fn control_characters_in_reason_phrases_are_rejected() {
    assert_eq!(
        parse_response(b"HTTP/1.1 200 O\x00K\r\n\r\n"),
        Err(HeadError::InvalidReason)
    );
}

#[test]
fn missing_host_is_rejected_in_http11_only() {
    let e = parse_request(b"GET / HTTP/1.1\r\n\r\n").unwrap_err();
    assert_eq!((e, e.status()), (HeadError::MissingHost, 400));
    assert_eq!(parse_request(b"GET / HTTP/1.0\r\n\r\n"), Ok(()));
    let mut headers = [Header::EMPTY; 4];
    let lenient = RequestParser::new(Limits::DEFAULT)
        .require_host(false)
        .parse(b"GET / HTTP/1.1\r\n\r\n", &mut headers);
    assert!(matches!(lenient, Ok(Status::Complete(_))));
}

#[test]
fn repeated_host_is_rejected() {
    for version in ["1.0", "1.1"] {
        let raw = format!("GET / HTTP/{version}\r\nHost: a\r\nHost: a\r\n\r\n");
        assert_eq!(parse_request(raw.as_bytes()), Err(HeadError::DuplicateHost));
    }
}

#[test]
fn invalid_host_is_rejected() {
    for host in ["a b", "a/b", "a:8o", "[::1", "user@a", "a\"b", "%zz"] {
        let raw = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
        assert_eq!(
            parse_request(raw.as_bytes()),
            Err(HeadError::InvalidHost),
            "{host}"
        );
    }
    for host in [
        "",
        "a",
        "a:80",
        "[::1]:8080",
        "127.0.0.1",
        "xn--bcher-kva.example",
    ] {
        let raw = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
        assert_eq!(parse_request(raw.as_bytes()), Ok(()), "{host}");
    }
}

#[test]
fn invalid_method_token_is_rejected() {
    for line in [
        "G(T / HTTP/1.1",
        " / HTTP/1.1",
        "GET\t/ HTTP/1.1",
        "G\u{e9}T / HTTP/1.1",
    ] {
        let raw = format!("{line}\r\nHost: a\r\n\r\n");
        assert_eq!(
            parse_request(raw.as_bytes()),
            Err(HeadError::InvalidMethod),
            "{line}"
        );
    }
    assert_eq!(
        parse_request(b"FROBNICATE / HTTP/1.1\r\nHost: a\r\n\r\n"),
        Ok(())
    );
}

#[test]
fn invalid_request_target_is_rejected() {
    for line in [
        "GET  HTTP/1.1",
        "GET /a\u{e9} HTTP/1.1",
        "GET /a\x7f HTTP/1.1",
        "GET",
        "GET ",
    ] {
        let raw = format!("{line}\r\nHost: a\r\n\r\n");
        assert_eq!(
            parse_request(raw.as_bytes()),
            Err(HeadError::InvalidTarget),
            "{line:?}"
        );
    }
}

#[test]
fn invalid_version_is_rejected() {
    for line in [
        "GET / HTTP/1.1 ",
        "GET /  HTTP/1.1",
        "GET / http/1.1",
        "GET / HTTP/1.10",
        "GET / HTTP/1",
        "GET / HTTP/x.1",
        "GET /",
    ] {
        let raw = format!("{line}\r\nHost: a\r\n\r\n");
        assert_eq!(
            parse_request(raw.as_bytes()),
            Err(HeadError::InvalidVersion),
            "{line:?}"
        );
    }
    for line in [
        "HTTP/1.1\t200 OK",
        "HTTP/1.01 200 OK",
        "HTP/1.1 200 OK",
        "HTTP/1.",
        "H",
    ] {
        let raw = format!("{line}\r\n\r\n");
        assert_eq!(
            parse_response(raw.as_bytes()),
            Err(HeadError::InvalidVersion),
            "{line}"
        );
    }
}

#[test]
fn unsupported_version_answers_505() {
    for v in ["2.0", "0.9", "3.1"] {
        let raw = format!("GET / HTTP/{v}\r\nHost: a\r\n\r\n");
        let e = parse_request(raw.as_bytes()).unwrap_err();
        assert_eq!((e, e.status()), (HeadError::UnsupportedVersion, 505));
    }
    assert_eq!(
        parse_response(b"HTTP/2.0 200 OK\r\n\r\n"),
        Err(HeadError::UnsupportedVersion)
    );
    assert_eq!(parse_request(b"GET / HTTP/1.2\r\nHost: a\r\n\r\n"), Ok(()));
}

#[test]
fn http2_preface_is_an_upgrade() {
    let raw = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let mut headers = [Header::EMPTY; 4];
    let Status::Complete(r) = RequestParser::new(Limits::DEFAULT)
        .parse(raw, &mut headers)
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (r.upgrade(), r.head_len()),
        (Some(Upgrade::Http2Preface), 18)
    );
}

#[test]
fn invalid_status_is_rejected() {
    for line in [
        "HTTP/1.1 2 OK",
        "HTTP/1.1  200 OK",
        "HTTP/1.1 2000 OK",
        "HTTP/1.1 099 Low",
        "HTTP/1.1 600 High",
        "HTTP/1.1 20x OK",
        "HTTP/1.1 ",
        "HTTP/1.1",
    ] {
        let raw = format!("{line}\r\n\r\n");
        assert_eq!(
            parse_response(raw.as_bytes()),
            Err(HeadError::InvalidStatus),
            "{line:?}"
        );
    }
    for line in [
        "HTTP/1.1 200",
        "HTTP/1.1 200 ",
        "HTTP/1.0 599 x  y",
        "HTTP/0.9 200 OK",
    ] {
        assert_eq!(parse_response(format!("{line}\r\n\r\n").as_bytes()), Ok(()));
    }
}

#[test]
fn invalid_field_names_are_rejected() {
    for line in ["X@: 1", ": 1", "X Y: 1", "NoColon", "X\"Y: 1"] {
        let raw = format!("GET / HTTP/1.1\r\nHost: a\r\n{line}\r\n\r\n");
        assert_eq!(
            parse_request(raw.as_bytes()),
            Err(HeadError::InvalidHeaderName),
            "{line}"
        );
    }
}

#[test]
fn bare_lf_ends_head_lines() {
    let raw = b"GET / HTTP/1.1\nHost: a\r\nX: 1\n\n";
    let mut headers = [Header::EMPTY; 4];
    let Status::Complete(r) = RequestParser::new(Limits::DEFAULT)
        .parse(raw, &mut headers)
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(r.head_len(), raw.len());
    assert_eq!(
        r.headers()[1],
        Header {
            name: "X",
            value: b"1"
        }
    );
}

#[test]
fn bare_lf_is_rejected_in_chunked_framing() {
    let mut body = BodyDecoder::new(Framing::Chunked, &Limits::DEFAULT);
    assert_eq!(body.decode(b"1\nA"), Err(BodyError::InvalidChunkSize));
    let mut body = BodyDecoder::new(Framing::Chunked, &Limits::DEFAULT);
    assert_eq!(body.decode(b"1\r\nA").unwrap().data, 3..4);
    assert_eq!(body.decode(b"\n0"), Err(BodyError::MissingChunkCrlf));
}

#[test]
fn empty_lines_before_the_request_line_are_skipped() {
    let raw = b"\r\n\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut parser = RequestParser::new(Limits::DEFAULT);
    let mut headers = [Header::EMPTY; 4];
    assert!(parser.parse(&raw[..5], &mut headers).unwrap().is_partial());
    assert!(!parser.started(), "only empty lines so far");
    let Status::Complete(r) = parser.parse(raw, &mut headers).unwrap() else {
        panic!()
    };
    assert_eq!((r.method(), r.head_len()), ("GET", raw.len()));
    assert!(parser.started());
}

#[test]
fn a_complete_head_stays_complete_and_reset_starts_over() {
    let raw = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: b\r\n\r\n";
    let mut parser = RequestParser::new(Limits::DEFAULT);
    let mut headers = [Header::EMPTY; 4];
    let first = parser.parse(raw, &mut headers).unwrap().complete().unwrap();
    let len = first.head_len();
    let again = parser.parse(raw, &mut headers).unwrap().complete().unwrap();
    assert_eq!((again.target(), again.head_len()), ("/", len));
    parser.reset();
    let second = parser
        .parse(&raw[len..], &mut headers)
        .unwrap()
        .complete()
        .unwrap();
    assert_eq!(second.target(), "/2");
}

#[test]
fn errors_are_sticky() {
    let mut parser = RequestParser::new(Limits::DEFAULT);
    let mut headers = [Header::EMPTY; 4];
    let raw = b"GET / HTTP/1.1\r\nX : 1\r\n";
    assert_eq!(
        parser.parse(raw, &mut headers),
        Err(HeadError::WhitespaceBeforeColon)
    );
    assert_eq!(
        parser.parse(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", &mut headers),
        Err(HeadError::WhitespaceBeforeColon)
    );
}

// ---------------------------------------------------------------------------------------------
// Limits, one test per limit.

fn small(f: impl FnOnce(&mut Limits)) -> Limits {
    let mut l = Limits::DEFAULT;
    f(&mut l);
    l
}

/// The first error of `raw` under `limits`, fed whole and byte by byte (both must agree).
fn first_error(kind: Kind, limits: Limits, raw: &[u8]) -> Outcome {
    let whole = run_pieces(kind, true, false, limits, [raw]);
    let bytes = run_pieces(kind, true, false, limits, raw.chunks(1));
    assert_eq!(whole, bytes);
    whole.0
}

#[test]
fn request_line_over_limit_answers_414() {
    let limits = small(|l| l.max_request_line = 16);
    let ok = b"GET /12345678 HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_eq!(
        parse_request_with(ok, small(|l| l.max_request_line = 22), 4),
        Ok(())
    );
    let e = parse_request_with(ok, limits, 4).unwrap_err();
    assert_eq!((e, e.status()), (HeadError::StartLineTooLong, 414));
}

#[test]
fn request_line_over_limit_is_refused_before_it_ends() {
    let limits = small(|l| l.max_request_line = 16);
    let mut parser = RequestParser::new(limits);
    let mut headers = [Header::EMPTY; 4];
    assert!(
        parser
            .parse(b"GET /aaaaaaaaaaa", &mut headers)
            .unwrap()
            .is_partial()
    );
    assert_eq!(
        parser.parse(b"GET /aaaaaaaaaaaa", &mut headers),
        Err(HeadError::StartLineTooLong)
    );
}

#[test]
fn too_many_headers_answer_431() {
    let raw = request_with("A: 1\r\nB: 2\r\nC: 3\r\n");
    assert_eq!(
        parse_request_with(&raw, small(|l| l.max_headers = 4), 8),
        Ok(())
    );
    let e = parse_request_with(&raw, small(|l| l.max_headers = 3), 8).unwrap_err();
    assert_eq!((e, e.status()), (HeadError::TooManyHeaders, 431));
    // The caller's array is a limit too.
    assert_eq!(
        parse_request_with(&raw, Limits::DEFAULT, 3),
        Err(HeadError::TooManyHeaders)
    );
}

#[test]
fn head_over_limit_answers_431() {
    let raw = request_with("X: 0123456789\r\n");
    assert_eq!(
        parse_request_with(&raw, small(|l| l.max_head_size = raw.len()), 4),
        Ok(())
    );
    let e = parse_request_with(&raw, small(|l| l.max_head_size = raw.len() - 1), 4).unwrap_err();
    assert_eq!((e, e.status()), (HeadError::HeadTooLarge, 431));
    // An endless field line is refused as soon as it crosses the limit.
    let mut parser = RequestParser::new(small(|l| l.max_head_size = 64));
    let mut headers = [Header::EMPTY; 4];
    let endless = [b"GET / HTTP/1.1\r\nX: ".as_slice(), &[b'a'; 100]].concat();
    assert_eq!(
        parser.parse(&endless[..65], &mut headers),
        Err(HeadError::HeadTooLarge)
    );
}

#[test]
fn the_limit_crossed_first_wins_fed_whole_or_byte_by_byte() {
    // The request line crosses its limit at byte 17, the head limit at byte 21.
    let raw = b"GET /aaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: a\r\n\r\n";
    let limits = small(|l| (l.max_request_line, l.max_head_size) = (16, 20));
    assert_eq!(
        first_error(Kind::Request, limits, raw),
        Outcome::Reject(Failure::Head(HeadError::StartLineTooLong))
    );
    let limits = small(|l| (l.max_request_line, l.max_head_size) = (16, 10));
    assert_eq!(
        first_error(Kind::Request, limits, raw),
        Outcome::Reject(Failure::Head(HeadError::HeadTooLarge))
    );
    // A CR at the limit may be the line's end: not over the limit until the next byte says.
    let raw = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let limits = small(|l| l.max_request_line = 14);
    assert_eq!(first_error(Kind::Request, limits, raw), Outcome::Accept);
}

#[test]
fn content_length_over_body_limit_answers_413() {
    let limits = small(|l| l.max_body_size = 10);
    assert_eq!(
        parse_request_with(&request_with("Content-Length: 10\r\n"), limits, 4),
        Ok(())
    );
    let e = parse_request_with(&request_with("Content-Length: 11\r\n"), limits, 4).unwrap_err();
    assert_eq!((e, e.status()), (HeadError::BodyTooLarge, 413));
}

#[test]
fn chunked_body_over_limit_answers_413() {
    let limits = small(|l| l.max_body_size = 10);
    let wire = b"6\r\nabcdef\r\n5\r\nabcde\r\n0\r\n\r\n";
    let (r, data, ..) = decode_in_pieces(Framing::Chunked, limits, wire, &[]);
    assert_eq!(
        (r, &data[..]),
        (Err(BodyError::BodyTooLarge), &b"abcdef"[..])
    );
    assert_eq!(BodyError::BodyTooLarge.status(), 413);
    let (r, ..) = decode_in_pieces(Framing::Chunked, small(|l| l.max_body_size = 11), wire, &[]);
    assert_eq!(r, Ok(true));
}

#[test]
fn close_delimited_body_over_limit_answers_413_after_the_limit() {
    let limits = small(|l| l.max_body_size = 4);
    let mut body = BodyDecoder::new(Framing::CloseDelimited, &limits);
    let d = body.decode(b"abcdef").unwrap();
    assert_eq!((d.consumed, d.data), (4, 0..4));
    assert_eq!(body.decode(b"ef"), Err(BodyError::BodyTooLarge));
    let mut body = BodyDecoder::new(Framing::CloseDelimited, &limits);
    body.decode(b"abcd").unwrap();
    assert_eq!(body.finish(), Ok(()), "exactly the limit is fine");
}

#[test]
fn chunk_extension_over_limit_is_rejected() {
    let limits = small(|l| l.max_chunk_ext = 8);
    let mut body = BodyDecoder::new(Framing::Chunked, &limits);
    assert!(body.decode(b"1;abcde=g\r\nX\r\n").is_ok());
    let mut body = BodyDecoder::new(Framing::Chunked, &limits);
    assert_eq!(
        body.decode(b"1;abcdef=g\r\n"),
        Err(BodyError::ChunkExtensionTooLong)
    );
    let mut body = BodyDecoder::new(Framing::Chunked, &limits);
    assert!(
        body.decode(&[b'0'; 24]).is_ok(),
        "16 digits and 8 extra zeros"
    );
    assert_eq!(body.decode(b"0"), Err(BodyError::ChunkExtensionTooLong));
}

#[test]
fn trailers_over_limit_answer_431() {
    let wire = b"0\r\nA: 1\r\nB: 2\r\n\r\n";
    let limits = small(|l| l.max_trailer_size = wire.len() - 3);
    let mut body = BodyDecoder::new(Framing::Chunked, &limits);
    assert!(body.decode(wire).unwrap().done);
    let limits = small(|l| l.max_trailer_size = wire.len() - 4);
    let mut body = BodyDecoder::new(Framing::Chunked, &limits);
    let e = body.decode(wire).unwrap_err();
    assert_eq!((e, e.status()), (BodyError::TrailersTooLarge, 431));
}

// ---------------------------------------------------------------------------------------------
// Message semantics.

fn with_request<R>(raw: &[u8], f: impl FnOnce(&levent_core::http::Request<'_, '_>) -> R) -> R {
    let mut headers = [Header::EMPTY; 16];
    let r = RequestParser::new(Limits::DEFAULT)
        .require_host(false)
        .parse(raw, &mut headers)
        .unwrap()
        .complete()
        .unwrap();
    f(&r)
}

fn with_response<R>(raw: &[u8], f: impl FnOnce(&levent_core::http::Response<'_, '_>) -> R) -> R {
    let mut headers = [Header::EMPTY; 16];
    let r = ResponseParser::new(Limits::DEFAULT)
        .parse(raw, &mut headers)
        .unwrap()
        .complete()
        .unwrap();
    f(&r)
}

#[test]
fn request_framing_follows_rfc_9112_section_6_3() {
    let cases: [(&[u8], Framing); 4] = [
        (b"GET / HTTP/1.1\r\n\r\n", Framing::None),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
            Framing::Length(0),
        ),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 7\r\n\r\n",
            Framing::Length(7),
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            Framing::Chunked,
        ),
    ];
    for (raw, framing) in cases {
        assert_eq!(with_request(raw, |r| r.framing()), framing);
    }
}

#[test]
fn response_framing_follows_rfc_9112_section_6_3() {
    let cl = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
    assert_eq!(with_response(cl, |r| r.framing("GET")), Framing::Length(5));
    assert_eq!(with_response(cl, |r| r.framing("HEAD")), Framing::None);
    assert_eq!(with_response(cl, |r| r.framing("CONNECT")), Framing::Tunnel);
    let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(
        with_response(chunked, |r| r.framing("GET")),
        Framing::Chunked
    );
    let plain = b"HTTP/1.1 200 OK\r\n\r\n";
    assert_eq!(
        with_response(plain, |r| r.framing("GET")),
        Framing::CloseDelimited
    );
    for status in ["100", "103", "204", "304"] {
        let raw = format!("HTTP/1.1 {status} X\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(
            with_response(raw.as_bytes(), |r| r.framing("GET")),
            Framing::None
        );
    }
    let switching = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
    assert_eq!(
        with_response(switching, |r| r.framing("GET")),
        Framing::Tunnel
    );
    assert!(with_response(b"HTTP/1.1 103 Early Hints\r\n\r\n", |r| r.is_interim()));
    assert!(!with_response(switching, |r| r.is_interim()));
    let refused = b"HTTP/1.1 407 Auth\r\nContent-Length: 2\r\n\r\n";
    assert_eq!(
        with_response(refused, |r| r.framing("CONNECT")),
        Framing::Length(2)
    );
}

#[test]
fn keep_alive_is_the_default_in_http11_only() {
    let cases: [(&[u8], bool); 6] = [
        (b"GET / HTTP/1.1\r\n\r\n", true),
        (b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false),
        (
            b"GET / HTTP/1.1\r\nConnection: Keep-Alive, CLOSE\r\n\r\n",
            false,
        ),
        (b"GET / HTTP/1.0\r\n\r\n", false),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
        (
            b"GET / HTTP/1.0\r\nConnection: foo,  Keep-Alive\r\n\r\n",
            true,
        ),
    ];
    for (raw, keep) in cases {
        assert_eq!(with_request(raw, |r| r.keep_alive()), keep, "{raw:?}");
    }
    assert!(!with_response(b"HTTP/1.0 200 OK\r\n\r\n", |r| r.keep_alive()));
    assert!(with_response(b"HTTP/1.1 200 OK\r\n\r\n", |r| r.keep_alive()));
}

#[test]
fn expect_100_continue_is_detected_in_http11() {
    let raw = b"PUT / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n";
    assert!(with_request(raw, |r| r.expects_continue()));
    let old = b"PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n";
    assert!(!with_request(old, |r| r.expects_continue()));
    assert!(!with_request(
        b"PUT / HTTP/1.1\r\nExpect: 200-ok\r\n\r\n",
        |r| r.expects_continue()
    ));
}

#[test]
fn upgrade_needs_the_field_and_the_connection_option() {
    let ws = b"GET /chat HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n";
    assert_eq!(with_request(ws, |r| r.upgrade()), Some(Upgrade::Protocol));
    let no_option = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n";
    assert_eq!(with_request(no_option, |r| r.upgrade()), None);
    let no_field = b"GET / HTTP/1.1\r\nConnection: upgrade\r\n\r\n";
    assert_eq!(with_request(no_field, |r| r.upgrade()), None);
    let old = b"GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n";
    assert_eq!(with_request(old, |r| r.upgrade()), None);
    let connect = b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n";
    assert_eq!(
        with_request(connect, |r| r.upgrade()),
        Some(Upgrade::Connect)
    );
}

// ---------------------------------------------------------------------------------------------
// Bodies.

/// Decodes `wire` cut at `cuts`, keeping unconsumed bytes as a caller must: the verdict, the
/// data, the trailer section, and where the body ended (0 after an error).
fn decode_in_pieces(
    framing: Framing,
    limits: Limits,
    wire: &[u8],
    cuts: &[usize],
) -> (Result<bool, BodyError>, Vec<u8>, Vec<u8>, usize) {
    let mut body = BodyDecoder::new(framing, &limits);
    let (mut data, mut trailers, mut pos) = (Vec::new(), Vec::new(), 0);
    let mut ends: Vec<usize> = cuts.iter().map(|&c| c.min(wire.len())).collect();
    ends.push(wire.len());
    ends.sort_unstable();
    for end in ends {
        loop {
            let input = &wire[pos..end];
            let d = match body.decode(input) {
                Ok(d) => d,
                // How far the bytes before an error were consumed depends on the cuts.
                Err(e) => return (Err(e), data, trailers, 0),
            };
            data.extend_from_slice(d.data(input));
            trailers.extend_from_slice(&input[d.trailers.clone()]);
            pos += d.consumed;
            if d.done {
                return (Ok(true), data, trailers, pos);
            }
            if d.consumed == 0 {
                break;
            }
        }
    }
    (Ok(false), data, trailers, pos)
}

#[test]
fn chunked_bodies_decode_with_extensions_and_trailers() {
    let wire = b"4;a=b;c\r\nWiki\r\n5 ; q=\"x;y\"\r\npedia\r\n000\r\nX-A: 1\r\nX-B: 2\r\n\r\nNEXT";
    let (r, data, trailers, pos) = decode_in_pieces(Framing::Chunked, Limits::DEFAULT, wire, &[]);
    assert_eq!(r, Ok(true));
    assert_eq!(data, b"Wikipedia");
    assert_eq!(&wire[pos..], b"NEXT");
    let mut headers = [Header::EMPTY; 4];
    let fields = parse_fields(&trailers, &mut headers).unwrap();
    assert_eq!(fields.len(), 2);
    assert_eq!(
        fields[1],
        Header {
            name: "X-B",
            value: b"2"
        }
    );
    for cut in 0..wire.len() {
        let split = decode_in_pieces(Framing::Chunked, Limits::DEFAULT, wire, &[cut]);
        assert_eq!(
            split,
            (r, data.clone(), trailers.clone(), pos),
            "cut at {cut}"
        );
    }
    let bytewise: Vec<usize> = (0..wire.len()).collect();
    assert_eq!(
        decode_in_pieces(Framing::Chunked, Limits::DEFAULT, wire, &bytewise),
        (r, data, trailers, pos)
    );
}

#[test]
fn malformed_chunked_bodies_are_rejected() {
    let cases: [(&[u8], BodyError); 9] = [
        (b"x\r\n", BodyError::InvalidChunkSize),
        (b"5 \r\n", BodyError::InvalidChunkSize),
        (b"2 erf\r\n", BodyError::InvalidChunkSize),
        (b"5;\r\n", BodyError::InvalidChunkExtension),
        (b"5;a=\"b\r\n", BodyError::InvalidChunkExtension),
        (b"5;a=b c\r\n", BodyError::InvalidChunkExtension),
        (b"1\r\nAB\r\n", BodyError::MissingChunkCrlf),
        (b"3\r\nfoo\r\n\r\n", BodyError::InvalidChunkSize),
        (
            b"0\r\nX : 1\r\n\r\n",
            BodyError::InvalidTrailer(HeadError::WhitespaceBeforeColon),
        ),
    ];
    for (wire, err) in cases {
        let (r, ..) = decode_in_pieces(Framing::Chunked, Limits::DEFAULT, wire, &[]);
        assert_eq!(r, Err(err), "{:?}", String::from_utf8_lossy(wire));
    }
    let (r, ..) = decode_in_pieces(
        Framing::Chunked,
        Limits::DEFAULT,
        b"0\r\nX: 1\r\n folded\r\n\r\n",
        &[],
    );
    assert_eq!(r, Err(BodyError::InvalidTrailer(HeadError::ObsFold)));
}

#[test]
fn a_body_cut_short_is_truncated_at_end_of_file() {
    let mut body = BodyDecoder::new(Framing::Length(5), &Limits::DEFAULT);
    assert_eq!(body.decode(b"abc").unwrap().data, 0..3);
    assert_eq!(body.finish(), Err(BodyError::Truncated));
    let mut body = BodyDecoder::new(Framing::CloseDelimited, &Limits::DEFAULT);
    body.decode(b"abc").unwrap();
    assert_eq!(body.finish(), Ok(()));
    assert!(body.is_done());
}

#[test]
fn content_length_bodies_stop_at_their_length() {
    let (r, data, _, pos) =
        decode_in_pieces(Framing::Length(5), Limits::DEFAULT, b"helloGET", &[2, 3]);
    assert_eq!((r, &data[..], pos), (Ok(true), &b"hello"[..], 5));
    let mut none = BodyDecoder::new(Framing::None, &Limits::DEFAULT);
    let d = none.decode(b"GET").unwrap();
    assert_eq!((d.consumed, d.done), (0, true));
}

// ---------------------------------------------------------------------------------------------
// Serializing.

#[test]
fn serialized_heads_use_canonical_reasons_and_parse_back() {
    let mut buf = [0u8; 128];
    let n = encode_response_head(
        &mut buf,
        Version::HTTP_11,
        431,
        None,
        &[Header {
            name: "Connection",
            value: b"close",
        }],
    )
    .unwrap();
    assert_eq!(
        &buf[..n],
        b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n"
    );
    assert!(!with_response(&buf[..n], |r| r.keep_alive()));
    let n = encode_status_line(&mut buf, Version::HTTP_10, 299, None).unwrap();
    assert_eq!(&buf[..n], b"HTTP/1.0 299 \r\n");
    let n = encode_status_line(&mut buf, Version::HTTP_11, 200, Some(b"Fine")).unwrap();
    assert_eq!(&buf[..n], b"HTTP/1.1 200 Fine\r\n");
    assert_eq!(reason_phrase(505), Some("HTTP Version Not Supported"));
    let n = encode_request_line(&mut buf, "OPTIONS", "*", Version::HTTP_11).unwrap();
    let m = encode_header(&mut buf[n..], "Host", b"h").unwrap();
    buf[n + m..n + m + 2].copy_from_slice(b"\r\n");
    assert_eq!(
        with_request(&buf[..n + m + 2], |r| format!(
            "{} {}",
            r.method(),
            r.target()
        )),
        "OPTIONS *"
    );
}

#[test]
fn serializing_refuses_what_would_not_parse_back() {
    let mut buf = [0u8; 64];
    let h = |name, value| [Header { name, value }];
    assert_eq!(
        encode_request_head(&mut buf, "GE T", "/", Version::HTTP_11, &[]),
        Err(EncodeError::InvalidMethod)
    );
    assert_eq!(
        encode_request_head(&mut buf, "GET", "/a b", Version::HTTP_11, &[]),
        Err(EncodeError::InvalidTarget)
    );
    assert_eq!(
        encode_request_head(
            &mut buf,
            "GET",
            "/",
            Version {
                major: 10,
                minor: 0
            },
            &[]
        ),
        Err(EncodeError::InvalidVersion)
    );
    for (name, value, err) in [
        ("X Y", &b"1"[..], EncodeError::InvalidHeaderName),
        ("X", b"1\r\nY: 2", EncodeError::InvalidHeaderValue),
        ("X", b" 1", EncodeError::InvalidHeaderValue),
        ("X", b"1\t", EncodeError::InvalidHeaderValue),
        ("X", b"\0", EncodeError::InvalidHeaderValue),
    ] {
        assert_eq!(
            encode_request_head(&mut buf, "GET", "/", Version::HTTP_11, &h(name, value)),
            Err(err)
        );
        assert_eq!(encode_last_chunk(&mut buf, &h(name, value)), Err(err));
    }
    assert_eq!(
        encode_status_line(&mut buf, Version::HTTP_11, 600, None),
        Err(EncodeError::InvalidStatus)
    );
    assert_eq!(
        encode_status_line(&mut buf, Version::HTTP_11, 200, Some(b"O\nK")),
        Err(EncodeError::InvalidReason)
    );
}

#[test]
fn serializing_into_a_short_buffer_writes_nothing() {
    let mut buf = [b'#'; 20];
    let err = encode_request_head(
        &mut buf,
        "GET",
        "/",
        Version::HTTP_11,
        &[Header {
            name: "Host",
            value: b"example.com",
        }],
    )
    .unwrap_err();
    assert_eq!(err, EncodeError::BufferTooSmall { needed: 37 });
    assert_eq!(buf, [b'#'; 20]);
    assert_eq!(
        encode_chunk_header(&mut buf[..2], 0x100),
        Err(EncodeError::BufferTooSmall { needed: 5 })
    );
}

#[test]
fn chunks_serialize_and_decode_back() {
    let mut wire = vec![0u8; 64];
    let mut n = encode_chunk(&mut wire, b"hello ").unwrap();
    n += encode_chunk(&mut wire[n..], b"").unwrap();
    n += encode_chunk_header(&mut wire[n..], 5).unwrap();
    wire[n..n + 7].copy_from_slice(b"world\r\n");
    n += 7;
    n += encode_last_chunk(
        &mut wire[n..],
        &[Header {
            name: "X-T",
            value: b"1",
        }],
    )
    .unwrap();
    let (r, data, trailers, pos) =
        decode_in_pieces(Framing::Chunked, Limits::DEFAULT, &wire[..n], &[]);
    assert_eq!(
        (r, &data[..], &trailers[..], pos),
        (Ok(true), &b"hello world"[..], &b"X-T: 1\r\n"[..], n)
    );
}

// ---------------------------------------------------------------------------------------------
// Properties.

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,10}"
}

/// A field value as the serializer accepts it: text without leading or trailing whitespace.
fn field_value() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            8 => 0x21u8..=0x7e,
            1 => 0x80u8..=0xff,
            1 => Just(b' '),
            1 => Just(b'\t'),
        ],
        0..16,
    )
    .prop_map(|mut v| {
        while v.last().is_some_and(|b| b.is_ascii_whitespace()) {
            v.pop();
        }
        while v.first().is_some_and(|b| b.is_ascii_whitespace()) {
            v.remove(0);
        }
        v
    })
}

fn fields() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    prop::collection::vec(
        (token().prop_map(|t| format!("x-{t}")), field_value()),
        0..6,
    )
}

#[derive(Clone, Debug)]
struct Message {
    method: String,
    target: String,
    fields: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    /// Chunk sizes (chunked) or `None` (Content-Length).
    chunks: Option<Vec<usize>>,
    trailers: Vec<(String, Vec<u8>)>,
}

fn message() -> impl Strategy<Value = Message> {
    (
        token(),
        "/[!-~]{0,24}",
        fields(),
        prop::collection::vec(any::<u8>(), 0..300),
        prop::option::of(prop::collection::vec(1usize..64, 1..8)),
        fields(),
    )
        .prop_map(|(method, target, fields, body, chunks, trailers)| Message {
            method,
            target,
            fields,
            body,
            trailers: if chunks.is_some() {
                trailers
            } else {
                Vec::new()
            },
            chunks,
        })
}

fn headers_of<'a>(fields: &'a [(String, Vec<u8>)]) -> Vec<Header<'a>> {
    fields
        .iter()
        .map(|(n, v)| Header { name: n, value: v })
        .collect()
}

/// The message's body bytes on the wire, chunked or not.
fn encode_body(m: &Message) -> Vec<u8> {
    let Some(sizes) = &m.chunks else {
        return m.body.clone();
    };
    let mut out = vec![0u8; m.body.len() * 2 + 4096];
    let mut n = 0;
    let mut rest = &m.body[..];
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (piece, after) = rest.split_at(size.min(rest.len()));
        n += encode_chunk(&mut out[n..], piece).unwrap();
        rest = after;
    }
    n += encode_last_chunk(&mut out[n..], &headers_of(&m.trailers)).unwrap();
    out.truncate(n);
    out
}

fn encode_request(m: &Message) -> Vec<u8> {
    let length = m.body.len().to_string();
    let mut headers = vec![Header {
        name: "Host",
        value: b"example.com",
    }];
    headers.extend(headers_of(&m.fields));
    headers.push(match m.chunks {
        Some(_) => Header {
            name: "Transfer-Encoding",
            value: b"chunked",
        },
        None => Header {
            name: "Content-Length",
            value: length.as_bytes(),
        },
    });
    let mut out = vec![0u8; 4096];
    let n =
        encode_request_head(&mut out, &m.method, &m.target, Version::HTTP_11, &headers).unwrap();
    out.truncate(n);
    out.extend(encode_body(m));
    out
}

/// Cuts `raw` at `cuts` (positions, any order, clamped).
fn pieces<'a>(raw: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|&c| c % (raw.len() + 1)).collect();
    at.push(0);
    at.push(raw.len());
    at.sort_unstable();
    at.windows(2).map(|w| &raw[w[0]..w[1]]).collect()
}

/// Replaces or inserts bytes that matter to HTTP at the given places.
fn mutate(raw: &mut Vec<u8>, edits: &[(usize, u8, bool)]) {
    const SPECIAL: &[u8] = b"\r\n \t:;,=\"\\0aF\x00\x7f\xff";
    for &(at, pick, insert) in edits {
        let b = SPECIAL[pick as usize % SPECIAL.len()];
        let at = at % (raw.len() + 1);
        if insert || at == raw.len() {
            raw.insert(at, b);
        } else {
            raw[at] = b;
        }
    }
}

proptest! {
    #[test]
    fn serialized_requests_parse_back_to_themselves(
        m in message(),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let wire = encode_request(&m);
        let mut headers = [Header::EMPTY; 16];
        let req = RequestParser::new(Limits::DEFAULT)
            .parse(&wire, &mut headers)
            .unwrap()
            .complete()
            .unwrap();
        prop_assert_eq!((req.method(), req.target()), (&m.method[..], &m.target[..]));
        prop_assert_eq!(req.version(), Version::HTTP_11);
        let parsed: Vec<(String, Vec<u8>)> = req.headers()[1..=m.fields.len()]
            .iter()
            .map(|h| (h.name.to_owned(), h.value.to_vec()))
            .collect();
        prop_assert_eq!(&parsed, &m.fields);
        let framing = req.framing();
        prop_assert_eq!(
            framing,
            if m.chunks.is_some() { Framing::Chunked } else { Framing::Length(m.body.len() as u64) }
        );
        let body_at = req.head_len();
        let (r, data, trailers, pos) =
            decode_in_pieces(framing, Limits::DEFAULT, &wire[body_at..], &cuts);
        prop_assert_eq!(r, Ok(true));
        prop_assert_eq!(&data, &m.body);
        prop_assert_eq!(body_at + pos, wire.len());
        let mut th = [Header::EMPTY; 8];
        let parsed: Vec<(String, Vec<u8>)> = parse_fields(&trailers, &mut th)
            .unwrap()
            .iter()
            .map(|h| (h.name.to_owned(), h.value.to_vec()))
            .collect();
        prop_assert_eq!(&parsed, &m.trailers);

        let whole = run_pieces(Kind::Request, true, false, Limits::DEFAULT, [&wire[..]]);
        prop_assert_eq!(&whole.0, &Outcome::Accept);
        let split = run_pieces(Kind::Request, true, false, Limits::DEFAULT, pieces(&wire, &cuts));
        prop_assert_eq!(split, whole);
    }

    #[test]
    fn serialized_responses_parse_back_to_themselves(
        m in message(),
        status in prop_oneof![Just(200u16), Just(201), Just(404), Just(500), 205u16..=299],
        reason in prop::option::of("[ -~]{0,12}"),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let length = m.body.len().to_string();
        let mut headers = headers_of(&m.fields);
        headers.push(match m.chunks {
            Some(_) => Header { name: "Transfer-Encoding", value: b"chunked" },
            None => Header { name: "Content-Length", value: length.as_bytes() },
        });
        let mut wire = vec![0u8; 4096];
        let n = encode_response_head(
            &mut wire, Version::HTTP_11, status, reason.as_deref().map(str::as_bytes), &headers,
        ).unwrap();
        wire.truncate(n);
        wire.extend(encode_body(&m));
        let mut parsed_headers = [Header::EMPTY; 16];
        let resp = ResponseParser::new(Limits::DEFAULT)
            .parse(&wire, &mut parsed_headers)
            .unwrap()
            .complete()
            .unwrap();
        let expected_reason = reason.clone().unwrap_or_else(|| reason_phrase(status).unwrap_or("").into());
        prop_assert_eq!(resp.status(), status);
        prop_assert_eq!(resp.reason(), expected_reason.as_bytes());
        prop_assert_eq!(resp.headers(), &headers[..]);
        let whole = run_pieces(Kind::Response, true, false, Limits::DEFAULT, [&wire[..]]);
        prop_assert_eq!(&whole.0, &Outcome::Accept);
        let mut expected_body = vec![];
        for seen in &whole.1 {
            if let Seen::Data(d) = seen { expected_body.extend_from_slice(d); }
        }
        prop_assert_eq!(&expected_body, &m.body);
        let split = run_pieces(Kind::Response, true, false, Limits::DEFAULT, pieces(&wire, &cuts));
        prop_assert_eq!(split, whole);
    }

    #[test]
    fn mangled_messages_give_the_same_result_whole_or_in_pieces(
        m in message(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<bool>()), 1..4),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
        response in any::<bool>(),
    ) {
        let mut wire = encode_request(&m);
        if response {
            let line_end = wire.windows(2).position(|w| w == b"\r\n").unwrap();
            wire.splice(..line_end, b"HTTP/1.1 200 OK".iter().copied());
        }
        mutate(&mut wire, &edits);
        let kind = if response { Kind::Response } else { Kind::Request };
        let whole = run_pieces(kind, true, false, Limits::DEFAULT, [&wire[..]]);
        let split = run_pieces(kind, true, false, Limits::DEFAULT, pieces(&wire, &cuts));
        prop_assert_eq!(&split, &whole);
        let bytes = run_pieces(kind, true, false, Limits::DEFAULT, wire.chunks(1));
        prop_assert_eq!(bytes, whole);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_split_like_whole(
        raw in prop::collection::vec(any::<u8>(), 0..512),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
        tight in any::<bool>(),
    ) {
        let limits = if tight {
            Limits {
                max_request_line: 24,
                max_headers: 3,
                max_head_size: 64,
                max_body_size: 32,
                max_chunk_ext: 8,
                max_trailer_size: 16,
            }
        } else {
            Limits::DEFAULT
        };
        for kind in [Kind::Request, Kind::Response] {
            let whole = run_pieces(kind, true, false, limits, [&raw[..]]);
            let split = run_pieces(kind, true, false, limits, pieces(&raw, &cuts));
            prop_assert_eq!(split, whole);
        }
        for framing in [Framing::Chunked, Framing::CloseDelimited, Framing::Length(100)] {
            let whole = decode_in_pieces(framing, limits, &raw, &[]);
            let split = decode_in_pieces(framing, limits, &raw, &cuts);
            prop_assert_eq!(split, whole);
        }
    }
}
