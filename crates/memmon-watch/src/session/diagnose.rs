//! Issue #19 inside the watching loop: the breakdown line at the detail cadence, the online
//! trend that suspects a leak and starts the investigation (tracemalloc in the hooked
//! processes), then Python's share of the growth of anonymous memory, the growing object types
//! or the `malloc_trim` probe. This module keeps the state and asks; the rules (shares,
//! thresholds, what a probe's figures mean) are memmon-core's (`memmon_core::live`, the
//! trend's verdict). The session asks at its sample and detail points and writes the records
//! this module hands back.

use memmon_core::live::{self, NextProbe};
use memmon_core::{
    Breakdown, Cause, Detail, DetailSource, TrendEstimator, TrendSettings, Verdict, VerdictSettings,
};
use memmon_format::{Investigation, LogFormat, Record};
use std::time::Duration;

/// What a run asks of the diagnosis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiagnosisOptions {
    /// Write the `[内訳]` line at the detail cadence (config `breakdown`).
    pub breakdown: bool,
    /// Start tracemalloc in the hooked processes when a leak is likely (config `escalate`).
    pub escalate: bool,
    /// Ask the hooked processes to call `malloc_trim(0)` once when Python's bytes are flat while
    /// anonymous memory grows (config `malloc_trim_probe`).
    pub malloc_trim_probe: bool,
    /// tracemalloc runs from the first sample (config `tracemalloc` with Python detail).
    pub tracing: bool,
    /// Why there is no hook to ask, when there is none (`--pid`, `python_hook: off`).
    pub no_hook: Option<Investigation>,
    /// Write the `[リーク疑い]` line when the trend calls a leak (`memmon run`); `memmon test`
    /// and the in-process monitor, whose logs the spec fixes, write none.
    pub leak_line: bool,
}

impl Default for DiagnosisOptions {
    /// Everything on, no hook (`--pid`).
    fn default() -> Self {
        DiagnosisOptions {
            breakdown: true,
            escalate: true,
            malloc_trim_probe: true,
            tracing: false,
            no_hook: Some(Investigation::NoHookPid),
            leak_line: true,
        }
    }
}

/// Traced blocks after the reference point before Python's share is decided.
const BLOCKS_TO_DECIDE: u32 = 2;

/// The online trend, refreshed at most once a second.
struct Trend {
    estimator: TrendEstimator,
    slope: Option<f64>,
    verdict: Option<Verdict>,
    computed_at: Option<Duration>,
}

/// One point of the Python/native comparison.
#[derive(Debug, Clone, Copy)]
struct Point {
    at: Duration,
    anon: u64,
    python: u64,
}

/// The run's diagnosis state.
pub(super) struct Diagnosis {
    opts: DiagnosisOptions,
    trend: Option<Trend>,
    /// The escalation line was written (once per run).
    suspected: bool,
    /// The last breakdown, and when it was taken.
    last_breakdown: Option<(Duration, Breakdown)>,
    /// The comparison's start (first traced block after the leak was suspected).
    reference: Option<Point>,
    blocks_since_reference: u32,
    decided: bool,
    /// 0: types never asked; 1: the reference walk done; 2: the growth reported.
    types_step: u8,
    trimmed: bool,
    /// The cause as far as the live figures tell.
    cause: Option<Cause>,
    /// Python's traced bytes (less tracemalloc's own) at the last block.
    python_bytes: Option<u64>,
    /// The breakdown when the leak was suspected: what the counts have grown by since.
    at_suspicion: Option<Breakdown>,
    /// What the trim probe gave back: the probe's step, not the program's, so it is added
    /// back to every later RSS the trend sees (as `memmon analyze` does).
    probe_offset: u64,
}

impl Diagnosis {
    pub(super) fn new(opts: DiagnosisOptions, want_trend: bool) -> Self {
        let trend = want_trend
            .then(|| TrendEstimator::new(TrendSettings::online()).ok())
            .flatten()
            .map(|estimator| Trend {
                estimator,
                slope: None,
                verdict: None,
                computed_at: None,
            });
        Diagnosis {
            opts,
            trend,
            suspected: false,
            last_breakdown: None,
            reference: None,
            blocks_since_reference: 0,
            decided: false,
            types_step: 0,
            trimmed: false,
            cause: None,
            python_bytes: None,
            at_suspicion: None,
            probe_offset: 0,
        }
    }

