//! DNS on hosts: the system's resolver configuration (`/etc/resolv.conf`, `/etc/hosts`),
//! entropy for transaction ids, and the core's [`Resolver`] and [`Server`] sized for a host and
//! running over [`Sockets`](crate::net::Sockets).
//!
//! ```no_run
//! use levent_core::dns::Query;
//! use levent_hosts::net::Sockets;
//!
//! #[derive(Clone, Copy, Debug)]
//! enum Ev { Dns }
//! let mut engine: levent_hosts::Engine<Ev, 512, 64> = levent_hosts::engine();
//! let mut host = levent_hosts::default_host()?;
//! let mut io = Sockets::new();
//! let (config, hosts) = levent_hosts::dns::system()?;
//! let mut resolver = levent_hosts::dns::resolver::<_, 64>(&mut engine, config, hosts, Ev::Dns)?;
//! resolver.lookup(&mut engine, &mut io, Query::a("example.com")?)?;
//! while let Some(fired) = engine.next(&mut host)? {
//!     if let Some(done) = resolver.handle(&mut engine, &mut io, &fired) {
//!         for addr in done.result.iter().flat_map(|a| a.addrs()) {
//!             println!("{addr}");
//!         }
//!         break;
//!     }
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! The parsers are tolerant, as the C library's are: a line they cannot use is skipped and
//! reported in the returned list with its line number and the reason, never an error for the
//! whole file. Where the system has no `resolv.conf` (or lists no name server) the resolver asks
//! `127.0.0.1:53`, as glibc does. On Windows there is no system configuration yet: give the
//! servers with [`Config::add_server`].

use crate::buffer::ChainBuffer;
use crate::net::SocketId;
use levent_core::dns::{Config, Hosts, NameBuf, Resolver, Server};
use levent_core::{Events, Rejected};
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// How many entries of `/etc/hosts` a host resolver keeps (a name and one of its addresses
/// each).
pub const HOSTS: usize = 64;

/// The core's resolver sized for a host: `Q` lookups at once (128 by default), a hosts table of
/// [`HOSTS`] entries, 64 KiB messages (any TCP answer), growable TCP buffers and a cache of `C`
/// bytes ([`CACHE`] by default; 0 for none). It is about 190 KiB with the defaults: keep it in a
/// `Box` ([`resolver`] makes one).
pub type HostResolver<const Q: usize = 128, const C: usize = CACHE> =
    Resolver<SocketId, ChainBuffer, Q, HOSTS, 65535, C>;

/// The bytes of answer cache a [`HostResolver`] has by default: 16 KiB, a hundred or more
/// answers.
pub const CACHE: usize = 16 * 1024;

/// The core's DNS server sized for a host: `C` TCP connections (64 by default), 64 KiB
/// messages, growable buffers; its events carry `T::from(route)`.
pub type HostServer<T, const C: usize = 64> = Server<T, SocketId, ChainBuffer, C, 65535>;

/// A line of a configuration file that was not used, and why.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Skipped {
    /// The line number, from 1.
    pub line: usize,
    /// Why it was skipped.
    pub reason: &'static str,
}

/// 16 bytes of entropy from the operating system, to seed a resolver's transaction ids.
///
/// It comes from std's `RandomState`, whose keys the standard library draws from the OS
/// (`getrandom`, `BCryptGenRandom`, …), mixed with the time and the process id.
pub fn seed() -> [u8; 16] {
    let mut out = [0u8; 16];
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(i);
        h.write_u32(std::process::id());
        if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            h.write_u128(t.as_nanos());
        }
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    out
}

/// A boxed [`HostResolver`] seeded from the OS ([`seed`]); its events carry `datum`.
///
/// # Errors
///
/// The engine has no room for its `Q + 1` events.
pub fn resolver<T: Copy, const Q: usize>(
    events: &mut dyn Events<T>,
    config: Config,
    hosts: Hosts<HOSTS>,
    datum: T,
) -> Result<Box<HostResolver<Q>>, Rejected<T>> {
    Ok(Box::new(Resolver::new(
        events,
        config,
        hosts,
        seed(),
        datum,
    )?))
}

