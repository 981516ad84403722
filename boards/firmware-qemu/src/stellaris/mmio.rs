//! The Stellaris Ethernet controller's registers (LM3S6965 data sheet, "Ethernet Controller";
//! qemu's model in `hw/net/stellaris_enet.c`) and its interrupt handler. Everything that
//! touches the hardware directly is here.

use core::ptr;
use core::sync::atomic::{AtomicBool, Ordering};
use embassy_sync::waitqueue::AtomicWaker;
use lm3s6965::{Interrupt, interrupt};

/// Where the controller's registers start.
const BASE: usize = 0x4004_8000;
/// System control's run-mode clock gating register 2 (RCGC2).
const RCGC2: usize = 0x400F_E108;
/// RCGC2's clock enables of the Ethernet MAC (EMAC0, bit 28) and PHY (EPHY0, bit 30).
const RCGC2_ETHERNET: u32 = 1 << 28 | 1 << 30;

/// A register of the controller, by its offset from [`BASE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub(super) enum Reg {
    /// Read: raw interrupt status (MACRIS). Write: interrupt acknowledge (MACIACK), a 1 clears.
    RisAck = 0x00,
    /// Interrupt mask (MACIM): a 1 lets that status raise interrupt 42.
    Im = 0x04,
    /// Receive control (MACRCTL).
    Rctl = 0x08,
    /// Transmit control (MACTCTL).
    Tctl = 0x0c,
    /// Read: the next word of the receive FIFO. Write: the next word of the transmit FIFO.
    Data = 0x10,
    /// Individual address 0 (MACIA0): bytes 0 to 3 of the MAC address.
    Ia0 = 0x14,
    /// Individual address 1 (MACIA1): bytes 4 and 5.
    Ia1 = 0x18,
    /// Number of frames in the receive FIFO (MACNP).
    Np = 0x34,
    /// Transmission request (MACTR): bit 0 starts sending the frame in the FIFO and reads 1
    /// until it is sent.
    Tr = 0x38,
}

/// Woken by the interrupt handler: the task that polls the driver.
pub(super) static WAKER: AtomicWaker = AtomicWaker::new();

/// Whether [`Mac::take`] handed the controller out.
static TAKEN: AtomicBool = AtomicBool::new(false);

/// The controller. At most one exists ([`Mac::take`]), so its holder is the only user of the
/// register block besides [`ETHERNET`], which only writes the interrupt mask.
pub(super) struct Mac(());

impl Mac {
    /// The controller, with its clocks running; `None` if it was taken already.
    pub(super) fn take() -> Option<Mac> {
        if TAKEN.swap(true, Ordering::AcqRel) {
            return None;
        }
        // SAFETY: RCGC2 is a 32-bit, aligned, always-mapped system control register; setting
        // the Ethernet clock bits only starts the MAC and PHY, which nothing else uses.
        unsafe {
            let v = ptr::read_volatile(RCGC2 as *const u32);
            ptr::write_volatile(RCGC2 as *mut u32, v | RCGC2_ETHERNET);
        }
        Some(Mac(()))
    }

    /// Read register `r`. Reading [`Reg::Data`] pops a word of the receive FIFO.
    pub(super) fn read(&self, r: Reg) -> u32 {
        read(r)
    }

    /// Write `v` to register `r`.
    pub(super) fn write(&self, r: Reg, v: u32) {
        write(r, v)
    }

    /// Let the controller's interrupt run [`ETHERNET`].
    pub(super) fn unmask_interrupt(&self) {
        // SAFETY: the handler touches only the interrupt mask register and an `AtomicWaker`,
        // both safe to use from an interrupt at any point of the task (the task changes the
        // mask only inside a critical section); unmasking breaks no critical section, since
        // this runs outside of one.
        unsafe { cortex_m::peripheral::NVIC::unmask(Interrupt::ETHERNET) };
    }
}

fn read(r: Reg) -> u32 {
    // SAFETY: `BASE + r` is one of the controller's 32-bit registers: aligned, always mapped,
    // with no Rust object behind it. Volatile, since reads have effects (the FIFO pops).
    unsafe { ptr::read_volatile((BASE + r as usize) as *const u32) }
}

fn write(r: Reg, v: u32) {
    // SAFETY: as in `read`; writes go to a device register, not to memory Rust knows.
    unsafe { ptr::write_volatile((BASE + r as usize) as *mut u32, v) }
}

/// Interrupt 42. Its line is the level of `status & mask`, so the handler masks every source
/// (the task acknowledges and unmasks what it waits for) and wakes the task.
#[interrupt]
fn ETHERNET() {
    write(Reg::Im, 0);
    WAKER.wake();
}
