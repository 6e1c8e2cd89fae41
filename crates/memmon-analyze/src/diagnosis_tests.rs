//! Issue #19 item 4, offline: generated logs with the breakdown and diagnosis lines (written
//! with memmon-format's own builders), one per cause, analysed in-process.
#![allow(clippy::unwrap_used)]

use super::runs::Analysis;
use super::{analyze_reader, report, Lang};
use jiff::civil::{date, DateTime};
use jiff::SignedDuration;
use memmon_core::{
    Breakdown, Cause, FdCounts, Part, TrimOutcome, TypeGrowth, TypesReply, Verdict, MIB,
};
use memmon_format::{Investigation, LogFormat, Record, SampleLine, SiteLine};
use std::fmt::Write as _;

const INTERVAL: u64 = 60;
const SAMPLES: u64 = 600;
/// File-backed and shared memory, MB (flat unless a scenario says otherwise).
const FILE_MB: f64 = 8.0;
const SHMEM_MB: f64 = 1.0;

/// A run's shape. Rates are per hour; every figure lands on a multiple of 0.01 MB at the
/// breakdown's cadence (every 10th sample = 600 s), so the fitted rates come out exact.
#[derive(Clone, Copy, Default)]
struct Scenario {
    /// Python's traced MB per hour.
    python_mb_h: f64,
    /// Native (anonymous, not Python's) MB per hour.
    native_mb_h: f64,
    threads_h: f64,
    sockets_h: f64,
    files_h: f64,
    /// From this sample on, tracemalloc blocks follow every 10th sample (an escalation line
    /// says so first).
    tracing_from: Option<u64>,
    /// The trim probe after this sample: its drop (MB) and outcome.
    trim: Option<(u64, f64, TrimOutcome)>,
    /// A `[Python/ネイティブ]` line after the first traced block.
    native_line: bool,
    /// A types line after every traced block.
    types: bool,
}

fn t0() -> DateTime {
    date(2025, 11, 21).at(9, 0, 0, 0)
}

fn mb_bytes(mb: f64) -> u64 {
    (mb * MIB as f64).round() as u64
}

fn log(s: Scenario) -> String {
    log_n(s, SAMPLES)
}

