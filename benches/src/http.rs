//! HTTP hello-world over keep-alive: levent's server, libevent's evhttp (C, `c/http.c`) and
//! hyper 1.x on a single-thread tokio runtime, each one server thread in its own process, each
//! driven by `wrk -t1 -c50 --latency` on loopback (`cargo run --release -p levent-bench -- --only
//! http`: 10 s per run, one run per repetition, in an order that rotates each repetition).
//!
//! Every server answers `GET /` with `Hello, World!` (13 bytes, `Content-Type: text/plain`). The
//! levent server runs under the runner's counting global allocator
//! (`levent_hosts::alloc::Counting`) and reports, when stopped, how many allocations it made after
//! its first 10,000 requests, per request.

use levent_core::http::Header;
use levent_core::http::server::{Exchange, ServerConfig, Service, events_needed};
use levent_core::{Event, Route};
use levent_hosts::HttpServer;
use levent_hosts::net::{ListenOptions, Sockets};
use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The body every server answers with.
pub const BODY: &[u8] = b"Hello, World!";
/// Requests served before allocations are counted (connections set up, buffers warmed).
pub const WARMUP: u64 = 10_000;

/// Allocation counts the levent server reports: a snapshot function of the runner's allocator
/// (allocations and reallocations so far).
pub type AllocCount = fn() -> u64;

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

struct Hello {
    requests: u64,
    allocs: AllocCount,
    at_warmup: Option<u64>,
}

impl Service for Hello {
    fn request(&mut self, _: &levent_core::http::Request<'_, '_>, ex: &mut Exchange<'_>) {
        self.requests += 1;
        if self.requests == WARMUP {
            self.at_warmup = Some((self.allocs)());
        }
        let h = [Header {
            name: "Content-Type",
            value: b"text/plain",
        }];
        ex.respond(200, &h, BODY);
    }
}

/// Run levent's hello-world server on `addr` until SIGTERM or SIGINT; prints `listening on ADDR`,
/// then, when stopped, `requests N allocations-per-request X` (X counted after [`WARMUP`]).
pub fn serve_levent(addr: SocketAddr, allocs: AllocCount) -> io::Result<()> {
    const CONNS: usize = 1024;
    #[cfg(unix)]
    let _ = levent_hosts::unix::raise_fd_limit(4096);
    let mut io = Sockets::new();
    let listening = io.listen(addr, ListenOptions::default())?;
    io.set_nodelay(listening, true)?;
    let local = io.local_addr(listening)?;
    let mut host = levent_hosts::default_host()?;
    let mut engine: levent_hosts::Engine<Ev, { events_needed(CONNS) + 8 }, { CONNS + 8 }> =
        levent_hosts::engine();
    for signo in levent_hosts::signals::STOP {
        engine.start(Event::signal(signo), Ev::Stop, None)?;
    }
    let mut server = HttpServer::<Ev, CONNS>::new(ServerConfig::DEFAULT);
    server.bind(&mut engine, &io, listening)?;
    println!("listening on {local}");
    let mut app = Hello {
        requests: 0,
        allocs,
        at_warmup: None,
    };
    while let Some(fired) = engine.next(&mut host)? {
        match fired.datum {
            Ev::Http(r) => server.handle(&mut engine, &mut io, &fired, r, &mut app),
            Ev::Stop => break,
        }
    }
    let end = allocs();
    let per = match app.at_warmup {
        Some(start) => (end - start) as f64 / (app.requests - WARMUP).max(1) as f64,
        None => f64::NAN,
    };
    println!("requests {} allocations-per-request {per:.4}", app.requests);
    Ok(())
}

/// Run hyper's hello-world server (HTTP/1.1, keep-alive, `TCP_NODELAY`) on a single-thread tokio
/// runtime on `addr`, until killed; prints `listening on ADDR`.
pub fn serve_hyper(addr: SocketAddr) -> io::Result<()> {
    use http_body_util::Full;
    use hyper::body::{Bytes, Incoming};
    use hyper::{Request, Response};
    async fn hello(
        _: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
        let mut resp = Response::new(Full::new(Bytes::from_static(BODY)));
        resp.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("text/plain"),
        );
        Ok(resp)
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        println!("listening on {}", listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            tokio::task::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(
                        hyper_util::rt::TokioIo::new(stream),
                        hyper::service::service_fn(hello),
                    )
                    .await;
            });
        }
    })
}

/// What wrk measured.
#[derive(Clone, Copy, Debug, Default)]
pub struct Wrk {
    /// Requests per second.
    pub rps: f64,
    /// 50th percentile latency, microseconds.
    pub p50_us: f64,
    /// 99th percentile latency, microseconds.
    pub p99_us: f64,
    /// Socket errors and non-2xx responses wrk reported.
    pub errors: u64,
}

fn micros(s: &str) -> Option<f64> {
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic())?);
    let n: f64 = num.parse().ok()?;
    Some(match unit {
        "us" => n,
        "ms" => n * 1e3,
        "s" => n * 1e6,
        _ => return None,
    })
}

