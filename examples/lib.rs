//! Helpers shared by levent's example programs: argument handling and error reporting, so that
//! every example answers `--help` with one line of usage and reports errors as one readable line.

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
