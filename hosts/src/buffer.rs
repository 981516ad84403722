//! [`ChainBuffer`]: the growable buffer for hosts, a chain of blocks behind the core's
//! [`Buffer`] trait.
//!
//! Appending never copies existing data; draining releases whole blocks; moving one chain into
//! another hands the blocks over without copying (libevent's `evbuffer_add_buffer`). Emptied blocks
//! go back to a per-thread pool that every chain of the thread draws from, so blocks that travel
//! from one buffer to another (an echo moves input blocks into the output) come back around, and a
//! connection in a steady state allocates nothing.

use levent_core::buffer::{Buffer, BufferFull};
use std::collections::VecDeque;

/// The default block size.
pub const BLOCK: usize = 4096;
/// Blocks larger than this are never kept for reuse.
const KEEP_MAX: usize = 64 * 1024;
/// How many emptied blocks a thread keeps for reuse (4 MiB of 4 KiB blocks).
const KEEP: usize = 1024;

thread_local! {
    static POOL: std::cell::RefCell<Vec<Box<[u8]>>> = const { std::cell::RefCell::new(Vec::new()) };
}

#[derive(Debug)]
struct Block {
    data: Box<[u8]>,
    start: usize,
    end: usize,
}

/// A growable chain of blocks. See the [module documentation](self).
///
/// ```
/// use levent_core::buffer::{Buffer, Eol};
/// use levent_hosts::buffer::ChainBuffer;
///
/// let mut a = ChainBuffer::new();
/// a.append(b"hello ");
/// let mut b = ChainBuffer::new();
/// b.append(b"world\n");
/// b.move_into(&mut a); // blocks change hands, bytes are not copied
/// let mut line = [0u8; 16];
/// assert_eq!(a.read_line(Eol::Lf, &mut line), Ok(Some(11)));
/// assert_eq!(&line[..11], b"hello world");
/// ```
#[derive(Debug, Default)]
pub struct ChainBuffer {
    blocks: VecDeque<Block>,
    len: usize,
}

impl ChainBuffer {
    /// An empty chain (allocates on first use).
    pub fn new() -> Self {
        Self::default()
    }

    /// Forget every stored byte, keeping blocks for reuse.
    pub fn clear(&mut self) {
        while let Some(b) = self.blocks.pop_front() {
            self.recycle(b.data);
        }
        self.len = 0;
    }

    fn recycle(&mut self, data: Box<[u8]>) {
        if data.len() <= KEEP_MAX {
            POOL.with(|p| {
                if let Ok(mut p) = p.try_borrow_mut()
                    && p.len() < KEEP
                {
                    p.push(data);
                }
            });
        }
    }

    fn fresh(&mut self, min: usize) -> Box<[u8]> {
        let pooled = POOL.with(|p| {
            let mut p = p.try_borrow_mut().ok()?;
            // Most blocks are the default size: look at the last few only.
            let from = p.len().saturating_sub(8);
            let i = (from..p.len()).rev().find(|&i| p[i].len() >= min)?;
            Some(p.swap_remove(i))
        });
        if let Some(b) = pooled {
            return b;
        }
        let size = min.max(BLOCK).next_power_of_two().min(min.max(KEEP_MAX));
        vec![0u8; size].into_boxed_slice()
    }
}

impl Buffer for ChainBuffer {
    fn len(&self) -> usize {
        self.len
    }

    fn room(&self) -> usize {
        usize::MAX - self.len
    }

    fn chunk_at(&self, mut offset: usize) -> &[u8] {
        for b in &self.blocks {
            let n = b.end - b.start;
            if offset < n {
                return &b.data[b.start + offset..b.end];
            }
            offset -= n;
        }
        &[]
    }

    fn reserve(&mut self, min: usize) -> &mut [u8] {
        let min = min.max(1);
        let fits = self
            .blocks
            .back()
            .is_some_and(|b| b.data.len() - b.end >= min);
        if !fits {
            // A last block with no data left is replaced rather than kept half-used.
            if self.blocks.back().is_some_and(|b| b.start == b.end)
                && let Some(b) = self.blocks.pop_back()
            {
                self.recycle(b.data);
            }
            let data = self.fresh(min);
            self.blocks.push_back(Block {
                data,
                start: 0,
                end: 0,
            });
        }
        match self.blocks.back_mut() {
            Some(b) => &mut b.data[b.end..],
            None => &mut [],
        }
    }

    fn commit(&mut self, n: usize) {
        if let Some(b) = self.blocks.back_mut() {
            let n = n.min(b.data.len() - b.end);
            b.end += n;
            self.len += n;
        }
    }

    fn drain(&mut self, mut n: usize) -> usize {
        let mut drained = 0;
        while n > 0 {
            let Some(b) = self.blocks.front_mut() else {
                break;
            };
            let k = n.min(b.end - b.start);
            b.start += k;
            n -= k;
            drained += k;
            if b.start == b.end
                && let Some(b) = self.blocks.pop_front()
            {
                self.recycle(b.data);
            }
        }
        self.len -= drained;
        if self.len == 0 {
            // What is left are blocks reserved but never filled.
            self.clear();
        }
        drained
    }

    fn move_into(&mut self, dst: &mut Self) -> usize {
        let moved = self.len;
        while let Some(b) = self.blocks.pop_front() {
            if b.start == b.end {
                self.recycle(b.data);
            } else {
                dst.blocks.push_back(b);
            }
        }
        dst.len += moved;
        self.len = 0;
        moved
    }
}

impl embedded_io::ErrorType for ChainBuffer {
    type Error = BufferFull;
}

impl embedded_io::Read for ChainBuffer {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, BufferFull> {
        Ok(Buffer::take(self, buf))
    }
}

impl embedded_io::Write for ChainBuffer {
    fn write(&mut self, buf: &[u8]) -> Result<usize, BufferFull> {
        Ok(self.append(buf))
    }

    fn flush(&mut self) -> Result<(), BufferFull> {
        Ok(())
    }
}

impl std::io::Read for ChainBuffer {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        Ok(Buffer::take(self, buf))
    }
}

impl std::io::Write for ChainBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(self.append(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
