//! The loader never panics, whatever it is given, and every error names its file (and, for a
//! bad value, the key, the value and what was expected) in both languages.

use std::path::Path;

use memmon_config::{
    check_file_path, check_name, load_bytes, load_json_str, load_toml_str, ConfigError, Expected,
    Format, Lang, ValueKind,
};
use proptest::prelude::*;

/// Arbitrary JSON values, nested a few levels, with numbers of every kind serde_json produces.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        ".*".prop_map(serde_json::Value::String),
        prop_oneof![
            Just("auto"),
            Just("both"),
            Just("127.0.0.1:9464"),
            Just("memory_usage.log")
        ]
        .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(".*", inner, 0..8)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Mostly real key names, so values reach the validators, plus some near misses and junk.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "enabled",
            "interval",
            "startup_delay",
            "tracemalloc",
            "log_file",
            "warn_threshold_mb",
            "detail_every",
            "max_log_mb",
            "keep_logs",
            "name",
            "prom_textfile",
            "metrics_listen",
            "tracemalloc_frames",
            "tracemalloc_timeout",
            "detail_source",
            "python_hook",
            "intervall",
        ])
        .prop_map(str::to_owned),
        ".*",
    ]
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = load_bytes(&bytes, Path::new("client_config.json"));
        let _ = load_bytes(&bytes, Path::new("memmon.toml"));
    }

    #[test]
    fn arbitrary_block_values_never_panic(
        block in prop::collection::btree_map(key(), json_value(), 0..6),
        whole in json_value(),
    ) {
        let block: serde_json::Map<String, serde_json::Value> = block.into_iter().collect();
        for doc in [
            serde_json::json!({ "memory_monitor": block }),
            serde_json::json!({ "memory_monitor": whole.clone() }),
            whole,
        ] {
            let text = doc.to_string();
            if let Ok(loaded) = load_json_str(&text, "client_config.json") {
                // Whatever loaded must also describe itself.
                prop_assert!(!loaded.config.describe().is_empty());
            }
        }
    }

    #[test]
    fn arbitrary_strings_as_toml_never_panic(text in ".*") {
        let _ = load_toml_str(&text, "memmon.toml");
        let _ = load_toml_str(&format!("[memory_monitor]\n{text}"), "memmon.toml");
        let _ = load_json_str(&text, "client_config.json");
    }

    #[test]
    fn toml_like_lines_never_panic(
        lines in prop::collection::vec((key(), "[-+0-9a-z.\"'\\[\\]{}=, ]{0,12}"), 0..6)
    ) {
        let mut text = String::from("[memory_monitor]\n");
        for (k, v) in lines {
            text.push_str(&format!("{k} = {v}\n"));
        }
        let _ = load_toml_str(&text, "memmon.toml");
    }
}

/// Every `Expected`, with arbitrary bounds where it has any.
fn expected() -> impl Strategy<Value = Expected> {
    prop_oneof![
        Just(Expected::Bool),
        Just(Expected::Seconds),
        any::<u64>().prop_map(Expected::SecondsAtMost),
        any::<u64>().prop_map(Expected::SecondsFromZeroAtMost),
        (0.0001f64..1.0).prop_map(Expected::SecondsAtLeast),
        Just(Expected::NumberAtLeastZero { unit: "MB" }),
        Just(Expected::PositiveNumber { unit: "MB" }),
        Just(Expected::IntegerAtLeastOne),
        (any::<i64>(), any::<i64>()).prop_map(|(a, b)| Expected::IntegerIn { min: a, max: b }),
        Just(Expected::NonEmptyString),
        Just(Expected::FilePath),
        Just(Expected::SocketAddr),
        Just(Expected::OneOf(&["auto", "smaps", "python", "both"])),
        Just(Expected::Object),
        Just(Expected::Table),
    ]
}

fn value_kind() -> impl Strategy<Value = ValueKind> {
    prop::sample::select(vec![
        ValueKind::Null,
        ValueKind::Bool,
        ValueKind::Integer,
        ValueKind::Float,
        ValueKind::String,
        ValueKind::Datetime,
        ValueKind::Array,
        ValueKind::Table,
        ValueKind::Elided,
    ])
}

