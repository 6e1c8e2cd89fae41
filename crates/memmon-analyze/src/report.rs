//! The report: text in the log's own Japanese terms (or English), or one JSON object.

use crate::parts::{per_hour, Diagnosis};
use crate::runs::{Analysis, Ending, RunSummary};
use crate::sites::GrowingSite;
use crate::Lang;
use memmon_core::{Cause, Part, TrimOutcome, MIB};
use memmon_core::{InconclusiveReason, Verdict};
use memmon_format::{Elapsed, ExitKind, Investigation, Size, TypesLine};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

/// The verdict's JSON word and, when inconclusive, the reason's.
fn verdict_words(v: Verdict) -> (&'static str, Option<&'static str>) {
    match v {
        Verdict::Normal => ("normal", None),
        Verdict::Leak => ("leak", None),
        Verdict::Inconclusive(r) => (
            "inconclusive",
            Some(match r {
                InconclusiveReason::TooShort => "too_short",
                InconclusiveReason::TooNoisy => "too_noisy",
                InconclusiveReason::Unsteady => "unsteady",
            }),
        ),
    }
}

/// The verdict in words, as the report and the plot say it.
pub(crate) fn verdict_text(v: Verdict, lang: Lang) -> &'static str {
    use InconclusiveReason::*;
    match (lang, v) {
        (Lang::Ja, Verdict::Normal) => "正常",
        (Lang::Ja, Verdict::Leak) => "メモリリークの疑い",
        (Lang::Ja, Verdict::Inconclusive(TooShort)) => {
            "判定不能 (データ不足: ウォームアップ後のサンプルが少なすぎます)"
        }
        (Lang::Ja, Verdict::Inconclusive(TooNoisy)) => "判定不能 (変動が大きすぎます)",
        (Lang::Ja, Verdict::Inconclusive(Unsteady)) => {
            "判定不能 (不安定: 段差・減少、または一部の期間だけの増加)"
        }
        (Lang::En, Verdict::Normal) => "normal",
        (Lang::En, Verdict::Leak) => "leak suspected",
        (Lang::En, Verdict::Inconclusive(TooShort)) => {
            "inconclusive (too short: too few samples after the warm-up)"
        }
        (Lang::En, Verdict::Inconclusive(TooNoisy)) => "inconclusive (too noisy)",
        (Lang::En, Verdict::Inconclusive(Unsteady)) => {
            "inconclusive (unsteady: a step, a fall, or growth in part of the span only)"
        }
    }
}

pub(crate) fn ending_text(e: &Ending, lang: Lang) -> String {
    match (lang, e) {
        (Lang::Ja, Ending::Exit(kind)) => format!("プロセス終了: {kind}"),
        (Lang::Ja, Ending::Footer) => "モニタリング終了 (フッターあり)".into(),
        (Lang::Ja, Ending::Killed) => "フッターなしで次の開始 (強制終了の疑い)".into(),
        (Lang::Ja, Ending::Open) => "フッターなし (実行中、または強制終了)".into(),
        (Lang::En, Ending::Exit(ExitKind::Code(c))) => format!("process exited with code {c}"),
        (Lang::En, Ending::Exit(ExitKind::Signal { number, name })) => {
            format!("process killed by signal {number} ({name})")
        }
        (Lang::En, Ending::Footer) => "monitoring stopped (footer present)".into(),
        (Lang::En, Ending::Killed) => "no footer before the next start (killed?)".into(),
        (Lang::En, Ending::Open) => "no footer (still running, or killed)".into(),
    }
}

fn ending_word(e: &Ending) -> &'static str {
    match e {
        Ending::Exit(ExitKind::Code(_)) => "exit_code",
        Ending::Exit(ExitKind::Signal { .. }) => "signal",
        Ending::Footer => "footer",
        Ending::Killed => "killed",
        Ending::Open => "open",
    }
}

