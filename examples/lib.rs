//! Helpers shared by levent's example programs: argument handling and error reporting, so that
//! every example answers `--help` with one line of usage and reports errors as one readable line.

use std::net::SocketAddr;
use std::process::ExitCode;

/// What the command line asked for.
pub enum Args {
    /// Run with these positional arguments.
    Run(Vec<String>),
    /// Exit now with this status (after `--help`, or a usage error already reported).
    Exit(ExitCode),
}

/// Parse the command line of program `name`: `--help`/`-h` prints `usage` and exits 0; more than
/// `max` positional arguments, or an unknown option, prints the usage on standard error and exits 1.
pub fn args(name: &str, usage: &str, max: usize) -> Args {
    let rest: Vec<String> = std::env::args().skip(1).collect();
    if rest.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage: {name} {usage}");
        return Args::Exit(ExitCode::SUCCESS);
    }
    if rest.len() > max || rest.iter().any(|a| a.starts_with('-') && a.len() > 1) {
        eprintln!("usage: {name} {usage}");
        return Args::Exit(ExitCode::from(1));
    }
    Args::Run(rest)
}

/// Report `error` as one line on standard error, prefixed with the program's name, and give exit
/// status 1.
pub fn fail(name: &str, error: impl std::fmt::Display) -> ExitCode {
    eprintln!("{name}: {error}");
    ExitCode::from(1)
}

/// Parse the command line of program `name` whose one optional argument is a socket address,
/// `default` when it is absent: the address, or the exit status once `--help` was answered or
/// an error reported (as [`args`] and [`fail`] do).
pub fn address_arg(name: &str, default: &str) -> Result<SocketAddr, ExitCode> {
    let usage = format!("[ADDR]   (default {default})");
    let addr = match args(name, &usage, 1) {
        Args::Run(a) => a.into_iter().next().unwrap_or_else(|| default.into()),
        Args::Exit(code) => return Err(code),
    };
    addr.parse()
        .map_err(|_| fail(name, format!("cannot parse address {addr:?}")))
}
