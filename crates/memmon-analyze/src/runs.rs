//! The run splitter: records in, one summary per run out.
//!
//! A header (`メモリモニタリング開始`) starts a run; a continuation header
//! (`メモリモニタリング継続`, memmon reopened its log) does not, and 経過 keeps counting. Each run
//! feeds its own [`TrendEstimator`] with (経過 seconds, RSS bytes, the `malloc_trim` probes'
//! drops added back: see [`crate::parts`]): 経過 is monotonic, so a wall clock set back or
//! forward mid-run changes nothing. State per run is bounded (the estimator
//! keeps at most `MAX_BINS` bins); finished runs keep only their summary.

use crate::parts::{Diagnosis, PartTracker};
use crate::read::Line;
use crate::sites::{GrowingSite, SiteTracker};
use jiff::civil::DateTime;
use memmon_core::{
    time_to_exhaustion, InconclusiveReason, TrendEstimate, TrendEstimator, TrendSettings, Verdict,
    VerdictSettings, MIB,
};
use memmon_format::{parse_line, ExitKind, Record, SampleLine};

/// How a run ended, as far as the log tells.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    /// `プロセス終了` then the footer: the watched command ended.
    Exit(ExitKind),
    /// A footer without a process-exit line: monitoring was stopped (Ctrl-C, test mode's end).
    Footer,
    /// No footer and another run followed: memmon itself was killed (power cut, SIGKILL, OOM).
    Killed,
    /// No footer, last run of the log: still running, or killed with nothing after it.
    Open,
}

impl Ending {
    /// Whether the run ended badly (a crash-loop candidate).
    pub fn abnormal(&self) -> bool {
        match self {
            Ending::Exit(ExitKind::Code(c)) => *c != 0,
            Ending::Exit(ExitKind::Signal { .. }) | Ending::Killed => true,
            Ending::Footer | Ending::Open => false,
        }
    }
}

/// The fitted trend of a run, kept after the estimator is dropped (for the report and plot).
#[derive(Debug, Clone, Copy)]
pub struct Fit {
    /// Theil–Sen slope, MiB per hour.
    pub slope_mb_per_hour: f64,
    /// Fraction of variance explained.
    pub r2: f64,
    /// Seconds excluded as warm-up.
    pub warmup_s: f64,
    /// 経過 seconds where the fitted span starts and ends.
    pub from_elapsed: f64,
    /// See `from_elapsed`.
    pub to_elapsed: f64,
    /// The line's RSS (MiB) at `from_elapsed` and `to_elapsed`.
    pub from_mb: f64,
    /// See `from_mb`.
    pub to_mb: f64,
}

impl Fit {
    fn new(e: &TrendEstimate) -> Fit {
        let from = e.start_secs + e.warmup_secs;
        let to = e.start_secs + e.span_secs;
        let mb = |t| e.value_at(t) / MIB as f64;
        Fit {
            slope_mb_per_hour: e.slope_bytes_per_sec * 3600.0 / MIB as f64,
            r2: e.r2,
            warmup_s: e.warmup_secs,
            from_elapsed: from,
            to_elapsed: to,
            from_mb: mb(from),
            to_mb: mb(to),
        }
    }
}

/// The footer's figures as written; `None` where it printed `-` (nothing measured it) or the
/// line is missing (a footer cut short).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FooterFigures {
    /// How many of the four memory lines were read: a footer cut short (a full disk, a kill
    /// mid-write) is not trusted over the sample lines.
    memory_lines: u8,
    /// 実行時間, whole seconds.
    pub runtime_s: Option<u64>,
    /// 初期メモリ, MiB.
    pub initial_mb: Option<f64>,
    /// 最終メモリ, MiB.
    pub last_mb: Option<f64>,
    /// ピークメモリ, MiB.
    pub peak_mb: Option<f64>,
    /// メモリ増加量, MiB.
    pub growth_mb: Option<f64>,
}

/// The memory figures reported for a run, and where they come from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    /// 初期メモリ.
    pub baseline_mb: Option<f64>,
    /// 最終メモリ.
    pub last_mb: Option<f64>,
    /// ピークメモリ.
    pub peak_mb: Option<f64>,
    /// メモリ増加量.
    pub growth_mb: Option<f64>,
    /// Taken from the footer (else from the sample lines).
    pub from_footer: bool,
}

