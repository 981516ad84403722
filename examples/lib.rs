//! Helpers shared by levent's example programs: argument handling, errors with context, the
//! escaping the echo server prints with, and [`Net`], plain sockets or TLS over them. Every example's `main` returns `std::io::Result<()>`:
//! levent's errors convert into `std::io::Error`, so `?` is all the error handling it needs, and
//! a failure ends the program with status 1 and one line on standard error.

pub mod http_site;

use levent_core::Buffer;
use levent_core::io::{Accept, Connect, IoError, Transport};
use levent_hosts::net::SocketId;
use std::fmt::Display;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Parse the command line of program `name`: `Ok(None)` once `--help`/`-h` has printed `usage`
/// (exit 0); an error saying the usage when there are more than `max` positional arguments or
/// an unknown option (exit 1); the positional arguments otherwise.
pub fn args(name: &str, usage: &str, max: usize) -> io::Result<Option<Vec<String>>> {
    let rest: Vec<String> = std::env::args().skip(1).collect();
    if rest.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage: {name} {usage}");
        return Ok(None);
    }
    if rest.len() > max || rest.iter().any(|a| a.starts_with('-') && a.len() > 1) {
        return Err(usage_error(name, usage));
    }
    Ok(Some(rest))
}

/// The error of a bad command line: `usage: NAME USAGE`.
pub fn usage_error(name: &str, usage: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("usage: {name} {usage}"),
    )
}

/// Parse the command line of program `name` whose one optional argument is a socket address,
/// `default` when it is absent; `Ok(None)` once `--help` was answered (see [`args`]).
pub fn address_arg(name: &str, default: &str) -> io::Result<Option<SocketAddr>> {
    let usage = format!("[ADDR]   (default {default})");
    let Some(args) = args(name, &usage, 1)? else {
        return Ok(None);
    };
    let addr = args.into_iter().next().unwrap_or_else(|| default.into());
    addr.parse().map(Some).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot parse address {addr:?} (want IP:PORT)"),
        )
    })
}

/// [`address_arg`] for the echo client, which also takes the [`TlsFlags`].
pub fn address_and_tls(name: &str, default: &str) -> io::Result<Option<(SocketAddr, TlsFlags)>> {
    let usage = format!(
        "[ADDR] [--tls-cert FILE --tls-key FILE | --tls [--cacert FILE]]   (default {default})"
    );
    let rest = std::env::args().skip(1).collect();
    Ok(command_line(rest, name, &usage, default, false)?.map(|(addr, tls, _)| (addr, tls)))
}

/// The echo server's command line ([`server_args`]).
#[derive(Debug)]
pub struct ServerArgs {
    /// Where to listen.
    pub addr: SocketAddr,
    /// `--tls-cert FILE --tls-key FILE`, if given.
    pub tls: TlsFlags,
    /// `--threads N` (1 when absent).
    pub threads: usize,
    /// `--rate BYTES_PER_SEC`: each client's limit, each way (`None` when absent).
    pub rate: Option<u32>,
}

/// [`address_arg`] for the echo server: the address, the [`TlsFlags`], `--threads N` and
/// `--rate BYTES_PER_SEC`.
pub fn server_args(name: &str, default: &str) -> io::Result<Option<ServerArgs>> {
    let usage = format!(
        "[ADDR] [--threads N] [--rate BYTES_PER_SEC] [--tls-cert FILE --tls-key FILE]   \
         (default {default}, one thread, no rate limit)"
    );
    let mut rest: Vec<String> = std::env::args().skip(1).collect();
    let rate = match take_value(&mut rest, "--rate") {
        None => None,
        Some(v) => match v.as_deref().map(str::parse::<u32>) {
            Some(Ok(n)) if n > 0 => Some(n),
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "--rate needs a number of bytes per second from 1 to 4294967295",
                ));
            }
        },
    };
    let parsed = command_line(rest, name, &usage, default, true)?;
    Ok(parsed.map(|(addr, tls, threads)| ServerArgs {
        addr,
        tls,
        threads,
        rate,
    }))
}

/// Take option `flag` and the value after it out of `args`: `None` when the flag is absent,
/// `Some(None)` when it has no value.
fn take_value(args: &mut Vec<String>, flag: &str) -> Option<Option<String>> {
    let at = args.iter().position(|a| a == flag)?;
    args.remove(at);
    Some((at < args.len()).then(|| args.remove(at)))
}

