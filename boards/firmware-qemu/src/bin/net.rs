//! levent on a network: qemu's `lm3s6965evb` with its emulated Stellaris Ethernet controller,
//! reached from the machine running qemu through user-mode networking (see `net-up`).
//!
//! It takes its address by DHCPv4 from qemu, then serves, on one engine and at once:
//!
//! - TCP echo on port 7 (`EchoServer`, up to 4 connections);
//! - levent's HTTP server on port 80, the core's `Server` over fixed ring buffers: `GET /`
//!   answers a small page, `POST /echo` answers with the request body, anything else is 404;
//!   heads over 1 KiB get 431, bodies over 1 MiB 413;
//! - levent's DNS server on port 53, UDP and TCP, for a few fixed names (`NAMES`); every other
//!   name is NXDOMAIN. (qemu's restricted user network drops UDP the guest sends, answers
//!   included, so `net-up` relays UDP queries from the host to the TCP side.)
//!
//! It logs through defmt over semihosting and runs until qemu is stopped.

#![no_std]
#![no_main]

#[path = "../common.rs"]
mod common;
#[path = "../stellaris/mod.rs"]
mod stellaris;

use core::net::Ipv4Addr;
use core::time::Duration;
use defmt_semihosting as _;
use embassy_executor::Spawner;
use levent_core::buffer::RingBuffer;
use levent_core::dns::{Class, RData, Rcode, Record};
use levent_core::http::route::path_of;
use levent_core::http::server::{Exchange, LogEntry, Server, ServerConfig, Service};
use levent_core::http::{Framing, Header, Limits, Request};
use levent_core::io::Datagram;
use levent_core::{Engine, Event, Route, SourceKey};
use levent_embassy::echo::EchoServer;
use levent_embassy::{CLOCK, DhcpEvent, DriverDevice, NetHost, PLATFORM, TcpBuffers};
use smoltcp::iface::{Config, SocketStorage};
use smoltcp::socket::{dhcpv4, udp};
use static_cell::{ConstStaticCell, StaticCell};
use stellaris::Stellaris;

/// The board's MAC address (locally administered).
const MAC: [u8; 6] = [0x02, 0x4c, 0x45, 0x56, 0x00, 0x01];

const ECHO_PORT: u16 = 7;
const HTTP_PORT: u16 = 80;
const DNS_PORT: u16 = 53;

/// Echo connections at once, and the listening pool behind them (one more, so that a new
/// client finds a listener while four are served).
const ECHO_CONNS: usize = 4;
const ECHO_POOL: usize = ECHO_CONNS + 1;
/// HTTP connections at once, and their listening pool.
const HTTP_CONNS: usize = 2;
const HTTP_POOL: usize = HTTP_CONNS + 1;
/// DNS over TCP: connections at once, and their listening pool.
const DNS_CONNS: usize = 1;
const DNS_POOL: usize = DNS_CONNS + 1;
/// TCP sockets, the DNS socket and the DHCP client's.
const SOCKETS: usize = ECHO_POOL + HTTP_POOL + DNS_POOL + 2;
/// Each connection's ring buffers, and the HTTP server's scratch (the largest request head).
const HTTP_BUF: usize = 1024;
const HTTP_HEAD: usize = 1024;
const ECHO_BUF: usize = 256;
/// The largest DNS message.
const DNS_MSG: usize = 512;

type Host = NetHost<'static, DriverDevice<Stellaris>, SOCKETS, 3>;
type Http = Server<Ev, SourceKey, RingBuffer<HTTP_BUF>, HTTP_CONNS, HTTP_HEAD, 16>;
type Dns = levent_core::dns::Server<Ev, SourceKey, RingBuffer<{ DNS_MSG + 2 }>, DNS_CONNS, DNS_MSG>;
/// The route tags of the HTTP and the DNS server (both carry `Ev::Net` routes).
const HTTP_TAG: u16 = 1;
const DNS_TAG: u16 = 2;
type Echo = EchoServer<Ev, SourceKey, ECHO_CONNS, ECHO_BUF>;
/// Events: the echo's 2 + 2 per connection, HTTP's 2 + 3 per connection, DNS's 4 + 2 per
/// connection, the tick (25 in all: each server checks its share when it starts).
type Net = Engine<Ev, 32, 16, 1>;

/// The names the DNS server answers, with their IPv4 address (`None`: the board's own).
const NAMES: [(&str, Option<Ipv4Addr>); 3] = [
    ("levent.test", Some(Ipv4Addr::new(192, 0, 2, 1))),
    ("www.levent.test", Some(Ipv4Addr::new(192, 0, 2, 80))),
    ("board.levent.test", None),
];