/// A human duration: `2日 3時間`, `4時間 5分`, `6分` (or `2d 3h`, `4h 5m`, `6m`).
pub fn human_duration(secs: f64, lang: Lang) -> String {
    let mins = (secs / 60.0).round().max(0.0) as u64;
    let (d, h, m) = (mins / 1440, mins / 60 % 24, mins % 60);
    let [du, hu, mu] = match lang {
        Lang::Ja => ["日", "時間", "分"],
        Lang::En => ["d", "h", "m"],
    };
    if d > 0 {
        format!("{d}{du} {h}{hu}")
    } else if h > 0 {
        format!("{h}{hu} {m}{mu}")
    } else {
        format!("{m}{mu}")
    }
}

fn clock(at: jiff::civil::DateTime) -> String {
    at.strftime("%Y-%m-%d %H:%M:%S").to_string()
}

/// Rounds for a stable, readable report (the inputs have two decimals anyway).
fn round(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    let r = (x * f).round() / f;
    // -0.0 prints as "-0" in JSON; nobody wants that.
    if r == 0.0 {
        0.0
    } else {
        r
    }
}

/// One run in the JSON. The memory figures are the footer's when the run has one
/// (`figures_from`: `"footer"`), else the sample lines' (`"samples"`); `null` where the footer
/// printed `-` or there is no sample line.
#[derive(Debug, Serialize)]
pub struct RunJson {
    run: usize,
    start: Option<String>,
    end: Option<String>,
    duration_s: u64,
    runtime_s: Option<u64>,
    pid: Option<u32>,
    interval_s: Option<f64>,
    samples: u64,
    figures_from: &'static str,
    baseline_mb: Option<f64>,
    last_mb: Option<f64>,
    peak_mb: Option<f64>,
    growth_mb: Option<f64>,
    warmup_s: Option<f64>,
    slope_mb_per_hour: Option<f64>,
    r2: Option<f64>,
    verdict: &'static str,
    reason: Option<&'static str>,
    last_available_mb: Option<f64>,
    time_to_exhaustion_s: Option<f64>,
    warnings: u64,
    oom_kills: u64,
    sample_failures: u64,
    lost_samples: u64,
    continuations: u64,
    last_good_used: bool,
    ended: &'static str,
    exit_code: Option<i64>,
    signal: Option<String>,
    growing_sites: Vec<SiteJson>,
    /// Issue #20: the evidence bundles written during the run (absent when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    bundles: Vec<String>,
    /// Issue #19's keys, only for a run with its lines (so reports of older logs stay as they
    /// were): each measured part's slope per hour (bytes for the byte parts, a count for threads
    /// and descriptors), by its stable label.
    #[serde(skip_serializing_if = "Option::is_none")]
    parts: Option<BTreeMap<&'static str, f64>>,
    /// Which part carries the growth and why (`null` when no part was measured).
    #[serde(skip_serializing_if = "Option::is_none")]
    attribution: Option<Option<AttributionJson>>,
    /// The last trim probe.
    #[serde(skip_serializing_if = "Option::is_none")]
    trim: Option<Option<TrimJson>>,
    /// The last `[Python/ネイティブ]` line.
    #[serde(skip_serializing_if = "Option::is_none")]
    native: Option<Option<NativeJson>>,
    /// The leak suspected online (the first 16).
    #[serde(skip_serializing_if = "Option::is_none")]
    escalations: Option<Vec<EscalationJson>>,
    /// The object types that grew, per process (its last types line).
    #[serde(skip_serializing_if = "Option::is_none")]
    growing_types: Option<Vec<TypeJson>>,
}

/// `attribution` in the JSON: stable labels, and the cause's name and remedy in the report's
/// language.
#[derive(Debug, Serialize)]
pub struct AttributionJson {
    part: Option<&'static str>,
    cause: &'static str,
    /// The part's slope per hour (MiB for a byte part, else a count).
    rate_per_hour: Option<f64>,
    name: &'static str,
    remedy: Option<&'static str>,
}

