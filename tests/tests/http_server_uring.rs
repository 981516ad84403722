//! The HTTP server on io_uring, over loopback TCP.
#![cfg(target_os = "linux")]

levent_tests::http_server_suite!(levent_tests::net::OsNet<levent_hosts::uring::Uring>);
levent_tests::http_client_suite!(levent_tests::net::OsNet<levent_hosts::uring::Uring>);

/// The same suites with the streams reading and writing on the ring (`Uring::sockets`).
mod ring_io {
    levent_tests::http_server_suite!(levent_tests::net::OsNet<levent_hosts::uring::Uring, true>);
    levent_tests::http_client_suite!(levent_tests::net::OsNet<levent_hosts::uring::Uring, true>);
}
