//! ws-client: talk to a WebSocket echo server with levent's WebSocket client.
//!
//! ```text
//! ws-client ws://HOST:PORT/PATH [MESSAGE]... [--binary N]
//! ```
//!
//! Opens the WebSocket, sends each MESSAGE as a text message and, with `--binary N`, one binary
//! message of N bytes; prints every message that comes back (`< text` for text, `< N bytes`
//! for binary, with `(same)` when it equals what was sent), then closes with 1000 and prints
//! `closed CODE`. Exits 0 when every message came back equal and the close was clean, 1
//! otherwise. HOST is an IP address or a name resolved by the system (`localhost`).

use levent_core::Engine;
use levent_core::ws::{self, WsConn, WsEvent};
use levent_examples::Context;
use levent_hosts::buffer::ChainBuffer;
use levent_hosts::net::{SocketId, Sockets};
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;

const NAME: &str = "ws-client";
const USAGE: &str = "ws://HOST:PORT/PATH [MESSAGE]... [--binary N]";

/// A message sent, to compare its echo with.
enum Sent {
    Text(String),
    Binary(Vec<u8>),
}

/// What the client does with the session's events.
struct Talk {
    to_send: Vec<Sent>,
    waiting: std::collections::VecDeque<Sent>,
    piece: Vec<u8>,
    all_equal: bool,
    closed: Option<u16>,
}

impl Talk {
    fn event(&mut self, ev: WsEvent<'_>, ws: &mut WsConn<'_>) {
        match ev {
            WsEvent::Open => {
                for m in self.to_send.drain(..) {
                    let sent = match &m {
                        Sent::Text(t) => ws.send(true, t.as_bytes()),
                        Sent::Binary(b) => ws.send(false, b),
                    };
                    if let Err(e) = sent {
                        eprintln!("{NAME}: cannot send: {e}");
                        self.all_equal = false;
                    }
                    self.waiting.push_back(m);
                }
                if self.waiting.is_empty() {
                    let _ = ws.close(ws::close::NORMAL, "done");
                }
            }
            WsEvent::Data {
                text, last, data, ..
            } => {
                self.piece.extend_from_slice(data);
                if !last {
                    return;
                }
                let got = std::mem::take(&mut self.piece);
                let same = match (self.waiting.pop_front(), text) {
                    (Some(Sent::Text(t)), true) => t.as_bytes() == got,
                    (Some(Sent::Binary(b)), false) => b == got,
                    _ => false,
                };
                self.all_equal &= same;
                let mark = if same { " (same)" } else { "" };
                if text {
                    println!("< {}{mark}", String::from_utf8_lossy(&got));
                } else {
                    println!("< {} bytes{mark}", got.len());
                }
                if self.waiting.is_empty() {
                    let _ = ws.close(ws::close::NORMAL, "done");
                }
            }
            WsEvent::Closed { code } => self.closed = Some(code),
            _ => {}
        }
    }
}

fn main() -> io::Result<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage: {NAME} {USAGE}");
        return Ok(ExitCode::SUCCESS);
    }
    let mut url = None;
    let mut to_send = vec![];
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        if a == "--binary" {
            let n: usize = it
                .next()
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| levent_examples::usage_error(NAME, USAGE))?;
            to_send.push(Sent::Binary((0..n).map(|i| (i % 251) as u8).collect()));
        } else if a.starts_with("--") {
            return Err(levent_examples::usage_error(NAME, USAGE));
        } else if url.is_none() {
            url = Some(a);
        } else {
            to_send.push(Sent::Text(a));
        }
    }
    let url = url.ok_or_else(|| levent_examples::usage_error(NAME, USAGE))?;
    let (authority, path) =
        parse_url(&url).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let addr: SocketAddr = authority
        .to_socket_addrs()
        .context(format!("cannot resolve {authority}"))?
        .next()
        .ok_or_else(|| io::Error::other(format!("{authority}: no address")))?;

    let mut io = Sockets::new();
    let mut host = levent_hosts::default_host()?;
    let mut engine: Engine<(), 8, 4, 1> = Engine::new(levent_hosts::PLATFORM);
    // The masking keys come from the standard library's per-process random seed.
    let seed = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let mut client = ws::Client::<(), SocketId, ChainBuffer>::connect(
        &mut engine,
        &mut io,
        addr,
        &authority,
        &path,
        ws::WsConfig::DEFAULT,
        seed,
        (),
    )
    .map_err(|e| io::Error::other(format!("{url}: {e}")))?;
    let mut talk = Talk {
        to_send,
        waiting: Default::default(),
        piece: vec![],
        all_equal: true,
        closed: None,
    };
    while let Some(fired) = engine.next(&mut host)? {
        client.handle(
            &mut engine,
            &mut io,
            &fired,
            &mut |ev: WsEvent<'_>, ws: &mut WsConn<'_>| talk.event(ev, ws),
        );
        if client.is_done() {
            break;
        }
    }
    if let Some(e) = client.error() {
        eprintln!("{NAME}: {url}: {e}");
        return Ok(ExitCode::FAILURE);
    }
    let code = talk.closed.unwrap_or(ws::close::ABNORMAL);
    println!("closed {code}");
    let ok = code == ws::close::NORMAL && talk.all_equal && talk.waiting.is_empty();
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `ws://authority/path` → (authority with a port, path).
fn parse_url(url: &str) -> Result<(String, String), String> {
    let rest = match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("ws") => rest,
        _ => return Err(format!("{url}: not a ws:// URL")),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(format!("{url}: no host"));
    }
    let authority = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        && !authority.ends_with(']')
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, path.to_string()))
}
