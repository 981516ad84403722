//! [`SimLink`]: a fixed-capacity in-memory medium joining two smoltcp interfaces, with seeded
//! loss, delay, duplication and reordering, on virtual time (feature `sim`).
//!
//! smoltcp's own `phy::Loopback` needs `alloc` and joins an interface to itself; this link joins
//! two, holds at most `F` frames of at most `MTU` bytes in flight (a frame sent while the link is
//! full is dropped, as by a congested switch), and takes every decision (lose, delay, duplicate,
//! hold back) from a seeded generator, so that a run is a function of its seed. Time is the
//! timestamp smoltcp passes to the device: a frame sent at `t` with delay `d` can be received
//! from `t + d` on. A simulation moves its clock to [`SimLink::next_delivery`] when nothing else
//! is due.
//!
//! ```
//! use levent_embassy::link::{LinkConfig, SimLink};
//! use smoltcp::phy::{Device, Medium, RxToken, TxToken};
//! use smoltcp::time::Instant;
//!
//! let link: SimLink<8, 64> = SimLink::new(LinkConfig::ideal(Medium::Ip), 7);
//! let (mut a, mut b) = (link.port(0), link.port(1));
//! a.transmit(Instant::ZERO).unwrap().consume(3, |buf| buf.copy_from_slice(b"abc"));
//! let (rx, _) = b.receive(Instant::ZERO).unwrap();
//! assert_eq!(rx.consume(|frame| frame.to_vec()), b"abc");
//! assert!(a.receive(Instant::ZERO).is_none());
//! ```

use core::cell::RefCell;
use core::task::Waker;
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::{Duration, Instant};

/// How a [`SimLink`] treats frames. Probabilities are in parts per million.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkConfig {
    /// Ethernet (frames with an Ethernet header) or IP (bare packets).
    pub medium: Medium,
    /// Chance that a frame is lost.
    pub loss_ppm: u32,
    /// Chance that a frame arrives twice.
    pub duplicate_ppm: u32,
    /// Chance that a frame is held back by [`reorder_delay`](Self::reorder_delay), so that later
    /// frames overtake it.
    pub reorder_ppm: u32,
    /// Shortest time in flight.
    pub delay_min: Duration,
    /// Longest time in flight (uniform between the two).
    pub delay_max: Duration,
    /// Extra time in flight of a reordered frame.
    pub reorder_delay: Duration,
}

impl LinkConfig {
    /// No loss, no duplication, no reordering, no delay.
    pub const fn ideal(medium: Medium) -> Self {
        LinkConfig {
            medium,
            loss_ppm: 0,
            duplicate_ppm: 0,
            reorder_ppm: 0,
            delay_min: Duration::ZERO,
            delay_max: Duration::ZERO,
            reorder_delay: Duration::ZERO,
        }
    }

    /// `percent` % of frames lost, 1 % duplicated, 2 % reordered by 3 ms, 100 µs to 1 ms in
    /// flight.
    pub const fn lossy(medium: Medium, percent: u32) -> Self {
        LinkConfig {
            medium,
            loss_ppm: percent * 10_000,
            duplicate_ppm: 10_000,
            reorder_ppm: 20_000,
            delay_min: Duration::from_micros(100),
            delay_max: Duration::from_millis(1),
            reorder_delay: Duration::from_millis(3),
        }
    }
}

/// What happened on a link so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Frames handed to the link.
    pub sent: u64,
    /// Frames received from it.
    pub delivered: u64,
    /// Frames lost on purpose.
    pub lost: u64,
    /// Extra copies made.
    pub duplicated: u64,
    /// Frames held back.
    pub reordered: u64,
    /// Frames dropped because `F` frames were in flight, or longer than `MTU`.
    pub overflowed: u64,
}

#[derive(Clone, Copy)]
struct Frame<const MTU: usize> {
    to: u8,
    at: Instant,
    seq: u64,
    len: usize,
    data: [u8; MTU],
}

struct State<const F: usize, const MTU: usize> {
    config: LinkConfig,
    rng: u64,
    seq: u64,
    frames: heapless::Vec<Frame<MTU>, F>,
    stats: LinkStats,
}

