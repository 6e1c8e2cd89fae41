//! End-to-end tests: each drives the freshly built `memmon` binary.

#[test]
fn version_prints() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_memmon"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("memmon"));
}
