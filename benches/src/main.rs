//! The benchmark runner.

use levent_bench::pipechain;
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use std::alloc::System;

/// Counts allocations, for the HTTP benchmark's allocations per request.
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn allocations() -> u64 {
    let s = GLOBAL.stats();
    (s.allocations + s.reallocations) as u64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let num = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    match args.get(1).map(String::as_str) {
        Some("http") => {
            let exe = std::env::current_exe().unwrap_or_default();
            match levent_bench::http::run(&exe, num(2, 10) as u32, num(3, 3)) {
                Ok(all) => {
                    println!(
                        "wrk -t1 -c50 -d{}s --latency, hello world over keep-alive, one server thread",
                        num(2, 10)
                    );
                    println!(
                        "{:<34} {:>12} {:>10} {:>10} {:>8} {:>14}",
                        "server", "requests/s", "p50 us", "p99 us", "errors", "allocs/request"
                    );
                    for f in &all {
                        let allocs = f
                            .allocs_per_request
                            .map_or("-".to_string(), |a| format!("{a:.4}"));
                        println!(
                            "{:<34} {:>12.0} {:>10.0} {:>10.0} {:>8} {:>14}",
                            f.name, f.wrk.rps, f.wrk.p50_us, f.wrk.p99_us, f.wrk.errors, allocs
                        );
                    }
                    println!(
                        "(medians of {} rounds; each round, requests/s and p99 us:)",
                        num(3, 3)
                    );
                    for f in &all {
                        let r: Vec<String> = f
                            .rounds
                            .iter()
                            .map(|w| format!("{:.0}/{:.0}", w.rps, w.p99_us))
                            .collect();
                        println!("  {:<32} {}", f.name, r.join("  "));
                    }
                }
                Err(e) => {
                    eprintln!("http: {e}");
                    std::process::exit(1);
                }
            }
        }
        Some("http-serve") => {
            let addr = args
                .get(3)
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
            let r = match args.get(2).map(String::as_str) {
                Some("hyper") => levent_bench::http::serve_hyper(addr),
                _ => levent_bench::http::serve_levent(addr, allocations),
            };
            if let Err(e) = r {
                eprintln!("http-serve: {e}");
                std::process::exit(1);
            }
        }
        Some("dispatch") => println!("{}", levent_bench::dispatch::run(100, num(2, 1000))),
        Some("pipechain") => {
            let (n, a, w) = (num(3, 1000), num(4, 100), num(5, 100_000));
            let run = match args.get(2).map(String::as_str) {
                Some("mio") => pipechain::mio(n, a, w),
                Some("libevent") => match pipechain::libevent(n, a, w) {
                    Some(r) => r,
                    None => Err(std::io::Error::other("libevent not built")),
                },
                _ => pipechain::levent(n, a, w),
            };
            match run {
                Ok(r) => println!("{} {}", r.ns, r.events),
                Err(e) => {
                    eprintln!("pipechain: {e}");
                    std::process::exit(1);
                }
            }
        }
        _ => {
            for seed in 1..=3 {
                let f = levent_bench::timers::levent(levent_bench::timers::N, seed);
                println!(
                    "timers: add {:.1} ns, cancel {:.1} ns, fire {:.1} ns",
                    f.add, f.cancel, f.fire
                );
            }
        }
    }
}