fn command_line(
    mut rest: Vec<String>,
    name: &str,
    usage: &str,
    default: &str,
    threads: bool,
) -> io::Result<Option<(SocketAddr, TlsFlags, usize)>> {
    if rest.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage: {name} {usage}");
        return Ok(None);
    }
    let flags = TlsFlags::take(&mut rest)?;
    let n = if threads { take_threads(&mut rest)? } else { 1 };
    if rest.len() > 1 || rest.iter().any(|a| a.starts_with('-') && a.len() > 1) {
        return Err(usage_error(name, usage));
    }
    let addr = rest.into_iter().next().unwrap_or_else(|| default.into());
    let addr = addr.parse().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot parse address {addr:?} (want IP:PORT)"),
        )
    })?;
    Ok(Some((addr, flags, n)))
}

/// Take `--threads N` (1 to 256; 1 when absent) out of `args`; the other arguments stay.
///
/// # Errors
///
/// `--threads` without a number in that range.
pub fn take_threads(args: &mut Vec<String>) -> io::Result<usize> {
    let Some(n) = take_value(args, "--threads") else {
        return Ok(1);
    };
    match n.as_deref().map(str::parse::<usize>) {
        Some(Ok(n @ 1..=256)) => Ok(n),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "--threads needs a number from 1 to 256",
        )),
    }
}

/// One listener per engine thread, all on one address: libevent's one `event_base` per thread
/// behind `SO_REUSEPORT`. The kernel spreads new connections over the listeners, so each thread
/// runs an engine of its own with its own host, table and timers, and nothing is shared.
pub struct Listeners {
    /// The address they listen on (the port picked when the address asked for port 0).
    pub local: SocketAddr,
    each: Vec<(levent_hosts::net::Sockets, SocketId)>,
}

impl Listeners {
    /// Listen on `addr` `threads` times: with `SO_REUSEPORT` when more than once (Linux, the
    /// BSDs, macOS). All listeners are bound before any thread serves, so none misses the first
    /// connections.
    ///
    /// # Errors
    ///
    /// The address cannot be listened on; more than one thread on Windows, which has no
    /// `SO_REUSEPORT` load balancing (there, one engine accepts and hands sockets to others:
    /// the `handoff` example).
    pub fn bind(addr: SocketAddr, threads: usize) -> io::Result<Listeners> {
        if cfg!(windows) && threads > 1 {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "--threads above 1 needs SO_REUSEPORT, which Windows does not have (see the handoff example)",
            ));
        }
        let opts = levent_hosts::net::ListenOptions {
            reuse_port: threads > 1,
            ..levent_hosts::net::ListenOptions::default()
        };
        let mut each = Vec::with_capacity(threads);
        let mut local = addr;
        for _ in 0..threads.max(1) {
            let mut io = levent_hosts::net::Sockets::new();
            let listening = io
                .listen(local, opts)
                .context(format!("cannot listen on {local}"))?;
            local = io.local_addr(listening)?;
            each.push((io, listening));
        }
        Ok(Listeners { local, each })
    }

    /// Run `serve(thread, host, sockets, listener)` on every listener, the first on this thread
    /// and the others on threads of their own, each with a host of its own
    /// (`levent_hosts::default_host`) and its table made that host's
    /// (`levent_hosts::sockets_for`: on io_uring its streams read and write on the ring). Returns when the first returns; a failure on another
    /// thread ends the program with its error (status 1), and another thread that ends cleanly
    /// (stopped by a signal) ends the program too.
    ///
    /// # Errors
    ///
    /// The first thread's error, or a thread that cannot be started.
    pub fn serve<F>(self, serve: F) -> io::Result<()>
    where
        F: Fn(
                usize,
                levent_hosts::DefaultHost,
                levent_hosts::net::Sockets,
                SocketId,
            ) -> io::Result<()>
            + Send
            + Sync
            + 'static,
    {
        let mut each = self.each.into_iter();
        let Some((io, listening)) = each.next() else {
            return Ok(());
        };
        let run = move |k: usize, io, listening| -> io::Result<()> {
            let mut host = levent_hosts::default_host()?;
            let io = levent_hosts::sockets_for(&mut host, io);
            serve(k, host, io, listening)
        };
        let run = std::sync::Arc::new(run);
        for (k, (io, listening)) in each.enumerate() {
            let run = run.clone();
            std::thread::Builder::new()
                .name(format!("engine {}", k + 1))
                .spawn(move || match run(k + 1, io, listening) {
                    Ok(()) => std::process::exit(0),
                    Err(e) => {
                        eprintln!("Error: {e}");
                        std::process::exit(1);
                    }
                })?;
        }
        run(0, io, listening)
    }
}