/// The system's configuration: `/etc/resolv.conf` and `/etc/hosts` on Unix, read as
/// [`parse_resolv_conf`] and [`parse_hosts`] do (skipped lines are dropped silently; parse the
/// files yourself to see them), then the `RES_OPTIONS` environment variable
/// ([`apply_res_options`]). Missing files mean the defaults and an empty table; no name server
/// means `127.0.0.1:53`.
///
/// # Errors
///
/// A file exists but cannot be read; on Windows, always (`Unsupported`: configure the servers).
pub fn system() -> io::Result<(Config, Hosts<HOSTS>)> {
    #[cfg(unix)]
    {
        let mut config = Config::new();
        match std::fs::read_to_string("/etc/resolv.conf") {
            Ok(text) => {
                parse_resolv_conf(&text, &mut config);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        if config.servers().is_empty() {
            let _ = config.add_server(SocketAddr::from(([127, 0, 0, 1], 53)));
        }
        apply_res_options(&mut config);
        let mut hosts = Hosts::new();
        match std::fs::read_to_string("/etc/hosts") {
            Ok(text) => {
                parse_hosts(&text, &mut hosts);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok((config, hosts))
    }
    #[cfg(not(unix))]
    {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "no system DNS configuration on this platform: add servers with Config::add_server",
        ))
    }
}

/// Read a `resolv.conf` into `config`: `nameserver` (an IP address, optionally with a port as
/// `IP:port` or `[IPv6]:port`), `search` and `domain` (the last one wins, as in glibc), and
/// `options` `ndots:n` (at most 15), `timeout:n` (seconds, at most 30), `attempts:n` (at most
/// 5) and `rotate`. Comments start with `#` or `;`. Returns the lines (or words) not used.
///
/// ```
/// use levent_core::dns::Config;
/// let mut c = Config::new();
/// let skipped = levent_hosts::dns::parse_resolv_conf(
///     "nameserver 192.0.2.53\nsearch lan.example\noptions ndots:2 rotate\nbogus\n",
///     &mut c,
/// );
/// assert_eq!(c.servers().len(), 1);
/// assert_eq!((c.ndots, c.rotate), (2, true));
/// assert_eq!(skipped.len(), 1);
/// ```
pub fn parse_resolv_conf(text: &str, config: &mut Config) -> Vec<Skipped> {
    let mut skipped = Vec::new();
    let mut skip = |line, reason| skipped.push(Skipped { line, reason });
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let content = raw.split(['#', ';']).next().unwrap_or("");
        let mut words = content.split_whitespace();
        let Some(keyword) = words.next() else {
            continue;
        };
        match keyword {
            "nameserver" => {
                let Some(word) = words.next() else {
                    skip(line, "nameserver without an address");
                    continue;
                };
                let Some(addr) = server_addr(word) else {
                    skip(line, "nameserver address not understood");
                    continue;
                };
                if config.add_server(addr).is_err() {
                    skip(line, "too many name servers");
                }
            }
            "domain" | "search" => {
                // The last `domain` or `search` line replaces what came before.
                config.clear_search();
                for word in words {
                    if word == "." {
                        continue;
                    }
                    match NameBuf::from_dotted(word) {
                        Ok(name) => {
                            if config.add_search(name).is_err() {
                                skip(line, "too many search domains");
                                break;
                            }
                        }
                        Err(_) => skip(line, "search domain is not a valid name"),
                    }
                    if keyword == "domain" {
                        break;
                    }
                }
            }
            "options" => {
                for reason in apply_options(words, config) {
                    skip(line, reason);
                }
            }
            "sortlist" | "lookup" | "family" => skip(line, "keyword not supported"),
            _ => skip(line, "unknown keyword"),
        }
    }
    skipped
}

/// Apply `resolv.conf` option words (`ndots:n`, `timeout:n`, `attempts:n`, `rotate`); the
/// reasons for the words not used.
fn apply_options<'a>(
    words: impl Iterator<Item = &'a str>,
    config: &mut Config,
) -> Vec<&'static str> {
    let mut skipped = vec![];
    for word in words {
        let (name, value) = match word.split_once(':') {
            Some((n, v)) => (n, Some(v)),
            None => (word, None),
        };
        let number = value.and_then(|v| v.parse::<u32>().ok());
        match (name, number) {
            ("ndots", Some(n)) => config.ndots = n.min(15) as u8,
            ("timeout", Some(n)) => {
                config.timeout = Duration::from_secs(u64::from(n.clamp(1, 30)));
            }
            ("attempts", Some(n)) => config.attempts = n.clamp(1, 5) as u8,
            ("rotate", None) => config.rotate = true,
            ("ndots" | "timeout" | "attempts", None) => {
                skipped.push("option value is not a number");
            }
            _ => skipped.push("option not supported"),
        }
    }
    skipped
}