    /// Keeps the online trend from now on (the flight recorder's horizon reads its slope), when
    /// no other reader asked for it at the start.
    pub(super) fn want_trend(&mut self) {
        if self.trend.is_none() {
            self.trend = TrendEstimator::new(TrendSettings::online())
                .ok()
                .map(|estimator| Trend {
                    estimator,
                    slope: None,
                    verdict: None,
                    computed_at: None,
                });
        }
    }

    pub(super) fn options(&self) -> DiagnosisOptions {
        self.opts
    }

    /// Feeds one sample's RSS to the trend; the estimate is refreshed at most once a second.
    pub(super) fn push_rss(&mut self, elapsed: Duration, rss: u64) {
        let Some(t) = self.trend.as_mut() else {
            return;
        };
        let rss = rss.saturating_add(self.probe_offset);
        let _ = t.estimator.push(elapsed.as_secs_f64(), rss as f64);
        if t.computed_at
            .is_none_or(|at| elapsed.saturating_sub(at) >= Duration::from_secs(1))
        {
            let estimate = t.estimator.estimate();
            t.slope = estimate.as_ref().map(|e| e.slope_bytes_per_sec);
            t.verdict = estimate
                .as_ref()
                .map(|e| e.verdict(&VerdictSettings::default()));
            t.computed_at = Some(elapsed);
        }
    }

    /// The trend's slope after warm-up, bytes per second.
    pub(super) fn slope(&self) -> Option<f64> {
        self.trend.as_ref().and_then(|t| t.slope)
    }

    /// The online verdict, as last computed.
    #[cfg(test)]
    pub(super) fn verdict(&self) -> Option<Verdict> {
        self.trend.as_ref()?.verdict
    }

    /// The online verdict as a yes/no (`None` until the trend can say either).
    /// Once the trend has called a leak in this run (the `[リーク疑い]` line), it stays 1 for
    /// the rest of the run: a later fit over a changed span (the probe's step, a slower phase
    /// under load) must not reset an alert's `for:` while the process still holds what it
    /// leaked. A new run (a restart) starts from the trend again.
    pub(super) fn leak_suspected(&self) -> Option<bool> {
        if self.suspected {
            return Some(true);
        }
        match self.trend.as_ref()?.verdict? {
            Verdict::Leak => Some(true),
            Verdict::Normal | Verdict::Inconclusive(_) => Some(false),
        }
    }

    /// The cause as far as the live figures tell (`None` before a leak is suspected).
    pub(super) fn cause(&self) -> Option<Cause> {
        self.suspected.then_some(self.cause.unwrap_or(Cause::None))
    }

    /// The latest breakdown.
    pub(super) fn breakdown(&self) -> Option<Breakdown> {
        self.last_breakdown.map(|(_, b)| b)
    }

    /// Python's traced bytes (less tracemalloc's own) at the last block.
    pub(super) fn python_bytes(&self) -> Option<u64> {
        self.python_bytes
    }

    /// Keeps the breakdown of a sample at the detail cadence.
    pub(super) fn breakdown_taken(&mut self, at: Duration, breakdown: Breakdown) {
        self.last_breakdown = Some((at, breakdown));
        if self.suspected {
            match self.at_suspicion {
                None => self.at_suspicion = Some(breakdown),
                Some(then) => {
                    if let Some(cause) = live::count_cause(&then, &breakdown) {
                        self.cause = Some(cause);
                    }
                }
            }
        }
    }

    /// After a sample: the escalation line when the trend has just called a leak (once per
    /// run). `dormant` is the hooked processes' source, not yet tracing; it is started here and
    /// handed back to become the run's detail source.
    pub(super) fn check_escalation(
        &mut self,
        format: &LogFormat,
        dormant: &mut Option<Box<dyn DetailSource + Send>>,
    ) -> Option<(Record, Option<Box<dyn DetailSource + Send>>)> {
        if self.suspected || !self.opts.leak_line {
            return None;
        }
        let t = self.trend.as_ref()?;
        if t.verdict != Some(Verdict::Leak) {
            return None;
        }
        let estimate = t.estimator.estimate()?;
        self.suspected = true;
        self.at_suspicion = self.last_breakdown.map(|(_, b)| b);
        let mut started = None;
        let action = if self.opts.tracing {
            Investigation::AlreadyTracing
        } else if !self.opts.escalate {
            Investigation::NotAsked
        } else if let Some(mut source) = dormant.take() {
            // The guide's step 2 without editing the config: tracing starts now (the marker
            // for processes started later, `start` for the running ones).
            source.on_first_sample();
            started = Some(source);
            Investigation::Started
        } else {
            self.opts.no_hook.unwrap_or(Investigation::NoHookPid)
        };
        let line = format.escalation(
            estimate.slope_bytes_per_sec,
            estimate.fit_span_secs,
            estimate.rise_bytes(),
            action,
        );
        Some((line, started))
    }

