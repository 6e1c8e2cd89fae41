//! Issue #19's attribution, offline: which part of a run's memory (or of what it holds) carries
//! the growth, and the guide's cause it points to.
//!
//! Per run, every sample followed by a breakdown line (`[内訳]`, every 10th sample) or by
//! tracemalloc blocks becomes a point: (経過, RSS, the breakdown's figures, Python's traced
//! bytes: the blocks' `Current` summed over the processes). At the run's end each part's series
//! is fitted by ordinary least squares over the span the RSS trend fitted (its warm-up left
//! out), and memmon-core's [`attribute`] decides. Least squares, not the RSS trend's Theil–Sen:
//! the parts are sampled ten times more sparsely than RSS, thread and descriptor counts move in
//! whole steps, and the question is not *whether* the run leaks (the robust RSS verdict says
//! that) but how the growth is shared out, for which the mean rate of each part is the measure.
//! It costs a few sums over a bounded set of points (see below), nothing per line.
//!
//! Python against native memory: when the run has `[Python/ネイティブ]` lines, the last one
//! decides (memmon's live comparison subtracts tracemalloc's own memory, which the blocks do not
//! print); else, when at least [`MIN_POINTS`] points have both a breakdown and Python's bytes,
//! every part is fitted over those points only (tracing starts mid-run, after an escalation)
//! and native memory is anonymous memory less Python's bytes.
//!
//! The `malloc_trim` probe (`[malloc_trim]`): the drop it measured (前 − 後, when positive) is
//! the probe's, not the program's, so it is added back to every later RSS and anonymous figure
//! of the run before any fit: the RSS trend and verdict see no step, the parts no fall. The
//! figures (初期/最終/ピーク/増加量) stay the log's. Its outcome names native growth
//! (fragmentation or held).
//!
//! Bounded memory: points are thinned to at most 2 × [`crate::sites::PLOT_POINTS`] (every 2ᵏth kept), at most
//! [`MAX_ESCALATIONS`] escalation lines and one types line per process for [`MAX_TYPE_PIDS`]
//! processes are kept; the rest is counted.

use crate::sites::Thinned;
use memmon_core::{attribute, Attribution, Cause, Part, PartSlopes, MIB};
use memmon_format::{BreakdownLine, EscalationLine, NativeLine, TrimLine, TypesLine};
use std::collections::BTreeMap;

/// Points a part needs before its slope is taken.
pub const MIN_POINTS: usize = 3;
/// Escalation lines kept per run (the rest are counted).
pub const MAX_ESCALATIONS: usize = 16;
/// Processes whose last types line is kept per run.
pub const MAX_TYPE_PIDS: usize = 16;

/// The breakdown's parts, in the order of a point's `parts`.
const BREAKDOWN_PARTS: [Part; 9] = [
    Part::Anon,
    Part::FileBacked,
    Part::Shared,
    Part::Swap,
    Part::Threads,
    Part::Sockets,
    Part::Files,
    Part::Pipes,
    Part::OtherFds,
];

/// One sample's figures.
#[derive(Debug, Clone, Copy)]
struct Point {
    t: f64,
    /// RSS bytes, the probe's drop added back.
    rss: f64,
    /// The breakdown's figures (bytes, counts) in [`BREAKDOWN_PARTS`]' order, anonymous memory
    /// with the probe's drop added back.
    parts: Option<[f64; 9]>,
    /// Python's traced bytes, summed over the processes' blocks.
    python: Option<f64>,
    /// The probes' drops added back to `rss` and anonymous memory, bytes.
    offset: f64,
}

impl Point {
    fn value(&self, part: Part) -> Option<f64> {
        match part {
            Part::PythonObjects => self.python,
            Part::Native => Some(self.parts?[0] - self.python?),
            _ => {
                let i = BREAKDOWN_PARTS.iter().position(|p| *p == part)?;
                Some(self.parts?[i])
            }
        }
    }
}

/// An escalation line and when (経過 of the sample before it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Escalation {
    /// 経過 seconds of the last sample before it, when there was one.
    pub elapsed_s: Option<f64>,
    /// The line.
    pub line: EscalationLine,
}

