//! levent-bench: the benchmark suite, levent beside libevent 2.1 and raw mio 1.x.
//!
//! `cargo run --release -p levent-bench` runs every benchmark for every implementation,
//! interleaved (levent, libevent, mio, levent, …), several repetitions, then prints a table of
//! medians, min–max and the ratios levent/libevent and levent/mio. Every measurement is also
//! printed as one JSON line (`{"bench":…,"metric":…,"impl":…,"rep":…,"value":…}`) for scripts.
//!
//! Options: `--quick` (tiny sizes, one repetition: what CI runs), `--reps N`, `--only a,b`
//! (pipechain, timers, echo, dns, http, http-capped, record, http-threads, https, dispatch,
//! callgrind, syscalls), `--chart FILE.png` (draw the ratios). The HTTP benchmark's Rust peer is hyper, not mio; it needs `wrk` on the path.
//! The other subcommands are the single measurements the runner starts in child processes.

use levent_bench::{echo, pipechain, timers};
use std::collections::BTreeMap;
use std::io;
use std::process::{Command, ExitCode, Stdio};

#[global_allocator]
static ALLOC: levent_hosts::alloc::Counting = levent_hosts::alloc::Counting;

fn allocations() -> u64 {
    levent_hosts::alloc::allocations()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some(
            "pipechain" | "timers" | "echo-server" | "echo-client" | "echo-idle" | "dispatch"
            | "allocs" | "dns" | "http-serve",
        ) => match single(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("levent-bench {}: {e}", args[0]);
                ExitCode::from(1)
            }
        },
        _ => suite(&args),
    }
}

/// libevent's side of a comparison when it was not found at build time.
fn no_libevent() -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, "libevent was not built")
}

fn num<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> io::Result<T> {
    args.get(i)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("missing or bad {what}")))
}

