//! WebSocket against real peers on loopback: Python's `websockets` and Node's `ws` as clients of
//! `http-server`'s `/ws` echo and as servers for `ws-client`; and raw sockets that send what
//! peers get wrong, each answered with its close code. The Python and Node tests skip (saying
//! why) when the interpreter or its package is missing, and fail instead under `LEVENT_CI`.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::example;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `cmd` and read the first line it prints.
fn start(mut cmd: Command) -> (Proc, String) {
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    // Keep reading so that the child never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        while out.read_line(&mut sink).is_ok_and(|n| n > 0) {
            sink.clear();
        }
    });
    (Proc(child), line.trim().to_string())
}

/// `http-server` on a free port; its address.
fn server() -> (Proc, String) {
    let mut cmd = Command::new(example("http-server"));
    cmd.arg("127.0.0.1:0");
    let (p, first) = start(cmd);
    let addr = first
        .strip_prefix("listening on http://")
        .and_then(|a| a.strip_suffix('/'))
        .unwrap_or_else(|| panic!("first line {first:?}"))
        .to_string();
    (p, addr)
}

/// Whether a tool is here; without it the test skips, or fails under `LEVENT_CI`.
fn have(what: &str, check: &mut Command) -> bool {
    let ok = check
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("LEVENT_CI").is_none(),
            "{what} is missing (CI installs it)"
        );
        eprintln!("skipped: {what} is missing");
    }
    ok
}

fn python() -> bool {
    have(
        "python3 with the websockets package (pip install websockets)",
        Command::new("python3").args(["-c", "import websockets"]),
    )
}

/// `node`, finding the `ws` package in `LEVENT_NODE_WS/node_modules` (where CI installs it with
/// `npm install --prefix`) besides its usual places; `None` when it cannot.
fn node() -> Option<Command> {
    let node = || {
        let mut cmd = Command::new("node");
        if let Some(dir) = std::env::var_os("LEVENT_NODE_WS") {
            cmd.env("NODE_PATH", PathBuf::from(dir).join("node_modules"));
        }
        cmd
    };
    have(
        "node with the ws package (npm install --prefix DIR ws; LEVENT_NODE_WS=DIR)",
        node().args(["-e", "require('ws')"]),
    )
    .then(node)
}

