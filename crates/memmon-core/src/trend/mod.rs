//! The leak-trend estimator: a bounded-memory, robust slope of memory over time.
//!
//! Points `(t, bytes)` go into at most [`MAX_BINS`] time bins (count, Σt, Σvalue); when the bins
//! are full, neighbouring bins merge pairwise and the bin width doubles, so memory and cost do not
//! grow with the run. The trend is a Theil–Sen line (median of pairwise slopes) through the bin
//! means after a warm-up span, because a median shrugs off GC sawtooth drops and single spikes
//! that would drag a least-squares line. [`TrendEstimate::verdict`] then tells a steady leak from
//! a warm-up, a one-off step, or noise.
//!
//! Bins are aligned on a grid from the first point (`slot = floor((t - t₀) / width)`), so that a
//! width doubling is exactly `slot / 2` and bins never overlap, whatever the sampling interval.

mod robust;

use crate::bytes::MIB;
use robust::{diff_noise, fit_line, half_fit, median, r_squared, residual_scale};

/// The most bins an estimator keeps (so at most ~32 KiB of state).
pub const MAX_BINS: usize = 1024;
/// Largest accepted `|t|` in seconds (~31,700 years): keeps every slope and product finite.
pub const MAX_ABS_TIME_SECS: f64 = 1e12;
/// Largest accepted `|value|` in bytes (~888 PiB): keeps every square and sum finite.
pub const MAX_ABS_VALUE_BYTES: f64 = 1e18;

/// Why a point or a setting was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrendError {
    /// A time or value that is NaN, infinite, or beyond [`MAX_ABS_TIME_SECS`] /
    /// [`MAX_ABS_VALUE_BYTES`].
    #[error("expected |t| <= {MAX_ABS_TIME_SECS} s and |value| <= {MAX_ABS_VALUE_BYTES} bytes")]
    OutOfRange,
    /// A time earlier than the previous point's.
    #[error("expected points in time order: t = {t_secs} s is before the previous {last_secs} s")]
    OutOfOrder {
        /// The refused time.
        t_secs: f64,
        /// The previous accepted time.
        last_secs: f64,
    },
    /// A setting outside its range.
    #[error("setting {name} = {value} is out of range (expected {min} ..= {max})")]
    Setting {
        /// The setting's name.
        name: &'static str,
        /// The value given.
        value: f64,
        /// The smallest accepted value.
        min: f64,
        /// The largest accepted value.
        max: f64,
    },
}

/// How the Theil–Sen slope picks its pairs of bins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlopeMethod {
    /// Every pair: n(n−1)/2 slopes, up to 523,776 for 1,024 bins (4 MiB of scratch, O(n²)
    /// time; one estimate does about 0.9 M slope evaluations in all). Fine offline.
    Exact,
    /// At most `max_pairs` pairs per fit, stratified over the full pair list with deterministic
    /// jitter (same bins, same answer): O(max_pairs) time and scratch. For an online call on
    /// every sample; falls back to `Exact` when there are fewer pairs than that.
    Sampled {
        /// The pair budget per fit (a call does up to four fits).
        max_pairs: usize,
    },
}

/// How the warm-up span at the start of the run is excluded from the fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Warmup {
    /// Exclude nothing.
    None,
    /// Exclude bins whose mean time is less than `secs` after the first point.
    Fixed {
        /// Seconds excluded.
        secs: f64,
    },
    /// Detect the end of the warm-up (see [`Warmup::DETECT`]): fit a Theil–Sen line to the later
    /// half of the run (the settled behaviour, flat or leaking), then the warm-up ends at the
    /// first bin from which `settle_bins` consecutive bin means lie within `tolerance` of that
    /// line extended backwards, where `tolerance = max(min_tolerance_bytes, noise_multiple ×
    /// the later half's robust residual scale)`. Growth-then-flat ends where the level is
    /// reached; a steady leak is on its own line from the start, so it loses nothing. The
    /// warm-up is capped at `max_fraction` of the run, so the fit always keeps the recent part.
    Detect {
        /// Smallest tolerance, bytes.
        min_tolerance_bytes: f64,
        /// Tolerance in multiples of the later half's noise (1.4826 × median |residual|).
        noise_multiple: f64,
        /// Consecutive bins that must be within the tolerance (a lone spike does not settle).
        settle_bins: usize,
        /// Largest excluded fraction of the run, in `[0, 0.9]`.
        max_fraction: f64,
    },
}

