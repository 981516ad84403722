//! server: the concurrent echo server, the project's main example.
//!
//! Every byte a client sends comes back to it as it arrives (libevent's echo samples:
//! `evbuffer_add_buffer(output, input)`): binary-safe, nothing held back, nothing rewritten. Each
//! read is logged as `read from <client>: <text>` (non-UTF-8 bytes and control characters
//! escaped), and `client <client> left` when a client goes. Up to 10,000 clients at once, on one
//! connection table and one engine.
//!
//! ```text
//! cargo run --example server            # listens on 127.0.0.1:8000
//! cargo run --example client            # in another terminal; type lines
//! ```
//!
//! With `--tls-cert FILE --tls-key FILE` (a PEM certificate chain and its key) it echoes over
//! TLS (`client --tls --cacert CA.pem` talks to it).

use levent_core::conn::{ConnEvent, Route, TableConfig, events_needed};
use levent_examples::Context;
use levent_examples::Net;
use levent_hosts::buffer::ChainBuffer;
use levent_hosts::net::{ListenOptions, Sockets};

/// Clients at once: the table's slots, two engine events and a source each.
const CLIENTS: usize = 10_000;

fn main() -> std::io::Result<()> {
    let Some((addr, tls)) = levent_examples::address_and_tls("server", "127.0.0.1:8000")? else {
        return Ok(()); // --help
    };
    #[cfg(unix)]
    levent_hosts::unix::raise_fd_limit(CLIENTS as u64 + 64)?;
    let mut io = Net::server(Sockets::new(), &tls)?; // plain, or TLS with --tls-cert/--tls-key
    let listening = io
        .sockets()
        .listen(addr, ListenOptions::default())
        .context(format!("cannot listen on {addr}"))?;
    println!("listening on {}", io.sockets().local_addr(listening)?);

    let mut host = levent_hosts::default_host()?;
    let mut engine: levent_hosts::Engine<Route, { events_needed(CLIENTS, 0) }, { CLIENTS + 1 }> =
        levent_hosts::engine();
    let mut clients =
        levent_hosts::ConnTable::<Route, ChainBuffer, CLIENTS>::new(TableConfig::default());
    clients.listen(&mut engine, &io, listening)?;

    while let Some(fired) = engine.next(&mut host)? {
        clients.handle(
            &mut engine,
            &mut io,
            &fired,
            fired.datum,
            |c, ev| match ev {
                ConnEvent::Read => {
                    println!(
                        "read from {}: {}",
                        c.id(),
                        levent_examples::escape_buffer(c.input())
                    );
                    c.echo();
                }
                ConnEvent::Closed => println!("client {} left", c.id()),
                _ => {}
            },
        );
    }
    Ok(())
}
