//! dns-lookup: look a name up with levent's asynchronous resolver.
//!
//! `dns-lookup [--server IP:PORT] NAME [TYPE]` asks for records of TYPE (A by default; AAAA,
//! PTR, MX, TXT, SRV, or any other type by name) and prints one result per line: addresses for
//! A and AAAA, names for PTR (NAME may be an IP address or a reverse name), `PREFERENCE
//! EXCHANGE` for MX, the text for TXT, `PRIORITY WEIGHT PORT TARGET` for SRV, the record data
//! for anything else. It exits 0 on an answer; on failure it prints `error: KIND` on standard
//! error (KIND is nxdomain, nodata, servfail, refused, notimp, timeout, loop or malformed) and
//! exits 1.
//!
//! Without `--server` it uses the system's configuration (`/etc/resolv.conf`, `/etc/hosts`);
//! with it, that server alone and no hosts file. `RES_OPTIONS` (`"timeout:1 attempts:1"`)
//! overrides the retry options either way, as with the C library.

use levent_core::dns::{Config, DnsError, Hosts, Query, RData, RType};
use levent_core::{Engine, Mode};
use levent_examples::Context;
use levent_hosts::dns;
use levent_hosts::net::Sockets;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

const NAME: &str = "dns-lookup";
const USAGE: &str = "[--server IP:PORT] NAME [TYPE]   (TYPE: A (default), AAAA, PTR, MX, TXT, SRV)";

#[derive(Clone, Copy, Debug)]
enum Ev {
    Dns,
}

/// Exit status 0 with the results, or 1 with `error: KIND` (the lookup's failure); other
/// failures (a bad argument, no configuration) are errors.
fn main() -> io::Result<ExitCode> {
    let usage = || levent_examples::usage_error(NAME, USAGE);
    let mut server = None;
    let mut rest = vec![];
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--help" | "-h" => {
                println!("usage: {NAME} {USAGE}");
                return Ok(ExitCode::SUCCESS);
            }
            "--server" => match args.next().map(|s| s.parse::<SocketAddr>()) {
                Some(Ok(addr)) => server = Some(addr),
                _ => return Err(usage()),
            },
            s if s.starts_with('-') && s.len() > 1 => return Err(usage()),
            _ => rest.push(a),
        }
    }
    let (name, qtype) = match rest.as_slice() {
        [name] => (name.clone(), RType::A),
        [name, t] => match RType::from_name(&t.to_ascii_uppercase()) {
            Some(t) => (name.clone(), t),
            None => {
                let e = format!("unknown record type {t:?}");
                return Err(io::Error::new(io::ErrorKind::InvalidInput, e));
            }
        },
        _ => return Err(usage()),
    };
    let query = match name.parse::<IpAddr>() {
        Ok(ip) if qtype == RType::PTR => Query::ptr(ip),
        _ => Query::new(&name, qtype).context(format!("{name:?}"))?,
    };
    let (config, hosts) = match server {
        Some(addr) => {
            let mut c = Config::new();
            let _ = c.add_server(addr); // a fresh configuration has room
            dns::apply_res_options(&mut c);
            (c, Hosts::new())
        }
        None => dns::system().context("system configuration")?,
    };
    match lookup(config, hosts, query)? {
        Ok(lines) => {
            for l in lines {
                println!("{l}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(DnsError::Io(e)) => Err(e).context("cannot send a query"),
        Err(e) => {
            eprintln!("error: {}", e.kind());
            Ok(ExitCode::from(1))
        }
    }
}

/// The records found, or why the lookup failed.
fn lookup(
    config: Config,
    hosts: Hosts<{ dns::HOSTS }>,
    query: Query,
) -> io::Result<Result<Vec<String>, DnsError>> {
    let mut io = Sockets::new();
    let mut host = levent_hosts::default_host()?;
    let mut engine: Engine<Ev, 32, 16, 1> = Engine::new(levent_hosts::PLATFORM);
    let mut resolver = dns::resolver::<_, 4>(&mut engine, config, hosts, Ev::Dns)?;
    resolver.lookup(&mut engine, &mut io, query)?;
    let mut result = None;
    engine.run(
        &mut host,
        Mode::Default,
        &mut |events, fired| match fired.datum {
            Ev::Dns => {
                if let Some(done) = resolver.handle(events, &mut io, &fired) {
                    let records = done
                        .result
                        .map(|a| a.records().map(|r| show(&r.data)).collect());
                    result = Some(records);
                    events.loop_break();
                }
            }
        },
    )?;
    result.ok_or_else(|| io::Error::other("the loop ended without an answer"))
}

/// One result line: names without their final dot, text without quotes.
fn show(data: &RData<'_>) -> String {
    match data {
        RData::A(a) => a.to_string(),
        RData::Aaaa(a) => a.to_string(),
        RData::Ptr(n) | RData::Cname(n) | RData::Ns(n) => n.to_string(),
        RData::Mx(mx) => format!("{} {}", mx.preference, mx.exchange),
        RData::Srv(s) => format!("{} {} {} {}", s.priority, s.weight, s.port, s.target),
        RData::Txt(t) => t
            .strings()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect(),
        other => other.to_string(),
    }
}
