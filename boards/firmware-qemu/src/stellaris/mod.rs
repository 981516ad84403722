//! A driver for the Stellaris Ethernet controller of the LM3S6965 (the MAC at `0x4004_8000`,
//! interrupt 42), as qemu's `lm3s6965evb` models it, behind `embassy_net_driver::Driver`, so
//! that `levent_embassy::DriverDevice` wraps it like any other embassy network driver.
//!
//! - [`mmio`] is the register block and the interrupt handler: the only `unsafe` in the
//!   firmware's network code, each block with its `// SAFETY:` reason.
//! - [`driver`] is the rest, free of `unsafe`: framing of the receive and transmit FIFOs, the
//!   interrupt handshake, the MAC address, and counters of what it dropped.

#[allow(unsafe_code)]
mod mmio;

mod driver;

pub use driver::{Buffers, DriverStats, Stellaris};
