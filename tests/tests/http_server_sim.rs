//! The HTTP server on the simulated network.

levent_tests::http_server_suite!(levent_tests::net::SimNetWorld);
levent_tests::http_client_suite!(levent_tests::net::SimNetWorld);