/// `trim` in the JSON.
#[derive(Debug, Serialize)]
pub struct TrimJson {
    before_mb: f64,
    after_mb: f64,
    change_mb: f64,
    outcome: &'static str,
    /// RSS the probes gave back, added back to later samples for the trend, MiB.
    added_back_mb: f64,
}

/// `native` in the JSON.
#[derive(Debug, Serialize)]
pub struct NativeJson {
    anon_mb: f64,
    python_mb: f64,
    native_mb: f64,
    span_s: u64,
}

/// One escalation line in the JSON.
#[derive(Debug, Serialize)]
pub struct EscalationJson {
    elapsed_s: Option<f64>,
    rate_mb_per_hour: f64,
    span_s: u64,
    rise_mb: f64,
    action: &'static str,
}

/// One growing type in the JSON.
#[derive(Debug, Serialize)]
pub struct TypeJson {
    pid: u32,
    name: String,
    count: i64,
    mb: f64,
    complete: bool,
}

/// The trim outcome's stable word.
pub fn trim_word(o: TrimOutcome) -> &'static str {
    match o {
        TrimOutcome::Returned => "returned",
        TrimOutcome::Unchanged => "unchanged",
        TrimOutcome::Unavailable => "unavailable",
    }
}

fn action_word(a: Investigation) -> &'static str {
    match a {
        Investigation::Started => "started",
        Investigation::AlreadyTracing => "already_tracing",
        Investigation::NoHookPid => "no_hook_pid",
        Investigation::HookOff => "hook_off",
        Investigation::NotAsked => "not_asked",
    }
}

/// A slope per hour, rounded for the JSON: whole bytes for a byte part, 3 decimals for counts.
fn part_json(part: Part, slope_per_sec: f64) -> f64 {
    if part.is_bytes() {
        round(slope_per_sec * 3600.0, 0)
    } else {
        round(slope_per_sec * 3600.0, 3)
    }
}

fn attribution_json(d: &Diagnosis, lang: Lang) -> Option<AttributionJson> {
    let a = d.attribution?;
    let none = a.cause == Cause::None;
    Some(AttributionJson {
        part: (!none).then(|| a.part.label()),
        cause: a.cause.label(),
        rate_per_hour: if none {
            None
        } else {
            d.rate_per_hour().map(|r| round(r, 3))
        },
        name: a.cause.name(lang),
        remedy: a.cause.remedy(lang),
    })
}

fn types_json(types: &[TypesLine]) -> Vec<TypeJson> {
    types
        .iter()
        .flat_map(|l| {
            l.types.iter().map(|t| TypeJson {
                pid: l.pid,
                name: t.name.clone(),
                count: t.count,
                mb: t.mb,
                complete: l.complete,
            })
        })
        .collect()
}

/// One growing allocation site in the JSON.
#[derive(Debug, Serialize)]
pub struct SiteJson {
    site: String,
    /// Only when the block named its process (several Python processes watched).
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    slope_bytes_per_hour: i64,
    last_size: u64,
}

fn site_json(g: &GrowingSite) -> SiteJson {
    SiteJson {
        site: g.site.clone(),
        pid: g.pid,
        // Whole bytes: the sizes are printed to 2-3 digits anyway. `as` saturates, never panics.
        slope_bytes_per_hour: g.slope_bytes_per_hour.round() as i64,
        last_size: g.last_size_bytes.round() as u64,
    }
}

/// The whole JSON report.
#[derive(Debug, Serialize)]
pub struct ReportJson {
    files: Vec<String>,
    /// Only when there are some, so reports of ordinary logs stay as they were.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    empty_files: Vec<String>,
    runs: Vec<RunJson>,
    restarts: usize,
    crash_loop: bool,
    lines: u64,
    skipped_lines: u64,
    garbage_lines: u64,
    invalid_utf8_lines: u64,
    truncated_lines: u64,
    samples_outside_window: u64,
}

