//! Process-level tests of `dns-lookup` against levent's own DNS server (the core's
//! `dns::Server`), run in a thread of the test on a loopback port: every record type, every
//! error line and the exit codes.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::example;

use levent_core::dns::{Mx, NameBuf, RData, Rcode, Srv, Txt};
use levent_core::{Event, Route};
use levent_hosts::dns::HostServer;
use levent_hosts::net::{ListenOptions, Sockets};
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Ev {
    Dns(Route),
    Tick,
}

impl From<Route> for Ev {
    fn from(r: Route) -> Ev {
        Ev::Dns(r)
    }
}

/// levent's DNS server with a small zone under `test.`, in a thread, until dropped.
struct TestServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve() -> TestServer {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let flag = stop.clone();
    let thread = std::thread::spawn(move || {
        let mut io = Sockets::new();
        let (udp, tcp, addr) = (0..50)
            .find_map(|_| {
                let udp = io.bind_udp("127.0.0.1:0".parse().unwrap()).ok()?;
                let addr = io.local_addr(udp).ok()?;
                let opts = ListenOptions {
                    reuse_address: false,
                    ..ListenOptions::default()
                };
                let tcp = io.listen(addr, opts).ok()?;
                Some((udp, tcp, addr))
            })
            .unwrap();
        let mut host = levent_hosts::default_host().unwrap();
        let mut e: levent_hosts::Engine<Ev, 64, 32> = levent_hosts::engine();
        let mut server: Box<HostServer<Ev, 4>> =
            Box::new(levent_core::dns::Server::new(&mut e, 0).unwrap());
        server.serve_udp(&mut e, &io, udp).unwrap();
        server.serve_tcp(&mut e, &io, tcp).unwrap();
        e.start(
            Event::timer().persist(),
            Ev::Tick,
            Some(Duration::from_millis(20)),
        )
        .unwrap();
        tx.send(addr).unwrap();
        while !flag.load(Ordering::Relaxed) {
            let Some(f) = e.next(&mut host).unwrap() else {
                break;
            };
            let Ev::Dns(route) = f.datum else {
                continue;
            };
            let Some(req) = server.handle(&mut e, &mut io, &f, route) else {
                continue;
            };
            let msg = req.message();
            let q = msg.question().unwrap();
            let name = q.name.to_string().to_ascii_lowercase();
            let qtype = q.qtype.to_string();
            let n = |s: &str| NameBuf::from_dotted(s).unwrap();
            let (www, mail, alias, lp) = (
                n("www.test"),
                n("mail.test"),
                n("alias.test"),
                n("loop.test"),
            );
            let hello = [&b"hello "[..], &b"world"[..]];
            let mut answers: Vec<(NameBuf, RData<'_>)> = vec![];
            let www_a = [
                (www.clone(), RData::A([192, 0, 2, 1].into())),
                (www.clone(), RData::A([192, 0, 2, 2].into())),
            ];
            let rcode = match (name.as_str(), qtype.as_str()) {
                ("silent.test", _) => continue,
                ("fail.test", _) => Rcode::SERVFAIL,
                ("refuse.test", _) => Rcode::REFUSED,
                ("notimp.test", _) => Rcode::NOTIMP,
                ("garbage.test", _) => {
                    let id = msg.id().to_be_bytes();
                    req.send_raw(&mut e, &mut io, &[id[0], id[1], 0x81, 0x80, 0, 1])
                        .unwrap();
                    continue;
                }
                ("www.test", "A") => {
                    answers.extend(www_a.iter().cloned());
                    Rcode::NOERROR
                }
                ("www.test", "AAAA") => {
                    answers.push((www.clone(), RData::Aaaa("2001:db8::1".parse().unwrap())));
                    Rcode::NOERROR
                }
                ("v4.test", _) => Rcode::NOERROR,
                ("alias.test", "A") => {
                    answers.push((alias.clone(), RData::Cname(www.as_name())));
                    answers.extend(www_a.iter().cloned());
                    Rcode::NOERROR
                }
                ("loop.test", _) => {
                    answers.push((lp.clone(), RData::Cname(lp.as_name())));
                    Rcode::NOERROR
                }
                ("1.2.0.192.in-addr.arpa", "PTR") => {
                    answers.push((n(&name), RData::Ptr(www.as_name())));
                    Rcode::NOERROR
                }
                ("test", "MX") => {
                    answers.push((
                        n("test"),
                        RData::Mx(Mx {
                            preference: 10,
                            exchange: mail.as_name(),
                        }),
                    ));
                    Rcode::NOERROR
                }
                ("test", "TXT") => {
                    answers.push((n("test"), RData::Txt(Txt::new(&hello))));
                    Rcode::NOERROR
                }
                ("_http._tcp.test", "SRV") => {
                    let srv = Srv {
                        priority: 0,
                        weight: 5,
                        port: 80,
                        target: www.as_name(),
                    };
                    answers.push((n(&name), RData::Srv(srv)));
                    Rcode::NOERROR
                }
                _ => Rcode::NXDOMAIN,
            };
            let _ = req.respond(&mut e, &mut io, rcode, true, |b| {
                for (owner, data) in &answers {
                    b.answer(owner, 60, data)?;
                }
                Ok(())
            });
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    TestServer {
        addr,
        stop,
        thread: Some(thread),
    }
}

/// Run dns-lookup against `server`: status, standard output, standard error.
fn lookup(server: &TestServer, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(example("dns-lookup"))
        .arg("--server")
        .arg(server.addr.to_string())
        .args(args)
        .env("RES_OPTIONS", "timeout:1 attempts:1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn dns_lookup_prints_one_result_per_line_for_every_type() {
    let s = serve();
    let ok = |args: &[&str], want: &str| {
        let (code, out, err) = lookup(&s, args);
        assert_eq!(
            (code, out.as_str(), err.as_str()),
            (0, want, ""),
            "{args:?}"
        );
    };
    ok(&["www.test"], "192.0.2.1\n192.0.2.2\n");
    ok(&["www.test", "A"], "192.0.2.1\n192.0.2.2\n");
    ok(&["www.test", "aaaa"], "2001:db8::1\n");
    ok(&["alias.test"], "192.0.2.1\n192.0.2.2\n");
    ok(&["192.0.2.1", "PTR"], "www.test\n");
    ok(&["1.2.0.192.in-addr.arpa", "PTR"], "www.test\n");
    ok(&["test", "MX"], "10 mail.test\n");
    ok(&["test", "TXT"], "hello world\n");
    ok(&["_http._tcp.test", "SRV"], "0 5 80 www.test\n");
}

#[test]
fn dns_lookup_failures_print_the_error_kind_and_exit_1() {
    let s = serve();
    for (args, kind) in [
        (&["nothing.test"][..], "nxdomain"),
        (&["v4.test", "AAAA"][..], "nodata"),
        (&["fail.test"][..], "servfail"),
        (&["refuse.test"][..], "refused"),
        (&["notimp.test"][..], "notimp"),
        (&["loop.test"][..], "loop"),
        (&["garbage.test"][..], "malformed"),
        (&["silent.test"][..], "timeout"),
    ] {
        let (code, out, err) = lookup(&s, args);
        assert_eq!(
            (code, out.as_str(), err.as_str()),
            (1, "", format!("error: {kind}\n").as_str()),
            "{args:?}"
        );
    }
}

#[test]
fn dns_lookup_rejects_bad_arguments_with_usage_and_status_1() {
    let help = Command::new(example("dns-lookup"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    let text = String::from_utf8(help.stdout).unwrap();
    assert_eq!(text.lines().count(), 1);
    assert!(text.starts_with("usage: dns-lookup"));
    for args in [
        &[][..],
        &["--bogus", "x"][..],
        &["--server", "not-an-address", "x"][..],
        &["a", "A", "extra"][..],
        &["--server", "127.0.0.1:9", "x", "NOTATYPE"][..],
    ] {
        let out = Command::new(example("dns-lookup"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
}