/// One measurement, in this process; prints its result on standard output.
fn single(args: &[String]) -> io::Result<()> {
    let impl_ = args.get(1).map(String::as_str).unwrap_or("levent");
    match args[0].as_str() {
        "pipechain" => {
            let (n, a, w) = (num(args, 2, "N")?, num(args, 3, "A")?, num(args, 4, "W")?);
            let r = match impl_ {
                "mio" => pipechain::mio(n, a, w),
                "libevent" => pipechain::libevent(n, a, w).ok_or_else(no_libevent)?,
                #[cfg(target_os = "linux")]
                levent_bench::URING => pipechain::levent_ring(n, a, w),
                _ => pipechain::levent(n, a, w),
            }?;
            println!("{} {}", r.ns, r.events);
        }
        "timers" => {
            let (n, seed) = (num(args, 2, "N")?, num(args, 3, "SEED")?);
            let f = match impl_ {
                "heap" => timers::heap(n, seed),
                "libevent" => timers::libevent(n, seed).ok_or_else(no_libevent)??,
                _ => timers::levent(n, seed),
            };
            println!("{} {} {}", f.add, f.cancel, f.fire);
        }
        "echo-server" => {
            let (port, secs): (u16, u64) = (num(args, 2, "PORT")?, num(args, 3, "SECS")?);
            levent_hosts::alloc::count_here(true);
            let stats = match impl_ {
                "mio" => echo::mio_server(port, secs),
                _ => echo::levent_server(port, secs, allocations),
            }?;
            println!("stats {} {}", stats.bytes, stats.allocations);
        }
        "echo-idle" => {
            let (port, conns, hold) = (
                num(args, 1, "PORT")?,
                num(args, 2, "CONNS")?,
                num(args, 3, "HOLD")?,
            );
            echo::idle_client(port, conns, hold)?;
        }
        "echo-client" => {
            let (port, conns, size, secs) = (
                num(args, 1, "PORT")?,
                num(args, 2, "CONNS")?,
                num(args, 3, "SIZE")?,
                num(args, 4, "SECS")?,
            );
            let start = std::time::Instant::now();
            let f = echo::client(port, conns, size, secs)?;
            let cores = levent_bench::cpu_seconds(std::process::id())
                .map_or(f64::NAN, |(u, s)| (u + s) / start.elapsed().as_secs_f64());
            println!("{} {} {} {cores}", f.messages, f.mb, f.trips);
        }
        "dispatch" => println!(
            "{}",
            levent_bench::dispatch::run(100, num(args, 1, "ROUNDS")?)
        ),
        "dns" => {
            // One DNS run against levent's server in a thread of this process:
            // `dns IMPL N INFLIGHT` prints `lookups/s allocations-per-lookup` (-1: not counted).
            let (n, inflight) = (num(args, 2, "N")?, num(args, 3, "INFLIGHT")?);
            let served = levent_bench::dns::serve()
                .map_err(|e| io::Error::new(e.kind(), format!("dns server: {e}")))?;
            let run = match impl_ {
                "libevent" => {
                    levent_bench::dns::libevent(served.addr, n, inflight).ok_or_else(no_libevent)?
                }
                _ => levent_bench::dns::levent(served.addr, n, inflight),
            }?;
            let allocs = run
                .allocations
                .map_or(-1.0, |a| a as f64 / run.lookups.max(1) as f64);
            println!("{} {}", run.rate(), allocs);
        }
        "http-serve" => {
            // `http-serve IMPL ADDR [--threads N] [CERT KEY]`: a hello-world server (HTTPS with
            // a certificate chain and key; on N threads) until SIGTERM (see `http::run`).
            let mut rest: Vec<&String> = args.iter().skip(2).collect();
            let mut threads = 1;
            if let Some(at) = rest.iter().position(|a| *a == "--threads") {
                threads = rest
                    .get(at + 1)
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| io::Error::other("--threads needs a number"))?;
                rest.drain(at..at + 2);
            }
            let mut trace = None;
            if let Some(at) = rest.iter().position(|a| *a == "--trace") {
                trace = Some(std::path::PathBuf::from(
                    rest.get(at + 1)
                        .ok_or_else(|| io::Error::other("--trace needs a file"))?,
                ));
                rest.drain(at..at + 2);
            }
            let addr = rest
                .first()
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
            let tls = match (rest.get(1), rest.get(2)) {
                (Some(cert), Some(key)) => Some(levent_bench::http::TlsFiles {
                    cert: cert.into(),
                    key: key.into(),
                }),
                _ => None,
            };
            match impl_ {
                "hyper" => levent_bench::http::serve_hyper(addr, tls.as_ref(), threads),
                levent_bench::http::RECORDING => levent_bench::http::serve_levent(
                    addr,
                    allocations,
                    tls.as_ref(),
                    threads,
                    Some(
                        trace
                            .as_deref()
                            .ok_or_else(|| io::Error::other("recording needs --trace FILE"))?,
                    ),
                ),
                _ => {
                    levent_bench::http::serve_levent(addr, allocations, tls.as_ref(), threads, None)
                }
            }?;
        }
        "allocs" => {
            // Heap allocations per event of the levent pipe chain in its steady state.
            levent_hosts::alloc::count_here(true);
            let (n, a) = (num(args, 1, "N")?, num(args, 2, "A")?);
            let (allocs, run) = pipechain::levent_counting(n, a, 20_000, allocations)?;
            println!("{}", allocs as f64 / run.events.max(1) as f64);
        }
        _ => return Err(io::Error::other("unknown subcommand")),
    }
    Ok(())
}

struct Options {
    quick: bool,
    reps: usize,
    only: Option<Vec<String>>,
    chart: Option<String>,
}

fn wants(o: &Options, name: &str) -> bool {
    o.only.as_ref().is_none_or(|v| v.iter().any(|x| x == name))
}

/// Results: (bench, metric, higher-is-better) -> impl -> values.
type Results = BTreeMap<(String, String, bool), BTreeMap<String, Vec<f64>>>;

fn record(
    res: &mut Results,
    bench: &str,
    metric: &str,
    higher: bool,
    impl_: &str,
    rep: usize,
    v: f64,
) {
    println!(
        "{{\"bench\":\"{bench}\",\"metric\":\"{metric}\",\"impl\":\"{impl_}\",\"rep\":{rep},\"value\":{v:.3}}}"
    );
    res.entry((bench.into(), metric.into(), higher))
        .or_default()
        .entry(impl_.into())
        .or_default()
        .push(v);
}

