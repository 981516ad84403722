//! DNS: `n` A lookups against a local DNS server, `inflight` at a time (a new one starts as each
//! finishes), through levent's resolver and through libevent's evdns. The server is levent's own
//! (`levent_core::dns::Server` on epoll, in a thread of this process, answering every A query
//! with one address), the same for both; names are `h0.bench.levent`, `h1.bench.levent`, ...
//!
//! Reported: lookups per second, from the first query to the last answer; the client's CPU time
//! per lookup (the resolver thread's run time from `/proc/thread-self/schedstat` for levent, the
//! process's user + system time for libevent's single-threaded program), which shows the
//! resolvers' own cost when the shared server sets the pace; and for levent the heap allocations
//! per lookup on the resolver's thread (the bench binary's counting allocator,
//! `levent_hosts::alloc::Counting`),
//! after a warm-up of 1,000 lookups.

use levent_core::Route;
use levent_core::dns::{Config, Hosts, Query, RData, Rcode};
use levent_hosts::alloc::{allocations, count_here};
use levent_hosts::dns::{HostResolver, HostServer};
use levent_hosts::net::Sockets;
use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// One run.
#[derive(Clone, Copy, Debug)]
pub struct DnsRun {
    /// Nanoseconds from the first query to the last answer.
    pub ns: u64,
    /// Lookups answered.
    pub lookups: u64,
    /// Allocations during the run (levent only; `None` when not counted).
    pub allocations: Option<u64>,
    /// CPU time the client spent, in nanoseconds (`None` where the system does not say).
    pub cpu_ns: Option<u64>,
}

/// This thread's run time so far, in nanoseconds (Linux's `/proc/thread-self/schedstat`).
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

impl DnsRun {
    /// Client CPU microseconds per lookup.
    pub fn cpu_per_lookup_us(&self) -> Option<f64> {
        self.cpu_ns
            .map(|c| c as f64 / 1e3 / self.lookups.max(1) as f64)
    }

    /// Lookups per second.
    pub fn rate(&self) -> f64 {
        self.lookups as f64 / (self.ns.max(1) as f64 / 1e9)
    }
}