/// Everything reported about one run.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// 1-based, in log order.
    pub index: usize,
    /// Header PID, when the run's header was seen.
    pub pid: Option<u32>,
    /// Header interval in seconds.
    pub interval_s: Option<f64>,
    /// The header's time (`メモリモニタリング開始`), when the run's header was seen.
    pub started: Option<DateTime>,
    /// The footer's time (`モニタリング終了`), when it was seen.
    pub ended: Option<DateTime>,
    /// First and last sample; `None` for a run that ended before its first sample.
    pub first: Option<SampleLine>,
    /// See `first`.
    pub last: Option<SampleLine>,
    /// Sample lines analysed.
    pub samples: u64,
    /// RSS of the first sample minus its 初期比: the monitor's own baseline.
    pub baseline_mb: Option<f64>,
    /// Largest ピーク or RSS seen on the sample lines.
    pub peak_mb: Option<f64>,
    /// The footer's figures, when the run has a footer that covers it whole (no sample of the
    /// run outside `--since`/`--until`).
    pub footer: Option<FooterFigures>,
    /// The fit, when there were enough points.
    pub fit: Option<Fit>,
    /// The verdict.
    pub verdict: Verdict,
    /// Seconds until the last sample's available memory is used up, for a leak.
    pub time_to_exhaustion_s: Option<f64>,
    /// `⚠️ [警告] メモリが初期値から…` lines.
    pub warnings: u64,
    /// OOM kills (sum of the `(+N)` lines).
    pub oom_kills: u64,
    /// `サンプル取得失敗` lines.
    pub sample_failures: u64,
    /// Samples memmon could not write (sum of the lost-samples lines).
    pub lost_samples: u64,
    /// Continuation headers.
    pub continuations: u64,
    /// The footer used the last good sample (`最終サンプルを取得できない…`).
    pub last_good_used: bool,
    /// How it ended.
    pub ending: Ending,
    /// The evidence bundles memmon wrote during the run (issue #20), as `DIR/NAME` beside
    /// the log, oldest first: filled by [`crate::bundle::assign`] (empty until then).
    pub bundles: Vec<String>,
    /// Seconds since the first run's first sample where this run's 経過 0 lies on the plot.
    pub anchor_s: f64,
    /// Tracemalloc detail blocks seen (after samples in the window).
    pub site_blocks: u64,
    /// Allocation sites whose size grows steadily, fastest first.
    pub growing_sites: Vec<GrowingSite>,
    /// Issue #19's diagnosis (which part grows and why), when the run has its lines.
    pub diagnosis: Option<Diagnosis>,
}

impl FooterFigures {
    /// Whether all four memory lines (初期, 最終, ピーク, 増加量) were read.
    pub fn complete(&self) -> bool {
        self.memory_lines >= 4
    }
}

impl RunSummary {
    /// Run length by 経過 (first to last sample; 0 without samples).
    pub fn duration_s(&self) -> u64 {
        match (self.first, self.last) {
            (Some(first), Some(last)) => last.elapsed_secs.saturating_sub(first.elapsed_secs),
            _ => 0,
        }
    }

    /// The run's memory figures: the footer's when it has a whole one, since memmon (and the
    /// original) write it from a fresh sample at stop that no sample line shows (the reference
    /// log's footer says 最終メモリ 74.54MB, its last line 74.52MB); else the sample lines'.
    pub fn figures(&self) -> Figures {
        if let Some(f) = self.footer.filter(FooterFigures::complete) {
            return Figures {
                baseline_mb: f.initial_mb,
                last_mb: f.last_mb,
                peak_mb: f.peak_mb,
                growth_mb: f.growth_mb,
                from_footer: true,
            };
        }
        let last_mb = self.last.map(|l| l.rss_mb);
        Figures {
            baseline_mb: self.baseline_mb,
            last_mb,
            peak_mb: self.peak_mb,
            growth_mb: last_mb.zip(self.baseline_mb).map(|(l, b)| l - b),
            from_footer: false,
        }
    }

    /// When the run started: its first sample, else its header.
    pub fn start_time(&self) -> Option<DateTime> {
        self.first.map(|s| s.at).or(self.started)
    }

    /// When the run ended: its last sample, else its footer.
    pub fn end_time(&self) -> Option<DateTime> {
        self.last.map(|s| s.at).or(self.ended)
    }
}

/// Lines skipped, by why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Lines of no known shape.
    pub garbage: u64,
    /// Lines that are not UTF-8 (or absurdly long).
    pub invalid_utf8: u64,
    /// A last line without its `\n` that does not parse: a write cut short.
    pub truncated: u64,
}