/// One error of every kind, with arbitrary text in its fields.
fn every_error(
    file: &str,
    text: &str,
    n: usize,
    expected: Expected,
    kind: ValueKind,
) -> Vec<ConfigError> {
    let io = || std::io::Error::other(text.to_owned());
    vec![
        ConfigError::NotFound {
            file: file.to_owned(),
            source: io(),
        },
        ConfigError::IsDirectory {
            file: file.to_owned(),
        },
        ConfigError::Read {
            file: file.to_owned(),
            source: io(),
        },
        ConfigError::TooLarge {
            file: file.to_owned(),
            limit: n as u64,
        },
        ConfigError::NotUtf8 {
            file: file.to_owned(),
            line: n,
            column: n,
            offset: n,
        },
        ConfigError::Syntax {
            file: file.to_owned(),
            format: Format::Toml,
            line: n,
            column: n,
            message: text.to_owned(),
        },
        ConfigError::DuplicateKey {
            file: file.to_owned(),
            key: format!("memory_monitor.{text}"),
            first_line: n,
            line: n,
        },
        ConfigError::NumberOutOfRange {
            file: file.to_owned(),
            line: n,
            column: n,
            key: format!("memory_monitor.{text}"),
            written: text.to_owned(),
        },
        ConfigError::NotAnObject {
            file: file.to_owned(),
            got: text.to_owned(),
            got_kind: kind,
        },
        ConfigError::Invalid {
            file: file.to_owned(),
            key: format!("memory_monitor.{text}"),
            expected,
            got: text.to_owned(),
            got_kind: kind,
        },
    ]
}

/// What every message must say, in either language.
fn check_message(err: &ConfigError, lang: Lang) -> Result<(), TestCaseError> {
    let msg = err.message(lang);
    prop_assert!(
        msg.starts_with(err.file()),
        "{lang}: {msg:?} does not name {:?}",
        err.file()
    );
    prop_assert!(
        msg.len() > err.file().len() + 2,
        "{lang}: nothing said: {msg:?}"
    );
    if let ConfigError::Invalid {
        key, expected, got, ..
    } = err
    {
        prop_assert!(msg.contains(key.as_str()), "{lang}: no key in {msg:?}");
        prop_assert!(msg.contains(got.as_str()), "{lang}: no value in {msg:?}");
        prop_assert!(
            msg.contains(&expected.text(lang)),
            "{lang}: no expectation in {msg:?}"
        );
    }
    if let ConfigError::DuplicateKey {
        key,
        first_line,
        line,
        ..
    } = err
    {
        prop_assert!(msg.contains(key.as_str()), "{lang}: no key in {msg:?}");
        prop_assert!(
            msg.contains(&first_line.to_string()),
            "{lang}: no line in {msg:?}"
        );
        prop_assert!(
            msg.contains(&format!(":{line}:")),
            "{lang}: no line in {msg:?}"
        );
    }
    if let ConfigError::NumberOutOfRange { key, written, .. } = err {
        prop_assert!(msg.contains(key.as_str()), "{lang}: no key in {msg:?}");
        prop_assert!(
            msg.contains(written.as_str()),
            "{lang}: no value in {msg:?}"
        );
    }
    if lang == Lang::En {
        prop_assert_eq!(msg, err.to_string());
    }
    Ok(())
}

proptest! {
    #[test]
    fn every_error_kind_names_its_file_in_both_languages(
        file in "[^\\x00]{1,40}",
        text in ".{0,40}",
        n in 1usize..1_000_000,
        expected in expected(),
        kind in value_kind(),
    ) {
        for err in every_error(&file, &text, n, expected, kind) {
            for lang in Lang::ALL {
                check_message(&err, lang)?;
            }
        }
    }

    #[test]
    fn loader_errors_name_file_key_and_value_in_both_languages(
        block in prop::collection::btree_map(key(), json_value(), 0..6),
    ) {
        let block: serde_json::Map<String, serde_json::Value> = block.into_iter().collect();
        let text = serde_json::json!({ "memory_monitor": block }).to_string();
        if let Err(err) = load_json_str(&text, "client_config.json") {
            for lang in Lang::ALL {
                check_message(&err, lang)?;
            }
        }
    }
}

/// A path's text as a JSON string value.
fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

