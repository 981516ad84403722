//! Byte buffers (libevent's evbuffer): the [`Buffer`] trait, and [`RingBuffer`], a fixed-capacity
//! ring that needs no allocator.
//!
//! One API for two representations: `RingBuffer<N>` here, for firmware and anything that wants a
//! hard bound, and a growable chain of blocks in `levent-hosts` (`ChainBuffer`) for hosts. Both
//! append, drain, peek, search, read lines with libevent's end-of-line styles, lend free space for a
//! transport to read into without a copy (`reserve` then `commit`), and implement embedded-io's
//! `Read` and `Write`. A fixed buffer that fills up takes what fits and says how much; nothing is
//! dropped silently.
//!
//! ```
//! use levent_core::buffer::{Buffer, Eol, RingBuffer};
//!
//! let mut buf = RingBuffer::<64>::new();
//! assert_eq!(buf.append(b"GET / HTTP/1.1\r\nHost: x\r\n"), 25);
//! let mut line = [0u8; 32];
//! assert_eq!(buf.read_line(Eol::CrlfStrict, &mut line), Ok(Some(14)));
//! assert_eq!(&line[..14], b"GET / HTTP/1.1");
//! assert_eq!(buf.find(b"x", 0), Some(6));
//! ```

use core::fmt;

/// How a line ends, for [`Buffer::read_line`] (libevent's `evbuffer_eol_style`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Eol {
    /// Any sequence of CR and LF characters (`EVBUFFER_EOL_ANY`). A CR at the very end of the
    /// data ends the line; a LF that arrives later then ends an empty line, as in libevent.
    Any,
    /// LF, optionally preceded by CR (`EVBUFFER_EOL_CRLF`).
    Crlf,
    /// Exactly CR LF (`EVBUFFER_EOL_CRLF_STRICT`); a bare LF is part of the line.
    CrlfStrict,
    /// LF (`EVBUFFER_EOL_LF`).
    Lf,
    /// A NUL byte (`EVBUFFER_EOL_NUL`).
    Nul,
}

/// A complete line did not fit in the output slice given to [`Buffer::read_line`]; nothing was
/// consumed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LineTooLong {
    /// The length of the line, without its end-of-line bytes.
    pub len: usize,
}

impl fmt::Display for LineTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line of {} bytes does not fit", self.len)
    }
}

impl core::error::Error for LineTooLong {}

/// The buffer is full: a fixed-capacity buffer could not take any of the bytes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BufferFull;

impl fmt::Display for BufferFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("buffer full")
    }
}

impl core::error::Error for BufferFull {}

impl embedded_io::Error for BufferFull {
    fn kind(&self) -> embedded_io::ErrorKind {
        embedded_io::ErrorKind::OutOfMemory
    }
}

/// A byte queue: bytes are appended at the back and consumed from the front.
///
/// Only [`len`](Buffer::len), [`room`](Buffer::room), [`chunk_at`](Buffer::chunk_at),
/// [`reserve`](Buffer::reserve), [`commit`](Buffer::commit) and [`drain`](Buffer::drain) must be
/// written for a new representation; everything else has a default built on them.
pub trait Buffer {
    /// Bytes stored.
    fn len(&self) -> usize;

    /// Whether no byte is stored.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many more bytes fit (`usize::MAX` for a growable buffer).
    fn room(&self) -> usize;

    /// The longest contiguous run of stored bytes starting `offset` bytes from the front (empty
    /// at or past the end). Walking `chunk_at(0)`, `chunk_at(len0)`, … visits every byte once.
    fn chunk_at(&self, offset: usize) -> &[u8];

    /// Contiguous free space at the back, at least `min` bytes if the buffer can provide that
    /// many in one piece (a growable buffer always can; a ring may offer less, down to empty when
    /// full). Write into it, then [`commit`](Buffer::commit) how much was written.
    fn reserve(&mut self, min: usize) -> &mut [u8];

    /// Make the first `n` bytes of the last [`reserve`](Buffer::reserve) part of the data.
    /// Committing more than was reserved commits what was reserved.
    fn commit(&mut self, n: usize);

    /// Remove up to `n` bytes from the front; returns how many were removed.
    fn drain(&mut self, n: usize) -> usize;

    /// Append as much of `data` as fits; returns how many bytes were taken.
    fn append(&mut self, mut data: &[u8]) -> usize {
        let mut taken = 0;
        while !data.is_empty() {
            let space = self.reserve(data.len());
            let n = space.len().min(data.len());
            if n == 0 {
                break;
            }
            space[..n].copy_from_slice(&data[..n]);
            self.commit(n);
            taken += n;
            data = &data[n..];
        }
        taken
    }

