//! HTTP hello-world over keep-alive: levent's server, libevent's evhttp (C, `c/http.c`) and
//! hyper 1.x on a single-thread tokio runtime, each one server thread in its own process, each
//! driven by `wrk -t1 -c50 --latency` on loopback (`cargo run --release -p levent-bench -- --only
//! http`: 10 s per run, one run per repetition, in an order that rotates each repetition).
//!
//! The HTTPS variant (`--only https`) runs levent over `levent_hosts::tls::Tls` and hyper over
//! tokio-rustls, both with rustls 0.23's `ring` provider and the same certificate (made by the
//! runner with rcgen) and configuration (`levent_hosts::tls::server_config`), so both negotiate
//! the same protocol version and cipher suite with wrk's OpenSSL: once over keep-alive
//! (requests per second) and once with `Connection: close` on every request, where each request
//! is a new TCP connection and a full handshake (connections per second). libevent has no TLS
//! peer here (evhttp over bufferevent_openssl would compare OpenSSL with rustls, not the loops).
//!
//! Every server answers `GET /` with `Hello, World!` (13 bytes, `Content-Type: text/plain`). The
//! levent server runs under the runner's counting global allocator
//! (`levent_hosts::alloc::Counting`) and reports, when stopped, how many allocations it made after
//! its first 10,000 requests, per request.

use levent_core::http::Header;
use levent_core::http::server::{Exchange, ServerConfig, Service, events_needed};
use levent_core::io::Accept;
use levent_core::{Event, Route};
use levent_hosts::HttpServer;
use levent_hosts::net::{ListenOptions, SocketId, Sockets};
use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

/// A PEM certificate chain and its key, for the HTTPS servers.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// The certificate chain.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

impl TlsFiles {
    /// Make a self-signed certificate for `localhost` and 127.0.0.1 in `dir` (rcgen).
    #[cfg(feature = "tls")]
    pub fn generate(dir: &Path) -> io::Result<TlsFiles> {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
            .map_err(io::Error::other)?;
        std::fs::create_dir_all(dir)?;
        let files = TlsFiles {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        };
        std::fs::write(&files.cert, cert.cert.pem())?;
        std::fs::write(&files.key, cert.key_pair.serialize_pem())?;
        Ok(files)
    }

    /// Without the `tls` feature there is no HTTPS benchmark.
    #[cfg(not(feature = "tls"))]
    pub fn generate(_: &Path) -> io::Result<TlsFiles> {
        Err(no_tls())
    }
}

#[cfg(not(feature = "tls"))]
fn no_tls() -> io::Error {
    io::Error::other("levent-bench was built without its tls feature")
}

/// Run levent's hello-world server on `addr` (over TLS with `tls`; on `threads` engines, each
/// on its own thread with its own `SO_REUSEPORT` listener) until SIGTERM or SIGINT; prints
/// `listening on ADDR`, then, when stopped, `requests N allocations-per-request X` (X counted
/// after [`WARMUP`], on the first engine).
///
/// With `record`, the one engine records its run to that file (`levent_hosts::trace`) and,
/// when stopped, also prints `trace BYTES bytes`.
pub fn serve_levent(
    addr: SocketAddr,
    allocs: AllocCount,
    tls: Option<&TlsFiles>,
    threads: usize,
    record: Option<&Path>,
) -> io::Result<()> {
    if record.is_some() && (threads > 1 || tls.is_some()) {
        return Err(io::Error::other("recording runs one plain engine"));
    }
    let record = record.map(Path::to_path_buf);
    #[cfg(unix)]
    let _ = levent_hosts::unix::raise_fd_limit(4096 * threads as u64);
    // One listener per thread (SO_REUSEPORT when more than one), all bound before any serves.
    let opts = ListenOptions {
        reuse_port: threads > 1,
        ..ListenOptions::default()
    };
    let mut local = addr;
    let mut each = vec![];
    for _ in 0..threads.max(1) {
        let mut io = Sockets::new();
        let listening = io.listen(local, opts)?;
        io.set_nodelay(listening, true)?;
        local = io.local_addr(listening)?;
        each.push((io, listening));
    }
    #[cfg(feature = "tls")]
    let config = match tls {
        Some(f) => Some(levent_hosts::tls::server_config(&f.cert, &f.key)?),
        None => None,
    };
    #[cfg(not(feature = "tls"))]
    if tls.is_some() {
        return Err(no_tls());
    }
    println!("listening on {local}");
    let serve = std::sync::Arc::new(
        move |(io, listening): (Sockets, SocketId), first: bool| -> io::Result<()> {
            // Each engine's host, and its table made that host's (on io_uring its streams read
            // and write on the host's ring).
            let mut host = levent_hosts::default_host()?;
            let mut io = levent_hosts::sockets_for(&mut host, io);
            let platform = levent_hosts::PLATFORM;
            #[cfg(feature = "tls")]
            if let Some(cfg) = &config {
                let mut io = levent_hosts::tls::Tls::server(io, cfg.clone());
                return serve_levent_with(&mut host, &mut io, listening, allocs, first, platform);
            }
            match &record {
                Some(path) => serve_recorded(host, io, listening, allocs, path),
                None => serve_levent_with(&mut host, &mut io, listening, allocs, first, platform),
            }
        },
    );
    let mut each = each.into_iter();
    let first = each.next().ok_or_else(|| io::Error::other("no listener"))?;
    for one in each {
        let serve = serve.clone();
        std::thread::spawn(move || serve(one, false));
    }
    // The first engine stops at the signals (and the process with it) and counts allocations.
    serve(first, true)
}

