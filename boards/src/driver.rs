//! Any embassy network driver as a smoltcp [`Device`].
//!
//! [`embassy_net_driver::Driver`] is the embedded ecosystem's driver trait (STM32 Ethernet, cyw43
//! Wi-Fi, W5500, nRF, …). Its `receive` and `transmit` take a task [`Context`], so that a driver
//! with nothing to give can wake the task when a frame arrives or a buffer frees. smoltcp's
//! [`Device`] takes a timestamp instead. [`DriverDevice`] keeps the waker of the task that runs
//! the host (installed by the runner through [`Waking::register_waker`]) and builds the context
//! from it on every call; outside a task it uses a waker that does nothing.

use core::task::{Context, Waker};
use embassy_net_driver::{Driver, HardwareAddress as DriverAddress, LinkState};
use smoltcp::phy::{self, Checksum, ChecksumCapabilities, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use smoltcp::wire::HardwareAddress;

/// A smoltcp device that can wake the async runner when it has something to do (a frame
/// arrived, a transmit buffer freed). The runner calls [`register_waker`](Self::register_waker)
/// before every poll.
pub trait Waking: Device {
    /// Wake `waker` when the device has a frame to receive or room to transmit. A device that
    /// only changes when the host polls it (a simulated link on virtual time) ignores it.
    fn register_waker(&mut self, waker: &Waker);
}

/// An [`embassy_net_driver::Driver`] as a smoltcp [`Device`]: it keeps the waker of the task
/// that runs the host and builds each call's task context from it (outside a task, a waker that
/// does nothing), so a driver with nothing to give wakes that task when a frame arrives.
///
/// ```no_run
/// # fn demo<D: embassy_net_driver::Driver>(driver: D) {
/// use levent_embassy::DriverDevice;
/// let device = DriverDevice::new(driver);
/// let mac = device.hardware_address(); // for smoltcp's `iface::Config`
/// # drop((device, mac)); }
/// ```
pub struct DriverDevice<D> {
    driver: D,
    waker: Waker,
}

impl<D: Driver> DriverDevice<D> {
    /// Wrap `driver`.
    pub fn new(driver: D) -> Self {
        DriverDevice {
            driver,
            waker: Waker::noop().clone(),
        }
    }

    /// The driver.
    pub fn driver(&mut self) -> &mut D {
        &mut self.driver
    }

    /// The driver's hardware address, as smoltcp names it (for `iface::Config::new`).
    /// An IEEE 802.15.4 address comes back as [`HardwareAddress::Ip`]: this crate builds smoltcp
    /// without 802.15.4.
    pub fn hardware_address(&self) -> HardwareAddress {
        match self.driver.hardware_address() {
            DriverAddress::Ethernet(mac) => {
                HardwareAddress::Ethernet(smoltcp::wire::EthernetAddress(mac))
            }
            _ => HardwareAddress::Ip,
        }
    }

    /// Whether the link is up; a down link wakes the runner when it comes up.
    pub fn link_up(&mut self) -> bool {
        let mut cx = Context::from_waker(&self.waker);
        self.driver.link_state(&mut cx) == LinkState::Up
    }
}

impl<D: Driver> Waking for DriverDevice<D> {
    fn register_waker(&mut self, waker: &Waker) {
        if !self.waker.will_wake(waker) {
            self.waker = waker.clone();
        }
    }
}

/// A received frame.
pub struct RxToken<T>(T);
/// Room for a frame to send.
pub struct TxToken<T>(T);

impl<T: embassy_net_driver::RxToken> phy::RxToken for RxToken<T> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        self.0.consume(|buf| f(buf))
    }
}

impl<T: embassy_net_driver::TxToken> phy::TxToken for TxToken<T> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        self.0.consume(len, f)
    }
}

fn checksum(c: embassy_net_driver::Checksum) -> Checksum {
    match c {
        embassy_net_driver::Checksum::Both => Checksum::Both,
        embassy_net_driver::Checksum::Tx => Checksum::Tx,
        embassy_net_driver::Checksum::Rx => Checksum::Rx,
        embassy_net_driver::Checksum::None => Checksum::None,
    }
}

impl<D: Driver> Device for DriverDevice<D> {
    type RxToken<'a>
        = RxToken<D::RxToken<'a>>
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<D::TxToken<'a>>
    where
        Self: 'a;

    fn receive(&mut self, _: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let mut cx = Context::from_waker(&self.waker);
        self.driver
            .receive(&mut cx)
            .map(|(rx, tx)| (RxToken(rx), TxToken(tx)))
    }

    fn transmit(&mut self, _: Instant) -> Option<Self::TxToken<'_>> {
        let mut cx = Context::from_waker(&self.waker);
        self.driver.transmit(&mut cx).map(TxToken)
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let caps = self.driver.capabilities();
        let mut out = DeviceCapabilities::default();
        out.max_transmission_unit = caps.max_transmission_unit;
        out.max_burst_size = caps.max_burst_size;
        out.medium = match self.driver.hardware_address() {
            DriverAddress::Ethernet(_) => Medium::Ethernet,
            _ => Medium::Ip,
        };
        let mut sums = ChecksumCapabilities::default();
        sums.ipv4 = checksum(caps.checksum.ipv4);
        sums.udp = checksum(caps.checksum.udp);
        sums.tcp = checksum(caps.checksum.tcp);
        sums.icmpv4 = checksum(caps.checksum.icmpv4);
        out.checksum = sums;
        out
    }
}
