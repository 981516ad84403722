//! The footprint build: levent's TCP echo server (core `Listener` and `Connection` over
//! `NetHost`) on port 7 with one socket of 1 KiB receive and 1 KiB send buffers, over a dummy
//! embassy network driver (nothing arrives; frames sent are dropped), on embassy-executor and a
//! SysTick time driver. In qemu it serves for 100 ms of silence and exits with status 0.

#![no_std]
#![no_main]

#[path = "../common.rs"]
mod common;

use core::task::Context;
use core::time::Duration;
use defmt_semihosting as _;
use embassy_executor::Spawner;
use embassy_net_driver::{Capabilities, Driver, HardwareAddress, LinkState};
use levent_core::{Engine, Exit, Route, SourceKey};
use levent_embassy::echo::EchoServer;
use levent_embassy::{CLOCK, DriverDevice, NetHost, PLATFORM, TcpBuffers};
use smoltcp::iface::{Config, SocketStorage};
use smoltcp::wire::{IpAddress, IpCidr};
use static_cell::StaticCell;

/// A driver with no hardware behind it: the echo's code and memory without a NIC's.
struct Dummy;
struct Token;

impl embassy_net_driver::RxToken for Token {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, f: F) -> R {
        f(&mut [])
    }
}

impl embassy_net_driver::TxToken for Token {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = [0u8; 1514];
        f(&mut frame[..len.min(1514)])
    }
}

impl Driver for Dummy {
    type RxToken<'a> = Token;
    type TxToken<'a> = Token;
    fn receive(&mut self, _: &mut Context<'_>) -> Option<(Token, Token)> {
        None
    }
    fn transmit(&mut self, _: &mut Context<'_>) -> Option<Token> {
        Some(Token)
    }
    fn link_state(&mut self, _: &mut Context<'_>) -> LinkState {
        LinkState::Up
    }
    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::default();
        caps.max_transmission_unit = 1514;
        caps
    }
    fn hardware_address(&self) -> HardwareAddress {
        HardwareAddress::Ethernet([2, 0, 0, 0, 0, 1])
    }
}

static STORAGE: StaticCell<[SocketStorage<'static>; 1]> = StaticCell::new();
static BUFFERS: StaticCell<TcpBuffers<1024, 1024>> = StaticCell::new();

#[embassy_executor::main]
async fn main(_spawner: Spawner) {
    let Some(mut p) = cortex_m::Peripherals::take() else {
        common::exit(false)
    };
    common::start_time(&mut p.SYST);
    let device = DriverDevice::new(Dummy);
    let config = Config::new(device.hardware_address());
    let storage = STORAGE.init([SocketStorage::EMPTY; 1]);
    let Ok(mut host) = NetHost::<_, 1>::new(config, device, storage, CLOCK) else {
        common::exit(false)
    };
    host.interface().update_ip_addrs(|a| {
        let _ = a.push(IpCidr::new(IpAddress::v4(10, 0, 2, 15), 24));
    });
    let (rx, tx) = BUFFERS.init(TcpBuffers::new()).split();
    if host.add_tcp(rx, tx).is_err() {
        common::exit(false)
    }
    let Ok(listening) = host.listen(7, 1) else {
        common::exit(false)
    };
    let mut engine: Engine<Route, 4, 2, 1> = Engine::new(PLATFORM);
    let Ok(mut echo) =
        EchoServer::<Route, SourceKey, 1, 256>::new(&mut engine, &host, listening, |r| r)
    else {
        common::exit(false)
    };
    let _ = engine.loop_exit(Some(Duration::from_millis(100)));
    defmt::info!("echo on port 7");
    loop {
        match levent_embassy::next(&mut host, &mut engine).await {
            Ok(Some(f)) => echo.handle(&mut engine, &mut host, &f, f.datum),
            Ok(None) => break,
            Err(_) => common::exit(false),
        }
    }
    common::exit(engine.last_exit() == Some(Exit::Exit) && echo.stats().accepted == 0)
}
