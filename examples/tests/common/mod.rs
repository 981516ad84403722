//! What the process-level tests share: the path of a built example.

use std::path::PathBuf;

/// The example binary `name`, which `cargo test` builds next to the test:
/// `target/<profile>/deps/<test>-<hash>` -> `target/<profile>/examples/<name>`.
pub(crate) fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{} not built (cargo test builds the examples)",
        path.display()
    );
    path
}
