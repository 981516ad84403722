//! levent's benchmarks, side by side with libevent 2.1 and raw mio 1.x. Run the whole suite with
//! `cargo run --release -p levent-bench`; see BENCHMARKS.md.

pub mod chart;
pub mod dispatch;
pub mod dns;
pub mod echo;
pub mod http;
pub mod pipechain;
pub mod timers;

use std::io;
use std::path::PathBuf;

/// levent on the io_uring host: the `levent` code of each benchmark, run in a process whose
/// `LEVENT_BACKEND` is `io_uring`, so `levent_hosts::default_host()` makes that host.
pub const URING: &str = "levent-uring";

/// Whether this machine's kernel gives an io_uring host (Linux 5.11 or newer, no seccomp filter
/// against it).
pub fn have_uring() -> bool {
    #[cfg(target_os = "linux")]
    return levent_hosts::uring::Uring::new().is_ok();
    #[cfg(not(target_os = "linux"))]
    return false;
}

/// Set what a benchmark process of implementation `impl_` needs in its environment: the
/// io_uring backend for [`URING`], nothing for the others.
pub fn backend_env<'a>(
    cmd: &'a mut std::process::Command,
    impl_: &str,
) -> &'a mut std::process::Command {
    if impl_ == URING {
        cmd.env("LEVENT_BACKEND", "io_uring");
    }
    cmd
}

/// The libevent side of the suite, if it was built (libevent installed at build time).
pub fn libevent_exe() -> Option<PathBuf> {
    let p = env!("LEVENT_BENCH_LIBEVENT");
    (!p.is_empty()).then(|| PathBuf::from(p))
}

/// Run the C benchmark program with `args`; it prints `nanoseconds events`.
pub fn run_c(exe: &std::path::Path, args: &[&str]) -> io::Result<pipechain::Run> {
    let out = std::process::Command::new(exe).args(args).output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "libevent-bench {args:?} failed: {}",
            out.status
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace().map(|s| s.parse::<u64>());
    match (it.next(), it.next()) {
        (Some(Ok(ns)), Some(Ok(events))) => Ok(pipechain::Run { ns, events }),
        _ => Err(io::Error::other(format!("libevent-bench printed {text:?}"))),
    }
}
