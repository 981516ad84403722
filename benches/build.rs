//! Builds `libevent-bench`, the libevent side of the benchmarks (C, in `c/`), against
//! `pkg-config libevent` (core and extra: evdns and evhttp) when it is installed, and tells the
//! runner where it is through `LEVENT_BENCH_LIBEVENT`. Without libevent the suite says so and runs the rest.
//!
//! A cross build (another target than the machine building) skips it without a word: the C
//! program is built for this machine's libevent and run by the runner on this machine, so it
//! would not run where the cross-built runner does.

use std::path::PathBuf;

fn main() {
    println!("cargo::rerun-if-changed=c");
    println!("cargo::rerun-if-changed=build.rs");
    if std::env::var("TARGET").ok() != std::env::var("HOST").ok() {
        println!("cargo::rustc-env=LEVENT_BENCH_LIBEVENT=");
        return;
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("libevent-bench");
    let found = pkg_config::Config::new()
        .atleast_version("2.1")
        .cargo_metadata(false)
        .probe("libevent");
    let built = match found {
        Ok(lib) => {
            let mut cmd = cc::Build::new().opt_level(2).get_compiler().to_command();
            for dir in &lib.include_paths {
                cmd.arg("-I").arg(dir);
            }
            cmd.args(["-o"]).arg(&out);
            for f in [
                "c/main.c",
                "c/pipechain.c",
                "c/timers.c",
                "c/echo.c",
                "c/dns.c",
                "c/http.c",
            ] {
                cmd.arg(f);
            }
            for dir in &lib.link_paths {
                cmd.arg("-L").arg(dir);
            }
            for l in &lib.libs {
                cmd.arg(format!("-l{l}"));
            }
            cmd.arg("-pthread"); // the threaded evhttp server
            match cmd.status() {
                Ok(s) if s.success() => true,
                other => {
                    println!("cargo::warning=building libevent-bench failed: {other:?}");
                    false
                }
            }
        }
        Err(e) => {
            println!("cargo::warning=libevent not found ({e}): libevent will be skipped");
            false
        }
    };
    let path = if built {
        out.display().to_string()
    } else {
        String::new()
    };
    println!("cargo::rustc-env=LEVENT_BENCH_LIBEVENT={path}");
}
