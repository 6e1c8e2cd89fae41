//! End-to-end tests: each drives the freshly built `memmon` binary on real processes.
#![allow(clippy::unwrap_used)] // a panic in a test harness is a failed test

mod analyze;
mod config_edge;
mod crash_loop;
mod daemonize;
mod detail_cadence;
mod diagnosis;
mod evidence;
mod fail_open;
mod footer;
mod hook_private;
mod idle_hook;
mod lang;
mod metrics;
mod metrics_hardening;
mod pi_launch;
mod proc_fixture;
mod python_hook;
mod reliability;
mod report;
mod sampler_e2e;
mod signals;
mod sink_hardening;
mod startup;
mod stop;
mod test_mode;
mod util;

use memmon_format::{ExitKind, Record};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::{Duration, Instant};
use util::{assert_well_formed, parse_log, py_alloc, samples, Dir, Running};

#[test]
fn version_prints() {
    let d = Dir::new("version");
    let out = d.memmon().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("memmon {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn run_logs_growth_warning_detail_exit_and_footer() {
    let d = Dir::new("run-main");
    let out = d
        .memmon()
        .args([
            "run",
            "--startup-delay",
            "0",
            "--interval",
            "0.2",
            "--detail",
            "--log",
            "m.log",
            "--",
        ])
        .args(["python3", "-c", &py_alloc(2.0, 60, 1.5)])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = d.read("m.log");
    let recs = parse_log(&d.join("m.log"));
    assert_well_formed(&recs, &text);

    // Header, exactly as the spec lays it out.
    assert_eq!(recs[0], Record::Rule);
    assert!(matches!(recs[1], Record::Start { .. }));
    assert!(matches!(recs[2], Record::Pid(_)));
    assert_eq!(text.lines().nth(3), Some("モニタリング間隔: 0.2秒"));
    assert_eq!(recs[4], Record::Rule);
    assert_eq!(recs[5], Record::Blank);

    let s = samples(&recs);
    assert!(s.len() >= 12, "only {} samples:\n{text}", s.len());
    assert_eq!(s[0].growth_mb, 0.0);
    assert!(text.contains("(初期比: +0.00MB)"));

    // A warning follows exactly the sample lines whose growth is above 50 MB, never another.
    for (i, r) in recs.iter().enumerate() {
        if let Record::Sample(line) = r {
            let warned = matches!(recs.get(i + 1), Some(Record::Warning { .. }));
            assert_eq!(warned, line.growth_mb > 50.0, "line {i}: {line:?}\n{text}");
        }
    }
    assert!(
        recs.iter().any(|r| matches!(r, Record::Warning { .. })),
        "{text}"
    );
    let first_warning = recs
        .iter()
        .position(|r| matches!(r, Record::Warning { .. }))
        .unwrap();
    let Record::Sample(before) = &recs[first_warning - 1] else {
        panic!("warning not after a sample")
    };
    assert!(before.growth_mb > 50.0 && before.elapsed_secs >= 2);

    // The detail block right after the 10th sample: the child is Python, so memmon's hook gives
    // the original's tracemalloc line (one process: no PID in it).
    let tenth = recs
        .iter()
        .enumerate()
        .filter(|(_, r)| matches!(r, Record::Sample(_)))
        .nth(9)
        .unwrap()
        .0;
    let after: Vec<&Record> = recs[tenth + 1..]
        .iter()
        .skip_while(|r| matches!(r, Record::Warning { .. }))
        .take(3)
        .collect();
    // The 10th sample's breakdown comes first (issue #19), then the block.
    assert!(
        matches!(after[0], Record::Breakdown(_)),
        "{after:?}\n{text}"
    );
    let after = &after[1..];
    assert!(
        matches!(after[0], Record::Tracemalloc { pid: None, .. }),
        "{after:?}\n{text}"
    );
    assert_eq!(after[1], &Record::TopHeader);

    // The end: プロセス終了, then the footer (from the last good sample: the command is gone).
    let exit = recs
        .iter()
        .position(|r| matches!(r, Record::ProcessExit(_)))
        .unwrap();
    assert_eq!(recs[exit], Record::ProcessExit(ExitKind::Code(0)));
    assert_eq!(recs[exit + 1], Record::LastGoodUsed);
    assert!(text.ends_with(&format!("{}\n", "=".repeat(80))));
    assert!(recs.iter().any(|r| matches!(r, Record::End { .. })));

    // The console lines went to stderr.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("[MemoryMonitor] モニタリング開始 (間隔: 0.2秒)"),
        "{err}"
    );
    assert!(
        err.contains("[MemoryMonitor] モニタリング停止 - ログ保存: "),
        "{err}"
    );
}

