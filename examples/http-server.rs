//! http-server: a small static file server on levent's HTTP server (libevent's `http-server.c`).
//!
//! ```text
//! http-server [ADDR] [--root DIR] [--threads N] [--tls-cert FILE --tls-key FILE] [--record FILE]
//! ```
//!
//! ADDR defaults to 127.0.0.1:8080, DIR to the current directory. With `--tls-cert` (a PEM
//! certificate chain) and `--tls-key` (its PEM private key) it serves HTTPS instead, the same
//! routes, over levent-hosts' rustls transport (ALPN `http/1.1`). With `--threads N` it runs N
//! engines on N threads, each a whole server with its own listener on ADDR (`SO_REUSEPORT`:
//! the kernel spreads connections over them) and up to 10,000 connections of its own.
//!
//! The site ([`levent_examples::http_site`]):
//!
//! - `GET` and `HEAD` of files under the root, with a Content-Type by extension, streamed with
//!   `Content-Length` and backpressure; a listing for directories (`/dir` redirects to `/dir/`);
//!   404 for anything missing or outside the root: `..` segments, percent-encoded slashes, dots
//!   or NULs, and symbolic links that lead out of it are refused alike.
//! - `POST /echo` answers with the request body, collected whole first (evhttp's way, up to
//!   64 MiB).
//! - `GET /stream` answers with a chunked body of 100 lines, written as the client reads.
//! - `GET /ws` upgrades to a WebSocket that echoes every text and binary message (up to 1 MiB),
//!   piece by piece as it arrives.
//! - Every request is logged on standard output in the Common Log Format.
//! - SIGINT or SIGTERM (Ctrl-C or Ctrl-Break on Windows): graceful shutdown (stop accepting,
//!   finish requests in flight).
//!
//! With `--record FILE` (one thread only) it writes a trace of the run to FILE
//! ([`levent_hosts::trace`]): every input of every turn, and what the server did with it. The
//! trace is complete once the server stops on SIGINT or SIGTERM; `replay FILE` then runs the
//! same server code on it, with no network, and says whether it did the same. Over TLS the
//! trace holds the plaintext the server read and wrote.
//!
//! The first line on standard output is `listening on http://ADDR/` (with the real port when
//! ADDR asks for port 0).

use levent_core::io::Accept;
use levent_examples::Context;
use levent_examples::http_site::{Site, serve};
use levent_hosts::net::SocketId;
use levent_hosts::trace::Recorder;
use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Mutex;

const NAME: &str = "http-server";
const USAGE: &str = "[ADDR] [--root DIR] [--threads N] [--tls-cert FILE --tls-key FILE] [--record FILE]   (default 127.0.0.1:8080, the current directory, one thread)";

/// The command line.
struct Args {
    addr: SocketAddr,
    root: PathBuf,
    /// `--tls-cert`, `--tls-key`.
    tls: Option<(PathBuf, PathBuf)>,
    /// `--threads`.
    threads: usize,
    /// `--record`.
    record: Option<PathBuf>,
    /// The command line, for the trace.
    line: Vec<String>,
}

/// The TLS configuration all threads share.
#[cfg(feature = "tls")]
type TlsConfig = std::sync::Arc<levent_hosts::tls::rustls::ServerConfig>;
#[cfg(not(feature = "tls"))]
type TlsConfig = std::convert::Infallible;

fn main() -> io::Result<()> {
    let Some(args) = parse_args()? else {
        return Ok(()); // --help
    };
    #[cfg(unix)]
    levent_hosts::unix::raise_fd_limit(
        (levent_examples::http_site::CONNS as u64 + 64) * args.threads as u64,
    )?;
    // One listener per thread (SO_REUSEPORT when more than one): each thread is a whole server.
    let listeners = levent_examples::Listeners::bind(args.addr, args.threads)?;
    let local = listeners.local;
    let tls: Option<TlsConfig> = match &args.tls {
        #[cfg(feature = "tls")]
        Some((cert, key)) => Some(levent_hosts::tls::server_config(cert, key)?),
        #[cfg(not(feature = "tls"))]
        Some(_) => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "built without the tls feature",
            ));
        }
        None => None,
    };
    // The trace file is made before the server says it listens, so a bad path fails at once.
    let record = match &args.record {
        Some(path) => Some(File::create(path).context(format!("--record {}", path.display()))?),
        None => None,
    };
    let record = Mutex::new(record);
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("listening on {scheme}://{local}/");
    let site = Site {
        root: args.root,
        stop: levent_hosts::signals::STOP.to_vec(),
    };
    let line = args.line;
    listeners.serve(move |_, host, io, listening| {
        // Accepted sockets inherit it (on Linux): small responses go out at once.
        let _ = io.set_nodelay(listening, true);
        let record = record.lock().map_or(None, |mut r| r.take());
        match &tls {
            #[cfg(feature = "tls")]
            Some(cfg) => {
                let tls = levent_hosts::tls::Tls::server(io, cfg.clone());
                run(host, tls, listening, &site, record, &line)
            }
            #[cfg(not(feature = "tls"))]
            Some(never) => match *never {},
            None => run(host, io, listening, &site, record, &line),
        }
    })
}