/// `samples` samples of the scenario.
fn log_n(s: Scenario, samples: u64) -> String {
    let format = LogFormat::with_zone(jiff::tz::TimeZone::UTC);
    let mut out = String::new();
    let mut line = |r: Record| {
        let _ = writeln!(out, "{r}");
    };
    line(Record::Rule);
    line(Record::Start { at: t0() });
    line(Record::Pid(4242));
    line(Record::Interval(
        memmon_format::IntervalText::parse("60").unwrap(),
    ));
    line(Record::Rule);
    line(Record::Blank);
    let mut dropped = 0.0;
    let mut base = None;
    let mut peak = f64::NEG_INFINITY;
    for k in 0..samples {
        let t = k * INTERVAL;
        let h = t as f64 / 3600.0;
        let python = 10.0 + s.python_mb_h * h;
        let anon = 20.0 + python + s.native_mb_h * h - dropped;
        let rss = anon + FILE_MB + SHMEM_MB;
        let base = *base.get_or_insert(rss);
        peak = f64::max(peak, rss);
        line(Record::Sample(SampleLine {
            at: t0() + SignedDuration::from_secs(t as i64),
            elapsed_secs: t,
            rss_mb: (rss * 100.0).round() / 100.0,
            growth_mb: ((rss - base) * 100.0).round() / 100.0,
            vms_mb: rss + 80.0,
            peak_mb: (peak * 100.0).round() / 100.0,
            sys_percent: 35.2,
            sys_available_mb: 512.0,
        }));
        if k % 10 == 9 {
            // Whole counts on a line: the k-th breakdown is at 600·j + 540 s.
            let j = (k / 10) as f64;
            let count = |rate: f64, base: f64| (base + rate * j / 6.0).round() as u64;
            line(format.breakdown(&Breakdown {
                anon: mb_bytes(anon),
                file: mb_bytes(FILE_MB),
                shmem: mb_bytes(SHMEM_MB),
                swap: 0,
                threads: count(s.threads_h, 4.0),
                fds: FdCounts {
                    sockets: count(s.sockets_h, 3.0),
                    files: count(s.files_h, 5.0),
                    pipes: 2,
                    other: 4,
                },
            }));
            if let Some(from) = s.tracing_from.filter(|f| k >= *f) {
                if k < from + 10 {
                    line(format.escalation(
                        (s.python_mb_h + s.native_mb_h) * MIB as f64 / 3600.0,
                        3000.0,
                        10.0 * MIB as f64,
                        Investigation::Started,
                    ));
                }
                line(Record::Tracemalloc {
                    pid: None,
                    current_mb: (python * 100.0).round() / 100.0,
                    peak_mb: (python * 100.0).round() / 100.0 + 1.0,
                });
                line(Record::TopHeader);
                line(Record::Site(SiteLine::new(
                    "/srv/app/pi_client.py:88",
                    mb_bytes(python - 9.0),
                    1000 + k,
                )));
                line(Record::Site(SiteLine::new(
                    "/srv/app/main.py:7",
                    500_000,
                    20,
                )));
                line(Record::Blank);
                if s.types {
                    line(format.types(&TypesReply {
                        pid: 4242,
                        types: vec![
                            TypeGrowth {
                                name: "__main__.Card".into(),
                                count: 1200,
                                bytes: 115_343,
                            },
                            TypeGrowth {
                                name: "dict".into(),
                                count: 3,
                                bytes: 1000,
                            },
                        ],
                        complete: true,
                    }));
                }
                if s.native_line && k >= from + 100 && k < from + 110 {
                    let hours = 6000.0 / 3600.0;
                    let python = s.python_mb_h * hours;
                    let anon = python + s.native_mb_h * hours;
                    line(format.native(
                        (anon * MIB as f64) as i64,
                        (python * MIB as f64) as i64,
                        6000.0,
                    ));
                }
            }
        }
        if let Some((_, drop, outcome)) = s.trim.filter(|tr| tr.0 == k) {
            let before = mb_bytes(rss);
            line(format.trim(before, before - mb_bytes(drop), outcome));
            dropped += drop;
        }
    }
    line(Record::Blank);
    line(Record::Rule);
    line(Record::End {
        at: t0() + SignedDuration::from_secs((samples * INTERVAL) as i64),
    });
    line(Record::Rule);
    out
}

fn analyse(s: Scenario) -> Analysis {
    let a = analyze_reader(log(s).as_bytes()).unwrap();
    assert_eq!(a.skipped.total(), 0, "{:?}", a.skipped);
    assert_eq!(a.runs.len(), 1);
    a
}

fn json(a: &Analysis, lang: Lang) -> serde_json::Value {
    serde_json::from_str(&report::json(a, &[], lang)).unwrap()
}

fn text(a: &Analysis, lang: Lang) -> String {
    report::text(a, &[], lang)
}

fn has_line(text: &str, want: &str) {
    assert!(
        text.lines().any(|l| l == want),
        "no line {want:?} in\n{text}"
    );
}

const OBJECTS: Scenario = Scenario {
    python_mb_h: 6.0,
    native_mb_h: 0.0,
    threads_h: 0.0,
    sockets_h: 0.0,
    files_h: 0.0,
    tracing_from: Some(120),
    trim: None,
    native_line: false,
    types: true,
};

