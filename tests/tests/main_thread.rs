//! An engine for 16K events and an HTTP server for 16K connections, made and run on the
//! program's main thread in a debug build: on Windows that thread has 1 MiB of stack, which an
//! engine built on the stack before it was boxed overflowed. CI runs this under wine. It has no
//! test harness (`harness = false`), so it runs on the main thread itself, not a test thread.

use core::time::Duration;
use levent_core::Event;
use levent_core::http::server::{ServerConfig, events_needed};

const CONNS: usize = 16_384;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Ev {
    Http(levent_core::Route),
    Tick,
}

impl From<levent_core::Route> for Ev {
    fn from(r: levent_core::Route) -> Self {
        Ev::Http(r)
    }
}

fn main() -> std::io::Result<()> {
    let mut engine: levent_hosts::Engine<Ev, { events_needed(CONNS) + 1 }, { CONNS + 1 }> =
        levent_hosts::engine();
    let server = levent_hosts::HttpServer::<Ev, CONNS>::new(ServerConfig::DEFAULT);
    engine.start(Event::timer(), Ev::Tick, Some(Duration::from_millis(5)))?;
    let mut host = levent_hosts::default_host()?;
    let fired = engine.next(&mut host)?.map(|f| f.datum);
    assert_eq!(fired, Some(Ev::Tick));
    assert_eq!(server.connections(), 0);
    println!(
        "main thread: engine of {} events and a server of {CONNS} connections: ok",
        engine.capacity().events
    );
    Ok(())
}