const PAGE: &[u8] = b"<!doctype html>\n<title>levent</title>\n\
<p>levent on an emulated Cortex-M3: HTTP, TCP echo and DNS on one engine.</p>\n";

/// What an event is for.
#[derive(Clone, Copy, Debug, defmt::Format)]
enum Ev {
    /// The HTTP server's and the DNS server's events, told apart by their route's tag.
    Net(Route),
    Echo(Route),
    Tick,
}

impl From<Route> for Ev {
    fn from(r: Route) -> Self {
        Ev::Net(r)
    }
}

/// The exchange's tag ([`Exchange::tag`]) of a `POST /echo` with a chunked body; `POST_ECHO + 1 + n`
/// for one of `n` bytes; anything else is no echo.
const POST_ECHO: usize = 1;

/// The HTTP application: echoes are marked in their exchange's tag; how many were answered.
struct Web {
    answered: u32,
}

impl Service for Web {
    fn request(&mut self, req: &Request<'_, '_>, ex: &mut Exchange<'_>) {
        match (req.method(), path_of(req.target())) {
            ("GET" | "HEAD", "/") => {
                let h = [Header {
                    name: "Content-Type",
                    value: b"text/html; charset=utf-8",
                }];
                ex.respond(200, &h, PAGE);
            }
            ("POST", "/echo") => {
                // Answered as the body arrives (after `100 Continue`, if the client asks).
                let tag = match req.framing() {
                    Framing::Length(n) => {
                        POST_ECHO + 1 + usize::try_from(n).unwrap_or(usize::MAX - 2)
                    }
                    _ => POST_ECHO,
                };
                ex.set_tag(tag);
            }
            _ => {
                let h = [Header {
                    name: "Content-Type",
                    value: b"text/plain",
                }];
                ex.respond(404, &h, b"not found\n");
            }
        }
    }

    fn body(&mut self, data: &[u8], ex: &mut Exchange<'_>) -> usize {
        let len = match ex.tag() {
            POST_ECHO => None,
            t if t > POST_ECHO => Some((t - POST_ECHO - 1) as u64),
            _ => return data.len(),
        };
        if !ex.is_started() {
            let h = [Header {
                name: "Content-Type",
                value: b"application/octet-stream",
            }];
            if ex.start(200, &h, len).is_err() {
                return data.len();
            }
        }
        // Fewer than all: the rest waits in the input until the output drains.
        ex.send(data).unwrap_or(data.len())
    }

