//! The echo server under load and faults: 10,100 concurrent connections from this one process
//! (a levent client engine), each sending random binary messages. 10,000 are open at once (each
//! has had its first message echoed) before the faults start; then 10 % reset in the
//! middle of a message, 10 % half-close and expect the rest of their echo, 5 % stop reading for
//! two seconds while a large message is in flight, and 100 more clients arrive while the server
//! is at its descriptor limit (run under `ulimit -n`), so accepting fails and the listener backs
//! off until the resets free descriptors. At the end every byte of every surviving connection
//! came back in order, the server's resident memory stayed within a bound, and it still accepts.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::example;

use levent_core::conn::{Conn, ConnEvent, NoHandler, Route, TableConfig, events_needed};
use levent_core::{Buffer, Event, EventId, Interest};
use levent_hosts::buffer::ChainBuffer;
use levent_hosts::net::Sockets;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Connections open at once before the late ones come (10,100 with them).
const CONNS: usize = 10_000;
const LATE: usize = 100;
const ALL: usize = CONNS + LATE;
type Eng = levent_hosts::Engine<Route, { events_needed(ALL, 1) }, { ALL }>;
type Table = levent_hosts::ConnTable<Route, ChainBuffer, ALL, St>;
/// Messages each surviving connection sends.
const MESSAGES: usize = 3;
/// The server's descriptor limit: the first connections and a few descriptors of its own fit,
/// the late clients do not until descriptors are freed. (Its table has 10,240 slots, so what
/// stops it is the descriptors, not the table.)
const SERVER_FDS: usize = CONNS + 30;
/// The bound on the server's resident memory: its tables for 10,000 connections are about
/// 5 MB, the buffers of the stalled clients are held to the watermarks (measured: 13 MB at the
/// peak, in a debug build).
const RSS_BOUND_KIB: u64 = 64 * 1024;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Plan {
    #[default]
    Normal,
    Reset,
    HalfClose,
    Stall,
}

/// One client connection.
#[derive(Default)]
struct St {
    plan: Plan,
    /// Bytes sent whose echo has not arrived yet, in order.
    expect: VecDeque<u8>,
    /// Messages whose echo came back whole.
    echoed: usize,
    /// Messages sent.
    sent: usize,
    rng: u64,
    /// The stall's timer.
    timer: Option<EventId>,
    /// Reset once this many echoed bytes of the current message arrived.
    reset_at: Option<usize>,
    /// Echoed bytes of the current message so far.
    got: usize,
    /// Everything came back and the server closed after our end.
    finished: bool,
    late: bool,
}

#[derive(Default)]
struct Tally {
    opened: usize,
    first_echoes: usize,
    finished: [usize; 4],
    resets: usize,
    failures: Vec<String>,
    bytes_checked: u64,
    closed: usize,
}

fn message(rng: &mut fastrand::Rng, max: usize) -> Vec<u8> {
    (0..rng.usize(1..=max)).map(|_| rng.u8(..)).collect()
}

fn send(c: &mut Conn<'_, Route, Sockets, ChainBuffer, St>, msg: &[u8]) {
    assert_eq!(c.write(msg), msg.len(), "the output took the whole message");
    let st = c.state();
    st.expect.extend(msg.iter().copied());
    st.sent += 1;
    st.got = 0;
}

/// The next step of connection `c` once its previous message came back (or the faults start).
fn next_step(c: &mut Conn<'_, Route, Sockets, ChainBuffer, St>) {
    let mut rng = fastrand::Rng::with_seed(c.state().rng);
    c.state().rng = rng.u64(..);
    let st = c.state();
    match (st.plan, st.echoed) {
        (_, n) if n >= MESSAGES => {
            // Done: half-close and wait for the server to close after us.
            let _ = c.shutdown();
        }
        (Plan::Reset, 1) => {
            let msg = message(&mut rng, 16 * 1024);
            let at = rng.usize(0..msg.len());
            c.state().reset_at = Some(at);
            send(c, &msg);
        }
        (Plan::HalfClose, 1) => {
            // The rest at once, then our end: every byte must still come back.
            for _ in 1..MESSAGES {
                let msg = message(&mut rng, 4096);
                send(c, &msg);
            }
            let _ = c.shutdown();
        }
        (Plan::Stall, 1) => {
            // A message larger than the socket buffers, and no reading for two seconds: the
            // server's output for us fills to its high watermark and it stops reading us.
            let msg = message(&mut rng, 256 * 1024);
            send(c, &msg);
            c.disable_reading();
            if let Some(t) = c.state().timer {
                let _ = c.events().add(t, Some(Duration::from_secs(2)));
            }
        }
        _ => {
            let msg = message(&mut rng, 4096);
            send(c, &msg);
        }
    }
}

