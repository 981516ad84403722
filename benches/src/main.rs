//! The benchmark runner.

use levent_bench::pipechain;
use std::alloc::{GlobalAlloc, Layout, System};

/// The system allocator, counting allocations on the threads that ask for it (the DNS
/// benchmark's allocations per lookup).
struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so `System`'s
// guarantees hold; the counting touches only an atomic and a const-initialised thread-local.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        levent_bench::dns::record_allocation();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which is `System`'s.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        levent_bench::dns::record_allocation();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        levent_bench::dns::record_allocation();
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract, which is `System`'s.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract, which is `System`'s.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// `dns [levent|libevent|both] [N] [INFLIGHT]`: the DNS benchmark, five alternating rounds of
/// each, then the medians.
fn dns(which: &str, n: usize, inflight: usize) -> Result<(), String> {
    let served = levent_bench::dns::serve().map_err(|e| format!("dns server: {e}"))?;
    let (mut lev, mut lib) = (vec![], vec![]);
    for round in 1..=5 {
        if which != "libevent" {
            let r = levent_bench::dns::levent(served.addr, n, inflight)
                .map_err(|e| format!("levent: {e}"))?;
            println!(
                "dns {round}: levent   {:>8.0} lookups/s, {:>5.2} us CPU/lookup, {:.3} allocations/lookup ({} answered)",
                r.rate(),
                r.cpu_per_lookup_us().unwrap_or(f64::NAN),
                r.allocations.unwrap_or(0) as f64 / r.lookups.max(1) as f64,
                r.lookups
            );
            lev.push(r);
        }
        if which != "levent" {
            match levent_bench::dns::libevent(served.addr, n, inflight) {
                Some(Ok(r)) => {
                    println!(
                        "dns {round}: libevent {:>8.0} lookups/s, {:>5.2} us CPU/lookup ({} answered)",
                        r.rate(),
                        r.cpu_per_lookup_us().unwrap_or(f64::NAN),
                        r.lookups
                    );
                    lib.push(r);
                }
                Some(Err(e)) => return Err(format!("libevent: {e}")),
                None => println!("dns {round}: libevent not built (libevent not installed)"),
            }
        }
    }
    let median = |runs: &[levent_bench::dns::DnsRun],
                  f: &dyn Fn(&levent_bench::dns::DnsRun) -> f64| {
        let mut v: Vec<f64> = runs.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    for (name, runs) in [("levent", &lev), ("libevent", &lib)] {
        if !runs.is_empty() {
            println!(
                "dns median: {name:<8} {:>8.0} lookups/s, {:>5.2} us CPU/lookup",
                median(runs, &|r| r.rate()),
                median(runs, &|r| r.cpu_per_lookup_us().unwrap_or(f64::NAN))
            );
        }
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let num = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    match args.get(1).map(String::as_str) {
        Some("dns") => {
            let which = args.get(2).map_or("both", String::as_str);
            if let Err(e) = dns(which, num(3, 10_000), num(4, 100)) {
                eprintln!("dns: {e}");
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
