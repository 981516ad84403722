//! The HTTP server on io_uring, over loopback TCP.
#![cfg(target_os = "linux")]

levent_tests::http_server_suite!(levent_tests::net::OsNet<levent_hosts::uring::Uring>);
levent_tests::http_client_suite!(levent_tests::net::OsNet<levent_hosts::uring::Uring>);