impl Warmup {
    /// The default detection: 1 MiB or 3σ tolerance, 3 settled bins, at most half the run.
    /// 3σ keeps noise from delaying the end; half the run, because the later half defines
    /// the settled level and must stay in the fit.
    pub const DETECT: Warmup = Warmup::Detect {
        min_tolerance_bytes: MIB as f64,
        noise_multiple: 3.0,
        settle_bins: 3,
        max_fraction: 0.5,
    };
}

/// How an estimator bins and fits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrendSettings {
    /// The starting bin width in seconds (default 1 s; at least 1 µs). It doubles as bins merge.
    pub initial_bin_secs: f64,
    /// Warm-up exclusion (default [`Warmup::DETECT`]).
    pub warmup: Warmup,
    /// Slope method (default [`SlopeMethod::Exact`]: `memmon analyze` runs it once).
    pub slope: SlopeMethod,
}

impl Default for TrendSettings {
    fn default() -> Self {
        TrendSettings {
            initial_bin_secs: 1.0,
            warmup: Warmup::DETECT,
            slope: SlopeMethod::Exact,
        }
    }
}

impl TrendSettings {
    /// The defaults with [`SlopeMethod::Sampled`] at 4,096 pairs, for `memmon run`, which
    /// estimates on every sample: about 16 k slope evaluations a call instead of ~0.9 M.
    pub fn online() -> Self {
        TrendSettings {
            slope: SlopeMethod::Sampled { max_pairs: 4096 },
            ..TrendSettings::default()
        }
    }

    fn check(&self) -> Result<(), TrendError> {
        let mut ranges = vec![("initial_bin_secs", self.initial_bin_secs, 1e-6, 1e9)];
        match self.warmup {
            Warmup::None => {}
            Warmup::Fixed { secs } => {
                ranges.push(("warmup.secs", secs, 0.0, 2.0 * MAX_ABS_TIME_SECS))
            }
            Warmup::Detect {
                min_tolerance_bytes,
                noise_multiple,
                max_fraction,
                ..
            } => ranges.extend([
                (
                    "warmup.min_tolerance_bytes",
                    min_tolerance_bytes,
                    0.0,
                    MAX_ABS_VALUE_BYTES,
                ),
                ("warmup.noise_multiple", noise_multiple, 0.0, 1e6),
                ("warmup.max_fraction", max_fraction, 0.0, 0.9),
            ]),
        }
        // `contains` is false for NaN, so NaN settings are refused too.
        match ranges.into_iter().find(|r| !(r.2..=r.3).contains(&r.1)) {
            Some((name, value, min, max)) => Err(TrendError::Setting {
                name,
                value,
                min,
                max,
            }),
            None => Ok(()),
        }
    }
}

/// One time bin: the grid slot it covers and the sums behind its mean.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bin {
    slot: u64,
    count: u64,
    /// Σ(t − t₀): relative times keep precision when t is a Unix time.
    sum_t: f64,
    sum_v: f64,
}

impl Bin {
    fn absorb(&mut self, other: Bin) {
        self.count += other.count;
        self.sum_t += other.sum_t;
        self.sum_v += other.sum_v;
    }

    fn mean(&self) -> (f64, f64) {
        let n = self.count as f64;
        (self.sum_t / n, self.sum_v / n)
    }
}

/// The bounded-memory trend estimator. Feed points in time order with [`TrendEstimator::push`].
#[derive(Debug, Clone)]
pub struct TrendEstimator {
    settings: TrendSettings,
    width: f64,
    origin: Option<f64>,
    last_t: f64,
    points: u64,
    bins: Vec<Bin>,
}

impl Default for TrendEstimator {
    fn default() -> Self {
        TrendEstimator::with_checked(TrendSettings::default())
    }
}

