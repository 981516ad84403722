//! Seeded fault exploration (`levent_hosts::explore`): the echo server with its clients, the
//! HTTP server with pipelining clients, the DNS resolver against the DNS server over lossy UDP
//! with TCP fallback, and the listener under descriptor exhaustion, each over many seeds whose
//! faults are counted; every fault kind must fire. And a planted bug the explorer must find.
//!
//! `LEVENT_SEEDS=N` runs N seeds per scenario (2,500 by default: 10,000 in all);
//! `LEVENT_SEED=S` runs one seed, as a failure prints it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use levent_core::conn::{ConnEvent, ConnHandler, ConnTable, Refusal, Route, TableConfig};
use levent_core::dns::Query;
use levent_core::http::server::ServerConfig;
use levent_core::io::Transport;
use levent_core::{Conn, Engine, Host, Platform, RingBuffer, SourceKey};
use levent_hosts::explore::{Chaos, Fault, Faults, Report, Run, explore, first_failure};
use levent_hosts::sim::SimNet;
use levent_tests::dns::{Bed, DnsWorld, Rd};
use levent_tests::http::Harness;
use levent_tests::net::NetWorld;
use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

/// Seeds per scenario unless `LEVENT_SEEDS` says otherwise.
const SEEDS: u64 = 2500;
const MS: u64 = 1_000_000;

/// Every scenario's faults, so that the last one to finish can check every kind fired.
static ALL: Mutex<(usize, Faults)> = Mutex::new((0, Faults::new()));

