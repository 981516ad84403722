//! Builds `libevent-bench`, the libevent side of the benchmarks (C, in `c/`), against
//! `pkg-config libevent_core` (and `libevent_extra`, for evhttp) when it is installed, and tells
//! the runner where it is through `LEVENT_BENCH_LIBEVENT`. Without libevent the suite says so and
//! runs the rest.

use std::path::PathBuf;

fn main() {
    println!("cargo::rerun-if-changed=c");
    println!("cargo::rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("libevent-bench");
    let found = pkg_config::Config::new()
        .atleast_version("2.1")
        .cargo_metadata(false)
        .probe("libevent_core");
    // evhttp lives in libevent_extra; without it the HTTP benchmark's libevent side is skipped.
    let extra = pkg_config::Config::new()
        .atleast_version("2.1")
        .cargo_metadata(false)
        .probe("libevent_extra")
        .ok();
    let built = match found {
        Ok(lib) => {
            let mut cmd = cc::Build::new().opt_level(2).get_compiler().to_command();
            for dir in &lib.include_paths {
                cmd.arg("-I").arg(dir);
            }
            cmd.args(["-o"]).arg(&out);
            for f in ["c/main.c", "c/pipechain.c"] {
                cmd.arg(f);
            }
            if extra.is_some() {
                cmd.arg("c/http.c");
            } else {
                cmd.arg("-DLEVENT_NO_EVHTTP");
            }
            for dir in &lib.link_paths {
                cmd.arg("-L").arg(dir);
            }
            for l in extra.iter().flat_map(|e| &e.libs).chain(&lib.libs) {
                cmd.arg(format!("-l{l}"));
            }
            match cmd.status() {
                Ok(s) if s.success() => true,
                other => {
                    println!("cargo::warning=building libevent-bench failed: {other:?}");
                    false
                }
            }
        }
        Err(e) => {
            println!("cargo::warning=libevent_core not found ({e}): libevent will be skipped");
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
