//! Every way a configuration file is rejected, with the exact messages users see.

// The helpers below are not `#[test]` functions, which `allow-unwrap-in-tests` does not cover;
// a panic in them is still just a failed test.
#![allow(clippy::unwrap_used, reason = "test helpers")]

use std::path::Path;

use memmon_config::{
    load, load_bytes, load_json_str, load_toml_str, ConfigError, Expected, Format, ValueKind,
};

/// The error message for a `memory_monitor` block given as JSON object text.
fn json_err(block: &str) -> String {
    let text = format!(r#"{{"server_url": "x", "memory_monitor": {block}}}"#);
    load_json_str(&text, "client_config.json")
        .unwrap_err()
        .to_string()
}

/// How `log_file` and `prom_textfile` are described.
const FILE_PATH: &str = "a file path (not empty, no NUL byte, not ending in \"/\", \".\" or \"..\", at most 4095 bytes and 255 per name)";

fn toml_err(text: &str) -> String {
    load_toml_str(text, "memmon.toml").unwrap_err().to_string()
}

#[test]
fn exact_messages_from_the_issue() {
    assert_eq!(
        json_err(r#"{"interval": "abc"}"#),
        r#"client_config.json: memory_monitor.interval: expected a number of seconds > 0, got "abc""#
    );
    assert_eq!(
        json_err(r#"{"enabled": "yes"}"#),
        r#"client_config.json: memory_monitor.enabled: expected true or false, got "yes""#
    );
}

#[test]
fn invalid_json_gives_line_and_column() {
    let text = "{\n  \"memory_monitor\": {\n    interval: 5\n  }\n}\n";
    let err = load_json_str(text, "client_config.json").unwrap_err();
    assert_eq!(
        err.to_string(),
        "client_config.json:3:5: invalid JSON: key must be a string"
    );
    assert!(matches!(
        err,
        ConfigError::Syntax {
            format: Format::Json,
            line: 3,
            column: 5,
            ..
        }
    ));
}

#[test]
fn truncated_and_empty_json() {
    let err = load_json_str("{\"memory_monitor\": {", "c.json").unwrap_err();
    assert_eq!(
        err.to_string(),
        "c.json:1:20: invalid JSON: EOF while parsing an object"
    );
    let err = load_json_str("", "c.json").unwrap_err();
    assert_eq!(
        err.to_string(),
        "c.json:1:1: invalid JSON: EOF while parsing a value"
    );
    let err = load_json_str("{} x", "c.json").unwrap_err();
    assert_eq!(
        err.to_string(),
        "c.json:1:4: invalid JSON: trailing characters"
    );
}

#[test]
fn invalid_toml_gives_line_and_column() {
    let err = toml_err("[memory_monitor]\ninterval = 5\ninterval = 6\n");
    assert!(err.starts_with("memmon.toml:3:1: invalid TOML: "), "{err}");
    let err = toml_err("[memory_monitor]\n  enabled = yes\n");
    assert!(err.starts_with("memmon.toml:2:13: invalid TOML: "), "{err}");
    assert!(!err.contains('\n'), "one line: {err}");
}

#[test]
fn top_level_must_be_an_object() {
    let err = load_json_str("[1, 2]", "c.json").unwrap_err();
    assert_eq!(
        err.to_string(),
        "c.json: expected a JSON object at the top level, got [1, 2]"
    );
}

#[test]
fn block_must_be_an_object_or_table() {
    assert_eq!(
        json_err("true"),
        "client_config.json: memory_monitor: expected an object, got true"
    );
    assert_eq!(
        json_err("null"),
        "client_config.json: memory_monitor: expected an object, got null"
    );
    assert_eq!(
        toml_err("memory_monitor = 5\n"),
        "memmon.toml: memory_monitor: expected a table, got 5"
    );
}

#[test]
fn booleans_must_be_booleans() {
    for key in ["enabled", "tracemalloc"] {
        for bad in [r#""true""#, "1", "0", "null", "[]"] {
            assert_eq!(
                json_err(&format!(r#"{{"{key}": {bad}}}"#)),
                format!(
                    "client_config.json: memory_monitor.{key}: expected true or false, got {bad}"
                )
            );
        }
    }
    assert_eq!(
        toml_err("[memory_monitor]\nenabled = \"yes\"\n"),
        r#"memmon.toml: memory_monitor.enabled: expected true or false, got "yes""#
    );
}

#[test]
fn interval_must_be_a_positive_number() {
    let prefix = "client_config.json: memory_monitor.interval: expected a number of seconds > 0";
    for bad in ["0", "-5", "0.0", "-0.5", r#""300""#, "true", "null", "{}"] {
        assert_eq!(
            json_err(&format!(r#"{{"interval": {bad}}}"#)),
            format!("{prefix}, got {bad}")
        );
    }
    assert_eq!(
        toml_err("[memory_monitor]\ninterval = nan\n"),
        "memmon.toml: memory_monitor.interval: expected a number of seconds > 0, got nan"
    );
    assert_eq!(
        toml_err("[memory_monitor]\ninterval = -inf\n"),
        "memmon.toml: memory_monitor.interval: expected a number of seconds > 0, got -inf"
    );
    assert_eq!(
        toml_err("[memory_monitor]\ninterval = 1979-05-27\n"),
        "memmon.toml: memory_monitor.interval: expected a number of seconds > 0, got 1979-05-27"
    );
}

#[test]
fn huge_interval_is_an_error() {
    let expected = "expected a number of seconds > 0 and at most 4294967295";
    for bad in [
        "4294967296",
        "18446744073709551615",
        "1e300",
        "4294967296.5",
    ] {
        assert_eq!(
            json_err(&format!(r#"{{"interval": {bad}}}"#)),
            format!("client_config.json: memory_monitor.interval: {expected}, got {bad}")
        );
    }
    // Beyond u64, serde_json reads an integer as a float.
    assert!(json_err(r#"{"interval": 99999999999999999999999}"#).contains(expected));
    assert!(toml_err("[memory_monitor]\ninterval = 9223372036854775807\n").contains(expected));
    assert!(load_json_str(r#"{"memory_monitor": {"interval": 4294967295}}"#, "c").is_ok());
}

#[test]
fn a_log_file_run_could_never_open_is_refused_as_run_refuses_it() {
    for (bad, shown) in [
        (r#""a\u0000b""#, r#""a\u0000b""#),
        (r#""logs/""#, r#""logs/""#),
        (r#""..""#, r#""..""#),
    ] {
        for key in ["log_file", "prom_textfile"] {
            assert_eq!(
                json_err(&format!(r#"{{"{key}": {bad}}}"#)),
                format!(
                    "client_config.json: memory_monitor.{key}: expected {FILE_PATH}, got {shown}"
                )
            );
        }
    }
    assert_eq!(
        toml_err("[memory_monitor]\nlog_file = \"a\\u0000b\"\n"),
        format!("memmon.toml: memory_monitor.log_file: expected {FILE_PATH}, got \"a\\u0000b\"")
    );
}

#[test]
fn a_duplicate_key_names_the_file_the_key_and_both_lines() {
    let text = "{\n  \"memory_monitor\": {\n    \"interval\": 60,\n    \"interval\": 5\n  }\n}\n";
    let err = load_json_str(text, "client_config.json").unwrap_err();
    assert_eq!(
        err.to_string(),
        "client_config.json:4: memory_monitor.interval: duplicate key, also at line 3 (JSON \
         would silently keep only the last one; remove one of them)"
    );
    // The duplicate is refused even when both values are valid, and before a bad value.
    let text = r#"{"memory_monitor": {"enabled": true, "interval": "x", "enabled": false}}"#;
    let err = load_json_str(text, "c.json").unwrap_err();
    assert!(
        matches!(err, ConfigError::DuplicateKey { ref key, first_line: 1, line: 1, .. } if key == "memory_monitor.enabled"),
        "{err:?}"
    );
    // The client's own keys are the client's business.
    let text = r#"{"server_url": "a", "server_url": "b", "memory_monitor": {"interval": 5}}"#;
    assert!(load_json_str(text, "c.json").is_ok());
}

#[test]
fn a_number_too_large_for_a_float_names_its_key_and_value_as_written() {
    let text = "{\"memory_monitor\": {\n  \"interval\": 1e309\n}}";
    let err = load_json_str(text, "client_config.json").unwrap_err();
    let ConfigError::NumberOutOfRange { line, column, .. } = err else {
        panic!("{err:?}");
    };
    assert_eq!(line, 2);
    assert_eq!(
        err.to_string(),
        format!(
            "client_config.json:2:{column}: memory_monitor.interval: the number 1e309 is out of \
             range (numbers here must be within about ±1.8e308)"
        )
    );
    // Python reads it as inf; the message keeps it as written.
    assert!(json_err(r#"{"warn_threshold_mb": -17E+999}"#).contains("the number -17E+999 is"));
}

/// TOML's own error for `1e309` named only a position ("floating-point number overflowed");
/// it names the file, the key and the number as written, as JSON's does.
#[test]
fn a_toml_number_too_large_for_a_float_names_its_key_and_value_as_written() {
    assert_eq!(
        toml_err("[memory_monitor]\ninterval = 1e309\n"),
        "memmon.toml:2:12: memory_monitor.interval: the number 1e309 is out of range (numbers \
         here must be within about ±1.8e308)"
    );
    assert_eq!(
        toml_err("memory_monitor.warn_threshold_mb = -17E+999"),
        "memmon.toml:1:36: memory_monitor.warn_threshold_mb: the number -17E+999 is out of range \
         (numbers here must be within about ±1.8e308)"
    );
    assert!(matches!(
        load_toml_str("[memory_monitor]\ninterval = 1e309\n", "memmon.toml"),
        Err(ConfigError::NumberOutOfRange {
            line: 2,
            column: 12,
            ..
        })
    ));
}

#[test]
fn an_empty_name_gets_the_words_the_command_line_gets() {
    let flag = memmon_config::parse_name("").unwrap_err().to_string();
    assert_eq!(flag, r#"expected a non-empty string, got """#);
    assert_eq!(
        json_err(r#"{"name": ""}"#),
        format!("client_config.json: memory_monitor.name: {flag}")
    );
}

#[test]
fn wrong_types_for_every_other_key() {
    let cases: &[(&str, &str, &str)] = &[
        ("log_file", "5", FILE_PATH),
        ("log_file", r#""""#, FILE_PATH),
        ("log_file", "null", FILE_PATH),
        ("warn_threshold_mb", "-1", "a number of MB >= 0"),
        ("warn_threshold_mb", r#""50""#, "a number of MB >= 0"),
        ("detail_every", "0", "an integer >= 1"),
        ("detail_every", "10.0", "an integer >= 1"),
        ("detail_every", "-3", "an integer >= 1"),
        ("max_log_mb", "0", "a number of MB > 0"),
        ("max_log_mb", "-0.5", "a number of MB > 0"),
        ("max_log_mb", "false", "a number of MB > 0"),
        ("keep_logs", "-1", "an integer from 0 to 4294967295"),
        ("keep_logs", "4294967296", "an integer from 0 to 4294967295"),
        ("keep_logs", "2.5", "an integer from 0 to 4294967295"),
        ("name", "7", "a non-empty string"),
        ("name", r#""""#, "a non-empty string"),
        ("prom_textfile", "[]", FILE_PATH),
        (
            "metrics_listen",
            r#""localhost""#,
            r#"an address and port like "127.0.0.1:9464""#,
        ),
        (
            "metrics_listen",
            r#""127.0.0.1""#,
            r#"an address and port like "127.0.0.1:9464""#,
        ),
        (
            "metrics_listen",
            "9464",
            r#"an address and port like "127.0.0.1:9464""#,
        ),
        ("tracemalloc_frames", "0", "an integer from 1 to 100"),
        ("tracemalloc_frames", "101", "an integer from 1 to 100"),
        ("tracemalloc_frames", r#""5""#, "an integer from 1 to 100"),
        ("interval", "1e-9", "a number of seconds >= 0.001"),
        ("interval", "0.0005", "a number of seconds >= 0.001"),
        (
            "startup_delay",
            "-1",
            "a number of seconds >= 0 and at most 4294967295",
        ),
        (
            "startup_delay",
            r#""60""#,
            "a number of seconds >= 0 and at most 4294967295",
        ),
        (
            "startup_delay",
            "1e20",
            "a number of seconds >= 0 and at most 4294967295",
        ),
        ("tracemalloc_timeout", "0", "a number of seconds > 0"),
        ("tracemalloc_timeout", "-1", "a number of seconds > 0"),
        ("tracemalloc_timeout", r#""5s""#, "a number of seconds > 0"),
        (
            "tracemalloc_timeout",
            "1e20",
            "a number of seconds > 0 and at most 4294967295",
        ),
        (
            "detail_source",
            r#""Auto""#,
            r#"one of "auto", "smaps", "python", "both""#,
        ),
        (
            "detail_source",
            "1",
            r#"one of "auto", "smaps", "python", "both""#,
        ),
        ("python_hook", r#""Off""#, r#"one of "auto", "off""#),
        ("python_hook", "false", r#"one of "auto", "off""#),
        ("python_hook", r#""""#, r#"one of "auto", "off""#),
        ("breakdown", r#""yes""#, "true or false"),
        ("escalate", "1", "true or false"),
        ("malloc_trim_probe", "null", "true or false"),
        ("evidence", r#""on""#, "true or false"),
        ("evidence_max", "0", "an integer from 1 to 1000"),
        ("evidence_max_kb", "8", "an integer from 16 to 65536"),
        ("evidence_floor_mb", "-1", "a number of MB >= 0"),
        ("evidence_pressure", r#""high""#, "a number of % >= 0"),
    ];
    for (key, bad, expected) in cases {
        assert_eq!(
            json_err(&format!(r#"{{"{key}": {bad}}}"#)),
            format!("client_config.json: memory_monitor.{key}: expected {expected}, got {bad}"),
        );
    }
}

#[test]
fn error_carries_its_parts() {
    let text = r#"{"memory_monitor": {"keep_logs": "many"}}"#;
    match load_json_str(text, "c.json").unwrap_err() {
        ConfigError::Invalid {
            file,
            key,
            expected,
            got,
            got_kind,
        } => {
            assert_eq!(file, "c.json");
            assert_eq!(key, "memory_monitor.keep_logs");
            assert_eq!(
                expected,
                Expected::IntegerIn {
                    min: 0,
                    max: 4294967295
                }
            );
            assert_eq!(expected.to_string(), "an integer from 0 to 4294967295");
            assert_eq!(got, "\"many\"");
            assert_eq!(got_kind, ValueKind::String);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn long_bad_values_are_shortened() {
    let long = "x".repeat(500);
    let err = json_err(&format!(r#"{{"enabled": "{long}"}}"#));
    assert!(err.ends_with('…'), "{err}");
    assert!(err.len() < 200, "{err}");
}

#[test]
fn missing_file() {
    let err = load(Path::new("/nonexistent/dir/client_config.json")).unwrap_err();
    assert!(matches!(err, ConfigError::NotFound { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with("/nonexistent/dir/client_config.json: file not found ("),
        "{msg}"
    );
    assert!(msg.contains("os error 2"), "{msg}");
}

#[test]
fn directory_given_as_the_file() {
    let dir = std::env::temp_dir();
    let err = load(&dir).unwrap_err();
    assert!(matches!(err, ConfigError::IsDirectory { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "{}: is a directory, expected a configuration file",
            dir.display()
        )
    );
}

#[test]
fn non_utf8_bytes() {
    let bytes = b"{\n  \"memory_monitor\": {\"name\": \"caf\xe9\"}}";
    let err = load_bytes(bytes, Path::new("client_config.json")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "client_config.json:2:34: not valid UTF-8 text (bad byte at offset 35)"
    );
    let err = load_bytes(b"\xff", Path::new("memmon.toml")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "memmon.toml:1:1: not valid UTF-8 text (bad byte at offset 0)"
    );
}

#[test]
fn non_utf8_file_on_disk() {
    let path = scratch_file("latin1.json", b"{\"a\": \"\xe9\"}");
    let err = load(&path).unwrap_err();
    assert!(
        matches!(err, ConfigError::NotUtf8 { offset: 7, .. }),
        "{err:?}"
    );
    assert!(err.to_string().starts_with(&path.display().to_string()));
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn oversized_file() {
    let big = vec![b' '; (memmon_config::MAX_FILE_BYTES + 1) as usize];
    let path = scratch_file("big.json", &big);
    let err = load(&path).unwrap_err();
    assert!(matches!(err, ConfigError::TooLarge { .. }), "{err:?}");
    assert!(err.to_string().contains("too large"));
    std::fs::remove_file(&path).unwrap();
}

/// A file in the temp directory, named per process so parallel test runs do not collide.
fn scratch_file(name: &str, contents: &[u8]) -> std::path::PathBuf {
    let path =
        std::env::temp_dir().join(format!("memmon-config-test-{}-{name}", std::process::id()));
    std::fs::write(&path, contents).unwrap();
    path
}
