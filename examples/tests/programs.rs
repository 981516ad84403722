//! Process-level tests of the example programs: run the binaries, talk to them, read their output.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::example;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("levent-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The lines a child prints, as they come.
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    rx
}

fn expect_line(rx: &mpsc::Receiver<String>, want: &str) {
    let got = rx
        .recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("no line {want:?}"));
    assert_eq!(got, want);
}

fn wait_for(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn eventlisten_prints_what_writers_send_and_keeps_listening_after_each_leaves() {
    let dir = scratch("fifo");
    let fifo = dir.join("fifo.tmp");
    let mut child = Command::new(example("eventlisten"))
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = lines(&mut child);
    let _guard = Killed(child);
    wait_for(&fifo);
    for word in ["one", "two"] {
        let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        // In two writes, as `writeln!` may do: the program must still print one whole line.
        w.write_all(word.as_bytes()).unwrap();
        w.write_all(b"\n").unwrap();
        drop(w);
        expect_line(&rx, &format!("read from fifo: {word}"));
    }
    let mut writer = Command::new(example("writefifo"))
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    writer
        .stdin
        .take()
        .unwrap()
        .write_all(b"three\nfour\n")
        .unwrap();
    assert!(writer.wait().unwrap().success());
    expect_line(&rx, "read from fifo: three");
    expect_line(&rx, "read from fifo: four");
    // Not spinning on end of file: it still answers a new writer.
    std::fs::write(&fifo, "five\n").unwrap();
    expect_line(&rx, "read from fifo: five");
}

#[test]
fn eventlisten_refuses_a_path_that_is_not_a_fifo() {
    let dir = scratch("notfifo");
    let file = dir.join("plain");
    std::fs::write(&file, "x").unwrap();
    let out = Command::new(example("eventlisten"))
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("is not a FIFO"), "{err}");
}

#[test]
fn writefifo_reports_a_missing_fifo_in_one_line() {
    let dir = scratch("nofifo");
    let out = Command::new(example("writefifo"))
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8(out.stderr).unwrap().lines().count(), 1);
}