#[test]
fn objects_piling_up_are_the_guides_cause_1_with_their_lines_and_types() {
    let a = analyse(OBJECTS);
    let r = &a.runs[0];
    assert_eq!(r.verdict, Verdict::Leak);
    let d = r.diagnosis.as_ref().unwrap();
    assert_eq!(d.attribution.unwrap().cause, Cause::ObjectsKept);
    let j = json(&a, Lang::Ja);
    let run = &j["runs"][0];
    assert_eq!(run["attribution"]["part"], "python_objects");
    assert_eq!(run["attribution"]["cause"], "objects_kept");
    assert_eq!(run["attribution"]["rate_per_hour"], 6.0);
    assert_eq!(
        run["attribution"]["name"],
        "カード読み取りループでのオブジェクト蓄積"
    );
    assert_eq!(
        run["attribution"]["remedy"],
        "カード読み取り後に明示的にオブジェクトを削除、ガベージコレクションを定期実行"
    );
    assert_eq!(run["parts"]["python_objects"], 6.0 * MIB as f64);
    assert_eq!(run["parts"]["native"], 0.0);
    assert_eq!(run["parts"]["anon"], 6.0 * MIB as f64);
    assert_eq!(run["parts"]["threads"], 0.0);
    assert_eq!(run["growing_sites"][0]["site"], "/srv/app/pi_client.py:88");
    assert_eq!(run["growing_types"][0]["name"], "__main__.Card");
    assert_eq!(run["growing_types"][0]["count"], 1200);
    assert_eq!(run["growing_types"][0]["mb"], 0.11);
    assert_eq!(run["escalations"].as_array().unwrap().len(), 1);
    assert_eq!(run["escalations"][0]["elapsed_s"], 129.0 * 60.0);
    assert_eq!(run["escalations"][0]["action"], "started");
    assert_eq!(run["escalations"][0]["rate_mb_per_hour"], 6.0);
    assert!(run["trim"].is_null());
    let ja = text(&a, Lang::Ja);
    has_line(
        &ja,
        "  増加しているのは: Python のオブジェクト (+6.00MB/時)",
    );
    has_line(&ja, "  原因: カード読み取りループでのオブジェクト蓄積");
    has_line(
        &ja,
        "  対策: カード読み取り後に明示的にオブジェクトを削除、ガベージコレクションを定期実行",
    );
    has_line(
        &ja,
        "  増加した型: PID 4242: __main__.Card +1200個 +0.11MB, dict +3個 +0.00MB",
    );
    has_line(
        &ja,
        "  リーク疑い (memmon の判定): 1回, 最初は経過 02:09:00 に +6.00MB/時",
    );
    assert!(ja.contains("    1. /srv/app/pi_client.py:88 +"), "{ja}");
    let en = text(&a, Lang::En);
    has_line(&en, "  Growing: Python objects (+6.00MB/h)");
    has_line(&en, "  Cause: objects piling up in the card-reading loop");
    has_line(
        &en,
        "  Remedy: delete objects explicitly after each card read; run garbage collection periodically",
    );
    has_line(
        &en,
        "  Growing types: PID 4242: __main__.Card +1200 objects +0.11MB, dict +3 objects +0.00MB",
    );
    assert_eq!(
        json(&a, Lang::En)["runs"][0]["attribution"]["name"],
        "objects piling up in the card-reading loop"
    );
}

#[test]
fn threads_that_never_end_are_cause_2() {
    let a = analyse(Scenario {
        native_mb_h: 3.0,
        threads_h: 30.0,
        ..Scenario::default()
    });
    let run = &json(&a, Lang::Ja)["runs"][0];
    assert_eq!(run["attribution"]["part"], "threads");
    assert_eq!(run["attribution"]["cause"], "threads_never_end");
    assert_eq!(run["attribution"]["rate_per_hour"], 30.0);
    assert_eq!(run["attribution"]["name"], "スレッドの未解放");
    assert_eq!(
        run["attribution"]["remedy"],
        "daemon=True を設定、スレッドの適切な終了処理"
    );
    assert_eq!(run["parts"]["threads"], 30.0);
    assert_eq!(run["parts"]["anon"], 3.0 * MIB as f64);
    // No tracing: Python's share is not known, so neither part is.
    assert!(run["parts"]["python_objects"].is_null());
    assert!(run["parts"]["native"].is_null());
    assert_eq!(run["escalations"], serde_json::json!([]));
    let ja = text(&a, Lang::Ja);
    has_line(&ja, "  増加しているのは: スレッド (+30.0/時)");
    has_line(&ja, "  原因: スレッドの未解放");
    has_line(&ja, "  対策: daemon=True を設定、スレッドの適切な終了処理");
    has_line(
        &ja,
        "  内訳の増加率: 匿名メモリ +3.00MB/時, ファイルのメモリ +0.00MB/時, 共有メモリ +0.00MB/時, スワップ +0.00MB/時, スレッド +30.0/時, ソケット +0.0/時, ファイルディスクリプタ +0.0/時, パイプ +0.0/時, その他のディスクリプタ +0.0/時",
    );
    let en = text(&a, Lang::En);
    has_line(&en, "  Growing: threads (+30.0/h)");
    has_line(&en, "  Cause: threads that never end");
    has_line(&en, "  Remedy: set daemon=True; end threads properly");
}

