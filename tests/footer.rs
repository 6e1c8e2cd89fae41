//! The footer of a run that ends before its first sample (spec, Schedule): the header, the exit
//! line and a footer whose unmeasured figures are `-`, read back by `memmon analyze` as `null`.

use crate::util::{parse_log, Dir, Running};
use memmon_format::Record;
use serde_json::Value;
use std::time::{Duration, Instant};

const RULE: &str =
    "================================================================================";

/// The lines after the header (its six lines vary with the time and the PID), with the
/// footer's `モニタリング終了` time masked.
fn body(text: &str) -> Vec<String> {
    text.lines()
        .skip(6)
        .map(|l| {
            if l.starts_with("モニタリング終了: ") {
                "モニタリング終了: TIME".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect()
}

#[test]
fn a_command_that_ends_during_the_delay_leaves_a_footer_of_dashes() {
    let d = Dir::new("footer-dashes");
    let out = d
        .memmon()
        .args(["run", "--startup-delay", "30", "--log", "m.log", "--"])
        // It lives long enough for memmon to open its /proc entry (a command gone before that
        // is refused before the header: `cannot watch process N`).
        .args(["sh", "-c", "sleep 0.8; exit 3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let text = d.read("m.log");
    assert_eq!(
        body(&text),
        [
            "プロセス終了: 終了コード 3",
            "",
            RULE,
            "モニタリング終了: TIME",
            "実行時間: 1秒",
            "初期メモリ: -",
            "最終メモリ: -",
            "ピークメモリ: -",
            "メモリ増加量: -",
            RULE,
        ],
        "{text}"
    );
    let recs = parse_log(&d.join("m.log"));
    assert!(
        !recs.iter().any(|r| matches!(r, Record::Other(_))),
        "{text}"
    );

    let out = d
        .memmon()
        .args(["analyze", "m.log", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let run = &v["runs"][0];
    assert_eq!(run["samples"], 0);
    assert_eq!(run["exit_code"], 3);
    for key in ["baseline_mb", "last_mb", "peak_mb", "growth_mb"] {
        assert_eq!(run[key], Value::Null, "{key}: {run}");
    }
    let out = d.memmon().args(["analyze", "m.log"]).output().unwrap();
    let report = String::from_utf8(out.stdout).unwrap();
    assert!(
        report.contains("  初期メモリ: - | 最終メモリ: - | ピークメモリ: - | メモリ増加量: -\n"),
        "{report}"
    );
}

/// Stopped (a real SIGINT) while still waiting, the watched process alive: 最終メモリ and
/// ピークメモリ come from the fresh sample at stop, 初期メモリ and メモリ増加量 stay `-`.
#[test]
fn stopped_during_the_delay_takes_last_and_peak_from_a_fresh_sample() {
    let d = Dir::new("footer-fresh");
    let sleeper = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .map(Running)
        .unwrap();
    let pid = sleeper.id().to_string();
    let mut memmon = d
        .memmon()
        .args([
            "run",
            "--startup-delay",
            "30",
            "--log",
            "m.log",
            "--pid",
            &pid,
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(Running)
        .unwrap();
    let t0 = Instant::now();
    let header_written =
        || std::fs::read_to_string(d.join("m.log")).is_ok_and(|t| t.lines().count() >= 6);
    while !header_written() {
        assert!(t0.elapsed() < Duration::from_secs(10), "no header");
        std::thread::sleep(Duration::from_millis(20));
    }
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(memmon.id() as i32).unwrap(),
        rustix::process::Signal::INT,
    )
    .unwrap();
    memmon.wait();
    let text = d.read("m.log");
    let lines = body(&text);
    assert_eq!(
        lines[..5],
        [
            "",
            RULE,
            "モニタリング終了: TIME",
            "実行時間: 0秒",
            "初期メモリ: -"
        ],
        "{text}"
    );
    let last = lines[5].strip_prefix("最終メモリ: ").unwrap();
    assert!(last.ends_with("MB") && last != "-", "{text}");
    assert_eq!(lines[6], format!("ピークメモリ: {last}"), "{text}");
    assert_eq!(lines[7..], ["メモリ増加量: -", RULE], "{text}");
    drop(sleeper);
}
