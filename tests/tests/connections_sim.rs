//! Buffered connections and listeners on the simulated network.

levent_tests::connection_suite!(levent_tests::net::SimNetWorld, 1000, 100);

#[test]
fn listener_backs_off_when_descriptors_run_out_and_recovers() {
    levent_tests::net::listener_backs_off_when_descriptors_run_out_and_recovers_sim();
}
