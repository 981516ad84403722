//! Request heads and their bodies: never a panic, and the same result whether the input arrives
//! whole or in two pieces. A hash of the input picks the cut and
//! the limits, so the input itself is the message (the seeds are raw corpus cases).
#![no_main]

use levent_core::http::{BodyDecoder, Header, Limits, RequestParser, Status};
use libfuzzer_sys::fuzz_target;

const TIGHT: Limits = Limits {
    max_request_line: 64,
    max_headers: 8,
    max_head_size: 256,
    max_body_size: 512,
    max_chunk_ext: 16,
    max_trailer_size: 64,
};

/// Parses the request in `raw`, fed up to each of `ends`, then decodes its body.
fn run(raw: &[u8], limits: Limits, ends: &[usize]) -> String {
    let mut parser = RequestParser::new(limits);
    for &end in ends {
        let mut headers = [Header::EMPTY; 16];
        let req = match parser.parse(&raw[..end], &mut headers) {
            Err(e) => return format!("head error {e:?} ({})", e.status()),
            Ok(Status::Partial) => continue,
            Ok(Status::Complete(req)) => req,
        };
        assert!(req.head_len() <= end);
        let head = format!(
            "{} {} {:?} {:?} {:?} {} {} {:?}",
            req.method(),
            req.target(),
            req.version(),
            req.headers(),
            req.framing(),
            req.keep_alive(),
            req.expects_continue(),
            req.upgrade()
        );
        let mut body = BodyDecoder::new(req.framing(), &limits);
        let (mut pos, mut data) = (req.head_len(), Vec::new());
        loop {
            match body.decode(&raw[pos..]) {
                Err(e) => return format!("{head} body error {e:?}"),
                Ok(d) => {
                    data.extend_from_slice(d.data(&raw[pos..]));
                    pos += d.consumed;
                    if d.done || d.consumed == 0 {
                        return format!("{head} {data:?} done={} at {pos}", d.done);
                    }
                }
            }
        }
    }
    "partial".into()
}

fuzz_target!(|data: &[u8]| {
    let raw = data;
    let pick = raw
        .iter()
        .fold(0x9eu8, |h, &b| h.rotate_left(3) ^ b)
        .wrapping_add(raw.len() as u8);
    let limits = if pick & 1 == 0 {
        Limits::DEFAULT
    } else {
        TIGHT
    };
    let cut = usize::from(pick >> 1) * raw.len() / 127;
    let whole = run(raw, limits, &[raw.len()]);
    let split = run(raw, limits, &[cut.min(raw.len()), raw.len()]);
    assert_eq!(whole, split);
});
