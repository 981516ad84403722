//! Byte classes of RFC 9110 §5.6 and RFC 9112, and the small list helpers built on them.

// Byte classes, one bit each in `CLASS`.
const TCHAR: u8 = 1;
const VCHAR: u8 = 2;
const TEXT: u8 = 4;
const QDTEXT: u8 = 8;

/// The classes of every byte: a table load per byte instead of a chain of comparisons (the head
/// parser checks every byte of every field).
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let tchar = matches!(c,
            b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_'
            | b'`' | b'|' | b'~' | b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z');
        let vchar = matches!(c, 0x21..=0x7e);
        let text = c == b' ' || c == b'\t' || vchar || c >= 0x80;
        let qdtext = text && c != b'"' && c != b'\\';
        let mut class = 0;
        if tchar {
            class |= TCHAR;
        }
        if vchar {
            class |= VCHAR;
        }
        if text {
            class |= TEXT;
        }
        if qdtext {
            class |= QDTEXT;
        }
        t[b] = class;
        b += 1;
    }
    t
};

/// `tchar`: the characters of a token (methods, field names, codings, extension names).
pub(crate) const fn is_tchar(b: u8) -> bool {
    CLASS[b as usize] & TCHAR != 0
}

/// `VCHAR`: visible US-ASCII.
pub(crate) const fn is_vchar(b: u8) -> bool {
    CLASS[b as usize] & VCHAR != 0
}

/// `SP / HTAB`.
pub(crate) const fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// A byte allowed inside a field value, a reason phrase or a quoted string's `qdtext`-like
/// content: `HTAB / SP / VCHAR / obs-text`.
pub(crate) const fn is_text(b: u8) -> bool {
    CLASS[b as usize] & TEXT != 0
}

/// `qdtext`: [`is_text`] without `"` and `\`.
pub(crate) const fn is_qdtext(b: u8) -> bool {
    CLASS[b as usize] & QDTEXT != 0
}

/// A non-empty run of `tchar`.
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// `s` without leading and trailing `OWS`.
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_ws(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_ws(*last) {
            break;
        }
        s = rest;
    }
    s
}

/// The elements of a comma-separated list (`#rule`), each without its `OWS`. Empty elements are
/// yielded too; callers decide whether they matter.
pub(crate) fn list(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',').map(trim_ows)
}

/// `s` split at the first `d`, without the `d`.
pub(crate) fn split_once(s: &[u8], d: u8) -> Option<(&[u8], &[u8])> {
    let i = s.iter().position(|&b| b == d)?;
    Some((s.get(..i)?, s.get(i + 1..)?))
}

/// The value of an ASCII hexadecimal digit.
pub(crate) const fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `1*DIGIT` as a `u64`; `None` on anything else or on overflow.
pub(crate) fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// Whether `s` is `token / quoted-string` (the value of a parameter or chunk extension).
pub(crate) fn is_token_or_quoted(s: &[u8]) -> bool {
    match s {
        [b'"', inner @ .., b'"'] => {
            let mut escaped = false;
            for &b in inner {
                if escaped {
                    if !is_text(b) {
                        return false;
                    }
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if !is_qdtext(b) {
                    return false;
                }
            }
            !escaped
        }
        _ => is_token(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_class_table_agrees_with_the_grammar() {
        for b in 0..=255u8 {
            let tchar = b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            assert_eq!(is_tchar(b), tchar, "{b}");
            assert_eq!(is_vchar(b), (0x21..=0x7e).contains(&b), "{b}");
            let text = b == b' ' || b == b'\t' || (0x21..=0x7e).contains(&b) || b >= 0x80;
            assert_eq!(is_text(b), text, "{b}");
            assert_eq!(is_qdtext(b), text && b != b'"' && b != b'\\', "{b}");
        }
    }

    #[test]
    fn trim_and_lists() {
        assert_eq!(trim_ows(b" \t a b\t "), b"a b");
        assert_eq!(trim_ows(b"  "), b"");
        let v: heapless::Vec<&[u8], 4> = list(b"a, b ,,c").collect();
        assert_eq!(&v[..], &[&b"a"[..], b"b", b"", b"c"]);
    }

    #[test]
    fn decimals_and_quoted() {
        assert_eq!(parse_decimal(b"003"), Some(3));
        assert_eq!(parse_decimal(b"18446744073709551616"), None);
        assert_eq!(parse_decimal(b"4 2"), None);
        assert!(is_token_or_quoted(br#""a \"b\" ; c""#));
        assert!(!is_token_or_quoted(br#""a\""#));
        assert!(!is_token_or_quoted(b"a b"));
    }
}
