//! The site of the `http-server` example (libevent's `http-server.c`), shared with the `replay`
//! example, which runs the same code on a recorded trace.
//!
//! - `GET` and `HEAD` of files under the root, with a Content-Type by extension, streamed with
//!   `Content-Length` and backpressure; a listing for directories (`/dir` redirects to `/dir/`);
//!   404 for anything missing or outside the root: `..` segments, percent-encoded slashes, dots
//!   or NULs, and symbolic links that lead out of it are refused alike.
//! - `POST /echo` answers with the request body, collected whole first (evhttp's way, up to
//!   64 MiB).
//! - `GET /stream` answers with a chunked body of 100 lines, written as the client reads.
//! - `GET /ws` upgrades to a WebSocket that echoes every text and binary message (up to 1 MiB),
//!   piece by piece as it arrives.
//! - Every request is logged on standard output in the Common Log Format.
//!
//! File IO uses blocking `std::fs` reads inside the event loop: fine for a local disk and an
//! example, not for a server that must never stall. A replay reads the files again, so it
//! replays identically while they are unchanged.

use levent_core::http::route::{Methods, Router, Rule, path_of};
use levent_core::http::server::{
    BodyMode, ConnId, Exchange, LogEntry, ServerConfig, Service, events_needed,
};
use levent_core::http::{Header, Limits, Request};
use levent_core::io::Accept;
use levent_core::ws::{WsConn, WsEvent};
use levent_core::{Event, Host, Platform, Route};
use levent_hosts::HttpServer;
use levent_hosts::net::SocketId;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Connections at once.
pub const CONNS: usize = 10_000;
/// The largest body `POST /echo` takes.
const ECHO_LIMIT: usize = 64 << 20;

#[derive(Clone, Copy, Debug)]
enum Ev {
    Http(Route),
    Stop,
}

