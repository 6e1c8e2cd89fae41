//! Loading real files and valid documents: the guide's sample, both formats, every key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use memmon_config::{
    format_of, load, load_bytes, load_json_str, load_toml_str, Config, DetailSourceKind, Format,
    PythonHook,
};
use memmon_core::IntervalSpec;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn guide_sample_json_loads_with_integer_interval() {
    let loaded = load(&fixture("client_config.json")).unwrap();
    assert_eq!(loaded.config.interval, IntervalSpec::Integer(300));
    assert!(loaded.config.enabled);
    assert!(!loaded.config.tracemalloc);
    assert!(loaded.warnings.is_empty());
    assert_eq!(loaded.config, Config::default());
}

#[test]
fn guide_sample_toml_equivalent_loads_the_same() {
    let json = load(&fixture("client_config.json")).unwrap();
    let toml = load(&fixture("memmon.toml")).unwrap();
    assert_eq!(json, toml);
}

#[test]
fn full_config_in_both_formats() {
    let json = load(&fixture("full.json")).unwrap();
    let toml = load(&fixture("full.toml")).unwrap();
    assert_eq!(json, toml);
    let c = json.config;
    assert!(!c.enabled);
    assert_eq!(c.interval, IntervalSpec::Decimal(0.2));
    assert_eq!(c.startup_delay, Some(Duration::from_secs(45)));
    assert!(c.tracemalloc);
    assert_eq!(
        c.log_file,
        PathBuf::from("/var/log/memmon/memory usage.log")
    );
    assert_eq!(c.warn_threshold_mb, 12.5);
    assert_eq!(c.detail_every.get(), 3);
    assert_eq!(c.max_log_mb, 0.5);
    assert_eq!(c.keep_logs, 0);
    assert_eq!(c.name.as_deref(), Some("reader-01"));
    assert_eq!(
        c.prom_textfile,
        Some(PathBuf::from("/var/lib/node_exporter/memmon.prom"))
    );
    assert_eq!(
        c.metrics_listen,
        Some("127.0.0.1:9464".parse::<SocketAddr>().unwrap())
    );
    assert_eq!(c.tracemalloc_frames, 25);
    assert_eq!(c.tracemalloc_timeout, Duration::from_millis(2500));
    assert_eq!(c.detail_source, DetailSourceKind::Both);
    assert_eq!(c.python_hook, PythonHook::Off);
    assert!(!c.breakdown && !c.escalate && !c.malloc_trim_probe);
    assert!(!c.evidence);
    assert_eq!((c.evidence_max, c.evidence_max_kb), (3, 64));
    assert_eq!(c.evidence_horizon, Duration::from_secs(600));
    assert_eq!((c.evidence_floor_mb, c.evidence_pressure), (100.0, 40.5));
    let d = memmon_config::Config::default();
    assert!(d.breakdown && d.escalate && d.malloc_trim_probe && d.evidence);
    assert_eq!((d.evidence_max, d.evidence_max_kb), (10, 256));
    assert_eq!(d.evidence_horizon, Duration::from_secs(1800));
    assert_eq!((d.evidence_floor_mb, d.evidence_pressure), (50.0, 20.0));
}

