//! A listener that runs out of descriptors (`EMFILE`) backs off instead of dying or spinning, and
//! accepts the waiting clients once descriptors are free again. The server runs in a child process
//! whose `RLIMIT_NOFILE` is lowered; the clients live in the test process.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use levent_core::conn::{
    Conn, ConnEvent, ConnHandler, ConnTable, Refusal, Route, TableConfig, events_needed,
};
use levent_core::{Engine, Host, IoError};
use levent_hosts::Heap;
use levent_hosts::buffer::ChainBuffer;
use levent_hosts::net::{ListenOptions, SocketId, Sockets};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CLIENTS: usize = 20;

/// The server's handler: echo, count, and report each back-off on standard output.
#[derive(Default)]
struct Echo {
    accepted: usize,
}

impl ConnHandler<Route, Sockets, ChainBuffer, ()> for Echo {
    fn event(&mut self, c: &mut Conn<'_, Route, Sockets, ChainBuffer, ()>, ev: ConnEvent) {
        match ev {
            ConnEvent::Opened => self.accepted += 1,
            ConnEvent::Read => {
                c.echo();
            }
            _ => {}
        }
    }

    fn refused(&mut self, why: Refusal) {
        match why {
            Refusal::Accept(IoError::NoDescriptors) => println!("backoff after {}", self.accepted),
            other => panic!("accept: {other}"),
        }
    }
}

/// The server side, run in the child: echo, and report back-offs on standard output.
fn serve(host: &mut dyn Host) {
    let mut io = Sockets::new();
    let l = io
        .listen("127.0.0.1:0".parse().unwrap(), ListenOptions::default())
        .unwrap();
    let mut engine: Engine<Route, { events_needed(CLIENTS, 0) }, { CLIENTS + 1 }, 1, Heap> =
        Engine::new(levent_hosts::PLATFORM);
    let cfg = TableConfig {
        backoff: Duration::from_millis(50),
        ..TableConfig::default()
    };
    let mut table = ConnTable::<Route, SocketId, ChainBuffer, CLIENTS>::new(cfg);
    table.listen(&mut engine, &io, l).unwrap();
    let open = std::fs::read_dir("/proc/self/fd").unwrap().count();
    levent_hosts::unix::set_fd_limit(open as u64 + 5).unwrap();
    println!("port {}", io.local_addr(l).unwrap().port());
    let mut echo = Echo::default();
    let mut turns = 0u64;
    while echo.accepted < CLIENTS || !table.is_empty() {
        let f = engine.next(host).unwrap().expect("loop ended");
        turns += 1;
        table.dispatch(&mut engine, &mut io, &f, f.datum, &mut echo);
    }
    println!("accepted {} in {turns} turns", echo.accepted);
}

#[test]
#[ignore = "the server half of the EMFILE tests, run in a child process"]
fn emfile_child() {
    match std::env::var("LEVENT_EMFILE_HOST").as_deref() {
        Ok("epoll") => serve(&mut levent_hosts::epoll::Epoll::new().unwrap()),
        Ok("poll") => serve(&mut levent_hosts::poll::Poll::new().unwrap()),
        _ => {}
    }
}

fn run(host: &str) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "emfile_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("LEVENT_EMFILE_HOST", host)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port: u16 = loop {
        let line = lines.next().expect("child ended early").unwrap();
        // libtest prints the test's name on the same line, before what the test prints.
        if let Some(p) = line.split("port ").nth(1) {
            break p.trim().parse().unwrap();
        }
    };
    let mut clients: Vec<Option<TcpStream>> = (0..CLIENTS)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.write_all(b"ping").unwrap();
            s.set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            Some(s)
        })
        .collect();
    // Wait for the server to run out and back off.
    let backoff = lines.next().expect("child ended").unwrap();
    assert!(backoff.starts_with("backoff after "), "{backoff}");
    // The clients it accepted get their echo; close them to give its descriptors back.
    let mut echoed = 0;
    let start = Instant::now();
    while echoed < CLIENTS {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "only {echoed} echoes"
        );
        for c in clients.iter_mut() {
            let Some(s) = c.as_mut() else { continue };
            let mut buf = [0u8; 4];
            if let Ok(4) = s.read(&mut buf) {
                assert_eq!(&buf, b"ping");
                echoed += 1;
                *c = None;
            }
        }
    }
    let mut rest = String::new();
    for line in lines {
        rest.push_str(&line.unwrap());
        rest.push('\n');
    }
    assert!(child.wait().unwrap().success(), "{rest}");
    let summary = rest
        .lines()
        .find(|l| l.starts_with("accepted "))
        .unwrap_or_default();
    assert!(
        summary.starts_with(&format!("accepted {CLIENTS} in ")),
        "{rest}"
    );
    let turns: u64 = summary.rsplit(' ').nth(1).unwrap().parse().unwrap();
    assert!(
        turns < 2000,
        "{turns} turns: the listener spun instead of backing off"
    );
}

#[test]
fn listener_backs_off_when_descriptors_run_out_and_recovers_on_epoll() {
    run("epoll");
}

#[test]
fn listener_backs_off_when_descriptors_run_out_and_recovers_on_poll() {
    run("poll");
}
