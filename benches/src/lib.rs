//! levent's benchmarks. Run them all with `cargo run --release -p levent-bench`.

pub mod dispatch;
pub mod timers;
