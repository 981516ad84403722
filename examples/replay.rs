//! replay: run the `http-server` example's code on a trace that `http-server --record FILE`
//! wrote, with no network, and say whether it did exactly what the recorded run did.
//!
//! ```text
//! replay FILE [--root DIR]
//! ```
//!
//! The trace carries what the server was started with (its root directory and stop signals),
//! so no other argument is needed; `--root` serves the site's files from another directory (a
//! copy of the production site on another machine). Every input (clock readings, readiness, signals, the bytes
//! each read returned) comes from the trace; every action of the server (its registrations,
//! the bytes of each write, its closes) is compared with the trace. The site's files are read
//! from the disk again, so a replay is identical while they are unchanged.
//!
//! Prints `replayed N turns: identical` and exits 0, or prints the first divergence (the turn
//! and what differed) and exits 1. A trace it cannot read (not a trace, another format
//! version, cut or corrupt, or of another program) exits 2 and says why.

use levent_examples::http_site::{Site, serve};
use levent_hosts::net::SocketId;
use levent_hosts::trace::Replay;
use std::path::PathBuf;
use std::process::ExitCode;

const NAME: &str = "replay";
const USAGE: &str = "FILE [--root DIR]   (a trace written by http-server --record FILE; DIR: the site's files, if not where they were recorded)";

fn main() -> ExitCode {
    match replay() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{NAME}: {e}");
            ExitCode::from(2)
        }
    }
}

fn replay() -> std::io::Result<ExitCode> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage: {NAME} {USAGE}");
        return Ok(ExitCode::SUCCESS);
    }
    let mut root = None;
    if let Some(at) = args.iter().position(|a| a == "--root") {
        if at + 1 >= args.len() {
            return Err(levent_examples::usage_error(NAME, USAGE));
        }
        root = Some(PathBuf::from(args.remove(at + 1)));
        args.remove(at);
    }
    let [file] = args.as_slice() else {
        return Err(levent_examples::usage_error(NAME, USAGE));
    };
    let data = std::fs::read(file).map_err(|e| levent_examples::with_context(e, file))?;
    let replay = Replay::open(&data).map_err(|e| levent_examples::with_context(e, file))?;
    let bad = |what: String| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{file}: {what}"))
    };
    match replay.meta("program") {
        Some("http-server") => {}
        Some(other) => {
            return Err(bad(format!(
                "a trace of {other}; this replay runs http-server"
            )));
        }
        None => return Err(bad("the trace names no program".into())),
    }
    let field = |key: &str| {
        replay
            .meta(key)
            .ok_or_else(|| bad(format!("the trace has no {key:?}")))
    };
    let listening = field("listening")?
        .parse::<u64>()
        .map(SocketId::from_raw)
        .map_err(|_| bad("the trace's listening socket is not a number".into()))?;
    let stop = field("stop")?
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::parse::<i32>)
        .collect::<Result<Vec<_>, _>>()
        .ok()
        .filter(|s| s.iter().all(|n| (1..=63).contains(n)))
        .ok_or_else(|| bad("the trace's stop signals are not signal numbers (1 to 63)".into()))?;
    let root = match root {
        Some(dir) => dir
            .canonicalize()
            .map_err(|e| levent_examples::with_context(e, format!("--root {}", dir.display())))?,
        None => PathBuf::from(field("root")?),
    };
    let site = Site { root, stop };
    if let Some(line) = replay.meta("command line") {
        eprintln!("{NAME}: {line}");
    }
    let mut host = replay.host();
    let mut io = replay.io::<SocketId>();
    // A divergence ends the server with an error; the replay says which.
    let served = serve(&mut host, &mut io, listening, &site, replay.platform());
    match replay.finish() {
        Ok(turns) => {
            println!("replayed {turns} turns: identical");
            Ok(ExitCode::SUCCESS)
        }
        Err(d) => {
            println!("{d}");
            if let Err(e) = served {
                eprintln!("{NAME}: the server stopped: {e}");
            }
            Ok(ExitCode::from(1))
        }
    }
}
