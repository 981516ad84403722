//! Process-level tests of `http-server` and `http-get`: run the binaries against each other and
//! against raw sockets, read their outputs and exit codes, and try to escape the root.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::example;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

struct Served {
    child: Child,
    addr: String,
    log: mpsc::Receiver<String>,
    root: PathBuf,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A root with a file, a subdirectory, and a symbolic link that leads out of it; and
/// `http-server` serving it on a free port.
fn serve(tag: &str) -> Served {
    let base = std::env::temp_dir().join(format!("levent-http-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let root = base.join("root");
    std::fs::create_dir_all(root.join("sub dir")).unwrap();
    std::fs::write(root.join("hello.txt"), "hello, file\n").unwrap();
    std::fs::write(root.join("page.html"), "<p>page</p>\n").unwrap();
    std::fs::write(root.join("sub dir").join("inner.json"), "{}\n").unwrap();
    std::fs::write(base.join("secret.txt"), "do not serve\n").unwrap();
    std::os::unix::fs::symlink(base.join("secret.txt"), root.join("link-out")).unwrap();
    std::os::unix::fs::symlink(root.join("hello.txt"), root.join("link-in")).unwrap();
    let mut child = Command::new(example("http-server"))
        .args(["127.0.0.1:0", "--root"])
        .arg(&root)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    let addr = first
        .strip_prefix("listening on http://")
        .and_then(|a| a.strip_suffix('/'))
        .unwrap_or_else(|| panic!("first line {first:?}"))
        .to_string();
    Served {
        child,
        addr,
        log: rx,
        root: base,
    }
}

/// Send `raw` on a new connection and read until the server closes (send `Connection: close`).
fn exchange(addr: &str, raw: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(raw).unwrap();
    let mut out = vec![];
    s.read_to_end(&mut out).unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

fn get(addr: &str, target: &str) -> String {
    exchange(
        addr,
        format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

fn status(resp: &str) -> u16 {
    resp.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[test]
fn http_server_serves_files_and_listings_and_logs_in_common_log_format() {
    let s = serve("files");
    let r = get(&s.addr, "/hello.txt");
    assert_eq!(status(&r), 200, "{r}");
    assert!(r.contains("Content-Type: text/plain"), "{r}");
    assert!(r.contains("Content-Length: 12\r\n"), "{r}");
    assert!(r.ends_with("\r\n\r\nhello, file\n"), "{r}");
    let r = get(&s.addr, "/page.html");
    assert!(r.contains("Content-Type: text/html"), "{r}");
    let r = exchange(
        &s.addr,
        b"HEAD /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(
        r.contains("Content-Length: 12\r\n") && r.ends_with("\r\n\r\n"),
        "{r}"
    );
    let r = get(&s.addr, "/");
    assert_eq!(status(&r), 200);
    for name in ["hello.txt", "page.html", "sub%20dir/", "link-in"] {
        assert!(r.contains(&format!("href=\"{name}\"")), "{name} in {r}");
    }
    let r = get(&s.addr, "/sub%20dir");
    assert_eq!(status(&r), 301);
    assert!(r.contains("Location: /sub%20dir/"), "{r}");
    let r = get(&s.addr, "/sub%20dir/inner.json");
    assert!(r.contains("application/json") && r.ends_with("{}\n"), "{r}");
    assert_eq!(
        status(&get(&s.addr, "/link-in")),
        200,
        "a link inside the root"
    );
    assert_eq!(status(&get(&s.addr, "/missing.txt")), 404);
    // The log: one Common Log Format line per request, in order.
    let lines: Vec<String> = (0..8)
        .map(|_| s.log.recv_timeout(Duration::from_secs(20)).unwrap())
        .collect();
    assert!(
        lines[0].starts_with("127.0.0.1 - - [")
            && lines[0].ends_with("] \"GET /hello.txt HTTP/1.1\" 200 12"),
        "{}",
        lines[0]
    );
    assert!(
        lines[2].ends_with("\"HEAD /hello.txt HTTP/1.1\" 200 -"),
        "{}",
        lines[2]
    );
    assert!(
        lines[7].ends_with("\"GET /missing.txt HTTP/1.1\" 404 10"),
        "{}",
        lines[7]
    );
    let date = &lines[0][lines[0].find('[').unwrap() + 1..lines[0].find(']').unwrap()];
    assert_eq!(date.len(), "27/Nov/2026:04:05:12 +0000".len(), "{date}");
}

#[test]
fn http_server_never_serves_anything_outside_its_root() {
    let s = serve("escape");
    for target in [
        "/../secret.txt",
        "/sub%20dir/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/sub%20dir%2f..%2f..%2fsecret.txt",
        "/..%5csecret.txt",
        "/link-out",
        "/hello.txt%00.html",
        "http://x/../secret.txt",
    ] {
        let r = get(&s.addr, target);
        assert_eq!(status(&r), 404, "{target}: {r}");
        assert!(!r.contains("do not serve"), "{target}");
    }
}

#[test]
fn http_server_echoes_whole_posts_and_streams_chunked_bodies() {
    let s = serve("echo");
    let body = "x".repeat(100_000);
    let r = exchange(
        &s.addr,
        format!(
            "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    assert_eq!(status(&r), 200);
    // Collected whole, then answered with its length (evhttp's way).
    assert!(r.contains("Content-Length: 100000\r\n"), "{}", &r[..200]);
    assert_eq!(r.split("\r\n\r\n").nth(1).unwrap(), body);
    // A chunked request body comes back whole too.
    let r = exchange(
        &s.addr,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    );
    assert!(r.contains("Content-Length: 11\r\n"), "{r}");
    assert!(r.ends_with("\r\n\r\nhello world"), "{r}");
    let r = get(&s.addr, "/stream");
    assert!(r.contains("Transfer-Encoding: chunked"));
    assert!(r.contains("line 1 of 100\n") && r.contains("line 100 of 100\n"));
    assert!(r.ends_with("0\r\n\r\n"), "{r}");
    let r = get(&s.addr, "/echo");
    assert_eq!(status(&r), 405);
    assert!(r.contains("Allow: POST"));
}

#[test]
fn http_server_refuses_bad_arguments_in_one_line_with_status_1() {
    for args in [
        &["--root"][..],
        &["--root", "/nonexistent/levent"],
        &["not-an-address"],
        &["127.0.0.1:1", "extra"],
    ] {
        let out = Command::new(example("http-server"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("Error: "), "{err}");
    }
}

#[test]
fn http_get_prints_the_body_on_stdout_and_the_head_on_stderr() {
    let s = serve("get");
    let url = format!("http://{}/hello.txt", s.addr);
    let out = Command::new(example("http-get"))
        .arg(&url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, b"hello, file\n");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("HTTP/1.1 200 OK\n"), "{err}");
    assert!(err.contains("Content-Length: 12\n"), "{err}");
    let out = Command::new(example("http-get"))
        .args([&format!("http://{}/echo", s.addr), "-d", "posted data"])
        .output()
        .unwrap();
    assert_eq!(
        (out.status.code(), &out.stdout[..]),
        (Some(0), &b"posted data"[..])
    );
    let out = Command::new(example("http-get"))
        .args([&format!("http://{}/echo", s.addr), "-X", "PUT", "-d", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "405 is not a success");
    let out = Command::new(example("http-get"))
        .arg(format!("http://{}/missing", s.addr))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .starts_with("HTTP/1.1 404")
    );
}

#[test]
fn http_get_reports_unresolvable_and_unreachable_hosts_in_one_line() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    for (url, want) in [
        (
            "http://nonexistent.invalid/".to_string(),
            "cannot resolve nonexistent.invalid",
        ),
        (
            format!("http://127.0.0.1:{port}/"),
            "cannot connect to 127.0.0.1",
        ),
        (
            "ftp://example.com/".to_string(),
            "only http:// and https://",
        ),
        ("http://127.0.0.1:99999/".to_string(), "bad port"),
    ] {
        let out = Command::new(example("http-get"))
            .arg(&url)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{url}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{url}: {err}");
        assert!(
            err.starts_with("Error: ") && err.contains(want),
            "{url}: {err}"
        );
    }
}
