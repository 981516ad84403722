//! Several engines on several threads: `server --threads 2` and `http-server --threads 2` (one
//! `SO_REUSEPORT` listener per engine), and the `handoff` example (one engine accepts, workers
//! serve, connections handed over through a Notifier).
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::example;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `name` with `args`; its log lines, and the address of its `listening on` line.
fn start(name: &str, args: &[&str]) -> (Killed, mpsc::Receiver<String>, SocketAddr) {
    let mut child = Command::new(example(name))
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    let addr = first.strip_prefix("listening on ").unwrap();
    let addr = addr.trim_start_matches("http://").trim_end_matches('/');
    (Killed(child), rx, addr.parse().unwrap())
}

/// `clients` clients at once, each sending `messages` random binary messages and reading each
/// back whole before the next.
fn echo_clients(addr: SocketAddr, clients: usize, messages: usize) {
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            std::thread::spawn(move || {
                let mut rng = fastrand::Rng::with_seed(c as u64);
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
                for m in 0..messages {
                    let msg: Vec<u8> = (0..rng.usize(1..=4096)).map(|_| rng.u8(..)).collect();
                    s.write_all(&msg).unwrap();
                    let mut back = vec![0u8; msg.len()];
                    s.read_exact(&mut back)
                        .unwrap_or_else(|e| panic!("client {c} message {m}: {e}"));
                    assert!(back == msg, "client {c} message {m}: bytes differ");
                }
            })
        })
        .collect();
    for (c, t) in threads.into_iter().enumerate() {
        t.join().unwrap_or_else(|_| panic!("client {c} failed"));
    }
}

/// Drain `rx` for a moment and return what came.
fn log(rx: &mpsc::Receiver<String>) -> Vec<String> {
    let mut lines = vec![];
    while let Ok(l) = rx.recv_timeout(Duration::from_millis(500)) {
        lines.push(l);
    }
    lines
}

#[test]
fn server_with_two_threads_echoes_on_both_engines() {
    let (_server, rx, addr) = start("server", &["127.0.0.1:0", "--threads", "2"]);
    let drain = std::thread::spawn(move || {
        let mut seen = [false; 2];
        while let Ok(l) = rx.recv_timeout(Duration::from_secs(5)) {
            for (k, s) in seen.iter_mut().enumerate() {
                *s |= l.starts_with(&format!("[engine {k}] read from "));
            }
        }
        seen
    });
    echo_clients(addr, 200, 10);
    // The kernel spreads 200 connections over both listeners: both engines served some.
    assert_eq!(drain.join().unwrap(), [true, true]);
}

#[test]
fn handoff_gives_connections_to_both_workers_and_they_echo() {
    let (_server, rx, addr) = start("handoff", &["127.0.0.1:0", "--workers", "2"]);
    echo_clients(addr, 40, 10);
    let lines = log(&rx);
    for k in [1, 2] {
        let took = lines
            .iter()
            .filter(|l| l.starts_with(&format!("worker {k} took 127.0.0.1:")))
            .count();
        // Round-robin: each worker got half.
        assert_eq!(took, 20, "worker {k}: {lines:?}");
    }
}

#[test]
fn http_server_with_two_threads_serves_every_request() {
    let root = std::env::temp_dir().join(format!("levent-scale-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("a.txt"), b"hello from a file\n").unwrap();
    let (_server, rx, addr) = start(
        "http-server",
        &[
            "127.0.0.1:0",
            "--threads",
            "2",
            "--root",
            root.to_str().unwrap(),
        ],
    );
    std::thread::spawn(move || while rx.recv().is_ok() {});
    let threads: Vec<_> = (0..100)
        .map(|c| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
                let mut r = BufReader::new(s.try_clone().unwrap());
                for i in 0..5 {
                    write!(s, "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
                    let mut status = String::new();
                    r.read_line(&mut status).unwrap();
                    assert!(
                        status.starts_with("HTTP/1.1 200"),
                        "client {c} request {i}: {status}"
                    );
                    let mut len = 0;
                    loop {
                        let mut h = String::new();
                        r.read_line(&mut h).unwrap();
                        if h == "\r\n" {
                            break;
                        }
                        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; len];
                    r.read_exact(&mut body).unwrap();
                    assert_eq!(body, b"hello from a file\n");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn threads_needs_a_number() {
    for name in ["server", "http-server"] {
        for bad in [
            &["--threads"][..],
            &["--threads", "0"],
            &["--threads", "many"],
        ] {
            let out = Command::new(example(name)).args(bad).output().unwrap();
            assert_eq!(out.status.code(), Some(1), "{name} {bad:?}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains("--threads needs a number"),
                "{name} {bad:?}: {err}"
            );
        }
    }
}
