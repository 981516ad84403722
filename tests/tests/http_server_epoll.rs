//! The HTTP server on epoll, over loopback TCP.
#![cfg(target_os = "linux")]

levent_tests::http_server_suite!(levent_tests::net::OsNet<levent_hosts::epoll::Epoll>);
levent_tests::http_client_suite!(levent_tests::net::OsNet<levent_hosts::epoll::Epoll>);
