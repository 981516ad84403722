//! The networked firmware (`boards/firmware-qemu`, bin `net`) in qemu, reached from here through
//! qemu's emulated Stellaris NIC and its restricted user network (loopback forwards only), as
//! `boards/firmware-qemu/net-up` starts it: HTTP (curl and raw sockets), TCP echo, DNS
//! (`dns-lookup`), bad input, and the figures (requests per second, echo throughput).
//!
//! Skipped, saying so, when qemu-system-arm, defmt-print, curl, python3 or the
//! thumbv7m-none-eabi target are missing; under `.ci/run` (`LEVENT_CI`) a missing tool fails
//! the test instead.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::example;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// `net-up`, running; stopped (SIGTERM, which stops qemu too) when dropped.
struct Firmware {
    child: Child,
    http: u16,
    echo: u16,
    dns: u16,
}

impl Drop for Firmware {
    fn drop(&mut self) {
        // SAFETY: sending a signal to our own child process, whose pid we hold.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Whether everything the firmware needs is here. Under `LEVENT_CI` a missing piece fails.
fn tools_present() -> bool {
    let runs = |cmd: &str, arg: &str| {
        Command::new(cmd)
            .arg(arg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let target = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .is_some_and(|root| {
            PathBuf::from(root)
                .join("lib/rustlib/thumbv7m-none-eabi")
                .exists()
        });
    let missing: Vec<&str> = [
        ("qemu-system-arm", runs("qemu-system-arm", "--version")),
        ("defmt-print", runs("defmt-print", "--version")),
        ("curl", runs("curl", "--version")),
        ("python3", runs("python3", "--version")),
        ("the thumbv7m-none-eabi target", target),
    ]
    .into_iter()
    .filter(|(_, ok)| !ok)
    .map(|(name, _)| name)
    .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os("LEVENT_CI").is_none(),
        "missing {missing:?}, and CI must not skip the firmware tests"
    );
    println!(
        "skipped: missing {missing:?} (apt-get install qemu-system-arm curl python3; \
         rustup target add thumbv7m-none-eabi; cargo install defmt-print)"
    );
    false
}

/// Three loopback ports free for TCP (and the last for UDP too) a moment ago.
fn free_ports() -> (u16, u16, u16) {
    loop {
        let l: Vec<TcpListener> = (0..3)
            .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let p: Vec<u16> = l.iter().map(|l| l.local_addr().unwrap().port()).collect();
        if UdpSocket::bind(("127.0.0.1", p[2])).is_ok() {
            return (p[0], p[1], p[2]);
        }
    }
}

/// Start `net-up` and wait for `ready` (the first build of the firmware included).
fn boot() -> Firmware {
    let (http, echo, dns) = free_ports();
    let mut child = Command::new(repo().join("boards/firmware-qemu/net-up"))
        .args([http.to_string(), echo.to_string(), dns.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    let fw = Firmware {
        child,
        http,
        echo,
        dns,
    };
    let line = rx.recv_timeout(Duration::from_secs(900)).unwrap();
    assert_eq!(line, "ready", "net-up said {line:?}");
    fw
}

/// xorshift64*: reproducible bytes and sizes without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn curl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "60"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Send `raw` on a new connection and read the whole answer (the server closes after it).
fn exchange(port: u16, raw: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(raw).unwrap();
    let mut out = vec![];
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn get_root(port: u16) -> String {
    exchange(
        port,
        b"GET / HTTP/1.1\r\nHost: board\r\nConnection: close\r\n\r\n",
    )
}

fn assert_answers(fw: &Firmware, after: &str) {
    let r = get_root(fw.http);
    assert!(
        r.starts_with("HTTP/1.1 200 OK\r\n") && r.contains("levent"),
        "after {after}: {r:?}"
    );
}

/// Echo `messages` random messages of 1 byte to 4 KiB, each read back whole before the next.
fn echo_client(port: u16, seed: u64, messages: usize) -> usize {
    let mut rng = Rng(seed);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.set_nodelay(true).unwrap();
    let mut total = 0;
    for m in 0..messages {
        let len = 1 + (rng.next() % 4096) as usize;
        let msg = rng.bytes(len);
        s.write_all(&msg).unwrap();
        let mut back = vec![0u8; len];
        s.read_exact(&mut back).unwrap();
        assert!(
            back == msg,
            "client {seed}: message {m} ({len} bytes) came back changed"
        );
        total += len;
    }
    s.shutdown(Shutdown::Write).unwrap();
    let mut rest = vec![];
    s.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    total
}

fn http_page_and_echo(fw: &Firmware) {
    let url = format!("http://127.0.0.1:{}", fw.http);
    let page = curl(&[&format!("{url}/")]);
    assert!(
        String::from_utf8_lossy(&page).contains("levent"),
        "{page:?}"
    );
    let code = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("{url}/nope"),
    ]);
    assert_eq!(code, b"404");
    let body = Rng(7).bytes(64 * 1024);
    let file = std::env::temp_dir().join(format!("levent-fw-body-{}", std::process::id()));
    std::fs::write(&file, &body).unwrap();
    let back = curl(&[
        "--data-binary",
        &format!("@{}", file.display()),
        "-H",
        "Content-Type: application/octet-stream",
        &format!("{url}/echo"),
    ]);
    let _ = std::fs::remove_file(&file);
    assert!(
        back == body,
        "64 KiB POST /echo came back changed ({} bytes)",
        back.len()
    );
    println!("http: GET / and POST /echo of 64 KiB through curl: ok");
}

fn four_echo_clients(fw: &Firmware) {
    let start = Instant::now();
    let port = fw.echo;
    let clients: Vec<_> = (1..=4)
        .map(|seed| std::thread::spawn(move || echo_client(port, seed, 50)))
        .collect();
    let bytes: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "figure: echo, 4 clients x 50 messages of 1 B..4 KiB: {bytes} bytes each way in {secs:.2} s \
         = {:.0} KiB/s each way",
        bytes as f64 / 1024.0 / secs
    );
}

fn dns(fw: &Firmware) {
    let server = format!("127.0.0.1:{}", fw.dns);
    let out = Command::new(example("dns-lookup"))
        .args(["--server", &server, "www.levent.test"])
        .env("RES_OPTIONS", "timeout:5 attempts:2")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "192.0.2.80");
    let out = Command::new(example("dns-lookup"))
        .args(["--server", &server, "nowhere.levent.test"])
        .env("RES_OPTIONS", "timeout:5 attempts:2")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error: nxdomain"), "{err:?}");
    println!("dns: www.levent.test and NXDOMAIN through dns-lookup: ok");
}

fn thousand_requests(fw: &Firmware) {
    let start = Instant::now();
    for i in 0..1000 {
        let r = get_root(fw.http);
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "request {i}: {r:?}");
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "figure: http, 1000 sequential GET / on new connections: {secs:.2} s = {:.0} requests/s",
        1000.0 / secs
    );
    let mut s = TcpStream::connect(("127.0.0.1", fw.http)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    let start = Instant::now();
    for i in 0..1000 {
        s.write_all(b"GET / HTTP/1.1\r\nHost: board\r\n\r\n")
            .unwrap();
        let mut len = None;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(v) = line.strip_prefix("Content-Length: ") {
                len = v.trim().parse::<usize>().ok();
            }
            if line == "\r\n" {
                break;
            }
            assert!(
                !line.is_empty(),
                "keep-alive request {i}: connection closed"
            );
        }
        let mut body = vec![0; len.unwrap()];
        reader.read_exact(&mut body).unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "figure: http, 1000 sequential GET / on one kept-alive connection: {secs:.2} s = {:.0} requests/s",
        1000.0 / secs
    );
    assert_answers(fw, "2000 sequential requests");
}

/// A socket that closes with a reset (SO_LINGER 0) when dropped.
fn reset_on_drop(s: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a socket we own, with a pointer to a live `linger` of its size.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0);
}