pub(crate) fn run_json(r: &RunSummary, lang: Lang) -> RunJson {
    let d = r.diagnosis.as_ref();
    let (verdict, reason) = verdict_words(r.verdict);
    let (exit_code, signal) = match &r.ending {
        Ending::Exit(ExitKind::Code(c)) => (Some(i64::from(*c)), None),
        Ending::Exit(ExitKind::Signal { name, .. }) => (None, Some(name.clone())),
        _ => (None, None),
    };
    let figures = r.figures();
    RunJson {
        run: r.index,
        start: r.start_time().map(clock),
        end: r.end_time().map(clock),
        duration_s: r.duration_s(),
        runtime_s: r.footer.and_then(|f| f.runtime_s),
        pid: r.pid,
        interval_s: r.interval_s,
        samples: r.samples,
        figures_from: if figures.from_footer {
            "footer"
        } else {
            "samples"
        },
        baseline_mb: figures.baseline_mb.map(|x| round(x, 2)),
        last_mb: figures.last_mb,
        peak_mb: figures.peak_mb,
        growth_mb: figures.growth_mb.map(|x| round(x, 2)),
        warmup_s: r.fit.map(|f| round(f.warmup_s, 1)),
        slope_mb_per_hour: r.fit.map(|f| round(f.slope_mb_per_hour, 3)),
        r2: r.fit.map(|f| round(f.r2, 4)),
        verdict,
        reason,
        last_available_mb: r.last.map(|l| l.sys_available_mb),
        time_to_exhaustion_s: r.time_to_exhaustion_s.map(|s| s.round()),
        warnings: r.warnings,
        oom_kills: r.oom_kills,
        bundles: r.bundles.clone(),
        sample_failures: r.sample_failures,
        lost_samples: r.lost_samples,
        continuations: r.continuations,
        last_good_used: r.last_good_used,
        ended: ending_word(&r.ending),
        exit_code,
        signal,
        growing_sites: r.growing_sites.iter().map(site_json).collect(),
        parts: d.map(|d| {
            d.slopes
                .measured()
                .map(|(p, s)| (p.label(), part_json(p, s)))
                .collect()
        }),
        attribution: d.map(|d| attribution_json(d, lang)),
        trim: d.map(|d| {
            d.trim.map(|t| TrimJson {
                before_mb: t.before_mb,
                after_mb: t.after_mb,
                change_mb: t.change_mb,
                outcome: trim_word(t.outcome),
                added_back_mb: round(d.probe_drop_mb, 2),
            })
        }),
        native: d.map(|d| {
            d.native.map(|n| NativeJson {
                anon_mb: n.anon_mb,
                python_mb: n.python_mb,
                native_mb: n.native_mb,
                span_s: n.span_secs,
            })
        }),
        escalations: d.map(|d| {
            d.escalations
                .iter()
                .map(|e| EscalationJson {
                    elapsed_s: e.elapsed_s,
                    rate_mb_per_hour: e.line.rate_mb_per_hour,
                    span_s: e.line.span_secs,
                    rise_mb: e.line.rise_mb,
                    action: action_word(e.line.action),
                })
                .collect()
        }),
        growing_types: d.map(|d| types_json(&d.types)),
    }
}

/// The JSON report (pretty-printed, one object); `lang` is the language of the causes' names
/// and remedies (every other value is a stable word or a number).
pub fn json(a: &Analysis, files: &[PathBuf], lang: Lang) -> String {
    let report = ReportJson {
        files: files.iter().map(|p| p.display().to_string()).collect(),
        empty_files: a
            .empty_files
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        runs: a.runs.iter().map(|r| run_json(r, lang)).collect(),
        restarts: a.restarts(),
        crash_loop: a.crash_loop(),
        lines: a.lines,
        skipped_lines: a.skipped.total(),
        garbage_lines: a.skipped.garbage,
        invalid_utf8_lines: a.skipped.invalid_utf8,
        truncated_lines: a.skipped.truncated,
        samples_outside_window: a.outside_window,
    };
    // Serializing plain structs of numbers and strings cannot fail; an empty object if it did.
    serde_json::to_string_pretty(&report).unwrap_or_else(|_| "{}".into())
}