fn run_self(args: &[&str]) -> io::Result<String> {
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    if let Some(i) = args.get(1) {
        levent_bench::backend_env(&mut cmd, i);
    }
    let out = cmd.args(args).output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn numbers(s: &str) -> Vec<f64> {
    s.split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_or(0, |a| a.port())
}

fn suite(args: &[String]) -> ExitCode {
    let mut o = Options {
        quick: false,
        reps: 5,
        only: None,
        chart: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => {
                o.quick = true;
                o.reps = 1;
            }
            "--reps" => o.reps = it.next().and_then(|s| s.parse().ok()).unwrap_or(5),
            "--only" => o.only = it.next().map(|s| s.split(',').map(String::from).collect()),
            "--chart" => o.chart = it.next().cloned(),
            "--help" | "-h" => {
                println!(
                    "usage: levent-bench [--quick] [--reps N] [--only pipechain,timers,echo,dns,http,http-capped,record,http-threads,https,dispatch,callgrind,syscalls] [--chart FILE.png]"
                );
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("levent-bench: unknown option {other}");
                return ExitCode::from(1);
            }
        }
    }
    let have_libevent = levent_bench::libevent_exe().is_some();
    if !have_libevent {
        println!(
            "# libevent_core was not found by pkg-config when this was built: libevent is skipped"
        );
    }
    let mut res = Results::new();
    let mut failed = false;
    let mut check = |r: io::Result<()>| {
        if let Err(e) = r {
            eprintln!("levent-bench: {e}");
            failed = true;
        }
    };
    let impls: Vec<&str> = if have_libevent {
        vec!["levent", "libevent", "mio"]
    } else {
        vec!["levent", "mio"]
    };
    // The benchmarks of readiness and sockets run levent on the io_uring host too, where the
    // kernel has one.
    let mut io_impls = impls.clone();
    if levent_bench::have_uring() {
        io_impls.insert(1, levent_bench::URING);
    }

    if wants(&o, "pipechain") {
        let configs: &[(usize, usize, usize)] = if o.quick {
            &[(100, 1, 2000)]
        } else {
            // 10,000 pairs need 20,000 descriptors: more than this machine's hard limit allows.
            &[
                (100, 1, 100_000),
                (1000, 100, 200_000),
                (9900, 100, 200_000),
            ]
        };
        for &(n, a, w) in configs {
            let bench = format!("pipe chain N={n} A={a}");
            for rep in 0..o.reps {
                for &i in &io_impls {
                    check(
                        run_self(&[
                            "pipechain",
                            i,
                            &n.to_string(),
                            &a.to_string(),
                            &w.to_string(),
                        ])
                        .map(|s| {
                            let v = numbers(&s);
                            record(
                                &mut res,
                                &bench,
                                "ns/event",
                                false,
                                i,
                                rep,
                                v[0] / v[1].max(1.0),
                            );
                        }),
                    );
                }
            }
        }
    }

    if wants(&o, "callgrind") && runs("valgrind", "--version") {
        let configs: &[(usize, usize)] = if o.quick {
            &[(100, 1)]
        } else {
            &[(1000, 100), (100, 1)]
        };
        for &(n, a) in configs {
            let bench = format!("pipe chain N={n} A={a}");
            for &i in &io_impls {
                check(instructions_per_event(i, n, a, o.quick).map(|v| {
                    record(&mut res, &bench, "instructions/event", false, i, 0, v);
                }));
            }
        }
    }

    if wants(&o, "syscalls") && runs("strace", "-V") {
        let (n, a) = if o.quick { (100, 1) } else { (1000, 100) };
        let bench = format!("pipe chain N={n} A={a}");
        for &i in &io_impls {
            check(syscalls_per_event(i, n, a, o.quick).map(|v| {
                record(&mut res, &bench, "system calls/event", false, i, 0, v);
            }));
        }
    }

    if wants(&o, "timers") {
        let n = if o.quick { 10_000 } else { 1_000_000 };
        let timer_impls: Vec<&str> = impls
            .iter()
            .map(|i| if *i == "mio" { "heap" } else { i })
            .collect();
        for rep in 0..o.reps {
            for &i in &timer_impls {
                check(
                    run_self(&["timers", i, &n.to_string(), &(rep + 1).to_string()]).map(|s| {
                        let v = numbers(&s);
                        let name = if i == "heap" { "mio" } else { i };
                        for (k, metric) in ["ns/add", "ns/cancel", "ns/fire"].iter().enumerate() {
                            record(&mut res, "timers", metric, false, name, rep, v[k]);
                        }
                    }),
                );
            }
        }
    }

    if wants(&o, "echo") {
        let (conns, size, secs) = if o.quick {
            (10, 4096, 2)
        } else {
            (100, 4096, 5)
        };
        for rep in 0..o.reps {
            for &i in &io_impls {
                check(echo_run(i, conns, size, secs).map(|(f, allocs)| {
                    record(&mut res, "echo 100x4KiB", "MB/s", true, i, rep, f.mb);
                    record(
                        &mut res,
                        "echo 100x4KiB",
                        "messages/s",
                        true,
                        i,
                        rep,
                        f.messages,
                    );
                    if f.client_cores.is_finite() {
                        record(
                            &mut res,
                            "echo 100x4KiB",
                            LOAD_CPU,
                            false,
                            i,
                            rep,
                            f.client_cores,
                        );
                    }
                    if let Some((user, system)) = f.cpu_us {
                        let bench = "echo 100x4KiB";
                        record(
                            &mut res,
                            bench,
                            "server user µs/message",
                            false,
                            i,
                            rep,
                            user,
                        );
                        record(
                            &mut res,
                            bench,
                            "server system µs/message",
                            false,
                            i,
                            rep,
                            system,
                        );
                    }
                    if let Some(a) = allocs {
                        record(
                            &mut res,
                            "echo 100x4KiB",
                            "allocations/message",
                            false,
                            i,
                            rep,
                            a,
                        );
                    }
                }));
            }
        }
    }

    if wants(&o, "echo") {
        // 10,000 connections at once: throughput, and the server's resident memory per
        // connection (its peak RSS while loaded, less its RSS when it was ready, over 10,000).
        #[cfg(unix)]
        let _ = levent_hosts::unix::raise_fd_limit(2 * ECHO_MANY as u64 + 1024);
        let (conns, secs) = if o.quick { (1000, 2) } else { (ECHO_MANY, 6) };
        let bench = "echo 10000x4KiB";
        for rep in 0..o.reps.min(3) {
            for &i in &io_impls {
                check(echo_run(i, conns, 4096, secs).map(|(f, _)| {
                    record(&mut res, bench, "messages/s", true, i, rep, f.messages);
                    if let Some(kib) = f.rss_kib {
                        let per = kib * 1024.0 / conns as f64;
                        record(&mut res, bench, "bytes/connection", false, i, rep, per);
                    }
                }));
            }
        }
    }

    if wants(&o, "echo") {
        // 10,000 idle connections: the server's resident memory once each has been served one
        // 64-byte message and all sit idle, less its memory when it was ready, over 10,000.
        let conns = if o.quick { 1000 } else { ECHO_MANY };
        for rep in 0..o.reps.min(3) {
            for &i in &io_impls {
                check(echo_idle_run(i, conns).map(|bytes| {
                    let bench = "echo 10000 idle";
                    record(
                        &mut res,
                        bench,
                        "bytes/idle connection",
                        false,
                        i,
                        rep,
                        bytes,
                    );
                }));
            }
        }
    }

    if wants(&o, "dns") {
        let (n, inflight) = if o.quick { (500, 20) } else { (10_000, 100) };
        let dns_impls: Vec<&str> = impls.iter().copied().filter(|i| *i != "mio").collect();
        for rep in 0..o.reps {
            for &i in &dns_impls {
                check(
                    run_self(&["dns", i, &n.to_string(), &inflight.to_string()]).map(|s| {
                        let v = numbers(&s);
                        record(
                            &mut res,
                            "dns 10k A, 100 in flight",
                            "lookups/s",
                            true,
                            i,
                            rep,
                            v[0],
                        );
                        if v[1] >= 0.0 {
                            record(
                                &mut res,
                                "dns 10k A, 100 in flight",
                                "allocations/lookup",
                                false,
                                i,
                                rep,
                                v[1],
                            );
                        }
                    }),
                );
            }
        }
    }

    if wants(&o, "http") {
        if !have("wrk") {
            println!("# wrk is not on the path: the HTTP benchmark is skipped");
        } else {
            let secs = if o.quick { 2 } else { 10 };
            let plain = levent_bench::http::Mode::default();
            check(http_bench(
                &mut res,
                &o,
                secs,
                "http hello, 50 keep-alive conns",
                &plain,
            ));
        }
    }

    if wants(&o, "http-capped") {
        if !have("wrk") {
            println!("# wrk is not on the path: the capped HTTP benchmark is skipped");
        } else {
            let secs = if o.quick { 2 } else { 10 };
            let mode = levent_bench::http::Mode {
                cpu_cap: Some(HTTP_CAP),
                ..levent_bench::http::Mode::default()
            };
            let bench = format!("http hello, 50 keep-alive conns, server held to {HTTP_CAP} core");
            let probe = format!("levent-bench-probe-{}", std::process::id());
            match levent_bench::CpuCap::new(&probe, HTTP_CAP) {
                Ok(_) => check(http_bench(&mut res, &o, secs, &bench, &mode)),
                Err(e) => println!(
                    "# no CPU cap for the servers ({e}; it needs root and the cgroup cpu \
                     controller): the capped HTTP benchmark is skipped"
                ),
            }
        }
    }

    if wants(&o, "record") {
        if !have("wrk") {
            println!("# wrk is not on the path: the recording benchmark is skipped");
        } else {
            let secs = if o.quick { 2 } else { 10 };
            // --quick checks that recording works, not what it costs: its trace goes nowhere
            // (a real run writes hundreds of megabytes).
            let trace = if o.quick && cfg!(unix) {
                std::path::PathBuf::from("/dev/null")
            } else {
                std::env::temp_dir().join(format!("levent-bench-{}.trace", std::process::id()))
            };
            let mode = levent_bench::http::Mode {
                record: Some(trace),
                ..levent_bench::http::Mode::default()
            };
            let bench = "http hello, 50 keep-alive conns, recording";
            check(http_bench(&mut res, &o, secs, bench, &mode));
        }
    }

    if wants(&o, "http-threads") {
        if !have("wrk") {
            println!("# wrk is not on the path: the threaded HTTP benchmark is skipped");
        } else {
            let secs = if o.quick { 2 } else { 10 };
            let mode = levent_bench::http::Mode {
                threads: 2,
                conns: 1000,
                wrk_threads: 2,
                ..levent_bench::http::Mode::default()
            };
            let bench = "http hello, 1000 keep-alive conns, 2 server threads";
            check(http_bench(&mut res, &o, secs, bench, &mode));
        }
    }

    if wants(&o, "https") {
        if !have("wrk") {
            println!("# wrk is not on the path: the HTTPS benchmark is skipped");
        } else {
            let secs = if o.quick { 2 } else { 10 };
            let dir = std::env::temp_dir().join(format!("levent-bench-tls-{}", std::process::id()));
            match levent_bench::http::TlsFiles::generate(&dir) {
                Ok(files) => {
                    let mut mode = levent_bench::http::Mode {
                        tls: Some(files),
                        ..levent_bench::http::Mode::default()
                    };
                    let bench = "https hello, 50 keep-alive conns";
                    check(http_bench(&mut res, &o, secs, bench, &mode));
                    mode.close = true;
                    let bench = "https handshakes, Connection: close";
                    check(http_bench(&mut res, &o, secs, bench, &mode));
                }
                Err(e) => println!("# https: cannot make a certificate: {e}"),
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    if wants(&o, "dispatch") || wants(&o, "allocs") {
        let (n, a) = if o.quick { (100, 1) } else { (1000, 100) };
        check(
            run_self(&["allocs", &n.to_string(), &a.to_string()]).map(|s| {
                let v = numbers(&s);
                record(
                    &mut res,
                    &format!("pipe chain N={n} A={a}"),
                    "allocations/event",
                    false,
                    "levent",
                    0,
                    v[0],
                );
            }),
        );
    }

    table(&res);
    if let Some(path) = &o.chart {
        if let Err(e) = levent_bench::chart::draw(path, &ratios(&res)) {
            eprintln!("levent-bench: chart: {e}");
            failed = true;
        } else {
            println!("# chart written to {path}");
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Whether `tool` runs and says its version with `flag`.
fn runs(tool: &str, flag: &str) -> bool {
    Command::new(tool)
        .arg(flag)
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A count per event of the pipe chain of `impl_` at (`n`, `a`) under `tool` (a command and its
/// arguments, the pipe chain's own command line after them): the difference of two runs that
/// differ only in the number of writes, so set-up (socket pairs, registrations) cancels out.
/// `total` reads a run's count from its output.
fn per_event(
    impl_: &str,
    (n, a): (usize, usize),
    quick: bool,
    tool: &[&std::ffi::OsStr],
    total: &dyn Fn(&std::process::Output) -> Option<f64>,
) -> io::Result<f64> {
    let (w1, w2) = if quick {
        (1000, 2000)
    } else {
        (20_000, 40_000)
    };
    let mut counts = vec![];
    for w in [w1, w2] {
        let mut cmd = Command::new(tool[0]);
        cmd.args(&tool[1..]);
        levent_bench::backend_env(&mut cmd, impl_);
        if impl_ == "libevent" {
            cmd.arg(levent_bench::libevent_exe().ok_or_else(no_libevent)?)
                .arg("pipechain");
        } else {
            cmd.arg(std::env::current_exe()?).args(["pipechain", impl_]);
        }
        cmd.args([n.to_string(), a.to_string(), w.to_string()]);
        let out = cmd.output()?;
        let count = total(&out)
            .ok_or_else(|| io::Error::other(format!("no total from {:?} for {impl_}", tool[0])))?;
        let events = numbers(&String::from_utf8_lossy(&out.stdout))
            .get(1)
            .copied()
            .unwrap_or(0.0);
        counts.push((count, events));
    }
    Ok((counts[1].0 - counts[0].0) / (counts[1].1 - counts[0].1).max(1.0))
}

/// System calls per event, from `strace -f -c` (see [`per_event`]).
fn syscalls_per_event(impl_: &str, n: usize, a: usize, quick: bool) -> io::Result<f64> {
    let table = std::env::temp_dir().join(format!("levent-bench-strace-{}", std::process::id()));
    let tool = [
        "strace".as_ref(),
        "-f".as_ref(),
        "-c".as_ref(),
        "-o".as_ref(),
        table.as_os_str(),
    ];
    let calls = per_event(impl_, (n, a), quick, &tool, &|_| {
        std::fs::read_to_string(&table)
            .ok()?
            .lines()
            .find(|l| l.trim_end().ends_with("total"))
            // % time, seconds, usecs/call, calls, errors, "total"
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|c| c.parse::<f64>().ok())
    });
    let _ = std::fs::remove_file(&table);
    calls
}

/// One HTTP benchmark under wrk (see `levent_bench::http::run`), recorded as `bench`: requests
/// (connections, with `Connection: close`) per second, p99 and levent's allocations per request.
fn http_bench(
    res: &mut Results,
    o: &Options,
    secs: u32,
    bench: &str,
    mode: &levent_bench::http::Mode,
) -> io::Result<()> {
    let all = std::env::current_exe()
        .and_then(|exe| levent_bench::http::run(&exe, secs, o.reps, mode))
        .map_err(|e| io::Error::new(e.kind(), format!("{bench}: {e}")))?;
    let per_second = if mode.close {
        "connections/s"
    } else {
        "requests/s"
    };
    for f in all {
        let i = f.name.split_whitespace().next().unwrap_or("?");
        for (rep, w) in f.rounds.iter().enumerate() {
            record(res, bench, per_second, true, i, rep, w.rps);
            record(res, bench, "p99 µs", false, i, rep, w.p99_us);
            if w.cpu_cores.is_finite() {
                record(res, bench, LOAD_CPU, false, i, rep, w.cpu_cores);
            }
        }
        if let Some(a) = f.allocs_per_request {
            record(res, bench, "allocations/request", false, i, 0, a);
        }
        for (rep, &(user, system)) in f.cpu_us.iter().enumerate() {
            record(res, bench, "server user µs/request", false, i, rep, user);
            record(
                res,
                bench,
                "server system µs/request",
                false,
                i,
                rep,
                system,
            );
        }
    }
    Ok(())
}

/// The CPU budget of each server in the capped HTTP benchmark, in cores: low enough that
/// wrk's one thread, with a core of its own, never sets the pace.
const HTTP_CAP: f64 = 0.5;

/// The metric of the load generator's own CPU time over its run, in cores: at 1.0 a one-thread
/// client was busy all the time, so it, not the server, set the pace. Not a standing of the
/// servers: no ratio, not in the chart.
const LOAD_CPU: &str = "load generator CPU, cores";

/// Whether `tool` can be started (wrk has no option that exits 0 without a URL).
fn have(tool: &str) -> bool {
    Command::new(tool)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// User-space instructions per event, from callgrind (see [`per_event`]).
fn instructions_per_event(impl_: &str, n: usize, a: usize, quick: bool) -> io::Result<f64> {
    let tool = [
        "valgrind".as_ref(),
        "--tool=callgrind".as_ref(),
        "--callgrind-out-file=/dev/null".as_ref(),
    ];
    per_event(impl_, (n, a), quick, &tool, &|out| {
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .find_map(|l| l.split("Collected :").nth(1))
            .and_then(|s| s.trim().parse::<f64>().ok())
    })
}

/// Connections of the many-connection echo run.
const ECHO_MANY: usize = 10_000;

/// The resident memory of process `pid`, KiB (Linux; `None` elsewhere).
fn rss_kib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// One echo run: start the server in a child process, load it, collect both sides (and how much
/// the server's resident memory grew under the load, sampled every 100 ms).
fn echo_run(
    impl_: &str,
    conns: usize,
    size: usize,
    secs: u64,
) -> io::Result<(echo::EchoFigures, Option<f64>)> {
    let port = free_port();
    let server_secs = (secs + 3).to_string();
    let mut cmd = if impl_ == "libevent" {
        let mut c = Command::new(levent_bench::libevent_exe().ok_or_else(no_libevent)?);
        c.args(["echo-server", &port.to_string(), &server_secs]);
        c
    } else {
        let mut c = Command::new(std::env::current_exe()?);
        levent_bench::backend_env(&mut c, impl_);
        c.args(["echo-server", impl_, &port.to_string(), &server_secs]);
        c
    };
    let mut child = cmd.stdout(Stdio::piped()).spawn()?;
    let mut out = std::io::BufReader::new(
        child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no server output"))?,
    );
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line)?;
    if line.trim() != "ready" {
        let _ = child.kill();
        return Err(io::Error::other(format!(
            "{impl_} echo server did not start: {line:?}"
        )));
    }
    let pid = child.id();
    let ready_kib = rss_kib(pid);
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        std::thread::spawn(move || {
            let mut peak: Option<f64> = None;
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(k) = rss_kib(pid) {
                    peak = Some(peak.map_or(k, |p: f64| p.max(k)));
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            peak
        })
    };
    let cpu_before = levent_bench::cpu_seconds(pid);
    let client = run_self(&[
        "echo-client",
        &port.to_string(),
        &conns.to_string(),
        &size.to_string(),
        &secs.to_string(),
    ]);
    let cpu_after = levent_bench::cpu_seconds(pid);
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let peak_kib = sampler.join().ok().flatten();
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut out, &mut rest);
    let _ = child.wait();
    let v = numbers(&client?);
    let trips = v.get(2).copied().unwrap_or(0.0);
    let figures = echo::EchoFigures {
        messages: v[0],
        mb: v[1],
        trips: trips as u64,
        rss_kib: peak_kib.zip(ready_kib).map(|(p, r)| p - r),
        cpu_us: levent_bench::cpu_per(cpu_before, cpu_after, trips),
        client_cores: v.get(3).copied().unwrap_or(f64::NAN),
    };
    let allocs = rest
        .lines()
        .find_map(|l| l.strip_prefix("stats "))
        .map(numbers)
        .and_then(|s| (impl_ == "levent" && s[0] > 0.0).then(|| s[1] / (s[0] / size as f64)));
    Ok((figures, allocs))
}

/// The echo server of `impl_` holding `conns` idle connections (see `echo::idle_client`): how
/// many bytes of resident memory each costs it.
fn echo_idle_run(impl_: &str, conns: usize) -> io::Result<f64> {
    let port = free_port();
    let mut cmd = if impl_ == "libevent" {
        let mut c = Command::new(levent_bench::libevent_exe().ok_or_else(no_libevent)?);
        c.args(["echo-server", &port.to_string(), "60"]);
        c
    } else {
        let mut c = Command::new(std::env::current_exe()?);
        levent_bench::backend_env(&mut c, impl_);
        c.args(["echo-server", impl_, &port.to_string(), "60"]);
        c
    };
    let mut server = cmd.stdout(Stdio::piped()).spawn()?;
    let mut out = std::io::BufReader::new(
        server
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no server output"))?,
    );
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line)?;
    let result = (|| {
        if line.trim() != "ready" {
            return Err(io::Error::other(format!(
                "{impl_} echo server did not start: {line:?}"
            )));
        }
        let ready = rss_kib(server.id());
        let mut client = Command::new(std::env::current_exe()?)
            .args(["echo-idle", &port.to_string(), &conns.to_string(), "3"])
            .stdout(Stdio::piped())
            .spawn()?;
        let mut said = String::new();
        if let Some(o) = client.stdout.take() {
            std::io::BufRead::read_line(&mut std::io::BufReader::new(o), &mut said)?;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
        let idle = rss_kib(server.id());
        let _ = client.kill();
        let _ = client.wait();
        if said.trim() != "idle" {
            return Err(io::Error::other("the idle client did not get every echo"));
        }
        let (Some(idle), Some(ready)) = (idle, ready) else {
            return Err(io::Error::other("no resident memory figure (not Linux?)"));
        };
        Ok((idle - ready) * 1024.0 / conns as f64)
    })();
    let _ = server.kill();
    let _ = server.wait();
    result
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn fmt(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// The Rust peer of a benchmark: mio, or hyper for HTTP (the timers' heap is recorded as mio).
fn peer(by: &BTreeMap<String, Vec<f64>>) -> Option<&Vec<f64>> {
    by.get("mio")
        .or_else(|| by.get("hyper"))
        .or_else(|| by.get(levent_bench::http::RECORDING))
}

/// levent's standing per (bench, metric): (label, levent/libevent, levent/peer), where a ratio
/// below 1 is better for levent whatever the metric's direction.
fn ratios(res: &Results) -> Vec<(String, Option<f64>, Option<f64>)> {
    res.iter()
        // levent against itself recording is no standing against a peer.
        .filter(|(_, by)| !by.contains_key(levent_bench::http::RECORDING))
        .filter(|((_, metric, _), _)| metric != LOAD_CPU)
        .filter_map(|((bench, metric, higher), by)| {
            let l = median(by.get("levent")?);
            let r = |other: Option<&Vec<f64>>| {
                other
                    .map(|v| median(v))
                    .filter(|m| *m > 0.0)
                    .map(|m| if *higher { m / l } else { l / m })
            };
            Some((
                format!("{bench} {metric}"),
                r(by.get("libevent")),
                r(peer(by)),
            ))
        })
        .collect()
}

fn table(res: &Results) {
    println!();
    println!(
        "| benchmark | metric | levent | levent io_uring | libevent | mio (hyper for http; levent recording) | levent/libevent | levent/peer | io_uring/peer |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for ((bench, metric, higher), by) in res {
        let cell = |v: Option<&Vec<f64>>| match v {
            Some(v) if v.len() > 1 => {
                let (lo, hi) = v
                    .iter()
                    .fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(*x), b.max(*x)));
                format!("{} ({}–{})", fmt(median(v)), fmt(lo), fmt(hi))
            }
            Some(v) => fmt(median(v)),
            None => "–".into(),
        };
        // The load generator's CPU is what the client did, not a standing of the servers.
        let standing = metric != LOAD_CPU;
        let ratio_of = |l: Option<&Vec<f64>>, o: Option<&Vec<f64>>| match (l, o) {
            (Some(l), Some(o)) if standing && median(o) > 0.0 => {
                format!("{:.2}", median(l) / median(o))
            }
            _ => "–".into(),
        };
        let ratio = |o| ratio_of(by.get("levent"), o);
        let uring = by.get(levent_bench::URING);
        let dir = if *higher { "↑" } else { "↓" };
        println!(
            "| {bench} | {metric} {dir} | {} | {} | {} | {} | {} | {} | {} |",
            cell(by.get("levent")),
            cell(uring),
            cell(by.get("libevent")),
            cell(peer(by)),
            ratio(by.get("libevent")),
            ratio(peer(by)),
            ratio_of(uring, peer(by))
        );
    }
}
