//! http-get: fetch a URL with levent's HTTP client (libevent's `http-connect.c`).
//!
//! ```text
//! http-get URL [-X METHOD] [-d DATA] [--cacert FILE]
//! ```
//!
//! Prints the body on standard output, and the status line and header fields on standard
//! error. Exits 0 on a 2xx status, 1 on any other status or failure, with one clear line when
//! the host cannot be resolved or reached. `-d DATA` sends DATA as the body (and makes the method
//! POST unless `-X` says otherwise). `http://` and `https://` URLs: HTTPS goes through levent-hosts'
//! rustls transport, trusting Mozilla's roots, or only the certificate authorities of the PEM
//! file `--cacert FILE`; the server's certificate must be valid for the URL's host.
//!
//! The host name is resolved by levent's asynchronous resolver on the same engine, with the
//! system's configuration (`/etc/resolv.conf`, `/etc/hosts`): A and AAAA at once, and the
//! addresses are tried in turn by the HTTP client, IPv6 first (up to four; `dns::Connector`
//! races them instead, as Happy Eyeballs does). A host given as an IP address is used as it is.

use levent_core::dns::{DnsError, Query, RType, RequestId};
use levent_core::http::client::{
    Client, ClientConfig, ClientError, ClientRequest, MAX_ADDRS, Receiver,
};
use levent_core::http::{Header, Response};
use levent_core::io::Connect;
use levent_core::{Engine, Fired};
use levent_examples::Context;
use levent_hosts::buffer::ChainBuffer;
use levent_hosts::dns;
use levent_hosts::net::{SocketId, Sockets};
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

const NAME: &str = "http-get";
const USAGE: &str = "URL [-X METHOD] [-d DATA] [--cacert FILE]";

/// What the engine's events are for.
#[derive(Clone, Copy, Debug)]
enum Ev {
    Dns,
    Http,
}

/// The engine: the resolver's events (one per lookup and a timer) and the client's.
type Loop = Engine<Ev, 16, 8, 1>;

/// One address lookup (A or AAAA) and, once it finished, its answer.
type Lookup = (RequestId, Option<Result<Vec<IpAddr>, DnsError>>);

struct Args {
    url: String,
    method: Option<String>,
    data: Option<String>,
    cacert: Option<std::path::PathBuf>,
}

/// The parts of an `http://` or `https://` URL.
struct Url {
    tls: bool,
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

/// Exit status 0 on a 2xx status, 1 on any other; failures are errors (status 1 too).
fn main() -> io::Result<ExitCode> {
    let Some(args) = parse_args().map_err(invalid)? else {
        return Ok(ExitCode::SUCCESS); // --help
    };
    let success = fetch(&args)?;
    Ok(if success {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A bad command line or URL.
fn invalid(e: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e)
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut url = None;
    let mut method = None;
    let mut data = None;
    let mut cacert = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => {
                println!("usage: {NAME} {USAGE}");
                return Ok(None);
            }
            "-X" => method = Some(it.next().ok_or("-X needs a method")?),
            "-d" => data = Some(it.next().ok_or("-d needs data")?),
            "--cacert" => cacert = Some(it.next().ok_or("--cacert needs a file")?.into()),
            _ if a.starts_with('-') => {
                return Err(format!("unknown option {a:?}; usage: {NAME} {USAGE}"));
            }
            _ if url.is_none() => url = Some(a),
            _ => return Err(format!("unexpected argument {a:?}; usage: {NAME} {USAGE}")),
        }
    }
    let url = url.ok_or(format!("no URL; usage: {NAME} {USAGE}"))?;
    Ok(Some(Args {
        url,
        method,
        data,
        cacert,
    }))
}

fn parse_url(url: &str) -> Result<Url, String> {
    let (tls, rest) = match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => (false, rest),
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => (true, rest),
        Some((scheme, _)) => {
            return Err(format!(
                "{url}: only http:// and https:// URLs are supported, not {scheme}://"
            ));
        }
        None => return Err(format!("{url}: not an http:// or https:// URL")),
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
        None | Some("") if tls => 443,
        None | Some("") => 80,
        Some(p) => p.parse().map_err(|_| format!("{url}: bad port {p:?}"))?,
    };
    Ok(Url {
        tls,
        host,
        port,
        target,
    })
}