#[test]
fn exit_code_of_the_command_passes_through() {
    let d = Dir::new("exit-code");
    let status = d
        .memmon()
        .args([
            "run",
            "--startup-delay",
            "0",
            "--interval",
            "0.1",
            "--log",
            "m.log",
            "--",
            "sh",
            "-c",
            "sleep 0.3; exit 3",
        ])
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(3));
    assert!(d.read("m.log").contains("プロセス終了: 終了コード 3\n"));
    let killed = d
        .memmon()
        .args([
            "run",
            "--startup-delay",
            "0",
            "--interval",
            "0.1",
            "--log",
            "k.log",
            "--",
            "sh",
            "-c",
            "sleep 0.3; kill -9 $$",
        ])
        .status()
        .unwrap();
    // Killed by SIGKILL: memmon dies of SIGKILL too (not exit 137), as systemd would see it.
    assert_eq!(killed.signal(), Some(9), "{killed:?}");
    assert!(d
        .read("k.log")
        .contains("プロセス終了: シグナル 9 (SIGKILL)\n"));
}

#[test]
fn sigterm_reaches_the_command_and_the_footer_is_written() {
    let d = Dir::new("sigterm");
    let script = "trap 'echo got-term > marker; exit 7' TERM; echo ready > ready; while :; do sleep 0.05; done";
    let mut child = d
        .memmon()
        .args([
            "run",
            "--startup-delay",
            "0",
            "--interval",
            "0.1",
            "--log",
            "m.log",
            "--",
            "sh",
            "-c",
            script,
        ])
        .stderr(Stdio::null())
        .spawn()
        .map(Running)
        .unwrap();
    let t0 = Instant::now();
    while !d.join("ready").exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "command never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let status = child.wait();
    assert_eq!(status.code(), Some(7));
    assert_eq!(d.read("marker").trim(), "got-term");
    let text = d.read("m.log");
    assert!(text.contains("プロセス終了: 終了コード 7\n"), "{text}");
    assert!(text.contains("メモリ増加量: "), "{text}");
}

#[test]
fn children_counts_the_grandchild() {
    let d = Dir::new("children");
    let inner = format!("python3 -c \"{}\"; true", py_alloc(0.5, 80, 1.5));
    let run = |flag: Option<&str>, log: &str| {
        let mut c = d.memmon();
        c.args([
            "run",
            "--startup-delay",
            "0",
            "--interval",
            "0.2",
            "--log",
            log,
        ]);
        if let Some(f) = flag {
            c.arg(f);
        }
        let st = c
            .args(["--", "sh", "-c", &inner])
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert_eq!(st.code(), Some(0));
        let recs = parse_log(&d.join(log));
        samples(&recs).iter().map(|s| s.rss_mb).fold(0.0, f64::max)
    };
    let with = run(Some("--children"), "with.log");
    let without = run(None, "without.log");
    assert!(with > 80.0, "with --children the peak is {with} MB");
    assert!(without < 20.0, "sh alone should be small, got {without} MB");
}

