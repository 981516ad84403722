//! http-get: fetch a URL with levent's HTTP client (libevent's `http-connect.c`).
//!
//! ```text
//! http-get URL [-X METHOD] [-d DATA | -d @FILE] [-H 'NAME: VALUE']... [-L] [--cacert FILE]
//! ```
//!
//! Prints the body on standard output, and the status line and header fields on standard
//! error. Exits 0 on a 2xx status, 1 on any other status or failure, with one clear line when
//! the host cannot be resolved or reached. `-d DATA` (or `--data`) sends DATA as the body (and
//! makes the method POST unless `-X` says otherwise); `-d @FILE` streams the file's contents
//! with its length, as the connection takes them. `-H` adds a header field. `-L` follows
//! redirects (301, 302, 303, 307, 308; at most 20) with RFC 9110's method rules: 303, and 301
//! or 302 after a POST, go on as a GET without the body; 307 and 308 repeat the method and the
//! body. Credentials (`Authorization`, `Cookie`, `Proxy-Authorization`) are not sent to another
//! origin. The heads of the responses passed on go to standard error too; only the last body
//! is printed. `http://` and `https://` URLs: HTTPS goes through levent-hosts'
//! rustls transport, trusting Mozilla's roots, or only the certificate authorities of the PEM
//! file `--cacert FILE`; the server's certificate must be valid for the URL's host.
//!
//! The host name is resolved by levent's asynchronous resolver on the same engine, with the
//! system's configuration (`/etc/resolv.conf`, `/etc/hosts`): A and AAAA at once, and the
//! addresses are tried in turn by the HTTP client, IPv6 first (up to four; `dns::Connector`
//! races them instead, as Happy Eyeballs does). A host given as an IP address is used as it is.

use levent_core::dns::{DnsError, Query, RType, RequestId};
use levent_core::http::client::{
    CREDENTIAL_FIELDS, Client, ClientConfig, ClientError, ClientRequest, MAX_ADDRS, Receiver,
    Stream, redirect,
};
use levent_core::http::{Header, Response};
use levent_core::io::Connect;
use levent_core::{Engine, Fired};
use levent_examples::Context;
use levent_hosts::buffer::ChainBuffer;
use levent_hosts::dns;
use levent_hosts::net::{SocketId, Sockets};
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

const NAME: &str = "http-get";
const USAGE: &str =
    "URL [-X METHOD] [-d DATA | -d @FILE] [-H 'NAME: VALUE']... [-L] [--cacert FILE]";

/// The most redirects `-L` follows.
const MAX_REDIRECTS: usize = 20;

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

/// The request body of `-d`.
#[derive(Clone)]
enum Data {
    Text(String),
    File(PathBuf),
}

struct Args {
    url: String,
    method: Option<String>,
    data: Option<Data>,
    headers: Vec<(String, Vec<u8>)>,
    follow: bool,
    cacert: Option<PathBuf>,
}