#[test]
fn signalevent_counts_three_sigints_then_ends_with_status_0() {
    let mut child = Command::new(example("signalevent"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let rx = lines(&mut child);
    expect_line(&rx, "waiting for SIGINT (press Ctrl-C three times)");
    for n in 1..=3 {
        assert!(
            Command::new("kill")
                .args(["-INT", &pid])
                .status()
                .unwrap()
                .success()
        );
        expect_line(&rx, &format!("signal 2 received ({n})"));
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn every_example_answers_help_with_one_line_of_usage() {
    for name in [
        "eventlisten",
        "writefifo",
        "signalevent",
        "server",
        "client",
        "dns-lookup",
        "http-server",
        "http-get",
        "handoff",
    ] {
        let out = Command::new(example(name)).arg("--help").output().unwrap();
        assert!(out.status.success(), "{name}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(text.lines().count(), 1, "{name}: {text}");
        assert!(
            text.starts_with(&format!("usage: {name}")),
            "{name}: {text}"
        );
        let bad = Command::new(example(name))
            .args(["--bogus"])
            .output()
            .unwrap();
        assert_eq!(bad.status.code(), Some(1), "{name}");
    }
}

#[test]
fn several_clients_at_once_get_their_own_lines_back_and_the_server_logs_them() {
    let mut server = Command::new(example("server"))
        .arg("127.0.0.1:0")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = lines(&mut server);
    let _guard = Killed(server);
    let first = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    let addr = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{first}"))
        .to_string();
    let clients: Vec<(usize, Child)> = (0..3)
        .map(|i| {
            let mut c = Command::new(example("client"))
                .arg(&addr)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut input = c.stdin.take().unwrap();
            writeln!(input, "hello from {i}").unwrap();
            writeln!(input, "bye from {i}").unwrap();
            drop(input);
            (i, c)
        })
        .collect();
    for (i, c) in clients {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "client {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            text,
            format!("connected\nreceived: hello from {i}\nreceived: bye from {i}\n")
        );
    }
    let mut log = vec![];
    while log
        .iter()
        .filter(|l: &&String| l.ends_with(" left"))
        .count()
        < 3
    {
        log.push(
            rx.recv_timeout(Duration::from_secs(20))
                .expect("server log"),
        );
    }
    for i in 0..3 {
        // Each read is logged as it arrived (escaped, one line per read), so a client's two lines
        // may come in one read or several: what matters is that all of it was logged, under one
        // client id, and that the client left.
        let mine: Vec<&String> = log
            .iter()
            .filter(|l| l.contains(&format!(": hello from {i}")))
            .collect();
        let id = mine[0]
            .strip_prefix("read from ")
            .unwrap()
            .split(':')
            .next()
            .unwrap()
            .to_string();
        let prefix = format!("read from {id}: ");
        let text: String = log
            .iter()
            .filter_map(|l| l.strip_prefix(&prefix))
            .collect::<Vec<_>>()
            .join("")
            .replace("\\n", "");
        assert_eq!(text, format!("hello from {i}bye from {i}"), "{log:?}");
        assert!(log.contains(&format!("client {id} left")), "{log:?}");
    }
}

/// The echo server is byte-exact: 300 clients at once, each sending 20 random binary messages of
/// 1 byte to 16 KiB (a message is sent only after the previous one came back), get every byte
/// back in order. (The server of the first release echoed whole lines only, rewrote CRLF and
/// held a last partial line: every one of these clients stalled.)
#[test]
fn server_echoes_every_byte_to_300_concurrent_binary_clients() {
    const CLIENTS: usize = 300;
    const MESSAGES: usize = 20;
    let mut server = Command::new(example("server"))
        .arg("127.0.0.1:0")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = lines(&mut server);
    let _guard = Killed(server);
    let first = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    let addr: std::net::SocketAddr = first
        .strip_prefix("listening on ")
        .unwrap()
        .parse()
        .unwrap();
    // Keep reading the server's log so it never blocks on a full pipe.
    std::thread::spawn(move || while rx.recv().is_ok() {});
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            std::thread::spawn(move || {
                use std::io::Read;
                let mut rng = fastrand::Rng::with_seed(c as u64);
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
                for m in 0..MESSAGES {
                    let len = rng.usize(1..=16 * 1024);
                    let msg: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
                    s.write_all(&msg).unwrap();
                    let mut back = vec![0u8; len];
                    s.read_exact(&mut back)
                        .unwrap_or_else(|e| panic!("client {c} message {m}: {e}"));
                    assert!(back == msg, "client {c} message {m}: bytes differ");
                }
                // Nothing more comes back than was sent: the server closes after our end.
                s.shutdown(std::net::Shutdown::Write).unwrap();
                let mut rest = vec![];
                s.read_to_end(&mut rest).unwrap();
                assert!(rest.is_empty(), "client {c}: {} extra bytes", rest.len());
            })
        })
        .collect();
    for (c, t) in clients.into_iter().enumerate() {
        t.join().unwrap_or_else(|_| panic!("client {c} failed"));
    }
}

#[test]
fn client_reports_an_unreachable_server_in_one_line_with_status_1() {
    // Port 9 (discard) on loopback: nobody listens there in a test environment.
    let out = Command::new(example("client"))
        .arg("127.0.0.1:9")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("cannot connect"), "{err}");
}

#[test]
fn server_refuses_an_address_in_use_or_unparsable_with_status_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    for arg in [addr.as_str(), "not-an-address"] {
        let out = Command::new(example("server")).arg(arg).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{arg}");
        assert_eq!(
            String::from_utf8(out.stderr).unwrap().lines().count(),
            1,
            "{arg}"
        );
    }
}

/// `server --rate 50000`: a client's 150 kB echo takes about three seconds (50 kB/s each way,
/// 5 kB per 100 ms), and still comes back byte for byte. Only the lower bound is tight: a loaded
/// machine can make it slower, never faster.
#[test]
fn server_rate_holds_a_client_to_its_bytes_per_second() {
    use std::io::Read;
    let mut server = Command::new(example("server"))
        .args(["127.0.0.1:0", "--rate", "50000"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = lines(&mut server);
    let _guard = Killed(server);
    let first = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    let addr: std::net::SocketAddr = first
        .strip_prefix("listening on ")
        .unwrap()
        .parse()
        .unwrap();
    std::thread::spawn(move || while rx.recv().is_ok() {});
    let msg: Vec<u8> = (0..150_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let start = Instant::now();
    let writer = {
        let (mut s, msg) = (s.try_clone().unwrap(), msg.clone());
        std::thread::spawn(move || s.write_all(&msg).unwrap())
    };
    let mut back = vec![0u8; msg.len()];
    s.read_exact(&mut back).unwrap();
    let took = start.elapsed();
    writer.join().unwrap();
    assert!(back == msg, "bytes differ");
    // 150 kB at 50 kB/s, less the first refill's 5 kB already in the bucket: 2.9 s at least.
    assert!(took >= Duration::from_millis(2_800), "took {took:?}");
    assert!(took < Duration::from_secs(40), "took {took:?}");
    // A bad rate is a usage error.
    let out = Command::new(example("server"))
        .args(["--rate", "fast"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr).unwrap().contains("--rate"));
}
