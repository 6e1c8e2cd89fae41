//! Logs of known shape, written with memmon-format's own `Record` Display, analysed in-process.
#![allow(clippy::unwrap_used)]

use super::runs::{Analysis, Ending};
use super::{analyze_reader, Lang};
use jiff::civil::{date, DateTime};
use jiff::SignedDuration;
use memmon_core::{Breakdown, FdCounts, MIB};
use memmon_core::{InconclusiveReason, Verdict};
use memmon_format::{ExitKind, IntervalText, LogFormat, Record, SampleLine, SiteLine};
use std::fmt::Write as _;

/// Writes logs line by line, as memmon (or the original monitor) would.
pub(crate) struct Gen {
    pub out: String,
    rng: u64,
}

impl Gen {
    pub fn new(seed: u64) -> Gen {
        Gen {
            out: String::new(),
            rng: seed | 1,
        }
    }

    fn line(&mut self, r: Record) {
        let _ = writeln!(self.out, "{r}");
    }

    /// A standard normal deviate (xorshift + Box–Muller: deterministic, no dependency).
    fn gauss(&mut self) -> f64 {
        let mut u = || {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            ((self.rng >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        let (a, b) = (u(), u());
        (-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()
    }

    pub fn header(&mut self, at: DateTime, interval: &str) {
        self.line(Record::Rule);
        self.line(Record::Start { at });
        self.line(Record::Pid(4242));
        self.line(Record::Interval(IntervalText::parse(interval).unwrap()));
        self.line(Record::Rule);
        self.line(Record::Blank);
    }

    /// `n` samples every `interval` s from `start`, RSS = `shape(t)` + N(0, `sigma`) MB.
    pub fn samples(
        &mut self,
        start: DateTime,
        interval: u64,
        n: u64,
        sigma: f64,
        shape: impl Fn(f64) -> f64,
    ) {
        let mut base = None;
        let mut peak = f64::NEG_INFINITY;
        for k in 0..n {
            let t = k * interval;
            let rss = ((shape(t as f64) + sigma * self.gauss()).max(1.0) * 100.0).round() / 100.0;
            let base = *base.get_or_insert(rss);
            peak = peak.max(rss);
            self.line(Record::Sample(SampleLine {
                at: start + SignedDuration::from_secs(t as i64),
                elapsed_secs: t,
                rss_mb: rss,
                growth_mb: rss - base,
                vms_mb: rss + 80.0,
                peak_mb: peak,
                sys_percent: 35.2,
                sys_available_mb: 512.0,
            }));
        }
    }

    pub fn footer(&mut self, at: DateTime, exit: Option<i32>) {
        if let Some(code) = exit {
            self.line(Record::ProcessExit(ExitKind::Code(code)));
        }
        self.line(Record::Blank);
        self.line(Record::Rule);
        self.line(Record::End { at });
        self.line(Record::Rule);
    }
}

fn t0() -> DateTime {
    date(2025, 11, 21).at(9, 0, 0, 0)
}

fn one_run(interval: u64, hours: f64, sigma: f64, shape: impl Fn(f64) -> f64) -> Analysis {
    let mut g = Gen::new(7);
    g.header(t0(), &interval.to_string());
    let n = (hours * 3600.0 / interval as f64) as u64;
    g.samples(t0(), interval, n, sigma, shape);
    analyze_reader(g.out.as_bytes()).unwrap()
}

fn slope(a: &Analysis) -> f64 {
    a.runs[0].fit.unwrap().slope_mb_per_hour
}

fn assert_near(got: f64, want: f64, rel: f64) {
    assert!(
        (got - want).abs() <= rel * want.abs(),
        "got {got}, want {want} ± {}%",
        rel * 100.0
    );
}

#[test]
fn flat_with_noise_is_normal() {
    let a = one_run(300, 24.0, 0.5, |_| 45.0);
    assert_eq!(a.runs.len(), 1);
    assert_eq!(a.runs[0].verdict, Verdict::Normal);
    assert!(slope(&a).abs() < 0.1, "{}", slope(&a));
}

#[test]
fn warm_up_then_flat_is_normal_and_the_warm_up_is_excluded() {
    let a = one_run(60, 12.0, 0.3, |t| 30.0 + 20.0 * (1.0 - (-t / 1200.0).exp()));
    let r = &a.runs[0];
    assert_eq!(r.verdict, Verdict::Normal);
    assert!(r.fit.unwrap().warmup_s > 600.0, "{:?}", r.fit);
    assert!(slope(&a).abs() < 0.1);
}

#[test]
fn one_mb_per_hour_for_a_day_is_a_leak_below_the_warning_line() {
    let a = one_run(300, 24.0, 0.3, |t| 45.0 + t / 3600.0);
    let r = &a.runs[0];
    assert_eq!(r.verdict, Verdict::Leak);
    assert_near(slope(&a), 1.0, 0.1);
    assert!(r.last.unwrap().growth_mb < 50.0);
    // 512 MB available at 1 MB/h: about 21 days.
    assert_near(r.time_to_exhaustion_s.unwrap(), 512.0 * 3600.0, 0.1);
}

#[test]
fn a_climbing_gc_sawtooth_is_a_leak() {
    let a = one_run(60, 12.0, 0.2, |t| {
        40.0 + 5.0 * t / 3600.0 + 8.0 * ((t % 1800.0) / 1800.0)
    });
    assert_eq!(a.runs[0].verdict, Verdict::Leak);
    assert_near(slope(&a), 5.0, 0.1);
}

#[test]
fn one_step_then_flat_is_not_a_leak() {
    // A late step leaves the band without steady growth: unsteady.
    let late = one_run(
        60,
        12.0,
        0.3,
        |t| if t < 9.0 * 3600.0 { 40.0 } else { 55.0 },
    );
    assert_eq!(
        late.runs[0].verdict,
        Verdict::Inconclusive(InconclusiveReason::Unsteady)
    );
    // A step in the first half is indistinguishable from a slow warm-up: the level after it is
    // the settled one, and it is excluded as warm-up.
    let early = one_run(
        60,
        12.0,
        0.3,
        |t| if t < 5.0 * 3600.0 { 40.0 } else { 55.0 },
    );
    assert_eq!(early.runs[0].verdict, Verdict::Normal);
    assert!(early.runs[0].fit.unwrap().warmup_s >= 5.0 * 3600.0);
}

#[test]
fn a_restart_loop_is_split_into_runs_and_reported() {
    let mut g = Gen::new(3);
    let mut at = t0();
    for _ in 0..5 {
        g.header(at, "60");
        g.samples(at, 60, 60, 0.2, |t| {
            30.0 + 10.0 * (1.0 - (-t / 300.0).exp())
        });
        at += SignedDuration::from_secs(3600);
        g.footer(at, Some(1));
        at += SignedDuration::from_secs(10);
    }
    let a = analyze_reader(g.out.as_bytes()).unwrap();
    assert_eq!(a.runs.len(), 5);
    assert_eq!(a.restarts(), 4);
    assert!(a.crash_loop());
    for r in &a.runs {
        assert_eq!(r.ending, Ending::Exit(ExitKind::Code(1)));
        assert_eq!(r.samples, 60);
        assert_eq!(r.verdict, Verdict::Normal, "run {}", r.index);
    }
    // Runs are placed one after the other on the plot's axis.
    assert!(a.runs.windows(2).all(|w| w[1].anchor_s > w[0].anchor_s));
    let text = super::report::text(&a, &[], Lang::Ja);
    assert!(
        text.contains("再起動: 4回 — 再起動が繰り返されています"),
        "{text}"
    );
}

#[test]
fn a_continuation_header_continues_the_run() {
    let mut g = Gen::new(5);
    g.header(t0(), "60");
    g.samples(t0(), 60, 30, 0.0, |t| 40.0 + t / 3600.0);
    g.line(Record::Rule);
    g.line(Record::Continue { at: t0() });
    g.line(Record::Rule);
    g.line(Record::Blank);
    let mut rest = String::new();
    let mut h = Gen::new(5);
    h.samples(t0(), 60, 60, 0.0, |t| 40.0 + t / 3600.0);
    // Keep only samples 30.. (経過 keeps counting after the reopening).
    for line in h.out.lines().skip(30) {
        rest.push_str(line);
        rest.push('\n');
    }
    g.out.push_str(&rest);
    let a = analyze_reader(g.out.as_bytes()).unwrap();
    assert_eq!(a.runs.len(), 1);
    assert_eq!(a.runs[0].samples, 60);
    assert_eq!(a.runs[0].continuations, 1);
}

#[test]
fn memmons_own_lines_are_reported_per_run() {
    let mut g = Gen::new(17);
    g.header(t0(), "60");
    g.samples(t0(), 60, 20, 0.0, |_| 40.0);
    g.line(Record::Oom { kills: 2 });
    g.line(Record::SampleFailed {
        reason: "No such process".into(),
    });
    g.line(Record::LostSamples {
        count: 3,
        reason: "No space left on device".into(),
    });
    g.line(Record::LastGoodUsed);
    g.line(Record::ProcessExit(ExitKind::Signal {
        number: 9,
        name: "SIGKILL".into(),
    }));
    let a = analyze_reader(g.out.as_bytes()).unwrap();
    let r = &a.runs[0];
    assert_eq!((r.oom_kills, r.sample_failures, r.lost_samples), (2, 1, 3));
    assert!(r.last_good_used);
    let text = super::report::text(&a, &[], Lang::Ja);
    for want in [
        "OOMキラー発動 2回",
        "サンプル取得失敗 1件",
        "ログに書けなかったサンプル 3件",
        "終了: プロセス終了: シグナル 9 (SIGKILL)",
    ] {
        assert!(text.contains(want), "{want} not in:\n{text}");
    }
    let json = super::report::json(&a, &[], Lang::Ja);
    assert!(json.contains("\"signal\": \"SIGKILL\""), "{json}");
}

#[test]
fn garbage_invalid_utf8_and_a_cut_last_line_are_skipped_and_counted() {
    let mut g = Gen::new(9);
    g.header(t0(), "60");
    g.samples(t0(), 60, 20, 0.0, |_| 40.0);
    let mut bytes = g.out.into_bytes();
    bytes.extend_from_slice(
        b"garbage line\n\xff\xfe\x00 broken\n[2025-11-21 09:20:00] \xe7\xb5\x8c\xe9",
    );
    let a = analyze_reader(&bytes[..]).unwrap();
    assert_eq!(a.runs[0].samples, 20);
    assert_eq!(a.skipped.garbage, 1);
    assert_eq!(a.skipped.invalid_utf8, 1);
    assert_eq!(a.skipped.truncated, 1);
}

#[test]
fn elapsed_going_back_without_a_header_starts_a_new_run() {
    let mut g = Gen::new(11);
    g.header(t0(), "60");
    g.samples(t0(), 60, 20, 0.0, |_| 40.0);
    g.samples(t0() + SignedDuration::from_secs(3600), 60, 20, 0.0, |_| {
        40.0
    });
    let a = analyze_reader(g.out.as_bytes()).unwrap();
    assert_eq!(a.runs.len(), 2);
    assert_eq!(a.runs[0].ending, Ending::Killed);
}

/// Two runs (a leak, then a flat one), each with a tracemalloc block after every 10th sample
/// and, when `breakdown`, issue #19's breakdown line right before the block.
pub(crate) fn runs_with_detail(breakdown: bool) -> String {
    let format = LogFormat::with_zone(jiff::tz::TimeZone::UTC);
    let mut out = String::new();
    let mut at = t0();
    for (run, slope) in [(0u64, 2.0), (1, 0.0)] {
        let mut g = Gen::new(21 + run);
        g.header(at, "60");
        g.samples(at, 60, 600, 0.3, |t| 40.0 + slope * t / 3600.0);
        let mut samples = 0u64;
        for line in g.out.lines() {
            out.push_str(line);
            out.push('\n');
            if !line.starts_with('[') {
                continue;
            }
            samples += 1;
            if samples % 10 != 0 {
                continue;
            }
            let mut records = Vec::new();
            if breakdown {
                records.push(format.breakdown(&Breakdown {
                    anon: 30 * MIB + samples * slope as u64 * MIB / 60,
                    file: 8 * MIB,
                    shmem: MIB,
                    swap: 0,
                    threads: 4 + samples / 100,
                    fds: FdCounts {
                        sockets: 3,
                        files: 5,
                        pipes: 2,
                        other: 4,
                    },
                }));
            }
            records.push(Record::Tracemalloc {
                pid: None,
                current_mb: 10.0,
                peak_mb: 12.0,
            });
            records.push(Record::TopHeader);
            records.push(Record::Site(SiteLine::new(
                "/srv/app/worker.py:42",
                MIB + samples * slope as u64 * 20_000,
                100 + samples,
            )));
            records.push(Record::Site(SiteLine::new(
                "/srv/app/main.py:7",
                500_000,
                20,
            )));
            records.push(Record::Blank);
            for r in records {
                let _ = writeln!(out, "{r}");
            }
        }
        at += SignedDuration::from_secs(600 * 60 + 30);
        let mut f = Gen::new(1);
        f.footer(at, Some(0));
        out.push_str(&f.out);
        at += SignedDuration::from_secs(30);
    }
    out
}

/// Issue #19: breakdown lines are known lines (none counted as garbage) and change no figure,
/// no verdict and no growing site; they only add the attribution (item 4): the text's lines
/// about the parts, the JSON's keys about them.
#[test]
fn breakdown_lines_change_no_report_but_add_the_attribution() {
    let (with, without) = (runs_with_detail(true), runs_with_detail(false));
    assert_eq!(with.matches("  [内訳] ").count(), 120);
    let a = analyze_reader(with.as_bytes()).unwrap();
    let b = analyze_reader(without.as_bytes()).unwrap();
    assert_eq!(a.skipped.total(), 0, "{:?}", a.skipped);
    assert_eq!(a.lines, b.lines + 120);
    assert_eq!(a.runs.len(), 2);
    assert_eq!(a.runs[0].verdict, Verdict::Leak);
    assert_eq!(a.runs[1].verdict, Verdict::Normal);
    for (x, y) in a.runs.iter().zip(&b.runs) {
        assert_eq!((x.verdict, x.samples), (y.verdict, y.samples));
        assert_eq!(x.growing_sites, y.growing_sites);
        assert!(x.diagnosis.is_some() && y.diagnosis.is_none());
    }
    let added = [
        "  内訳の増加率: ",
        "  増加しているのは: ",
        "  原因: ",
        "  対策: ",
        "  Growth by part: ",
        "  Growing: ",
        "  Cause: ",
        "  Remedy: ",
    ];
    for lang in [Lang::Ja, Lang::En] {
        let text_a: String = super::report::text(&a, &[], lang)
            .lines()
            .filter(|l| !added.iter().any(|p| l.starts_with(p)))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(text_a, super::report::text(&b, &[], lang));
    }
    // The first run's anonymous memory grows 2 MB/h, Python's traced bytes stay flat: native
    // memory, not yet probed.
    let text = super::report::text(&a, &[], Lang::En);
    assert!(
        text.contains("  Growing: native memory (+2.00MB/h)\n"),
        "{text}"
    );
    assert!(text.contains("  Growing: nothing\n"), "{text}");
    // JSON: the same but for the lines read and the new keys.
    let mut json_a: serde_json::Value =
        serde_json::from_str(&super::report::json(&a, &[], Lang::Ja)).unwrap();
    let json_b: serde_json::Value =
        serde_json::from_str(&super::report::json(&b, &[], Lang::Ja)).unwrap();
    assert_eq!(json_a["runs"][0]["attribution"]["cause"], "native");
    assert_eq!(json_a["runs"][1]["attribution"]["cause"], "none");
    json_a["lines"] = json_b["lines"].clone();
    for run in json_a["runs"].as_array_mut().unwrap() {
        let run = run.as_object_mut().unwrap();
        for key in [
            "parts",
            "attribution",
            "trim",
            "native",
            "escalations",
            "growing_types",
        ] {
            run.remove(key);
        }
    }
    assert_eq!(json_a, json_b);
}

/// Logs without issue #19's lines (the original monitor's, memmon's before it) report exactly
/// as before: no new line, no new key, even with tracemalloc blocks.
#[test]
fn logs_without_diagnosis_lines_report_as_before() {
    let a = analyze_reader(runs_with_detail(false).as_bytes()).unwrap();
    for lang in [Lang::Ja, Lang::En] {
        let text = super::report::text(&a, &[], lang);
        for word in [
            "内訳の増加率",
            "増加しているのは",
            "原因",
            "対策",
            "Growing:",
            "Cause:",
        ] {
            assert!(!text.contains(word), "{word} in {text}");
        }
    }
    let json = super::report::json(&a, &[], Lang::Ja);
    for key in [
        "\"parts\"",
        "\"attribution\"",
        "\"trim\"",
        "\"growing_types\"",
    ] {
        assert!(!json.contains(key), "{key} in {json}");
    }
}

/// Throughput on a generated 1M-line log (release: `cargo test --release --bin memmon
/// analyze::tests::throughput -- --ignored --nocapture`).
#[test]
#[ignore = "benchmark; run in release"]
fn throughput() {
    let mut g = Gen::new(13);
    g.header(t0(), "5");
    g.samples(t0(), 5, 1_000_000 - 6, 0.5, |t| 45.0 + t / 3600.0);
    let bytes = g.out.into_bytes();
    let start = std::time::Instant::now();
    let a = analyze_reader(&bytes[..]).unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(a.lines, 1_000_000);
    println!(
        "analyze: {} lines ({:.0} MB) in {:.3} s = {:.2} M lines/s, verdict {:?}",
        a.lines,
        bytes.len() as f64 / 1e6,
        secs,
        a.lines as f64 / secs / 1e6,
        a.runs[0].verdict
    );
}