/// Apply the `RES_OPTIONS` environment variable, as glibc does after reading `resolv.conf`:
/// the same words as an `options` line (`RES_OPTIONS="timeout:1 attempts:1"`). Returns the
/// reasons for the words not used.
pub fn apply_res_options(config: &mut Config) -> Vec<&'static str> {
    match std::env::var("RES_OPTIONS") {
        Ok(text) => apply_options(text.split_whitespace(), config),
        Err(_) => vec![],
    }
}

fn server_addr(word: &str) -> Option<SocketAddr> {
    if let Ok(ip) = word.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 53));
    }
    if let Ok(addr) = word.parse::<SocketAddr>() {
        return Some(addr);
    }
    // A link-local IPv6 address with a numeric zone (`fe80::1%2`).
    let (ip, zone) = word.split_once('%')?;
    let ip: std::net::Ipv6Addr = ip.parse().ok()?;
    let zone: u32 = zone.parse().ok()?;
    Some(SocketAddr::V6(std::net::SocketAddrV6::new(ip, 53, 0, zone)))
}

/// Read a hosts file (`/etc/hosts`) into `hosts`: each line is an address and its names, the
/// first (canonical) name first; `#` starts a comment. Returns the lines (or names) not used:
/// a bad address, a name that is not a valid name, a full table.
///
/// ```
/// use levent_core::dns::{Hosts, NameBuf, RType};
/// let mut h: Hosts<8> = Hosts::new();
/// let skipped = levent_hosts::dns::parse_hosts("127.0.0.1 localhost\n::1 localhost ip6-localhost\nnot-an-ip x\n", &mut h);
/// assert_eq!((h.len(), skipped.len()), (3, 1));
/// let name = NameBuf::from_dotted("localhost").unwrap();
/// assert_eq!(h.addrs(name.as_name(), RType::AAAA).count(), 1);
/// ```
pub fn parse_hosts<const N: usize>(text: &str, hosts: &mut Hosts<N>) -> Vec<Skipped> {
    let mut skipped = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let content = raw.split('#').next().unwrap_or("");
        let mut words = content.split_whitespace();
        let Some(addr) = words.next() else {
            continue;
        };
        // A zone (`fe80::1%eth0`) does not matter for a name's address.
        let addr = addr.split('%').next().unwrap_or(addr);
        let Ok(addr) = addr.parse::<IpAddr>() else {
            skipped.push(Skipped {
                line,
                reason: "address not understood",
            });
            continue;
        };
        let mut any = false;
        for word in words {
            any = true;
            match NameBuf::from_dotted(word) {
                Ok(name) => {
                    if hosts.insert(name, addr).is_err() {
                        skipped.push(Skipped {
                            line,
                            reason: "hosts table full",
                        });
                        return skipped;
                    }
                }
                Err(_) => skipped.push(Skipped {
                    line,
                    reason: "name is not a valid name",
                }),
            }
        }
        if !any {
            skipped.push(Skipped {
                line,
                reason: "address without a name",
            });
        }
    }
    skipped
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use levent_core::dns::RType;

    const RESOLV: &str = "\
# Generated by NetworkManager
search corp.example lab.example
nameserver 10.0.0.53
nameserver 2001:db8::53
nameserver fe80::1%2
; a comment in the other style
options ndots:3 timeout:2 attempts:9 rotate edns0 trust-ad
options timeout:zero
nameserver
nameserver not-an-address
sortlist 130.155.160.0/255.255.240.0
nameserver 192.0.2.9   # the fourth: as many as the resolver keeps
";

    #[test]
    fn resolv_conf_sample_reads_servers_search_and_options() {
        let mut c = Config::new();
        let skipped = parse_resolv_conf(RESOLV, &mut c);
        let servers: Vec<String> = c.servers().iter().map(|s| s.to_string()).collect();
        assert_eq!(
            servers,
            [
                "10.0.0.53:53",
                "[2001:db8::53]:53",
                "[fe80::1%2]:53",
                "192.0.2.9:53"
            ]
        );
        let search: Vec<String> = c.search().iter().map(|s| s.to_string()).collect();
        assert_eq!(search, ["corp.example", "lab.example"]);
        assert_eq!(c.ndots, 3);
        assert_eq!(c.timeout, Duration::from_secs(2));
        assert_eq!(c.attempts, 5, "capped as glibc does");
        assert!(c.rotate);
        let lines: Vec<(usize, &str)> = skipped.iter().map(|s| (s.line, s.reason)).collect();
        assert_eq!(
            lines,
            [
                (7, "option not supported"),
                (7, "option not supported"),
                (8, "option value is not a number"),
                (9, "nameserver without an address"),
                (10, "nameserver address not understood"),
                (11, "keyword not supported"),
            ]
        );
        // A server listed twice is kept once; a fifth does not fit.
        assert_eq!(parse_resolv_conf("nameserver 192.0.2.9", &mut c).len(), 0);
        assert_eq!(
            parse_resolv_conf("nameserver 192.0.2.10", &mut c)[0].reason,
            "too many name servers"
        );
    }

    #[test]
    fn resolv_conf_last_domain_or_search_line_wins() {
        let mut c = Config::new();
        parse_resolv_conf(
            "search a.example b.example\ndomain c.example d.example\n",
            &mut c,
        );
        let search: Vec<String> = c.search().iter().map(|s| s.to_string()).collect();
        assert_eq!(search, ["c.example"]);
    }

    #[test]
    fn resolv_conf_with_ports_and_garbage_never_fails() {
        let mut c = Config::new();
        let skipped = parse_resolv_conf(
            "nameserver 127.0.0.1:5353\nnameserver [::1]:5300\n\u{0}\u{ff}garbage\nsearch ..bad good.example\n",
            &mut c,
        );
        assert_eq!(c.servers()[0], "127.0.0.1:5353".parse().unwrap());
        assert_eq!(c.servers()[1], "[::1]:5300".parse().unwrap());
        assert_eq!(c.search().len(), 1);
        assert_eq!(skipped.len(), 2);
    }

    const HOSTS_FILE: &str = "\
127.0.0.1\tlocalhost
::1     localhost ip6-localhost ip6-loopback
fe00::0 ip6-localnet
192.0.2.10  printer.lan printer   # the office printer
192.0.2.11
300.1.1.1  bogus.example
fe80::1%eth0 router.lan
192.0.2.12 ok.example bad..name
";

    #[test]
    fn hosts_sample_reads_names_aliases_and_skips_bad_lines() {
        let mut h: Hosts<16> = Hosts::new();
        let skipped = parse_hosts(HOSTS_FILE, &mut h);
        let name = |s: &str| NameBuf::from_dotted(s).unwrap();
        assert_eq!(h.addrs(name("localhost").as_name(), RType::A).count(), 1);
        assert_eq!(h.addrs(name("LOCALHOST").as_name(), RType::AAAA).count(), 1);
        assert_eq!(
            h.addrs(name("printer").as_name(), RType::A).next(),
            Some("192.0.2.10".parse().unwrap())
        );
        assert_eq!(
            h.name_of("192.0.2.10".parse().unwrap())
                .unwrap()
                .to_string(),
            "printer.lan",
            "the canonical name first"
        );
        assert_eq!(
            h.addrs(name("router.lan").as_name(), RType::AAAA).count(),
            1
        );
        let lines: Vec<(usize, &str)> = skipped.iter().map(|s| (s.line, s.reason)).collect();
        assert_eq!(
            lines,
            [
                (5, "address without a name"),
                (6, "address not understood"),
                (8, "name is not a valid name"),
            ]
        );
    }

    #[test]
    fn hosts_table_full_is_reported_not_fatal() {
        let mut h: Hosts<2> = Hosts::new();
        let skipped = parse_hosts("192.0.2.1 a b c\n192.0.2.2 d\n", &mut h);
        assert_eq!(h.len(), 2);
        assert_eq!(skipped[0].reason, "hosts table full");
    }

    #[test]
    fn seeds_differ() {
        assert_ne!(seed(), seed());
    }
}
