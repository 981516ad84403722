//! The host conformance suite on the portable poll(2) backend.
#![cfg(unix)]

levent_tests::conformance_suite!(levent_tests::OsWorld<levent_hosts::poll::Poll>);
