//! client: talk to the echo server.
//!
//! Connects (without blocking the loop) to `127.0.0.1:8000` or the address given, prints
//! `connected`, sends every line typed on standard input and prints `received: <text>` for every
//! line that comes back. Exits 0 once standard input has ended and every reply has arrived; exits
//! 1 with a clear message when the server cannot be reached or goes away.
//!
//! With `--tls` it speaks TLS (trusting Mozilla's roots, or with `--cacert FILE` the certificate
//! authorities of that PEM file; the server's certificate must be valid for the address's IP).
//!
//! Standard input is read by a helper thread that hands lines to the loop through a `Notifier`,
//! which works the same on every platform (a console is not a socket on Windows).

use levent_core::Host;
use levent_core::buffer::Eol;
use levent_core::{ConnOptions, Connection, Engine, Event, Notifier};
use levent_examples::Context;
use levent_hosts::buffer::ChainBuffer;
use levent_hosts::net::Sockets;
use std::collections::VecDeque;
use std::io::{self, BufRead};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
enum Ev {
    Server,
    Input,
}

/// Lines typed so far, and whether input has ended.
#[derive(Default)]
struct Typed {
    lines: VecDeque<String>,
    ended: bool,
}

fn main() -> io::Result<()> {
    let Some((addr, tls)) = levent_examples::address_and_tls("client", "127.0.0.1:8000")? else {
        return Ok(()); // --help
    };
    let mut io = levent_examples::Net::client(Sockets::new(), &tls, &addr.ip().to_string())?;
    let mut host = levent_hosts::default_host()?;
    let mut engine: Engine<Ev, 8, 8, 1> = Engine::new(levent_hosts::PLATFORM);
    let cannot_connect = format!("cannot connect to {addr}");

    let socket = levent_core::Connect::connect(&mut io, addr).context(&cannot_connect)?;
    let opts = ConnOptions {
        write_timeout: Some(Duration::from_secs(10)),
        ..ConnOptions::DEFAULT
    };
    let (input, output) = (ChainBuffer::new(), ChainBuffer::new());
    let mut conn =
        Connection::connecting(&mut engine, &io, socket, input, output, opts, Ev::Server)?;

    // Standard input arrives from a helper thread, through a notifier.
    let typed = Arc::new(Mutex::new(Typed::default()));
    let notifier = Arc::new(Notifier::<2>::new());
    let input = engine.start(Event::user().persist(), Ev::Input, None)?;
    host.attach(notifier.clone().into())?;

    let mut connected = false;
    let mut pending = 0usize;
    let mut input_done = false;
    let mut line = vec![0u8; 64 * 1024];

    while let Some(fired) = engine.next(&mut host)? {
        match fired.datum {
            Ev::Server => {
                let out = conn.handle(&mut engine, &mut io, &fired);
                if let Some(e) = out.error() {
                    let what = if connected {
                        "lost the server"
                    } else {
                        &cannot_connect
                    };
                    return Err(e).context(what);
                }
                if out.write_timeout() && !connected {
                    return Err(levent_core::IoError::TimedOut).context(&cannot_connect);
                }
                if out.connected() {
                    connected = true;
                    println!("connected");
                    spawn_reader(typed.clone(), notifier.clone(), input);
                }
                if out.readable() {
                    while let Ok(Some(n)) = conn.read_line(&mut engine, Eol::Crlf, &mut line) {
                        println!("received: {}", String::from_utf8_lossy(&line[..n]));
                        pending = pending.saturating_sub(1);
                    }
                }
                if out.eof() && (pending > 0 || !input_done) {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server went away",
                    ));
                }
            }
            Ev::Input => {
                let (lines, ended) = {
                    let mut t = typed
                        .lock()
                        .map_err(|_| io::Error::other("the input thread failed"))?;
                    (std::mem::take(&mut t.lines), t.ended)
                };
                for text in lines {
                    conn.write(&mut engine, &mut io, text.as_bytes());
                    conn.write(&mut engine, &mut io, b"\n");
                    pending += 1;
                }
                if ended {
                    input_done = true;
                }
            }
        }
        if input_done && pending == 0 {
            break;
        }
    }
    let _ = engine.free(input);
    conn.close(&mut engine, &mut io);
    Ok(())
}

fn spawn_reader(typed: Arc<Mutex<Typed>>, notifier: Arc<Notifier<2>>, input: levent_core::EventId) {
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let Ok(line) = line else { break };
            if let Ok(mut t) = typed.lock() {
                t.lines.push_back(line);
            }
            let _ = notifier.notify(input);
        }
        if let Ok(mut t) = typed.lock() {
            t.ended = true;
        }
        let _ = notifier.notify(input);
    });
}
