//! The diagnosis with literal numbers: the breakdown line's place in the log, the escalation
//! once the trend calls a leak, and what the traced blocks decide (types or the trim probe).

use super::diagnose::{Diagnosis, DiagnosisOptions};
use super::tests::{body, reading, session, traced};
use super::*;
use memmon_core::{
    Breakdown, Detail, DetailResult, FdCounts, TrimReply, TypeGrowth, TypesReply, MIB,
};
use memmon_format::{Investigation, LogFormat};
use memmon_sampler::{MockDetail, MockSampler};

fn parts(anon_mib: u64, threads: u64) -> Breakdown {
    Breakdown {
        anon: anon_mib * MIB,
        file: 8 * MIB,
        shmem: 0,
        swap: 0,
        threads,
        fds: FdCounts {
            sockets: 1,
            files: 2,
            pipes: 0,
            other: 3,
        },
    }
}

/// The breakdown goes on the 10th and 20th samples, after the sample line (and its warning),
/// before that sample's detail block; with `breakdown: false` there is none.
#[test]
fn the_breakdown_line_sits_between_the_sample_and_its_block() {
    for on in [true, false] {
        let script: Vec<_> = (0..20).map(|i| Ok(reading(10 + i * 6))).collect();
        let sampler = MockSampler::new(script).with_breakdowns([parts(30, 4), parts(60, 5)]);
        let (dir, log, mut session) = session(
            &format!("breakdown-{on}"),
            sampler,
            MockDetail::new([Ok(vec![traced()])]),
        );
        session.diagnosis = Diagnosis::new(
            DiagnosisOptions {
                breakdown: on,
                ..DiagnosisOptions::default()
            },
            false,
        );
        for _ in 0..20 {
            session.sample();
        }
        session.finish(None, Final::Gone);
        let lines = body(&log);
        let tenth = lines
            .iter()
            .position(|l| l.contains("RSS: 64.00MB"))
            .unwrap();
        let first = "  [内訳] 匿名: 30.00MB, ファイル: 8.00MB, 共有: 0.00MB, スワップ: 0.00MB, スレッド: 4, FD: ソケット 1, ファイル 2, パイプ 0, その他 3";
        if on {
            assert_eq!(
                lines[tenth + 1],
                "⚠️ [警告] メモリが初期値から 54.00MB 増加しています"
            );
            assert_eq!(lines[tenth + 2], first, "{lines:#?}");
            assert_eq!(
                lines[tenth + 3],
                "  [tracemalloc] Current: 3.00MB, Peak: 4.00MB"
            );
            let count = lines.iter().filter(|l| l.starts_with("  [内訳]")).count();
            assert_eq!(count, 2, "{lines:#?}");
            assert!(lines
                .iter()
                .any(|l| l.contains("匿名: 60.00MB") && l.contains("スレッド: 5")));
        } else {
            assert!(
                !lines.iter().any(|l| l.starts_with("  [内訳]")),
                "{lines:#?}"
            );
            assert_eq!(
                lines[tenth + 2],
                "  [tracemalloc] Current: 3.00MB, Peak: 4.00MB"
            );
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A hooked source that records what it is asked and answers the probes with scripts.
#[derive(Default)]
struct Hooked {
    started: bool,
    trims: u32,
    types_calls: u32,
    overhead: u64,
    types: Vec<TypesReply>,
}

impl DetailSource for Hooked {
    fn detail(&mut self) -> DetailResult {
        Ok(vec![])
    }

    fn on_first_sample(&mut self) {
        self.started = true;
    }

    fn traced_overhead(&self) -> Option<u64> {
        Some(self.overhead)
    }

    fn trim(&mut self) -> Option<Vec<TrimReply>> {
        self.trims += 1;
        Some(vec![TrimReply {
            pid: 7,
            called: Some(true),
        }])
    }

    fn growing_types(&mut self) -> Option<Vec<TypesReply>> {
        self.types_calls += 1;
        Some(self.types.clone())
    }
}

fn block(current_mib: u64) -> Vec<Detail> {
    vec![Detail::Traced {
        pid: Some(7),
        current: current_mib * MIB,
        peak: current_mib * MIB,
        sites: vec![],
    }]
}

/// A steady leak over 200 s: the trend calls it once, the line carries its rate, and the
/// dormant hooked source is started and handed back; later samples write no second line.
#[test]
fn a_steady_leak_escalates_once_and_starts_the_hook() {
    let format = LogFormat::system();
    let mut d = Diagnosis::new(
        DiagnosisOptions {
            no_hook: None,
            ..DiagnosisOptions::default()
        },
        true,
    );
    let mut dormant: Option<Box<dyn DetailSource + Send>> = Some(Box::new(Hooked::default()));
    let mut escalated = None;
    for s in 0..400u64 {
        // 40 MiB, then 64 KiB a second (225 MiB an hour).
        d.push_rss(Duration::from_secs(s), 40 * MIB + s * 65_536);
        if let Some(found) = d.check_escalation(&format, &mut dormant) {
            assert!(escalated.is_none(), "a second escalation at {s} s");
            escalated = Some((s, found));
        }
    }
    let (at, (line, started)) = escalated.expect("a steady leak must escalate");
    assert!(at < 400);
    let Record::Escalation(e) = &line else {
        panic!("{line:?}")
    };
    assert_eq!(e.action, Investigation::Started);
    assert!((e.rate_mb_per_hour - 225.0).abs() < 0.5, "{line}");
    assert!(started.is_some() && dormant.is_none());
    assert_eq!(d.leak_suspected(), Some(true));
}

/// A flat series never escalates; without a hook the line names why nothing was started.
#[test]
fn flat_never_escalates_and_no_hook_is_named() {
    let format = LogFormat::system();
    let mut flat = Diagnosis::new(DiagnosisOptions::default(), true);
    let mut none = None;
    for s in 0..400u64 {
        flat.push_rss(Duration::from_secs(s), 40 * MIB + (s % 7) * 4096);
        assert!(flat.check_escalation(&format, &mut none).is_none(), "{s}");
    }
    assert_eq!(flat.leak_suspected(), Some(false));
    let mut pid = Diagnosis::new(DiagnosisOptions::default(), true);
    let mut line = None;
    for s in 0..400u64 {
        pid.push_rss(Duration::from_secs(s), 40 * MIB + s * 65_536);
        line = line.or(pid.check_escalation(&format, &mut none));
    }
    let (Record::Escalation(e), None) = line.unwrap() else {
        panic!()
    };
    assert_eq!(e.action, Investigation::NoHookPid);
}

fn suspected(opts: DiagnosisOptions) -> (Diagnosis, LogFormat) {
    let format = LogFormat::system();
    let mut d = Diagnosis::new(opts, true);
    let mut none = None;
    for s in 0..400u64 {
        d.push_rss(Duration::from_secs(s), 40 * MIB + s * 65_536);
        let _ = d.check_escalation(&format, &mut none);
    }
    assert_eq!(d.leak_suspected(), Some(true));
    (d, format)
}

/// Python flat while anonymous memory grows: the native line, then one trim probe whose RSS
/// before and after decide the outcome (a 40 MiB drop of 60 MiB native growth: returned).
#[test]
fn flat_python_and_growing_anon_runs_the_trim_probe_once() {
    let (mut d, format) = suspected(DiagnosisOptions::default());
    let mut source = Hooked {
        overhead: MIB,
        ..Hooked::default()
    };
    let mut rss = [100 * MIB, 60 * MIB].into_iter();
    let mut rss_now = || rss.next();
    let mut written = Vec::new();
    for (i, anon) in [40u64, 70, 100, 130].into_iter().enumerate() {
        d.breakdown_taken(Duration::from_secs(400 + 60 * i as u64), parts(anon, 4));
        written.extend(d.on_blocks(&format, &block(5), &mut source, &mut rss_now));
    }
    let text: Vec<String> = written.iter().map(|r| r.to_string()).collect();
    assert_eq!(
        text,
        [
            "  [Python/ネイティブ] 匿名の増加: +60.00MB, Python: +0.00MB, ネイティブ: +60.00MB, 区間: 120秒",
            "  [malloc_trim] 前: 100.00MB, 後: 60.00MB, 差: -40.00MB, 結果: 返却 (C のアロケータが返せる空きを保持していました: 断片化)",
        ]
    );
    assert_eq!(source.trims, 1);
    assert_eq!(d.cause(), Some(memmon_core::Cause::NativeFragmentation));
    assert_eq!(d.python_bytes(), Some(4 * MIB));
}

/// With `malloc_trim_probe: false` the native line is written and nothing is called.
#[test]
fn the_probe_can_be_switched_off() {
    let (mut d, format) = suspected(DiagnosisOptions {
        malloc_trim_probe: false,
        ..DiagnosisOptions::default()
    });
    let mut source = Hooked::default();
    let mut rss_now = || Some(MIB);
    let mut n = 0;
    for (i, anon) in [40u64, 70, 100].into_iter().enumerate() {
        d.breakdown_taken(Duration::from_secs(400 + 60 * i as u64), parts(anon, 4));
        n += d
            .on_blocks(&format, &block(5), &mut source, &mut rss_now)
            .len();
    }
    assert_eq!((n, source.trims), (1, 0));
    assert_eq!(d.cause(), Some(memmon_core::Cause::Native));
}

/// Python's bytes carry the growth: the types are asked twice (a reference walk, then the
/// growth), and the second answer is written, one line per process.
#[test]
fn growing_python_bytes_list_the_growing_types() {
    let (mut d, format) = suspected(DiagnosisOptions::default());
    let mut source = Hooked {
        types: vec![TypesReply {
            pid: 7,
            types: vec![TypeGrowth {
                name: "__main__.Card".into(),
                count: 1200,
                bytes: 115_200,
            }],
            complete: true,
        }],
        ..Hooked::default()
    };
    let mut rss_now = || Some(MIB);
    let mut written = Vec::new();
    for (i, (anon, py)) in [(40u64, 5u64), (60, 24), (80, 44), (90, 54)]
        .into_iter()
        .enumerate()
    {
        d.breakdown_taken(Duration::from_secs(400 + 60 * i as u64), parts(anon, 4));
        written.extend(d.on_blocks(&format, &block(py), &mut source, &mut rss_now));
    }
    let text: Vec<String> = written.iter().map(|r| r.to_string()).collect();
    assert_eq!(
        text,
        [
            "  [Python/ネイティブ] 匿名の増加: +40.00MB, Python: +39.00MB, ネイティブ: +1.00MB, 区間: 120秒",
            "  [増加した型] PID 7: __main__.Card +1200個 +0.11MB",
        ]
    );
    assert_eq!((source.types_calls, source.trims), (2, 0));
    assert_eq!(d.cause(), Some(memmon_core::Cause::ObjectsKept));
}

/// Threads that keep growing name their cause whatever the memory comparison says.
#[test]
fn growing_threads_name_their_cause() {
    let (mut d, _) = suspected(DiagnosisOptions::default());
    d.breakdown_taken(Duration::from_secs(400), parts(40, 4));
    d.breakdown_taken(Duration::from_secs(460), parts(41, 6));
    assert_eq!(d.cause(), Some(memmon_core::Cause::None));
    d.breakdown_taken(Duration::from_secs(520), parts(42, 9));
    assert_eq!(d.cause(), Some(memmon_core::Cause::ThreadsNeverEnd));
}

/// The trim probe's drop is the probe's, not the program's: shaped like the end-to-end
/// fragmentation client (a leak from the start, the probe shortly after the escalation giving
/// nearly all of it back, the leak going on), the online verdict stays a leak; without the
/// probe's offset the step down makes the trend unsteady (inconclusive).
#[test]
fn the_probes_drop_does_not_end_the_leak() {
    let format = LogFormat::system();
    let mut d = Diagnosis::new(DiagnosisOptions::default(), true);
    let mut none = None;
    let rss_at = |t: f64| 15 * MIB + (t * 330_000.0) as u64;
    let mut t = 0.0;
    while t < 90.0 {
        d.push_rss(Duration::from_secs_f64(t), rss_at(t));
        let _ = d.check_escalation(&format, &mut none);
        t += 0.2;
    }
    assert_eq!(d.leak_suspected(), Some(true));
    let mut source = Hooked::default();
    let given_back = 26 * MIB;
    let mut rss = [rss_at(t), rss_at(t) - given_back].into_iter();
    let mut rss_now = || rss.next();
    for (i, anon) in [30u64, 34, 38].into_iter().enumerate() {
        d.breakdown_taken(Duration::from_secs(80 + 2 * i as u64), parts(anon, 2));
        let _ = d.on_blocks(&format, &block(5), &mut source, &mut rss_now);
    }
    assert_eq!(source.trims, 1);
    while t < 125.0 {
        d.push_rss(Duration::from_secs_f64(t), rss_at(t) - given_back);
        t += 0.2;
    }
    assert_eq!(d.verdict(), Some(memmon_core::Verdict::Leak));
    assert_eq!(d.leak_suspected(), Some(true));
}

/// Once suspected in a run, the verdict the metrics publish stays a leak, whatever a later fit
/// says (a flat phase after the leak): an alert's `for:` is not reset within the run.
#[test]
fn a_suspected_leak_stays_suspected_for_the_run() {
    let (mut d, _) = suspected(DiagnosisOptions::default());
    let top = 40 * MIB + 400 * 65_536;
    for s in 400..4000u64 {
        d.push_rss(Duration::from_secs(s), top);
    }
    assert_ne!(d.verdict(), Some(memmon_core::Verdict::Leak));
    assert_eq!(d.leak_suspected(), Some(true));
}
