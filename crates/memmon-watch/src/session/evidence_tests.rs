//! The flight recorder in a session (issue #20): triggers fire once each, the log names each
//! bundle, an OOM kill (SIGKILL and the OOM counter grew) names the run's last bundle, which a
//! crash loop's later bundles never evict; a process that has ended gets no bundle.

use super::tests::reading;
use super::*;
use crate::evidence::{protected_bundles, EvidenceOptions};
use crate::sink::SinkOptions;
use memmon_core::{Reading, MIB};
use memmon_format::{parse_line, EvidenceKind, EvidenceLine, Record};
use memmon_sampler::MockSampler;

/// A session over a fixture `/proc` (only `vmstat` and `meminfo`) writing `dir/m.log`.
fn session(dir: &std::path::Path, readings: Vec<Reading>, opts: EvidenceOptions) -> Session {
    let sink = LogSink::open(
        &dir.join("m.log"),
        SinkOptions {
            max_bytes: 1 << 30,
            keep: 1,
            sync: false,
        },
    )
    .unwrap();
    let mut s = Session::start(SessionParts {
        sampler: Box::new(MockSampler::new(readings.into_iter().map(Ok))),
        detail: None,
        sink,
        settings: MonitorSettings {
            warn_threshold: MonitorSettings::threshold_from_mib(5.0),
            detail_every: None,
        },
        interval: IntervalSpec::Integer(1),
        duration: None,
        startup_delay: Duration::ZERO,
        lang: crate::lang::Lang::Ja,
        pid: 4242,
        proc_root: Some(dir.join("proc")),
        console: Console::plain(),
        metrics: None,
        waker: std::task::Waker::noop().clone(),
        diagnosis: DiagnosisOptions::default(),
        dormant: None,
    });
    s.set_evidence(opts);
    s
}

fn fixture(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("memmon-evidence-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("proc")).unwrap();
    std::fs::write(dir.join("proc/vmstat"), "oom_kill 0\n").unwrap();
    std::fs::write(dir.join("proc/meminfo"), "MemTotal: 1000 kB\n").unwrap();
    // The watched process, alive (a capture checks it has not ended).
    std::fs::create_dir_all(dir.join("proc/4242")).unwrap();
    std::fs::write(
        dir.join("proc/4242/status"),
        "State:\tS (sleeping)\nThreads:\t1\n",
    )
    .unwrap();
    dir
}

fn evidence_lines(log: &std::path::Path) -> Vec<EvidenceLine> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .filter_map(|l| match parse_line(l) {
            Record::Evidence(e) => Some(e),
            _ => None,
        })
        .collect()
}