    /// Copy bytes from `offset` on into `out` without consuming them; returns how many were
    /// copied (libevent's `evbuffer_copyout_from`).
    fn peek(&self, offset: usize, out: &mut [u8]) -> usize {
        let mut copied = 0;
        while copied < out.len() {
            let chunk = self.chunk_at(offset + copied);
            if chunk.is_empty() {
                break;
            }
            let n = chunk.len().min(out.len() - copied);
            out[copied..copied + n].copy_from_slice(&chunk[..n]);
            copied += n;
        }
        copied
    }

    /// Copy bytes into `out` and consume them (libevent's `evbuffer_remove`).
    fn take(&mut self, out: &mut [u8]) -> usize {
        let n = self.peek(0, out);
        self.drain(n);
        n
    }

    /// The byte at `index`, if stored.
    fn byte(&self, index: usize) -> Option<u8> {
        self.chunk_at(index).first().copied()
    }

    /// The offset of the first occurrence of `needle` at or after `from` (libevent's
    /// `evbuffer_search`). An empty needle is found at `from` if `from <= len`.
    fn find(&self, needle: &[u8], from: usize) -> Option<usize> {
        let len = self.len();
        if needle.is_empty() {
            return (from <= len).then_some(from);
        }
        let mut at = from;
        while at + needle.len() <= len {
            let chunk = self.chunk_at(at);
            let Some(first) = chunk.iter().position(|&b| b == needle[0]) else {
                at += chunk.len();
                continue;
            };
            let start = at + first;
            if start + needle.len() > len {
                return None;
            }
            if (1..needle.len()).all(|k| self.byte(start + k) == Some(needle[k])) {
                return Some(start);
            }
            at = start + 1;
        }
        None
    }

    /// Where the first complete line ends: `(line length, end-of-line length)`, or `None` when no
    /// complete line is stored yet.
    fn find_line(&self, eol: Eol) -> Option<(usize, usize)> {
        let len = self.len();
        match eol {
            Eol::Nul => self.find(b"\0", 0).map(|i| (i, 1)),
            Eol::Lf => self.find(b"\n", 0).map(|i| (i, 1)),
            Eol::CrlfStrict => self.find(b"\r\n", 0).map(|i| (i, 2)),
            Eol::Crlf => {
                let i = self.find(b"\n", 0)?;
                if i > 0 && self.byte(i - 1) == Some(b'\r') {
                    Some((i - 1, 2))
                } else {
                    Some((i, 1))
                }
            }
            Eol::Any => {
                let mut i = 0;
                let start = loop {
                    let chunk = self.chunk_at(i);
                    if chunk.is_empty() {
                        return None;
                    }
                    match chunk.iter().position(|&b| b == b'\r' || b == b'\n') {
                        Some(p) => break i + p,
                        None => i += chunk.len(),
                    }
                };
                let mut end = start;
                while end < len && matches!(self.byte(end), Some(b'\r' | b'\n')) {
                    end += 1;
                }
                Some((start, end - start))
            }
        }
    }

    /// Read one complete line into `out`, without its end-of-line bytes, and consume the line and
    /// its end of line (libevent's `evbuffer_readln`). `Ok(None)` when no complete line is stored
    /// (nothing is consumed); [`LineTooLong`] when the line does not fit in `out` (nothing is
    /// consumed: read it with a bigger slice, or [`drain`](Buffer::drain) it).
    fn read_line(&mut self, eol: Eol, out: &mut [u8]) -> Result<Option<usize>, LineTooLong> {
        let Some((line, end)) = self.find_line(eol) else {
            return Ok(None);
        };
        if line > out.len() {
            return Err(LineTooLong { len: line });
        }
        self.peek(0, &mut out[..line]);
        self.drain(line + end);
        Ok(Some(line))
    }

    /// Move every byte into `dst` (libevent's `evbuffer_add_buffer`); returns how many moved.
    /// Bytes that do not fit in a fixed `dst` stay here. Representations that can hand over
    /// storage instead of copying override this.
    fn move_into(&mut self, dst: &mut Self) -> usize
    where
        Self: Sized,
    {
        let mut moved = 0;
        loop {
            let chunk = self.chunk_at(0);
            if chunk.is_empty() {
                break;
            }
            let n = dst.append(chunk);
            if n == 0 {
                break;
            }
            self.drain(n);
            moved += n;
        }
        moved
    }
}

