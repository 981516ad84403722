//! Response heads and their bodies (answering GET or HEAD): never a panic, and the same result
//! whether the input arrives whole or in two pieces. A hash of the input picks the cut and
//! the limits, so the input itself is the message (the seeds are raw corpus cases).
#![no_main]

use levent_core::http::{Header, Limits, ResponseParser, Status};
use libfuzzer_sys::fuzz_target;

mod common;

/// Parses the response in `raw`, fed up to each of `ends`, then decodes its body.
fn run(raw: &[u8], limits: Limits, method: &str, ends: &[usize]) -> String {
    let mut parser = ResponseParser::new(limits);
    for &end in ends {
        let mut headers = [Header::EMPTY; 16];
        let resp = match parser.parse(&raw[..end], &mut headers) {
            Err(e) => return format!("head error {e:?} ({})", e.status()),
            Ok(Status::Partial) => continue,
            Ok(Status::Complete(resp)) => resp,
        };
        assert!(resp.head_len() <= end);
        let framing = resp.framing(method);
        let head = format!(
            "{} {:?} {:?} {:?} {:?} {} {}",
            resp.status(),
            resp.reason(),
            resp.version(),
            resp.headers(),
            framing,
            resp.keep_alive(),
            resp.is_interim()
        );
        return common::body(&head, framing, &limits, raw, resp.head_len());
    }
    "partial".into()
}

fuzz_target!(|data: &[u8]| {
    let raw = data;
    let pick = common::pick(raw);
    let limits = common::limits(pick);
    let method = if pick & 2 == 0 { "GET" } else { "HEAD" };
    let cut = usize::from(pick >> 2) * raw.len() / 63;
    let whole = run(raw, limits, method, &[raw.len()]);
    let split = run(raw, limits, method, &[cut.min(raw.len()), raw.len()]);
    assert_eq!(whole, split);
});