#[test]
fn a_second_run_appends_and_the_first_stays_a_prefix() {
    let d = Dir::new("append");
    let go = |extra: &[&str]| {
        let st = d
            .memmon()
            .args([
                "run",
                "--startup-delay",
                "0",
                "--interval",
                "0.1",
                "--log",
                "m.log",
            ])
            .args(extra)
            .args(["--", "sleep", "0.3"])
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
    };
    go(&[]);
    let first = d.read("m.log");
    go(&[]);
    let both = d.read("m.log");
    assert!(both.starts_with(&first) && both.len() > first.len());
    assert_eq!(both.matches("メモリモニタリング開始: ").count(), 2);

    // A limit below two runs (~2.6 KB) but above one (~1.3 KB) rotates at the next run
    // boundary: runs 1 and 2 move to .1, run 3 starts anew and stays below the limit.
    go(&["--max-log-mb", "0.002"]);
    assert_eq!(d.read("m.log.1"), both);
    assert_eq!(
        d.read("m.log").matches("メモリモニタリング開始: ").count(),
        1
    );
}

#[test]
fn test_mode_completes_with_a_well_formed_log() {
    let d = Dir::new("test-mode");
    let out = d
        .memmon()
        .args(["test", "--duration", "3", "--interval", "0.5"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = d.read("test_memory.log");
    let recs = parse_log(&d.join("test_memory.log"));
    assert_well_formed(&recs, &text);
    // k × 0.5 < 3: six samples, then the footer.
    assert_eq!(samples(&recs).len(), 6, "{text}");
    assert!(text.ends_with(&format!("{}\n", "=".repeat(80))));
    let err = String::from_utf8_lossy(&out.stderr);
    let first = err.lines().next().unwrap();
    assert_eq!(first, "メモリモニタリングテスト開始");
    assert!(err.contains("反復 0: 1MB のデータを保持"), "{err}");
    assert_eq!(err.lines().last(), Some("テスト完了"));
}

#[test]
fn pid_that_does_not_exist_is_a_clear_error() {
    let d = Dir::new("no-pid");
    let out = d
        .memmon()
        .args([
            "run",
            "--startup-delay",
            "0",
            "--pid",
            "999999999",
            "--log",
            "m.log",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("999999999"), "{err}");
}

#[test]
fn pid_mode_stops_when_the_process_exits() {
    let d = Dir::new("pid-mode");
    let mut target = std::process::Command::new("sleep")
        .arg("1")
        .spawn()
        .unwrap();
    let pid = target.id().to_string();
    let mut memmon = d
        .memmon()
        .args([
            "run",
            "--startup-delay",
            "0",
            "--pid",
            &pid,
            "--interval",
            "0.2",
            "--log",
            "m.log",
        ])
        .stderr(Stdio::null())
        .spawn()
        .map(Running)
        .unwrap();
    target.wait().unwrap();
    let status = memmon.wait();
    assert_eq!(status.code(), Some(0));
    let text = d.read("m.log");
    assert!(text.contains(&format!("PID: {pid}\n")));
    assert!(text.contains("モニタリング終了: "), "{text}");
}

#[test]
fn disabled_config_runs_the_command_unmonitored() {
    let d = Dir::new("disabled");
    d.write(
        "client_config.json",
        r#"{"server_url": "http://x", "memory_monitor": {"enabled": false, "interval": 1}}"#,
    );
    let out = d
        .memmon()
        .args(["run", "--startup-delay", "0", "--", "sh", "-c", "exit 4"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(!d.join("memory_usage.log").exists());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("コマンドを監視なしで実行します (監視するには --enable)"),
        "{err}"
    );
    // The same notice in English with --lang en.
    let out = d
        .memmon()
        .args(["run", "--lang", "en", "--", "sh", "-c", "exit 4"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("running the command unmonitored"));
}

#[test]
fn check_config_prints_settings_or_the_error() {
    let d = Dir::new("check-config");
    d.write(
        "client_config.json",
        r#"{"server_url": "http://192.168.1.31:5000", "memory_monitor": {"enabled": true, "interval": 300, "tracemalloc": false}}"#,
    );
    let ok = d
        .memmon()
        .args(["check-config", "client_config.json"])
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("interval = 300"));

    d.write("bad.json", r#"{"memory_monitor": {"interval": "abc"}}"#);
    let bad = d
        .memmon()
        .args(["check-config", "bad.json", "--lang", "en"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr).trim(),
        r#"memmon: bad.json: memory_monitor.interval: expected a number of seconds > 0, got "abc""#
    );
}