/// A fixed-capacity ring of `N` bytes; no allocator, `const`-constructible.
///
/// `reserve` offers the free space up to the end of the storage (or, when the data sits at the
/// end, the space before it); [`make_contiguous`](RingBuffer::make_contiguous) rotates the data
/// to the start when a parser needs it in one slice (libevent's `evbuffer_pullup`).
#[derive(Clone)]
pub struct RingBuffer<const N: usize> {
    data: [u8; N],
    head: usize,
    len: usize,
}

impl<const N: usize> Default for RingBuffer<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Debug for RingBuffer<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingBuffer")
            .field("capacity", &N)
            .field("len", &self.len)
            .finish()
    }
}

impl<const N: usize> RingBuffer<N> {
    /// An empty ring.
    pub const fn new() -> Self {
        RingBuffer {
            data: [0; N],
            head: 0,
            len: 0,
        }
    }

    /// The capacity, `N`.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// The stored bytes as at most two slices, in order.
    pub fn as_slices(&self) -> (&[u8], &[u8]) {
        let first = (N - self.head).min(self.len);
        (
            &self.data[self.head..self.head + first],
            &self.data[..self.len - first],
        )
    }

    /// Rotate the stored bytes to the start of the storage and return them as one slice.
    pub fn make_contiguous(&mut self) -> &[u8] {
        if self.head + self.len > N {
            self.data.rotate_left(self.head);
            self.head = 0;
        }
        &self.data[self.head..self.head + self.len]
    }

    /// The contiguous free run right after the data, as `reserve` lends it.
    fn free_run(&self) -> (usize, usize) {
        let tail = self.head + self.len;
        if tail < N {
            (tail, N)
        } else {
            (tail - N, self.head)
        }
    }

    /// Forget every stored byte.
    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }
}

impl<const N: usize> Buffer for RingBuffer<N> {
    fn len(&self) -> usize {
        self.len
    }

    fn room(&self) -> usize {
        N - self.len
    }

    fn chunk_at(&self, offset: usize) -> &[u8] {
        if offset >= self.len {
            return &[];
        }
        let start = (self.head + offset) % N;
        let end = (self.head + self.len).min(N);
        if start >= self.head {
            &self.data[start..end]
        } else {
            &self.data[start..self.len - (N - self.head)]
        }
    }

    fn reserve(&mut self, _min: usize) -> &mut [u8] {
        if self.len == 0 {
            self.head = 0;
        }
        let (start, end) = self.free_run();
        &mut self.data[start..end]
    }

    fn commit(&mut self, n: usize) {
        let (start, end) = self.free_run();
        self.len += n.min(end - start);
    }

    fn drain(&mut self, n: usize) -> usize {
        let n = n.min(self.len);
        self.len -= n;
        self.head = if self.len == 0 {
            0
        } else {
            (self.head + n) % N
        };
        n
    }
}

impl<const N: usize> embedded_io::ErrorType for RingBuffer<N> {
    type Error = BufferFull;
}

impl<const N: usize> embedded_io::Read for RingBuffer<N> {
    /// Take bytes out; `Ok(0)` when empty.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, BufferFull> {
        Ok(self.take(buf))
    }
}

impl<const N: usize> embedded_io::Write for RingBuffer<N> {
    /// Append what fits; [`BufferFull`] when nothing fits.
    fn write(&mut self, buf: &[u8]) -> Result<usize, BufferFull> {
        match self.append(buf) {
            0 if !buf.is_empty() => Err(BufferFull),
            n => Ok(n),
        }
    }

    fn flush(&mut self) -> Result<(), BufferFull> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_split_across_the_wrap_point_is_read_whole() {
        let mut b = RingBuffer::<8>::new();
        assert_eq!(b.append(b"xxxxxx"), 6);
        assert_eq!(b.drain(6), 6);
        assert_eq!(b.append(b"ab"), 2);
        b.drain(0);
        // Force data to straddle the end: head at 6 after some churn.
        let mut r = RingBuffer::<8>::new();
        r.append(b"123456");
        r.drain(5);
        assert_eq!(r.append(b"ab\r\ncd"), 6);
        assert_ne!(r.as_slices().1.len(), 0, "data wraps");
        let mut line = [0u8; 8];
        assert_eq!(r.read_line(Eol::CrlfStrict, &mut line), Ok(Some(3)));
        assert_eq!(&line[..3], b"6ab");
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn full_ring_takes_what_fits_and_reports_it() {
        let mut r = RingBuffer::<4>::new();
        assert_eq!(r.append(b"abcdef"), 4);
        assert_eq!(r.append(b"g"), 0);
        assert_eq!(embedded_io::Write::write(&mut r, b"g"), Err(BufferFull));
        let mut out = [0u8; 8];
        assert_eq!(r.take(&mut out), 4);
        assert_eq!(&out[..4], b"abcd");
    }
}