impl Skipped {
    /// All skipped lines.
    pub fn total(&self) -> u64 {
        self.garbage + self.invalid_utf8 + self.truncated
    }
}

/// A run being read.
struct Current {
    pid: Option<u32>,
    interval_s: Option<f64>,
    first: Option<SampleLine>,
    last: Option<SampleLine>,
    samples: u64,
    peak_mb: f64,
    estimator: TrendEstimator,
    warnings: u64,
    oom_kills: u64,
    sample_failures: u64,
    lost_samples: u64,
    continuations: u64,
    last_good_used: bool,
    exit: Option<ExitKind>,
    started: Option<DateTime>,
    ended: Option<DateTime>,
    footer: Option<FooterFigures>,
    /// Samples of this run outside the window (its footer then describes more than is shown).
    outside: u64,
    anchor_s: f64,
    sites: SiteTracker,
    parts: PartTracker,
}

impl Current {
    fn new() -> Current {
        Current {
            pid: None,
            interval_s: None,
            first: None,
            last: None,
            samples: 0,
            peak_mb: f64::NEG_INFINITY,
            // The defaults are valid settings, so this never fails; fall back all the same.
            estimator: TrendEstimator::new(TrendSettings::default()).unwrap_or_default(),
            warnings: 0,
            oom_kills: 0,
            sample_failures: 0,
            lost_samples: 0,
            continuations: 0,
            last_good_used: false,
            exit: None,
            started: None,
            ended: None,
            footer: None,
            outside: 0,
            anchor_s: 0.0,
            sites: SiteTracker::default(),
            parts: PartTracker::default(),
        }
    }
}

/// Where the time window cuts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Window {
    /// Samples before this are ignored.
    pub since: Option<DateTime>,
    /// Samples after this are ignored.
    pub until: Option<DateTime>,
}

impl Window {
    fn contains(&self, at: DateTime) -> bool {
        self.since.is_none_or(|s| at >= s) && self.until.is_none_or(|u| at <= u)
    }
}

/// Reads records and splits them into runs. Feed lines with [`Analyzer::line`], then call
/// [`Analyzer::finish`].
pub struct Analyzer {
    verdict: VerdictSettings,
    window: Window,
    current: Option<Current>,
    runs: Vec<RunSummary>,
    skipped: Skipped,
    lines: u64,
    outside_window: u64,
    /// Seconds of the first run's first sample (civil time as if UTC), the plot's origin.
    origin_s: Option<i64>,
    /// Where the previous run ended on the plot's axis, so runs never overlap.
    last_x: f64,
}

/// The whole analysis.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// One per run that had a sample in the window.
    pub runs: Vec<RunSummary>,
    /// Lines skipped.
    pub skipped: Skipped,
    /// Lines read.
    pub lines: u64,
    /// Samples outside `--since`/`--until`.
    pub outside_window: u64,
    /// Inputs skipped as empty (logrotate's fresh files); set by the caller, which read them.
    pub empty_files: Vec<std::path::PathBuf>,
}

impl Analysis {
    /// Restarts: every run after the first.
    pub fn restarts(&self) -> usize {
        self.runs.len().saturating_sub(1)
    }

    /// Three or more restarts, most of them after a run that ended badly.
    pub fn crash_loop(&self) -> bool {
        let ended: Vec<_> = self.runs.iter().rev().skip(1).collect();
        let bad = ended.iter().filter(|r| r.ending.abnormal()).count();
        ended.len() >= 3 && bad * 2 > ended.len()
    }
}

/// An accepted sample, for the CSV and the plot.
#[derive(Debug, Clone, Copy)]
pub struct Accepted {
    /// The sample.
    pub sample: SampleLine,
    /// Its run, 1-based.
    pub run: usize,
    /// Seconds since the first run's first sample (for the plot's x axis).
    pub x_s: f64,
}

fn civil_secs(at: DateTime) -> i64 {
    at.duration_since(DateTime::constant(2000, 1, 1, 0, 0, 0, 0))
        .as_secs()
}

impl Analyzer {
    /// An analyzer with the given thresholds and window.
    pub fn new(verdict: VerdictSettings, window: Window) -> Analyzer {
        Analyzer {
            verdict,
            window,
            current: None,
            runs: Vec::new(),
            skipped: Skipped::default(),
            lines: 0,
            outside_window: 0,
            origin_s: None,
            last_x: 0.0,
        }
    }