    fn body_end(&mut self, _: &[Header<'_>], ex: &mut Exchange<'_>) {
        if ex.tag() >= POST_ECHO {
            ex.set_tag(0);
            if ex.is_started() {
                let _ = ex.finish();
            } else {
                ex.respond(200, &[], b"");
            }
        }
    }

    fn log(&mut self, entry: &LogEntry<'_>) {
        self.answered += 1;
        defmt::debug!(
            "http {=str} {=u16} {=u64}",
            entry.request_line,
            entry.status,
            entry.body_bytes
        );
    }
}

/// Answer one DNS query from [`NAMES`]; `me` is the board's leased address.
fn answer(
    req: levent_core::dns::Request<
        '_,
        Ev,
        SourceKey,
        RingBuffer<{ DNS_MSG + 2 }>,
        DNS_CONNS,
        DNS_MSG,
    >,
    engine: &mut Net,
    host: &mut Host,
    me: Option<Ipv4Addr>,
) {
    let msg = req.message();
    let Some(q) = msg.question() else { return };
    let Some(&(_, addr)) = NAMES.iter().find(|(n, _)| q.name.eq_dotted(n)) else {
        let _ = req.reply(engine, host, Rcode::NXDOMAIN, &[]);
        return;
    };
    let addr = addr.or(me);
    let wants_a = q.qclass == Class::IN && (q.qtype == levent_core::dns::RType::A);
    let record = addr.filter(|_| wants_a).map(|a| Record {
        name: q.name,
        class: Class::IN,
        ttl: 60,
        data: RData::A(a),
    });
    let _ = req.reply(engine, host, Rcode::NOERROR, record.as_slice());
}

// Const-initialised in place (not built on the stack and copied: the stack is small).
static FRAMES: ConstStaticCell<stellaris::Buffers> =
    ConstStaticCell::new(stellaris::Buffers::new());
static STORAGE: ConstStaticCell<[SocketStorage<'static>; SOCKETS]> =
    ConstStaticCell::new([SocketStorage::EMPTY; SOCKETS]);
static ECHO_BUFS: ConstStaticCell<[TcpBuffers<1024, 1024>; ECHO_POOL]> =
    ConstStaticCell::new([const { TcpBuffers::new() }; ECHO_POOL]);
static HTTP_BUFS: ConstStaticCell<[TcpBuffers<1024, 1024>; HTTP_POOL]> =
    ConstStaticCell::new([const { TcpBuffers::new() }; HTTP_POOL]);
static DNS_BUFS: ConstStaticCell<[TcpBuffers<{ DNS_MSG + 2 }, { DNS_MSG + 2 }>; DNS_POOL]> =
    ConstStaticCell::new([const { TcpBuffers::new() }; DNS_POOL]);
static DNS_META: ConstStaticCell<[[udp::PacketMetadata; 4]; 2]> =
    ConstStaticCell::new([[udp::PacketMetadata::EMPTY; 4]; 2]);
static DNS_DATA: ConstStaticCell<[[u8; 2 * DNS_MSG]; 2]> =
    ConstStaticCell::new([[0; 2 * DNS_MSG]; 2]);
static HTTP: StaticCell<Http> = StaticCell::new();
static DNS: StaticCell<Dns> = StaticCell::new();

/// Stop here: the firmware cannot serve.
fn fail(what: &str) -> ! {
    defmt::error!("cannot start: {=str}", what);
    common::exit(false)
}

/// What the loop serves, in statics.
struct App {
    host: &'static mut Host,
    engine: &'static mut Net,
    echo: &'static mut Echo,
    http: &'static mut Http,
    dns: &'static mut Dns,
}

static HOST: StaticCell<Host> = StaticCell::new();
static ENGINE: StaticCell<Net> = StaticCell::new();
static ECHO: StaticCell<Echo> = StaticCell::new();

// Construction is split into functions of their own, called one after the other, not part of
// the async `main`: the temporaries of construction (whole servers and hosts, built and then
// moved) then live in frames that are gone once each returns, instead of in the frame of every
// poll of the task, and never all at once.

/// The host over the Ethernet controller, with its sockets.
#[inline(never)]
fn setup_host() -> Result<&'static mut Host, &'static str> {
    let nic = Stellaris::new(MAC, FRAMES.take()).ok_or("Ethernet controller")?;
    if nic.programmed_address() != MAC {
        return Err("MAC address");
    }
    let device = DriverDevice::new(nic);
    let mut config = Config::new(device.hardware_address());
    config.random_seed = embassy_time::Instant::now().as_ticks() ^ 0x6c65_7665_6e74;
    let host = Host::new(config, device, STORAGE.take(), CLOCK).map_err(|_| "host")?;
    let host = HOST.init(host);
    host.add_dhcp(dhcpv4::Socket::new())
        .map_err(|_| "DHCP socket")?;
    for b in ECHO_BUFS.take().iter_mut().chain(HTTP_BUFS.take()) {
        let (rx, tx) = b.split();
        host.add_tcp(rx, tx).map_err(|_| "TCP sockets")?;
    }
    for b in DNS_BUFS.take().iter_mut() {
        let (rx, tx) = b.split();
        host.add_tcp(rx, tx).map_err(|_| "TCP sockets")?;
    }
    let [rx_meta, tx_meta] = DNS_META.take();
    let [rx_data, tx_data] = DNS_DATA.take();
    let rx = udp::PacketBuffer::new(&mut rx_meta[..], &mut rx_data[..]);
    let tx = udp::PacketBuffer::new(&mut tx_meta[..], &mut tx_data[..]);
    host.add_udp(rx, tx).map_err(|_| "UDP socket")?;
    Ok(host)
}

/// The HTTP server, not bound yet.
#[inline(never)]
fn setup_http() -> &'static mut Http {
    HTTP.init_with(|| {
        Server::tagged(
            ServerConfig {
                limits: Limits {
                    max_request_line: 512,
                    max_headers: 16,
                    max_body_size: 1 << 20,
                    ..Limits::DEFAULT
                },
                head_timeout: Some(Duration::from_secs(10)),
                idle_timeout: Some(Duration::from_secs(30)),
                linger: Duration::from_millis(500),
                write_low: HTTP_BUF / 2,
                write_high: HTTP_BUF,
                read_high: HTTP_BUF,
                server_name: Some("levent-qemu"),
                ..ServerConfig::DEFAULT
            },
            HTTP_TAG,
        )
    })
}

/// The engine.
#[inline(never)]
fn setup_engine() -> &'static mut Net {
    ENGINE.init_with(|| Engine::new(PLATFORM))
}