/// What a run's diagnosis lines say, for the report and the plot.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnosis {
    /// The parts' slopes (per second) and RSS's, over the span fitted; no part measured when
    /// the run had too few breakdown lines and no `[Python/ネイティブ]` line.
    pub slopes: PartSlopes,
    /// Which part carries the growth; `None` when no part was measured.
    pub attribution: Option<Attribution>,
    /// The span the parts were fitted over, 経過 seconds.
    pub span_s: Option<(f64, f64)>,
    /// The last trim probe's line.
    pub trim: Option<TrimLine>,
    /// The RSS the probes gave back (added back to later samples), MiB.
    pub probe_drop_mb: f64,
    /// Each probe's step: (経過 of the sample before it, MiB given back), the first
    /// [`MAX_ESCALATIONS`] (the plot draws the trend line down by them).
    pub probe_steps: Vec<(f64, f64)>,
    /// The last `[Python/ネイティブ]` line.
    pub native: Option<NativeLine>,
    /// The first [`MAX_ESCALATIONS`] escalation lines.
    pub escalations: Vec<Escalation>,
    /// All escalation lines.
    pub escalation_count: u64,
    /// Each process's last types line, by PID.
    pub types: Vec<TypesLine>,
    /// The attributed part's series (経過 seconds, MiB for a byte part or a count), thinned,
    /// as the log has it (the probes' drops not added back).
    pub growing_points: Vec<(f64, f64)>,
}

impl Diagnosis {
    /// The attributed part's slope, per hour (MiB for a byte part, else a count).
    pub fn rate_per_hour(&self) -> Option<f64> {
        let a = self.attribution?;
        let s = self.slopes.get(a.part)?;
        Some(per_hour(a.part, s))
    }
}

/// A slope per second as the report prints it: per hour, MiB for a byte part.
pub fn per_hour(part: Part, slope_per_sec: f64) -> f64 {
    if part.is_bytes() {
        slope_per_sec * 3600.0 / MIB as f64
    } else {
        slope_per_sec * 3600.0
    }
}

/// The per-run tracker. Feed it the run's records in order.
#[derive(Debug)]
pub struct PartTracker {
    open: Option<Point>,
    points: Thinned<Point>,
    offset: f64,
    steps: Vec<(f64, f64)>,
    seen: bool,
    trim: Option<TrimLine>,
    native: Option<NativeLine>,
    escalations: Vec<Escalation>,
    escalation_count: u64,
    types: BTreeMap<u32, TypesLine>,
    last_elapsed: Option<f64>,
}

impl Default for PartTracker {
    fn default() -> Self {
        PartTracker {
            open: None,
            points: Thinned::new(),
            offset: 0.0,
            steps: Vec::new(),
            seen: false,
            trim: None,
            native: None,
            escalations: Vec::new(),
            escalation_count: 0,
            types: BTreeMap::new(),
            last_elapsed: None,
        }
    }
}

impl PartTracker {
    fn flush(&mut self) {
        if let Some(p) = self.open.take() {
            if p.parts.is_some() || p.python.is_some() {
                self.points.push(p);
            }
        }
    }

    /// An accepted sample line: returns its RSS in bytes with the probes' drops added back
    /// (what the trend is fitted to).
    pub fn sample(&mut self, elapsed_secs: f64, rss_bytes: f64) -> f64 {
        self.flush();
        let rss = rss_bytes + self.offset;
        self.open = Some(Point {
            t: elapsed_secs,
            rss,
            parts: None,
            python: None,
            offset: self.offset,
        });
        self.last_elapsed = Some(elapsed_secs);
        rss
    }

    /// A sample outside the window: the lines after it are left out too.
    pub fn skipped_sample(&mut self) {
        self.flush();
        self.last_elapsed = None;
    }

    /// `  [内訳] …`: the open sample's breakdown.
    pub fn breakdown(&mut self, b: &BreakdownLine) {
        self.seen = true;
        let offset = self.offset;
        if let Some(p) = &mut self.open {
            let mib = MIB as f64;
            p.parts = Some([
                b.anon_mb * mib + offset,
                b.file_mb * mib,
                b.shmem_mb * mib,
                b.swap_mb * mib,
                b.threads as f64,
                b.fds.sockets as f64,
                b.fds.files as f64,
                b.fds.pipes as f64,
                b.fds.other as f64,
            ]);
        }
    }

