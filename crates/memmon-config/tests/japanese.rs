//! The same errors and warnings in Japanese (memmon's default console language), and English
//! through `in_lang` is exactly `Display`.

#![allow(clippy::unwrap_used, reason = "test helpers")]

use std::path::Path;

use memmon_config::{load, load_bytes, load_json_str, load_toml_str, ConfigError, Lang};

fn json_err(block: &str) -> ConfigError {
    let text = format!(r#"{{"server_url": "x", "memory_monitor": {block}}}"#);
    load_json_str(&text, "client_config.json").unwrap_err()
}

fn ja(err: &ConfigError) -> String {
    err.message(Lang::Ja)
}

#[test]
fn a_string_where_seconds_are_expected() {
    let err = json_err(r#"{"interval": "300"}"#);
    assert_eq!(
        ja(&err),
        r#"client_config.json: memory_monitor.interval: 0 より大きい数値 (秒) が必要ですが "300" (文字列) でした"#
    );
    assert_eq!(
        err.message(Lang::En),
        r#"client_config.json: memory_monitor.interval: expected a number of seconds > 0, got "300""#
    );
}

#[test]
fn every_value_check_in_japanese() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "enabled",
            r#""yes""#,
            r#"true か false が必要ですが "yes" (文字列) でした"#,
        ),
        (
            "tracemalloc",
            "1",
            "true か false が必要ですが 1 (整数) でした",
        ),
        (
            "interval",
            "null",
            "0 より大きい数値 (秒) が必要ですが null でした",
        ),
        (
            "interval",
            "4294967296",
            "0 より大きく 4294967295 以下の数値 (秒) が必要ですが 4294967296 (整数) でした",
        ),
        (
            "warn_threshold_mb",
            "-1",
            "0 以上の数値 (MB) が必要ですが -1 (整数) でした",
        ),
        (
            "max_log_mb",
            "false",
            "0 より大きい数値 (MB) が必要ですが false (真偽値) でした",
        ),
        (
            "detail_every",
            "10.0",
            "1 以上の整数が必要ですが 10.0 (小数) でした",
        ),
        (
            "keep_logs",
            "2.5",
            "0 以上 4294967295 以下の整数が必要ですが 2.5 (小数) でした",
        ),
        (
            "name",
            r#""""#,
            r#"空でない文字列が必要ですが "" (文字列) でした"#,
        ),
        (
            "log_file",
            "[]",
            "ファイルのパス (空でなく、NUL バイトを含まず、\"/\"・\".\"・\"..\" で終わらず、全体で 4095 バイト、名前ごとに 255 バイトまで) が必要ですが [] (配列) でした",
        ),
        (
            "metrics_listen",
            r#""localhost""#,
            r#""127.0.0.1:9464" のようなアドレスとポートが必要ですが "localhost" (文字列) でした"#,
        ),
        (
            "interval",
            "1e-9",
            "0.001 以上の数値 (秒) が必要ですが 1e-9 (小数) でした",
        ),
        (
            "startup_delay",
            "-1",
            "0 以上 4294967295 以下の数値 (秒) が必要ですが -1 (整数) でした",
        ),
        (
            "tracemalloc_timeout",
            "{}",
            "0 より大きい数値 (秒) が必要ですが {} (オブジェクト) でした",
        ),
        (
            "detail_source",
            r#""Auto""#,
            r#""auto"、"smaps"、"python"、"both" のいずれかが必要ですが "Auto" (文字列) でした"#,
        ),
        (
            "python_hook",
            "false",
            r#""auto"、"off" のいずれかが必要ですが false (真偽値) でした"#,
        ),
    ];
    for (key, bad, expected) in cases {
        let err = json_err(&format!(r#"{{"{key}": {bad}}}"#));
        assert_eq!(
            ja(&err),
            format!("client_config.json: memory_monitor.{key}: {expected}")
        );
    }
}

#[test]
fn a_log_file_with_a_nul_and_an_empty_name_flag_in_japanese() {
    assert_eq!(
        ja(&json_err(r#"{"log_file": "a\u0000b"}"#)),
        "client_config.json: memory_monitor.log_file: ファイルのパス (空でなく、NUL バイトを含まず、\"/\"・\".\"・\"..\" で終わらず、全体で 4095 バイト、名前ごとに 255 バイトまで) が必要ですが \"a\\u0000b\" (文字列) でした"
    );
    // `--name ""` says what `"name": ""` says after its key.
    let flag = memmon_config::parse_name("").unwrap_err().message(Lang::Ja);
    let config = ja(&json_err(r#"{"name": ""}"#));
    assert_eq!(
        config,
        format!("client_config.json: memory_monitor.name: {flag}")
    );
}

#[test]
fn a_duplicate_key_and_a_number_out_of_range_in_japanese() {
    let text = "{\"memory_monitor\": {\"interval\": 60,\n\"interval\": 5}}";
    assert_eq!(
        ja(&load_json_str(text, "client_config.json").unwrap_err()),
        "client_config.json:2: memory_monitor.interval: キーが重複しています (1 行目にもあります)。\
         JSON では最後の値だけが黙って使われるので、どちらかを削除してください"
    );
    let err = json_err(r#"{"interval": 1e309}"#);
    let msg = ja(&err);
    assert!(msg.starts_with("client_config.json:1:"), "{msg}");
    assert!(
        msg.ends_with(
            ": memory_monitor.interval: 数値 1e309 は範囲外です (絶対値がおよそ 1.8e308 までの数値が必要です)"
        ),
        "{msg}"
    );
}

#[test]
fn a_toml_number_out_of_range_in_japanese() {
    let err = load_toml_str("[memory_monitor]\ninterval = 1e309\n", "memmon.toml").unwrap_err();
    assert_eq!(
        ja(&err),
        "memmon.toml:2:12: memory_monitor.interval: 数値 1e309 は範囲外です (絶対値がおよそ 1.8e308 までの数値が必要です)"
    );
}

#[test]
fn the_block_itself_and_the_top_level() {
    assert_eq!(
        ja(&json_err("true")),
        "client_config.json: memory_monitor: オブジェクト ({ … }) が必要ですが true (真偽値) でした"
    );
    let err = load_toml_str("memory_monitor = 5\n", "memmon.toml").unwrap_err();
    assert_eq!(
        ja(&err),
        "memmon.toml: memory_monitor: テーブルが必要ですが 5 (整数) でした"
    );
    let err =
        load_toml_str("[memory_monitor]\ninterval = 1979-05-27\n", "memmon.toml").unwrap_err();
    assert_eq!(
        ja(&err),
        "memmon.toml: memory_monitor.interval: 0 より大きい数値 (秒) が必要ですが 1979-05-27 (日時) でした"
    );
    let err = load_json_str("[1, 2]", "c.json").unwrap_err();
    assert_eq!(
        ja(&err),
        "c.json: 最上位には JSON のオブジェクト ({ … }) が必要ですが [1, 2] (配列) でした"
    );
}

#[test]
fn syntax_errors_keep_the_parsers_words() {
    let text = "{\n  \"memory_monitor\": {\n    interval: 5\n  }\n}\n";
    let err = load_json_str(text, "client_config.json").unwrap_err();
    assert_eq!(
        ja(&err),
        "client_config.json:3:5: JSONの構文エラー: key must be a string"
    );
    let err = load_toml_str("[memory_monitor]\n  enabled = yes\n", "memmon.toml").unwrap_err();
    let msg = ja(&err);
    assert!(
        msg.starts_with("memmon.toml:2:13: TOMLの構文エラー: "),
        "{msg}"
    );
    assert!(!msg.contains('\n'), "one line: {msg}");
}

#[test]
fn files_that_cannot_be_used() {
    let err = load_bytes(b"{\"a\": \"\xe9\"}", Path::new("client_config.json")).unwrap_err();
    assert_eq!(
        ja(&err),
        "client_config.json:1:8: UTF-8 のテキストではありません (オフセット 7 のバイトが不正です)"
    );

    let err = load(Path::new("/nonexistent/dir/client_config.json")).unwrap_err();
    let msg = ja(&err);
    assert!(
        msg.starts_with("/nonexistent/dir/client_config.json: ファイルが見つかりません ("),
        "{msg}"
    );
    assert!(msg.contains("os error 2"), "{msg}");

    let dir = std::env::temp_dir();
    let err = load(&dir).unwrap_err();
    assert_eq!(
        ja(&err),
        format!(
            "{}: ディレクトリです (設定ファイルを指定してください)",
            dir.display()
        )
    );

    let err = ConfigError::TooLarge {
        file: "big.json".into(),
        limit: 4194304,
    };
    assert_eq!(
        ja(&err),
        "big.json: 設定ファイルとしては大きすぎます (4194304 バイトを超えています)"
    );
}

#[test]
fn english_through_in_lang_is_display() {
    for err in [
        json_err(r#"{"keep_logs": "many"}"#),
        load_json_str("{", "c.json").unwrap_err(),
        load_json_str("7", "c.json").unwrap_err(),
    ] {
        assert_eq!(err.in_lang(Lang::En).to_string(), err.to_string());
        assert_ne!(err.message(Lang::Ja), err.to_string());
    }
}

#[test]
fn warnings_in_both_languages() {
    let text = r#"{"memory_monitor": {"intervall": 60, "colour": "red"}}"#;
    let loaded = load_json_str(text, "client_config.json").unwrap();
    let ja: Vec<String> = loaded
        .warnings
        .iter()
        .map(|w| w.message(Lang::Ja))
        .collect();
    assert_eq!(
        ja,
        [
            "client_config.json: memory_monitor.colour: 不明なキーです (無視します)",
            "client_config.json: memory_monitor.intervall: 不明なキーです (無視します)。\"interval\" の書き間違いではありませんか?",
        ]
    );
    for w in &loaded.warnings {
        assert_eq!(w.message(Lang::En), w.to_string());
    }
    let loaded = load_json_str(r#"{"memory_monitr": {}}"#, "c.json").unwrap();
    assert_eq!(
        loaded.warnings[0].message(Lang::Ja),
        "c.json: memory_monitr: 不明なキーです (無視します)。\"memory_monitor\" の書き間違いではありませんか?"
    );
}