    /// Whether traced blocks are now compared with anonymous memory.
    fn comparing(&self) -> bool {
        self.suspected && !self.decided
    }

    /// A detail result arrived: Python's traced bytes (less `overhead`) against the growth of
    /// anonymous memory since the reference point. Returns the lines to write after the block,
    /// asking `source` for the growing types or the trim probe when the comparison says so.
    /// `rss_now` takes a fresh RSS reading (for the trim probe's before and after).
    pub(super) fn on_blocks(
        &mut self,
        format: &LogFormat,
        blocks: &[Detail],
        source: &mut dyn DetailSource,
        rss_now: &mut dyn FnMut() -> Option<u64>,
    ) -> Vec<Record> {
        let mut out = Vec::new();
        let traced: Option<u64> = blocks
            .iter()
            .filter_map(|b| match b {
                Detail::Traced { current, .. } => Some(*current),
                _ => None,
            })
            .reduce(u64::saturating_add);
        let Some(traced) = traced else {
            return out;
        };
        let python = traced.saturating_sub(source.traced_overhead().unwrap_or(0));
        self.python_bytes = Some(python);
        if self.types_step == 1 {
            self.types_step = 2;
            if let Some(replies) = source.growing_types() {
                out.extend(replies.iter().map(|r| format.types(r)));
            }
        }
        if !self.comparing() {
            return out;
        }
        let Some((at, breakdown)) = self.last_breakdown else {
            return out;
        };
        let now = Point {
            at,
            anon: breakdown.anon,
            python,
        };
        let Some(reference) = self.reference else {
            self.reference = Some(now);
            return out;
        };
        self.blocks_since_reference += 1;
        let anon = signed(now.anon) - signed(reference.anon);
        let py = signed(now.python) - signed(reference.python);
        if self.blocks_since_reference < BLOCKS_TO_DECIDE {
            return out;
        }
        let Some((cause, next)) = live::split_growth(anon, py) else {
            return out;
        };
        let span = now.at.saturating_sub(reference.at).as_secs_f64();
        self.decided = true;
        out.push(format.native(anon, py, span));
        // Threads or descriptors that pile up outrank what memory says.
        let counted = self.cause.is_some_and(live::is_count_cause);
        if !counted {
            self.cause = Some(cause);
        }
        match next {
            // The reference walk now; the growth is reported at the next block.
            NextProbe::Types => {
                if source.growing_types().is_some() {
                    self.types_step = 1;
                }
            }
            NextProbe::Trim if !counted && self.opts.malloc_trim_probe && !self.trimmed => {
                self.trimmed = true;
                if let Some(line) = self.probe(format, source, rss_now, anon - py) {
                    out.push(line);
                }
            }
            NextProbe::Trim | NextProbe::Nothing => {}
        }
        out
    }

    /// Asks the hooked processes to call `malloc_trim(0)` once and measures the tree's RSS
    /// right before and after.
    fn probe(
        &mut self,
        format: &LogFormat,
        source: &mut dyn DetailSource,
        rss_now: &mut dyn FnMut() -> Option<u64>,
        native_growth: i64,
    ) -> Option<Record> {
        let before = rss_now()?;
        let replies = source.trim()?;
        let after = rss_now()?;
        let called = replies.iter().any(|r| r.called.is_some());
        let outcome = live::trim_outcome(called, before, after, native_growth);
        // The probe's drop is not the program's (see `probe_offset`).
        self.probe_offset = self
            .probe_offset
            .saturating_add(before.saturating_sub(after));
        self.cause = Some(outcome.cause());
        Some(format.trim(before, after, outcome))
    }
}

fn signed(bytes: u64) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}