/// Errors with what was being done: `.context("cannot listen on 127.0.0.1:8000")?` turns any
/// error that converts into `std::io::Error` into one that says so, of the same kind.
pub trait Context<T> {
    /// The error, prefixed with `what`.
    fn context(self, what: impl Display) -> io::Result<T>;
}

impl<T, E: Into<io::Error>> Context<T> for Result<T, E> {
    fn context(self, what: impl Display) -> io::Result<T> {
        self.map_err(|e| with_context(e, what))
    }
}

/// `e` as an `std::io::Error` of the same kind whose message starts with `what`.
pub fn with_context(e: impl Into<io::Error>, what: impl Display) -> io::Error {
    let e: io::Error = e.into();
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// `bytes` as one line of text: valid UTF-8 as it is, every other byte as `\xNN`, control
/// characters (a newline inside, say) as `\n`, `\r`, `\t` or `\xNN`; one trailing newline
/// (`\n` or `\r\n`) is left out, so a typed line prints as itself.
///
/// ```
/// assert_eq!(levent_examples::escape(b"hello\n"), "hello");
/// assert_eq!(levent_examples::escape(b"a\nb\xff\xc3\xa9"), "a\\nb\\xffé");
/// ```
pub fn escape(bytes: &[u8]) -> String {
    let bytes = bytes
        .strip_suffix(b"\r\n")
        .or_else(|| bytes.strip_suffix(b"\n"))
        .unwrap_or(bytes);
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\\' => out.push_str("\\\\"),
                c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Everything in `buffer`, escaped as [`escape`] does.
pub fn escape_buffer(buffer: &impl Buffer) -> String {
    let mut bytes = vec![0u8; buffer.len()];
    buffer.peek(0, &mut bytes);
    escape(&bytes)
}

/// The TLS flags the echo examples share: `--tls-cert FILE --tls-key FILE` (serve TLS with this
/// PEM certificate chain and key), `--tls` (connect with TLS), `--cacert FILE` (trust the
/// certificate authorities of this PEM file instead of Mozilla's roots).
#[derive(Debug, Default, Clone)]
pub struct TlsFlags {
    /// `--tls-cert`.
    pub cert: Option<PathBuf>,
    /// `--tls-key`.
    pub key: Option<PathBuf>,
    /// `--tls`.
    pub client: bool,
    /// `--cacert`.
    pub cacert: Option<PathBuf>,
}

impl TlsFlags {
    /// Take the TLS flags out of `args`; the other arguments stay.
    ///
    /// # Errors
    ///
    /// A flag without its file.
    pub fn take(args: &mut Vec<String>) -> io::Result<TlsFlags> {
        let mut flags = TlsFlags::default();
        let mut rest = vec![];
        let mut it = std::mem::take(args).into_iter();
        while let Some(a) = it.next() {
            let file = match a.as_str() {
                "--tls" => {
                    flags.client = true;
                    continue;
                }
                "--tls-cert" | "--tls-key" | "--cacert" => {
                    it.next().map(PathBuf::from).ok_or_else(|| {
                        io::Error::new(io::ErrorKind::InvalidInput, format!("{a} needs a file"))
                    })?
                }
                _ => {
                    rest.push(a);
                    continue;
                }
            };
            match a.as_str() {
                "--tls-cert" => flags.cert = Some(file),
                "--tls-key" => flags.key = Some(file),
                _ => flags.cacert = Some(file),
            }
        }
        *args = rest;
        Ok(flags)
    }
}

/// Sockets, or TLS over them: the transport of the examples that speak either. It forwards to
/// the one it holds, so a program is written once for both.
pub enum Net {
    /// Plain sockets.
    Plain(levent_hosts::net::Sockets),
    /// TLS over sockets.
    #[cfg(feature = "tls")]
    Tls(levent_hosts::tls::Tls<levent_hosts::net::Sockets>),
}

impl Net {
    /// A server transport: TLS when `flags` name a certificate and a key, plain otherwise.
    ///
    /// # Errors
    ///
    /// Only one of `--tls-cert` and `--tls-key`, files that cannot be read, or TLS asked for in
    /// a build without the `tls` feature.
    pub fn server(io: levent_hosts::net::Sockets, flags: &TlsFlags) -> io::Result<Net> {
        match (&flags.cert, &flags.key) {
            (None, None) => Ok(Net::Plain(io)),
            #[cfg(feature = "tls")]
            (Some(cert), Some(key)) => {
                let cfg = levent_hosts::tls::server_config(cert, key)?;
                Ok(Net::Tls(levent_hosts::tls::Tls::server(io, cfg)))
            }
            #[cfg(not(feature = "tls"))]
            (Some(_), Some(_)) => Err(no_tls()),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "--tls-cert and --tls-key go together",
            )),
        }
    }

    /// A client transport: TLS to `server_name` with `--tls` (or `--cacert`), plain otherwise.
    ///
    /// # Errors
    ///
    /// A CA file that cannot be read, a bad server name, or TLS asked for in a build without the
    /// `tls` feature.
    pub fn client(
        io: levent_hosts::net::Sockets,
        flags: &TlsFlags,
        server_name: &str,
    ) -> io::Result<Net> {
        if !flags.client && flags.cacert.is_none() {
            return Ok(Net::Plain(io));
        }
        #[cfg(feature = "tls")]
        {
            use levent_hosts::tls;
            let cfg = tls::client_config(flags.cacert.as_deref())?;
            Ok(Net::Tls(tls::Tls::client(
                io,
                cfg,
                tls::server_name(server_name)?,
            )))
        }
        #[cfg(not(feature = "tls"))]
        {
            let _ = server_name;
            Err(no_tls())
        }
    }

    /// The sockets underneath (to listen, to set options).
    pub fn sockets(&mut self) -> &mut levent_hosts::net::Sockets {
        match self {
            Net::Plain(s) => s,
            #[cfg(feature = "tls")]
            Net::Tls(t) => t.inner_mut(),
        }
    }
}

