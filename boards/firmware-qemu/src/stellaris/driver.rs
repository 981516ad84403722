//! The driver proper, above the registers of [`super::mmio`]: no `unsafe` here.
//!
//! - **Receive**: the MAC keeps whole frames in its receive FIFO, each led by a 16-bit length
//!   (of the frame plus the length field itself and the 4-byte FCS), read as little-endian
//!   words; [`Reg::Np`] counts the frames waiting. A frame longer than [`MTU`] or shorter than
//!   an Ethernet header is read out and dropped (and counted), so a bad frame never stalls the
//!   FIFO.
//! - **Transmit**: the frame goes into the transmit FIFO behind a 16-bit length of its payload
//!   (the frame without its 14-byte header); [`Reg::Tr`] starts it, and the MAC pads short
//!   frames and appends the FCS.
//! - **Interrupts**: with nothing to receive, the driver registers the task's waker,
//!   acknowledges the receive interrupt and unmasks it; the handler masks it again and wakes
//!   the task, which reads the FIFO until it is empty.

#![forbid(unsafe_code)]

use super::mmio::{Mac, Reg, WAKER};
use core::task::Context;
use embassy_net_driver::{Capabilities, Driver, HardwareAddress, LinkState};

/// The largest frame, header included, FCS excluded.
pub const MTU: usize = 1514;
const HEADER: usize = 14;
/// The length field and the FCS around each received frame.
const RX_FRAMING: usize = 2 + 4;
/// The receive FIFO holds 2 KiB: a length beyond it is a corrupt FIFO.
const FIFO: usize = 2048;

const INT_RX: u32 = 0x01;
const INT_TXER: u32 = 0x02;
const INT_FOV: u32 = 0x08;
const INT_RXER: u32 = 0x10;
const INT_ALL: u32 = 0x7f;

const RCTL_RXEN: u32 = 0x01;
const RCTL_AMUL: u32 = 0x02;
const RCTL_BADCRC: u32 = 0x08;
const RCTL_RSTFIFO: u32 = 0x10;

const TCTL_TXEN: u32 = 0x01;
const TCTL_PADEN: u32 = 0x02;
const TCTL_CRC: u32 = 0x04;
const TCTL_DUPLEX: u32 = 0x08;

const TR_NEWTX: u32 = 0x01;
/// How long to wait for the previous frame to leave before sending anyway (at 100 Mbit/s a
/// full frame takes about 120 µs; a few thousand register reads are longer than that).
const TX_SPINS: u32 = 10_000;

/// What the driver did so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, defmt::Format)]
pub struct DriverStats {
    /// Frames handed to the network stack.
    pub received: u32,
    /// Frames sent.
    pub sent: u32,
    /// Received frames longer than [`MTU`], dropped.
    pub oversized: u32,
    /// Received frames shorter than an Ethernet header, dropped.
    pub runts: u32,
    /// Times the MAC reported a receive FIFO overrun or a receive error (frames it dropped).
    pub overruns: u32,
    /// Times the receive FIFO held a length it cannot hold and was reset.
    pub fifo_resets: u32,
    /// Frames the transmitter refused (too long, or still busy after the wait).
    pub tx_errors: u32,
}

/// The driver's frame buffers, one to receive into and one to send from: keep them in a
/// `static` (a `ConstStaticCell`), so that they are not built on the stack.
pub struct Buffers {
    rx: [u8; MTU],
    tx: [u8; MTU],
}

impl Buffers {
    /// Zeroed buffers; `const`, for a `static`.
    pub const fn new() -> Self {
        Buffers {
            rx: [0; MTU],
            tx: [0; MTU],
        }
    }
}

/// The Stellaris Ethernet controller as an [`embassy_net_driver::Driver`].
pub struct Stellaris {
    mac: Mac,
    address: [u8; 6],
    rx: &'static mut [u8; MTU],
    tx: &'static mut [u8; MTU],
    stats: DriverStats,
}

