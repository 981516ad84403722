//! What a newcomer ran into with the first release, each as a test that failed then: a manual
//! clock on a real host, an engine too small for its server, a failed connection leaking its
//! socket, errors that `?` could not carry, callbacks that could not drive a connection, and a
//! large server built on the stack.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use levent_core::callbacks::{self, Call, Callback, Ctl};
use levent_core::conn::{ConnEvent, ConnTable, Route, SetupError, TableConfig, events_needed};
use levent_core::http::server::{Exchange, ServerConfig, Service};
use levent_core::{
    ConnOptions, Connection, CreateError, Engine, Event, LoopError, Mode, Platform, RingBuffer,
};
use levent_hosts::HttpServer;
use levent_hosts::buffer::ChainBuffer;
use levent_hosts::net::{ListenOptions, SocketId, Sockets};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// An engine on the simulation's manual clock refuses to run on a real host (before, three
/// 2-second timers fired within 3 ms, without an error: the host's nanoseconds were taken for
/// milliseconds).
#[test]
fn an_engine_on_a_manual_clock_is_refused_by_a_real_host() {
    let mut engine: Engine<u8, 4, 1, 1> = Engine::new(Platform::manual(1000));
    for n in 0..3 {
        engine
            .start(Event::timer(), n, Some(Duration::from_secs(2)))
            .unwrap();
    }
    let mut host = levent_hosts::default_host().unwrap();
    assert_eq!(engine.next(&mut host), Err(LoopError::ClockMismatch));
    // The host's own platform runs them on time.
    let mut engine: levent_hosts::Engine<u8, 4> = levent_hosts::engine();
    let start = Instant::now();
    engine
        .start(Event::timer(), 1, Some(Duration::from_millis(200)))
        .unwrap();
    assert_eq!(engine.next(&mut host).unwrap().map(|f| f.datum), Some(1));
    assert!(start.elapsed() >= Duration::from_millis(200));
}

struct Hello;

impl Service for Hello {
    fn request(&mut self, _: &levent_core::http::Request<'_, '_>, ex: &mut Exchange<'_>) {
        ex.respond(200, &[], b"hello");
    }
}

/// An engine too small for the HTTP server is an error when the server binds, saying what it
/// needs (before, the server accepted and silently closed the connections it had no room for: 6
/// of 10 clients got nothing).
#[test]
fn an_engine_too_small_for_the_http_server_is_an_error_at_bind() {
    let mut io = Sockets::new();
    let listening = io
        .listen("127.0.0.1:0".parse().unwrap(), ListenOptions::default())
        .unwrap();
    let mut engine: levent_hosts::Engine<Route, 16> = levent_hosts::engine();
    let mut server = HttpServer::<Route, 10>::new(ServerConfig::DEFAULT);
    let err = server.bind(&mut engine, &io, listening).unwrap_err();
    assert!(matches!(err, SetupError::TooSmall { need, .. } if need.events == 32));
    let io_err = std::io::Error::from(err);
    assert!(io_err.to_string().contains("needs 32 events"), "{io_err}");
    // Sized by `events_needed`, it binds and serves all ten.
    let mut engine: levent_hosts::Engine<
        Route,
        { levent_core::http::server::events_needed(10) },
        11,
    > = levent_hosts::engine();
    server.bind(&mut engine, &io, listening).unwrap();
    let addr = io.local_addr(listening).unwrap();
    let clients: Vec<_> = (0..10)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    .unwrap();
                let mut got = String::new();
                s.read_to_string(&mut got).unwrap();
                got
            })
        })
        .collect();
    let mut host = levent_hosts::default_host().unwrap();
    engine.loop_exit(Some(Duration::from_secs(30))).unwrap();
    let mut app = Hello;
    while server.stats().closed < 10 {
        let f = engine.next(&mut host).unwrap().expect("loop ended");
        server.handle(&mut engine, &mut io, &f, f.datum, &mut app);
    }
    for c in clients {
        assert!(c.join().unwrap().ends_with("\r\n\r\nhello"));
    }
    assert_eq!(server.stats().refused, 0);
}

/// A connection that cannot be made hands its socket back, open and usable (before, the socket
/// leaked unless closed by hand).
#[test]
fn a_failed_connection_hands_its_socket_back() {
    let mut io = Sockets::new();
    let (a, b) = pair(&mut io);
    // Room for one connection's two events.
    let mut engine: levent_hosts::Engine<u8, 2> = levent_hosts::engine();
    let _first = Connection::new(
        &mut engine,
        &io,
        a,
        ChainBuffer::new(),
        ChainBuffer::new(),
        ConnOptions::DEFAULT,
        0,
    )
    .unwrap();
    let refused = Connection::new(
        &mut engine,
        &io,
        b,
        ChainBuffer::new(),
        ChainBuffer::new(),
        ConnOptions::DEFAULT,
        1,
    )
    .unwrap_err();
    assert_eq!(refused.error, CreateError::Full);
    assert_eq!((refused.handle, refused.datum), (b, 1));
    // The socket is still open: it still writes.
    assert_eq!(
        levent_core::Transport::write(&mut io, refused.handle, b"x"),
        Ok(1)
    );
}

