//! http-get: fetch a URL with levent's HTTP client (libevent's `http-connect.c`).
//!
//! ```text
//! http-get URL [-X METHOD] [-d DATA]
//! ```
//!
//! Prints the body on standard output, and the status line and header fields on standard
//! error. Exits 0 on a 2xx status, 1 on any other status or failure, with one clear line when
//! the host cannot be resolved or reached. `-d DATA` sends DATA as the body (and makes the method
//! POST unless `-X` says otherwise). Only `http://` URLs.
//!
//! The host name is resolved with `std::net::ToSocketAddrs`, which blocks before the loop starts;
//! levent's own asynchronous resolver will take its place. Every address it returns is tried in
//! order (up to four).

use levent_core::Engine;
use levent_core::http::client::{
    Client, ClientConfig, ClientError, ClientRequest, MAX_ADDRS, Receiver,
};
use levent_core::http::{Header, Response};
use levent_hosts::buffer::ChainBuffer;
use levent_hosts::net::{SocketId, Sockets};
use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;

const NAME: &str = "http-get";
const USAGE: &str = "URL [-X METHOD] [-d DATA]";

struct Args {
    url: String,
    method: Option<String>,
    data: Option<String>,
}

/// The parts of an `http://` URL.
struct Url {
    host: String,
    port: u16,
    target: String,
}

#[derive(Default)]
struct Print {
    status: Option<u16>,
    result: Option<Result<(), ClientError>>,
    write_failed: bool,
}

impl Receiver for Print {
    fn response(&mut self, resp: &Response<'_, '_>) {
        self.status = Some(resp.status());
        let v = resp.version();
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "HTTP/{}.{} {} ", v.major, v.minor, resp.status());
        let _ = err.write_all(resp.reason());
        let _ = writeln!(err);
        for h in resp.headers() {
            let _ = write!(err, "{}: ", h.name);
            let _ = err.write_all(h.value);
            let _ = writeln!(err);
        }
    }

    fn body(&mut self, data: &[u8]) {
        if std::io::stdout().lock().write_all(data).is_err() {
            self.write_failed = true;
        }
    }

    fn done(&mut self, result: Result<(), ClientError>) {
        self.result = Some(result);
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(a)) => a,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => return levent_examples::fail(NAME, e),
    };
    match fetch(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => levent_examples::fail(NAME, e),
    }
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut url = None;
    let mut method = None;
    let mut data = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => {
                println!("usage: {NAME} {USAGE}");
                return Ok(None);
            }
            "-X" => method = Some(it.next().ok_or("-X needs a method")?),
            "-d" => data = Some(it.next().ok_or("-d needs data")?),
            _ if a.starts_with('-') => {
                return Err(format!("unknown option {a:?}; usage: {NAME} {USAGE}"));
            }
            _ if url.is_none() => url = Some(a),
            _ => return Err(format!("unexpected argument {a:?}; usage: {NAME} {USAGE}")),
        }
    }
    let url = url.ok_or(format!("no URL; usage: {NAME} {USAGE}"))?;
    Ok(Some(Args { url, method, data }))
}

fn parse_url(url: &str) -> Result<Url, String> {
    let rest = match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
        Some((scheme, _)) => {
            return Err(format!(
                "{url}: only http:// URLs are supported, not {scheme}://"
            ));
        }
        None => return Err(format!("{url}: not an http:// URL")),
    };
    let (authority, target) = match rest.find(['/', '?', '#']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let target = target.split('#').next().unwrap_or("/");
    let target = if target.starts_with('?') {
        format!("/{target}")
    } else {
        target.to_string()
    };
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or(format!("{url}: bad IPv6 address"))?;
        (h.to_string(), after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err(format!("{url}: no host"));
    }
    let port = match port {
        None | Some("") => 80,
        Some(p) => p.parse().map_err(|_| format!("{url}: bad port {p:?}"))?,
    };
    Ok(Url { host, port, target })
}

fn fetch(args: &Args) -> Result<bool, String> {
    let url = parse_url(&args.url)?;
    let addrs: Vec<SocketAddr> = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", url.host))?
        .take(MAX_ADDRS)
        .collect();
    if addrs.is_empty() {
        return Err(format!("cannot resolve {}: no address", url.host));
    }
    let host_field = match (url.host.contains(':'), url.port) {
        (true, 80) => format!("[{}]", url.host),
        (true, p) => format!("[{}]:{p}", url.host),
        (false, 80) => url.host.clone(),
        (false, p) => format!("{}:{p}", url.host),
    };
    let mut io = Sockets::new();
    let mut host = levent_hosts::default_host().map_err(|e| e.to_string())?;
    let mut engine: Engine<(), 8, 8, 1> = Engine::new(levent_hosts::PLATFORM);
    let mut client: Client<(), SocketAddr, SocketId, ChainBuffer> =
        Client::new(ClientConfig::DEFAULT, &host_field, &addrs, ());
    let body = args.data.as_deref().unwrap_or("").as_bytes();
    let method = match (&args.method, &args.data) {
        (Some(m), _) => m.as_str(),
        (None, Some(_)) => "POST",
        (None, None) => "GET",
    };
    let headers = [
        Header {
            name: "User-Agent",
            value: b"levent-http-get",
        },
        Header {
            name: "Accept",
            value: b"*/*",
        },
    ];
    let req = ClientRequest {
        method,
        target: &url.target,
        headers: &headers,
        body,
    };
    let mut print = Print::default();
    client
        .send(&mut engine, &mut io, &req)
        .map_err(|e| describe(&e, &url))?;
    while print.result.is_none() {
        let Some(fired) = engine.next(&mut host).map_err(|e| e.to_string())? else {
            break;
        };
        client.handle(&mut engine, &mut io, &fired, &mut print);
    }
    let _ = std::io::stdout().flush();
    match print.result {
        Some(Ok(())) if !print.write_failed => {
            Ok(print.status.is_some_and(|s| (200..300).contains(&s)))
        }
        Some(Ok(())) => Err("cannot write the body to standard output".into()),
        Some(Err(e)) => Err(describe(&e, &url)),
        None => Err("the event loop ended before the response".into()),
    }
}

fn describe(e: &ClientError, url: &Url) -> String {
    match e {
        ClientError::Connect(io) => format!("cannot connect to {}:{}: {io}", url.host, url.port),
        ClientError::Timeout => format!("{}:{}: timed out", url.host, url.port),
        other => format!("{}:{}: {other}", url.host, url.port),
    }
}