    /// `  [tracemalloc] [PID N ]Current: …`: one process's traced MiB at the open sample.
    pub fn tracemalloc(&mut self, current_mb: f64) {
        if let Some(p) = &mut self.open {
            p.python = Some(p.python.unwrap_or(0.0) + current_mb * MIB as f64);
        }
    }

    /// `  [malloc_trim] …`: the probe's drop is added back to everything after it.
    pub fn trim(&mut self, line: TrimLine) {
        self.seen = true;
        let drop = (line.before_mb - line.after_mb).max(0.0);
        self.offset += drop * MIB as f64;
        if let (Some(t), true) = (self.last_elapsed, self.steps.len() < MAX_ESCALATIONS) {
            if drop > 0.0 {
                self.steps.push((t, drop));
            }
        }
        self.trim = Some(line);
    }

    /// `  [Python/ネイティブ] …`.
    pub fn native(&mut self, line: NativeLine) {
        self.seen = true;
        self.native = Some(line);
    }

    /// `  [リーク疑い] …`.
    pub fn escalation(&mut self, line: EscalationLine) {
        self.seen = true;
        self.escalation_count += 1;
        if self.escalations.len() < MAX_ESCALATIONS {
            self.escalations.push(Escalation {
                elapsed_s: self.last_elapsed,
                line,
            });
        }
    }

    /// `  [増加した型] PID N: …`: the process's latest.
    pub fn types(&mut self, line: TypesLine) {
        self.seen = true;
        if self.types.len() < MAX_TYPE_PIDS || self.types.contains_key(&line.pid) {
            self.types.insert(line.pid, line);
        }
    }

    /// The run's diagnosis; `None` when the run had no diagnosis line at all (a log of the
    /// original monitor, or of memmon before issue #19: its report stays as it was).
    /// `fit`: where the RSS trend's fitted span starts (after its warm-up) and its slope
    /// (bytes per second), used when no breakdown gives RSS at the parts' points. `leaking`:
    /// the run's verdict is a leak. A memory part is named only then, or when memmon suspected
    /// one live (an `[リーク疑い]` line): a run whose memory does not grow has no memory cause,
    /// whatever its parts' slopes (a start-up ramp). Threads and descriptors that pile up are
    /// named whatever memory does: they are a leak of their own (the guide's causes 2 and 3).
    pub fn finish(mut self, fit: Option<(f64, f64)>, leaking: bool) -> Option<Diagnosis> {
        self.flush();
        if !self.seen {
            return None;
        }
        let all: Vec<Point> = self.points.points.clone();
        let with_parts: Vec<Point> = all.iter().copied().filter(|p| p.parts.is_some()).collect();
        // The RSS trend's span (after its warm-up), unless that leaves too few points.
        let after_warmup: Vec<Point> = match fit {
            Some((from, _)) => with_parts.iter().copied().filter(|p| p.t >= from).collect(),
            None => with_parts.clone(),
        };
        let mut span = if after_warmup.len() >= MIN_POINTS {
            after_warmup
        } else {
            with_parts
        };
        let traced: Vec<Point> = span
            .iter()
            .copied()
            .filter(|p| p.python.is_some())
            .collect();
        let python_from_points = self.native.is_none() && traced.len() >= MIN_POINTS;
        if python_from_points {
            span = traced;
        }
        let mut slopes = PartSlopes::new(fit.map_or(0.0, |f| f.1));
        let mut span_s = None;
        if span.len() >= MIN_POINTS {
            if let Some(s) = ols(span.iter().map(|p| (p.t, p.rss))) {
                slopes.rss = s;
            }
            let mut parts: Vec<Part> = BREAKDOWN_PARTS.to_vec();
            if python_from_points {
                parts.extend([Part::PythonObjects, Part::Native]);
            }
            for part in parts {
                let s = ols(span.iter().filter_map(|p| Some((p.t, p.value(part)?))));
                slopes.set(part, s);
            }
            span_s = Some((span[0].t, span[span.len() - 1].t));
        }
        if let Some(n) = self.native.filter(|n| n.span_secs > 0) {
            let per_sec = |mb: f64| mb * MIB as f64 / n.span_secs as f64;
            slopes.set(Part::PythonObjects, Some(per_sec(n.python_mb)));
            slopes.set(Part::Native, Some(per_sec(n.native_mb)));
        }
        let grows = leaking || !self.escalations.is_empty();
        let attribution = slopes.any().then(|| {
            let a = attribute(&slopes, self.trim.map(|t| t.outcome));
            let held = matches!(
                a.cause,
                Cause::ThreadsNeverEnd | Cause::ConnectionsNotClosed | Cause::DescriptorsNotClosed
            );
            if grows || held {
                a
            } else {
                Attribution::NONE
            }
        });
        let growing_points = match attribution {
            Some(a) if a.cause != memmon_core::Cause::None => all
                .iter()
                .filter_map(|p| {
                    let mut v = p.value(a.part)?;
                    if matches!(a.part, Part::Anon | Part::Native) {
                        v -= p.offset;
                    }
                    Some((p.t, if a.part.is_bytes() { v / MIB as f64 } else { v }))
                })
                .collect(),
            _ => Vec::new(),
        };
        Some(Diagnosis {
            slopes,
            attribution,
            span_s,
            trim: self.trim,
            probe_drop_mb: self.offset / MIB as f64,
            probe_steps: self.steps,
            native: self.native,
            escalations: self.escalations,
            escalation_count: self.escalation_count,
            types: self.types.into_values().collect(),
            growing_points,
        })
    }
}