/// The labels of the text report, per language.
struct Words {
    files: &'static str,
    run: &'static str,
    duration: &'static str,
    samples: &'static str,
    baseline: &'static str,
    last: &'static str,
    peak: &'static str,
    growth: &'static str,
    warmup: &'static str,
    rate: &'static str,
    per_hour: &'static str,
    verdict: &'static str,
    exhaustion: &'static str,
    available: &'static str,
    warnings: &'static str,
    events: &'static str,
    ended: &'static str,
    restarts: &'static str,
    crash_loop: &'static str,
    skipped: &'static str,
    outside: &'static str,
    to: &'static str,
    count: &'static str,
    times: &'static str,
}

const JA: Words = Words {
    files: "ファイル",
    run: "実行",
    duration: "実行時間",
    samples: "サンプル数",
    baseline: "初期メモリ",
    last: "最終メモリ",
    peak: "ピークメモリ",
    growth: "メモリ増加量",
    warmup: "ウォームアップ除外",
    rate: "増加率",
    per_hour: "MB/時",
    verdict: "判定",
    exhaustion: "空きメモリ枯渇までの推定",
    available: "空き",
    warnings: "警告 (初期比 +50MB 超)",
    events: "記録",
    ended: "終了",
    restarts: "再起動",
    crash_loop: "再起動が繰り返されています (クラッシュループの疑い)",
    skipped: "スキップした行",
    outside: "期間外のサンプル",
    to: "〜",
    count: "件",
    times: "回",
};

const EN: Words = Words {
    files: "Files",
    run: "Run",
    duration: "Duration",
    samples: "Samples",
    baseline: "Baseline",
    last: "Last",
    peak: "Peak",
    growth: "Growth",
    warmup: "Warm-up excluded",
    rate: "Growth rate",
    per_hour: "MB/h",
    verdict: "Verdict",
    exhaustion: "Estimated time until available memory runs out",
    available: "available",
    warnings: "Warnings (over +50MB)",
    events: "Events",
    ended: "Ended",
    restarts: "Restarts",
    crash_loop: "restarting again and again (crash loop suspected)",
    skipped: "Skipped lines",
    outside: "Samples outside the window",
    to: "to",
    count: "",
    times: "",
};

fn run_text(out: &mut String, r: &RunSummary, total: usize, lang: Lang) {
    let w = words(lang);
    let _ = write!(
        out,
        "\n{} {}/{}: {} {} {}",
        w.run,
        r.index,
        total,
        r.start_time().map_or_else(|| "-".to_owned(), clock),
        w.to,
        r.end_time().map_or_else(|| "-".to_owned(), clock)
    );
    if let Some(pid) = r.pid {
        let _ = write!(out, " (PID {pid})");
    }
    out.push('\n');
    // The footer's 実行時間 (start to stop) when there is one, else first to last sample.
    let duration = r.footer.and_then(|f| f.runtime_s).unwrap_or(r.duration_s());
    let _ = writeln!(
        out,
        "  {}: {} ({}: {})",
        w.duration,
        Elapsed(duration),
        w.samples,
        r.samples
    );
    let _ = writeln!(out, "  {}", figures_text(r, lang));
    if let Some(rate) = rate_text(r, lang) {
        let _ = writeln!(out, "  {}", rate);
    }
    let _ = writeln!(out, "  {}: {}", w.verdict, verdict_text(r.verdict, lang));
    if let Some(exhaustion) = exhaustion_text(r, lang) {
        let _ = writeln!(out, "  {exhaustion}");
    }
    if r.warnings > 0 {
        let _ = writeln!(out, "  {}: {}{}", w.warnings, r.warnings, w.count);
    }
    let events = events_text(r, lang);
    if !events.is_empty() {
        let _ = writeln!(out, "  {}: {}", w.events, events.join(", "));
    }
    sites_text(out, r, lang);
    if let Some(d) = &r.diagnosis {
        diagnosis_text(out, d, lang);
    }
    let _ = writeln!(out, "  {}: {}", w.ended, ending_text(&r.ending, lang));
}

