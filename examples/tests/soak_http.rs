//! The HTTP server under load: `http-server --threads 2` with 10,000 keep-alive clients and 2,000
//! slowloris connections from this one process (a levent client engine). The slowloris
//! connections send a request head a few bytes at a time and never finish it; the head timeout
//! (30 s) closes every one of them. The keep-alive clients send a request every second on their
//! one connection throughout, and every response is checked (status, length, body) until the
//! last slowloris connection is gone.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::example;

use levent_core::conn::{Conn, ConnEvent, NoHandler, Route, TableConfig, events_needed};
use levent_core::{Buffer, Event, EventId};
use levent_hosts::buffer::ChainBuffer;
use levent_hosts::net::Sockets;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KEEP: usize = 10_000;
const SLOW: usize = 2_000;
const ALL: usize = KEEP + SLOW;
const BODY: &[u8] = b"levent soak: a small file served over and over\n";
type Eng = levent_hosts::Engine<Route, { events_needed(ALL, 1) + 1 }, { ALL }>;
type Table = levent_hosts::ConnTable<Route, ChainBuffer, ALL, St>;

#[derive(Default)]
struct St {
    slow: bool,
    /// The timer of the next request, or of the next slowloris byte.
    timer: Option<EventId>,
    /// A request is out and its response has not come whole.
    waiting: bool,
    /// Bytes of the slowloris head sent so far.
    drip: usize,
    responses: usize,
    closed_by_server: bool,
}

#[derive(Default)]
struct Tally {
    responses: usize,
    slow_closed: usize,
    keep_closed: usize,
    failures: Vec<String>,
}

const SLOW_HEAD: &[u8] = b"GET /soak.txt HTTP/1.1\r\nHost: x\r\nX-a: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// One whole response at the front of `input`: its status and body, and its length.
/// A response's status, body and length in the input.
type Whole = (u16, Vec<u8>, usize);

fn response(input: &[u8]) -> Option<Result<Whole, String>> {
    let end = input.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&input[..end]);
    let status = head.get(9..12).and_then(|s| s.parse().ok());
    let len = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())?
    });
    let (Some(status), Some(len)) = (status, len) else {
        return Some(Err(format!("a bad response head: {head:?}")));
    };
    if input.len() < end + len {
        return None;
    }
    Some(Ok((status, input[end..end + len].to_vec(), end + len)))
}

