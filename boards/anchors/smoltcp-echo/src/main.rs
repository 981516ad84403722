//! Footprint anchor: a bare smoltcp 0.14 poll loop (no executor) echoing TCP on port 7 with one
//! socket of 1 KiB receive and 1 KiB send buffers, over a dummy device that drops every frame,
//! with the firmware's SysTick time driver for timestamps. In qemu it serves for 100 ms of
//! silence and exits with status 0, as levent's echo build does.

#![no_std]
#![no_main]

#[path = "../../../firmware-qemu/src/common.rs"]
mod common;

use defmt_semihosting as _;
use embassy_time::Instant;
use smoltcp::iface::{Config, Interface, SocketSet, SocketStorage};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};
use static_cell::{ConstStaticCell, StaticCell};

/// A device with no hardware behind it: nothing arrives; frames sent are dropped.
struct Dummy;
struct Token;

impl phy::RxToken for Token {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&[])
    }
}

impl phy::TxToken for Token {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = [0u8; 1514];
        f(&mut frame[..len.min(1514)])
    }
}

impl Device for Dummy {
    type RxToken<'a> = Token;
    type TxToken<'a> = Token;
    fn receive(&mut self, _: smoltcp::time::Instant) -> Option<(Token, Token)> {
        None
    }
    fn transmit(&mut self, _: smoltcp::time::Instant) -> Option<Token> {
        Some(Token)
    }
    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = 1514;
        caps
    }
}

static STORAGE: ConstStaticCell<[SocketStorage<'static>; 1]> =
    ConstStaticCell::new([SocketStorage::EMPTY; 1]);
// The interface and the socket set in statics too, as levent and embassy-net keep theirs, so
// that static RAM compares like with like.
static IFACE: StaticCell<Interface> = StaticCell::new();
static SOCKETS: StaticCell<SocketSet<'static>> = StaticCell::new();
static RX: ConstStaticCell<[u8; 1024]> = ConstStaticCell::new([0; 1024]);
static TX: ConstStaticCell<[u8; 1024]> = ConstStaticCell::new([0; 1024]);

fn now() -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_millis(Instant::now().as_millis() as i64)
}

#[cortex_m_rt::entry]
fn main() -> ! {
    let Some(mut p) = cortex_m::Peripherals::take() else {
        common::exit(false)
    };
    common::start_time(&mut p.SYST);
    let mut device = Dummy;
    let mac = EthernetAddress([2, 0, 0, 0, 0, 1]);
    let mut config = Config::new(HardwareAddress::Ethernet(mac));
    config.random_seed = 0x6c65;
    let iface = IFACE.init(Interface::new(config, &mut device, now()));
    iface.update_ip_addrs(|a| {
        let _ = a.push(IpCidr::new(IpAddress::v4(10, 0, 2, 15), 24));
    });
    let sockets = SOCKETS.init(SocketSet::new(&mut STORAGE.take()[..]));
    let socket = tcp::Socket::new(
        tcp::SocketBuffer::new(&mut RX.take()[..]),
        tcp::SocketBuffer::new(&mut TX.take()[..]),
    );
    let handle = sockets.add(socket);
    defmt::info!("echo on port 7");
    let start = Instant::now();
    while start.elapsed().as_millis() < 100 {
        iface.poll(now(), &mut device, sockets);
        let socket = sockets.get_mut::<tcp::Socket<'_>>(handle);
        if !socket.is_open() && socket.listen(7).is_err() {
            common::exit(false)
        }
        let mut buf = [0u8; 256];
        while socket.can_recv() && socket.can_send() {
            let room = socket.send_capacity() - socket.send_queue();
            let want = room.min(buf.len());
            match socket.recv_slice(&mut buf[..want]) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let _ = socket.send_slice(&buf[..n]);
                }
            }
        }
        if !socket.may_recv() && socket.may_send() {
            socket.close();
        }
        cortex_m::asm::wfi();
    }
    common::exit(true)
}
