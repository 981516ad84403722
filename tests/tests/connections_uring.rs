//! Buffered connections and listeners on io_uring, over loopback TCP.
#![cfg(target_os = "linux")]

levent_tests::connection_suite!(
    levent_tests::net::OsNet<levent_hosts::uring::Uring>,
    1000,
    100
);