impl<const F: usize, const MTU: usize> State<F, MTU> {
    /// splitmix64: small, fast, and good enough to draw loss and delays from.
    fn next(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn chance(&mut self, ppm: u32) -> bool {
        ppm > 0 && self.next() % 1_000_000 < u64::from(ppm)
    }

    fn delay(&mut self) -> Duration {
        let (lo, hi) = (
            self.config.delay_min.total_micros(),
            self.config.delay_max.total_micros(),
        );
        let span = hi.saturating_sub(lo);
        let extra = if span == 0 {
            0
        } else {
            self.next() % (span + 1)
        };
        Duration::from_micros(lo + extra)
    }

    fn send(&mut self, from: u8, now: Instant, data: &[u8]) {
        self.stats.sent += 1;
        if self.chance(self.config.loss_ppm) {
            self.stats.lost += 1;
            return;
        }
        let copies = if self.chance(self.config.duplicate_ppm) {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut at = now + self.delay();
            if self.chance(self.config.reorder_ppm) {
                self.stats.reordered += 1;
                at += self.config.reorder_delay;
            }
            if data.len() > MTU {
                self.stats.overflowed += 1;
                return;
            }
            self.seq += 1;
            let mut frame = Frame {
                to: 1 - from,
                at,
                seq: self.seq,
                len: data.len(),
                data: [0; MTU],
            };
            frame.data[..data.len()].copy_from_slice(data);
            if self.frames.push(frame).is_err() {
                self.stats.overflowed += 1;
            }
        }
    }

    fn take(&mut self, to: u8, now: Instant) -> Option<Frame<MTU>> {
        let i = self
            .frames
            .iter()
            .enumerate()
            .filter(|(_, f)| f.to == to && f.at <= now)
            .min_by_key(|(_, f)| (f.at, f.seq))
            .map(|(i, _)| i)?;
        self.stats.delivered += 1;
        Some(self.frames.swap_remove(i))
    }
}

/// Two ends, `F` frames in flight, frames of up to `MTU` bytes. See the
/// [module documentation](self).
pub struct SimLink<const F: usize, const MTU: usize> {
    state: RefCell<State<F, MTU>>,
}

impl<const F: usize, const MTU: usize> SimLink<F, MTU> {
    /// An empty link whose every decision comes from `seed`.
    pub fn new(config: LinkConfig, seed: u64) -> Self {
        SimLink {
            state: RefCell::new(State {
                config,
                rng: seed,
                seq: 0,
                frames: heapless::Vec::new(),
                stats: LinkStats::default(),
            }),
        }
    }

    /// End `side` (0 or 1; anything else is 1) as a smoltcp device.
    pub fn port(&self, side: u8) -> SimPort<'_, F, MTU> {
        SimPort {
            link: self,
            side: side.min(1),
        }
    }

    /// Change how the link treats frames from now on (frames in flight keep their fate).
    pub fn set_config(&self, config: LinkConfig) {
        self.state.borrow_mut().config = config;
    }

    /// When the next frame in flight can be received, if any.
    pub fn next_delivery(&self) -> Option<Instant> {
        self.state.borrow().frames.iter().map(|f| f.at).min()
    }

    /// Frames in flight.
    pub fn in_flight(&self) -> usize {
        self.state.borrow().frames.len()
    }

    /// What happened so far.
    pub fn stats(&self) -> LinkStats {
        self.state.borrow().stats
    }
}

/// One end of a [`SimLink`], a smoltcp [`Device`].
pub struct SimPort<'l, const F: usize, const MTU: usize> {
    link: &'l SimLink<F, MTU>,
    side: u8,
}

/// A frame taken off the link.
pub struct SimRxToken<const MTU: usize>(Frame<MTU>);

/// Room to put a frame on the link.
pub struct SimTxToken<'l, const F: usize, const MTU: usize> {
    link: &'l SimLink<F, MTU>,
    side: u8,
    now: Instant,
}

impl<const MTU: usize> phy::RxToken for SimRxToken<MTU> {
    fn consume<R, G: FnOnce(&[u8]) -> R>(self, f: G) -> R {
        f(&self.0.data[..self.0.len])
    }
}

impl<const F: usize, const MTU: usize> phy::TxToken for SimTxToken<'_, F, MTU> {
    fn consume<R, G: FnOnce(&mut [u8]) -> R>(self, len: usize, f: G) -> R {
        let mut buf = [0u8; MTU];
        let n = len.min(MTU);
        let r = f(&mut buf[..n]);
        let mut st = self.link.state.borrow_mut();
        if len > MTU {
            st.stats.overflowed += 1;
        } else {
            st.send(self.side, self.now, &buf[..n]);
        }
        r
    }
}

impl<'l, const F: usize, const MTU: usize> Device for SimPort<'l, F, MTU> {
    type RxToken<'a>
        = SimRxToken<MTU>
    where
        Self: 'a;
    type TxToken<'a>
        = SimTxToken<'l, F, MTU>
    where
        Self: 'a;

    fn receive(&mut self, now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let frame = self.link.state.borrow_mut().take(self.side, now)?;
        Some((
            SimRxToken(frame),
            SimTxToken {
                link: self.link,
                side: self.side,
                now,
            },
        ))
    }

    fn transmit(&mut self, now: Instant) -> Option<Self::TxToken<'_>> {
        Some(SimTxToken {
            link: self.link,
            side: self.side,
            now,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = self.link.state.borrow().config.medium;
        caps.max_transmission_unit = MTU;
        caps
    }
}

impl<const F: usize, const MTU: usize> crate::Waking for SimPort<'_, F, MTU> {
    /// Frames arrive only as virtual time moves: nothing to wake.
    fn register_waker(&mut self, _: &Waker) {}
}