    /// Reads one line; returns the sample when one was accepted.
    pub fn line(&mut self, line: Line<'_>) -> Option<Accepted> {
        self.lines += 1;
        match line {
            Line::Invalid { terminated: true } => {
                self.skipped.invalid_utf8 += 1;
                None
            }
            Line::Invalid { terminated: false } => {
                self.skipped.truncated += 1;
                None
            }
            Line::Text { text, terminated } => match parse_line(text) {
                Record::Other(_) if !terminated => {
                    self.skipped.truncated += 1;
                    None
                }
                Record::Other(_) => {
                    self.skipped.garbage += 1;
                    None
                }
                record => self.record(record),
            },
        }
    }

    fn record(&mut self, record: Record) -> Option<Accepted> {
        match record {
            Record::Start { at } => {
                self.close_run(Ending::Killed);
                let mut run = Current::new();
                run.started = Some(at);
                self.current = Some(run);
            }
            Record::Sample(s) => return self.sample(s),
            record => {
                // Lines that belong to a run but come before any header (a rotated file that
                // starts mid-run) open an implicit run.
                let run = self.current.get_or_insert_with(Current::new);
                // A detail block is its first line, the Top 10 header and site lines: anything
                // else (the closing empty line included) ends it.
                if !matches!(record, Record::TopHeader | Record::Site(_)) {
                    run.sites.close_block();
                }
                match record {
                    Record::Continue { .. } => run.continuations += 1,
                    Record::Pid(pid) => run.pid = Some(pid),
                    Record::Interval(i) => run.interval_s = Some(i.secs()),
                    Record::Warning { .. } => run.warnings += 1,
                    Record::Oom { kills } => run.oom_kills = run.oom_kills.saturating_add(kills),
                    Record::SampleFailed { .. } => run.sample_failures += 1,
                    Record::LostSamples { count, .. } => {
                        run.lost_samples = run.lost_samples.saturating_add(count)
                    }
                    Record::LastGoodUsed => run.last_good_used = true,
                    Record::ProcessExit(kind) => run.exit = Some(kind),
                    Record::End { at } => {
                        run.ended = Some(at);
                        run.footer = Some(FooterFigures::default());
                    }
                    Record::Tracemalloc {
                        pid, current_mb, ..
                    } => {
                        run.sites.open_block(pid);
                        run.parts.tracemalloc(current_mb);
                    }
                    Record::Site(site) => run.sites.site(site),
                    // The footer's figures, taken only after its `モニタリング終了` line.
                    Record::Runtime { secs } => {
                        if let Some(f) = &mut run.footer {
                            f.runtime_s = Some(secs);
                        }
                    }
                    Record::Initial { mb } => {
                        if let Some(f) = &mut run.footer {
                            f.initial_mb = mb;
                            f.memory_lines += 1;
                        }
                    }
                    Record::Final { mb } => {
                        if let Some(f) = &mut run.footer {
                            f.last_mb = mb;
                            f.memory_lines += 1;
                        }
                    }
                    Record::Peak { mb } => {
                        if let Some(f) = &mut run.footer {
                            f.peak_mb = mb;
                            f.memory_lines += 1;
                        }
                    }
                    Record::Increase { mb } => {
                        if let Some(f) = &mut run.footer {
                            f.growth_mb = mb;
                            f.memory_lines += 1;
                        }
                    }
                    // Issue #19's lines: the breakdown (a line of its own, not part of a
                    // block: it closed any open one above) and the diagnosis lines feed the
                    // attribution; the figures come from sample lines alone.
                    Record::Breakdown(b) => run.parts.breakdown(&b),
                    Record::Escalation(line) => run.parts.escalation(line),
                    Record::Native(line) => run.parts.native(line),
                    Record::Trim(line) => run.parts.trim(line),
                    Record::Types(line) => run.parts.types(line),
                    // Frames and the rest of the detail blocks: nothing to add.
                    _ => {}
                }
            }
        }
        None
    }