#[test]
fn sockets_or_sqlite_files_never_closed_are_cause_3() {
    for (scenario, part) in [
        (
            Scenario {
                native_mb_h: 0.5,
                sockets_h: 12.0,
                ..Scenario::default()
            },
            "sockets",
        ),
        (
            Scenario {
                files_h: 6.0,
                ..Scenario::default()
            },
            "files",
        ),
    ] {
        let a = analyse(scenario);
        let run = &json(&a, Lang::Ja)["runs"][0];
        assert_eq!(run["attribution"]["part"], part);
        assert_eq!(run["attribution"]["cause"], "connections_not_closed");
        assert_eq!(run["attribution"]["name"], "データベース接続のリーク");
        assert_eq!(
            run["attribution"]["remedy"],
            "with 文を使用、明示的に conn.close()"
        );
        let ja = text(&a, Lang::Ja);
        has_line(&ja, "  原因: データベース接続のリーク");
        has_line(&ja, "  対策: with 文を使用、明示的に conn.close()");
        let en = text(&a, Lang::En);
        has_line(&en, "  Cause: database connections never closed");
        has_line(
            &en,
            "  Remedy: use a with statement; call conn.close() explicitly",
        );
    }
    let a = analyse(Scenario {
        native_mb_h: 0.5,
        sockets_h: 12.0,
        ..Scenario::default()
    });
    has_line(
        &text(&a, Lang::Ja),
        "  増加しているのは: ソケット (+12.0/時)",
    );
}

fn native(outcome: TrimOutcome, drop_mb: f64) -> Scenario {
    Scenario {
        native_mb_h: 12.0,
        tracing_from: Some(120),
        trim: Some((400, drop_mb, outcome)),
        native_line: true,
        ..Scenario::default()
    }
}

#[test]
fn native_growth_the_trim_probe_gave_back_is_fragmentation() {
    let a = analyse(native(TrimOutcome::Returned, 30.0));
    let r = &a.runs[0];
    // The probe's 30 MB step is not the program's: a steady leak at the true rate.
    assert_eq!(r.verdict, Verdict::Leak);
    let fit = r.fit.unwrap();
    assert!((fit.slope_mb_per_hour - 12.0).abs() < 0.01, "{fit:?}");
    let run = &json(&a, Lang::Ja)["runs"][0];
    assert_eq!(run["attribution"]["part"], "native");
    assert_eq!(run["attribution"]["cause"], "native_fragmentation");
    assert_eq!(run["attribution"]["rate_per_hour"], 12.0);
    assert_eq!(
        run["attribution"]["remedy"],
        "環境変数 MALLOC_ARENA_MAX=2 を設定、または定期的に malloc_trim(0) を実行"
    );
    // The Python/native line decides the split: +0.00 Python, +20.00 native over 6000 s.
    assert_eq!(run["parts"]["python_objects"], 0.0);
    assert_eq!(run["parts"]["native"], 12.0 * MIB as f64);
    // The anonymous slope has the probe's drop added back.
    assert_eq!(run["parts"]["anon"], 12.0 * MIB as f64);
    assert_eq!(run["native"]["native_mb"], 20.0);
    assert_eq!(run["native"]["span_s"], 6000);
    assert_eq!(run["trim"]["outcome"], "returned");
    assert_eq!(run["trim"]["change_mb"], -30.0);
    assert_eq!(run["trim"]["added_back_mb"], 30.0);
    let ja = text(&a, Lang::Ja);
    has_line(&ja, "  増加しているのは: ネイティブメモリ (+12.00MB/時)");
    has_line(
        &ja,
        "  原因: ネイティブメモリの断片化 (C のアロケータが解放済みのメモリを保持)",
    );
    has_line(
        &ja,
        "  対策: 環境変数 MALLOC_ARENA_MAX=2 を設定、または定期的に malloc_trim(0) を実行",
    );
    assert!(
        ja.contains("返却 (断片化); この段差はプローブによるもので、傾きには含めません"),
        "{ja}"
    );
    let en = text(&a, Lang::En);
    has_line(
        &en,
        "  Cause: native memory fragmentation (the C allocator keeps freed memory)",
    );
    has_line(
        &en,
        "  Remedy: set the environment variable MALLOC_ARENA_MAX=2, or call malloc_trim(0) periodically",
    );
}

