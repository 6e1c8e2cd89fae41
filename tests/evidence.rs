//! Issue #20's flight recorder end to end: a real Python client leaking under a memory limit
//! (`ulimit -v`, RLIMIT_AS) gets its bundles before it dies, each trigger once, each named in
//! the log; a symlink planted at the bundle directory is never followed.

use crate::util::{parse_log, Dir};
use memmon_format::{EvidenceKind, Record};

/// Leaks 4 MiB every 0.1 s until the address-space limit ends it (MemoryError: exit 1); the
/// leaking line is line 4, called from line 7.
const LEAK: &str = "import time\nkeep = []\ndef grab():\n    return b'\\x01' * (4 << 20)\ndef loop():\n    while True:\n        keep.append(grab())\n        time.sleep(0.1)\nloop()\n";

fn bundles(d: &Dir) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(d.join("m.evidence"))
        .map(|r| {
            r.map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn a_leaking_python_client_under_a_limit_gets_its_bundles_before_it_dies() {
    let d = Dir::new("evidence-leak");
    d.write("leak.py", LEAK);
    // The floor far above any machine's memory: it fires at the first sample, once; growth
    // past 5 MB warns at many samples, the warning trigger once; the horizon so far out that
    // any steady growth is within it: the online trend's slope fires it once. Tracing on from
    // the start (the guide's `tracemalloc: true`, 5 frames), so every capture that reaches the
    // hook sees the leak, whichever trigger fires first and however late the hook comes up
    // under load (a capture started on the spot sees only what came after it:
    // `python_probes.rs` tests that case).
    d.write(
        "client_config.json",
        r#"{"memory_monitor": {"warn_threshold_mb": 5, "tracemalloc": true, "tracemalloc_frames": 5, "evidence_floor_mb": 100000000, "evidence_horizon": 4000000000, "evidence_pressure": 0}}"#,
    );
    let out = d
        .memmon()
        .args([
            "run",
            "--config",
            "client_config.json",
            "--interval",
            "0.2",
            "--startup-delay",
            "0",
            "--log",
            "m.log",
            "--",
            "sh",
            "-c",
            "ulimit -v 400000; exec python3 leak.py",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let names = bundles(&d);
    let mut kinds: Vec<&str> = names
        .iter()
        .map(|n| n.trim_end_matches(".txt").rsplit('-').next().unwrap())
        .collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["floor", "horizon", "warning"], "{stderr}");
    let text = d.read("m.log");
    let records = parse_log(&d.join("m.log"));
    let named: Vec<(usize, String)> = records
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match r {
            Record::Evidence(e) if e.kind == EvidenceKind::Saved => {
                Some((i, e.path.clone().unwrap()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(named.len(), 3, "{text}");
    let exit = records
        .iter()
        .position(|r| matches!(r, Record::ProcessExit(_)))
        .expect("an exit line");
    for (at, path) in &named {
        // Named before the client died, and there on disk.
        assert!(*at < exit, "{text}");
        let name = path.strip_prefix("m.evidence/").unwrap();
        assert!(names.contains(&name.to_owned()), "{path} not in {names:?}");
        let bundle = std::fs::read_to_string(d.join(path)).unwrap();
        assert!(
            bundle.starts_with("# memmon 証拠バンドル\n## 概要\n"),
            "{bundle}"
        );
        assert!(bundle.contains("## 直近のサンプル\n["), "{bundle}");
        assert!(bundle.contains(": smaps_rollup\n"), "{bundle}");
        assert!(bundle.contains(": FD\nソケット "), "{bundle}");
        assert!(bundle.contains("## meminfo\nMemTotal:"), "{bundle}");
    }
    // After the client's death, the line right before the exit line names the last bundle.
    let last = &named.iter().max_by_key(|(at, _)| *at).unwrap().1;
    // The hooked client's section: the last bundle names the leaking line first, with the
    // traceback through its caller.
    let bundle = std::fs::read_to_string(d.join(last)).unwrap();
    let sites = bundle
        .split("## ")
        .find(|s| s.starts_with("Python ") && s.contains(": 割り当て箇所\n"))
        .unwrap_or_else(|| panic!("no Python section:\n{bundle}"));
    let leak = d.join("leak.py").display().to_string();
    // The first site and its traceback (5 frames kept: the config's `tracemalloc_frames`),
    // most recent first: the line in `grab`, then its caller's line in `loop`.
    let lines: Vec<&str> = sites.lines().collect();
    let first = lines
        .iter()
        .position(|l| l.starts_with("1. "))
        .unwrap_or_else(|| panic!("no first site:\n{sites}"));
    assert!(
        lines[first].starts_with(&format!("1. {leak}:4: size=")),
        "{sites}"
    );
    assert_eq!(
        lines.get(first + 1..first + 3),
        Some(&[format!("    {leak}:4").as_str(), &format!("    {leak}:7")][..]),
        "{sites}"
    );
    // The sizes are estimates, and the bundle says so.
    assert!(lines[first - 1].starts_with("推定: "), "{sites}");
    match &records[exit - 1] {
        Record::Evidence(e) => {
            assert_eq!(e.kind, EvidenceKind::Exited, "{text}");
            assert_eq!(e.path.as_ref(), Some(last), "{text}");
        }
        other => panic!("not the exit's evidence line: {other:?}\n{text}"),
    }
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(d.join("m.evidence"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o700);
}

#[test]
fn a_symlink_planted_at_the_bundle_directory_is_not_followed() {
    let d = Dir::new("evidence-symlink");
    std::fs::create_dir(d.join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(d.join("elsewhere"), d.join("m.evidence")).unwrap();
    d.write(
        "client_config.json",
        r#"{"memory_monitor": {"evidence_floor_mb": 100000000, "evidence_pressure": 0}}"#,
    );
    let out = d
        .memmon()
        .args([
            "run",
            "--config",
            "client_config.json",
            "--interval",
            "0.2",
            "--startup-delay",
            "0",
            "--log",
            "m.log",
            "--",
            "sleep",
            "1",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("symlink"), "{stderr}");
    assert_eq!(std::fs::read_dir(d.join("elsewhere")).unwrap().count(), 0);
    assert!(!d.read("m.log").contains("[証拠]"));
}

/// Removes a test's cgroup once its processes are gone.
struct Cgroup(std::path::PathBuf);

impl Drop for Cgroup {
    fn drop(&mut self) {
        for _ in 0..100 {
            if std::fs::remove_dir(&self.0).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

/// A real OOM kill: the client leaks in a cgroup v1 memory cgroup limited to 96 MiB (where the
/// test can make one: root, and v1's memory controller mounted; skipped otherwise), the
/// kernel's OOM killer ends it, and memmon gets SIGTERM at once as systemd's `OOMPolicy=stop`
/// sends it. The bundle the cgroup's shrinking remainder triggered names the leaking line, is
/// named by the OOM line, protected, and the log still ends with its exit line and footer.
#[test]
fn an_oom_kill_then_sigterm_leaves_the_oom_line_naming_the_bundle_and_a_footer() {
    use rustix::process::{kill_process, Pid, Signal};
    let cg = std::path::Path::new("/sys/fs/cgroup/memory")
        .join(format!("memmon-e2e-oom-{}", std::process::id()));
    if std::fs::create_dir(&cg).is_err() {
        eprintln!("skipped: cannot make a cgroup v1 memory cgroup here");
        return;
    }
    let cg = Cgroup(cg);
    let limit = (96u64 << 20).to_string();
    std::fs::write(cg.0.join("memory.limit_in_bytes"), &limit).unwrap();
    let _ = std::fs::write(cg.0.join("memory.memsw.limit_in_bytes"), &limit);
    let d = Dir::new("evidence-oom");
    d.write("leak.py", LEAK);
    d.write(
        "client_config.json",
        // The floor at 80 of the 96 MiB: the cgroup's remainder (read about once a second)
        // passes it well before the kill, with room for the capture. The floor alone (no
        // warning, no horizon: a bundle they fire seconds later races the kill on a loaded
        // machine and gets nothing from the dying client, yet would be the one the OOM line
        // names). Traced from the start (5 frames), so the bundle shows the leak.
        r#"{"memory_monitor": {"evidence_pressure": 0, "evidence_floor_mb": 80, "evidence_horizon": 0, "warn_threshold_mb": 100000, "tracemalloc": true, "tracemalloc_frames": 5}}"#,
    );
    let procs = cg.0.join("cgroup.procs");
    let mut memmon = crate::util::Running(
        d.memmon()
            .args([
                "run",
                "--config",
                "client_config.json",
                "--interval",
                "0.1",
                "--startup-delay",
                "0",
                "--log",
                "m.log",
                "--",
                "sh",
                "-c",
                &format!("echo $$ > {} && exec python3 leak.py", procs.display()),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let oom_control = cg.0.join("memory.oom_control");
    crate::util::wait_for("the cgroup's OOM kill", || {
        std::fs::read_to_string(&oom_control).is_ok_and(|t| {
            t.lines()
                .any(|l| l.starts_with("oom_kill ") && l != "oom_kill 0")
        })
    });
    kill_process(Pid::from_raw(memmon.id() as i32).unwrap(), Signal::TERM).unwrap();
    let status = memmon.wait();
    let text = d.read("m.log");
    assert!(text.contains("OOMキラーが発動しました (+"), "{text}");
    let records = parse_log(&d.join("m.log"));
    let oom = records
        .iter()
        .find_map(|r| match r {
            Record::Evidence(e) if e.kind == EvidenceKind::OomKilled => Some(e.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no OOM evidence line ({status:?}):\n{text}"));
    let path = oom.path.expect("a bundle before the kill");
    let name = path.strip_prefix("m.evidence/").unwrap();
    assert!(d.join(&path).is_file(), "{path}");
    assert!(d.join(&format!("m.evidence/.oom-{name}")).is_file());
    // That bundle was named when it was written, before the kill, and the capture, made
    // inside the client a few MiB from its limit, names the leaking line and its caller.
    assert!(text.contains(&format!("  [証拠] 保存: {path}\n")), "{text}");
    let bundle = d.read(&path);
    let leak = d.join("leak.py").display().to_string();
    assert!(
        bundle.contains(&format!("\n1. {leak}:4: size="))
            && bundle.contains(&format!("\n    {leak}:4\n    {leak}:7\n")),
        "{bundle}"
    );
    assert!(
        text.contains("プロセス終了: シグナル 9 (SIGKILL)\n"),
        "{text}"
    );
    assert!(text.ends_with(&format!("{}\n", "=".repeat(80))), "{text}");
}
