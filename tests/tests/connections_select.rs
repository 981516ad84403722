//! Buffered connections and listeners on Windows' select backend, over loopback TCP. CI runs it
//! under wine (see `.ci/run`), with 200 echo clients rather than 1,000: every turn of `select`
//! goes through the wine server, whose cost grows with the number of sockets watched.
#![cfg(windows)]

levent_tests::connection_suite!(
    levent_tests::net::OsNet<levent_hosts::select::Select>,
    200,
    100
);