fn bundles(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("m.evidence"))
        .map(|r| {
            r.map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| n.ends_with(".txt") && !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn opts() -> EvidenceOptions {
    EvidenceOptions {
        pressure: 0.0,
        cgroup_root: "/nonexistent".into(),
        ..EvidenceOptions::default()
    }
}

#[test]
fn each_trigger_fires_once_and_the_log_names_each_bundle() {
    let dir = fixture("once");
    // 600 MiB available, then 30: the floor (50 MiB) fires once; growth past 5 MiB warns at
    // every sample from the third on, the warning trigger once.
    let mut readings: Vec<Reading> = (0..8).map(|i| reading(10 + 3 * i)).collect();
    for r in readings.iter_mut().skip(5) {
        r.sys_available = 30 * MIB;
    }
    let mut s = session(&dir, readings, opts());
    for _ in 0..8 {
        assert!(matches!(s.sample(), Attempt::Sampled));
    }
    s.capture_on_demand();
    s.capture_on_demand();
    s.finish(None, Final::Gone);
    let names = bundles(&dir);
    let kinds: Vec<&str> = names
        .iter()
        .map(|n| n.trim_end_matches(".txt").rsplit('-').next().unwrap())
        .collect();
    assert_eq!(kinds.len(), 3, "{names:?}");
    let mut sorted = kinds.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["floor", "usr2", "warning"]);
    let lines = evidence_lines(&dir.join("m.log"));
    assert_eq!(lines.len(), 3);
    for line in &lines {
        assert_eq!(line.kind, EvidenceKind::Saved);
        let path = line.path.as_deref().unwrap();
        assert!(path.starts_with("m.evidence/"), "{path}");
        let text = std::fs::read_to_string(dir.join(path)).unwrap();
        assert!(
            text.starts_with("# memmon 証拠バンドル\n## 概要\nトリガー: "),
            "{text}"
        );
        assert!(text.contains("## 直近のサンプル\n["), "{text}");
        assert!(text.contains("## meminfo\nMemTotal: 1000 kB\n"), "{text}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_oom_kill_names_the_last_bundle_which_a_crash_loop_never_evicts() {
    let dir = fixture("oom");
    let low = |mib| Reading {
        sys_available: 10 * MIB,
        ..reading(mib)
    };
    // Run 1: the floor fires, then the command is killed by the OOM killer.
    let mut s = session(
        &dir,
        vec![low(10), low(11)],
        EvidenceOptions { max: 2, ..opts() },
    );
    s.sample();
    std::fs::write(dir.join("proc/vmstat"), "oom_kill 1\n").unwrap();
    s.finish(
        Some(ExitKind::Signal {
            number: libc::SIGKILL,
            name: "SIGKILL".into(),
        }),
        Final::Gone,
    );
    let text = std::fs::read_to_string(dir.join("m.log")).unwrap();
    let first = bundles(&dir);
    assert_eq!(first.len(), 1);
    let named = format!(
        "  [証拠] OOMキラーによる終了の直前: m.evidence/{}\n",
        first[0]
    );
    assert!(text.contains(&named), "{text}");
    // The spec's OOM line came first, then this one, the exit line and the footer.
    let oom = text.find("OOMキラーが発動しました (+1)").unwrap();
    let exit = text.find("プロセス終了: シグナル 9 (SIGKILL)").unwrap();
    assert!(
        oom < text.find(&named).unwrap() && text.find(&named).unwrap() < exit,
        "{text}"
    );
    assert!(text.trim_end().ends_with(&"=".repeat(80)), "{text}");
    assert_eq!(protected_bundles(&dir.join("m.evidence")), first);
    // A crash loop: later runs keep writing bundles (each a second apart, the name's clock).
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(1050));
        let mut s = session(&dir, vec![low(10)], EvidenceOptions { max: 2, ..opts() });
        s.sample();
        s.capture_on_demand();
        s.finish(None, Final::Gone);
    }
    let now = bundles(&dir);
    assert!(now.contains(&first[0]), "{now:?}");
    assert_eq!(now.len(), 3, "two kept plus the protected one: {now:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_sigkill_without_an_oom_kill_names_the_bundle_unprotected() {
    let dir = fixture("kill");
    let low = Reading {
        sys_available: 10 * MIB,
        ..reading(10)
    };
    let mut s = session(&dir, vec![low], opts());
    s.sample();
    s.finish(
        Some(ExitKind::Signal {
            number: libc::SIGKILL,
            name: "SIGKILL".into(),
        }),
        Final::Gone,
    );
    let lines = evidence_lines(&dir.join("m.log"));
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].kind, EvidenceKind::Saved);
    // The exit names the last bundle too, without protecting it.
    assert_eq!(lines[1].kind, EvidenceKind::Exited);
    assert_eq!(lines[1].path, lines[0].path);
    assert!(protected_bundles(&dir.join("m.evidence")).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_escalation_trigger_fires_once() {
    let dir = fixture("escalation");
    let mut s = session(&dir, vec![reading(10), reading(10)], opts());
    s.sample();
    s.records.clear();
    s.check_evidence(Duration::from_secs(1), 600 * MIB, false, true);
    s.check_evidence(Duration::from_secs(2), 600 * MIB, false, true);
    assert_eq!(s.records.len(), 1);
    s.write_records(0, true);
    s.finish(None, Final::Gone);
    let names = bundles(&dir);
    assert_eq!(names.len(), 1);
    assert!(names[0].ends_with("-4242-escalation.txt"), "{names:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A trigger that fires after the command has ended (the OOM killer struck between the sample
/// and the capture; here a zombie, and then no process at all) keeps no bundle: the OOM line
/// names the bundle from before the death.
#[test]
fn a_command_that_has_ended_gets_no_bundle_and_the_oom_line_names_the_one_before() {
    let dir = fixture("ended");
    let low = Reading {
        sys_available: 10 * MIB,
        ..reading(10)
    };
    let mut s = session(&dir, vec![low], opts());
    s.sample();
    let before = bundles(&dir);
    assert_eq!(before.len(), 1, "{before:?}");
    assert!(before[0].ends_with("-4242-floor.txt"), "{before:?}");
    std::fs::write(
        dir.join("proc/4242/status"),
        "State:\tZ (zombie)\nThreads:\t1\n",
    )
    .unwrap();
    s.capture_on_demand();
    s.check_evidence(Duration::from_secs(2), 600 * MIB, true, true);
    std::fs::remove_dir_all(dir.join("proc/4242")).unwrap();
    s.capture_on_demand();
    assert_eq!(bundles(&dir), before);
    std::fs::write(dir.join("proc/vmstat"), "oom_kill 1\n").unwrap();
    s.finish(
        Some(ExitKind::Signal {
            number: libc::SIGKILL,
            name: "SIGKILL".into(),
        }),
        Final::Gone,
    );
    let lines = evidence_lines(&dir.join("m.log"));
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0].kind, EvidenceKind::Saved);
    assert_eq!(lines[1].kind, EvidenceKind::OomKilled);
    let named = format!("m.evidence/{}", before[0]);
    assert_eq!(lines[1].path.as_deref(), Some(named.as_str()));
    assert_eq!(protected_bundles(&dir.join("m.evidence")), before);
    let _ = std::fs::remove_dir_all(&dir);
}
