//! levent's resolver against a real DNS server: dnsmasq (Debian `dnsmasq-base`) on a loopback
//! port, serving a small zone from `tests/fixtures/dnsmasq-hosts` and its command line. The test
//! says it was skipped when dnsmasq is not installed; `.ci/run` installs it and sets `LEVENT_CI`,
//! so CI never skips.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use levent_core::Engine;
use levent_core::dns::{Config, DnsError, Hosts, Query, RType};
use levent_hosts::dns::HostResolver;
use levent_hosts::net::Sockets;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn dnsmasq() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join("dnsmasq"))
        .find(|p| p.is_file())
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback UDP port that was free a moment ago.
fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(exe: &Path, dir: &Path, port: u16) -> Killed {
    // dnsmasq drops its privileges before reading the hosts file: make it readable to all.
    let hosts = dir.join("hosts");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/dnsmasq-hosts"),
        &hosts,
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&hosts, std::fs::Permissions::from_mode(0o644)).unwrap();
    let child = Command::new(exe)
        .args([
            "--keep-in-foreground",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            "--local=/test.levent/",
            "--host-record=www.test.levent,192.0.2.1,2001:db8::1",
            "--cname=alias.test.levent,www.test.levent",
            "--mx-host=test.levent,mail.test.levent,10",
            "--txt-record=test.levent,hello world",
            "--srv-host=_http._tcp.test.levent,www.test.levent,80,0,5",
        ])
        .arg(format!("--port={port}"))
        .arg(format!("--pid-file={}", dir.join("pid").display()))
        .arg(format!("--addn-hosts={}", hosts.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dnsmasq runs");
    Killed(child)
}

#[derive(Clone, Copy, Debug)]
enum Ev {
    Dns,
}

/// Look `query` up at `server` with levent's resolver; the records' data as text, sorted, and
/// the canonical name.
fn ask(server: SocketAddr, query: Query) -> Result<(Vec<String>, String), DnsError> {
    let mut io = Sockets::new();
    let mut host = levent_hosts::default_host().unwrap();
    let mut e: Box<Engine<Ev, 64, 16, 1>> = Box::new(Engine::new(levent_hosts::PLATFORM));
    let mut config = Config::new();
    config.add_server(server).unwrap();
    config.timeout = Duration::from_millis(500);
    let mut r: Box<HostResolver<4>> =
        levent_hosts::dns::resolver(&mut *e, config, Hosts::new(), Ev::Dns).unwrap();
    r.lookup(&mut *e, &mut io, query).unwrap();
    loop {
        let f = e.next(&mut host).unwrap().expect("loop ended");
        if let Some(done) = r.handle(&mut *e, &mut io, &f) {
            return done.result.map(|a| {
                let mut data: Vec<String> = a.records().map(|r| r.data.to_string()).collect();
                data.sort();
                (data, a.name().to_string())
            });
        }
    }
}

#[test]
fn resolver_answers_from_a_real_dnsmasq() {
    let Some(exe) = dnsmasq() else {
        // .ci/run installs it and sets LEVENT_CI: there a missing dnsmasq is a failure, not a
        // skip. (Not the common `CI` variable: `cargo test --workspace` must pass on any
        // machine with only the Rust toolchain, CI services included.)
        assert!(
            std::env::var_os("LEVENT_CI").is_none(),
            "dnsmasq is not installed, and CI must not skip this test"
        );
        println!("skipped: dnsmasq is not installed (apt-get install dnsmasq-base)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("levent-dnsmasq-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // Start it and wait until it answers. The port was free for UDP a moment ago, but the TCP
    // port of the same number may be taken (dnsmasq needs both), or be taken in between: then
    // dnsmasq exits at once, and another port is tried.
    let mut attempts = 0;
    let (child, server) = loop {
        let port = free_port();
        let mut child = start(&exe, &dir, port);
        let server: SocketAddr = ([127, 0, 0, 1], port).into();
        let started = Instant::now();
        let exited = loop {
            if ask(server, Query::a("www.test.levent").unwrap()).is_ok() {
                break None;
            }
            if let Some(status) = child.0.try_wait().unwrap() {
                let mut err = String::new();
                if let Some(mut pipe) = child.0.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut pipe, &mut err);
                }
                break Some(format!("{status}: {}", err.trim()));
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "dnsmasq never answered"
            );
        };
        match exited {
            None => break (child, server),
            Some(why) => {
                attempts += 1;
                assert!(attempts < 5, "dnsmasq exited {attempts} times, last: {why}");
                println!("dnsmasq exited ({why}); trying another port");
            }
        }
    };
    let data = |q: Query| ask(server, q).unwrap().0;
    assert_eq!(data(Query::a("www.test.levent").unwrap()), ["192.0.2.1"]);
    assert_eq!(
        data(Query::aaaa("www.test.levent").unwrap()),
        ["2001:db8::1"]
    );
    let (addrs, canonical) = ask(server, Query::a("alias.test.levent").unwrap()).unwrap();
    assert_eq!(
        (addrs, canonical.as_str()),
        (vec!["192.0.2.1".to_string()], "www.test.levent")
    );
    assert_eq!(
        data(Query::new("alias.test.levent", RType::CNAME).unwrap()),
        ["www.test.levent."]
    );
    assert_eq!(
        data(Query::new("test.levent", RType::MX).unwrap()),
        ["10 mail.test.levent."]
    );
    assert_eq!(
        data(Query::new("test.levent", RType::TXT).unwrap()),
        ["\"hello world\""]
    );
    assert_eq!(
        data(Query::new("_http._tcp.test.levent", RType::SRV).unwrap()),
        ["0 5 80 www.test.levent."]
    );
    assert_eq!(
        data(Query::ptr([192, 0, 2, 1].into())),
        ["www.test.levent."]
    );
    assert_eq!(data(Query::a("files.test.levent").unwrap()), ["192.0.2.20"]);
    assert_eq!(
        data(Query::aaaa("files.test.levent").unwrap()),
        ["2001:db8::20"]
    );
    assert_eq!(
        ask(server, Query::a("nothing.test.levent").unwrap()),
        Err(DnsError::NxDomain)
    );
    assert_eq!(
        ask(server, Query::aaaa("v4only.test.levent").unwrap()),
        Err(DnsError::NoData)
    );
    drop(child);
    let _ = std::fs::remove_dir_all(&dir);
}
