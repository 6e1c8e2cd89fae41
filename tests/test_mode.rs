//! `memmon test` against the original's test mode: the real binary, real signals.

use crate::util::{assert_well_formed, parse_log, samples, Dir, Running};
use memmon_format::Record;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The line of `selftest.rs` that keeps 1 MiB per step: the detail block's first site.
fn held_line() -> usize {
    let source = include_str!("../crates/memmon-cli/src/selftest.rs");
    source
        .lines()
        .position(|l| l.contains("held.push(vec![0xA5; STEP]);"))
        .expect("selftest.rs keeps its blocks with held.push")
        + 1
}

/// The console lines on stderr (the progress bar, if any, redraws with `\r`).
fn console_lines(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .split(['\n', '\r'])
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The footer's 実行時間 is the duration the test ran for (the original: `300秒` for its 5
/// minutes), not the time of the last sample (2.5 s here).
#[test]
fn the_footer_says_the_whole_duration() {
    let d = Dir::new("test-mode-duration");
    let out = d
        .memmon()
        .args(["test", "--duration", "3", "--interval", "0.5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = d.read("test_memory.log");
    assert!(text.contains("\n実行時間: 3秒\n"), "{text}");
    let recs = parse_log(&d.join("test_memory.log"));
    assert_well_formed(&recs, &text);
    assert_eq!(samples(&recs).len(), 6, "{text}");
    let err = console_lines(&out.stderr);
    assert_eq!(
        err.first().map(String::as_str),
        Some("メモリモニタリングテスト開始")
    );
    assert_eq!(
        err.last().map(String::as_str),
        Some("テスト完了"),
        "{err:#?}"
    );
}

/// Ctrl-C (a real SIGINT): `テスト中断`, the stop line, then `テスト完了` last, as the
/// original prints them; exit 130 and a whole footer.
#[test]
fn ctrl_c_says_interrupted_then_done() {
    let d = Dir::new("test-mode-sigint");
    let mut child = d
        .memmon()
        .args(["test", "--duration", "60", "--interval", "0.2"])
        .stderr(Stdio::piped())
        .spawn()
        .map(Running)
        .unwrap();
    let t0 = Instant::now();
    let sample_lines = || {
        std::fs::read_to_string(d.join("test_memory.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with('['))
            .count()
    };
    while sample_lines() < 3 {
        assert!(t0.elapsed() < Duration::from_secs(20), "no samples");
        std::thread::sleep(Duration::from_millis(50));
    }
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
        rustix::process::Signal::INT,
    )
    .unwrap();
    let status = child.wait();
    assert_eq!(status.code(), Some(130));
    let mut stderr = Vec::new();
    std::io::Read::read_to_end(child.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    let err = console_lines(&stderr);
    let tail: Vec<&str> = err.iter().rev().take(3).rev().map(String::as_str).collect();
    assert_eq!(tail[0], "テスト中断", "{err:#?}");
    assert!(
        tail[1].starts_with("[MemoryMonitor] モニタリング停止 - ログ保存: "),
        "{err:#?}"
    );
    assert_eq!(tail[2], "テスト完了", "{err:#?}");
    let text = d.read("test_memory.log");
    assert_well_formed(&parse_log(&d.join("test_memory.log")), &text);
    assert!(text.contains("\nメモリ増加量: "), "{text}");
}

/// The detail block names the test's line from the workspace (not the build machine's
/// directory) with exactly the 9 MiB held at the 10th sample (every 1 MiB block sampled), and
/// naming it costs no jump in RSS: the line tables are loaded before the baseline.
#[test]
fn the_block_names_the_line_from_the_workspace_with_the_bytes_held() {
    let d = Dir::new("test-mode-block");
    let out = d
        .memmon()
        .args(["test", "--duration", "6", "--interval", "0.5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = d.read("test_memory.log");
    let recs = parse_log(&d.join("test_memory.log"));
    // Sample 10 holds the blocks of steps 0-8: 9 MiB.
    let site = format!(
        "    crates/memmon-cli/src/selftest.rs:{}: size=9216 KiB, count=9, average=1024 KiB",
        held_line()
    );
    assert!(
        text.contains(&format!("\n{site}\n")),
        "no {site:?} in\n{text}"
    );
    assert!(!text.contains(env!("CARGO_MANIFEST_DIR")), "{text}");
    // Step by step, RSS grows by the MiB the test keeps, across the block too.
    let s = samples(&recs);
    assert_eq!(s.len(), 12, "{text}");
    let block_at = recs
        .iter()
        .position(|r| matches!(r, Record::Tracemalloc { .. }))
        .unwrap();
    assert_eq!(
        recs[..block_at]
            .iter()
            .filter(|r| matches!(r, Record::Sample(_)))
            .count(),
        10
    );
    let across = s[10].rss_mb - s[9].rss_mb;
    assert!(
        (0.5..2.5).contains(&across),
        "RSS +{across:.2} MB across the block\n{text}"
    );
}