/// [`serve_levent_with`] with the run recorded to `path`.
fn serve_recorded(
    host: levent_hosts::DefaultHost,
    io: Sockets,
    listening: SocketId,
    allocs: AllocCount,
    path: &Path,
) -> io::Result<()> {
    let file = io::BufWriter::new(std::fs::File::create(path)?);
    let recorder = levent_hosts::trace::Recorder::start(&[("program", "levent-bench")], file)?;
    let mut host = recorder.host(host);
    let mut io = recorder.io(io);
    let platform = recorder.platform();
    serve_levent_with(&mut host, &mut io, listening, allocs, true, platform)?;
    recorder.finish()?;
    println!("trace {} bytes", std::fs::metadata(path)?.len());
    Ok(())
}

fn serve_levent_with<IO: Accept<Handle = SocketId>>(
    host: &mut dyn levent_core::Host,
    io: &mut IO,
    listening: SocketId,
    allocs: AllocCount,
    first: bool,
    platform: levent_core::Platform,
) -> io::Result<()> {
    const CONNS: usize = 1024;
    let mut engine: levent_hosts::Engine<Ev, { events_needed(CONNS) + 8 }, { CONNS + 8 }> =
        levent_core::Engine::new(platform);
    if first {
        for signo in levent_hosts::signals::STOP {
            engine.start(Event::signal(signo), Ev::Stop, None)?;
        }
    }
    let mut server = HttpServer::<Ev, CONNS>::new(ServerConfig::DEFAULT);
    server.bind(&mut engine, io, listening)?;
    levent_hosts::alloc::count_here(first);
    let mut app = Hello {
        requests: 0,
        allocs,
        at_warmup: None,
    };
    while let Some(fired) = engine.next(host)? {
        match fired.datum {
            Ev::Http(r) => server.handle(&mut engine, io, &fired, r, &mut app),
            Ev::Stop => break,
        }
    }
    let end = allocs();
    let per = match app.at_warmup {
        Some(start) => (end - start) as f64 / (app.requests - WARMUP).max(1) as f64,
        None => f64::NAN,
    };
    if first {
        println!("requests {} allocations-per-request {per:.4}", app.requests);
    }
    Ok(())
}

