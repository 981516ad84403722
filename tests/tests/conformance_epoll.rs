//! The host conformance suite on Linux's epoll.
#![cfg(target_os = "linux")]

levent_tests::conformance_suite!(levent_tests::OsWorld<levent_hosts::epoll::Epoll>);
