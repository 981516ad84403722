//! Record and replay: `http-server --record FILE` under curl and a raw client that resets, then
//! `replay FILE` on the trace as recorded, with one byte of a read edited, and cut or foreign.
//! curl is needed; without it the tests skip, or fail under `LEVENT_CI`.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::example;

use levent_hosts::trace::{Record, Trace};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// Whether curl runs; without it the test skips, or fails under `LEVENT_CI`.
fn have_curl() -> bool {
    let ok = Command::new("curl")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok();
    if !ok {
        assert!(
            std::env::var_os("LEVENT_CI").is_none(),
            "curl is missing (CI installs it)"
        );
        eprintln!("skipped: curl is missing");
    }
    ok
}

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("levent-replay-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("root")).unwrap();
    std::fs::write(d.join("root").join("a.txt"), "file a\n").unwrap();
    d
}

fn curl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20"])
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

/// Run `http-server --record` on `d`, talk to it (GET, a 64 KiB POST, two requests on one
/// connection, a client that resets), stop it with SIGINT; the trace's path.
fn record(d: &Path) -> PathBuf {
    let trace = d.join("run.trace");
    let mut child = Command::new(example("http-server"))
        .args(["127.0.0.1:0", "--root"])
        .arg(d.join("root"))
        .arg("--record")
        .arg(&trace)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let addr = first
        .trim()
        .strip_prefix("listening on http://")
        .and_then(|a| a.strip_suffix('/'))
        .unwrap()
        .to_string();
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let url = |p: &str| format!("http://{addr}{p}");

    assert_eq!(curl(&[&url("/a.txt")]), b"file a\n");
    let body: Vec<u8> = (0..64 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(d.join("body"), &body).unwrap();
    let at = format!("@{}", d.join("body").display());
    assert!(curl(&["--data-binary", &at, &url("/echo")]) == body);
    // Keep-alive: both requests on one connection.
    assert_eq!(
        curl(&[&url("/a.txt"), &url("/missing")]),
        b"file a\nNot Found\n"
    );
    // A client that resets: it lets the answer arrive unread, then closes with linger 0.
    let mut raw = TcpStream::connect(&addr).unwrap();
    raw.write_all(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut one = [0u8; 1];
    raw.read_exact(&mut one).unwrap();
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: sets SO_LINGER on a socket this test owns, from a valid linger struct.
    let r = unsafe {
        libc::setsockopt(
            raw.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0);
    drop(raw);
    // The server still answers after the reset.
    assert_eq!(curl(&[&url("/a.txt")]), b"file a\n");

    // SAFETY: sends SIGINT to the child this test started.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{status}: {err}");
    assert!(err.contains("recorded "), "{err}");
    trace
}

fn replay(trace: &Path) -> Output {
    let mut child = Command::new(example("replay"))
        .arg(trace)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(start.elapsed() < Duration::from_secs(60), "replay hangs");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// `out` with every access-log date (`[07/Dec/2026:14:56:29 +0000]`) replaced by `[date]`.
fn without_dates(out: &[u8]) -> String {
    String::from_utf8_lossy(out)
        .lines()
        .map(|line| match (line.find(" - - ["), line.find("] \"")) {
            (Some(a), Some(b)) if a < b => format!("{}[date]{}", &line[..a + 5], &line[b + 1..]),
            _ => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn text(o: &Output) -> String {
    format!(
        "{}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn a_recorded_curl_session_replays_identically_and_an_edited_read_diverges_at_its_turn() {
    if !have_curl() {
        return;
    }
    let d = dir("curl");
    let trace = record(&d);
    let data = std::fs::read(&trace).unwrap();
    let parsed = Trace::parse(&data).unwrap();
    let turns = parsed.turns();
    assert!(turns > 5, "{turns} turns");
    // Everything the session did is in the trace: the reset among the reads' results.
    let reads = parsed
        .records()
        .iter()
        .filter(|r| matches!(r, Record::Read(..)))
        .count();
    let resets = parsed
        .records()
        .iter()
        .filter(|r| matches!(r, Record::Read(_, _, Err(levent_core::IoError::Reset))))
        .count();
    assert!(reads > 10, "{reads} reads");

    let o = replay(&trace);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        said.contains(&format!("replayed {turns} turns: identical")),
        "{}",
        text(&o)
    );
    // Twice the same, but for the access log's dates: the site stamps each line with the wall
    // clock of the run, which the trace does not hold (two replays can straddle a second).
    assert_eq!(
        without_dates(&replay(&trace).stdout),
        without_dates(&o.stdout)
    );

    // One byte of the first read edited: GET /a.txt becomes GET /b.txt, which is not there.
    let mut turn = 0;
    let mut read_turn = None;
    for r in parsed.records() {
        match r {
            Record::Wait(_) => turn += 1,
            Record::Read(_, _, Ok(b)) if b.windows(10).any(|w| w == b"GET /a.txt") => {
                read_turn = Some(turn);
                break;
            }
            _ => {}
        }
    }
    let read_turn = read_turn.unwrap();
    let at = data.windows(10).position(|w| w == b"GET /a.txt").unwrap();
    let mut edited = data.clone();
    edited[at + 5] = b'b';
    let bad = d.join("edited.trace");
    std::fs::write(&bad, &edited).unwrap();
    let o = replay(&bad);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        said.contains(&format!("diverged at turn {read_turn}: ")),
        "{}",
        text(&o)
    );
    assert!(said.contains("404 Not Found"), "{}", text(&o));
    eprintln!(
        "{turns} turns, {} bytes, {reads} reads ({resets} resets)",
        data.len()
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_cut_corrupt_foreign_or_missing_trace_is_refused_with_a_reason() {
    if !have_curl() {
        return;
    }
    let d = dir("bad");
    let trace = record(&d);
    let data = std::fs::read(&trace).unwrap();
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("cut", data[..data.len() - 3].to_vec(), "cut"),
        (
            "version",
            [&data[..8], &[7, 0], &data[10..]].concat(),
            "format version 7",
        ),
        ("foreign", b"PNG not a trace".to_vec(), "not a levent trace"),
        ("corrupt", [&data[..], &[0xff, 0xff]].concat(), "corrupt"),
    ];
    for (name, bytes, reason) in cases {
        let f = d.join(format!("{name}.trace"));
        std::fs::write(&f, bytes).unwrap();
        let o = replay(&f);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(reason),
            "{name}: {}",
            text(&o)
        );
    }
    let o = replay(&d.join("none.trace"));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&d);
}

/// Every trace kept in `tests/fixtures/traces` replays identically, each with the site's files
/// from the directory of its name beside it (`site.trace` with `site/`). A recorded incident
/// becomes a test by copying its trace (and its site's files) there.
#[test]
fn every_trace_in_the_fixtures_replays_identically() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/traces");
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "trace") {
            continue;
        }
        let site = path.with_extension("");
        let mut cmd = Command::new(example("replay"));
        cmd.arg(&path);
        if site.is_dir() {
            cmd.arg("--root").arg(&site);
        }
        let o = cmd.output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}: {}", path.display(), text(&o));
        let said = String::from_utf8_lossy(&o.stdout);
        let turns = Trace::parse(&std::fs::read(&path).unwrap())
            .unwrap()
            .turns();
        assert!(
            said.contains(&format!("replayed {turns} turns: identical")),
            "{}",
            text(&o)
        );
        replayed += 1;
    }
    assert!(replayed >= 1, "no trace in {}", dir.display());
}