#[test]
fn native_growth_the_probe_could_not_reduce_is_held() {
    let a = analyse(native(TrimOutcome::Unchanged, 0.0));
    let run = &json(&a, Lang::Ja)["runs"][0];
    assert_eq!(run["attribution"]["part"], "native");
    assert_eq!(run["attribution"]["cause"], "native_held");
    assert_eq!(run["trim"]["outcome"], "unchanged");
    assert_eq!(run["trim"]["added_back_mb"], 0.0);
    has_line(
        &text(&a, Lang::En),
        "  Cause: native memory held (a C extension leaks, or memory malloc_trim cannot reach)",
    );
    // Without the Python/native line the split comes from the blocks: native = anon − Python.
    let a = analyse(Scenario {
        native_line: false,
        ..native(TrimOutcome::Unchanged, 0.0)
    });
    let run = &json(&a, Lang::Ja)["runs"][0];
    assert_eq!(run["attribution"]["cause"], "native_held");
    assert_eq!(run["parts"]["python_objects"], 0.0);
    assert_eq!(run["parts"]["native"], 12.0 * MIB as f64);
}

#[test]
fn a_flat_run_names_no_cause() {
    let a = analyse(Scenario::default());
    assert_eq!(a.runs[0].verdict, Verdict::Normal);
    let run = &json(&a, Lang::Ja)["runs"][0];
    assert_eq!(run["attribution"]["cause"], "none");
    assert!(run["attribution"]["part"].is_null());
    assert!(run["attribution"]["remedy"].is_null());
    assert_eq!(run["parts"]["anon"], 0.0);
    has_line(&text(&a, Lang::Ja), "  増加しているのは: なし");
    has_line(&text(&a, Lang::En), "  Growing: nothing");
    assert!(!text(&a, Lang::Ja).contains("原因"));
}

/// The probe's drop, without its line, is a step the trend takes for an unsteady run (a slow
/// leak, 3 MB/h, given back 20 MB at 7.5 h); with its line, the run is the steady leak it is.
#[test]
fn the_probes_step_is_not_the_programs() {
    const DROP: f64 = 20.0;
    let with = log(Scenario {
        native_mb_h: 3.0,
        trim: Some((450, DROP, TrimOutcome::Returned)),
        ..native(TrimOutcome::Returned, DROP)
    });
    let without: String = with
        .lines()
        .filter(|l| !l.starts_with("  [malloc_trim]"))
        .map(|l| format!("{l}\n"))
        .collect();
    let a = analyze_reader(with.as_bytes()).unwrap();
    let b = analyze_reader(without.as_bytes()).unwrap();
    assert_eq!(a.runs[0].verdict, Verdict::Leak);
    assert_eq!(
        b.runs[0].verdict,
        Verdict::Inconclusive(memmon_core::InconclusiveReason::Unsteady)
    );
    let fit = a.runs[0].fit.unwrap();
    assert!((fit.slope_mb_per_hour - 3.0).abs() < 0.01, "{fit:?}");
    // The figures stay the log's: the last sample is the drop below the trend's line.
    let last = a.runs[0].figures().last_mb.unwrap();
    let want = 10.0 + 20.0 + 3.0 * (599.0 * 60.0 / 3600.0) - DROP + FILE_MB + SHMEM_MB;
    assert!((last - want).abs() < 0.01, "{last} vs {want}");
    // The parts see no fall either, and the probe's outcome names the native growth.
    let run = &json(&a, Lang::Ja)["runs"][0];
    assert_eq!(run["parts"]["anon"], 3.0 * MIB as f64);
    assert_eq!(run["attribution"]["cause"], "native_fragmentation");
    let d = a.runs[0].diagnosis.as_ref().unwrap();
    assert_eq!(d.attribution.unwrap().part, Part::Native);
    assert_eq!(d.probe_drop_mb, DROP);
}

