//! The spec's start-up delay: the first sample, the baseline of 初期比, is the loaded command,
//! not its launcher; 経過 counts from the header; the metrics know the run before any sample.

use crate::util::{assert_well_formed, parse_log, py_alloc, samples, Dir, Running};
use std::time::{Duration, Instant};

#[test]
fn the_first_sample_waits_for_the_delay_and_elapsed_counts_from_the_header() {
    let d = Dir::new("startup-delay");
    // 40 MiB allocated 0.3 s in: within a 2.5 s delay (room for a loaded machine's slow Python
    // start), so it is start-up, not growth.
    let out = d
        .memmon()
        .args([
            "run",
            "--startup-delay",
            "2.5",
            "--interval",
            "0.5",
            "--log",
            "m.log",
            "--",
        ])
        .args(["python3", "-c", &py_alloc(0.3, 40, 3.8)])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "memmon: 起動を待っています: 最初のサンプル (初期比の基準) は 2.5秒後です (startup_delay / --startup-delay)"
        ),
        "{stderr}"
    );
    let text = d.read("m.log");
    let recs = parse_log(&d.join("m.log"));
    assert_well_formed(&recs, &text);
    let s = samples(&recs);
    assert!(s.len() >= 2, "{text}");
    // 経過 of the first sample is the delay (2.5 s, in whole seconds), not 0.
    assert_eq!(s[0].elapsed_secs, 2, "{text}");
    // The 40 MiB were allocated before the first sample: the baseline holds them.
    assert!(s[0].rss_mb > 40.0, "{text}");
    for line in &s {
        assert!(line.growth_mb.abs() < 5.0, "{line:?}\n{text}");
    }
    assert!(!text.contains("[警告]"), "{text}");
}

#[test]
fn the_delay_comes_from_the_config_and_the_flag_overrides_it() {
    let d = Dir::new("startup-config");
    d.write(
        "client_config.json",
        r#"{"memory_monitor": {"interval": 0.2, "startup_delay": 30, "log_file": "m.log"}}"#,
    );
    // The config's 30 s would outlast the command: no sample line at all.
    let out = d
        .memmon()
        .args(["run", "--", "sleep", "0.6"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("は 30秒後です"), "{stderr}");
    assert!(samples(&parse_log(&d.join("m.log"))).is_empty());
    // The flag wins over the config.
    let out = d
        .memmon()
        .args(["run", "--startup-delay", "0", "--", "sleep", "0.6"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let recs = parse_log(&d.join("m.log"));
    let s = samples(&recs);
    assert!(!s.is_empty(), "{}", d.read("m.log"));
    assert_eq!(s[0].elapsed_secs, 0);
}

#[test]
fn a_bad_delay_is_named_and_the_command_runs_anyway() {
    let d = Dir::new("startup-bad");
    let out = d
        .memmon()
        .args(["run", "--startup-delay=-1", "--log", "m.log", "--"])
        .args(["sh", "-c", "echo ran; exit 6"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ran\n");
    assert!(
        stderr.contains("expected a number of seconds >= 0, got \"-1\"")
            && stderr.contains("監視なしで実行します"),
        "{stderr}"
    );
    let log = d.read("m.log");
    assert!(
        log.ends_with("⚠️ [memmon] 監視なしで実行します: invalid value '-1' for '--startup-delay <SECS>': expected a number of seconds >= 0, got \"-1\"\n"),
        "{log}"
    );
    // With --pid there is no command to keep running: exit 2.
    let out = d
        .memmon()
        .args(["run", "--startup-delay=-1", "--pid", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_metrics_name_the_pid_and_start_before_the_first_sample() {
    let d = Dir::new("startup-metrics");
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let child = d
        .memmon()
        .args([
            "run",
            "--startup-delay",
            "60",
            "--prom-textfile",
            "m.prom",
            "--log",
            "m.log",
            "--",
            "sleep",
            "30",
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let running = Running(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        if let Ok(t) = std::fs::read_to_string(d.join("m.prom")) {
            if t.contains("memmon_target_pid") {
                break t;
            }
        }
        assert!(Instant::now() < deadline, "no textfile within 10 s");
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(running);
    let value = |name: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(&format!("{name}{{")))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
    };
    // The PID is the command's (memmon's child), and the start is now.
    let log = d.read("m.log");
    let pid: f64 = log
        .lines()
        .find_map(|l| l.strip_prefix("PID: "))
        .and_then(|p| p.parse().ok())
        .unwrap();
    assert_eq!(value("memmon_target_pid"), pid);
    let start = value("memmon_run_start_timestamp_seconds");
    assert!(
        start >= before.floor() && start < before + 10.0,
        "{start} {before}"
    );
    assert_eq!(value("memmon_samples_total"), 0.0);
    assert!(!text.contains("memmon_rss_bytes"), "{text}");
}

/// With no delay, the first sample is still of the command, never of memmon's child halfway
/// through its `execve` (the old image let go, the new one not mapped: 0.00 MB resident and
/// virtual, once in three runs before memmon waited for the program to be mapped).
#[test]
fn with_no_delay_the_first_sample_is_the_command_never_memmon_mid_exec() {
    let d = Dir::new("startup-exec");
    for i in 0..20 {
        let log = format!("m{i}.log");
        let out = d
            .memmon()
            .args(["run", "--startup-delay", "0", "--interval", "0.2"])
            .args(["--log", &log, "--", "sleep", "0.25"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let recs = parse_log(&d.join(&log));
        let first = samples(&recs)
            .first()
            .copied()
            .unwrap_or_else(|| panic!("no sample: {}", d.read(&log)));
        assert!(
            first.vms_mb > 0.0 && first.rss_mb > 0.0,
            "run {i}: {}",
            d.read(&log)
        );
    }
}