fn done(report: &Report) {
    assert!(report.failures.is_empty(), "{report}");
    let mut all = ALL.lock().unwrap_or_else(|e| e.into_inner());
    all.0 += 1;
    all.1.add(&report.faults);
    // With the full set of seeds, once all four scenarios ran: every kind fired somewhere.
    if all.0 == 4 && levent_hosts::explore::seeds(SEEDS).len() as u64 >= SEEDS {
        assert!(
            all.1.missing().is_empty(),
            "never fired: {:?} ({})",
            all.1.missing(),
            all.1
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Echo: a connection table echoing every byte, clients that write random messages and read
// them back.

const C: usize = 8;
type Buf = RingBuffer<512>;
type Table = ConnTable<Route, SourceKey, Buf, C>;
type Eng = Engine<Route, { levent_core::conn::events_needed(C, 0) }, { C + 1 }, 1>;

struct Echo;

impl ConnHandler<Route, Chaos, Buf, ()> for Echo {
    fn event(&mut self, c: &mut Conn<'_, Route, Chaos, Buf, ()>, ev: ConnEvent) {
        if matches!(ev, ConnEvent::Read | ConnEvent::Eof | ConnEvent::Drained) {
            c.echo();
        }
    }
    fn refused(&mut self, _: Refusal) {}
}

/// A client: its socket, what it sent and got back.
struct Client {
    key: SourceKey,
    msg: Vec<u8>,
    sent: usize,
    got: Vec<u8>,
    shut: bool,
    /// It ended: everything back, end of file, or an error.
    over: bool,
    why: Option<String>,
}

fn rng(seed: u64) -> fastrand::Rng {
    fastrand::Rng::with_seed(seed ^ 0xec40)
}

/// Run clients against a table on `chaos`: each sends its message in random pieces, shuts down
/// writing, reads until end of file. `fd_limit` caps the server's descriptors.
fn echo_run(seed: u64, clients: usize, fd_limit: Option<usize>) -> Run {
    let mut r = rng(seed);
    let net = SimNet::new(seed).with_buffer(r.usize(64..4096));
    let mut chaos = Chaos::with_net(net, seed, 1000);
    if let Some(n) = fd_limit {
        chaos.net().set_fd_limit(n);
    }
    let listening = chaos.net().listen(7).unwrap();
    let mut engine = Box::new(Eng::new(Platform::manual(1000)));
    let mut table = Table::new(TableConfig {
        backoff: Duration::from_millis(5),
        ..TableConfig::default()
    });
    table.listen(&mut *engine, &chaos, listening).unwrap();
    let mut cs: Vec<Client> = (0..clients)
        .map(|_| {
            let len = r.usize(1..3000);
            Client {
                key: chaos.connect_port(7),
                msg: (0..len).map(|_| r.u8(..)).collect(),
                sent: 0,
                got: vec![],
                shut: false,
                over: false,
                why: None,
            }
        })
        .collect();
    let mut buf = vec![0u8; 1024];
    for step in 0..20_000 {
        if step == 2_000 {
            chaos.calm();
        }
        let mut progress = false;
        for c in cs.iter_mut().filter(|c| !c.over) {
            if c.sent < c.msg.len() {
                let piece = r.usize(1..=(c.msg.len() - c.sent).min(700));
                match chaos.write(c.key, &c.msg[c.sent..c.sent + piece]) {
                    Ok(n) => {
                        c.sent += n;
                        progress |= n > 0;
                    }
                    Err(e) if e.is_transient() => {}
                    Err(e) => {
                        c.over = true;
                        c.why = Some(format!("write: {e}"));
                        continue;
                    }
                }
            } else if !c.shut {
                c.shut = true;
                let _ = chaos.shutdown_write(c.key);
            }
            match chaos.read(c.key, &mut buf) {
                Ok(0) => {
                    c.over = true;
                    c.why = (c.got.len() < c.msg.len()).then(|| "end of file".into());
                }
                Ok(n) => {
                    c.got.extend_from_slice(&buf[..n]);
                    progress = true;
                }
                Err(e) if e.is_transient() => {}
                Err(e) => {
                    c.over = true;
                    c.why = Some(format!("read: {e}"));
                }
            }
        }
        if cs.iter().all(|c| c.over) {
            break;
        }
        // Let virtual time pass when nothing moved (a listener backing off, timers).
        engine.turn(&mut chaos, !progress).unwrap();
        while let Some(f) = engine.next_fired() {
            table.dispatch(&mut *engine, &mut chaos, &f, f.datum, &mut Echo);
        }
    }
    let mut failure = None;
    for (i, c) in cs.iter().enumerate() {
        let faulted = chaos.faulted(c.key) || chaos.connected(c.key).is_err();
        if !c.msg.starts_with(&c.got) {
            failure = Some(format!("client {i}: the bytes back are not what it sent"));
        } else if !faulted && c.got != c.msg {
            failure = Some(format!(
                "client {i}: {} of {} bytes back, unfaulted ({:?}, over {})",
                c.got.len(),
                c.msg.len(),
                c.why,
                c.over
            ));
        }
    }
    // Every connection ends: the table frees its slots once the clients are gone.
    for c in &cs {
        chaos.close(&mut *engine, c.key);
    }
    chaos.calm();
    for _ in 0..50 {
        engine.turn(&mut chaos, true).unwrap();
        while let Some(f) = engine.next_fired() {
            table.dispatch(&mut *engine, &mut chaos, &f, f.datum, &mut Echo);
        }
    }
    if failure.is_none() && !table.is_empty() {
        failure = Some(format!(
            "{} slots still taken after every client left",
            table.len()
        ));
    }
    chaos.finish(failure.map_or(Ok(()), Err))
}

#[test]
fn explore_echo_server_and_clients() {
    done(&explore("echo", SEEDS, |seed| echo_run(seed, 4, None)));
}

#[test]
fn explore_listener_under_descriptor_exhaustion() {
    // Eight clients, two descriptors: the listener backs off and takes the rest as slots free.
    done(&explore("listener", SEEDS, |seed| {
        echo_run(seed, 8, Some(2))
    }));
}

// ---------------------------------------------------------------------------------------------
// HTTP: the server with pipelining keep-alive clients, GETs and POSTed bodies.

thread_local! {
    static SEED: Cell<u64> = const { Cell::new(0) };
}

/// The HTTP and DNS suites' worlds, on a faulty network.
struct ChaosWorld {
    chaos: Chaos,
    next_port: u16,
}

impl ChaosWorld {
    fn make() -> ChaosWorld {
        ChaosWorld {
            chaos: Chaos::new(SEED.get(), 1_000_000_000),
            next_port: 80,
        }
    }
}

impl NetWorld for ChaosWorld {
    type Io = Chaos;
    type Handle = SourceKey;
    fn new() -> Self {
        ChaosWorld::make()
    }
    fn host(&mut self) -> &mut dyn Host {
        &mut self.chaos
    }
    fn io(&mut self) -> &mut Chaos {
        &mut self.chaos
    }
    fn platform(&self) -> Platform {
        levent_tests::SIM_PLATFORM
    }
    fn listen(&mut self) -> (SourceKey, SocketAddr) {
        let port = self.next_port;
        self.next_port += 1;
        let l = self.chaos.net().listen(port).unwrap();
        (l, ([127, 0, 0, 1], port).into())
    }
    fn nowhere(&mut self) -> SocketAddr {
        ([127, 0, 0, 1], 9).into()
    }
    fn connect(&mut self, to: SocketAddr) -> SourceKey {
        self.chaos.connect_port(to.port())
    }
    fn reset(&mut self, d: &mut dyn levent_core::Dispatcher, h: SourceKey) {
        self.chaos.net().reset(h);
        self.chaos.close(d, h);
    }
    fn small_buffers(&mut self, _: SourceKey) {}
}

fn http_run(seed: u64) -> Run {
    SEED.set(seed);
    let mut r = rng(seed);
    let mut h = Harness::<ChaosWorld>::new(ServerConfig::DEFAULT);
    // Per client, the responses it must get: (status, body).
    let mut expected: Vec<Vec<(u16, Vec<u8>)>> = vec![];
    for _ in 0..3 {
        let i = h.connect();
        let mut wire = Vec::new();
        let mut want = vec![];
        for _ in 0..r.usize(1..5) {
            if r.bool() {
                wire.extend_from_slice(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
                want.push((200, b"hello world".to_vec()));
            } else {
                let body: Vec<u8> = (0..r.usize(0..3000)).map(|_| r.u8(..)).collect();
                wire.extend_from_slice(
                    format!(
                        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    )
                    .as_bytes(),
                );
                wire.extend_from_slice(&body);
                want.push((200, body));
            }
        }
        h.send(i, &wire);
        expected.push(want);
    }
    let calm_at = h.e.now() + 2_000 * MS;
    h.run_until(Duration::from_secs(120), |h| {
        if h.e.now() >= calm_at {
            h.w.chaos.calm();
        }
        (0..expected.len())
            .all(|i| h.clients[i].closed || h.responses(i, &[]).len() >= expected[i].len())
    });
    let mut failure = None;
    for (i, want) in expected.iter().enumerate() {
        let got = h.responses(i, &[]);
        for (k, resp) in got.iter().enumerate() {
            let ok = want
                .get(k)
                .is_some_and(|(s, b)| resp.status == *s && resp.body == *b);
            // A connection a fault broke may end with the server's 400 for what arrived cut.
            let excused = h.clients[i].closed && k + 1 == got.len() && resp.status == 400;
            if !ok && !excused {
                failure = Some(format!(
                    "client {i}, response {k}: status {} with {} bytes",
                    resp.status,
                    resp.body.len()
                ));
            }
        }
        if !h.clients[i].closed && got.len() < want.len() {
            failure = Some(format!(
                "client {i}: {} of {} responses, still open",
                got.len(),
                want.len()
            ));
        }
    }
    h.w.chaos.finish(failure.map_or(Ok(()), Err))
}

#[test]
fn explore_http_server_with_pipelining_clients() {
    done(&explore("http", SEEDS, http_run));
}

// ---------------------------------------------------------------------------------------------
// DNS: the resolver against two of the project's servers, over lossy UDP, some seeds with
// truncated UDP answers that send it to TCP.

struct ChaosDns {
    w: ChaosWorld,
    next_port: u16,
}

impl DnsWorld for ChaosDns {
    type H = SourceKey;
    type Io = Chaos;
    fn new() -> Self {
        ChaosDns {
            w: ChaosWorld::make(),
            next_port: 5300,
        }
    }
    fn host(&mut self) -> &mut dyn Host {
        &mut self.w.chaos
    }
    fn io(&mut self) -> &mut Chaos {
        &mut self.w.chaos
    }
    fn platform(&self) -> Platform {
        levent_tests::SIM_PLATFORM
    }
    fn server_sockets(&mut self) -> (SourceKey, SourceKey, SocketAddr) {
        let port = self.next_port;
        self.next_port += 1;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let udp = self.w.chaos.net().bind_udp(addr).unwrap();
        let tcp = self.w.chaos.net().listen(port).unwrap();
        (udp, tcp, addr)
    }
    fn listener(&mut self) -> (SourceKey, SocketAddr) {
        let port = self.next_port;
        self.next_port += 1;
        (
            self.w.chaos.net().listen(port).unwrap(),
            ([127, 0, 0, 1], port).into(),
        )
    }
    fn nowhere(&mut self) -> SocketAddr {
        ([127, 0, 0, 1], 9).into()
    }
    fn sim(&mut self) -> Option<&mut SimNet> {
        Some(self.w.chaos.net())
    }
    fn virtual_time(&self) -> bool {
        true
    }
}

fn dns_run(seed: u64) -> Run {
    SEED.set(seed);
    let mut r = rng(seed);
    let mut b = Bed::<ChaosDns>::new(2, Duration::from_millis(200), 4);
    for z in &mut b.zones {
        z.add("www.example", Rd::A([192, 0, 2, 1]));
        z.add("www.example", Rd::A([192, 0, 2, 2]));
        z.add("v4only.example", Rd::A([192, 0, 2, 4]));
        z.quirks.truncate_udp = r.u8(0..4) == 0;
    }
    let names = [
        ("www.example", vec!["192.0.2.1", "192.0.2.2"]),
        ("v4only.example", vec!["192.0.2.4"]),
    ];
    let mut ids = vec![];
    for _ in 0..3 {
        let (name, want) = &names[r.usize(0..names.len())];
        ids.push((b.lookup(Query::a(name).unwrap()), want.clone()));
    }
    b.run_until(|b| ids.iter().all(|(id, _)| b.results.contains_key(id)));
    let mut failure = None;
    for (id, want) in &ids {
        match &b.results[id] {
            Ok(a) if a.data != *want => {
                failure = Some(format!("{id:?}: {:?}, not {want:?}", a.data))
            }
            Ok(_) => {}
            // Loss can outlast every try: a timeout is an answer, a wrong address is not.
            Err(levent_core::dns::DnsError::Timeout) => {}
            Err(e) => failure = Some(format!("{id:?}: {e:?}")),
        }
    }
    b.w.w.chaos.finish(failure.map_or(Ok(()), Err))
}

#[test]
fn explore_dns_resolver_over_lossy_udp_with_tcp_fallback() {
    done(&explore("dns", SEEDS, dns_run));
}

// ---------------------------------------------------------------------------------------------
// The explorer finds a planted bug: a writer that, after a short write, skips a byte.

fn planted(seed: u64) -> Run {
    let mut chaos = Chaos::new(seed, 1000);
    let (a, b) = chaos.net().pair();
    let msg: Vec<u8> = (0..2000u32).map(|i| i as u8).collect();
    let (mut at, mut got, mut buf) = (0, vec![], [0u8; 512]);
    for _ in 0..10_000 {
        if at < msg.len() {
            let end = (at + 300).min(msg.len());
            if let Ok(n) = chaos.write(a, &msg[at..end]) {
                // The bug: a short write loses the next byte.
                at += if n < end - at && n > 0 { n + 1 } else { n };
            }
        }
        match chaos.read(b, &mut buf) {
            Ok(n) => got.extend_from_slice(&buf[..n]),
            // All written and all read.
            Err(_) if at >= msg.len() => break,
            Err(_) => {}
        }
        if chaos.faulted(b) {
            break;
        }
    }
    let ok = chaos.faulted(b) || got == msg;
    chaos.finish(if ok {
        Ok(())
    } else {
        Err(format!(
            "{} bytes arrived, {} sent, and they differ",
            got.len(),
            msg.len()
        ))
    })
}

#[test]
fn the_explorer_finds_a_planted_bug_and_its_seed_replays_it() {
    if std::env::var_os("LEVENT_SEED").is_some() {
        return; // this test explores its own seeds
    }
    let (seed, why) =
        first_failure("planted", 1000, planted).expect("the bug was not found in 1,000 seeds");
    assert!(
        planted(seed).faults.get(Fault::ShortWrite) > 0,
        "a short write set it off"
    );
    // The seed alone fails again, the same way.
    let again = planted(seed);
    assert_eq!(again.failure.as_deref(), Some(why.as_str()));
    assert_eq!(planted(seed).faults, again.faults);
}

#[test]
fn levent_seed_runs_one_seed_and_levent_seeds_sets_how_many() {
    if std::env::var_os("LEVENT_SEED").is_some() || std::env::var_os("LEVENT_SEEDS").is_some() {
        return; // the child runs below set them
    }
    let me = std::env::current_exe().unwrap();
    for (var, value, said) in [
        ("LEVENT_SEED", "4", "explored echo: 1 seeds"),
        ("LEVENT_SEEDS", "3", "explored echo: 3 seeds"),
    ] {
        let out = std::process::Command::new(&me)
            .args(["explore_echo_server_and_clients", "--exact", "--nocapture"])
            .env(var, value)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains(said),
            "{var}={value}: {text}"
        );
    }
}