#[cfg(not(feature = "tls"))]
fn no_tls() -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, "built without the tls feature")
}

macro_rules! forward {
    ($self:ident, $t:ident => $e:expr) => {
        match $self {
            Net::Plain($t) => $e,
            #[cfg(feature = "tls")]
            Net::Tls($t) => $e,
        }
    };
}

impl Transport for Net {
    type Handle = SocketId;
    fn source(&self, h: SocketId) -> levent_core::SourceKey {
        forward!(self, t => t.source(h))
    }
    fn read(&mut self, h: SocketId, buf: &mut [u8]) -> Result<usize, IoError> {
        forward!(self, t => t.read(h, buf))
    }
    fn write(&mut self, h: SocketId, buf: &[u8]) -> Result<usize, IoError> {
        forward!(self, t => t.write(h, buf))
    }
    fn shutdown_write(&mut self, h: SocketId) -> Result<(), IoError> {
        forward!(self, t => t.shutdown_write(h))
    }
    fn connected(&mut self, h: SocketId) -> Result<(), IoError> {
        forward!(self, t => t.connected(h))
    }
    fn close(&mut self, d: &mut dyn levent_core::Dispatcher, h: SocketId) {
        forward!(self, t => t.close(d, h))
    }
    fn buffered(&mut self, h: SocketId) -> bool {
        forward!(self, t => t.buffered(h))
    }
    fn flush(&mut self, h: SocketId) -> Result<bool, IoError> {
        forward!(self, t => Transport::flush(t, h))
    }
    fn peer_addr(&self, h: SocketId) -> Option<SocketAddr> {
        forward!(self, t => Transport::peer_addr(t, h))
    }
}

impl Accept for Net {
    fn accept(&mut self, h: SocketId) -> Result<SocketId, IoError> {
        forward!(self, t => t.accept(h))
    }
}

impl Connect for Net {
    fn connect(&mut self, to: SocketAddr) -> Result<SocketId, IoError> {
        forward!(self, t => Connect::connect(t, to))
    }
}
