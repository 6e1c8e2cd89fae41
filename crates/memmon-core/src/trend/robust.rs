//! The robust fitting underneath [`super::TrendEstimator`]: Theil–Sen lines, medians and the
//! noise scales the verdict compares against. Plain functions over `(time, value)` points; the
//! caller owns every buffer, so fitting allocates nothing once the buffers have grown.

use super::{HalfFit, SlopeMethod};

#[derive(Debug, Clone, Copy)]
pub(super) struct Line {
    pub(super) slope: f64,
    /// Value at relative time 0 (the first point).
    pub(super) intercept: f64,
}

impl Line {
    pub(super) fn at(self, t: f64) -> f64 {
        self.intercept + self.slope * t
    }
}

/// Theil–Sen slope, then the intercept as the median of `v − slope·t` (Sen's choice: robust too).
pub(super) fn fit_line(
    pts: &[(f64, f64)],
    method: SlopeMethod,
    buf: &mut Vec<f64>,
) -> Option<Line> {
    pair_slopes(pts, method, buf);
    let slope = median(buf)?;
    buf.clear();
    buf.extend(pts.iter().map(|p| p.1 - slope * p.0));
    let intercept = median(buf)?;
    (slope.is_finite() && intercept.is_finite()).then_some(Line { slope, intercept })
}

pub(super) fn half_fit(
    pts: &[(f64, f64)],
    method: SlopeMethod,
    buf: &mut Vec<f64>,
) -> Option<HalfFit> {
    let line = fit_line(pts, method, buf)?;
    Some(HalfFit {
        slope_bytes_per_sec: line.slope,
        span_secs: pts.last()?.0 - pts.first()?.0,
        bins: pts.len(),
        residual_scale_bytes: residual_scale(pts, line, buf),
    })
}

/// Fills `out` with pairwise slopes. Pairs with no time between them are skipped (bin means
/// are strictly increasing in exact arithmetic, but rounding could tie two).
pub(super) fn pair_slopes(pts: &[(f64, f64)], method: SlopeMethod, out: &mut Vec<f64>) {
    out.clear();
    let n = pts.len();
    let total = n * n.saturating_sub(1) / 2;
    let mut add = |i: usize, j: usize| {
        if let (Some(a), Some(b)) = (pts.get(i), pts.get(j)) {
            let dt = b.0 - a.0;
            if dt > 0.0 {
                out.push((b.1 - a.1) / dt);
            }
        }
    };
    match method {
        SlopeMethod::Sampled { max_pairs } if max_pairs < total => {
            // Stratum s covers pair ranks [s, s+1) × total/m in row-major order, so each bin
            // gets its share of pairs; the jitter avoids aliasing with periodic GC cycles.
            let m = max_pairs.max(1);
            let mut rng = Lcg(n as u64);
            let (mut row, mut row_start) = (0usize, 0usize);
            for s in 0..m {
                let x = (s as f64 + rng.unit()) * total as f64 / m as f64;
                let k = (x as usize).min(total - 1);
                while row + 1 < n && k >= row_start + (n - 1 - row) {
                    row_start += n - 1 - row;
                    row += 1;
                }
                add(row, row + 1 + (k - row_start));
            }
        }
        _ => {
            for i in 0..n {
                for j in i + 1..n {
                    add(i, j);
                }
            }
        }
    }
}

/// A tiny deterministic generator (Knuth's MMIX LCG): reproducible estimates, no dependency.
struct Lcg(u64);

impl Lcg {
    fn unit(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The median (mean of the middle two for even counts), reordering `xs`.
pub(super) fn median(xs: &mut [f64]) -> Option<f64> {
    let n = xs.len();
    if n == 0 {
        return None;
    }
    let (left, m, _) = xs.select_nth_unstable_by(n / 2, f64::total_cmp);
    let m = *m;
    if n % 2 == 1 {
        return Some(m);
    }
    let lo = left.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some(lo / 2.0 + m / 2.0)
}

/// 1.4826 × median |residual|: σ for Gaussian noise, unmoved by a few outliers.
pub(super) fn residual_scale(pts: &[(f64, f64)], line: Line, buf: &mut Vec<f64>) -> f64 {
    buf.clear();
    buf.extend(pts.iter().map(|p| (p.1 - line.at(p.0)).abs()));
    median(buf).map_or(0.0, |m| 1.4826 * m)
}

/// Short-term noise from successive differences: 1.4826 × MAD(d) / √2.
pub(super) fn diff_noise(pts: &[(f64, f64)], buf: &mut Vec<f64>) -> f64 {
    buf.clear();
    buf.extend(pts.windows(2).map(|w| w[1].1 - w[0].1));
    let Some(center) = median(buf) else {
        return 0.0;
    };
    for d in buf.iter_mut() {
        *d = (*d - center).abs();
    }
    median(buf).map_or(0.0, |m| 1.4826 * m / std::f64::consts::SQRT_2)
}

pub(super) fn r_squared(pts: &[(f64, f64)], line: Line) -> f64 {
    let n = pts.len() as f64;
    let mean = pts.iter().map(|p| p.1 / n).sum::<f64>();
    let ss_tot: f64 = pts.iter().map(|p| (p.1 - mean).powi(2)).sum();
    let ss_res: f64 = pts.iter().map(|p| (p.1 - line.at(p.0)).powi(2)).sum();
    if ss_tot > 0.0 {
        (1.0 - ss_res / ss_tot).clamp(0.0, 1.0)
    } else if ss_res > 0.0 {
        0.0
    } else {
        1.0
    }
}
