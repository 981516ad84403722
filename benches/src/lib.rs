//! levent's benchmarks, side by side with libevent 2.1 and raw mio 1.x. Run the whole suite with
//! `cargo run --release -p levent-bench`; see BENCHMARKS.md.

pub mod chart;
pub mod dispatch;
pub mod dns;
pub mod echo;
pub mod http;
pub mod pipechain;
pub mod timers;

use std::io;
use std::path::PathBuf;

/// levent on the io_uring host: the `levent` code of each benchmark, run in a process whose
/// `LEVENT_BACKEND` is `io_uring`, so `levent_hosts::default_host()` makes that host.
pub const URING: &str = "levent-uring";

/// Whether this machine's kernel gives an io_uring host (Linux 5.11 or newer, no seccomp filter
/// against it).
pub fn have_uring() -> bool {
    #[cfg(target_os = "linux")]
    return levent_hosts::uring::Uring::new().is_ok();
    #[cfg(not(target_os = "linux"))]
    return false;
}

/// Set what a benchmark process of implementation `impl_` needs in its environment: the
/// io_uring backend for [`URING`], nothing for the others.
pub fn backend_env<'a>(
    cmd: &'a mut std::process::Command,
    impl_: &str,
) -> &'a mut std::process::Command {
    if impl_ == URING {
        cmd.env("LEVENT_BACKEND", "io_uring");
    }
    cmd
}

/// The libevent side of the suite, if it was built (libevent installed at build time).
pub fn libevent_exe() -> Option<PathBuf> {
    let p = env!("LEVENT_BENCH_LIBEVENT");
    (!p.is_empty()).then(|| PathBuf::from(p))
}

/// Run the C benchmark program with `args`; it prints `nanoseconds events`.
pub fn run_c(exe: &std::path::Path, args: &[&str]) -> io::Result<pipechain::Run> {
    let out = std::process::Command::new(exe).args(args).output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "libevent-bench {args:?} failed: {}",
            out.status
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace().map(|s| s.parse::<u64>());
    match (it.next(), it.next()) {
        (Some(Ok(ns)), Some(Ok(events))) => Ok(pipechain::Run { ns, events }),
        _ => Err(io::Error::other(format!("libevent-bench printed {text:?}"))),
    }
}

/// The CPU time process `pid` has used so far, all its threads together: (user, system)
/// seconds, from `/proc/PID/stat` (Linux; `None` elsewhere). A server's difference across a
/// run, divided by the work done, shows how much of each request is the program's own
/// (user) and how much is the kernel's (system): where loopback TCP is most of the cost, no
/// event loop can be much faster than another.
pub fn cpu_seconds(pid: u32) -> Option<(f64, f64)> {
    proc_stat(pid).map(|(_, user, system)| (user, system))
}

/// The CPU seconds (user, system) of child `pid` once it has exited and before it is reaped
/// (its `/proc` entry then holds its final times); waits up to a second for the exit.
pub fn exited_cpu(pid: u32) -> Option<(f64, f64)> {
    for _ in 0..100 {
        let (state, user, system) = proc_stat(pid)?;
        if state == "Z" {
            return Some((user, system));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    None
}

/// Process `pid`'s state and CPU seconds (user, system), from `/proc/PID/stat`.
fn proc_stat(pid: u32) -> Option<(String, f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name (which may hold spaces and parentheses): state is field 3, utime
    // and stime are fields 14 and 15.
    let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
    let state = fields.next()?.to_string();
    let mut times = fields.skip(10);
    let user: f64 = times.next()?.parse().ok()?;
    let system: f64 = times.next()?.parse().ok()?;
    let hz = clock_ticks();
    Some((state, user / hz, system / hz))
}

/// The unit of `/proc` CPU times (`getconf CLK_TCK`; 100, the kernel's USER_HZ, if that fails).
fn clock_ticks() -> f64 {
    static HZ: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *HZ.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .filter(|&hz: &f64| hz > 0.0)
            .unwrap_or(100.0)
    })
}

/// Server CPU microseconds (user, system) per unit of work between two [`cpu_seconds`] samples.
pub fn cpu_per(
    before: Option<(f64, f64)>,
    after: Option<(f64, f64)>,
    work: f64,
) -> Option<(f64, f64)> {
    let ((u0, s0), (u1, s1)) = (before?, after?);
    (work > 0.0).then(|| ((u1 - u0) * 1e6 / work, (s1 - s0) * 1e6 / work))
}

/// A CPU budget that holds the processes put in it to `share` of one core, with the kernel's
/// CFS bandwidth control in a cgroup of its own (cgroup v2's `cpu.max`, or v1's cpu
/// controller). A benchmark that gives every server the same budget lets the server, not a
/// one-thread load generator, set the pace: its requests per second are then what that budget
/// buys. Needs root (writing to `/sys/fs/cgroup`); the cgroup is removed when dropped, once its
/// processes have exited.
#[derive(Debug)]
pub struct CpuCap {
    dir: PathBuf,
}

impl CpuCap {
    /// A new cgroup `name` capped at `share` cores (0.5: half of one core).
    ///
    /// # Errors
    ///
    /// Not root, no cgroup file system with the cpu controller, or `share` not positive.
    pub fn new(name: &str, share: f64) -> io::Result<CpuCap> {
        const PERIOD_US: u64 = 100_000;
        if share.is_nan() || share <= 0.0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a CPU share must be positive",
            ));
        }
        let quota = ((share * PERIOD_US as f64) as u64).max(1_000);
        let v2 = std::path::Path::new("/sys/fs/cgroup");
        let v2_cpu = std::fs::read_to_string(v2.join("cgroup.controllers"))
            .is_ok_and(|c| c.split_whitespace().any(|c| c == "cpu"));
        let (parent, files) = if v2_cpu {
            // The root's children get the cpu controller only once it is enabled for them.
            let _ = std::fs::write(v2.join("cgroup.subtree_control"), "+cpu");
            (
                v2.to_path_buf(),
                vec![("cpu.max", format!("{quota} {PERIOD_US}"))],
            )
        } else {
            let files = vec![
                ("cpu.cfs_period_us", PERIOD_US.to_string()),
                ("cpu.cfs_quota_us", quota.to_string()),
            ];
            (v2.join("cpu"), files)
        };
        let dir = parent.join(name);
        std::fs::create_dir(&dir)?;
        let cap = CpuCap { dir };
        for (file, value) in files {
            // The kernel makes these files in a new cgroup; a plain directory has none (and a
            // file written there would cap nothing).
            let path = cap.dir.join(file);
            if !path.exists() {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!(
                        "{} is not a cgroup with the cpu controller",
                        parent.display()
                    ),
                ));
            }
            std::fs::write(path, value)?;
        }
        Ok(cap)
    }

    /// Put process `pid` (all its threads, and the ones it starts later) under the cap.
    ///
    /// # Errors
    ///
    /// The process is gone, or the cgroup refuses it.
    pub fn add(&self, pid: u32) -> io::Result<()> {
        std::fs::write(self.dir.join("cgroup.procs"), pid.to_string())
    }
}

impl Drop for CpuCap {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}
