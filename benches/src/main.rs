//! The benchmark runner.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("dispatch") {
        let rounds = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1000);
        println!("{}", levent_bench::dispatch::run(100, rounds));
        return;
    }
    for seed in 1..=5 {
        let f = levent_bench::timers::levent(levent_bench::timers::N, seed);
        println!(
            "timers: add {:.1} ns, cancel {:.1} ns, fire {:.1} ns",
            f.add, f.cancel, f.fire
        );
    }
}