impl TrendEstimator {
    /// An empty estimator; refuses out-of-range settings.
    pub fn new(settings: TrendSettings) -> Result<Self, TrendError> {
        settings.check()?;
        Ok(TrendEstimator::with_checked(settings))
    }

    fn with_checked(settings: TrendSettings) -> Self {
        TrendEstimator {
            settings,
            width: settings.initial_bin_secs,
            origin: None,
            last_t: f64::NEG_INFINITY,
            points: 0,
            bins: Vec::with_capacity(MAX_BINS),
        }
    }

    /// Adds a point. Times must not decrease; a refused point changes nothing.
    pub fn push(&mut self, t_secs: f64, value_bytes: f64) -> Result<(), TrendError> {
        // `<=` is false for NaN, so this refuses NaN and infinities too.
        if !(t_secs.abs() <= MAX_ABS_TIME_SECS && value_bytes.abs() <= MAX_ABS_VALUE_BYTES) {
            return Err(TrendError::OutOfRange);
        }
        if t_secs < self.last_t {
            return Err(TrendError::OutOfOrder {
                t_secs,
                last_secs: self.last_t,
            });
        }
        let origin = *self.origin.get_or_insert(t_secs);
        let rel = t_secs - origin;
        if self.bins.last().map(|b| b.slot) != Some(self.slot(rel)) && self.bins.len() >= MAX_BINS {
            self.coarsen();
        }
        let point = Bin {
            slot: self.slot(rel),
            count: 1,
            sum_t: rel,
            sum_v: value_bytes,
        };
        match self.bins.last_mut() {
            Some(b) if b.slot == point.slot => b.absorb(point),
            _ => self.bins.push(point),
        }
        self.last_t = t_secs;
        self.points += 1;
        Ok(())
    }

    /// `rel` is in `[0, 2e12]` and the width at least 1e-6, so the slot fits a u64 (< 2^61).
    fn slot(&self, rel: f64) -> u64 {
        (rel / self.width).floor() as u64
    }

    /// Doubles the width until there is room for one more bin. A doubling can merge nothing
    /// when bins are sparser than the width (samples every 60 s in 1 s bins), hence the loop;
    /// it ends because one bin eventually spans the whole run.
    fn coarsen(&mut self) {
        while self.bins.len() >= MAX_BINS {
            self.width *= 2.0;
            let mut kept = 0usize;
            for i in 0..self.bins.len() {
                let mut b = self.bins[i];
                b.slot /= 2;
                match kept.checked_sub(1).and_then(|k| self.bins.get_mut(k)) {
                    Some(prev) if prev.slot == b.slot => prev.absorb(b),
                    _ => {
                        self.bins[kept] = b;
                        kept += 1;
                    }
                }
            }
            self.bins.truncate(kept);
        }
    }

    /// Points accepted so far.
    pub fn points(&self) -> u64 {
        self.points
    }

    /// Bins in use (never above [`MAX_BINS`]).
    pub fn bins(&self) -> usize {
        self.bins.len()
    }

    /// The current bin width in seconds.
    pub fn bin_width_secs(&self) -> f64 {
        self.width
    }

    /// The settings in force.
    pub fn settings(&self) -> &TrendSettings {
        &self.settings
    }

    /// The trend after the warm-up; `None` until at least two bins remain after it.
    pub fn estimate(&self) -> Option<TrendEstimate> {
        let origin = self.origin?;
        let all: Vec<(f64, f64)> = self.bins.iter().map(Bin::mean).collect();
        let method = self.settings.slope;
        let mut buf = Vec::new();
        let (skip, warmup_secs) = self.warmup_split(&all, &mut buf);
        let fit = all.get(skip..)?.to_vec();
        let line = fit_line(&fit, method, &mut buf)?;
        let (first, last) = (*fit.first()?, *fit.last()?);
        let mid = first.0 + (last.0 - first.0) / 2.0;
        let split = fit.partition_point(|p| p.0 < mid);
        let (a, b) = fit.split_at(split);
        let halves = [half_fit(a, method, &mut buf), half_fit(b, method, &mut buf)];
        Some(TrendEstimate {
            slope_bytes_per_sec: line.slope,
            intercept_bytes: line.intercept,
            start_secs: origin,
            r2: r_squared(&fit, line),
            warmup_secs,
            span_secs: self.last_t - origin,
            fit_span_secs: last.0 - first.0,
            points: self.points,
            bins: all.len(),
            fit_bins: fit.len(),
            residual_scale_bytes: residual_scale(&fit, line, &mut buf),
            noise_bytes: diff_noise(&fit, &mut buf),
            halves,
            fit,
        })
    }

