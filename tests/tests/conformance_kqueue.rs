//! The host conformance suite on kqueue (macOS and the BSDs; compiled and linted here, run there).
#![cfg(any(
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly"
))]

levent_tests::conformance_suite!(levent_tests::OsWorld<levent_hosts::kqueue::Kqueue>);