fn server_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn ten_thousand_echo_clients_with_resets_half_closes_stalls_and_descriptor_exhaustion() {
    let hard = levent_hosts::unix::raise_fd_limit((CONNS + LATE + 200) as u64).unwrap();
    assert!(
        hard as usize >= CONNS + LATE + 100,
        "descriptor limit {hard} is too low"
    );
    // The server, at a descriptor limit of its own.
    let mut server = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n {SERVER_FDS} && exec \"$0\" 127.0.0.1:0"))
        .arg(example("server"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = server.id();
    let mut out = BufReader::new(server.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let addr: SocketAddr = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .parse()
        .unwrap();
    // Its log, watched for the listener's back-off.
    let refusals = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = refusals.clone();
    let log = std::thread::spawn(move || {
        for line in out.lines() {
            let Ok(line) = line else { break };
            if line.starts_with("accept failed:") {
                counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    });
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let server = Kill(server);

    let cfg = TableConfig {
        extra_events: 1,
        ..TableConfig::default()
    };
    let mut io = Sockets::new();
    let mut host = levent_hosts::default_host().unwrap();
    let mut engine: Eng = levent_hosts::engine();
    let mut clients = Table::new(cfg);
    let mut rng = fastrand::Rng::with_seed(0x50a4);
    let mut tally = Tally::default();
    let mut opened = 0usize;
    let mut faults_started = false;
    let mut late_opened = 0usize;
    let mut late_at = Instant::now();
    let mut peak_rss = 0u64;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(150);
    let mut last_rss = Instant::now();
    // A tick, so that a stall is seen (the deadline) even when nothing else fires.
    let tick = Route::listener(99);
    engine
        .start(
            Event::timer().persist(),
            tick,
            Some(Duration::from_millis(200)),
        )
        .unwrap();
    let mut last_report = Instant::now();

    let mut open = |engine: &mut Eng, io: &mut Sockets, clients: &mut Table, late: bool| {
        let s = io.connect(addr).unwrap();
        let id = clients
            .connect(engine, io, s)
            .unwrap_or_else(|_| panic!("no room"));
        let plan = match (late, rng.u32(0..100)) {
            (true, _) => Plan::Normal,
            (_, 0..10) => Plan::Reset,
            (_, 10..20) => Plan::HalfClose,
            (_, 20..25) => Plan::Stall,
            _ => Plan::Normal,
        };
        let seed = rng.u64(..);
        clients.with(engine, io, id, &mut NoHandler, |c| {
            let timer = (plan == Plan::Stall).then(|| c.create_event(Event::timer()).unwrap());
            *c.state() = St {
                plan,
                rng: seed,
                timer,
                late,
                ..St::default()
            };
        });
    };

    while tally.closed < ALL {
        // Open the connections a few hundred per turn (the server's backlog is 1,024).
        let batch = (CONNS - opened).min(256);
        for _ in 0..batch {
            open(&mut engine, &mut io, &mut clients, false);
        }
        opened += batch;
        if tally.first_echoes == CONNS && late_opened == 0 {
            // Every connection is open at once and echoing: now the late clients, which the
            // server has no descriptors for...
            for _ in 0..LATE {
                open(&mut engine, &mut io, &mut clients, true);
            }
            late_opened = LATE;
            late_at = Instant::now();
        }
        let met_limit = refusals.load(std::sync::atomic::Ordering::Relaxed) > 0;
        if late_opened > 0
            && !faults_started
            && (met_limit || late_at.elapsed() > Duration::from_secs(30))
        {
            // ... and, once the server has said it met its limit (its log line), the faults:
            // the resets free descriptors, and the listener's back-off ends.
            faults_started = true;
            let ids: Vec<_> = clients.ids().collect();
            for id in ids {
                if clients.state(id).is_some_and(|st| !st.late) {
                    clients.with(&mut engine, &mut io, id, &mut NoHandler, next_step);
                }
            }
        }
        if last_report.elapsed() > Duration::from_secs(5) {
            eprintln!(
                "soak: {:?}: server {} descriptors, {} accept failures; {} connecting, {} opened, {} first echoes, {} closed, finished {:?}, {} resets, {} failures",
                started.elapsed(),
                std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count),
                refusals.load(std::sync::atomic::Ordering::Relaxed),
                clients.len(),
                tally.opened,
                tally.first_echoes,
                tally.closed,
                tally.finished,
                tally.resets,
                tally.failures.len()
            );
            last_report = Instant::now();
        }
        if last_rss.elapsed() > Duration::from_millis(200) {
            peak_rss = peak_rss.max(server_rss_kib(pid));
            last_rss = Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "stalled: {} closed of {ALL}, {} first echoes, finished {:?}, failures {:?}",
            tally.closed,
            tally.first_echoes,
            tally.finished,
            &tally.failures[..tally.failures.len().min(5)]
        );
        let Some(fired) = engine.next(&mut host).unwrap() else {
            break;
        };
        if fired.datum == tick {
            continue;
        }
        clients.handle(
            &mut engine,
            &mut io,
            &fired,
            fired.datum,
            |c, ev| match ev {
                ConnEvent::Opened => {
                    tally.opened += 1;
                    let mut rng = fastrand::Rng::with_seed(c.state().rng);
                    let msg = message(&mut rng, 4096);
                    send(c, &msg);
                }
                ConnEvent::Read => {
                    let id = c.id();
                    let n = c.input().len();
                    let mut got = vec![0u8; n];
                    c.read(&mut got);
                    let st = c.state();
                    for (i, b) in got.iter().enumerate() {
                        match st.expect.pop_front() {
                            Some(want) if want == *b => {}
                            other => {
                                tally.failures.push(format!(
                                    "{id:?} {:?}: byte {} of the echo is {b}, not {other:?}",
                                    st.plan,
                                    st.got + i
                                ));
                                c.close();
                                return;
                            }
                        }
                    }
                    tally.bytes_checked += n as u64;
                    st.got += n;
                    if st.reset_at.is_some_and(|at| st.got >= at) {
                        // An RST in the middle of the echo, not a FIN.
                        let h = c.handle_id();
                        let _ = c.io().set_linger(h, Some(Duration::ZERO));
                        tally.resets += 1;
                        c.close();
                        return;
                    }
                    // A half-closed connection waits for the end of its echo after its first message.
                    if st.expect.is_empty() && !(st.plan == Plan::HalfClose && st.echoed >= 1) {
                        st.echoed += 1;
                        if st.echoed == 1 && !st.late {
                            tally.first_echoes += 1;
                            if !faults_started {
                                return; // wait until every connection is open
                            }
                        }
                        next_step(c);
                    }
                }
                ConnEvent::Eof => {
                    let id = c.id();
                    let st = c.state();
                    if st.expect.is_empty() && (st.plan == Plan::HalfClose || st.echoed >= MESSAGES)
                    {
                        st.finished = true;
                        tally.finished[st.plan as usize] += 1;
                    } else {
                        tally.failures.push(format!(
                            "{id:?} {:?}: the server closed with {} bytes of echo missing",
                            st.plan,
                            st.expect.len()
                        ));
                    }
                }
                ConnEvent::Fired(..) => c.enable(Interest::READ), // the stall is over
                ConnEvent::Error(e) => {
                    let id = c.id();
                    tally
                        .failures
                        .push(format!("{id:?} {:?}: {e}", c.state().plan));
                }
                ConnEvent::Timeout { .. } => {
                    tally.failures.push(format!("{:?}: timed out", c.id()));
                }
                ConnEvent::Closed => {
                    tally.closed += 1;
                    if let Some(t) = c.state().timer.take() {
                        let _ = c.events().free(t);
                    }
                }
                _ => {}
            },
        );
    }
    let took = started.elapsed();
    assert!(
        tally.failures.is_empty(),
        "{} failures: {:?}",
        tally.failures.len(),
        &tally.failures[..tally.failures.len().min(10)]
    );
    let survivors: usize = tally.finished.iter().sum();
    assert_eq!(
        survivors + tally.resets,
        ALL,
        "finished {:?}, resets {}",
        tally.finished,
        tally.resets
    );
    assert!(tally.resets >= CONNS / 20, "only {} resets", tally.resets);
    assert!(tally.finished[Plan::HalfClose as usize] >= CONNS / 20);
    assert!(tally.finished[Plan::Stall as usize] >= CONNS / 40);
    assert!(peak_rss < RSS_BOUND_KIB, "server RSS {peak_rss} KiB");

    // The server still accepts, and echoes.
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"still here").unwrap();
    let mut back = [0u8; 10];
    s.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"still here");
    drop(s);
    drop(server);
    log.join().unwrap();
    let refusals = refusals.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        refusals > 0,
        "the late clients never met the descriptor limit"
    );
    eprintln!(
        "soak: {ALL} connections in {took:?}: finished {:?} (normal, -, half-close, stall), {} resets, {} bytes checked, {refusals} accept failures, server peak RSS {peak_rss} KiB",
        tally.finished, tally.resets, tally.bytes_checked
    );
}