/// `再起動: 3回`, and ` — 再起動が繰り返されています (クラッシュループの疑い)` for a crash loop.
pub(crate) fn restarts_text(a: &Analysis, lang: Lang) -> String {
    let w = words(lang);
    let mut s = format!("{}: {}{}", w.restarts, a.restarts(), w.times);
    if a.crash_loop() {
        let _ = write!(s, " — {}", w.crash_loop);
    }
    s
}

fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::Ja => &JA,
        Lang::En => &EN,
    }
}

/// `初期メモリ: 15.20MB | 最終メモリ: 74.54MB | ピークメモリ: 74.52MB | メモリ増加量: +59.34MB`:
/// the footer's figures when there is one (see `RunSummary::figures`), `-` as the footer prints
/// a figure nothing measured.
pub(crate) fn figures_text(r: &RunSummary, lang: Lang) -> String {
    let w = words(lang);
    let f = r.figures();
    let mb = |x: Option<f64>| x.map_or_else(|| "-".to_owned(), |x| format!("{x:.2}MB"));
    format!(
        "{}: {} | {}: {} | {}: {} | {}: {}",
        w.baseline,
        mb(f.baseline_mb),
        w.last,
        mb(f.last_mb),
        w.peak,
        mb(f.peak_mb),
        w.growth,
        f.growth_mb
            .map_or_else(|| "-".to_owned(), |g| format!("{:+.2}MB", round(g, 2)))
    )
}

/// `ウォームアップ除外: 00:00:00 | 増加率: +723.47MB/時 (r² 1.000)`, when the run was fitted.
pub(crate) fn rate_text(r: &RunSummary, lang: Lang) -> Option<String> {
    let w = words(lang);
    r.fit.map(|f| {
        format!(
            "{}: {} | {}: {:+.2}{} (r² {:.3})",
            w.warmup,
            Elapsed(f.warmup_s.round().max(0.0) as u64),
            w.rate,
            round(f.slope_mb_per_hour, 2),
            w.per_hour,
            f.r2
        )
    })
}

/// `空きメモリ枯渇までの推定: 1日 8時間 (空き 23666MB)`, for a leak.
pub(crate) fn exhaustion_text(r: &RunSummary, lang: Lang) -> Option<String> {
    let w = words(lang);
    let (t, last) = r.time_to_exhaustion_s.zip(r.last)?;
    Some(format!(
        "{}: {} ({} {:.0}MB)",
        w.exhaustion,
        human_duration(t, lang),
        w.available,
        last.sys_available_mb
    ))
}

/// The growing allocation sites, one line each; nothing when the run had no tracemalloc block.
fn sites_text(out: &mut String, r: &RunSummary, lang: Lang) {
    if r.site_blocks == 0 {
        return;
    }
    let (title, none, per_hour, last) = match lang {
        Lang::Ja => (
            "増加し続けている割り当て箇所 (tracemalloc)",
            "なし",
            "MB/時",
            "最新",
        ),
        Lang::En => (
            "Allocation sites growing steadily (tracemalloc)",
            "none",
            "MB/h",
            "last",
        ),
    };
    if r.growing_sites.is_empty() {
        let _ = writeln!(out, "  {title}: {none}");
        return;
    }
    let _ = writeln!(out, "  {title}:");
    for (i, g) in r.growing_sites.iter().enumerate() {
        let pid = g.pid.map(|p| format!("[PID {p}] ")).unwrap_or_default();
        let _ = writeln!(
            out,
            "    {}. {pid}{} {:+.2}{per_hour} ({last} {})",
            i + 1,
            g.site,
            round(g.slope_bytes_per_hour / MIB as f64, 2),
            Size::from_bytes(g.last_size_bytes)
        );
    }
}

