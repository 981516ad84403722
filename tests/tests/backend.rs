//! `LEVENT_BACKEND` chooses the host `default_host` makes on Linux: each backend is forced in a
//! child process (this test binary run again), which runs a timer and a socket's readiness on it
//! and prints the backend's name.
#![cfg(all(target_os = "linux", not(levent_force_poll)))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use core::time::Duration;
use levent_core::{Event, Interest, SourceKey};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::process::Command;

/// Run [`child`] again with `LEVENT_BACKEND=name`; its standard output and error.
fn run_child(name: &str) -> (bool, String, String) {
    run_child_with(name, false)
}

/// [`run_child`], with io_uring refused by a seccomp filter in the child if `no_uring`.
fn run_child_with(name: &str, no_uring: bool) -> (bool, String, String) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env("LEVENT_BACKEND", name)
        .env("LEVENT_BACKEND_CHILD", "1");
    if no_uring {
        cmd.env("LEVENT_BACKEND_NO_URING", "1");
    }
    let out = cmd.output().expect("run the test binary again");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn levent_backend_forces_each_host() {
    for name in ["epoll", "poll", "io_uring"] {
        let (ok, stdout, stderr) = run_child(name);
        assert!(ok, "LEVENT_BACKEND={name}: {stdout}{stderr}");
        assert!(
            stdout.contains(&format!("backend {name}: timer and readiness fired")),
            "LEVENT_BACKEND={name} ran another host: {stdout}{stderr}"
        );
    }
}

#[test]
fn io_uring_refused_by_seccomp_falls_back_to_epoll_with_one_line() {
    let (ok, stdout, stderr) = run_child_with("io_uring", true);
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains("backend epoll: timer and readiness fired"),
        "{stdout}{stderr}"
    );
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("io_uring is not available"))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("using epoll"), "{stderr}");
}

#[test]
fn an_unknown_backend_is_refused_with_the_names() {
    let (ok, stdout, stderr) = run_child("kqueue");
    assert!(!ok, "{stdout}{stderr}");
    assert!(
        stderr.contains("no backend \"kqueue\": expected epoll, poll or io_uring"),
        "{stdout}{stderr}"
    );
}

/// The child: what a program on `default_host()` sees.
#[test]
fn child() {
    if std::env::var_os("LEVENT_BACKEND_CHILD").is_none() {
        return;
    }
    // The hosts crate logs through `log` here: its lines go to standard error.
    log::set_logger(&STDERR).unwrap();
    log::set_max_level(log::LevelFilter::Warn);
    if std::env::var_os("LEVENT_BACKEND_NO_URING").is_some() {
        refuse_io_uring();
    }
    let mut host = match levent_hosts::default_host() {
        Ok(host) => host,
        Err(e) => panic!("{e}"),
    };
    let mut engine: levent_hosts::Engine<u8, 8> = levent_hosts::engine();
    engine
        .start(Event::timer(), 1, Some(Duration::from_millis(5)))
        .unwrap();
    let (mut a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    b.set_nonblocking(true).unwrap();
    let key = SourceKey(b.as_raw_fd() as usize);
    engine
        .start(Event::io(key, Interest::READ), 2, None)
        .unwrap();
    a.write_all(b"x").unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let fired = engine.next(&mut host).unwrap().expect("an event");
        if !seen.contains(&fired.datum) {
            seen.push(fired.datum);
        }
    }
    println!("backend {}: timer and readiness fired", host.name());
}

/// A logger that writes each line to standard error.
struct Stderr;
static STDERR: Stderr = Stderr;

impl log::Log for Stderr {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        eprintln!("{}", record.args());
    }
    fn flush(&self) {}
}

/// From now on this thread's `io_uring_setup` fails with `EPERM`, as under a container's
/// seccomp profile that forbids io_uring.
fn refuse_io_uring() {
    use seccompiler::{BpfProgram, SeccompAction, SeccompFilter};
    let filter = SeccompFilter::new(
        [(libc::SYS_io_uring_setup, vec![])].into_iter().collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        std::env::consts::ARCH.try_into().unwrap(),
    )
    .unwrap();
    let program: BpfProgram = filter.try_into().unwrap();
    seccompiler::apply_filter(&program).unwrap();
}
