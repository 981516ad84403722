//! # levent-embassy
//!
//! [levent](levent_core) on microcontrollers: the same dispatcher, connection layer and echo
//! server as on Linux, over [smoltcp] sockets and any network driver that implements
//! [`embassy_net_driver::Driver`], with embassy for time and sleeping. `#![no_std]`, no
//! allocator, no `unsafe`.
//!
//! | piece | what it is |
//! |---|---|
//! | [`NetHost`] | the synchronous core: a smoltcp `Interface`, its device and its sockets as a levent [`Host`](levent_core::Host), [`Transport`](levent_core::Transport) and [`Accept`](levent_core::Accept). A turn polls the interface, derives readiness from socket state and feeds the engine; it never sleeps, so it runs the same on a board and in a simulation on virtual time. |
//! | [`TimeHost`] | a host without network: timers, priorities, Notifier wake-ups. |
//! | [`next`] | the async pull loop for an embassy task: sleeps until the earlier of the engine's deadline and smoltcp's `poll_at`, a frame from the driver, or a [`Notifier`](levent_core::Notifier) wake-up (an embassy-sync `AtomicWaker`). |
//! | [`DriverDevice`] | any `embassy_net_driver::Driver` as a smoltcp `Device`, so you bring the driver you already have. |
//! | [`PLATFORM`], [`CLOCK`] | embassy's `Instant` as the engine's clock. |
//! | [`TcpBuffers`] | socket buffers sized by const generics, for a `static` or a `StaticCell`. |
//! | [`echo::EchoServer`] | the reference TCP echo server: the core's connection table with fixed ring buffers, over any transport. |
//! | `link::SimLink` (feature `sim`) | a heapless in-memory medium joining two interfaces, with seeded loss, delay, duplication and reordering on virtual time, for host tests. |
//!
//! ## On a board
//!
//! ```no_run
//! # async fn demo<D: embassy_net_driver::Driver + 'static>(driver: D) -> Result<(), levent_core::LoopError> {
//! use levent_core::{Engine, Route};
//! use levent_embassy::{DriverDevice, NetHost, TcpBuffers, CLOCK, PLATFORM};
//! use smoltcp::iface::{Config, SocketStorage};
//! use smoltcp::wire::{IpAddress, IpCidr};
//!
//! // Storage and buffers live in statics (here leaked boxes; `StaticCell` on a board).
//! let storage: &'static mut [SocketStorage<'static>; 2] = Box::leak(Box::new(Default::default()));
//! let bufs: &'static mut [TcpBuffers<1024, 1024>; 2] = Box::leak(Box::new(Default::default()));
//!
//! let device = DriverDevice::new(driver);
//! let config = Config::new(device.hardware_address());
//! let mut host: NetHost<'static, _, 2> = NetHost::new(config, device, storage, CLOCK).unwrap();
//! host.interface().update_ip_addrs(|a| {
//!     let _ = a.push(IpCidr::new(IpAddress::v4(10, 0, 0, 2), 24));
//! });
//! for b in bufs.iter_mut() {
//!     let (rx, tx) = b.split();
//!     host.add_tcp(rx, tx).unwrap();
//! }
//! // Two connections: two events and a source each, and the listener's.
//! let mut engine: Engine<Route, 8, 4, 2> = Engine::new(PLATFORM);
//! let listening = host.listen(7, 2).unwrap(); // a pool of 2 sockets on port 7
//! let mut echo = levent_embassy::echo::EchoServer::<Route, _, 2, 512>::new(
//!     &mut engine, &host, listening, |route| route).unwrap();
//! while let Some(fired) = levent_embassy::next(&mut host, &mut engine).await? {
//!     echo.handle(&mut engine, &mut host, &fired, fired.datum);
//! }
//! # Ok(()) }
//! ```
//!
//! ## Choices
//!
//! - **smoltcp 0.14, directly.** embassy-net 0.9 wraps smoltcp 0.13 behind its own socket API
//!   and its own runner; levent needs the sockets themselves (their state, for readiness) and
//!   its own loop, so it uses smoltcp directly and picks the current release: 0.14 (Rust 1.91).
//!   A program can still use embassy-net's drivers, because the driver trait is
//!   `embassy-net-driver`, not embassy-net.
//! - **Listening pools.** smoltcp has no `accept`; [`NetHost::listen`] keeps a fixed pool of
//!   listening sockets and re-arms each one when its connection is closed (see [`host`]).
//! - **A turn never sleeps.** [`NetHost`] returns [`Turn::Yielded`](levent_core::Turn::Yielded)
//!   when the engine would wait, and the caller sleeps: [`next`] in an embassy task, a virtual
//!   clock in a simulation, or a `wfi` loop on [`NetHost::wake_at`] in a bare-metal super-loop.
//! - **Notifier wake-ups** go through one of [`MAX_RUNNERS`] static embassy-sync `AtomicWaker`s (a
//!   levent [`Waker`](levent_core::Waker) is a function and a word, so a static table keeps it
//!   free of `unsafe`); on thumbv6m (no compare-and-swap) everything goes through
//!   `critical-section`.
//! - **No signals** on a board: [`PLATFORM`] has none; interrupts reach the engine through a
//!   [`Notifier`](levent_core::Notifier).
//!
//! ## Features
//!
//! - `defmt`: `defmt::Format` in levent-core, and smoltcp and embassy-time logging through defmt.
//! - `dhcpv4`: `NetHost::add_dhcp` and `NetHost::dhcp_update`, smoltcp's DHCPv4 client in
//!   the host's socket set.
//! - `sim`: `link::SimLink`, the simulated link for host tests.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod driver;
pub mod echo;
mod guard;
pub mod host;
#[cfg(feature = "sim")]
pub mod link;
mod runner;
mod time;
mod timehost;
mod wake;

pub use driver::{DriverDevice, RxToken, TxToken, Waking};
#[cfg(feature = "dhcpv4")]
pub use host::DhcpEvent;
pub use host::{NetHost, TcpBuffers};
pub use levent_core;
pub use runner::next;
pub use smoltcp;
pub use time::{CLOCK, PLATFORM};
pub use timehost::TimeHost;
pub use wake::MAX_RUNNERS;

#[cfg(test)]
extern crate std;
