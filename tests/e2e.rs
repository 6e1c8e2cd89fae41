//! End-to-end tests: each drives the freshly built `memmon` binary.
#![allow(clippy::unwrap_used)] // a panic in a test harness is a failed test

#[test]
fn version_prints() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_memmon"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("memmon"));
}
