//! The benchmark runner.

use levent_bench::pipechain;

fn main() {
    // Engines sized for 16K sources (a few MiB) are built on the stack before they are boxed:
    // more than the 1 MiB main thread of a Windows program has.
    let runner = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(run)
        .map(std::thread::JoinHandle::join);
    if !matches!(runner, Ok(Ok(()))) {
        std::process::exit(1);
    }
}

fn run() {
    let args: Vec<String> = std::env::args().collect();
    let num = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    match args.get(1).map(String::as_str) {
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