/// A part's slope per hour as the report prints it: `+1.25MB/時` or `+12.0/時`.
fn part_rate_text(part: Part, slope_per_sec: f64, lang: Lang) -> String {
    let unit = lang.pick("/時", "/h");
    let x = per_hour(part, slope_per_sec);
    if part.is_bytes() {
        format!("{:+.2}MB{unit}", round(x, 2))
    } else {
        format!("{:+.1}{unit}", round(x, 1))
    }
}

/// Issue #19's lines: the parts' rates, which part grows and why, the guide's remedy, the
/// growing types, the trim probe and the escalations.
fn diagnosis_text(out: &mut String, d: &Diagnosis, lang: Lang) {
    let ja = lang == Lang::Ja;
    let measured: Vec<String> = d
        .slopes
        .measured()
        .map(|(p, s)| format!("{} {}", p.name(lang), part_rate_text(p, s, lang)))
        .collect();
    if !measured.is_empty() {
        let label = lang.pick("内訳の増加率", "Growth by part");
        let _ = writeln!(out, "  {label}: {}", measured.join(", "));
    }
    if let Some(a) = d.attribution {
        let label = lang.pick("増加しているのは", "Growing");
        if a.cause == Cause::None {
            let _ = writeln!(out, "  {label}: {}", lang.pick("なし", "nothing"));
        } else {
            let rate = d
                .slopes
                .get(a.part)
                .map(|s| format!(" ({})", part_rate_text(a.part, s, lang)))
                .unwrap_or_default();
            let _ = writeln!(out, "  {label}: {}{rate}", a.part.name(lang));
            let _ = writeln!(
                out,
                "  {}: {}",
                lang.pick("原因", "Cause"),
                a.cause.name(lang)
            );
            if let Some(remedy) = a.cause.remedy(lang) {
                let _ = writeln!(out, "  {}: {remedy}", lang.pick("対策", "Remedy"));
            }
        }
    }
    let types: Vec<String> = d
        .types
        .iter()
        .filter(|l| !l.types.is_empty())
        .map(|l| {
            let items: Vec<String> = l
                .types
                .iter()
                .map(|t| {
                    if ja {
                        format!("{} {:+}個 {:+.2}MB", t.name, t.count, t.mb)
                    } else {
                        format!("{} {:+} objects {:+.2}MB", t.name, t.count, t.mb)
                    }
                })
                .collect();
            format!("PID {}: {}", l.pid, items.join(", "))
        })
        .collect();
    if !types.is_empty() {
        let label = lang.pick("増加した型", "Growing types");
        let _ = writeln!(out, "  {label}: {}", types.join(" / "));
    }
    if let Some(t) = d.trim {
        let outcome = match (lang, t.outcome) {
            (Lang::Ja, TrimOutcome::Returned) => "返却 (断片化)",
            (Lang::Ja, TrimOutcome::Unchanged) => "変化なし (保持)",
            (Lang::Ja, TrimOutcome::Unavailable) => "実行できません",
            (Lang::En, TrimOutcome::Returned) => "returned (fragmentation)",
            (Lang::En, TrimOutcome::Unchanged) => "unchanged (held)",
            (Lang::En, TrimOutcome::Unavailable) => "unavailable",
        };
        let _ = if ja {
            writeln!(
                out,
                "  malloc_trim: {:.2}MB → {:.2}MB ({:+.2}MB), {outcome}; この段差はプローブによるもので、傾きには含めません",
                t.before_mb, t.after_mb, t.change_mb
            )
        } else {
            writeln!(
                out,
                "  malloc_trim: {:.2}MB → {:.2}MB ({:+.2}MB), {outcome}; the step is the probe's, left out of the slopes",
                t.before_mb, t.after_mb, t.change_mb
            )
        };
    }
    if let Some(first) = d.escalations.first() {
        let at = first
            .elapsed_s
            .map(|s| Elapsed(s.round().max(0.0) as u64).to_string())
            .unwrap_or_else(|| "-".into());
        let rate = round(first.line.rate_mb_per_hour, 2);
        let _ = if ja {
            writeln!(
                out,
                "  リーク疑い (memmon の判定): {}回, 最初は経過 {at} に {rate:+.2}MB/時",
                d.escalation_count
            )
        } else {
            writeln!(
                out,
                "  Leak suspected online: {} times, first at {at} elapsed, {rate:+.2}MB/h",
                d.escalation_count
            )
        };
    }
}

