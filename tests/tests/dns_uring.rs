//! The DNS resolver and server on io_uring, over loopback UDP and TCP.
#![cfg(target_os = "linux")]

levent_tests::dns_suite!(levent_tests::dns::OsDns<levent_hosts::uring::Uring>);

/// The same suite with the TCP streams reading and writing on the ring (`Uring::sockets`).
mod ring_io {
    levent_tests::dns_suite!(levent_tests::dns::OsDns<levent_hosts::uring::Uring, true>);
}