/// Bounded: a long run keeps a bounded set of points and escalation lines.
#[test]
fn long_runs_stay_bounded() {
    let mut t = super::parts::PartTracker::default();
    let format = LogFormat::with_zone(jiff::tz::TimeZone::UTC);
    for k in 0..100_000u64 {
        t.sample(k as f64, 40.0 * MIB as f64);
        if let Record::Breakdown(b) = format.breakdown(&Breakdown {
            anon: 30 * MIB + k * 1000,
            ..Breakdown::default()
        }) {
            t.breakdown(&b);
        }
        if let Record::Escalation(e) =
            format.escalation(1000.0, 600.0, 1e6, Investigation::AlreadyTracing)
        {
            t.escalation(e);
        }
    }
    let d = t.finish(None, true).unwrap();
    assert_eq!(d.escalations.len(), super::parts::MAX_ESCALATIONS);
    assert_eq!(d.escalation_count, 100_000);
    assert!(d.growing_points.len() < 2 * crate::sites::PLOT_POINTS);
    assert_eq!(d.attribution.unwrap().part, Part::Anon);
}

/// The plot draws the part that carries the growth beside RSS: a byte part on the MB axis, a
/// count on its own axis on the right; a log without diagnosis lines gets neither.
#[test]
fn the_plot_draws_the_growing_part() {
    let dir = tempfile::tempdir().unwrap();
    let svg = |name: &str, s: Option<Scenario>, lang: Lang| -> String {
        let path = dir.path().join(format!("{name}.log"));
        let text = match s {
            Some(s) => log(s),
            // The same samples, none of issue #19's lines.
            None => log(Scenario::default())
                .lines()
                .filter(|l| !l.starts_with("  [内訳]"))
                .map(|l| format!("{l}\n"))
                .collect(),
        };
        std::fs::write(&path, text).unwrap();
        let plot = dir.path().join(format!("{name}.svg"));
        let request = super::Request {
            logs: vec![path],
            plot: Some(plot.clone()),
            lang,
            ..super::Request::default()
        };
        super::analyze(&request, &mut Vec::new()).unwrap();
        std::fs::read_to_string(plot).unwrap()
    };
    let grown = svg(
        "native",
        Some(native(TrimOutcome::Returned, 30.0)),
        Lang::En,
    );
    assert!(grown.contains("native memory +12.00MB/h"), "{grown}");
    assert!(!grown.contains("Count"));
    let threads = svg(
        "threads",
        Some(Scenario {
            threads_h: 30.0,
            ..Scenario::default()
        }),
        Lang::En,
    );
    assert!(threads.contains("threads +30.0/h"));
    assert!(threads.contains("Count"));
    let flat = svg("flat", Some(Scenario::default()), Lang::En);
    let old = svg("old", None, Lang::En);
    // Nothing grows: nothing drawn, the plot of the log without the lines.
    assert_eq!(flat, old);
    let ja = svg("ja", Some(native(TrimOutcome::Returned, 30.0)), Lang::Ja);
    assert!(
        ja.contains("ネイティブメモリ +12.00MB/時") || ja.contains("native memory +12.00MB/h"),
        "{ja}"
    );
}

