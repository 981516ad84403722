//! handoff: one engine accepts, others serve. Each accepted connection is handed to a worker
//! thread's engine through a queue and that worker's `Notifier` (libevent's acceptor thread
//! giving sockets to per-thread `event_base`s with `event_active`); every worker echoes what its
//! clients send. This is the way to use several cores where `SO_REUSEPORT` does not spread
//! connections (Windows), or when the acceptor should choose who serves (by load, by address).
//!
//! ```text
//! handoff [ADDR] [--workers N]   (default 127.0.0.1:8001, 2 workers)
//! ```
//!
//! It prints `listening on ADDR`, then `worker K took CLIENT` for each connection it hands over
//! (round-robin) and `worker K: CLIENT left` when one goes.

use levent_core::conn::{ConnEvent, Route, TableConfig, events_needed};
use levent_core::{Event, EventId, Host, Listener, Notifier};
use levent_examples::Context;
use levent_hosts::buffer::ChainBuffer;
use levent_hosts::net::{ListenOptions, Socket, Sockets};
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

/// Clients per worker at once.
const CLIENTS: usize = 10_000;

/// A worker as the acceptor sees it: where to put a socket, and how to tell the worker.
struct Worker {
    inbox: Arc<Mutex<VecDeque<Socket>>>,
    notifier: Arc<Notifier<1>>,
    take: EventId,
}

impl Worker {
    /// Hand `socket` over; the worker's engine wakes and takes it.
    fn give(&self, socket: Socket) -> io::Result<()> {
        self.inbox
            .lock()
            .map_err(|_| io::Error::other("a worker failed"))?
            .push_back(socket);
        // A full notifier means the worker has already been told: it drains the whole inbox.
        let _ = self.notifier.notify(self.take);
        Ok(())
    }
}

#[derive(Clone, Copy, Debug)]
enum Ev {
    /// The worker's inbox has sockets.
    Take,
    /// One of the worker's connections.
    Conn(Route),
}

impl From<Route> for Ev {
    fn from(r: Route) -> Self {
        Ev::Conn(r)
    }
}

fn main() -> io::Result<()> {
    let Some((addr, workers)) = parse_args()? else {
        return Ok(()); // --help
    };
    #[cfg(unix)]
    levent_hosts::unix::raise_fd_limit((CLIENTS * workers) as u64 + 64)?;

    // Start the workers; each sends back its inbox once its engine is ready.
    let (ready, started) = mpsc::channel();
    for k in 1..=workers {
        let ready = ready.clone();
        std::thread::Builder::new()
            .name(format!("worker {k}"))
            .spawn(move || {
                if let Err(e) = work(k, &ready) {
                    eprintln!("Error: worker {k}: {e}");
                    std::process::exit(1);
                }
            })?;
    }
    drop(ready);
    let workers: Vec<Worker> = started.iter().take(workers).collect();

    // The acceptor: a listener on an engine of its own.
    let mut io = Sockets::new();
    let listening = io
        .listen(addr, ListenOptions::default())
        .context(format!("cannot listen on {addr}"))?;
    println!("listening on {}", io.local_addr(listening)?);
    let mut host = levent_hosts::default_host()?;
    let mut engine: levent_hosts::Engine<(), 4> = levent_hosts::engine();
    let mut listener = Listener::new(&mut engine, &io, listening, ())?;
    let mut next = 0;
    while let Some(_fired) = engine.next(&mut host)? {
        while let Some(accepted) = listener.accept(&mut engine, &mut io) {
            let id = match accepted {
                Ok(id) => id,
                Err(e) => {
                    eprintln!("accept: {e}"); // out of descriptors: the listener backs off
                    continue;
                }
            };
            let socket = io.take(&mut engine, id)?;
            workers[next % workers.len()].give(socket)?;
            next += 1;
        }
    }
    Ok(())
}

/// Worker `k`: an engine that takes the sockets handed to it and echoes their clients.
fn work(k: usize, ready: &mpsc::Sender<Worker>) -> io::Result<()> {
    let mut io = Sockets::new();
    let mut host = levent_hosts::default_host()?;
    let mut engine: levent_hosts::Engine<Ev, { events_needed(CLIENTS, 0) + 1 }, { CLIENTS }> =
        levent_hosts::engine();
    let mut clients =
        levent_hosts::ConnTable::<Ev, ChainBuffer, CLIENTS>::new(TableConfig::default());
    let notifier = Arc::new(Notifier::<1>::new());
    let take = engine.start(Event::user().persist(), Ev::Take, None)?;
    host.attach(notifier.clone().into())?;
    let inbox = Arc::new(Mutex::new(VecDeque::new()));
    let worker = Worker {
        inbox: inbox.clone(),
        notifier,
        take,
    };
    ready
        .send(worker)
        .map_err(|_| io::Error::other("the acceptor is gone"))?;

    while let Some(fired) = engine.next(&mut host)? {
        match fired.datum {
            Ev::Take => {
                let handed: Vec<Socket> = inbox
                    .lock()
                    .map_err(|_| io::Error::other("the acceptor failed"))?
                    .drain(..)
                    .collect();
                for socket in handed {
                    let peer = socket.peer_addr().ok().and_then(|a| a.as_socket());
                    let id = io.adopt(socket)?;
                    match clients.adopt(&mut engine, &io, id) {
                        Ok(_) => match peer {
                            Some(p) => println!("worker {k} took {p}"),
                            None => println!("worker {k} took a client"),
                        },
                        Err(full) => {
                            eprintln!("worker {k}: {full}: closing it");
                            levent_core::Transport::close(&mut io, &mut engine, full.handle);
                        }
                    }
                }
            }
            Ev::Conn(route) => {
                clients.handle(&mut engine, &mut io, &fired, route, |c, ev| match ev {
                    ConnEvent::Read => {
                        c.echo();
                    }
                    ConnEvent::Closed => println!("worker {k}: {} left", c.id()),
                    _ => {}
                })
            }
        }
    }
    Ok(())
}

fn parse_args() -> io::Result<Option<(SocketAddr, usize)>> {
    const USAGE: &str = "[ADDR] [--workers N]   (default 127.0.0.1:8001, 2 workers)";
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage: handoff {USAGE}");
        return Ok(None);
    }
    let mut workers = 2;
    if let Some(at) = args.iter().position(|a| a == "--workers") {
        args.remove(at);
        let n = (at < args.len()).then(|| args.remove(at));
        workers = match n.as_deref().map(str::parse::<usize>) {
            Some(Ok(n @ 1..=64)) => n,
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "--workers needs a number from 1 to 64",
                ));
            }
        };
    }
    if args.len() > 1 || args.iter().any(|a| a.starts_with('-')) {
        return Err(levent_examples::usage_error("handoff", USAGE));
    }
    let addr = args.pop().unwrap_or_else(|| "127.0.0.1:8001".into());
    let addr = addr.parse().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot parse address {addr:?} (want IP:PORT)"),
        )
    })?;
    Ok(Some((addr, workers)))
}
