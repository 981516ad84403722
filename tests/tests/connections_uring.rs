//! Buffered connections and listeners on io_uring, over loopback TCP.
#![cfg(target_os = "linux")]

levent_tests::connection_suite!(
    levent_tests::net::OsNet<levent_hosts::uring::Uring>,
    1000,
    100
);

/// The same scenarios with the streams reading and writing on the ring (`Uring::sockets`).
mod ring_io {
    levent_tests::connection_suite!(
        levent_tests::net::OsNet<levent_hosts::uring::Uring, true>,
        1000,
        100
    );
}
