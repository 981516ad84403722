//! The DNS resolver and server on the simulated network, on virtual time.

levent_tests::dns_suite!(levent_tests::dns::SimDns);

#[test]
fn lossy_reordering_link_still_answers_every_lookup() {
    levent_tests::dns::lossy_reordering_link_still_answers_every_lookup_sim();
}

#[test]
fn happy_eyeballs_races_past_a_black_holed_ipv6_address() {
    levent_tests::dns::happy_eyeballs_races_past_a_black_holed_ipv6_address_sim();
}
