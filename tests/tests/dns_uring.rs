//! The DNS resolver and server on io_uring, over loopback UDP and TCP.
#![cfg(target_os = "linux")]

levent_tests::dns_suite!(levent_tests::dns::OsDns<levent_hosts::uring::Uring>);
