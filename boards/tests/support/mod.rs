//! Two simulated boards on one seeded link, on virtual time (microsecond ticks).

#![allow(dead_code, unreachable_pub, missing_docs)]

use levent_core::{Clock, Events, Exit, Fired, Platform, Tick};
use levent_embassy::NetHost;
use levent_embassy::link::{LinkConfig, SimLink, SimPort};
use smoltcp::iface::{Config, SocketStorage};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};

/// Virtual ticks per second.
pub const HZ: u64 = 1_000_000;
/// Sockets per board.
pub const SOCKETS: usize = 40;
pub type Link = SimLink<256, 1514>;
pub type Port = SimPort<'static, 256, 1514>;
pub type Net = NetHost<'static, Port, SOCKETS, 2>;

pub const SERVER: IpAddress = IpAddress::v4(10, 0, 0, 1);
pub const CLIENT: IpAddress = IpAddress::v4(10, 0, 0, 2);

pub fn platform() -> Platform {
    Platform::manual(HZ)
}

/// The seed of this run: `LEVENT_SEED` if set (to replay a failure), `default` otherwise.
/// Printed, so that a failing test shows it.
pub fn seed(default: u64) -> u64 {
    let seed = std::env::var("LEVENT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    eprintln!("seed {seed} (replay with LEVENT_SEED={seed})");
    seed
}

fn board(link: &'static Link, side: u8, ip: IpAddress, seed: u64, tcp: usize, buf: usize) -> Net {
    let mac = EthernetAddress([2, 0, 0, 0, 0, side + 1]);
    let mut config = Config::new(HardwareAddress::Ethernet(mac));
    config.random_seed = seed.wrapping_mul(2).wrapping_add(u64::from(side));
    let storage: &'static mut [SocketStorage<'static>; SOCKETS] =
        Box::leak(Box::new([SocketStorage::EMPTY; SOCKETS]));
    let mut net: Net = NetHost::new(config, link.port(side), storage, Clock::manual(HZ)).unwrap();
    net.interface().update_ip_addrs(|a| {
        a.push(IpCidr::new(ip, 24)).unwrap();
    });
    for _ in 0..tcp {
        let rx: &'static mut [u8] = Box::leak(vec![0u8; buf].into_boxed_slice());
        let tx: &'static mut [u8] = Box::leak(vec![0u8; buf].into_boxed_slice());
        net.add_tcp(rx, tx).unwrap();
    }
    net
}

/// A server board and a client board on one link.
pub struct World {
    pub link: &'static Link,
    pub server: Net,
    pub client: Net,
    pub now: Tick,
    pub seed: u64,
}

impl World {
    pub fn new(config: LinkConfig, seed: u64, server_tcp: usize, client_tcp: usize) -> World {
        let link: &'static Link = Box::leak(Box::new(SimLink::new(config, seed)));
        World {
            link,
            server: board(link, 0, SERVER, seed, server_tcp, 2048),
            client: board(link, 1, CLIENT, seed, client_tcp, 2048),
            now: 0,
            seed,
        }
    }

    /// Nothing fired on either board: move virtual time to the next thing that can happen (a
    /// deadline, a smoltcp timer, a frame in flight), at least one tick on.
    pub fn idle(&mut self) {
        let frame = self
            .link
            .next_delivery()
            .map(|i| u64::try_from(i.total_micros()).unwrap_or(0));
        let next = [self.server.wake_at(), self.client.wake_at(), frame]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = next else {
            let states = |n: &mut Net| {
                (0..SOCKETS)
                    .filter_map(|i| {
                        n.tcp(levent_core::SourceKey(i))
                            .map(|s| (i, s.state(), s.recv_queue(), s.send_queue()))
                    })
                    .map(|(i, st, r, t)| format!("{i}:{st}/{r}/{t}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            panic!(
                "seed {}: at {} µs nothing can ever happen again\nserver {}\nclient {}",
                self.seed,
                self.now,
                states(&mut self.server),
                states(&mut self.client)
            );
        };
        self.now = next.max(self.now + 1);
        self.server.set_now(self.now);
        self.client.set_now(self.now);
    }
}

/// Run every event one engine has now; returns how many fired.
pub fn drain<T: Copy, E: Events<T>>(
    e: &mut E,
    host: &mut Net,
    mut on: impl FnMut(&mut dyn Events<T>, &mut Net, Fired<T>),
) -> usize {
    let mut n = 0;
    while let Some(f) = e.next(host).unwrap() {
        on(e, host, f);
        n += 1;
    }
    if !e.is_alive() {
        // No event left: the loop ended without a turn, but the network keeps going.
        host.poll();
    }
    n
}

/// Whether an engine's last `next` returned because its host yielded.
pub fn yielded(exit: Option<Exit>) -> bool {
    exit == Some(Exit::Done)
}

/// Tables on the heap, for the tests' connection tables with fixed ring buffers (a board keeps
/// them in statics; a debug build would move them through the test thread's stack).
pub struct Boxed;

impl levent_core::memory::Memory for Boxed {
    type Table<X, const N: usize> = Box<[X]>;
    fn table<X, const N: usize>(init: impl FnMut(usize) -> X) -> Box<[X]> {
        (0..N).map(init).collect()
    }
}