    fn sample(&mut self, s: SampleLine) -> Option<Accepted> {
        if !self.window.contains(s.at) {
            self.outside_window += 1;
            if let Some(run) = &mut self.current {
                run.outside += 1;
                run.sites.skipped_sample();
                run.parts.skipped_sample();
            }
            return None;
        }
        // 経過 going back without a header: the header was lost (a cut file), so a new run began.
        let restarted = self
            .current
            .as_ref()
            .and_then(|c| c.last)
            .is_some_and(|l| s.elapsed_secs < l.elapsed_secs);
        if restarted {
            self.close_run(Ending::Killed);
        }
        let origin = *self.origin_s.get_or_insert(civil_secs(s.at));
        let last_x = self.last_x;
        let run = self.current.get_or_insert_with(Current::new);
        if run.first.is_none() {
            // The plot places the run by its wall clock, but never before the previous run's end.
            let by_clock = (civil_secs(s.at) - origin) as f64 - s.elapsed_secs as f64;
            run.anchor_s = by_clock.max(last_x - s.elapsed_secs as f64);
            run.first = Some(s);
        }
        run.last = Some(s);
        run.samples += 1;
        run.peak_mb = run.peak_mb.max(s.peak_mb).max(s.rss_mb);
        // The trend is fitted to RSS with the trim probes' drops added back: their step is the
        // probe's, not the program's (see `parts`).
        let rss = run
            .parts
            .sample(s.elapsed_secs as f64, s.rss_mb * MIB as f64);
        // A refused point (non-finite: impossible from a parsed line) is only left out of the fit.
        let _ = run.estimator.push(s.elapsed_secs as f64, rss);
        run.sites.sample(s.elapsed_secs as f64);
        let x_s = run.anchor_s + s.elapsed_secs as f64;
        self.last_x = x_s;
        Some(Accepted {
            sample: s,
            run: self.runs.len() + 1,
            x_s,
        })
    }

    /// Ends the current run; `unfinished` is its ending when no footer was seen.
    fn close_run(&mut self, unfinished: Ending) {
        let Some(mut run) = self.current.take() else {
            return;
        };
        // A run with no sample line is reported when it has a footer (it ended before its
        // first sample: a crash during the start-up delay counts as a restart) and no sample of
        // it was cut by the window; a bare header, or a run the window left out, is not.
        let sampled = run.first.is_some();
        let footer_only = run.footer.is_some()
            && run.outside == 0
            && run.started.is_none_or(|at| self.window.contains(at));
        if !sampled && !footer_only {
            return;
        }
        if !sampled {
            run.anchor_s = self.last_x;
        }
        let estimate = run.estimator.estimate();
        let verdict = estimate
            .as_ref()
            .map_or(Verdict::Inconclusive(InconclusiveReason::TooShort), |e| {
                e.verdict(&self.verdict)
            });
        let time_to_exhaustion_s = match (verdict, &estimate, run.last) {
            (Verdict::Leak, Some(e), Some(last)) => {
                time_to_exhaustion(last.sys_available_mb * MIB as f64, e.slope_bytes_per_sec)
            }
            _ => None,
        };
        let diagnosis = run.parts.finish(
            estimate
                .as_ref()
                .map(|e| (e.start_secs + e.warmup_secs, e.slope_bytes_per_sec)),
            verdict == Verdict::Leak,
        );
        let ending = match (run.exit, run.footer.is_some()) {
            (Some(kind), _) => Ending::Exit(kind),
            (None, true) => Ending::Footer,
            (None, false) => unfinished,
        };
        self.runs.push(RunSummary {
            index: self.runs.len() + 1,
            pid: run.pid,
            interval_s: run.interval_s,
            started: run.started,
            ended: run.ended,
            first: run.first,
            last: run.last,
            samples: run.samples,
            baseline_mb: run.first.map(|f| f.rss_mb - f.growth_mb),
            peak_mb: sampled.then_some(run.peak_mb),
            footer: run.footer.filter(|_| run.outside == 0),
            fit: estimate.as_ref().map(Fit::new),
            verdict,
            time_to_exhaustion_s,
            warnings: run.warnings,
            oom_kills: run.oom_kills,
            sample_failures: run.sample_failures,
            lost_samples: run.lost_samples,
            continuations: run.continuations,
            last_good_used: run.last_good_used,
            ending,
            bundles: Vec::new(),
            anchor_s: run.anchor_s,
            site_blocks: run.sites.blocks(),
            growing_sites: run.sites.growing(),
            diagnosis,
        });
    }

    /// Closes the last run and returns the analysis.
    pub fn finish(mut self) -> Analysis {
        self.close_run(Ending::Open);
        Analysis {
            runs: self.runs,
            skipped: self.skipped,
            lines: self.lines,
            outside_window: self.outside_window,
            empty_files: Vec::new(),
        }
    }
}
