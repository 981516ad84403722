//! Helpers shared by levent's example programs: argument handling, errors with context, and the
//! escaping the echo server prints with. Every example's `main` returns `std::io::Result<()>`:
//! levent's errors convert into `std::io::Error`, so `?` is all the error handling it needs, and
//! a failure ends the program with status 1 and one line on standard error.

use levent_core::Buffer;
use std::fmt::Display;
use std::io;
use std::net::SocketAddr;

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