fn script(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("levent-ws-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

const PY_CLIENT: &str = r#"
import asyncio, os, sys, websockets
async def main(url):
    async with websockets.connect(url, max_size=2**21) as ws:
        await ws.send("hello ✓")
        assert await ws.recv() == "hello ✓"
        big = os.urandom(1 << 20)
        await ws.send(big)
        assert await ws.recv() == big
        text = "é" * 300000
        await ws.send(text)
        assert await ws.recv() == text
        await ws.send(["frag", "mented", " ✓"])
        assert await ws.recv() == "fragmented ✓"
        await (await ws.ping(b"pp"))
        await ws.send(b"")
        assert await ws.recv() == b""
    print("ok", ws.close_code)
asyncio.run(main(sys.argv[1]))
"#;

#[test]
fn pythons_websockets_client_gets_every_message_back_from_http_server() {
    if !python() {
        return;
    }
    let (_srv, addr) = server();
    let py = script("client.py", PY_CLIENT);
    let out = Command::new("python3")
        .arg(&py)
        .arg(format!("ws://{addr}/ws"))
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&py);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.trim() == "ok 1000",
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const NODE_CLIENT: &str = r#"
const WebSocket = require('ws');
const crypto = require('crypto');
const ws = new WebSocket(process.argv[2], { maxPayload: 2 << 20 });
const big = crypto.randomBytes(1 << 20);
let step = 0;
ws.on('open', () => ws.send('hi from node ✓'));
ws.on('message', (data, isBinary) => {
  if (step === 0) {
    if (data.toString() !== 'hi from node ✓' || isBinary) process.exit(2);
    ws.send(big); step++;
  } else {
    if (!isBinary || Buffer.compare(data, big) !== 0) process.exit(3);
    ws.close(1000, 'bye');
  }
});
ws.on('close', (code) => { console.log('closed', code); process.exit(code === 1000 ? 0 : 4); });
ws.on('error', (e) => { console.log('error', e.message); process.exit(1); });
"#;

#[test]
fn nodes_ws_client_gets_every_message_back_from_http_server() {
    let Some(mut node) = node() else {
        return;
    };
    let (_srv, addr) = server();
    let js = script("client.js", NODE_CLIENT);
    let out = node
        .arg(&js)
        .arg(format!("ws://{addr}/ws"))
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&js);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `ws-client` against an echo server at `port`: every message back, a clean close.
fn ws_client_talks_to(port: &str) {
    let out = Command::new(example("ws-client"))
        .arg(format!("ws://127.0.0.1:{port}/chat"))
        .args(["hello", "grüße ✓", "--binary", "1048576"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "< hello (same)",
            "< grüße ✓ (same)",
            "< 1048576 bytes (same)",
            "closed 1000"
        ]
    );
}

const PY_SERVER: &str = r#"
import asyncio, websockets
async def echo(ws):
    async for m in ws:
        await ws.send(m)
async def main():
    async with websockets.serve(echo, "127.0.0.1", 0, max_size=2**21) as srv:
        print(srv.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()
asyncio.run(main())
"#;

#[test]
fn ws_client_talks_to_pythons_websockets_server() {
    if !python() {
        return;
    }
    let py = script("server.py", PY_SERVER);
    let mut cmd = Command::new("python3");
    cmd.arg(&py);
    let (_srv, port) = start(cmd);
    let _ = std::fs::remove_file(&py);
    ws_client_talks_to(&port);
}

const NODE_SERVER: &str = r#"
const WebSocket = require('ws');
const wss = new WebSocket.Server({ host: '127.0.0.1', port: 0, maxPayload: 2 << 20 });
wss.on('listening', () => console.log(wss.address().port));
wss.on('connection', (ws) => ws.on('message', (d, bin) => ws.send(d, { binary: bin })));
"#;

#[test]
fn ws_client_talks_to_nodes_ws_server() {
    let Some(mut node) = node() else {
        return;
    };
    let js = script("server.js", NODE_SERVER);
    node.arg(&js);
    let (_srv, port) = start(node);
    let _ = std::fs::remove_file(&js);
    ws_client_talks_to(&port);
}

// ----- raw peers that get it wrong --------------------------------------------------------

/// A raw connection upgraded to a WebSocket on `/ws`.
fn upgraded(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    let mut head = vec![];
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert!(
        head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
        "{head}"
    );
    s
}

/// A frame as a client sends it: masked unless `mask` is `None`.
fn frame(b0: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![b0];
    let m = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(m | n as u8),
        n if n <= 0xffff => {
            out.push(m | 126);
            out.extend((n as u16).to_be_bytes());
        }
        n => {
            out.push(m | 127);
            out.extend((n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(k) => {
            out.extend(k);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        }
        None => out.extend(payload),
    }
    out
}

const K: Option<[u8; 4]> = Some([0x11, 0x22, 0x33, 0x44]);

/// The header of a masked binary frame announcing `len` (above 64 KiB) bytes, without them.
fn big_header(len: u64) -> Vec<u8> {
    let mut out = vec![0x82, 0x80 | 127];
    out.extend(len.to_be_bytes());
    out.extend([1, 2, 3, 4]);
    out
}

/// Everything the server sends until it closes; the close code of its close frame, if any.
fn close_code_after(addr: &str, send: &[u8]) -> Option<u16> {
    let mut s = upgraded(addr);
    // Written from another thread: the server echoes while it reads, and stops reading while
    // its output is full.
    let mut w = s.try_clone().unwrap();
    let send = send.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(&send);
    });
    let mut got = vec![];
    let _ = s.read_to_end(&mut got);
    let _ = writer.join();
    // Skip echoed data frames until the close frame (server frames are unmasked).
    let mut at = 0;
    while at + 2 <= got.len() {
        let (op, len7) = (got[at] & 0x0f, got[at + 1] & 0x7f);
        let (len, hdr) = match len7 {
            126 => (u16::from_be_bytes([got[at + 2], got[at + 3]]) as usize, 4),
            127 => (
                u64::from_be_bytes(got[at + 2..at + 10].try_into().unwrap()) as usize,
                10,
            ),
            n => (n as usize, 2),
        };
        if op == 0x8 {
            let p = &got[at + hdr..at + hdr + len];
            return (p.len() >= 2).then(|| u16::from_be_bytes([p[0], p[1]]));
        }
        at += hdr + len;
    }
    None
}

#[test]
fn bad_frames_from_a_client_get_their_close_codes() {
    let (_srv, addr) = server();
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("an unmasked frame", frame(0x81, b"hi", None), 1002),
        ("reserved bit 1", frame(0xc1, b"hi", K), 1002),
        ("reserved bit 3", frame(0x91, b"hi", K), 1002),
        ("an unknown opcode", frame(0x83, b"", K), 1002),
        ("a fragmented ping", frame(0x09, b"", K), 1002),
        (
            "a ping longer than 125 bytes",
            frame(0x89, &[0; 126], K),
            1002,
        ),
        (
            "a continuation without a message",
            frame(0x80, b"x", K),
            1002,
        ),
        (
            "a new message inside a fragmented one",
            [frame(0x01, b"a", K), frame(0x81, b"b", K)].concat(),
            1002,
        ),
        ("text that is not UTF-8", frame(0x81, b"ok \xff", K), 1007),
        (
            "text split before a bad byte",
            [frame(0x01, b"\xce", K), frame(0x80, b"\xff", K)].concat(),
            1007,
        ),
        (
            "a close with an invalid code",
            frame(0x88, &[0x03, 0xed], K),
            1002,
        ),
        (
            "a close with a one-byte payload",
            frame(0x88, &[3], K),
            1002,
        ),
        (
            "a close reason that is not UTF-8",
            frame(0x88, &[0x03, 0xe8, 0xff], K),
            1007,
        ),
        // The header alone says 2 MiB: refused before any payload.
        ("a message over 1 MiB", big_header(2 << 20), 1009),
        (
            "fragments adding up to over 1 MiB",
            [
                frame(0x02, &vec![7; 1 << 19], K),
                frame(0x00, &vec![7; 1 << 19], K),
                frame(0x80, &[7], K),
            ]
            .concat(),
            1009,
        ),
    ];
    for (what, wire, code) in cases {
        assert_eq!(close_code_after(&addr, &wire), Some(code), "{what}");
    }
    // A clean close is echoed; the server stays up for the next client.
    assert_eq!(
        close_code_after(&addr, &frame(0x88, &[0x0f, 0xa0], K)),
        Some(4000)
    );
    assert_eq!(
        close_code_after(&addr, &frame(0x88, &[0x03, 0xe8], K)),
        Some(1000)
    );
}

#[test]
fn a_client_that_leaves_without_a_close_frame_is_closed_and_others_are_still_served() {
    let (_srv, addr) = server();
    let mut s = upgraded(&addr);
    s.write_all(&frame(0x01, b"half a mess", K)).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = vec![];
    s.read_to_end(&mut rest).unwrap();
    // The piece was echoed (a fragment); no close frame comes after a peer that just left.
    assert!(rest.starts_with(&[0x01, 11]), "{rest:02x?}");
    assert!(!rest.iter().skip(13).any(|&b| b == 0x88), "{rest:02x?}");
    let mut s = upgraded(&addr);
    s.write_all(&frame(0x81, b"still here", K)).unwrap();
    let mut echo = [0u8; 12];
    s.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"\x81\x0astill here");
}

#[test]
fn upgrade_requests_that_are_not_proper_are_refused_with_400_or_426() {
    let (_srv, addr) = server();
    let ask = |fields: &str| {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        write!(s, "GET /ws HTTP/1.1\r\nHost: x\r\n{fields}\r\n").unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    let good = "Upgrade: websocket\r\nConnection: Upgrade\r\n";
    let version = ask(&format!(
        "{good}Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n"
    ));
    assert!(version.starts_with("HTTP/1.1 426 "), "{version}");
    assert!(
        version.contains("Sec-WebSocket-Version: 13\r\n"),
        "{version}"
    );
    for (what, fields) in [
        ("no key", format!("{good}Sec-WebSocket-Version: 13\r\n")),
        (
            "a short key",
            format!("{good}Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n"),
        ),
        (
            "no Upgrade",
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                .to_string(),
        ),
    ] {
        let resp = ask(&fields);
        assert!(resp.starts_with("HTTP/1.1 400 "), "{what}: {resp}");
    }
}
