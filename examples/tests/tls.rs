//! TLS against real peers on loopback, with certificates made by the test (rcgen): curl,
//! `openssl s_client` and Python's `ssl` as clients of `http-server --tls-*`; `openssl s_server
//! -www` and Python's `ssl` server for `http-get https://`; the echo `server` and `client` over
//! TLS, and 200 TLS clients at once; then every way a peer can get it wrong, each with its error
//! while the server keeps serving. Tests that need curl, openssl or python3 skip (saying why)
//! when they are missing, and fail instead under `LEVENT_CI`.
#![cfg(all(unix, not(target_vendor = "apple"), feature = "tls"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::example;

use levent_hosts::tls::rustls;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A directory with a CA, certificates it signed and their keys.
struct Pki {
    dir: PathBuf,
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Pki {
    /// `ca.pem`; `good` for localhost and 127.0.0.1; `other` for another name; `expired`; and
    /// `stranger-ca.pem`, a CA that signed nothing here.
    fn new(tag: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!("levent-tls-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ca = |name: &str| {
            let mut p = CertificateParams::new(vec![]).unwrap();
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.distinguished_name.push(DnType::CommonName, name);
            let key = KeyPair::generate().unwrap();
            let cert = p.self_signed(&key).unwrap();
            (cert, key)
        };
        let (ca_cert, ca_key) = ca("levent test CA");
        std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
        std::fs::write(dir.join("stranger-ca.pem"), ca("stranger CA").0.pem()).unwrap();
        for (name, sans, expired) in [
            ("good", vec!["localhost", "127.0.0.1"], false),
            ("other", vec!["other.example"], false),
            ("expired", vec!["localhost", "127.0.0.1"], true),
        ] {
            let mut p =
                CertificateParams::new(sans.into_iter().map(String::from).collect::<Vec<_>>())
                    .unwrap();
            p.distinguished_name.push(DnType::CommonName, name);
            if expired {
                p.not_before = rcgen::date_time_ymd(2020, 1, 1);
                p.not_after = rcgen::date_time_ymd(2021, 1, 1);
            }
            let key = KeyPair::generate().unwrap();
            let cert = p.signed_by(&key, &ca_cert, &ca_key).unwrap();
            std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
            std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
        }
        Pki { dir }
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }
}

/// Whether `tool` runs; without it the test skips, or fails under `LEVENT_CI`.
fn have(tool: &str, args: &[&str]) -> bool {
    let ok = Command::new(tool)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !ok {
        assert!(
            std::env::var_os("LEVENT_CI").is_none(),
            "{tool} is missing (CI installs it)"
        );
        eprintln!("skipped: {tool} is missing");
    }
    ok
}

/// Start `cmd` and read its first line of output.
fn start(mut cmd: Command) -> (Proc, String) {
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    std::thread::spawn(move || {
        let mut sink = String::new();
        while out.read_line(&mut sink).is_ok_and(|n| n > 0) {
            sink.clear();
        }
    });
    (Proc(child), line.trim().to_string())
}

/// `http-server --tls-*` with the `cert` certificate, serving `root`; its `https://ADDR/`.
fn https_server(pki: &Pki, cert: &str, root: &Path) -> (Proc, String) {
    let mut cmd = Command::new(example("http-server"));
    cmd.arg("127.0.0.1:0")
        .arg("--root")
        .arg(root)
        .arg("--tls-cert")
        .arg(pki.path(&format!("{cert}.pem")))
        .arg("--tls-key")
        .arg(pki.path(&format!("{cert}.key")));
    let (p, first) = start(cmd);
    let url = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line {first:?}"))
        .to_string();
    assert!(url.starts_with("https://"), "{url}");
    (p, url)
}

fn addr_of(url: &str) -> String {
    url.trim_start_matches("https://")
        .trim_end_matches('/')
        .to_string()
}

fn port_of(url: &str) -> String {
    addr_of(url).rsplit(':').next().unwrap().to_string()
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn root_with_a_file(pki: &Pki) -> PathBuf {
    let root = pki.path("root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("hello.txt"), "hello over TLS\n").unwrap();
    root
}

#[test]
fn curl_gets_posts_and_reuses_one_tls_session_for_a_hundred_requests() {
    if !have("curl", &["--version"]) {
        return;
    }
    let pki = Pki::new("curl");
    let root = root_with_a_file(&pki);
    let (_srv, url) = https_server(&pki, "good", &root);
    let ca = pki.path("ca.pem");
    let out = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&ca)
        .arg(format!("{url}hello.txt"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello over TLS\n",
        "{}",
        text(&out)
    );
    // 1 MiB up and back.
    let body: Vec<u8> = (0..1 << 20)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(pki.path("body"), &body).unwrap();
    let out = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&ca)
        .arg("--data-binary")
        .arg(format!("@{}", pki.path("body").display()))
        .arg(format!("{url}echo"))
        .output()
        .unwrap();
    assert!(
        out.stdout == body,
        "{} bytes back; {}",
        out.stdout.len(),
        String::from_utf8_lossy(&out.stderr)
    );
    // A hundred requests on one connection: curl connects once (num_connects 1, then 0s).
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-w", "%{num_connects} %{http_code}\\n", "--cacert"])
        .arg(&ca);
    for _ in 0..100 {
        // `-o` names the output of the one URL after it.
        cmd.args(["-o", "/dev/null"]).arg(format!("{url}hello.txt"));
    }
    let out = cmd.output().unwrap();
    let lines = String::from_utf8_lossy(&out.stdout);
    let connects: u32 = lines
        .lines()
        .map(|l| l.split(' ').next().unwrap().parse::<u32>().unwrap())
        .sum();
    assert_eq!(lines.lines().count(), 100, "{}", text(&out));
    assert!(lines.lines().all(|l| l.ends_with(" 200")), "{lines}");
    assert_eq!(connects, 1, "{lines}");
}

#[test]
fn openssl_s_client_and_pythons_ssl_are_served_over_tls() {
    if !have("openssl", &["version"]) || !have("python3", &["--version"]) {
        return;
    }
    let pki = Pki::new("clients");
    let root = root_with_a_file(&pki);
    let (_srv, url) = https_server(&pki, "good", &root);
    let mut s = Command::new("openssl")
        .args([
            "s_client",
            "-quiet",
            "-verify_return_error",
            "-connect",
            &addr_of(&url),
            "-CAfile",
        ])
        .arg(pki.path("ca.pem"))
        .args(["-servername", "localhost", "-alpn", "http/1.1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    s.stdin
        .take()
        .unwrap()
        .write_all(b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let out = s.wait_with_output().unwrap();
    let resp = String::from_utf8_lossy(&out.stdout);
    assert!(
        resp.starts_with("HTTP/1.1 200") && resp.ends_with("hello over TLS\n"),
        "{resp}"
    );

    let py = format!(
        r#"
import socket, ssl
ctx = ssl.create_default_context(cafile={ca:?})
ctx.set_alpn_protocols(["http/1.1"])
with ctx.wrap_socket(socket.create_connection(("127.0.0.1", {port})), server_hostname="localhost") as s:
    assert s.selected_alpn_protocol() == "http/1.1", s.selected_alpn_protocol()
    s.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
print(data.decode().splitlines()[0], data.decode().splitlines()[-1])
"#,
        ca = pki.path("ca.pem").display().to_string(),
        port = port_of(&url)
    );
    let out = Command::new("python3").args(["-c", &py]).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "HTTP/1.1 200 OK hello over TLS",
        "{}",
        text(&out)
    );
}

/// A free port on 127.0.0.1, for servers that cannot be told to take port 0 and say which.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Wait until something listens on `port`.
fn wait_listening(port: u16) {
    let until = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn http_get(args: &[&str]) -> Output {
    Command::new(example("http-get"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn http_get_fetches_from_openssl_s_server_and_pythons_ssl_server() {
    if !have("openssl", &["version"]) || !have("python3", &["--version"]) {
        return;
    }
    let pki = Pki::new("servers");
    let ca = pki.path("ca.pem").display().to_string();
    let port = free_port();
    let _s = Proc(
        Command::new("openssl")
            .args([
                "s_server",
                "-quiet",
                "-www",
                "-accept",
                &format!("127.0.0.1:{port}"),
                "-cert",
            ])
            .arg(pki.path("good.pem"))
            .arg("-key")
            .arg(pki.path("good.key"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_listening(port);
    let out = http_get(&["--cacert", &ca, &format!("https://localhost:{port}/")]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("s_server"),
        "{}",
        text(&out)
    );

    let root = root_with_a_file(&pki);
    let py = format!(
        r#"
import http.server, ssl, functools
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain({cert:?}, {key:?})
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory={root:?})
srv = http.server.HTTPServer(("127.0.0.1", 0), handler)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"#,
        cert = pki.path("good.pem").display().to_string(),
        key = pki.path("good.key").display().to_string(),
        root = root.display().to_string()
    );
    let mut cmd = Command::new("python3");
    cmd.args(["-c", &py]).stderr(Stdio::null());
    let (_py, port) = start(cmd);
    let out = http_get(&[
        "--cacert",
        &ca,
        &format!("https://127.0.0.1:{port}/hello.txt"),
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello over TLS\n",
        "{}",
        text(&out)
    );
}

#[test]
fn echo_server_and_client_talk_over_tls_and_two_hundred_clients_get_every_byte_back() {
    let pki = Pki::new("echo");
    let mut cmd = Command::new(example("server"));
    cmd.arg("127.0.0.1:0")
        .arg("--tls-cert")
        .arg(pki.path("good.pem"))
        .arg("--tls-key")
        .arg(pki.path("good.key"));
    let (_srv, first) = start(cmd);
    let addr = first.strip_prefix("listening on ").unwrap().to_string();
    let mut client = Command::new(example("client"))
        .args([&addr, "--tls", "--cacert"])
        .arg(pki.path("ca.pem"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    client
        .stdin
        .take()
        .unwrap()
        .write_all(b"hello\nover tls\n")
        .unwrap();
    let out = client.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "connected\nreceived: hello\nreceived: over tls\n",
        "{}",
        text(&out)
    );

    // 200 at once, each with 64 KiB of its own bytes.
    let mut roots = rustls::RootCertStore::empty();
    let ca_pem = std::fs::read(pki.path("ca.pem")).unwrap();
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(&ca_pem) {
        roots.add(c.unwrap()).unwrap();
    }
    let cfg = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    );
    let threads: Vec<_> = (0..200u32)
        .map(|n| {
            let (cfg, addr) = (cfg.clone(), addr.clone());
            std::thread::spawn(move || {
                let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
                let conn = rustls::ClientConnection::new(cfg, name).unwrap();
                let sock = TcpStream::connect(&addr).unwrap();
                sock.set_read_timeout(Some(Duration::from_secs(60)))
                    .unwrap();
                let mut tls = rustls::StreamOwned::new(conn, sock);
                let data: Vec<u8> = (0..65536u32).map(|i| (i * 7 + n * 13) as u8).collect();
                let mut back = vec![0u8; data.len()];
                for (chunk, dst) in data.chunks(4096).zip(back.chunks_mut(4096)) {
                    tls.write_all(chunk).unwrap();
                    tls.read_exact(dst).unwrap();
                }
                assert!(back == data, "client {n}: bytes differ");
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// What `http-get --cacert CA URL` says, and that it failed.
fn refused(ca: &Path, url: &str) -> String {
    let out = http_get(&["--cacert", &ca.display().to_string(), url]);
    assert!(!out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn each_certificate_failure_says_what_failed_and_the_server_keeps_serving() {
    let pki = Pki::new("fail");
    let root = root_with_a_file(&pki);
    let (_good, url) = https_server(&pki, "good", &root);
    let port = port_of(&url);
    let ok = || {
        let out = http_get(&[
            "--cacert",
            &pki.path("ca.pem").display().to_string(),
            &format!("{url}hello.txt"),
        ]);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "hello over TLS\n",
            "{}",
            text(&out)
        );
    };
    ok();
    let e = refused(&pki.path("stranger-ca.pem"), &format!("{url}hello.txt"));
    assert!(e.contains("unknown authority"), "{e}");
    ok();
    let (_other, other_url) = https_server(&pki, "other", &root);
    let e = refused(
        &pki.path("ca.pem"),
        &format!("https://localhost:{}/", port_of(&other_url)),
    );
    assert!(e.contains("not valid for the server name"), "{e}");
    let (_expired, expired_url) = https_server(&pki, "expired", &root);
    let e = refused(
        &pki.path("ca.pem"),
        &format!("https://localhost:{}/", port_of(&expired_url)),
    );
    assert!(e.contains("expired"), "{e}");
    // A plain-HTTP client on the TLS port: no HTTP answer, the connection ends.
    let mut plain = TcpStream::connect(addr_of(&url)).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut got = vec![];
    let _ = plain.read_to_end(&mut got);
    assert!(
        !got.starts_with(b"HTTP/"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    ok();
    // Garbage records: an alert or nothing, then the end; never a crash.
    let mut junk = TcpStream::connect(addr_of(&url)).unwrap();
    junk.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    junk.write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5])
        .unwrap();
    let _ = junk.read_to_end(&mut got);
    let mut junk = TcpStream::connect(addr_of(&url)).unwrap();
    junk.write_all(&[0x17, 0x03, 0x03, 0xff, 0xff, 0, 0])
        .unwrap();
    ok();
    let _ = port;
}

#[test]
fn a_stalled_handshake_is_closed_and_a_truncated_stream_is_an_error() {
    let pki = Pki::new("stall");
    let root = root_with_a_file(&pki);
    let (_srv, url) = https_server(&pki, "good", &root);
    // Half a client hello, then silence: the server closes it (the head timeout bounds the
    // handshake) while serving others.
    let mut stalled = TcpStream::connect(addr_of(&url)).unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .unwrap();
    let started = Instant::now();
    let out = http_get(&[
        "--cacert",
        &pki.path("ca.pem").display().to_string(),
        &format!("{url}hello.txt"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let mut rest = vec![];
    let _ = stalled.read_to_end(&mut rest);
    assert!(
        started.elapsed() < Duration::from_secs(55),
        "closed after {:?}",
        started.elapsed()
    );

    // A server that sends a response with a length and cuts the stream without close_notify:
    // the client reports the truncation.
    let port = free_port();
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let (cert, key) = (pki.path("good.pem"), pki.path("good.key"));
    let server = std::thread::spawn(move || {
        let cfg = levent_hosts::tls::server_config(&cert, &key).unwrap();
        let (sock, _) = listener.accept().unwrap();
        let conn = rustls::ServerConnection::new(cfg).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, sock);
        let mut buf = [0u8; 4096];
        let _ = tls.read(&mut buf).unwrap();
        tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
            .unwrap();
        tls.flush().unwrap();
        // Dropped without close_notify.
        let _ = tls.sock.shutdown(std::net::Shutdown::Both);
    });
    let out = http_get(&[
        "--cacert",
        &pki.path("ca.pem").display().to_string(),
        &format!("https://localhost:{port}/"),
    ]);
    server.join().unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("close_notify"),
        "{}",
        text(&out)
    );
}
