//! The host conformance suite on Linux's io_uring.
#![cfg(target_os = "linux")]

levent_tests::conformance_suite!(levent_tests::OsWorld<levent_hosts::uring::Uring>);