fn resets_mid_request(fw: &Firmware) {
    for partial in [
        &b"GET / HTTP/1.1\r\nHost: bo"[..],
        b"POST /echo HTTP/1.1\r\nHost: board\r\nContent-Length: 10000\r\n\r\nonly a part",
    ] {
        let mut s = TcpStream::connect(("127.0.0.1", fw.http)).unwrap();
        s.write_all(partial).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        reset_on_drop(&s);
        drop(s);
    }
    let mut s = TcpStream::connect(("127.0.0.1", fw.echo)).unwrap();
    s.write_all(&[1; 3000]).unwrap();
    reset_on_drop(&s);
    drop(s);
    std::thread::sleep(Duration::from_millis(300));
    assert_answers(fw, "clients reset mid-request");
    assert!(echo_client(fw.echo, 99, 3) > 0);
    println!("bad input: clients resetting mid-request: ok");
}

fn oversized_requests(fw: &Firmware) {
    let big_field = "x".repeat(2048);
    let r = exchange(
        fw.http,
        format!("GET / HTTP/1.1\r\nHost: board\r\nX-Big: {big_field}\r\n\r\n").as_bytes(),
    );
    assert!(r.starts_with("HTTP/1.1 431 "), "a 2 KiB head: {r:?}");
    let long_target = "a".repeat(600);
    let r = exchange(
        fw.http,
        format!("GET /{long_target} HTTP/1.1\r\nHost: board\r\n\r\n").as_bytes(),
    );
    assert!(r.starts_with("HTTP/1.1 414 "), "a 600-byte target: {r:?}");
    let r = exchange(
        fw.http,
        b"POST /echo HTTP/1.1\r\nHost: board\r\nContent-Length: 2097152\r\n\r\nabc",
    );
    assert!(r.starts_with("HTTP/1.1 413 "), "a 2 MiB body: {r:?}");
    assert_answers(fw, "oversized requests");
    println!("bad input: 431, 414 and 413 for requests larger than the buffers allow: ok");
}

fn connection_flood(fw: &Firmware) {
    // Far more connections than the listening pools hold (5 echo, 3 HTTP): qemu accepts each on
    // loopback and opens it to the board, which refuses those beyond its pools.
    let mut held = vec![];
    for _ in 0..40 {
        for port in [fw.echo, fw.http] {
            if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
                held.push(s);
            }
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    drop(held);
    std::thread::sleep(Duration::from_millis(500));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = get_root(fw.http);
        if r.starts_with("HTTP/1.1 200 OK\r\n") {
            break;
        }
        assert!(Instant::now() < deadline, "after a flood: {r:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(echo_client(fw.echo, 42, 5) > 0);
    println!("bad input: a flood of 80 connections beyond the listening pools: ok");
}

#[test]
fn firmware_serves_http_echo_and_dns_through_qemus_nic() {
    if !tools_present() {
        return;
    }
    let fw = boot();
    http_page_and_echo(&fw);
    four_echo_clients(&fw);
    dns(&fw);
    thousand_requests(&fw);
    resets_mid_request(&fw);
    oversized_requests(&fw);
    connection_flood(&fw);
    assert_answers(&fw, "every test");
}
