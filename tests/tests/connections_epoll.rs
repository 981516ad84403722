//! Buffered connections and listeners on epoll, over loopback TCP.
#![cfg(target_os = "linux")]

levent_tests::connection_suite!(
    levent_tests::net::OsNet<levent_hosts::epoll::Epoll>,
    1000,
    100
);
