//! Issue 17's edges, through the real binary: `--pid` of a kernel thread or a zombie, and the
//! config rules that `run`, `check-config` and the command line must share.

use crate::util::Dir;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

/// The proc fixture tree of memmon-sampler's tests (kthreadd as PID 2, a zombie as 4300).
fn fixture_proc() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../memmon-sampler/tests/fixtures/proc")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `memmon run --pid PID --lang LANG` with extra arguments; nothing may be logged.
fn run_pid(d: &Dir, pid: u32, lang: &str, extra: &[&str]) -> Output {
    let out = d
        .memmon()
        .args(["run", "--pid", &pid.to_string(), "--lang", lang])
        .args(["--log", "m.log"])
        .args(extra)
        .output()
        .unwrap();
    assert!(!d.join("m.log").exists() || d.read("m.log").is_empty());
    out
}

#[test]
fn pid_of_a_kernel_thread_is_refused_saying_so() {
    let d = Dir::new("kthread");
    let root = fixture_proc();
    let root = root.to_str().unwrap();
    let out = run_pid(&d, 2, "en", &["--proc-root", root]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "memmon: cannot watch process 2: it is a kernel thread, with no user memory to watch\n"
    );
    let out = run_pid(&d, 2, "ja", &["--proc-root", root]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "memmon: プロセス 2 を監視できません: カーネルスレッドです。監視できるユーザーメモリがありません\n"
    );
    // The real kthreadd, where PID 2 is one (outside a PID namespace).
    let real = std::fs::read_to_string("/proc/2/stat").unwrap_or_default();
    if real.contains("(kthreadd)") {
        let out = run_pid(&d, 2, "en", &[]);
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains("kernel thread"), "{}", stderr(&out));
    }
}

#[test]
fn pid_of_a_zombie_is_refused_as_exited_not_as_missing() {
    let d = Dir::new("zombie");
    // Not waited for until the end: a zombie of this test once it has exited.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap()
        .contains(") Z ")
    {
        assert!(Instant::now() < deadline, "{pid} never exited");
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = run_pid(&d, pid, "en", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!(
            "memmon: cannot watch process {pid}: it has exited and is waiting for its parent \
             to collect its exit status (a zombie)\n"
        )
    );
    let out = run_pid(&d, pid, "ja", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!(
            "memmon: プロセス {pid} を監視できません: プロセスは終了していて、親プロセスが\
             終了状態を回収するのを待っています (ゾンビ)\n"
        )
    );
    child.wait().unwrap();
}

#[test]
fn check_config_refuses_the_log_file_run_refuses_in_both_languages() {
    let d = Dir::new("nul-log");
    d.write(
        "c.json",
        r#"{"memory_monitor": {"log_file": "a\u0000b", "interval": 0.1}}"#,
    );
    let expected_en = "memmon: c.json: memory_monitor.log_file: expected a file path (not empty, \
                       no NUL byte, not ending in \"/\", \".\" or \"..\", at most 4095 bytes and \
                       255 per name), got \"a\\u0000b\"\n";
    let out = d
        .memmon()
        .args(["check-config", "c.json", "--lang", "en"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out), expected_en);
    let out = d
        .memmon()
        .args(["check-config", "c.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("NUL バイトを含まず"),
        "{}",
        stderr(&out)
    );
    // `run` refuses it with the same words, and the command runs anyway, unmonitored.
    let out = d
        .memmon()
        .args([
            "run", "--config", "c.json", "--lang", "en", "--", "sh", "-c", "exit 3",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).starts_with(expected_en), "{}", stderr(&out));
}

#[test]
fn an_empty_name_is_refused_on_the_command_line_as_in_the_config() {
    let d = Dir::new("empty-name");
    d.write("c.json", r#"{"memory_monitor": {"name": ""}}"#);
    let out = d
        .memmon()
        .args(["check-config", "c.json", "--lang", "en"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let rule = "expected a non-empty string, got \"\"";
    assert_eq!(
        stderr(&out),
        format!("memmon: c.json: memory_monitor.name: {rule}\n")
    );
    // With --pid, a bad flag is exit 2 naming the flag and the rule.
    let me = std::process::id().to_string();
    let out = d
        .memmon()
        .args(["run", "--pid", &me, "--name", "", "--log", "m.log"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&format!("invalid value '' for '--name <NAME>': {rule}")),
        "{}",
        stderr(&out)
    );
    assert!(!d.join("m.log").exists());
    // With a command, it runs anyway, unmonitored, the reason in the log.
    let out = d
        .memmon()
        .args([
            "run", "--name", "", "--log", "m.log", "--", "sh", "-c", "exit 4",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(stderr(&out).contains(rule), "{}", stderr(&out));
    assert!(d.read("m.log").contains(rule), "{}", d.read("m.log"));
}

/// `memmon check-config FILE --lang LANG`: its exit code and stderr.
fn check_config(d: &Dir, file: &str, lang: &str) -> (Option<i32>, String) {
    let out = d
        .memmon()
        .args(["check-config", file, "--lang", lang])
        .output()
        .unwrap();
    (out.status.code(), stderr(&out))
}

#[test]
fn a_duplicate_json_key_is_refused_with_both_lines() {
    let d = Dir::new("dup-key");
    d.write(
        "c.json",
        "{\n  \"memory_monitor\": {\n    \"interval\": 60,\n    \"interval\": 5\n  }\n}\n",
    );
    assert_eq!(
        check_config(&d, "c.json", "en"),
        (
            Some(2),
            "memmon: c.json:4: memory_monitor.interval: duplicate key, also at line 3 (JSON \
             would silently keep only the last one; remove one of them)\n"
                .to_owned()
        )
    );
    assert_eq!(
        check_config(&d, "c.json", "ja"),
        (
            Some(2),
            "memmon: c.json:4: memory_monitor.interval: キーが重複しています (3 行目にもあります)。\
             JSON では最後の値だけが黙って使われるので、どちらかを削除してください\n"
                .to_owned()
        )
    );
}

#[test]
fn a_json_number_beyond_f64_names_its_key_and_value() {
    let d = Dir::new("1e309");
    d.write(
        "c.json",
        "{\"memory_monitor\": {\n  \"interval\": 1e309\n}}\n",
    );
    let (code, en) = check_config(&d, "c.json", "en");
    assert_eq!(code, Some(2));
    assert!(
        en.starts_with("memmon: c.json:2:") && en.ends_with(
            ": memory_monitor.interval: the number 1e309 is out of range (numbers here must be \
             within about ±1.8e308)\n"
        ),
        "{en}"
    );
    let (code, ja) = check_config(&d, "c.json", "ja");
    assert_eq!(code, Some(2));
    assert!(
        ja.ends_with(": memory_monitor.interval: 数値 1e309 は範囲外です (絶対値がおよそ 1.8e308 までの数値が必要です)\n"),
        "{ja}"
    );
}
