//! Reliability: memmon keeps working when the things around it fail (issue: "a leak detector
//! must not leak, lose lines or fall over"). Each test drives the real binary.

use crate::util::{assert_well_formed, parse_log, samples, Dir, Running};
use memmon_format::Record;
use rustix::process::{kill_process, Pid, Signal};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn signal(child: &Running, sig: Signal) {
    kill_process(Pid::from_raw(child.id() as i32).unwrap(), sig).unwrap();
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !done() {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn count_samples(d: &Dir, log: &str) -> usize {
    let needle = "] 経過: ".as_bytes();
    std::fs::read(d.join(log))
        .map(|b| b.windows(needle.len()).filter(|w| *w == needle).count())
        .unwrap_or(0)
}

#[test]
fn own_memory_is_flat_over_20000_samples_at_1ms_with_detail() {
    let d = Dir::new("flat-memory");
    let mut memmon = d
        .memmon()
        .args([
            "run",
            "--startup-delay",
            "0",
            "--interval",
            "0.001",
            "--detail",
            "--max-log-mb",
            "1000",
            "--log",
            "m.log",
            "--",
            "sleep",
            "600",
        ])
        .stderr(Stdio::null())
        .spawn()
        .map(Running)
        .unwrap();
    wait_until("1,000 samples", || count_samples(&d, "m.log") >= 1000);
    let early = vm_hwm_kib(memmon.id());
    wait_until("20,000 samples", || count_samples(&d, "m.log") >= 20_000);
    let late = vm_hwm_kib(memmon.id());
    signal(&memmon, Signal::TERM);
    memmon.0.wait().unwrap();
    assert!(
        late <= early + 256,
        "VmHWM grew from {early} KiB after 1,000 samples to {late} KiB after 20,000"
    );
    let text = d.read("m.log");
    assert!(text.matches("  [smaps] ").count() >= 2000);
}

#[test]
fn a_full_device_never_stops_monitoring_or_the_command() {
    let d = Dir::new("dev-full");
    let out = d
        .memmon()
        .args([
            "run",
            "--startup-delay",
            "0",
            "--interval",
            "0.05",
            "--lang",
            "en",
            "--log",
            "/dev/full",
            "--",
        ])
        .args(["sh", "-c", "sleep 1; exit 5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.matches("memmon: cannot write to the log /dev/full: No space left on device")
            .count(),
        1,
        "{err}"
    );
    assert!(err.contains("モニタリング停止"), "{err}");
}

#[test]
fn a_log_moved_away_deleted_or_truncated_is_reopened_with_a_continuation_header() {
    let d = Dir::new("moved-log");
    let mut memmon = d
        .memmon()
        .args([
            "run",
            "--startup-delay",
            "0",
            "--interval",
            "0.05",
            "--lang",
            "en",
            "--log",
            "m.log",
            "--",
            "sleep",
            "600",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .map(Running)
        .unwrap();
    wait_until("samples", || count_samples(&d, "m.log") >= 3);
    // logrotate's way: rename, and memmon must start a new file.
    std::fs::rename(d.join("m.log"), d.join("m.log.rotated")).unwrap();
    wait_until("a new log", || count_samples(&d, "m.log") >= 2);
    // Deleted.
    std::fs::remove_file(d.join("m.log")).unwrap();
    wait_until("a recreated log", || count_samples(&d, "m.log") >= 2);
    let recreated = d.read("m.log");
    assert!(
        recreated.starts_with(&format!("{}\nメモリモニタリング継続: ", "=".repeat(80))),
        "{recreated}"
    );
    // An older client truncates it (Python's open(..., 'w')) and writes its own line.
    std::fs::write(d.join("m.log"), "other writer\n").unwrap();
    wait_until("samples after truncation", || {
        count_samples(&d, "m.log") >= 2
    });
    signal(&memmon, Signal::TERM);
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut memmon.0.stderr.take().unwrap(), &mut stderr).unwrap();
    memmon.0.wait().unwrap();
    let err = stderr;
    assert_eq!(
        err.matches("was truncated by another program").count(),
        1,
        "{err}"
    );
    assert!(err.contains("log_file"), "{err}");

    let rotated = d.read("m.log.rotated");
    assert!(rotated.contains("メモリモニタリング開始: "));
    let after = d.read("m.log");
    assert!(after.starts_with("other writer\n"), "{after}");
    assert!(after.contains("メモリモニタリング継続: "), "{after}");
    assert!(after.contains("モニタリング終了: "), "{after}");
    // 経過 keeps counting from the original start across the files.
    let recs = parse_log(&d.join("m.log"));
    let first = samples(&recs)[0].elapsed_secs;
    let last_before = samples(&parse_log(&d.join("m.log.rotated")))
        .last()
        .unwrap()
        .elapsed_secs;
    assert!(first >= last_before);
}

#[test]
fn a_second_sigint_kills_the_command_and_memmon_dies_of_sigint_with_a_footer() {
    let d = Dir::new("double-sigint");
    // The command ignores SIGINT, so only memmon's second-SIGINT rule can end it.
    let script = "trap '' INT; echo $$ > pid; while :; do sleep 0.05; done";
    let mut memmon = d
        .memmon()
        .args([
            "run",
            "--startup-delay",
            "0",
            "--interval",
            "0.05",
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
    wait_until("the command", || {
        count_samples(&d, "m.log") >= 2 && d.join("pid").exists()
    });
    let child_pid: i32 = d.read("pid").trim().parse().unwrap();
    signal(&memmon, Signal::INT);
    std::thread::sleep(Duration::from_millis(300));
    signal(&memmon, Signal::INT);
    let status = memmon.0.wait().unwrap();
    // memmon dies of SIGINT itself (not exit 130), so a calling script stops too.
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}");
    wait_until("the command to be gone", || {
        rustix::process::test_kill_process(Pid::from_raw(child_pid).unwrap()).is_err()
    });
    let recs = parse_log(&d.join("m.log"));
    assert_eq!(recs.last(), Some(&Record::Rule));
    assert!(
        recs.contains(&Record::ProcessExit(memmon_format::ExitKind::Signal {
            number: 9,
            name: "SIGKILL".into()
        }))
    );
    // The first SIGINT took the fresh sample before it went on: no stand-in line.
    assert!(!recs.contains(&Record::LastGoodUsed));
}

#[test]
fn signals_at_any_moment_leave_complete_lines_and_a_footer() {
    let d = Dir::new("signal-storm");
    for (round, sig) in [Signal::TERM, Signal::INT, Signal::HUP]
        .iter()
        .cycle()
        .take(12)
        .enumerate()
    {
        let log = format!("m{round}.log");
        let mut memmon = d
            .memmon()
            .args([
                "run",
                "--startup-delay",
                "0",
                "--interval",
                "0.002",
                "--detail",
            ])
            .args(["--log", &log, "--", "sleep", "600"])
            .stderr(Stdio::null())
            .spawn()
            .map(Running)
            .unwrap();
        wait_until("the log", || d.join(&log).exists());
        std::thread::sleep(Duration::from_millis((round as u64 * 7) % 40));
        signal(&memmon, *sig);
        memmon.0.wait().unwrap();
        let text = d.read(&log);
        let recs = parse_log(&d.join(&log));
        assert_well_formed(&recs, &text);
        assert_eq!(recs.last(), Some(&Record::Rule), "round {round}:\n{text}");
        assert!(
            text.contains("モニタリング終了: "),
            "round {round}:\n{text}"
        );
    }
}

#[test]
fn bad_configs_name_the_file_and_key_and_the_command_runs_anyway() {
    let d = Dir::new("bad-config");
    let cases: &[(&str, &str, &str)] = &[
        ("syntax.json", "{\"memory_monitor\": {", "syntax.json:1:"),
        (
            "syntax.toml",
            "[memory_monitor\ninterval = 3",
            "syntax.toml:",
        ),
        (
            "type.json",
            r#"{"memory_monitor": {"enabled": "yes"}}"#,
            "memory_monitor.enabled",
        ),
        (
            "zero.json",
            r#"{"memory_monitor": {"interval": 0}}"#,
            "memory_monitor.interval",
        ),
        (
            "negative.json",
            r#"{"memory_monitor": {"interval": -5}}"#,
            "memory_monitor.interval",
        ),
        (
            "huge.json",
            r#"{"memory_monitor": {"interval": 1e300}}"#,
            "memory_monitor.interval",
        ),
        (
            "keep.toml",
            "[memory_monitor]\nkeep_logs = \"many\"",
            "memory_monitor.keep_logs",
        ),
    ];
    for (file, text, expect) in cases {
        d.write(file, text);
        // With --pid there is nothing to run: a bad config is exit 2.
        let out = d
            .memmon()
            .args([
                "run",
                "--config",
                file,
                "--pid",
                &std::process::id().to_string(),
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file}: {err}");
        assert!(err.contains(file) && err.contains(expect), "{file}: {err}");
        // With a command, the command runs anyway (unmonitored), memmon says why and ends
        // as the command ends.
        let _ = std::fs::remove_file(d.join("memory_usage.log"));
        let out = d
            .memmon()
            .args([
                "run",
                "--config",
                file,
                "--",
                "sh",
                "-c",
                "echo ran; exit 5",
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(5), "{file}: {err}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "ran\n", "{file}");
        assert!(err.contains(file) && err.contains(expect), "{file}: {err}");
        assert!(err.contains("監視なしで実行します"), "{file}: {err}");
        // The default log gets a header and the reason, and nothing else of the run.
        let recs = parse_log(&d.join("memory_usage.log"));
        let Some(Record::Unmonitored { reason }) = recs.last() else {
            panic!("{file}: {recs:?}");
        };
        assert!(reason.contains(file) && reason.contains(expect), "{reason}");
        assert!(samples(&recs).is_empty());
    }
    std::fs::write(d.join("binary.json"), b"{\"memory_monitor\": \xff\xfe}").unwrap();
    std::fs::create_dir(d.join("dir.json")).unwrap();
    for file in ["binary.json", "dir.json", "missing.json"] {
        let out = d.memmon().args(["check-config", file]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file}: {err}");
        assert!(err.contains(file), "{file}: {err}");
    }
    // An unknown key is a warning, not an error.
    d.write("typo.json", r#"{"memory_monitor": {"intervall": 5}}"#);
    let out = d
        .memmon()
        .args(["check-config", "typo.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("intervall"));
}

#[test]
fn the_log_respects_the_umask_and_never_follows_a_planted_symlink() {
    let d = Dir::new("security");
    let memmon = env!("CARGO_BIN_EXE_memmon");
    for (umask, mode) in [("022", 0o644), ("077", 0o600)] {
        let log = format!("u{umask}.log");
        let st = std::process::Command::new("sh")
            .current_dir(&d.path)
            .arg("-c")
            .arg(format!(
                "umask {umask}; exec \"$0\" run --interval 0.1 --log {log} -- true"
            ))
            .arg(memmon)
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
        let m = std::fs::metadata(d.join(&log))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(m, mode, "umask {umask}");
    }
    // A symlink planted at the log path: memmon refuses it and leaves the target alone.
    d.write("precious", "keep me\n");
    std::os::unix::fs::symlink(d.join("precious"), d.join("evil.log")).unwrap();
    let out = d
        .memmon()
        .args([
            "run",
            "--startup-delay",
            "0",
            "--interval",
            "0.1",
            "--log",
            "evil.log",
            "--",
            "true",
        ])
        .output()
        .unwrap();
    // The command still runs (`true`: exit 0); memmon names the log it refused.
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("evil.log") && err.contains("監視なしで実行します"),
        "{err}"
    );
    assert_eq!(d.read("precious"), "keep me\n");
    // A symlink planted at the rotation path: rotation renames over the link, not through it.
    d.write("r.log", &"x".repeat(4096));
    std::os::unix::fs::symlink(d.join("precious"), d.join("r.log.1")).unwrap();
    let st = d
        .memmon()
        .args([
            "run",
            "--startup-delay",
            "0",
            "--interval",
            "0.1",
            "--log",
            "r.log",
            "--max-log-mb",
            "0.001",
            "--",
            "true",
        ])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(d.read("precious"), "keep me\n");
    assert_eq!(d.read("r.log.1"), "x".repeat(4096));
}

/// Another user's process: its `statm` is world-readable, so sample lines work, but the kernel
/// hides its `smaps` (mode 0400): the detail block is skipped with one clear stderr line, never
/// a panic. Needs root, to run memmon as `nobody` (CI and this workplace run as root).
#[test]
fn another_users_process_gives_a_permission_message_not_a_panic() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: needs root to run memmon as another user");
        return;
    }
    use std::os::unix::process::CommandExt;
    let d = Dir::new("other-user");
    std::fs::set_permissions(&d.path, std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut target = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let out = d
        .memmon()
        .uid(65534)
        .gid(65534)
        .args([
            "run",
            "--startup-delay",
            "0",
            "--pid",
            &target.id().to_string(),
            "--interval",
            "0.02",
            "--detail",
        ])
        .args(["--lang", "en", "--duration", "0.5", "--log", "m.log"])
        .output()
        .unwrap();
    let _ = target.kill();
    let _ = target.wait();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(
        err.matches("no detail block for process").count(),
        1,
        "{err}"
    );
    assert!(err.contains("permission denied"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let recs = parse_log(&d.join("m.log"));
    assert!(samples(&recs).len() >= 10);
    assert_eq!(recs.last(), Some(&Record::Rule));
}

/// A wall-clock jump (NTP at boot on a Pi without an RTC, an admin's `date -s`) moves the
/// printed timestamps only: 経過, the schedule and 実行時間 follow the monotonic clock. The jump
/// is made by libfaketime (Debian's `faketime`, installed by `.ci/run`), which fakes the wall
/// clock of one process and leaves CLOCK_MONOTONIC alone.
#[test]
fn a_wall_clock_jump_moves_timestamps_only() {
    let lib = [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists());
    let Some(lib) = lib else {
        eprintln!("skipped: libfaketime is not installed (apt-get install faketime)");
        return;
    };
    let d = Dir::new("clock-jump");
    d.write("offset", "+0\n");
    let mut memmon = d
        .memmon()
        .env("LD_PRELOAD", lib)
        .env("FAKETIME_TIMESTAMP_FILE", d.join("offset"))
        .env("FAKETIME_NO_CACHE", "1")
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .env("TZ", "UTC")
        .args([
            "run",
            "--startup-delay",
            "0",
            "--interval",
            "0.25",
            "--log",
            "m.log",
            "--",
            "sleep",
            "2.6",
        ])
        .stderr(Stdio::null())
        .spawn()
        .map(Running)
        .unwrap();
    wait_until("two samples", || count_samples(&d, "m.log") >= 2);
    // Two hours forward, written atomically so libfaketime never reads half a file.
    d.write("offset.new", "+2h\n");
    std::fs::rename(d.join("offset.new"), d.join("offset")).unwrap();
    assert!(memmon.0.wait().unwrap().success());

    let recs = parse_log(&d.join("m.log"));
    let s = samples(&recs);
    let jumps = s
        .windows(2)
        .filter(|w| w[0].at.duration_until(w[1].at).as_secs() >= 7000)
        .count();
    assert_eq!(jumps, 1, "{}", d.read("m.log"));
    // 経過 never jumps and the schedule does not burst: about one sample per 0.25 s.
    assert!(s
        .windows(2)
        .all(|w| w[1].elapsed_secs - w[0].elapsed_secs <= 1));
    assert!(s.last().unwrap().elapsed_secs <= 3);
    assert!(s.len() <= 12, "{} samples in 2.6 s", s.len());
    let text = d.read("m.log");
    let runtime: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("実行時間: "))
        .and_then(|v| v.strip_suffix('秒'))
        .unwrap()
        .parse()
        .unwrap();
    assert!(runtime <= 4, "実行時間 {runtime} s");
}
