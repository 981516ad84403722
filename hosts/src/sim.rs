//! Simulation: the core's [`Sim`] host, and [`SimNet`], in-memory pipes and stream socket pairs
//! whose readiness follows their buffers, on virtual time.
//!
//! `SimNet` lets a test written against real descriptors (write into one end, see the other end
//! become readable, shut down, close, reuse a number) run unchanged and deterministically: the
//! same seed gives the same trace.

pub use levent_core::sim::{Action, Sim, SimFull};

use crate::{Attached, Backend};
use levent_core::{Dispatcher, Host, HostError, Ready, SourceKey, Turn, Wait};
use std::collections::{HashMap, VecDeque};
use std::io;

/// Sources and scripted actions a [`SimNet`] can hold.
pub const SIM_CAPACITY: usize = 4096;

#[derive(Debug)]
struct End {
    peer: Option<SourceKey>,
    inbox: VecDeque<u8>,
    /// This end may write (false for the read end of a pipe, or after `shutdown_write`).
    can_write: bool,
    /// The peer will send nothing more: it shut down writing or closed.
    eof: bool,
}

/// In-memory pipes and socket pairs on the simulation host. See the [module documentation](self).
pub struct SimNet {
    sim: Box<Sim<SIM_CAPACITY>>,
    ends: HashMap<SourceKey, End>,
    capacity: usize,
    notifier: Option<Attached>,
}

impl SimNet {
    /// A simulated network whose random choices all come from `seed`; each direction of a pipe
    /// or socket pair buffers at most 64 KiB.
    pub fn new(seed: u64) -> Self {
        SimNet {
            sim: Box::new(Sim::new(seed).shuffle(true)),
            ends: HashMap::new(),
            capacity: 64 * 1024,
            notifier: None,
        }
    }

    /// Change how many bytes each direction buffers before a write would block.
    pub fn with_buffer(mut self, bytes: usize) -> Self {
        self.capacity = bytes.max(1);
        self
    }

    /// The underlying simulation host (virtual clock, scripts, signals).
    pub fn sim(&mut self) -> &mut Sim<SIM_CAPACITY> {
        &mut self.sim
    }

    /// The lowest free key, as `open` returns the lowest free descriptor.
    fn key(&mut self) -> SourceKey {
        let mut k = 3;
        while self.ends.contains_key(&SourceKey(k)) {
            k += 1;
        }
        SourceKey(k)
    }

    fn end(peer: Option<SourceKey>, can_write: bool) -> End {
        End {
            peer,
            inbox: VecDeque::new(),
            can_write,
            eof: false,
        }
    }

    /// A connected pair of stream sockets (`socketpair(AF_UNIX, SOCK_STREAM)`).
    pub fn pair(&mut self) -> (SourceKey, SourceKey) {
        let a = self.key();
        self.ends.insert(a, Self::end(None, true));
        let b = self.key();
        self.ends.insert(b, Self::end(Some(a), true));
        if let Some(e) = self.ends.get_mut(&a) {
            e.peer = Some(b);
        }
        self.update(a);
        self.update(b);
        (a, b)
    }

    /// A pipe: `(read end, write end)`.
    pub fn pipe(&mut self) -> (SourceKey, SourceKey) {
        let (r, w) = self.pair();
        if let Some(e) = self.ends.get_mut(&r) {
            e.can_write = false;
        }
        if let Some(e) = self.ends.get_mut(&w) {
            e.eof = true;
        }
        self.update(r);
        self.update(w);
        (r, w)
    }

    fn unknown() -> io::Error {
        io::Error::new(io::ErrorKind::NotFound, "no such simulated descriptor")
    }

