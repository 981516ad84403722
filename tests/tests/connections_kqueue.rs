//! Buffered connections and listeners on kqueue, over loopback TCP (macOS and the BSDs; compiled
//! and linted here, run there).
#![cfg(any(
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly"
))]

levent_tests::connection_suite!(
    levent_tests::net::OsNet<levent_hosts::kqueue::Kqueue>,
    1000,
    100
);
