//! `Config::describe`, the output of `memmon check-config`, pinned by snapshots.

use std::path::Path;

use memmon_config::{load, Config};

#[test]
fn describe_defaults() {
    insta::assert_snapshot!(Config::default().describe());
}

#[test]
fn describe_full_config() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/full.json");
    let loaded = load(&path).unwrap();
    insta::assert_snapshot!(loaded.config.describe());
}

#[test]
fn describe_covers_every_field_once() {
    let text = Config::default().describe();
    let keys: Vec<&str> = text
        .lines()
        .map(|l| l.split(" = ").next().unwrap())
        .collect();
    assert_eq!(keys.len(), 25);
    let mut unique = keys.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), keys.len());
}

#[test]
fn describe_keeps_integer_and_decimal_intervals() {
    let c = memmon_config::load_json_str(r#"{"memory_monitor": {"interval": 300.0}}"#, "c")
        .unwrap()
        .config;
    assert!(c.describe().lines().any(|l| l == "interval = 300.0"));
    let c = memmon_config::load_json_str(r#"{"memory_monitor": {"interval": 300}}"#, "c")
        .unwrap()
        .config;
    assert!(c.describe().lines().any(|l| l == "interval = 300"));
}
