//! What the HTTP fuzz targets share: the tight limits, the hash of the input that picks the
//! limits and the cut, and decoding a body to the end.
#![allow(dead_code)] // Each target uses its part.

use levent_core::http::{BodyDecoder, Framing, Limits};

/// Limits small enough that the fuzzer reaches every "too large" path.
pub const TIGHT: Limits = Limits {
    max_request_line: 64,
    max_headers: 8,
    max_head_size: 256,
    max_body_size: 512,
    max_chunk_ext: 16,
    max_trailer_size: 64,
};

/// A byte hashed from the input: the input itself is the message (the seeds are raw corpus
/// cases), and the choices a target makes come from this byte.
pub fn pick(raw: &[u8]) -> u8 {
    raw.iter()
        .fold(0x9eu8, |h, &b| h.rotate_left(3) ^ b)
        .wrapping_add(raw.len() as u8)
}

/// The limits that bit 0 of `pick` chooses.
pub fn limits(pick: u8) -> Limits {
    if pick & 1 == 0 {
        Limits::DEFAULT
    } else {
        TIGHT
    }
}

/// Decodes the body framed by `framing` that starts at `pos` of `raw`, and describes it after
/// `head`.
pub fn body(head: &str, framing: Framing, limits: &Limits, raw: &[u8], mut pos: usize) -> String {
    let mut body = BodyDecoder::new(framing, limits);
    let mut data = Vec::new();
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
