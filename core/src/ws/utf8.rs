//! UTF-8 validation of a text message that arrives in pieces: a sequence may be split between
//! two pieces (or two frames), so the validator carries the start of an unfinished sequence.

/// Validates a stream of pieces as one UTF-8 text.
///
/// ```
/// use levent_core::ws::Utf8Stream;
///
/// let text = "grüße, ✓".as_bytes();
/// let mut v = Utf8Stream::default();
/// for piece in text.chunks(1) {
///     assert!(v.feed(piece));
/// }
/// assert!(v.finish());
///
/// let mut v = Utf8Stream::default();
/// assert!(v.feed(&text[..3])); // "gr" and the first byte of "ü"
/// assert!(!v.finish()); // the text ended inside a sequence
/// assert!(!Utf8Stream::default().feed(b"\xff"));
/// ```
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Utf8Stream {
    carry: [u8; 4],
    held: u8,
}

/// How long the sequence that starts with `b` is (0 for a byte that cannot start one).
fn seq_len(b: u8) -> usize {
    match b {
        0x00..=0x7f => 1,
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => 0,
    }
}

impl Utf8Stream {
    /// Take the next piece: `false` as soon as the text cannot be valid UTF-8 whatever follows.
    pub fn feed(&mut self, mut piece: &[u8]) -> bool {
        if self.held > 0 {
            let held = usize::from(self.held);
            let need = seq_len(self.carry[0]).saturating_sub(held);
            let take = need.min(piece.len());
            self.carry[held..held + take].copy_from_slice(&piece[..take]);
            let have = held + take;
            piece = &piece[take..];
            match core::str::from_utf8(&self.carry[..have]) {
                Ok(_) => self.held = 0,
                Err(e) if e.error_len().is_none() => {
                    // Still unfinished: the whole piece went into the carry.
                    self.held = have as u8;
                    return true;
                }
                Err(_) => return false,
            }
        }
        match core::str::from_utf8(piece) {
            Ok(_) => true,
            Err(e) if e.error_len().is_none() => {
                let rest = &piece[e.valid_up_to()..];
                self.carry[..rest.len()].copy_from_slice(rest);
                self.held = rest.len() as u8;
                true
            }
            Err(_) => false,
        }
    }

    /// The text ended: whether it did not end inside a sequence. The validator is ready for a
    /// new text after.
    pub fn finish(&mut self) -> bool {
        let whole = self.held == 0;
        self.held = 0;
        whole
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every split of valid and invalid texts gives the answer of validating them whole.
    #[test]
    fn any_split_agrees_with_whole_validation() {
        let samples: [&[u8]; 10] = [
            "κόσμε".as_bytes(),
            "\u{10ffff}\u{0}a".as_bytes(),
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
            b"\xf4\x90\x80\x80",
            b"\xc0\xaf",
            b"\xe0\x80\xaf",
            b"abc\xf0\x9f\x98",
            b"\xf0\x9f\x98\x80",
            b"\xed\x9f\xbf",
            b"\xe2\x82",
        ];
        for s in samples {
            let whole = core::str::from_utf8(s).is_ok();
            for a in 0..=s.len() {
                for b in a..=s.len() {
                    let mut v = Utf8Stream::default();
                    let ok = v.feed(&s[..a]) && v.feed(&s[a..b]) && v.feed(&s[b..]) && v.finish();
                    assert_eq!(ok, whole, "{s:02x?} split at {a}, {b}");
                }
            }
        }
    }
}