impl Stellaris {
    /// Take the controller, program `address` as its MAC address, and start receiving and
    /// transmitting through `buffers`. `None` if the controller was taken already.
    pub fn new(address: [u8; 6], buffers: &'static mut Buffers) -> Option<Self> {
        let mac = Mac::take()?;
        mac.write(Reg::Im, 0);
        mac.write(Reg::Rctl, 0);
        mac.write(Reg::Tctl, 0);
        mac.write(Reg::RisAck, INT_ALL);
        let [a0, a1, a2, a3, a4, a5] = address;
        mac.write(Reg::Ia0, u32::from_le_bytes([a0, a1, a2, a3]));
        mac.write(Reg::Ia1, u32::from_le_bytes([a4, a5, 0, 0]));
        mac.write(Reg::Rctl, RCTL_RSTFIFO);
        // Multicast frames too (nothing here joins a group, but ARP and DHCP are broadcasts,
        // which pass anyway); frames with a bad FCS are dropped by the MAC.
        mac.write(Reg::Rctl, RCTL_RXEN | RCTL_AMUL | RCTL_BADCRC);
        mac.write(Reg::Tctl, TCTL_TXEN | TCTL_PADEN | TCTL_CRC | TCTL_DUPLEX);
        mac.unmask_interrupt();
        Some(Stellaris {
            mac,
            address,
            rx: &mut buffers.rx,
            tx: &mut buffers.tx,
            stats: DriverStats::default(),
        })
    }

    /// The MAC address as the controller holds it (read back from its registers).
    pub fn programmed_address(&self) -> [u8; 6] {
        let [a0, a1, a2, a3] = self.mac.read(Reg::Ia0).to_le_bytes();
        let [a4, a5, _, _] = self.mac.read(Reg::Ia1).to_le_bytes();
        [a0, a1, a2, a3, a4, a5]
    }

    /// What the driver did so far.
    pub fn stats(&self) -> DriverStats {
        self.stats
    }

    fn waiting(&self) -> bool {
        self.mac.read(Reg::Np) != 0
    }

    /// Nothing to receive: have the interrupt wake the task, then look again (a frame that came
    /// in between is seen now, one that comes later raises the interrupt).
    fn arm(&mut self, cx: &mut Context<'_>) -> bool {
        WAKER.register(cx.waker());
        let status = critical_section::with(|_| {
            let status = self.mac.read(Reg::RisAck);
            self.mac.write(Reg::RisAck, INT_RX | INT_FOV | INT_RXER);
            self.mac.write(Reg::Im, INT_RX | INT_FOV | INT_RXER);
            status
        });
        if status & (INT_FOV | INT_RXER) != 0 {
            self.stats.overruns += 1;
        }
        self.waiting()
    }

    /// Read the next frame out of the receive FIFO into `rx`; its length if it is one to hand
    /// on, `None` if it was dropped.
    fn pop(&mut self) -> Option<usize> {
        let first = self.mac.read(Reg::Data);
        let total = (first & 0xffff) as usize;
        if total > FIFO {
            // Not a length the FIFO can hold: start it over rather than read garbage.
            self.stats.fifo_resets += 1;
            self.mac.write(Reg::Rctl, RCTL_RSTFIFO);
            self.mac
                .write(Reg::Rctl, RCTL_RXEN | RCTL_AMUL | RCTL_BADCRC);
            return None;
        }
        let len = total.saturating_sub(RX_FRAMING);
        let keep = (HEADER..=MTU).contains(&len);
        let words = total.div_ceil(4).max(1);
        for w in 0..words {
            let word = if w == 0 {
                first
            } else {
                self.mac.read(Reg::Data)
            };
            if !keep {
                continue;
            }
            for (b, byte) in word.to_le_bytes().into_iter().enumerate() {
                // Stream byte 4w + b; the frame starts after the 2-byte length.
                if let Some(slot) = (4 * w + b)
                    .checked_sub(2)
                    .filter(|&i| i < len)
                    .and_then(|i| self.rx.get_mut(i))
                {
                    *slot = byte;
                }
            }
        }
        if keep {
            self.stats.received += 1;
            Some(len)
        } else {
            if len > MTU {
                self.stats.oversized += 1;
            } else {
                self.stats.runts += 1;
            }
            None
        }
    }
}