/// Run hyper's hello-world server (HTTP/1.1, keep-alive, `TCP_NODELAY`; over tokio-rustls with
/// `tls`) on a single-thread tokio runtime on `addr`, until killed; prints `listening on ADDR`.
pub fn serve_hyper(addr: SocketAddr, tls: Option<&TlsFiles>, threads: usize) -> io::Result<()> {
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
    #[cfg(feature = "tls")]
    let acceptor = match tls {
        Some(f) => Some(tokio_rustls::TlsAcceptor::from(
            levent_hosts::tls::server_config(&f.cert, &f.key)?,
        )),
        None => None,
    };
    #[cfg(not(feature = "tls"))]
    let acceptor: Option<std::convert::Infallible> = match tls {
        Some(_) => return Err(no_tls()),
        None => None,
    };
    // One thread: the current-thread runtime; more: the multi-thread one with that many workers.
    let rt = if threads > 1 {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_io()
            .build()?
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()?
    };
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        println!("listening on {}", listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            #[cfg(feature = "tls")]
            let acceptor = acceptor.clone();
            tokio::task::spawn(async move {
                let http = hyper::server::conn::http1::Builder::new();
                let service = hyper::service::service_fn(hello);
                let _ = match acceptor {
                    None => {
                        http.serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await
                    }
                    #[cfg(feature = "tls")]
                    Some(a) => match a.accept(stream).await {
                        Ok(tls) => {
                            http.serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                                .await
                        }
                        Err(_) => return,
                    },
                    #[cfg(not(feature = "tls"))]
                    Some(never) => match never {},
                };
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
    /// wrk's own CPU time over its run, in cores (1.0: one core busy all the time, the most
    /// one wrk thread can do: then wrk, not the server, set the pace); NaN when not known.
    pub cpu_cores: f64,
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

/// Run `wrk -tT -cC -dSECONDS --latency` against `url` (T and C from `mode`) and read its
/// report; with `mode.close`, every request says `Connection: close` (so every request is a new
/// connection).
pub fn wrk(url: &str, seconds: u32, mode: &Mode) -> io::Result<Wrk> {
    let mut cmd = Command::new("wrk");
    cmd.args([
        &format!("-t{}", mode.wrk_threads.max(1)),
        &format!("-c{}", mode.conns.max(1)),
        &format!("-d{seconds}s"),
        "--latency",
    ]);
    if mode.close {
        cmd.args(["-H", "Connection: close"]);
    }
    let start = Instant::now();
    let mut child = cmd.arg(url).stdout(Stdio::piped()).spawn()?;
    let mut text = String::new();
    if let Some(mut out) = child.stdout.take() {
        std::io::Read::read_to_string(&mut out, &mut text)?;
    }
    let cpu = crate::exited_cpu(child.id());
    let elapsed = start.elapsed().as_secs_f64();
    let status = child.wait()?;
    if !status.success() {
        return Err(io::Error::other(format!("wrk failed: {status}")));
    }
    let mut w = Wrk {
        cpu_cores: cpu.map_or(f64::NAN, |(u, s)| (u + s) / elapsed),
        ..Wrk::default()
    };
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
    /// The server's CPU microseconds per request, user and system, of each round that could
    /// read them (see [`crate::cpu_seconds`]).
    pub cpu_us: Vec<(f64, f64)>,
    /// Every round's report.
    pub rounds: Vec<Wrk>,
}

/// What one HTTP benchmark run asks of the servers and of wrk.
#[derive(Clone, Debug)]
pub struct Mode {
    /// Server threads (engines, tokio workers, event_bases).
    pub threads: usize,
    /// wrk's connections (`-c`).
    pub conns: usize,
    /// wrk's threads (`-t`).
    pub wrk_threads: usize,
    /// Serve HTTPS with these files (levent and hyper only).
    pub tls: Option<TlsFiles>,
    /// Every request says `Connection: close`: wrk's requests per second are new connections
    /// (handshakes, over TLS) per second.
    pub close: bool,
    /// Run levent twice instead of the peers: as it is, and recording its run ([`RECORDING`])
    /// to this trace file (removed after each run).
    pub record: Option<PathBuf>,
    /// Hold every server to this many cores ([`crate::CpuCap`], the same budget for each), so
    /// that the server sets the pace, not wrk: requests per second at a fixed CPU budget.
    pub cpu_cap: Option<f64>,
}

/// The name of levent recording its run, in [`Mode::record`] runs.
pub const RECORDING: &str = "levent-recording";

impl Default for Mode {
    /// One server thread, `wrk -t1 -c50`, plain HTTP, keep-alive.
    fn default() -> Self {
        Mode {
            threads: 1,
            conns: 50,
            wrk_threads: 1,
            tls: None,
            close: false,
            record: None,
            cpu_cap: None,
        }
    }
}

/// Run the servers under wrk for `seconds` each, `rounds` times in a rotating order (so that a
/// noisy neighbour hurts each in turn); each server's figures are the medians of its rounds.
/// `exe` is this benchmark program (it serves levent and hyper as subcommands).
pub fn run(exe: &Path, seconds: u32, rounds: usize, mode: &Mode) -> io::Result<Vec<Figures>> {
    let serve = |name: &str| {
        let mut args: Vec<String> = vec![
            "http-serve".into(),
            name.into(),
            "127.0.0.1:0".into(),
            "--threads".into(),
            mode.threads.to_string(),
        ];
        if let Some(f) = &mode.tls {
            args.push(f.cert.display().to_string());
            args.push(f.key.display().to_string());
        }
        args
    };
    let mut servers: Vec<(&'static str, Vec<String>, PathBuf)> =
        vec![("levent", serve("levent"), exe.to_path_buf())];
    if let Some(trace) = &mode.record {
        let mut args = serve(RECORDING);
        args.extend(["--trace".into(), trace.display().to_string()]);
        servers.push((RECORDING, args, exe.to_path_buf()));
    }
    if mode.record.is_some() {
        // levent against itself only.
    } else if crate::have_uring() && mode.tls.is_none() {
        servers.push((crate::URING, serve(crate::URING), exe.to_path_buf()));
    }
    match (crate::libevent_exe(), &mode.tls) {
        _ if mode.record.is_some() => {}
        (_, Some(_)) => {}
        (Some(c), None) => servers.push((
            "libevent evhttp",
            vec![
                "http".into(),
                "127.0.0.1".into(),
                "0".into(),
                mode.threads.to_string(),
            ],
            c,
        )),
        (None, None) => eprintln!("http: libevent-bench was not built: libevent skipped"),
    }
    if mode.record.is_none() {
        servers.push((
            match (mode.tls.is_some(), mode.threads > 1) {
                (true, false) => "hyper 1.x (tokio current_thread, tokio-rustls)",
                (true, true) => "hyper 1.x (tokio multi_thread, tokio-rustls)",
                (false, false) => "hyper 1.x (tokio current_thread)",
                (false, true) => "hyper 1.x (tokio multi_thread)",
            },
            serve("hyper"),
            exe.to_path_buf(),
        ));
    }
    let scheme = if mode.tls.is_some() { "https" } else { "http" };
    let cap = mode
        .cpu_cap
        .map(|share| crate::CpuCap::new(&format!("levent-bench-{}", std::process::id()), share))
        .transpose()
        .map_err(|e| io::Error::new(e.kind(), format!("a CPU cap for the servers: {e}")))?;
    let n = servers.len();
    // Per server, per round: wrk's report, allocations per request, CPU µs per request.
    type Round = (Wrk, Option<f64>, Option<(f64, f64)>);
    let mut samples: Vec<Vec<Round>> = vec![vec![]; n];
    for round in 0..rounds.max(1) {
        for k in 0..n {
            let i = (k + round) % n;
            let (_, args, program) = &servers[i];
            let mut cmd = Command::new(program);
            crate::backend_env(&mut cmd, servers[i].0);
            let (proc, addr) = start(cmd.args(args))?;
            if let Some(cap) = &cap {
                cap.add(proc.child.id())?;
            }
            let cpu_before = crate::cpu_seconds(proc.child.id());
            let w = wrk(&format!("{scheme}://{addr}/"), seconds, mode)?;
            let cpu = crate::cpu_per(
                cpu_before,
                crate::cpu_seconds(proc.child.id()),
                w.rps * f64::from(seconds),
            );
            let _ = Command::new("kill")
                .args(["-TERM", &proc.child.id().to_string()])
                .status();
            let mut allocs = None;
            while let Ok(line) = proc.lines.recv_timeout(Duration::from_secs(5)) {
                let mut words = line.split_whitespace();
                if let Some(bytes) = line.strip_prefix("trace ") {
                    println!(
                        "# {}: a trace of {bytes} for {:.0} requests",
                        servers[i].0,
                        w.rps * f64::from(seconds)
                    );
                }
                if words.any(|w| w == "allocations-per-request") {
                    allocs = words.next().and_then(|v| v.parse().ok());
                }
            }
            drop(proc);
            // A regular file only: a trace sent to the null device stays where it is.
            if let (RECORDING, Some(trace)) = (servers[i].0, &mode.record)
                && trace.is_file()
            {
                let _ = std::fs::remove_file(trace);
            }
            samples[i].push((w, allocs, cpu));
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
                cpu_cores: median(runs.iter().map(|r| r.0.cpu_cores).collect()),
            },
            allocs_per_request: runs
                .iter()
                .filter_map(|r| r.1)
                .fold(None, |m: Option<f64>, a| Some(m.map_or(a, |m| m.max(a)))),
            cpu_us: runs.iter().filter_map(|r| r.2).collect(),
            rounds: runs.iter().map(|r| r.0).collect(),
        })
        .collect())
}