fn fetch(args: &Args) -> io::Result<bool> {
    let url = parse_url(&args.url).map_err(invalid)?;
    let default_port = if url.tls { 443 } else { 80 };
    let host_field = match (url.host.contains(':'), url.port) {
        (true, p) if p == default_port => format!("[{}]", url.host),
        (true, p) => format!("[{}]:{p}", url.host),
        (false, p) if p == default_port => url.host.clone(),
        (false, p) => format!("{}:{p}", url.host),
    };
    let mut io = Sockets::new();
    let mut host = levent_hosts::default_host()?;
    let mut engine: Loop = Engine::new(levent_hosts::PLATFORM);
    let addrs = match url.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, url.port)],
        Err(_) => resolve(&mut engine, &mut host, &mut io, &url)?,
    };
    let mut client: Client<Ev, SocketId, ChainBuffer> =
        Client::new(ClientConfig::DEFAULT, &host_field, &addrs, Ev::Http);
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
        stream: None,
    };
    let at = format!("{}:{}", url.host, url.port);
    // Plain sockets, or TLS over them to the URL's host (levent_examples::Net).
    let tls = levent_examples::TlsFlags {
        client: url.tls,
        cacert: args.cacert.clone().filter(|_| url.tls),
        ..levent_examples::TlsFlags::default()
    };
    let mut io = levent_examples::Net::client(io, &tls, &url.host)?;
    let print = exchange(&mut engine, &mut host, &mut io, &mut client, &req, &at)?;
    let _ = std::io::stdout().flush();
    match print.result {
        Some(Ok(())) if !print.write_failed => {
            Ok(print.status.is_some_and(|s| (200..300).contains(&s)))
        }
        Some(Ok(())) => Err(io::Error::other("cannot write the body to standard output")),
        Some(Err(e)) => Err(describe(e, &at)),
        None => Err(io::Error::other("the event loop ended before the response")),
    }
}

/// Send `req` through `io` and print the response as it comes.
fn exchange<IO: Connect<Handle = SocketId>>(
    engine: &mut Loop,
    host: &mut levent_hosts::DefaultHost,
    io: &mut IO,
    client: &mut Client<Ev, SocketId, ChainBuffer>,
    req: &ClientRequest<'_>,
    at: &str,
) -> io::Result<Print> {
    let mut print = Print::default();
    client.send(engine, io, req).map_err(|e| describe(e, at))?;
    while print.result.is_none() {
        let Some(fired) = engine.next(host)? else {
            break;
        };
        client.handle(engine, io, &fired, &mut print);
    }
    Ok(print)
}

/// [`exchange`] over TLS, checking the server's certificate against `url.host`.
/// Look `url.host` up (A and AAAA at once) on the engine; the addresses, IPv6 first.
fn resolve(
    engine: &mut Loop,
    host: &mut levent_hosts::DefaultHost,
    io: &mut Sockets,
    url: &Url,
) -> io::Result<Vec<SocketAddr>> {
    let (config, hosts) = dns::system().context("system DNS configuration")?;
    let mut resolver = dns::resolver::<_, 2>(engine, config, hosts, Ev::Dns)?;
    let mut lookups: Vec<Lookup> = vec![];
    let cannot = format!("cannot resolve {}", url.host);
    for qtype in [RType::AAAA, RType::A] {
        let query = Query::new(&url.host, qtype).context(format!("{:?}", url.host))?;
        let id = resolver.lookup(engine, io, query).context(&cannot)?;
        lookups.push((id, None));
    }
    while lookups.iter().any(|(_, r)| r.is_none()) {
        let Some(fired): Option<Fired<Ev>> = engine.next(host)? else {
            break;
        };
        if let Some(done) = resolver.handle(engine, io, &fired)
            && let Some(slot) = lookups.iter_mut().find(|(id, _)| *id == done.id)
        {
            slot.1 = Some(done.result.map(|a| a.addrs().collect()));
        }
    }
    let mut addrs = vec![];
    let mut error = None;
    for (_, result) in lookups {
        match result {
            Some(Ok(ips)) => addrs.extend(ips.into_iter().map(|ip| SocketAddr::new(ip, url.port))),
            Some(Err(e)) => error = Some(e),
            None => {}
        }
    }
    addrs.truncate(MAX_ADDRS);
    let not_found = |why: &str| io::Error::new(io::ErrorKind::NotFound, format!("{cannot}: {why}"));
    match (addrs.is_empty(), error) {
        (false, _) => Ok(addrs),
        (true, Some(e)) => Err(not_found(e.kind())),
        (true, None) => Err(not_found("no address")),
    }
}

/// A client failure, saying where it happened (`HOST:PORT`).
fn describe(e: ClientError, at: &str) -> io::Error {
    match e {
        ClientError::Connect(c) => {
            levent_examples::with_context(c, format!("cannot connect to {at}"))
        }
        other => levent_examples::with_context(other, at),
    }
}
