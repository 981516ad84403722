//! The host conformance suite on Windows' select backend. CI runs it under wine (see `.ci/run`).
//!
//! Every scenario runs, through `SelectWorld`, where the platform differs from Unix:
//! - socket pairs and pipes are connected loopback TCP sockets (Windows has neither);
//! - edge-triggered events are reported level-triggered, as by `poll` (`edge_triggered()` is
//!   false, so the edge scenario checks nothing there);
//! - the signal scenarios use Ctrl-C, the one console event that can be raised under wine, for
//!   both of their signals, and take turns (`World::signal`). The event is real: it goes through
//!   `GenerateConsoleCtrlEvent` on a console of the test process's own and reaches the host's
//!   `SetConsoleCtrlHandler` handler. Ctrl-Break (`SIGBREAK`) cannot be raised under wine 8, whose
//!   console refuses to generate it, so it is not exercised here.
#![cfg(windows)]

levent_tests::conformance_suite!(levent_tests::SelectWorld);