#[test]
fn decimal_interval_keeps_decimal() {
    let c = load_json_str(r#"{"memory_monitor": {"interval": 300.0}}"#, "c.json").unwrap();
    assert_eq!(c.config.interval, IntervalSpec::Decimal(300.0));
    let c = load_toml_str("[memory_monitor]\ninterval = 300.0\n", "m.toml").unwrap();
    assert_eq!(c.config.interval, IntervalSpec::Decimal(300.0));
    let c = load_toml_str("[memory_monitor]\ninterval = 300\n", "m.toml").unwrap();
    assert_eq!(c.config.interval, IntervalSpec::Integer(300));
    let c = load_json_str(r#"{"memory_monitor": {"interval": 3e2}}"#, "c.json").unwrap();
    assert_eq!(c.config.interval, IntervalSpec::Decimal(300.0));
}

#[test]
fn missing_block_or_empty_file_objects_mean_defaults() {
    for text in ["{}", r#"{"server_url": "x", "beep_settings": [1, 2]}"#] {
        let c = load_json_str(text, "c.json").unwrap();
        assert_eq!(c.config, Config::default());
        assert!(c.warnings.is_empty());
    }
    let c = load_toml_str("", "m.toml").unwrap();
    assert_eq!(c.config, Config::default());
    let c = load_json_str(r#"{"memory_monitor": {}}"#, "c.json").unwrap();
    assert_eq!(c.config, Config::default());
}

#[test]
fn enabled_false_is_represented() {
    let c = load_json_str(r#"{"memory_monitor": {"enabled": false}}"#, "c.json").unwrap();
    assert!(!c.config.enabled);
    assert_eq!(c.config.interval, IntervalSpec::Integer(300));
}

#[test]
fn integers_are_accepted_for_decimal_settings() {
    let c = load_json_str(
        r#"{"memory_monitor": {"warn_threshold_mb": 0, "max_log_mb": 3, "tracemalloc_timeout": 1}}"#,
        "c.json",
    )
    .unwrap();
    assert_eq!(c.config.warn_threshold_mb, 0.0);
    assert_eq!(c.config.max_log_mb, 3.0);
    assert_eq!(c.config.tracemalloc_timeout, Duration::from_secs(1));
}

#[test]
fn null_means_unset_for_optional_keys() {
    let c = load_json_str(
        r#"{"memory_monitor": {"name": null, "prom_textfile": null, "metrics_listen": null}}"#,
        "c.json",
    )
    .unwrap();
    assert_eq!(c.config, Config::default());
}

#[test]
fn ipv6_listen_address() {
    let c = load_json_str(
        r#"{"memory_monitor": {"metrics_listen": "[::1]:9464"}}"#,
        "c.json",
    )
    .unwrap();
    assert_eq!(c.config.metrics_listen, Some("[::1]:9464".parse().unwrap()));
}

#[test]
fn unknown_keys_warn_and_are_not_fatal() {
    let text = r#"{"memory_monitor": {"intervall": 60, "interval": 5, "colour": "red"}}"#;
    let loaded = load_json_str(text, "client_config.json").unwrap();
    assert_eq!(loaded.config.interval, IntervalSpec::Integer(5));
    let messages: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        messages,
        [
            "client_config.json: memory_monitor.colour: unknown key (ignored)",
            "client_config.json: memory_monitor.intervall: unknown key (ignored); did you mean \"interval\"?",
        ]
    );
    assert_eq!(loaded.warnings[1].suggestion, Some("interval"));
}

#[test]
fn unknown_keys_warn_in_toml_too() {
    let loaded = load_toml_str("[memory_monitor]\ntracemaloc = true\n", "memmon.toml").unwrap();
    assert_eq!(
        loaded.warnings[0].to_string(),
        "memmon.toml: memory_monitor.tracemaloc: unknown key (ignored); did you mean \"tracemalloc\"?"
    );
    assert!(!loaded.config.tracemalloc);
}

#[test]
fn odd_unknown_keys_are_quoted() {
    let loaded = load_json_str(r#"{"memory_monitor": {"a\nb": 1}}"#, "c.json").unwrap();
    assert_eq!(
        loaded.warnings[0].to_string(),
        "c.json: memory_monitor.\"a\\nb\": unknown key (ignored)"
    );
}

#[test]
fn format_is_chosen_by_extension() {
    assert_eq!(format_of(Path::new("memmon.toml")), Format::Toml);
    assert_eq!(format_of(Path::new("MEMMON.TOML")), Format::Toml);
    assert_eq!(format_of(Path::new("client_config.json")), Format::Json);
    assert_eq!(format_of(Path::new("config")), Format::Json);
    assert_eq!(format_of(Path::new("x.toml.bak")), Format::Json);
    let toml = b"[memory_monitor]\ninterval = 7\n";
    let c = load_bytes(toml, Path::new("m.toml")).unwrap();
    assert_eq!(c.config.interval, IntervalSpec::Integer(7));
    assert!(load_bytes(toml, Path::new("m.json")).is_err());
}

#[test]
fn byte_order_mark_is_ignored() {
    let c = load_bytes(
        "\u{feff}{\"memory_monitor\": {\"interval\": 9}}".as_bytes(),
        Path::new("c.json"),
    )
    .unwrap();
    assert_eq!(c.config.interval, IntervalSpec::Integer(9));
}
