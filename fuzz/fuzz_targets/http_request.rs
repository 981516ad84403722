//! Request heads and their bodies: never a panic, and the same result whether the input arrives
//! whole or in two pieces. A hash of the input picks the cut and
//! the limits, so the input itself is the message (the seeds are raw corpus cases).
#![no_main]

use levent_core::http::{Header, Limits, RequestParser, Status};
use libfuzzer_sys::fuzz_target;

mod common;

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
        return common::body(&head, req.framing(), &limits, raw, req.head_len());
    }
    "partial".into()
}

fuzz_target!(|data: &[u8]| {
    let raw = data;
    let pick = common::pick(raw);
    let limits = common::limits(pick);
    let cut = usize::from(pick >> 1) * raw.len() / 127;
    let whole = run(raw, limits, &[raw.len()]);
    let split = run(raw, limits, &[cut.min(raw.len()), raw.len()]);
    assert_eq!(whole, split);
});
