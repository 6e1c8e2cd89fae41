//! Monitoring never keeps the command from running: a log memmon must refuse or cannot open
//! leaves the command running unmonitored, and memmon says why.

use crate::util::Dir;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn run_with_log(d: &Dir, log: &str) -> (std::process::ExitStatus, String, String) {
    let mut child = d
        .memmon()
        .args([
            "run",
            "--startup-delay",
            "0",
            "--interval",
            "0.1",
            "--lang",
            "en",
        ])
        .args(["--log", log, "--", "sh", "-c", "echo ran; exit 3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A hang here is the bug: give it 20 s, then kill it and fail.
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("memmon hung with the log {log}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_fifo_at_the_log_path_is_refused_without_blocking_and_the_command_runs() {
    let d = Dir::new("fifo-log");
    let fifo = d.join("m.log");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    // No reader: opening it for writing would block without O_NONBLOCK.
    let (status, stdout, stderr) = run_with_log(&d, "m.log");
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert_eq!(stdout, "ran\n");
    assert!(
        stderr.contains("m.log") && stderr.contains("running the command unmonitored"),
        "{stderr}"
    );
    // With a reader holding it open (opened first, without blocking), memmon still refuses to
    // write into a pipe.
    let reader = rustix::fs::open(
        &fifo,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NONBLOCK,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    let (status, stdout, stderr) = run_with_log(&d, "m.log");
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert_eq!(stdout, "ran\n");
    assert!(
        stderr.contains("not a regular file or a device"),
        "{stderr}"
    );
    // Nothing was written into the pipe (its writer, memmon, is gone: end of file).
    let mut buf = [0u8; 16];
    assert_eq!(rustix::io::read(&reader, &mut buf).unwrap(), 0);
}

#[test]
fn a_log_in_a_missing_directory_is_named_and_the_command_runs() {
    let d = Dir::new("missing-dir-log");
    let (status, stdout, stderr) = run_with_log(&d, "no/such/dir/m.log");
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(status.signal().is_none());
    assert_eq!(stdout, "ran\n");
    assert!(
        stderr.contains("cannot open the log no/such/dir/m.log")
            && stderr.contains("running the command unmonitored"),
        "{stderr}"
    );
}

#[test]
fn a_stderr_that_cannot_be_written_never_stops_memmon_or_the_command() {
    let d = Dir::new("stderr-full");
    // Every 10th sample and the stop lines go to stderr: /dev/full refuses them all.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let status = d
        .memmon()
        .args([
            "run",
            "--startup-delay",
            "0",
            "--interval",
            "0.02",
            "--log",
            "m.log",
        ])
        .args(["--", "sh", "-c", "sleep 1; exit 3"])
        .stderr(full)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(3), "{status:?}");
    let log = d.read("m.log");
    assert!(log.contains("プロセス終了: 終了コード 3\n"), "{log}");
    assert!(log.trim_end().ends_with(&"=".repeat(80)), "{log}");

    // A reader that takes 10 bytes and goes away: later writes get EPIPE.
    let mut memmon = d
        .memmon()
        .args([
            "run",
            "--startup-delay",
            "0",
            "--interval",
            "0.02",
            "--log",
            "p.log",
        ])
        .args(["--", "sh", "-c", "sleep 1; exit 4"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Read;
        let mut pipe = memmon.stderr.take().unwrap();
        let mut first = [0u8; 10];
        pipe.read_exact(&mut first).unwrap();
    }
    let status = memmon.wait().unwrap();
    assert_eq!(status.code(), Some(4), "{status:?}");
    let log = d.read("p.log");
    assert!(log.contains("プロセス終了: 終了コード 4\n"), "{log}");
    assert!(log.trim_end().ends_with(&"=".repeat(80)), "{log}");
}

#[test]
fn notices_during_a_run_are_japanese_unless_told() {
    let d = Dir::new("notice-lang");
    let run = |lang: &[&str]| {
        let out = d
            .memmon()
            .args(["run", "--startup-delay", "0", "--interval", "0.05"])
            .args(lang)
            .args(["--log", "/dev/full", "--", "sleep", "0.3"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let ja = run(&[]);
    assert!(
        ja.contains("memmon: ログ /dev/full に書けません: No space left on device"),
        "{ja}"
    );
    let en = run(&["--lang", "en"]);
    assert!(
        en.contains("memmon: cannot write to the log /dev/full: No space left on device"),
        "{en}"
    );
}

#[test]
fn check_config_and_analyze_never_panic_on_a_full_stdout_or_stderr() {
    let d = Dir::new("full-out");
    d.write("c.json", r#"{"memory_monitor": {"interval": 5}}"#);
    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    // The settings cannot be printed: still exit 0 (valid), never 101 (a panic).
    let status = d
        .memmon()
        .args(["check-config", "c.json"])
        .stdout(full())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");
    // analyze's error cannot be printed: still exit 2.
    let status = d
        .memmon()
        .args(["analyze", "no-such.log"])
        .stderr(full())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2), "{status:?}");
}

#[test]
fn a_metrics_port_in_use_leaves_the_command_and_its_monitoring_running() {
    let d = Dir::new("port-in-use");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = d
        .memmon()
        .args(["run", "--startup-delay", "0", "--interval", "0.05"])
        .args(["--metrics-listen", &addr, "--log", "m.log", "--"])
        .args(["sh", "-c", "sleep 0.5; exit 3"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains(&addr) && err.contains("この実行ではメトリクスを出しません"),
        "{err}"
    );
    // Monitoring went on without metrics: sample lines, the exit line and a footer.
    let log = d.read("m.log");
    assert!(log.contains("] 経過: "), "{log}");
    assert!(log.contains("プロセス終了: 終了コード 3\n"), "{log}");
    assert!(log.trim_end().ends_with(&"=".repeat(80)), "{log}");
    drop(taken);
}
