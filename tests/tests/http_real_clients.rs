//! Real programs on the other end: curl as a client of the server, Python's `http.server` as a
//! server for the client (each skipped, with a line saying so, when not installed).
#![cfg(target_os = "linux")]

use levent_tests::net::OsNet;

#[test]
fn curl_talks_to_the_server_on_epoll() {
    levent_tests::http::curl_talks_to_the_server::<OsNet<levent_hosts::epoll::Epoll>>();
}

#[test]
fn curl_talks_to_the_server_on_poll() {
    levent_tests::http::curl_talks_to_the_server::<OsNet<levent_hosts::poll::Poll>>();
}

#[test]
fn client_fetches_from_python_http_server_on_epoll() {
    levent_tests::http::client_fetches_from_python_http_server::<OsNet<levent_hosts::epoll::Epoll>>(
    );
}

#[test]
fn client_fetches_from_python_http_server_on_poll() {
    levent_tests::http::client_fetches_from_python_http_server::<OsNet<levent_hosts::poll::Poll>>();
}