impl From<Route> for Ev {
    fn from(r: Route) -> Self {
        Ev::Http(r)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Page {
    Echo,
    Stream,
    WebSocket,
    Files,
}

const ROUTES: &[Rule<'static, Page>] = &[
    Rule::exact("/echo", Page::Echo).methods(Methods::POST),
    Rule::exact("/stream", Page::Stream),
    Rule::exact("/ws", Page::WebSocket).methods(Methods::GET),
];

/// A response in progress.
enum Pending {
    File { file: File, left: u64 },
    Lines { next: u32 },
}

struct App {
    root: PathBuf,
    pending: HashMap<ConnId, Pending>,
}

/// What a site serves and how: its root directory, and the signals that stop it.
#[derive(Clone, Debug)]
pub struct Site {
    /// The directory `GET` serves files from (canonical).
    pub root: PathBuf,
    /// The signal numbers that start a graceful shutdown.
    pub stop: Vec<i32>,
}

/// Serve the site on `listening` through `io` (plain sockets, TLS over them, or a recording or
/// replay of either) on `host`, with an engine made for `platform`, until a stop signal ends
/// the last request in flight.
pub fn serve<IO: Accept<Handle = SocketId>>(
    host: &mut dyn Host,
    io: &mut IO,
    listening: SocketId,
    site: &Site,
    platform: Platform,
) -> io::Result<()> {
    // Three events per connection, two for the listener, one per stop signal.
    let mut engine: levent_hosts::Engine<Ev, { events_needed(CONNS) + 4 }, { CONNS + 1 }> =
        levent_core::Engine::new(platform);
    for &signo in &site.stop {
        engine.start(Event::signal(signo), Ev::Stop, None)?;
    }
    let config = ServerConfig {
        limits: Limits {
            max_body_size: ECHO_LIMIT as u64,
            ..Limits::DEFAULT
        },
        server_name: Some("levent-http-server"),
        ..ServerConfig::DEFAULT
    };
    let mut server = HttpServer::<Ev, CONNS>::new(config);
    server.bind(&mut engine, io, listening)?;
    let mut app = App {
        root: site.root.clone(),
        pending: HashMap::new(),
    };
    while let Some(fired) = engine.next(host)? {
        match fired.datum {
            Ev::Http(route) => server.handle(&mut engine, io, &fired, route, &mut app),
            Ev::Stop => server.shutdown(&mut engine, io),
        }
        if server.is_finished() {
            break;
        }
    }
    Ok(())
}

impl Service for App {
    fn request(&mut self, req: &Request<'_, '_>, ex: &mut Exchange<'_>) {
        let page = match Router::new(ROUTES).fallback(Page::Files).find(req) {
            Ok(p) => p,
            Err(miss) => {
                miss.respond(ex);
                return;
            }
        };
        match page {
            // The whole body arrived with the request (see `body_mode`).
            Page::Echo => {
                let h = [Header {
                    name: "Content-Type",
                    value: b"application/octet-stream",
                }];
                match ex.body() {
                    Some(body) => ex.respond_with(200, &h, body),
                    None => ex.respond(200, &h, b""),
                }
            }
            Page::Stream => {
                let h = [Header {
                    name: "Content-Type",
                    value: b"text/plain; charset=utf-8",
                }];
                if ex.start(200, &h, None).is_ok() {
                    self.pending.insert(ex.id(), Pending::Lines { next: 1 });
                    self.writable(ex);
                }
            }
            // Answered 400 or 426 by the server when the request is not a proper upgrade.
            Page::WebSocket => {
                let _ = ex.accept_websocket(req);
            }
            Page::Files => {
                if !matches!(req.method(), "GET" | "HEAD") {
                    let allow = [Header {
                        name: "Allow",
                        value: b"GET, HEAD",
                    }];
                    ex.respond(405, &allow, b"Method Not Allowed\n");
                    return;
                }
                self.file(path_of(req.target()), ex);
            }
        }
    }

    fn body_mode(&mut self, req: &Request<'_, '_>) -> BodyMode {
        match Router::new(ROUTES).find(req) {
            Ok(Page::Echo) => BodyMode::Whole { limit: ECHO_LIMIT },
            _ => BodyMode::Stream,
        }
    }

    fn writable(&mut self, ex: &mut Exchange<'_>) {
        let id = ex.id();
        let done = match self.pending.get_mut(&id) {
            Some(Pending::Lines { next }) => loop {
                if *next > 100 {
                    break true;
                }
                let line = format!("line {next} of 100\n");
                match ex.send(line.as_bytes()) {
                    Ok(n) if n == line.len() => *next += 1,
                    // The output is full: the rest after the next `writable`.
                    _ => break false,
                }
            },
            Some(Pending::File { file, left }) => {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    if *left == 0 {
                        break true;
                    }
                    let want = (*left).min(buf.len() as u64).min(ex.room() as u64) as usize;
                    if want == 0 {
                        break false;
                    }
                    let n = match file.read(&mut buf[..want]) {
                        Ok(0) | Err(_) => {
                            // The file shrank or failed: end the response short (it closes).
                            break true;
                        }
                        Ok(n) => n,
                    };
                    let taken = ex.send(&buf[..n]).unwrap_or(0);
                    *left -= taken as u64;
                    if taken < n {
                        let _ = file.seek(SeekFrom::Current(taken as i64 - n as i64));
                        break false;
                    }
                }
            }
            _ => false,
        };
        if done {
            self.pending.remove(&id);
            let _ = ex.finish();
        }
    }

    fn log(&mut self, e: &LogEntry<'_>) {
        let host = e.peer.map_or("-".to_string(), |p| p.ip().to_string());
        let line = if e.request_line.is_empty() {
            "-"
        } else {
            e.request_line
        };
        let bytes = if e.body_bytes == 0 {
            "-".to_string()
        } else {
            e.body_bytes.to_string()
        };
        println!(
            "{host} - - [{}] \"{line}\" {} {bytes}",
            clf_date(std::time::SystemTime::now()),
            e.status
        );
    }

    fn aborted(&mut self, id: ConnId) {
        self.pending.remove(&id);
    }

    /// `/ws`: every piece of every message goes straight back, so a 1 MiB message needs no
    /// 1 MiB buffer (the server stops reading while the output is above its high mark).
    fn websocket(&mut self, ev: WsEvent<'_>, ws: &mut WsConn<'_>) {
        if let WsEvent::Data {
            text,
            first,
            last,
            data,
        } = ev
        {
            let _ = ws.send_piece(text, first, last, data);
        }
    }
}

impl App {
    fn file(&mut self, path: &str, ex: &mut Exchange<'_>) {
        let Some(full) = resolve(&self.root, path) else {
            ex.respond(404, &[], b"Not Found\n");
            return;
        };
        if full.is_dir() {
            if !path.ends_with('/') {
                let location = format!("{path}/");
                let h = [Header {
                    name: "Location",
                    value: location.as_bytes(),
                }];
                ex.respond(301, &h, b"");
                return;
            }
            let page = listing(&full, path);
            let h = [Header {
                name: "Content-Type",
                value: b"text/html; charset=utf-8",
            }];
            ex.respond(200, &h, page.as_bytes());
            return;
        }
        let opened = File::open(&full).and_then(|f| Ok((f.metadata()?.len(), f)));
        let Ok((len, file)) = opened else {
            ex.respond(404, &[], b"Not Found\n");
            return;
        };
        let h = [Header {
            name: "Content-Type",
            value: content_type(&full).as_bytes(),
        }];
        if ex.start(200, &h, Some(len)).is_err() {
            return;
        }
        self.pending
            .insert(ex.id(), Pending::File { file, left: len });
        self.writable(ex);
    }
}

/// The file under `root` that URL path `path` names, if it exists and is inside `root` once
/// symbolic links are followed. Percent-encoded slashes, backslashes and NULs, and `..`
/// segments (encoded or not) are refused.
fn resolve(root: &Path, path: &str) -> Option<PathBuf> {
    let mut rel = PathBuf::new();
    // Split on the slashes of the raw path, so an encoded slash stays inside a segment.
    for raw in path.split('/') {
        let seg = String::from_utf8(percent_decode(raw)?).ok()?;
        match seg.as_str() {
            "" | "." => {}
            ".." => return None,
            s if s.contains(['/', '\\', '\0']) => return None,
            s => rel.push(s),
        }
    }
    let full = root.join(rel).canonicalize().ok()?;
    full.starts_with(root).then_some(full)
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn listing(dir: &Path, path: &str) -> String {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| {
                    let mut n = e.file_name().to_string_lossy().into_owned();
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        n.push('/');
                    }
                    n
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let title = html_escape(path);
    let mut page = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of {title}</title></head>\n<body><h1>Index of {title}</h1>\n<ul>\n"
    );
    if path != "/" {
        page.push_str("<li><a href=\"../\">../</a></li>\n");
    }
    for n in names {
        let (base, slash) = match n.strip_suffix('/') {
            Some(b) => (b, "/"),
            None => (n.as_str(), ""),
        };
        page.push_str(&format!(
            "<li><a href=\"{}{slash}\">{}</a></li>\n",
            percent_encode(base),
            html_escape(&n)
        ));
    }
    page.push_str("</ul></body></html>\n");
    page
}

fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "txt" | "rs" | "c" | "h" | "toml" | "sh" => "text/plain; charset=utf-8",
        "md" => "text/markdown; charset=utf-8",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        "pdf" => "application/pdf",
        "gz" => "application/gzip",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}

/// `[10/Oct/2000:13:55:36 +0000]`'s date part, in UTC.
fn clf_date(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{day:02}/{}/{year}:{:02}:{:02}:{:02} +0000",
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}
