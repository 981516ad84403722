//! server: the concurrent echo server, the project's main example.
//!
//! Every byte a client sends comes back to it as it arrives (libevent's echo samples:
//! `evbuffer_add_buffer(output, input)`): binary-safe, nothing held back, nothing rewritten. Each
//! read is logged as `read from <client>: <text>` (non-UTF-8 bytes and control characters
//! escaped), and `client <client> left` when a client goes. Up to 10,240 clients at once, on one
//! connection table and one engine.
//!
//! ```text
//! cargo run --example server            # listens on 127.0.0.1:8000
//! cargo run --example client            # in another terminal; type lines
//! ```
//!
//! With `--threads N` it runs N engines on N threads, each with its own listener on the address
//! (`SO_REUSEPORT`, Linux and the BSDs) and up to 10,240 clients of its own; each log line then
//! starts with `[engine K] `. With `--tls-cert
//! FILE --tls-key FILE` (a PEM certificate chain and its key) it echoes over
//! TLS (`client --tls --cacert CA.pem` talks to it). With `--rate BYTES_PER_SEC` each client
//! reads and writes at most that many bytes per second (libevent's
//! `bufferevent_set_rate_limit`): its socket buffers fill and push back on the client meanwhile.

use levent_core::conn::{Conn, ConnEvent, ConnHandler, RateLimit, Refusal, Route, TableConfig};
use levent_examples::Net;
use levent_hosts::buffer::ChainBuffer;
use levent_hosts::net::SocketId;

/// Clients at once (10,000 and some room): the table's slots, three engine events (read, write,
/// the rate limit's timer) and a source each.
const CLIENTS: usize = 10_240;
const EVENTS: usize = levent_core::conn::events_needed(CLIENTS, 1);

fn main() -> std::io::Result<()> {
    let Some(args) = levent_examples::server_args("server", "127.0.0.1:8000")? else {
        return Ok(()); // --help
    };
    #[cfg(unix)]
    levent_hosts::unix::raise_fd_limit((CLIENTS as u64 + 64) * args.threads as u64)?;
    // One listener per thread (SO_REUSEPORT when more than one): each thread is a whole server.
    let listeners = levent_examples::Listeners::bind(args.addr, args.threads)?;
    println!("listening on {}", listeners.local);
    let rate = args.rate.map(|r| RateLimit::bytes_per_second(r, r)); // each client, each way
    listeners.serve(move |k, host, sockets, listening| {
        let io = Net::server(sockets, &args.tls)?; // plain, or TLS with --tls-cert/--tls-key
        // With several engines each line says which one: `[engine K] read from ...`.
        let tag = (args.threads > 1).then(|| format!("[engine {k}] "));
        serve(host, io, listening, rate, &tag.unwrap_or_default())
    })
}

/// Echo every client of listener `at` until the program is stopped; `tag` starts every log line.
fn serve(
    mut host: levent_hosts::DefaultHost,
    mut io: Net,
    at: SocketId,
    rate: Option<RateLimit>,
    tag: &str,
) -> std::io::Result<()> {
    let mut engine: levent_hosts::Engine<Route, EVENTS, { CLIENTS + 1 }> = levent_hosts::engine();
    let cfg = TableConfig {
        rate,
        ..TableConfig::default()
    };
    let mut clients = levent_hosts::ConnTable::<Route, ChainBuffer, CLIENTS>::new(cfg);
    clients.listen(&mut engine, &io, at)?;

    let mut echo = Echo { tag };
    while let Some(fired) = engine.next(&mut host)? {
        clients.dispatch(&mut engine, &mut io, &fired, fired.datum, &mut echo);
    }
    Ok(())
}

/// What the server does with its clients' events.
struct Echo<'a> {
    tag: &'a str,
}

impl ConnHandler<Route, Net, ChainBuffer, ()> for Echo<'_> {
    fn event(&mut self, c: &mut Conn<'_, Route, Net, ChainBuffer, ()>, ev: ConnEvent) {
        let tag = self.tag;
        match ev {
            ConnEvent::Read => {
                println!(
                    "{tag}read from {}: {}",
                    c.id(),
                    levent_examples::escape_buffer(c.input())
                );
                c.echo();
            }
            ConnEvent::Closed => println!("{tag}client {} left", c.id()),
            _ => {}
        }
    }

    /// Accepting failed (out of descriptors: the table backs off and tries again) or a
    /// connection found no room: say so, as libevent's listener error callback would.
    fn refused(&mut self, why: Refusal) {
        println!("{}{why}", self.tag);
    }
}