/// memmon's own lines, counted (the log's terms in Japanese).
fn events_text(r: &RunSummary, lang: Lang) -> Vec<String> {
    let mut v = Vec::new();
    let ja = lang == Lang::Ja;
    if r.oom_kills > 0 {
        v.push(if ja {
            format!("OOMキラー発動 {}回", r.oom_kills)
        } else {
            format!("OOM killer fired {} times", r.oom_kills)
        });
    }
    if !r.bundles.is_empty() {
        let names = r.bundles.join(", ");
        v.push(if ja {
            format!("証拠バンドル {}件: {names}", r.bundles.len())
        } else {
            format!("{} evidence bundles: {names}", r.bundles.len())
        });
    }
    if r.sample_failures > 0 {
        v.push(if ja {
            format!("サンプル取得失敗 {}件", r.sample_failures)
        } else {
            format!("{} failed samples", r.sample_failures)
        });
    }
    if r.lost_samples > 0 {
        v.push(if ja {
            format!("ログに書けなかったサンプル {}件", r.lost_samples)
        } else {
            format!("{} samples not written", r.lost_samples)
        });
    }
    if r.continuations > 0 {
        v.push(if ja {
            format!("モニタリング継続 (ログ再オープン) {}回", r.continuations)
        } else {
            format!("log reopened {} times", r.continuations)
        });
    }
    if r.last_good_used {
        v.push(if ja {
            "最終メモリは直前のサンプル".into()
        } else {
            "final memory is the last good sample".into()
        });
    }
    v
}

/// The text report.
pub fn text(a: &Analysis, files: &[PathBuf], lang: Lang) -> String {
    let w = words(lang);
    let mut out = String::new();
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    let _ = writeln!(out, "{}: {}", w.files, names.join(", "));
    if !a.empty_files.is_empty() {
        let empty: Vec<String> = a
            .empty_files
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let label = match lang {
            Lang::Ja => "空のため読み飛ばしたファイル",
            Lang::En => "Skipped as empty",
        };
        let _ = writeln!(out, "{label}: {}", empty.join(", "));
    }
    for r in &a.runs {
        run_text(&mut out, r, a.runs.len(), lang);
    }
    out.push('\n');
    let _ = writeln!(out, "{}", restarts_text(a, lang));
    let s = &a.skipped;
    let _ = write!(out, "{}: {}{}", w.skipped, s.total(), w.count);
    if s.total() > 0 {
        let _ = match lang {
            Lang::Ja => write!(
                out,
                " (不明な行 {}, UTF-8 でない行 {}, 途中で切れた行 {})",
                s.garbage, s.invalid_utf8, s.truncated
            ),
            Lang::En => write!(
                out,
                " (unknown {}, not UTF-8 {}, cut short {})",
                s.garbage, s.invalid_utf8, s.truncated
            ),
        };
    }
    out.push('\n');
    if a.outside_window > 0 {
        let _ = writeln!(out, "{}: {}", w.outside, a.outside_window);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(90.0 * 60.0, Lang::Ja), "1時間 30分");
        assert_eq!(human_duration(3.0 * 86400.0 + 7200.0, Lang::En), "3d 2h");
        assert_eq!(human_duration(59.0, Lang::En), "1m");
    }

    #[test]
    fn rounding_never_prints_negative_zero() {
        assert_eq!(round(-0.001, 2).to_string(), "0");
    }
}
