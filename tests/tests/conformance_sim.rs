//! The host conformance suite on the simulated network (virtual time).

levent_tests::conformance_suite!(levent_tests::SimWorld);