/// The parts of an `http://` or `https://` URL.
#[derive(Clone, Debug, PartialEq)]
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
    /// Following redirects: the method of the request, to tell a redirect to follow.
    follow: Option<String>,
    /// The `Location` of a redirect to follow (its body is not printed).
    location: Option<String>,
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
        let to_follow = self
            .follow
            .as_deref()
            .is_some_and(|m| redirect(resp.status(), m).is_some());
        if to_follow {
            self.location = resp
                .header("location")
                .map(|l| String::from_utf8_lossy(l).into_owned());
        }
    }

    fn body(&mut self, data: &[u8]) {
        if self.location.is_none() && std::io::stdout().lock().write_all(data).is_err() {
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
    let mut headers = vec![];
    let mut follow = false;
    let mut cacert = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => {
                println!("usage: {NAME} {USAGE}");
                return Ok(None);
            }
            "-X" => method = Some(it.next().ok_or("-X needs a method")?),
            "-d" | "--data" => {
                let d = it.next().ok_or("-d needs data")?;
                data = Some(match d.strip_prefix('@') {
                    Some(path) => Data::File(path.into()),
                    None => Data::Text(d),
                });
            }
            "-H" => {
                let h = it.next().ok_or("-H needs 'NAME: VALUE'")?;
                let (name, value) = h
                    .split_once(':')
                    .ok_or(format!("-H {h:?}: not NAME: VALUE"))?;
                headers.push((name.trim().to_string(), value.trim().as_bytes().to_vec()));
            }
            "-L" | "--location" => follow = true,
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
        headers,
        follow,
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

/// Where a redirect's `Location` points, from `base` (RFC 3986 §5.2: an absolute URL, a
/// scheme-relative one, an absolute path, or a path relative to the base's directory).
fn resolve_location(base: &Url, location: &str) -> Result<Url, String> {
    let location = location.trim();
    if location.contains("://") {
        return parse_url(location);
    }
    if let Some(rest) = location.strip_prefix("//") {
        let scheme = if base.tls { "https" } else { "http" };
        return parse_url(&format!("{scheme}://{rest}"));
    }
    let location = location.split('#').next().unwrap_or("");
    let (path, query) = match location.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (location, None),
    };
    let base_path = base.target.split('?').next().unwrap_or("/");
    let joined = if path.starts_with('/') {
        path.to_string()
    } else if path.is_empty() {
        base_path.to_string()
    } else {
        let dir = base_path.rsplit_once('/').map_or("", |(d, _)| d);
        format!("{dir}/{path}")
    };
    // Remove `.` and `..` segments.
    let mut out: Vec<&str> = vec![];
    let segments: Vec<&str> = joined.split('/').skip(1).collect();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *seg {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let mut target = format!("/{}", out.join("/"));
    if let Some(q) = query {
        target = format!("{target}?{q}");
    }
    Ok(Url {
        target,
        ..base.clone()
    })
}

/// Whether two URLs have one origin: scheme, host and port.
fn same_origin(a: &Url, b: &Url) -> bool {
    a.tls == b.tls && a.host.eq_ignore_ascii_case(&b.host) && a.port == b.port
}

/// Fetch the URL, following redirects with `-L`; whether the final status is 2xx.
fn fetch(args: &Args) -> io::Result<bool> {
    let mut url = parse_url(&args.url).map_err(invalid)?;
    let mut method = match (&args.method, &args.data) {
        (Some(m), _) => m.clone(),
        (None, Some(_)) => "POST".to_string(),
        (None, None) => "GET".to_string(),
    };
    let mut data = args.data.clone();
    let mut headers = args.headers.clone();
    for hop in 0.. {
        let print = fetch_one(args, &url, &method, data.as_ref(), &headers)?;
        let at = format!("{}:{}", url.host, url.port);
        match print.result {
            Some(Ok(())) if print.write_failed => {
                return Err(io::Error::other("cannot write the body to standard output"));
            }
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(describe(e, &at)),
            None => return Err(io::Error::other("the event loop ended before the response")),
        }
        let status = print.status.unwrap_or(0);
        let Some(location) = print.location else {
            return Ok((200..300).contains(&status));
        };
        if hop == MAX_REDIRECTS {
            return Err(io::Error::other(format!(
                "{at}: more than {MAX_REDIRECTS} redirects"
            )));
        }
        let next = resolve_location(&url, &location).map_err(invalid)?;
        if !same_origin(&url, &next) {
            headers.retain(|(n, _)| !CREDENTIAL_FIELDS.iter().any(|c| n.eq_ignore_ascii_case(c)));
        }
        if let Some(rule) = redirect(status, &method) {
            if !rule.keep_body {
                data = None;
            }
            method = rule.method.to_string();
        }
        url = next;
    }
    unreachable!("the loop returns")
}

/// One request to `url`; what came back.
fn fetch_one(
    args: &Args,
    url: &Url,
    method: &str,
    data: Option<&Data>,
    extra: &[(String, Vec<u8>)],
) -> io::Result<Print> {
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
        Err(_) => resolve(&mut engine, &mut host, &mut io, url)?,
    };
    let mut client: Client<Ev, SocketId, ChainBuffer> =
        Client::new(ClientConfig::DEFAULT, &host_field, &addrs, Ev::Http);
    let mut headers = vec![
        Header {
            name: "User-Agent",
            value: b"levent-http-get",
        },
        Header {
            name: "Accept",
            value: b"*/*",
        },
    ];
    for (name, value) in extra {
        headers.retain(|h| !h.name.eq_ignore_ascii_case(name));
        headers.push(Header { name, value });
    }
    // A file is streamed with its length; text goes whole.
    let (body, file) = match data {
        None => (&b""[..], None),
        Some(Data::Text(t)) => (t.as_bytes(), None),
        Some(Data::File(path)) => {
            let f = std::fs::File::open(path).context(format!("{}", path.display()))?;
            let len = f.metadata().context(format!("{}", path.display()))?.len();
            (&b""[..], Some((f, len)))
        }
    };
    let req = ClientRequest {
        method,
        target: &url.target,
        headers: &headers,
        body,
        stream: file.as_ref().map(|(_, len)| Stream::length(*len)),
    };
    let at = format!("{}:{}", url.host, url.port);
    // Plain sockets, or TLS over them to the URL's host (levent_examples::Net).
    let tls = levent_examples::TlsFlags {
        client: url.tls,
        cacert: args.cacert.clone().filter(|_| url.tls),
        ..levent_examples::TlsFlags::default()
    };
    let mut io = levent_examples::Net::client(io, &tls, &url.host)?;
    let mut print = Print {
        follow: args.follow.then(|| method.to_string()),
        ..Print::default()
    };
    let source = file.map(|(f, _)| f);
    exchange(
        &mut engine,
        &mut host,
        &mut io,
        &mut client,
        &req,
        source,
        &mut print,
        &at,
    )?;
    let _ = std::io::stdout().flush();
    Ok(print)
}

/// Send `req` through `io` (its streamed body read from `source` as the client takes it) and
/// print the response as it comes.
#[allow(clippy::too_many_arguments, reason = "one exchange's parts")]
fn exchange<IO: Connect<Handle = SocketId>>(
    engine: &mut Loop,
    host: &mut levent_hosts::DefaultHost,
    io: &mut IO,
    client: &mut Client<Ev, SocketId, ChainBuffer>,
    req: &ClientRequest<'_>,
    mut source: Option<std::fs::File>,
    print: &mut Print,
    at: &str,
) -> io::Result<()> {
    client.send(engine, io, req).map_err(|e| describe(e, at))?;
    let mut chunk = vec![0u8; 64 * 1024];
    let (mut filled, mut offset) = (0, 0);
    while print.result.is_none() {
        // Stream what the client takes now, reading the file as it goes.
        while let Some(file) = source.as_mut().filter(|_| client.is_uploading()) {
            if offset == filled {
                filled = file.read(&mut chunk).context("reading the body")?;
                offset = 0;
                if filled == 0 {
                    // The file ended: what its length promised is owed still if it shrank.
                    client
                        .finish_body(engine, io)
                        .map_err(|e| describe(e, at))?;
                    source = None;
                    break;
                }
            }
            match client.write_body(engine, io, &chunk[offset..filled]) {
                Ok(0) => break,
                Ok(n) => offset += n,
                Err(e) => return Err(describe(e, at)),
            }
        }
        let Some(fired) = engine.next(host)? else {
            break;
        };
        client.handle(engine, io, &fired, print);
    }
    Ok(())
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