    /// How many leading bins are warm-up, and the seconds reported for it.
    fn warmup_split(&self, all: &[(f64, f64)], buf: &mut Vec<f64>) -> (usize, f64) {
        match self.settings.warmup {
            Warmup::None => (0, 0.0),
            Warmup::Fixed { secs } => (all.partition_point(|p| p.0 < secs), secs),
            Warmup::Detect {
                min_tolerance_bytes,
                noise_multiple,
                settle_bins,
                max_fraction,
            } => {
                let (Some(&(t0, _)), Some(&(tn, _))) = (all.first(), all.last()) else {
                    return (0, 0.0);
                };
                let late_from = all.partition_point(|p| p.0 < t0 + (tn - t0) / 2.0);
                let late = all.get(late_from..).unwrap_or_default();
                let Some(line) = fit_line(late, self.settings.slope, buf) else {
                    return (0, 0.0);
                };
                let tol = min_tolerance_bytes.max(noise_multiple * residual_scale(late, line, buf));
                let near = |p: &(f64, f64)| (p.1 - line.at(p.0)).abs() <= tol;
                let need = settle_bins.max(1);
                let settled = (0..all.len())
                    .find(|&i| all.iter().skip(i).take(need).all(near))
                    .unwrap_or(all.len());
                let cap = all.partition_point(|p| p.0 < t0 + max_fraction * (tn - t0));
                let skip = settled.min(cap);
                let secs = self
                    .bins
                    .get(skip)
                    .map_or(0.0, |b| b.slot as f64 * self.width);
                (skip, secs)
            }
        }
    }

    /// The verdict of [`TrendEstimator::estimate`], or too short when there is none.
    pub fn verdict(&self, settings: &VerdictSettings) -> Verdict {
        match self.estimate() {
            Some(e) => e.verdict(settings),
            None => Verdict::Inconclusive(InconclusiveReason::TooShort),
        }
    }
}

/// A Theil–Sen fit of one half of the fitted span.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HalfFit {
    /// The half's own slope, bytes per second.
    pub slope_bytes_per_sec: f64,
    /// Seconds between its first and last bin means.
    pub span_secs: f64,
    /// Bins in the half.
    pub bins: usize,
    /// 1.4826 × median |residual| around the half's own line (σ for Gaussian noise).
    pub residual_scale_bytes: f64,
}

/// The fitted trend. Every number is finite.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendEstimate {
    /// Theil–Sen slope of the bin means after the warm-up, bytes per second.
    pub slope_bytes_per_sec: f64,
    /// The line's value at `t = start_secs` (not at t = 0, which may be decades away).
    pub intercept_bytes: f64,
    /// The first point's time, in the caller's time base.
    pub start_secs: f64,
    /// Fraction of the variance of the fitted bin means the line explains, clamped to [0, 1]
    /// (a median line can do worse than the mean; that reads as 0). 1 for a constant series.
    pub r2: f64,
    /// Seconds excluded as warm-up (for detection: from the first point to the first kept bin).
    pub warmup_secs: f64,
    /// Seconds from the first to the last point.
    pub span_secs: f64,
    /// Seconds between the first and last fitted bin means.
    pub fit_span_secs: f64,
    /// Points pushed.
    pub points: u64,
    /// Bins in all.
    pub bins: usize,
    /// Bins after the warm-up (the fitted ones).
    pub fit_bins: usize,
    /// 1.4826 × median |residual| around the line: the spread the line leaves unexplained.
    pub residual_scale_bytes: f64,
    /// Short-term noise, 1.4826 × MAD of successive differences / √2: blind to trends, steps
    /// and GC drops (each touches one difference), so it measures jitter only.
    pub noise_bytes: f64,
    /// Fits of the first and second half of the fitted span (by time); `None` under two bins.
    pub halves: [Option<HalfFit>; 2],
    fit: Vec<(f64, f64)>,
}