proptest! {
    #[test]
    fn a_path_with_a_nul_or_naming_a_directory_is_refused_everywhere(
        before in "[^\\x00]{0,20}",
        after in "[^\\x00]{0,20}",
        dir in "[a-z./]{0,10}",
    ) {
        let with_nul = format!("{before}\0{after}");
        prop_assert!(check_file_path(&with_nul).is_err());
        let ends_in_slash = format!("{dir}/");
        prop_assert!(check_file_path(&ends_in_slash).is_err());
        for last in [".", ".."] {
            let named = format!("{dir}/{last}");
            prop_assert!(check_file_path(&named).is_err());
        }
    }

    #[test]
    fn plain_file_names_are_accepted(name in "[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}", dir in "(/?[a-z]{1,8}/){0,4}") {
        let path = format!("{dir}{name}");
        prop_assert_eq!(check_file_path(&path), Ok(()));
    }

    #[test]
    fn the_config_and_the_rules_agree_on_paths_and_names(s in ".{0,40}|[./a\\x00]{0,6}") {
        for key in ["log_file", "prom_textfile", "name"] {
            let text = format!(r#"{{"memory_monitor": {{"{key}": {}}}}}"#, json_string(&s));
            let loaded = load_json_str(&text, "c.json");
            let rule = if key == "name" { check_name(&s) } else { check_file_path(&s) };
            prop_assert_eq!(loaded.is_ok(), rule.is_ok(), "{} = {:?}", key, s);
            if let Err(err) = loaded {
                for lang in Lang::ALL {
                    check_message(&err, lang)?;
                }
            }
            if key == "name" {
                prop_assert_eq!(memmon_config::parse_name(&s).is_ok(), rule.is_ok());
            }
        }
    }
}

proptest! {
    /// Any key of the block written twice, anywhere among the others and on any lines, is
    /// refused naming that key and both lines; the same block without the repeat loads.
    #[test]
    fn a_key_written_twice_in_the_block_is_named_with_both_lines(
        keys in prop::collection::btree_set("[a-z_]{1,12}", 1..6),
        pick in any::<prop::sample::Index>(),
        gaps in prop::collection::vec(0usize..3, 8),
    ) {
        let keys: Vec<String> = keys.into_iter().collect();
        let dup = pick.index(keys.len());
        let mut entries: Vec<(String, usize)> = keys.iter().cloned().map(|k| (k, 0)).collect();
        entries.push((keys[dup].clone(), 0));
        // Each entry after some newlines, so the lines differ from case to case.
        let mut text = String::from("{\"memory_monitor\": {");
        let mut line = 1;
        for (i, (key, at)) in entries.iter_mut().enumerate() {
            if i > 0 {
                text.push(',');
            }
            let newlines = gaps.get(i).copied().unwrap_or(1);
            text.push_str(&"\n".repeat(newlines));
            line += newlines;
            *at = line;
            text.push_str(&format!("\"{key}\": null"));
        }
        text.push_str("}}");
        let first_line = entries[dup].1;
        let second_line = entries[entries.len() - 1].1;
        match load_json_str(&text, "c.json") {
            Err(ConfigError::DuplicateKey { key, first_line: f, line: l, .. }) => {
                prop_assert_eq!(key, format!("memory_monitor.{}", keys[dup]));
                prop_assert_eq!(f, first_line);
                prop_assert_eq!(l, second_line);
            }
            other => prop_assert!(false, "{:?} for {}", other, text),
        }
    }

    /// A number beyond f64, as any key's value (in or out of the block), is named with that
    /// key and as written; one that fits is never called out of range.
    #[test]
    fn a_number_beyond_f64_is_named_with_its_key(
        key in "[a-z_]{1,12}",
        mantissa in "-?[1-9][0-9]{0,3}(\\.[0-9]{1,3})?",
        e in "[eE]\\+?",
        exponent in 0u32..700,
        in_block in any::<bool>(),
    ) {
        let written = format!("{mantissa}{e}{exponent}");
        let fits = written.parse::<f64>().is_ok_and(f64::is_finite);
        let (text, path) = if in_block {
            (format!(r#"{{"memory_monitor": {{"{key}": {written}}}}}"#), format!("memory_monitor.{key}"))
        } else {
            (format!(r#"{{"other": {{"{key}": [{written}]}}}}"#), format!("other.{key}[0]"))
        };
        match load_json_str(&text, "c.json") {
            Err(ConfigError::NumberOutOfRange { key: k, written: w, .. }) => {
                prop_assert!(!fits, "{} fits", written);
                prop_assert_eq!(k, path);
                prop_assert_eq!(w, written);
            }
            Err(ConfigError::Syntax { message, .. }) => prop_assert!(false, "{}: {}", written, message),
            _ => prop_assert!(fits, "{} was accepted", written),
        }
    }

    /// The same in TOML, under a `[table]`, as a dotted key or in an array: named with its key
    /// and as written (underscores too), never left a bare syntax error.
    #[test]
    fn a_toml_number_beyond_f64_is_named_with_its_key(
        key in "[a-z_]{1,12}",
        mantissa in "-?[1-9](_?[0-9]){0,3}(\\.[0-9]{1,3})?",
        e in "[eE]\\+?",
        exponent in 0u32..700,
        layout in 0u8..3,
    ) {
        let written = format!("{mantissa}{e}{exponent}");
        let fits = written.replace('_', "").parse::<f64>().is_ok_and(f64::is_finite);
        let (text, path) = match layout {
            0 => (format!("[memory_monitor]\nenabled = true\n{key} = {written}\n"), format!("memory_monitor.{key}")),
            1 => (format!("memory_monitor.{key} = {written}"), format!("memory_monitor.{key}")),
            _ => (format!("[other]\n{key} = [1, {written}]"), format!("other.{key}[1]")),
        };
        match load_toml_str(&text, "m.toml") {
            Err(ConfigError::NumberOutOfRange { key: k, written: w, .. }) => {
                prop_assert!(!fits, "{} fits", written);
                prop_assert_eq!(k, path);
                prop_assert_eq!(w, written);
            }
            Err(ConfigError::Syntax { message, .. }) => prop_assert!(false, "{}: {}", written, message),
            _ => prop_assert!(fits, "{} was accepted", written),
        }
    }
}
