//! The HTTP server on poll, over loopback TCP.
#![cfg(unix)]

levent_tests::http_server_suite!(levent_tests::net::OsNet<levent_hosts::poll::Poll>);
levent_tests::http_client_suite!(levent_tests::net::OsNet<levent_hosts::poll::Poll>);
