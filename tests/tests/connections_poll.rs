//! Buffered connections and listeners on poll, over loopback TCP.
#![cfg(unix)]

levent_tests::connection_suite!(
    levent_tests::net::OsNet<levent_hosts::poll::Poll>,
    1000,
    100
);