/// Serve through `io` on `host`, recording the run into `record` if given.
fn run<IO: Accept<Handle = SocketId>>(
    host: levent_hosts::DefaultHost,
    mut io: IO,
    listening: SocketId,
    site: &Site,
    record: Option<File>,
    line: &[String],
) -> io::Result<()> {
    let Some(file) = record else {
        let mut host = host;
        return serve(&mut host, &mut io, listening, site, levent_hosts::PLATFORM);
    };
    // The replay finds the site where it was: a root a string cannot hold is refused.
    let Some(root) = site.root.to_str() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "--record needs a root directory whose path is UTF-8",
        ));
    };
    let stop: Vec<String> = site.stop.iter().map(i32::to_string).collect();
    let meta = [
        ("program", NAME),
        ("command line", &line.join(" ")),
        ("root", root),
        ("stop", &stop.join(",")),
        ("listening", &listening.to_raw().to_string()),
    ];
    let recorder = Recorder::start(&meta, io::BufWriter::new(file))?;
    let mut host = recorder.host(host);
    let mut io = recorder.io(io);
    let served = serve(&mut host, &mut io, listening, site, recorder.platform());
    let turns = recorder.finish().context("writing the trace")?;
    eprintln!("recorded {turns} turns");
    served
}

fn parse_args() -> io::Result<Option<Args>> {
    let bad = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
    let mut addr = None;
    let mut root = None;
    let (mut cert, mut key) = (None, None);
    let mut record = None;
    let line: Vec<String> = std::env::args().collect();
    let mut args: Vec<String> = line.iter().skip(1).cloned().collect();
    let threads = levent_examples::take_threads(&mut args)?;
    let mut args = args.into_iter();
    while let Some(a) = args.next() {
        match a.as_str() {
            "-h" | "--help" => {
                println!("usage: {NAME} {USAGE}");
                return Ok(None);
            }
            "--record" => match args.next() {
                Some(file) => record = Some(PathBuf::from(file)),
                None => return Err(bad("--record needs a file".into())),
            },
            "--root" => match args.next() {
                Some(dir) => root = Some(PathBuf::from(dir)),
                None => return Err(bad("--root needs a directory".into())),
            },
            "--tls-cert" | "--tls-key" => {
                let Some(file) = args.next().map(PathBuf::from) else {
                    return Err(bad(format!("{a} needs a file")));
                };
                if a == "--tls-cert" {
                    cert = Some(file);
                } else {
                    key = Some(file);
                }
            }
            _ if a.starts_with('-') => {
                return Err(bad(format!("unknown option {a:?}; usage: {NAME} {USAGE}")));
            }
            _ if addr.is_none() => {
                let parsed = a.parse::<SocketAddr>();
                addr = Some(parsed.map_err(|_| bad(format!("cannot parse address {a:?}")))?);
            }
            _ => {
                return Err(bad(format!(
                    "unexpected argument {a:?}; usage: {NAME} {USAGE}"
                )));
            }
        }
    }
    let root = root.unwrap_or_else(|| PathBuf::from("."));
    let root = root
        .canonicalize()
        .context(format!("--root {}", root.display()))?;
    if !root.is_dir() {
        return Err(bad(format!("--root {}: not a directory", root.display())));
    }
    let addr = addr.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    let tls = match (cert, key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => return Err(bad("--tls-cert and --tls-key go together".into())),
    };
    if record.is_some() && threads > 1 {
        return Err(bad(
            "--record records one thread: leave out --threads".into()
        ));
    }
    Ok(Some(Args {
        addr,
        root,
        tls,
        threads,
        record,
        line,
    }))
}