/// Ordinary least-squares slope of `(t, v)`; `None` for fewer than two distinct times.
fn ols(points: impl Iterator<Item = (f64, f64)> + Clone) -> Option<f64> {
    let (mut n, mut st, mut sv) = (0.0, 0.0, 0.0);
    for (t, v) in points.clone() {
        n += 1.0;
        st += t;
        sv += v;
    }
    if n < MIN_POINTS as f64 {
        return None;
    }
    let (mt, mv) = (st / n, sv / n);
    let (mut stt, mut stv) = (0.0, 0.0);
    for (t, v) in points {
        stt += (t - mt) * (t - mt);
        stv += (t - mt) * (v - mv);
    }
    (stt > 0.0).then(|| stv / stt).filter(|s| s.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;
    use memmon_core::TrimOutcome;

    #[test]
    fn least_squares_on_literal_points() {
        let pts = [(0.0, 1.0), (10.0, 3.0), (20.0, 5.0)];
        assert_eq!(ols(pts.iter().copied()), Some(0.2));
        assert_eq!(ols(pts[..2].iter().copied()), None);
        assert_eq!(ols([(5.0, 1.0); 4].iter().copied()), None);
    }

    #[test]
    fn nothing_of_issue_19_is_no_diagnosis() {
        let mut t = PartTracker::default();
        for k in 0..10 {
            t.sample(k as f64 * 60.0, 40.0 * MIB as f64);
            t.tracemalloc(10.0);
        }
        assert_eq!(t.finish(None, true), None);
    }

    #[test]
    fn the_probes_drop_is_added_back_to_later_samples() {
        let mut t = PartTracker::default();
        let mib = MIB as f64;
        assert_eq!(t.sample(0.0, 100.0 * mib), 100.0 * mib);
        t.trim(TrimLine {
            before_mb: 100.0,
            after_mb: 60.0,
            change_mb: -40.0,
            outcome: TrimOutcome::Returned,
        });
        assert_eq!(t.sample(60.0, 61.0 * mib), 101.0 * mib);
        // A rise at the probe is no drop to add back.
        t.trim(TrimLine {
            before_mb: 61.0,
            after_mb: 62.0,
            change_mb: 1.0,
            outcome: TrimOutcome::Unchanged,
        });
        assert_eq!(t.sample(120.0, 62.0 * mib), 102.0 * mib);
        let d = t
            .finish(None, true)
            .unwrap_or_else(|| panic!("a diagnosis"));
        assert_eq!(d.probe_drop_mb, 40.0);
        assert_eq!(d.trim.map(|l| l.outcome), Some(TrimOutcome::Unchanged));
        assert_eq!(d.attribution, None);
    }
}
