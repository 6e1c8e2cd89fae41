//! `--lang`: memmon's own errors and warnings are Japanese by default and English with
//! `--lang en`, for `check-config` and `test`; the log stays in the original's Japanese.

use crate::util::Dir;
use std::process::Output;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_owned()
}

#[test]
fn check_config_errors_are_japanese_by_default_and_english_on_request() {
    let d = Dir::new("lang-check-bad");
    d.write(
        "bad.json",
        "{\n  \"server_url\": \"http://192.168.1.31:5000\",\n  \"memory_monitor\": {\"interval\": \"300\"}\n}\n",
    );
    let ja = d
        .memmon()
        .args(["check-config", "bad.json"])
        .output()
        .unwrap();
    assert_eq!(ja.status.code(), Some(2));
    assert!(ja.stdout.is_empty());
    assert_eq!(
        stderr(&ja),
        r#"memmon: bad.json: memory_monitor.interval: 0 より大きい数値 (秒) が必要ですが "300" (文字列) でした"#
    );
    let en = d
        .memmon()
        .args(["check-config", "--lang", "en", "bad.json"])
        .output()
        .unwrap();
    assert_eq!(en.status.code(), Some(2));
    assert_eq!(
        stderr(&en),
        r#"memmon: bad.json: memory_monitor.interval: expected a number of seconds > 0, got "300""#
    );
}

#[test]
fn check_config_syntax_and_missing_file_in_both_languages() {
    let d = Dir::new("lang-check-syntax");
    d.write(
        "client_config.json",
        "{\n  \"memory_monitor\": {\n    interval: 5\n  }\n}\n",
    );
    let ja = d
        .memmon()
        .args(["check-config", "client_config.json"])
        .output()
        .unwrap();
    assert_eq!(ja.status.code(), Some(2));
    assert_eq!(
        stderr(&ja),
        "memmon: client_config.json:3:5: JSONの構文エラー: key must be a string"
    );
    let en = d
        .memmon()
        .args(["check-config", "client_config.json", "--lang", "en"])
        .output()
        .unwrap();
    assert_eq!(
        stderr(&en),
        "memmon: client_config.json:3:5: invalid JSON: key must be a string"
    );

    let missing = d
        .memmon()
        .args(["check-config", "nope.toml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    let msg = stderr(&missing);
    assert!(
        msg.starts_with("memmon: nope.toml: ファイルが見つかりません ("),
        "{msg}"
    );
}

#[test]
fn check_config_warnings_follow_the_language_and_settings_keep_their_keys() {
    let d = Dir::new("lang-check-warn");
    d.write(
        "memmon.toml",
        "[memory_monitor]\nintervall = 60\ninterval = 7\n",
    );
    let ja = d
        .memmon()
        .args(["check-config", "memmon.toml"])
        .output()
        .unwrap();
    assert_eq!(ja.status.code(), Some(0));
    assert_eq!(
        stderr(&ja),
        "memmon: 警告: memmon.toml: memory_monitor.intervall: 不明なキーです (無視します)。\"interval\" の書き間違いではありませんか?"
    );
    let en = d
        .memmon()
        .args(["check-config", "memmon.toml", "--lang", "en"])
        .output()
        .unwrap();
    assert_eq!(en.status.code(), Some(0));
    assert_eq!(
        stderr(&en),
        "memmon: warning: memmon.toml: memory_monitor.intervall: unknown key (ignored); did you mean \"interval\"?"
    );
    // The effective settings are the same text in both languages.
    assert_eq!(ja.stdout, en.stdout);
    assert!(String::from_utf8_lossy(&ja.stdout).contains("\ninterval = 7\n"));
}

#[test]
fn test_mode_errors_follow_the_language() {
    let d = Dir::new("lang-test");
    let log = "no-such-dir/test_memory.log";
    let args = ["test", "--duration", "1", "--interval", "0.5", "--log", log];
    let ja = d.memmon().args(args).output().unwrap();
    assert_eq!(ja.status.code(), Some(2));
    let msg = stderr(&ja);
    assert!(
        msg.contains(&format!("memmon: ログ {log} を開けません: ")),
        "{msg}"
    );
    let en = d
        .memmon()
        .args(args)
        .args(["--lang", "en"])
        .output()
        .unwrap();
    assert_eq!(en.status.code(), Some(2));
    let msg = stderr(&en);
    assert!(
        msg.contains(&format!("memmon: cannot open the log {log}: ")),
        "{msg}"
    );
}
