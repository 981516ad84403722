//! Footprint anchor: a TCP echo on port 7 with embassy-net 0.9 (one socket of 1 KiB receive and
//! 1 KiB send buffers) over a dummy driver that drops every frame, on embassy-executor and the
//! firmware's SysTick time driver. In qemu it serves for 100 ms of silence and exits with
//! status 0, as levent's echo build does.

#![no_std]
#![no_main]

#[path = "../../../firmware-qemu/src/common.rs"]
mod common;

use core::task::Context;
use defmt_semihosting as _;
use embassy_executor::Spawner;
use embassy_futures::select::{Either, select};
use embassy_net::tcp::TcpSocket;
use embassy_net::{Ipv4Address, Ipv4Cidr, Runner, StackResources, StaticConfigV4};
use embassy_net_driver::{Capabilities, Driver, HardwareAddress, LinkState};
use embassy_time::Timer;
use static_cell::StaticCell;

/// A driver with no hardware behind it: nothing arrives; frames sent are dropped.
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

static RESOURCES: StaticCell<StackResources<1>> = StaticCell::new();
static RX: StaticCell<[u8; 1024]> = StaticCell::new();
static TX: StaticCell<[u8; 1024]> = StaticCell::new();

#[embassy_executor::task]
async fn net(mut runner: Runner<'static, Dummy>) -> ! {
    runner.run().await
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let Some(mut p) = cortex_m::Peripherals::take() else {
        common::exit(false)
    };
    common::start_time(&mut p.SYST);
    let config = embassy_net::Config::ipv4_static(StaticConfigV4 {
        address: Ipv4Cidr::new(Ipv4Address::new(10, 0, 2, 15), 24),
        gateway: None,
        dns_servers: Default::default(),
    });
    let (stack, runner) =
        embassy_net::new(Dummy, config, RESOURCES.init(StackResources::new()), 0x6c65);
    match net(runner) {
        Ok(token) => spawner.spawn(token),
        Err(_) => common::exit(false),
    }
    let mut socket = TcpSocket::new(stack, RX.init([0; 1024]), TX.init([0; 1024]));
    defmt::info!("echo on port 7");
    let served = async {
        loop {
            if socket.accept(7).await.is_err() {
                continue;
            }
            let mut buf = [0u8; 256];
            'connection: loop {
                let mut rest = match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => &buf[..n],
                };
                while !rest.is_empty() {
                    match socket.write(rest).await {
                        Ok(0) | Err(_) => break 'connection,
                        Ok(n) => rest = &rest[n..],
                    }
                }
            }
            socket.close();
        }
    };
    match select(served, Timer::after_millis(100)).await {
        Either::First(()) => common::exit(false),
        Either::Second(()) => common::exit(true),
    }
}
