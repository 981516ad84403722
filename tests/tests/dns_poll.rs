//! The DNS resolver and server on poll, over loopback UDP and TCP.
#![cfg(unix)]

levent_tests::dns_suite!(levent_tests::dns::OsDns<levent_hosts::poll::Poll>);