/// Run `wrk -t1 -c50 -dSECONDS --latency` against `url` and read its report.
pub fn wrk(url: &str, seconds: u32) -> io::Result<Wrk> {
    let out = Command::new("wrk")
        .args(["-t1", "-c50", &format!("-d{seconds}s"), "--latency", url])
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!("wrk failed: {}", out.status)));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut w = Wrk::default();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", n] => w.rps = n.parse().unwrap_or(0.0),
            ["50%", v] => w.p50_us = micros(v).unwrap_or(f64::NAN),
            ["99%", v] => w.p99_us = micros(v).unwrap_or(f64::NAN),
            ["Socket", "errors:", rest @ ..] => {
                w.errors += rest
                    .iter()
                    .filter_map(|s| s.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>();
            }
            ["Non-2xx", "or", "3xx", "responses:", n] => w.errors += n.parse().unwrap_or(0),
            _ => {}
        }
    }
    if w.rps == 0.0 {
        return Err(io::Error::other(format!(
            "cannot read wrk's report: {text}"
        )));
    }
    Ok(w)
}

/// A server process, stopped (SIGTERM) and reaped when dropped.
struct Proc {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn start(cmd: &mut Command) -> io::Result<(Proc, String)> {
    let mut child = cmd.stdout(Stdio::piped()).spawn()?;
    let out = child
        .stdout
        .take()
        .ok_or_else(|| io::Error::other("no stdout"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let p = Proc { child, lines: rx };
    let first = p
        .lines
        .recv_timeout(Duration::from_secs(20))
        .map_err(|_| io::Error::other("the server did not start"))?;
    let addr = first
        .strip_prefix("listening on ")
        .ok_or_else(|| io::Error::other(format!("the server said {first:?}")))?
        .to_string();
    Ok((p, addr))
}

/// One implementation's figures.
#[derive(Clone, Debug)]
pub struct Figures {
    /// Which server.
    pub name: &'static str,
    /// wrk's report.
    pub wrk: Wrk,
    /// Allocations per request in the steady state, when counted (the worst round).
    pub allocs_per_request: Option<f64>,
    /// Every round's report.
    pub rounds: Vec<Wrk>,
}

/// Run the three servers under wrk for `seconds` each, `rounds` times in a rotating order (so
/// that a noisy neighbour hurts each in turn); each server's figures are the medians of its
/// rounds. `exe` is this benchmark program (it serves levent and hyper as subcommands).
pub fn run(exe: &std::path::Path, seconds: u32, rounds: usize) -> io::Result<Vec<Figures>> {
    let mut servers: Vec<(&'static str, Vec<String>, std::path::PathBuf)> = vec![(
        "levent",
        vec!["http-serve".into(), "levent".into(), "127.0.0.1:0".into()],
        exe.to_path_buf(),
    )];
    match crate::libevent_exe() {
        Some(c) => servers.push((
            "libevent evhttp",
            vec!["http".into(), "127.0.0.1".into(), "0".into()],
            c,
        )),
        None => eprintln!("http: libevent-bench was not built: libevent skipped"),
    }
    servers.push((
        "hyper 1.x (tokio current_thread)",
        vec!["http-serve".into(), "hyper".into(), "127.0.0.1:0".into()],
        exe.to_path_buf(),
    ));
    let n = servers.len();
    let mut samples: Vec<Vec<(Wrk, Option<f64>)>> = vec![vec![]; n];
    for round in 0..rounds.max(1) {
        for k in 0..n {
            let i = (k + round) % n;
            let (_, args, program) = &servers[i];
            let (proc, addr) = start(Command::new(program).args(args))?;
            let w = wrk(&format!("http://{addr}/"), seconds)?;
            let _ = Command::new("kill")
                .args(["-TERM", &proc.child.id().to_string()])
                .status();
            let mut allocs = None;
            while let Ok(line) = proc.lines.recv_timeout(Duration::from_secs(5)) {
                let mut words = line.split_whitespace();
                if words.any(|w| w == "allocations-per-request") {
                    allocs = words.next().and_then(|v| v.parse().ok());
                }
            }
            drop(proc);
            samples[i].push((w, allocs));
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    Ok(servers
        .iter()
        .zip(samples)
        .map(|((name, _, _), runs)| Figures {
            name,
            wrk: Wrk {
                rps: median(runs.iter().map(|r| r.0.rps).collect()),
                p50_us: median(runs.iter().map(|r| r.0.p50_us).collect()),
                p99_us: median(runs.iter().map(|r| r.0.p99_us).collect()),
                errors: runs.iter().map(|r| r.0.errors).sum(),
            },
            allocs_per_request: runs
                .iter()
                .filter_map(|r| r.1)
                .fold(None, |m: Option<f64>, a| Some(m.map_or(a, |m| m.max(a)))),
            rounds: runs.iter().map(|r| r.0).collect(),
        })
        .collect())
}
