//! server: the concurrent echo server — the project's main example.
//!
//! Accepts any number of clients at once (up to the engine's capacity). Every line a client sends
//! is printed as `read from <client id>: <text>` and echoed back to that client; when a client
//! disconnects the server prints `client <id> left`. Built on a `Listener` and one buffered
//! `Connection` per client, all on one engine:
//!
//! ```text
//! cargo run --example server            # listens on 127.0.0.1:8000
//! cargo run --example client            # in another terminal; type lines
//! ```

use levent_core::buffer::Eol;
use levent_core::{ConnOptions, Connection, Engine, Listener, Outcome};
use levent_hosts::buffer::ChainBuffer;
use levent_hosts::net::{ListenOptions, SocketId, Sockets};
use std::net::SocketAddr;
use std::process::ExitCode;

const NAME: &str = "server";
/// Two events per client: room for 8,000 clients at once.
const EVENTS: usize = 16 * 1024;
/// The longest line echoed as one message; longer input is echoed in pieces of this size.
const MAX_LINE: usize = 64 * 1024;

#[derive(Clone, Copy, Debug)]
enum Ev {
    Listener,
    Client(usize),
}

struct Client {
    id: u64,
    conn: Connection<SocketId, ChainBuffer>,
}

fn main() -> ExitCode {
    let addr = match levent_examples::address_arg(NAME, "127.0.0.1:8000") {
        Ok(a) => a,
        Err(code) => return code,
    };
    // The engine (about 2 MiB for 16K events) is built on the stack before it is boxed: more than
    // the 1 MiB main thread of a Windows program has, so the loop runs on a thread of its own.
    let server = std::thread::Builder::new()
        .name(NAME.into())
        .stack_size(16 << 20)
        .spawn(move || serve(addr));
    match server.map(std::thread::JoinHandle::join) {
        Ok(Ok(Ok(()))) => ExitCode::SUCCESS,
        Ok(Ok(Err(e))) => levent_examples::fail(NAME, e),
        Ok(Err(_)) => levent_examples::fail(NAME, "the server thread panicked"),
        Err(e) => levent_examples::fail(NAME, format!("cannot start the server thread: {e}")),
    }
}

fn serve(addr: SocketAddr) -> Result<(), String> {
    let mut io = Sockets::new();
    let listening = io
        .listen(addr, ListenOptions::default())
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let mut host = levent_hosts::default_host().map_err(|e| e.to_string())?;
    let mut engine: Box<Engine<Ev, EVENTS, EVENTS, 1>> =
        Box::new(Engine::new(levent_hosts::PLATFORM));
    let mut listener =
        Listener::new(&mut *engine, &io, listening, Ev::Listener).map_err(|e| e.to_string())?;
    println!(
        "listening on {}",
        io.local_addr(listening).map_err(|e| e.to_string())?
    );

    let mut clients: Vec<Option<Client>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut next_id = 1u64;
    let mut line = vec![0u8; MAX_LINE];

    while let Some(fired) = engine.next(&mut host).map_err(|e| e.to_string())? {
        match fired.datum {
            Ev::Listener => {
                while let Some(accepted) = listener.accept(&mut *engine, &mut io) {
                    let socket = match accepted {
                        Ok(s) => s,
                        Err(e) => {
                            eprintln!("{NAME}: accept failed: {e}");
                            continue;
                        }
                    };
                    let slot = free.pop().unwrap_or(clients.len());
                    let (input, output) = (ChainBuffer::new(), ChainBuffer::new());
                    match Connection::new(
                        &mut *engine,
                        &io,
                        socket,
                        input,
                        output,
                        ConnOptions::DEFAULT,
                        Ev::Client(slot),
                    ) {
                        Ok(conn) => {
                            let client = Client { id: next_id, conn };
                            next_id += 1;
                            if slot == clients.len() {
                                clients.push(Some(client));
                            } else {
                                clients[slot] = Some(client);
                            }
                        }
                        Err(e) => {
                            eprintln!("{NAME}: cannot take another client: {e}");
                            levent_core::Transport::close(&mut io, &mut *engine, socket);
                            free.push(slot);
                        }
                    }
                }
            }
            Ev::Client(slot) => {
                let Some(client) = clients.get_mut(slot).and_then(Option::as_mut) else {
                    continue;
                };
                let out: Outcome = client.conn.handle(&mut *engine, &mut io, &fired);
                if out.readable() {
                    echo_lines(client, &mut *engine, &mut io, &mut line);
                }
                if (out.eof() || out.failed())
                    && let Some(client) = clients[slot].take()
                {
                    println!("client {} left", client.id);
                    client.conn.close(&mut *engine, &mut io);
                    free.push(slot);
                }
            }
        }
    }
    Ok(())
}

/// Print and echo every complete line the client sent.
fn echo_lines(
    client: &mut Client,
    engine: &mut dyn levent_core::Events<Ev>,
    io: &mut Sockets,
    line: &mut [u8],
) {
    loop {
        let n = match client.conn.read_line(engine, Eol::Crlf, line) {
            Ok(Some(n)) => n,
            Ok(None) => break,
            // A line longer than we echo at once: send it on in pieces.
            Err(_) => client.conn.read(engine, line),
        };
        let text = String::from_utf8_lossy(&line[..n]);
        println!("read from {}: {}", client.id, text);
        client.conn.write(engine, io, &line[..n]);
        client.conn.write(engine, io, b"\n");
    }
}