impl TrendEstimate {
    /// The fitted line's value at `t_secs` (the caller's time base).
    pub fn value_at(&self, t_secs: f64) -> f64 {
        self.intercept_bytes + self.slope_bytes_per_sec * (t_secs - self.start_secs)
    }

    /// The line's rise over the fitted span: slope × `fit_span_secs`.
    pub fn rise_bytes(&self) -> f64 {
        self.slope_bytes_per_sec * self.fit_span_secs
    }

    /// Classifies the fitted span. In order: too short; leak; normal; too noisy; unsteady.
    ///
    /// *Leak* needs all of: rise ≥ `min_rise_bytes`; rise ≥ `min_snr` × residual scale; and, in
    /// each half, a slope ≥ `min_half_ratio` × the overall slope and a half-rise ≥
    /// `min_half_snr` × that half's residual scale. A step (then flat) puts all its rise in one
    /// half and leaves the other flat, so it fails the half test wherever the step falls.
    ///
    /// *Normal* (the guide: 初期比 within ±10 MB once stable): at most `max_outside_fraction` of
    /// the fitted bin means lie farther than `band_bytes` from their median, and the line stays
    /// within the band at both ends. The fraction lets a lone spike through.
    pub fn verdict(&self, s: &VerdictSettings) -> Verdict {
        if self.fit_bins < s.min_bins || self.fit_span_secs < s.min_span_secs {
            return Verdict::Inconclusive(InconclusiveReason::TooShort);
        }
        if self.is_leak(s) {
            return Verdict::Leak;
        }
        if self.within_band(s) {
            return Verdict::Normal;
        }
        if self.noise_bytes > s.noisy_sigma_bytes {
            Verdict::Inconclusive(InconclusiveReason::TooNoisy)
        } else {
            Verdict::Inconclusive(InconclusiveReason::Unsteady)
        }
    }

    fn is_leak(&self, s: &VerdictSettings) -> bool {
        let slope = self.slope_bytes_per_sec;
        let rise = self.rise_bytes();
        let spread = |h: &Option<HalfFit>| {
            h.is_some_and(|h| {
                h.slope_bytes_per_sec > 0.0
                    && h.slope_bytes_per_sec >= s.min_half_ratio * slope
                    && h.slope_bytes_per_sec * h.span_secs
                        >= s.min_half_snr * h.residual_scale_bytes
            })
        };
        slope > 0.0
            && rise >= s.min_rise_bytes
            && rise >= s.min_snr * self.residual_scale_bytes
            && self.halves.iter().all(spread)
    }

    fn within_band(&self, s: &VerdictSettings) -> bool {
        let mut values: Vec<f64> = self.fit.iter().map(|p| p.1).collect();
        let Some(level) = median(&mut values) else {
            return false;
        };
        let outside = values
            .iter()
            .filter(|v| (*v - level).abs() > s.band_bytes)
            .count();
        let ends = [self.fit.first(), self.fit.last()];
        let line_in = ends.iter().flatten().all(|p| {
            let at = self.intercept_bytes + self.slope_bytes_per_sec * p.0;
            (at - level).abs() <= s.band_bytes
        });
        line_in && (outside as f64) <= s.max_outside_fraction * values.len() as f64
    }
}

