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
use levent_hosts::dns;
use levent_hosts::net::Sockets;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

const NAME: &str = "dns-lookup";
const USAGE: &str = "[--server IP:PORT] NAME [TYPE]   (TYPE: A (default), AAAA, PTR, MX, TXT, SRV)";

#[derive(Clone, Copy, Debug)]
enum Ev {
    Dns,
}

fn main() -> ExitCode {
    let mut server = None;
    let mut rest = vec![];
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--help" | "-h" => {
                println!("usage: {NAME} {USAGE}");
                return ExitCode::SUCCESS;
            }
            "--server" => match args.next().map(|s| s.parse::<SocketAddr>()) {
                Some(Ok(addr)) => server = Some(addr),
                _ => return usage(),
            },
            s if s.starts_with('-') && s.len() > 1 => return usage(),
            _ => rest.push(a),
        }
    }
    let (name, qtype) = match rest.as_slice() {
        [name] => (name.clone(), RType::A),
        [name, t] => match RType::from_name(&t.to_ascii_uppercase()) {
            Some(t) => (name.clone(), t),
            None => return levent_examples::fail(NAME, format!("unknown record type {t:?}")),
        },
        _ => return usage(),
    };
    let query = if qtype == RType::PTR
        && let Ok(ip) = name.parse::<IpAddr>()
    {
        Query::ptr(ip)
    } else {
        match Query::new(&name, qtype) {
            Ok(q) => q,
            Err(e) => return levent_examples::fail(NAME, format!("{name:?}: {e}")),
        }
    };
    let (config, hosts) = match server {
        Some(addr) => {
            let mut c = Config::new();
            let _ = c.add_server(addr);
            dns::apply_res_options(&mut c);
            (c, Hosts::new())
        }
        None => match dns::system() {
            Ok(system) => system,
            Err(e) => return levent_examples::fail(NAME, format!("system configuration: {e}")),
        },
    };
    match lookup(config, hosts, query) {
        Ok(lines) => {
            for l in lines {
                println!("{l}");
            }
            ExitCode::SUCCESS
        }
        Err(Failure::Dns(DnsError::Io(e))) => {
            levent_examples::fail(NAME, format!("cannot send a query: {e}"))
        }
        Err(Failure::Dns(e)) => {
            eprintln!("error: {}", e.kind());
            ExitCode::from(1)
        }
        Err(Failure::Other(e)) => levent_examples::fail(NAME, e),
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: {NAME} {USAGE}");
    ExitCode::from(1)
}

enum Failure {
    Dns(DnsError),
    Other(String),
}

fn lookup(
    config: Config,
    hosts: Hosts<{ dns::HOSTS }>,
    query: Query,
) -> Result<Vec<String>, Failure> {
    let other = |e: &dyn std::fmt::Display| Failure::Other(e.to_string());
    let mut io = Sockets::new();
    let mut host = levent_hosts::default_host().map_err(|e| other(&e))?;
    let mut engine: Box<Engine<Ev, 32, 16, 1>> = Box::new(Engine::new(levent_hosts::PLATFORM));
    let mut resolver =
        dns::resolver::<_, 4>(&mut *engine, config, hosts, Ev::Dns).map_err(|e| other(&e))?;
    resolver
        .lookup(&mut *engine, &mut io, query)
        .map_err(|e| other(&e))?;
    let mut result = None;
    engine
        .run(
            &mut host,
            Mode::Default,
            &mut |events, fired| match fired.datum {
                Ev::Dns => {
                    if let Some(done) = resolver.handle(events, &mut io, &fired) {
                        result = Some(
                            done.result
                                .map(|a| a.records().map(|r| show(&r.data)).collect()),
                        );
                        events.loop_break();
                    }
                }
            },
        )
        .map_err(|e| other(&e))?;
    match result {
        Some(r) => r.map_err(Failure::Dns),
        None => Err(Failure::Other("the loop ended without an answer".into())),
    }
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