fn request(c: &mut Conn<'_, Route, Sockets, ChainBuffer, St>) {
    c.write(b"GET /soak.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    c.state().waiting = true;
}

#[test]
fn ten_thousand_keep_alive_clients_are_served_while_two_thousand_slowloris_are_cut_off() {
    levent_hosts::unix::raise_fd_limit((ALL + 200) as u64).unwrap();
    let root = std::env::temp_dir().join(format!("levent-soak-http-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("soak.txt"), BODY).unwrap();
    let mut server = Command::new(example("http-server"))
        .args(["127.0.0.1:0", "--threads", "2", "--root"])
        .arg(&root)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(server.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let addr: SocketAddr = first
        .trim()
        .strip_prefix("listening on http://")
        .unwrap()
        .trim_end_matches('/')
        .parse()
        .unwrap();
    std::thread::spawn(move || for _ in out.lines() {}); // its request log
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _server = Kill(server);

    let cfg = TableConfig {
        extra_events: 1,
        ..TableConfig::default()
    };
    let mut io = Sockets::new();
    let mut host = levent_hosts::default_host().unwrap();
    let mut engine: Eng = levent_hosts::engine();
    let mut clients = Table::new(cfg);
    let mut tally = Tally::default();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(120);
    let tick = Route::listener(99);
    engine
        .start(
            Event::timer().persist(),
            tick,
            Some(Duration::from_millis(200)),
        )
        .unwrap();
    let mut rng = fastrand::Rng::with_seed(0x5107);
    let mut opened = 0;
    let mut slow_done_at = None;

    loop {
        for _ in 0..(ALL - opened).min(256) {
            let slow = opened % 6 == 5; // one in six
            let s = io.connect(addr).unwrap();
            let id = clients
                .connect(&mut engine, &io, s)
                .unwrap_or_else(|_| panic!("no room"));
            clients.with(&mut engine, &mut io, id, &mut NoHandler, |c| {
                let timer = Some(c.create_event(Event::timer()).unwrap());
                *c.state() = St {
                    slow,
                    timer,
                    ..St::default()
                };
            });
            opened += 1;
        }
        if slow_done_at.is_none() && tally.slow_closed == SLOW {
            slow_done_at = Some(Instant::now());
        }
        // Keep serving for two seconds after the last slowloris connection went, then stop.
        if slow_done_at.is_some_and(|t| t.elapsed() > Duration::from_secs(2)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after {:?}: {} slowloris closed of {SLOW}, {} responses, {} keep-alive closed, failures {:?}",
            started.elapsed(),
            tally.slow_closed,
            tally.responses,
            tally.keep_closed,
            &tally.failures[..tally.failures.len().min(5)]
        );
        let Some(fired) = engine.next(&mut host).unwrap() else {
            break;
        };
        if fired.datum == tick {
            continue;
        }
        let pause = Duration::from_millis(500 + rng.u64(0..1000));
        clients.handle(
            &mut engine,
            &mut io,
            &fired,
            fired.datum,
            |c, ev| match ev {
                ConnEvent::Opened => {
                    if c.state().slow {
                        c.write(SLOW_HEAD);
                        c.state().drip = SLOW_HEAD.len();
                        if let Some(t) = c.state().timer {
                            let _ = c.events().add(t, Some(Duration::from_secs(2)));
                        }
                    } else {
                        request(c);
                    }
                }
                ConnEvent::Fired(..) => {
                    let st = c.state();
                    if st.slow {
                        // One more byte of a header that never ends.
                        st.drip += 1;
                        c.write(b"a");
                        if let Some(t) = c.state().timer {
                            let _ = c.events().add(t, Some(Duration::from_secs(2)));
                        }
                    } else if !st.waiting {
                        request(c);
                    }
                }
                ConnEvent::Read => {
                    if c.state().slow {
                        let n = c.input().len();
                        c.consume(n); // a 408 or nothing: the close is what counts
                        return;
                    }
                    let mut input = vec![0u8; c.input().len()];
                    let n = c.input().peek(0, &mut input);
                    input.truncate(n);
                    match response(&input) {
                        None => {}
                        Some(Ok((status, body, len))) => {
                            c.consume(len);
                            if status != 200 || body != BODY {
                                tally.failures.push(format!(
                                    "{:?}: status {status}, {} bytes",
                                    c.id(),
                                    body.len()
                                ));
                            }
                            tally.responses += 1;
                            let st = c.state();
                            st.responses += 1;
                            st.waiting = false;
                            if let Some(t) = st.timer {
                                let _ = c.events().add(t, Some(pause));
                            }
                        }
                        Some(Err(e)) => tally.failures.push(format!("{:?}: {e}", c.id())),
                    }
                }
                ConnEvent::Eof | ConnEvent::Error(_) | ConnEvent::Timeout { .. } => {
                    c.state().closed_by_server = true;
                }
                ConnEvent::Closed => {
                    let st = c.state();
                    if st.slow {
                        tally.slow_closed += 1;
                    } else {
                        tally.keep_closed += 1;
                    }
                    if let Some(t) = st.timer.take() {
                        let _ = c.events().free(t);
                    }
                }
                _ => {}
            },
        );
    }
    let took = started.elapsed();
    let _ = std::fs::remove_dir_all(&root);
    assert!(
        tally.failures.is_empty(),
        "{:?}",
        &tally.failures[..tally.failures.len().min(10)]
    );
    assert_eq!(
        tally.slow_closed, SLOW,
        "every slowloris connection was cut off"
    );
    assert_eq!(
        tally.keep_closed, 0,
        "a keep-alive client lost its connection"
    );
    // Every keep-alive client was served all along: at least one response per two seconds.
    let secs = took.as_secs() as usize;
    let ids: Vec<_> = clients.ids().collect();
    let mut least = usize::MAX;
    for id in ids {
        if let Some(st) = clients.state(id)
            && !st.slow
        {
            least = least.min(st.responses);
        }
    }
    assert!(
        least >= secs / 4,
        "a keep-alive client got only {least} responses in {took:?}"
    );
    eprintln!(
        "soak http: {KEEP} keep-alive clients and {SLOW} slowloris for {took:?}: {} responses, every slowloris closed, the least-served client got {least}",
        tally.responses
    );
}
