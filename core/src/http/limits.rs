//! [`Limits`]: how much a peer may send before the codec refuses.

/// Caller-chosen bounds. Each one exceeded is its own error, with its own status code: the start
/// line answers 414, the header fields 431, the body 413.
///
/// Lengths count raw bytes. A line's length excludes its line ending; the head size includes
/// everything up to and including the empty line that ends the head (and any empty lines the
/// parser skipped before the start line).
///
/// ```
/// use levent_core::http::Limits;
///
/// // A small device: short heads, bodies of at most 64 KiB.
/// let limits = Limits { max_head_size: 2048, max_headers: 16, max_body_size: 64 * 1024, ..Limits::DEFAULT };
/// assert_eq!(limits.max_request_line, Limits::DEFAULT.max_request_line);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Limits {
    /// Longest request line (or status line), in bytes. Over it: `StartLineTooLong` (414).
    pub max_request_line: usize,
    /// Most field lines in a head. Over it: `TooManyHeaders` (431). The caller's header array is
    /// a second bound: the smaller one applies.
    pub max_headers: usize,
    /// Largest head, in bytes. Over it: `HeadTooLarge` (431).
    pub max_head_size: usize,
    /// Largest body, in bytes, for any framing. Over it: `BodyTooLarge` (413).
    pub max_body_size: u64,
    /// Longest chunk extension, in bytes: everything on a chunk-size line after the size and
    /// before the CRLF, `;` included. Leading zeros beyond the size's 16th digit count here too,
    /// so no chunk-size line is longer than 16 + this. Over it: `ChunkExtensionTooLong` (400).
    pub max_chunk_ext: usize,
    /// Largest trailer section, in bytes, including its final empty line. Over it:
    /// `TrailersTooLarge` (431).
    pub max_trailer_size: usize,
}

impl Limits {
    /// Apache's and nginx's defaults for the head (8 KiB lines, 100 fields, 16 KiB in all), 1 KiB
    /// of chunk extensions, 8 KiB of trailers, and no bound on the body (as in libevent and
    /// hyper: the body is streamed, so its size costs no memory here).
    pub const DEFAULT: Limits = Limits {
        max_request_line: 8 * 1024,
        max_headers: 100,
        max_head_size: 16 * 1024,
        max_body_size: u64::MAX,
        max_chunk_ext: 1024,
        max_trailer_size: 8 * 1024,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}
