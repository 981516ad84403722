//! Chunked bodies: never a panic, and the same data, trailers, verdict and end whether the input
//! arrives whole, in two pieces, or one byte at a time (keeping unconsumed bytes, as a caller
//! must). A hash of the input picks the cut and the limits.
#![no_main]

use levent_core::http::{BodyDecoder, Framing, Header, Limits, parse_fields};
use libfuzzer_sys::fuzz_target;

mod common;

fn run(raw: &[u8], limits: Limits, ends: &[usize]) -> String {
    let mut body = BodyDecoder::new(Framing::Chunked, &limits);
    let (mut pos, mut data, mut trailers) = (0, Vec::new(), Vec::new());
    for &end in ends {
        loop {
            let input = &raw[pos..end];
            let d = match body.decode(input) {
                Ok(d) => d,
                // Where the error is found depends on how the bytes were cut; what it is does not.
                Err(e) => return format!("{data:?} error {e:?} ({})", e.status()),
            };
            assert!(d.consumed <= input.len() && d.data.end <= d.consumed.max(d.data.end));
            data.extend_from_slice(d.data(input));
            trailers.extend_from_slice(&input[d.trailers.clone()]);
            pos += d.consumed;
            if d.done {
                let mut headers = [Header::EMPTY; 16];
                let fields = parse_fields(&trailers, &mut headers).map(|f| f.len());
                return format!("{data:?} done at {pos}, trailers {fields:?}");
            }
            if d.consumed == 0 {
                break;
            }
        }
    }
    format!("{data:?} partial at {pos}")
}

fuzz_target!(|data: &[u8]| {
    let raw = data;
    let pick = common::pick(raw);
    let limits = common::limits(pick);
    let cut = (usize::from(pick >> 1) * raw.len() / 127).min(raw.len());
    let whole = run(raw, limits, &[raw.len()]);
    assert_eq!(whole, run(raw, limits, &[cut, raw.len()]));
    let bytewise: Vec<usize> = (1..=raw.len()).collect();
    assert_eq!(whole, run(raw, limits, &bytewise));
});