/// The thresholds of [`TrendEstimate::verdict`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VerdictSettings {
    /// Half-width of the normal band around the settled level (default 10 MiB, the guide's ±10 MB).
    pub band_bytes: f64,
    /// Fraction of bin means allowed outside the band (default 0.05: spikes, not a shift).
    pub max_outside_fraction: f64,
    /// Fewest fitted bins for any verdict (default 10).
    pub min_bins: usize,
    /// Shortest fitted span for any verdict, seconds (default 60: the 300 s test mode fits).
    pub min_span_secs: f64,
    /// Smallest rise over the fitted span that can be a leak (default 2 MiB: less is allocator
    /// jitter and fragmentation, not worth an alarm).
    pub min_rise_bytes: f64,
    /// Rise over residual scale needed for a leak (default 3: well clear of noise).
    pub min_snr: f64,
    /// Each half's slope over the overall slope needed for a leak (default 1/3: a step or a
    /// levelling-off leaves one half near 0; growth slowing down up to 3× still counts).
    pub min_half_ratio: f64,
    /// Each half's rise over its own residual scale needed for a leak (default 2).
    pub min_half_snr: f64,
    /// Short-term noise σ above which a series neither normal nor leaking is called too noisy
    /// rather than unsteady (default 5 MiB: half the band, so flat noise leaves it often).
    pub noisy_sigma_bytes: f64,
}

impl Default for VerdictSettings {
    fn default() -> Self {
        VerdictSettings {
            band_bytes: 10.0 * MIB as f64,
            max_outside_fraction: 0.05,
            min_bins: 10,
            min_span_secs: 60.0,
            min_rise_bytes: 2.0 * MIB as f64,
            min_snr: 3.0,
            min_half_ratio: 1.0 / 3.0,
            min_half_snr: 2.0,
            noisy_sigma_bytes: 5.0 * MIB as f64,
        }
    }
}

/// What the trend says about the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Flat after the warm-up, within the band.
    Normal,
    /// Steady growth spread over the fitted span.
    Leak,
    /// Neither can be said, and why.
    Inconclusive(InconclusiveReason),
}

/// Why a verdict is inconclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InconclusiveReason {
    /// Too few bins or too little time after the warm-up.
    TooShort,
    /// Short-term noise too large to tell flat from a slow leak.
    TooNoisy,
    /// The level left the band but not by steady growth: a step, a fall, or growth confined to
    /// part of the span.
    Unsteady,
}

/// Seconds until `available_bytes` are used up at `slope_bytes_per_sec`; `None` when memory
/// is not growing (or an input is not finite), `Some(0.0)` when nothing is left.
pub fn time_to_exhaustion(available_bytes: f64, slope_bytes_per_sec: f64) -> Option<f64> {
    if !(available_bytes.is_finite() && slope_bytes_per_sec > 0.0) {
        return None;
    }
    let secs = available_bytes.max(0.0) / slope_bytes_per_sec;
    secs.is_finite().then_some(secs)
}

#[cfg(test)]
mod tests {
    use super::robust::pair_slopes;
    use super::*;

    #[test]
    fn median_odd_even_empty() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }

    #[test]
    fn sampled_pairs_are_valid_and_spread_over_every_bin() {
        let pts: Vec<(f64, f64)> = (0..100).map(|i| (i as f64, (i * i) as f64)).collect();
        let mut out = Vec::new();
        pair_slopes(&pts, SlopeMethod::Sampled { max_pairs: 500 }, &mut out);
        assert_eq!(out.len(), 500);
        // For v = t², the slope of pair (i, j) is i + j: every sum from 1 to 197 is possible.
        assert!(out
            .iter()
            .all(|s| s.fract() == 0.0 && (1.0..=197.0).contains(s)));
        assert!(out.iter().any(|&s| s < 20.0) && out.iter().any(|&s| s > 180.0));
        // A budget above the pair count is the exact method.
        pair_slopes(&pts, SlopeMethod::Sampled { max_pairs: 10_000 }, &mut out);
        assert_eq!(out.len(), 4950);
    }

    #[test]
    fn coarsening_keeps_bins_on_the_doubled_grid() {
        let mut est = TrendEstimator::default();
        for k in 0..5000 {
            est.push(f64::from(k) * 0.3, 1.0).unwrap();
        }
        let w = est.width;
        assert!(est.bins.windows(2).all(|b| b[0].slot < b[1].slot));
        for b in &est.bins {
            let (t, _) = b.mean();
            assert_eq!((t / w).floor() as u64, b.slot, "mean inside its slot");
        }
        assert_eq!(est.bins.iter().map(|b| b.count).sum::<u64>(), 5000);
    }
}
