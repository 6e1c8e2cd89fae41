//! The loader never panics, whatever it is given.

use std::path::Path;

use memmon_config::{load_bytes, load_json_str, load_toml_str};
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