/// Send `frame` through the transmit FIFO.
fn send(mac: &Mac, stats: &mut DriverStats, frame: &[u8]) {
    let Some(payload) = frame.len().checked_sub(HEADER) else {
        stats.tx_errors += 1;
        return;
    };
    let mut spins = 0;
    while mac.read(Reg::Tr) & TR_NEWTX != 0 {
        spins += 1;
        if spins == TX_SPINS {
            stats.tx_errors += 1;
            return;
        }
    }
    let (head, rest) = frame.split_at(2);
    let mut first = [0u8; 4];
    first[..2].copy_from_slice(&(payload as u16).to_le_bytes());
    first[2..].copy_from_slice(head);
    mac.write(Reg::Data, u32::from_le_bytes(first));
    for chunk in rest.chunks(4) {
        let mut word = [0u8; 4];
        word[..chunk.len()].copy_from_slice(chunk);
        mac.write(Reg::Data, u32::from_le_bytes(word));
    }
    mac.write(Reg::Tr, TR_NEWTX);
    if mac.read(Reg::RisAck) & INT_TXER != 0 {
        // Acknowledging the error also empties the FIFO.
        mac.write(Reg::RisAck, INT_TXER);
        stats.tx_errors += 1;
    } else {
        stats.sent += 1;
    }
}

/// A received frame, in the driver's receive buffer.
pub struct RxToken<'a> {
    frame: &'a mut [u8],
}

/// Room for one frame, in the driver's transmit buffer.
pub struct TxToken<'a> {
    mac: &'a Mac,
    buf: &'a mut [u8; MTU],
    stats: &'a mut DriverStats,
}

impl embassy_net_driver::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, f: F) -> R {
        f(self.frame)
    }
}

impl embassy_net_driver::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let frame = &mut self.buf[..len.min(MTU)];
        let r = f(frame);
        if len > MTU {
            self.stats.tx_errors += 1;
        } else {
            send(self.mac, self.stats, frame);
        }
        r
    }
}

impl Driver for Stellaris {
    type RxToken<'a>
        = RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a>
    where
        Self: 'a;

    fn receive(&mut self, cx: &mut Context<'_>) -> Option<(RxToken<'_>, TxToken<'_>)> {
        // At most as many frames as the FIFO can hold are dropped before giving up for now.
        let mut len = None;
        for _ in 0..32 {
            if !self.waiting() && !self.arm(cx) {
                return None;
            }
            len = self.pop();
            if len.is_some() {
                break;
            }
        }
        let Some(len) = len else {
            // Frames may still wait: come back soon rather than sleep on them.
            cx.waker().wake_by_ref();
            return None;
        };
        let Stellaris {
            mac, rx, tx, stats, ..
        } = self;
        Some((
            RxToken {
                frame: &mut rx[..len],
            },
            TxToken {
                mac,
                buf: tx,
                stats,
            },
        ))
    }

    fn transmit(&mut self, _: &mut Context<'_>) -> Option<TxToken<'_>> {
        // The FIFO takes one frame, and `send` waits for the previous one to leave.
        Some(TxToken {
            mac: &self.mac,
            buf: &mut *self.tx,
            stats: &mut self.stats,
        })
    }

    fn link_state(&mut self, _: &mut Context<'_>) -> LinkState {
        // qemu does not model the PHY's registers; on a board this would read its link bit.
        LinkState::Up
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::default();
        caps.max_transmission_unit = MTU;
        caps
    }

    fn hardware_address(&self) -> HardwareAddress {
        HardwareAddress::Ethernet(self.address)
    }
}