/// Throughput with every issue #19 line a run can carry (a breakdown line, a tracemalloc block
/// and a types line every 10th sample): `cargo test --release -p memmon-analyze --lib
/// diagnosis_tests::throughput -- --ignored --nocapture`.
#[test]
#[ignore = "benchmark; run in release"]
fn throughput_with_diagnosis_lines() {
    let text = log_n(
        Scenario {
            tracing_from: Some(0),
            native_line: true,
            trim: Some((5000, 5.0, TrimOutcome::Returned)),
            ..OBJECTS
        },
        600_000,
    );
    let start = std::time::Instant::now();
    let a = analyze_reader(text.as_bytes()).unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(a.skipped.total(), 0);
    println!(
        "analyze with diagnosis lines: {} lines ({:.0} MB) in {:.3} s = {:.2} M lines/s, {:?}",
        a.lines,
        text.len() as f64 / 1e6,
        secs,
        a.lines as f64 / secs / 1e6,
        a.runs[0].diagnosis.as_ref().and_then(|d| d.attribution)
    );
}

/// Anonymous growth without Python's figures (no tracing) is named as such, with the guide's
/// step 2; a probe that could not run leaves native growth unnamed.
#[test]
fn anonymous_growth_without_tracing_and_an_unavailable_probe() {
    let a = analyse(Scenario {
        native_mb_h: 6.0,
        ..Scenario::default()
    });
    let run = &json(&a, Lang::Ja)["runs"][0];
    assert_eq!(run["attribution"]["part"], "anon");
    assert_eq!(run["attribution"]["cause"], "anon");
    assert_eq!(
        run["attribution"]["remedy"],
        "tracemalloc有効化して詳細調査"
    );
    has_line(
        &text(&a, Lang::Ja),
        "  増加しているのは: 匿名メモリ (+6.00MB/時)",
    );
    has_line(
        &text(&a, Lang::En),
        "  Remedy: enable tracemalloc to investigate in detail",
    );
    let a = analyse(native(TrimOutcome::Unavailable, 0.0));
    let run = &json(&a, Lang::En)["runs"][0];
    assert_eq!(run["attribution"]["cause"], "native");
    assert_eq!(run["trim"]["outcome"], "unavailable");
    has_line(
        &text(&a, Lang::En),
        "  Cause: native memory grows (growth Python's objects do not explain)",
    );
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(24))]

    /// Wherever the probe runs and however much it gives back (1 to 25 MB: less than the run's
    /// anonymous memory), the run's trend, verdict and parts are those of the same run without
    /// the probe.
    #[test]
    fn the_probe_never_changes_the_trend(
        at in 20u64..580,
        drop_cmb in 100u64..2500,
        rate in proptest::sample::select(vec![3.0, 6.0, 12.0]),
    ) {
        let drop = drop_cmb as f64 / 100.0;
        let probed = analyse(Scenario {
            native_mb_h: rate,
            trim: Some((at, drop, TrimOutcome::Returned)),
            ..Scenario::default()
        });
        let plain = analyse(Scenario {
            native_mb_h: rate,
            ..Scenario::default()
        });
        let (p, q) = (&probed.runs[0], &plain.runs[0]);
        proptest::prop_assert_eq!(p.verdict, q.verdict);
        let (fp, fq) = (p.fit.unwrap(), q.fit.unwrap());
        proptest::prop_assert!((fp.slope_mb_per_hour - fq.slope_mb_per_hour).abs() < 1e-6);
        let (dp, dq) = (p.diagnosis.as_ref().unwrap(), q.diagnosis.as_ref().unwrap());
        let anon = |d: &super::parts::Diagnosis| d.slopes.get(Part::Anon).unwrap();
        proptest::prop_assert!((anon(dp) - anon(dq)).abs() < 1e-6);
        proptest::prop_assert_eq!(dp.attribution, dq.attribution);
    }
}