    /// Write into `key`; the data arrives at its peer. Blocks (`WouldBlock`) when the peer's buffer
    /// is full; `BrokenPipe` when the peer is gone or cannot read.
    pub fn write(&mut self, key: SourceKey, data: &[u8]) -> io::Result<usize> {
        let end = self.ends.get(&key).ok_or_else(Self::unknown)?;
        if !end.can_write {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let Some(peer) = end.peer.and_then(|p| self.ends.get_mut(&p)) else {
            return Err(io::ErrorKind::BrokenPipe.into());
        };
        let room = self.capacity.saturating_sub(peer.inbox.len());
        if data.is_empty() {
            return Ok(0);
        }
        if room == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = room.min(data.len());
        peer.inbox.extend(&data[..n]);
        if let Some(p) = self.ends.get(&key).and_then(|e| e.peer) {
            // New data is a new edge even if the peer was readable already.
            let _ = self.sim.set_ready(p, Ready::READ);
            self.update(p);
        }
        self.update(key);
        Ok(n)
    }

    /// Read from `key`: `Ok(0)` at end of file, `WouldBlock` when nothing is there yet.
    pub fn read(&mut self, key: SourceKey, buf: &mut [u8]) -> io::Result<usize> {
        let end = self.ends.get_mut(&key).ok_or_else(Self::unknown)?;
        if end.inbox.is_empty() {
            return if end.eof || end.peer.is_none() {
                Ok(0)
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            };
        }
        let n = buf.len().min(end.inbox.len());
        for (dst, src) in buf.iter_mut().zip(end.inbox.drain(..n)) {
            *dst = src;
        }
        let peer = end.peer;
        self.update(key);
        if let Some(p) = peer {
            self.update(p);
        }
        Ok(n)
    }

    /// Shut down the writing side of `key`: its peer reads end of file after the buffered data.
    pub fn shutdown_write(&mut self, key: SourceKey) -> io::Result<()> {
        let end = self.ends.get_mut(&key).ok_or_else(Self::unknown)?;
        end.can_write = false;
        if let Some(p) = end.peer {
            if let Some(pe) = self.ends.get_mut(&p) {
                pe.eof = true;
            }
            self.update(p);
        }
        self.update(key);
        Ok(())
    }

    /// Close `key`: deregister it from `d` at once, then drop it. Its peer sees end of file (and
    /// `BrokenPipe` when writing). The key may be handed out again by the next `pair` or `pipe`.
    pub fn close(&mut self, d: &mut dyn Dispatcher, key: SourceKey) -> io::Result<()> {
        self.forget(d, key);
        let end = self.ends.remove(&key).ok_or_else(Self::unknown)?;
        if let Some(p) = end.peer {
            if let Some(pe) = self.ends.get_mut(&p) {
                pe.eof = true;
                pe.peer = None;
            }
            self.update(p);
        }
        self.sim
            .clear_ready(key, Ready::READ | Ready::WRITE | Ready::CLOSED);
        Ok(())
    }

    /// Bring the simulation's readiness for `key` in line with its buffers.
    fn update(&mut self, key: SourceKey) {
        let Some(end) = self.ends.get(&key) else {
            return;
        };
        let mut want = Ready::NONE;
        if !end.inbox.is_empty() || end.eof || end.peer.is_none() {
            want |= Ready::READ;
        }
        if end.eof || end.peer.is_none() {
            want |= Ready::CLOSED;
        }
        if end.can_write {
            let room = match end.peer.and_then(|p| self.ends.get(&p)) {
                Some(peer) => peer.inbox.len() < self.capacity,
                // Writing fails at once: report it so the program finds out.
                None => true,
            };
            if room {
                want |= Ready::WRITE;
            }
        }
        let have = self.sim.readiness(key);
        self.sim.clear_ready(key, have & !want);
        let new = want & !have;
        if !new.is_empty() {
            let _ = self.sim.set_ready(key, new);
        }
    }
}

impl Host for SimNet {
    fn turn(&mut self, d: &mut dyn Dispatcher, wait: Wait) -> Result<Turn, HostError> {
        let woken = self.notifier.as_ref().map_or(0, |n| n.get().drain_into(d));
        self.sim.turn(d, if woken > 0 { Wait::No } else { wait })
    }
}

impl Backend for SimNet {
    fn sync(&mut self, d: &mut dyn Dispatcher) -> Result<(), HostError> {
        while let Some(change) = d.next_change() {
            self.sim.apply(change).map_err(|_| HostError::Capacity)?;
        }
        Ok(())
    }

    fn forget(&mut self, d: &mut dyn Dispatcher, key: SourceKey) {
        if let Some(change) = d.forget_source(key) {
            let _ = self.sim.apply(change);
        }
    }

    fn attach(&mut self, notifier: Attached) {
        self.notifier = Some(notifier);
    }
}