/// A connected pair of sockets over loopback.
fn pair(io: &mut Sockets) -> (SocketId, SocketId) {
    let l = io
        .listen("127.0.0.1:0".parse().unwrap(), ListenOptions::default())
        .unwrap();
    let a = io.connect(io.local_addr(l).unwrap()).unwrap();
    let start = Instant::now();
    loop {
        match levent_core::Accept::accept(io, l) {
            Ok(b) => return (a, b),
            Err(_) if start.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("{e}"),
        }
    }
}

/// `?` carries every error of levent into `std::io::Error` (before, examples converted each with
/// `.map_err(|e| e.to_string())`).
#[test]
fn question_mark_carries_levent_errors_into_io_errors() {
    fn run() -> std::io::Result<()> {
        let mut engine: Engine<u8, 1, 1, 1> = Engine::new(Platform::manual(1000));
        engine.start(Event::timer(), 0, None)?; // fine
        engine.start(Event::timer(), 1, None)?; // Rejected: the engine is full
        Ok(())
    }
    let e = run().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::OutOfMemory);
    fn run_loop() -> std::io::Result<()> {
        let mut engine: Engine<u8, 1, 1, 1> = Engine::new(Platform::manual(1000));
        let mut host = levent_hosts::default_host()?;
        engine.start(Event::timer(), 0, Some(Duration::from_millis(1)))?;
        engine.next(&mut host)?; // LoopError: the clock mismatch
        Ok(())
    }
    assert_eq!(
        run_loop().unwrap_err().kind(),
        std::io::ErrorKind::InvalidInput
    );
}

/// libevent's callback style drives connections: a `Call` is a `Fired`, and a table made
/// `with_datum` gives its events a callback (before, a callback could not hand its event to a
/// connection).
#[test]
fn callbacks_drive_a_connection_table() {
    struct App {
        io: Sockets,
        table: ConnTable<Callback<App, Route>, SocketId, RingBuffer<256>, 4>,
        echoed: usize,
    }
    fn on_conn(app: &mut App, base: &mut Ctl<'_, App, Route>, call: Call<Route>) {
        let echoed = &mut app.echoed;
        app.table
            .handle(base, &mut app.io, &call, call.datum, |c, ev| {
                if ev == ConnEvent::Read {
                    *echoed += c.echo();
                }
            });
        if app.echoed >= 5 {
            base.loop_break();
        }
    }
    let mut io = Sockets::new();
    let listening = io
        .listen("127.0.0.1:0".parse().unwrap(), ListenOptions::default())
        .unwrap();
    let addr = io.local_addr(listening).unwrap();
    let mut base: levent_hosts::Engine<Callback<App, Route>, { events_needed(4, 0) }> =
        levent_hosts::engine();
    let table = ConnTable::with_datum(TableConfig::default(), |r| Callback::new(on_conn, r));
    let mut app = App {
        io,
        table,
        echoed: 0,
    };
    app.table.listen(&mut base, &app.io, listening).unwrap();
    let client = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(b"hello").unwrap();
        let mut back = [0u8; 5];
        s.read_exact(&mut back).unwrap();
        back
    });
    base.loop_exit(Some(Duration::from_secs(30))).unwrap();
    let mut host = levent_hosts::default_host().unwrap();
    callbacks::run(&mut base, &mut host, &mut app, Mode::Default).unwrap();
    assert_eq!(&client.join().unwrap(), b"hello");
    assert_eq!(app.echoed, 5);
}

/// An HTTP server of 16,384 connections and its engine are made on a thread with a 256 KiB
/// stack, in a debug build (before, `Box::new(Server::<_, _, 16384>::new(..))` overflowed the
/// stack: the value was built on it before it was boxed).
#[test]
fn a_server_for_16384_connections_is_made_without_the_stack() {
    const CONNS: usize = 16_384;
    let made = std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(|| {
            let engine: levent_hosts::Engine<
                Route,
                { levent_core::http::server::events_needed(CONNS) },
                { CONNS + 1 },
            > = levent_hosts::engine();
            let server = HttpServer::<Route, CONNS>::new(ServerConfig::DEFAULT);
            (engine.capacity().events, server.connections())
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(made, (3 * CONNS + 2, 0));
}