/// Listen, and start the servers and the tick on `engine`.
#[inline(never)]
fn setup_servers(
    host: &'static mut Host,
    engine: &'static mut Net,
    http: &'static mut Http,
) -> Result<App, &'static str> {
    let echo_pool = host.listen(ECHO_PORT, ECHO_POOL).map_err(|_| "listen")?;
    let http_pool = host.listen(HTTP_PORT, HTTP_POOL).map_err(|_| "listen")?;
    let dns_pool = host.listen(DNS_PORT, DNS_POOL).map_err(|_| "listen")?;
    let echo = Echo::new(engine, host, echo_pool, Ev::Echo).map_err(|_| "echo server")?;
    let echo = ECHO.init(echo);
    http.bind(engine, host, http_pool)
        .map_err(|_| "HTTP server")?;
    let dns = DNS.init(Dns::new(engine, DNS_TAG).map_err(|_| "DNS server")?);
    let udp_socket =
        Datagram::bind(host, (Ipv4Addr::UNSPECIFIED, DNS_PORT).into()).map_err(|_| "DNS socket")?;
    dns.serve_udp(engine, host, udp_socket)
        .map_err(|_| "DNS socket")?;
    dns.serve_tcp(engine, host, dns_pool)
        .map_err(|_| "DNS listener")?;
    // DHCP news are applied on this tick.
    engine
        .start(
            Event::timer().persist(),
            Ev::Tick,
            Some(Duration::from_millis(100)),
        )
        .map_err(|_| "tick")?;
    Ok(App {
        host,
        engine,
        echo,
        http,
        dns,
    })
}

/// Everything, in its statics.
fn setup() -> Result<App, &'static str> {
    let host = setup_host()?;
    let http = setup_http();
    let engine = setup_engine();
    setup_servers(host, engine, http)
}

#[embassy_executor::main]
async fn main(_spawner: Spawner) {
    let Some(mut p) = cortex_m::Peripherals::take() else {
        fail("peripherals")
    };
    common::start_time(&mut p.SYST);
    let App {
        host,
        engine,
        echo,
        http,
        dns,
    } = match setup() {
        Ok(app) => app,
        Err(what) => fail(what),
    };
    defmt::info!(
        "serving: echo on {=u16}, HTTP on {=u16}, DNS on {=u16}; waiting for DHCP",
        ECHO_PORT,
        HTTP_PORT,
        DNS_PORT
    );

    let mut state = State {
        web: Web { answered: 0 },
        me: None,
        stats: stellaris::DriverStats::default(),
    };
    loop {
        match levent_embassy::next(host, engine).await {
            Ok(Some(fired)) => handle(host, engine, echo, http, dns, &mut state, &fired),
            Ok(None) => fail("the loop ended"),
            Err(_) => fail("the loop failed"),
        }
    }
}

/// What the loop keeps besides the servers.
struct State {
    web: Web,
    /// The leased address.
    me: Option<Ipv4Addr>,
    /// The driver's counters when last logged.
    stats: stellaris::DriverStats,
}

/// Route one fired event. Not inlined into the task: the servers' accept paths build whole
/// connections (ring buffers included) on the stack, and that frame should exist only while an
/// event is handled, not during every poll of the task.
#[inline(never)]
fn handle(
    host: &mut Host,
    engine: &mut Net,
    echo: &mut Echo,
    http: &mut Http,
    dns: &mut Dns,
    state: &mut State,
    fired: &levent_core::Fired<Ev>,
) {
    match fired.datum {
        Ev::Net(route) if route.tag() == HTTP_TAG => {
            http.handle(engine, host, fired, route, &mut state.web)
        }
        Ev::Net(route) => {
            if let Some(req) = dns.handle(engine, host, fired, route) {
                answer(req, engine, host, state.me);
            }
        }
        Ev::Echo(route) => echo.handle(engine, host, fired, route),
        Ev::Tick => {
            // Log what the driver dropped, when that changes.
            let now = host.device().driver().stats();
            let dropped = |s: stellaris::DriverStats| {
                (s.oversized, s.runts, s.overruns, s.fifo_resets, s.tx_errors)
            };
            if dropped(now) != dropped(state.stats) {
                defmt::warn!("driver: {}", now);
            }
            state.stats = now;
            match host.dhcp_update() {
                Some(DhcpEvent::Configured { address, router }) => {
                    state.me = Some(address.address());
                    defmt::info!("DHCP: address {}, router {}", address, router);
                }
                Some(DhcpEvent::Deconfigured) => {
                    state.me = None;
                    defmt::warn!("DHCP: lease lost");
                }
                None => {}
            }
        }
    }
}