/// The benchmark's DNS server, running in a thread until dropped.
pub struct Served {
    /// Where it listens (UDP).
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Ev {
    Dns,
    Server(Route),
    Tick,
}

impl From<Route> for Ev {
    fn from(r: Route) -> Ev {
        Ev::Server(r)
    }
}

/// Start levent's DNS server on a loopback port: every A query gets `192.0.2.1`, anything else
/// NXDOMAIN.
pub fn serve() -> io::Result<Served> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let run = || -> io::Result<()> {
            let mut io = Sockets::new();
            let udp = io.bind_udp("127.0.0.1:0".parse().map_err(io::Error::other)?)?;
            io.set_buffers(udp, 1 << 20, 1 << 20)?;
            let addr = io.local_addr(udp)?;
            let mut host = levent_hosts::default_host()?;
            let mut e: levent_hosts::Engine<Ev, 64, 16> = levent_hosts::engine();
            let mut server: Box<HostServer<Ev, 1>> =
                Box::new(levent_core::dns::Server::new(&mut e, 0)?);
            server.serve_udp(&mut e, &io, udp)?;
            e.start(
                levent_core::Event::timer().persist(),
                Ev::Tick,
                Some(Duration::from_millis(20)),
            )?;
            let _ = tx.send(Ok(addr));
            let answer = RData::A([192, 0, 2, 1].into());
            while !flag.load(Ordering::Relaxed) {
                let Some(f) = e.next(&mut host)? else {
                    break;
                };
                let Ev::Server(route) = f.datum else {
                    continue;
                };
                while let Some(req) = server.handle(&mut e, &mut io, &f, route) {
                    let msg = req.message();
                    let Some(q) = msg.question() else { continue };
                    let a = q.qtype == levent_core::dns::RType::A;
                    let rcode = if a { Rcode::NOERROR } else { Rcode::NXDOMAIN };
                    let _ = req.respond(&mut e, &mut io, rcode, true, |b| {
                        if a {
                            b.answer(q.name, 60, &answer)?;
                        }
                        Ok(())
                    });
                    break;
                }
            }
            Ok(())
        };
        if let Err(e) = run() {
            let _ = tx.send(Err(e));
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(io::Error::other)??;
    Ok(Served {
        addr,
        stop,
        thread: Some(thread),
    })
}

/// `h{i}.bench.levent`, written without allocating.
struct NameText {
    buf: [u8; 64],
    len: usize,
}

impl std::fmt::Write for NameText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(std::fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

fn query(i: usize) -> io::Result<Query> {
    let mut t = NameText {
        buf: [0; 64],
        len: 0,
    };
    write!(t, "h{i}.bench.levent").map_err(io::Error::other)?;
    let text = std::str::from_utf8(&t.buf[..t.len]).map_err(io::Error::other)?;
    Ok(Query::a(text).map_err(io::Error::other)?.no_search())
}

/// levent's resolver (`HostResolver<128, 0>`: default configuration, no cache) on the default
/// host.
pub fn levent(server: SocketAddr, n: usize, inflight: usize) -> io::Result<DnsRun> {
    let other = |e: &dyn std::fmt::Display| io::Error::other(e.to_string());
    let mut io = Sockets::new();
    let mut host = levent_hosts::default_host()?;
    let mut e: levent_hosts::Engine<Ev, 512, 64> = levent_hosts::engine();
    let mut config = Config::new();
    config.add_server(server).map_err(|e| other(&e))?;
    // No cache: evdns has none, and the measured round asks the names of the warm-up again.
    let mut r: Box<HostResolver<128, 0>> = Box::new(
        levent_core::dns::Resolver::new(
            &mut e,
            config,
            Hosts::new(),
            levent_hosts::dns::seed(),
            Ev::Dns,
        )
        .map_err(|e| other(&e))?,
    );
    let inflight = inflight.clamp(1, 128);
    let mut round = |n: usize, count: bool| -> io::Result<DnsRun> {
        let before = allocations();
        count_here(count);
        let cpu0 = thread_cpu_ns();
        let start = Instant::now();
        let (mut next, mut done, mut ok) = (0, 0, 0u64);
        while next < inflight.min(n) {
            r.lookup(&mut e, &mut io, query(next)?)
                .map_err(|e| other(&e))?;
            next += 1;
        }
        while done < n {
            let f = e
                .next(&mut host)?
                .ok_or_else(|| io::Error::other("loop ended"))?;
            let answered = r
                .handle(&mut e, &mut io, &f)
                .map(|d| d.result.is_ok_and(|a| a.addrs().next().is_some()));
            if let Some(good) = answered {
                done += 1;
                ok += u64::from(good);
                if next < n {
                    r.lookup(&mut e, &mut io, query(next)?)
                        .map_err(|e| other(&e))?;
                    next += 1;
                }
            }
        }
        let ns = start.elapsed().as_nanos() as u64;
        let cpu_ns = thread_cpu_ns().zip(cpu0).map(|(b, a)| b.saturating_sub(a));
        count_here(false);
        Ok(DnsRun {
            ns,
            lookups: ok,
            allocations: Some(allocations() - before),
            cpu_ns,
        })
    };
    round(1000, false)?;
    round(n, true)
}

/// libevent 2.1's evdns through the `libevent-bench` program (None when libevent is not
/// installed). It prints `nanoseconds answered cpu-nanoseconds`.
pub fn libevent(server: SocketAddr, n: usize, inflight: usize) -> Option<io::Result<DnsRun>> {
    let exe = crate::libevent_exe()?;
    let run = || -> io::Result<DnsRun> {
        let out = std::process::Command::new(&exe)
            .args([
                "dns",
                &server.to_string(),
                &n.to_string(),
                &inflight.to_string(),
            ])
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let nums: Vec<u64> = text
            .split_whitespace()
            .filter_map(|s| s.parse().ok())
            .collect();
        match (out.status.success(), nums.as_slice()) {
            (true, [ns, lookups, cpu]) => Ok(DnsRun {
                ns: *ns,
                lookups: *lookups,
                allocations: None,
                cpu_ns: Some(*cpu),
            }),
            _ => Err(io::Error::other(format!(
                "libevent-bench dns failed ({}): {text:?}",
                out.status
            ))),
        }
    };
    Some(run())
}
