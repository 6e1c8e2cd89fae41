//! `--plot FILE.svg|FILE.png`: RSS and peak over time, the warning threshold (baseline +50 MB),
//! each run's fitted trend after its warm-up, and restarts, drawn with plotters.
//!
//! Samples are downsampled as they stream in ([`Collector`]): fixed-width time buckets keep
//! the lowest and highest RSS (with their times) and the highest peak, and when there are too
//! many buckets the width doubles and neighbours merge. Spikes and GC drops survive (min/max),
//! and the memory is bounded by [`MAX_BUCKETS`] whatever the log's length.
//!
//! The fastest growing tracemalloc sites (see `sites`) are drawn as curves of their own (size in
//! MB at each block, dots on the points), named in the legend with their rate. So is, per run,
//! the part that carries the growth (issue #19, see `parts`), beside RSS: a byte part on the MB
//! axis, threads or descriptors on a count axis on the right (only drawn when one grows). The legend and
//! the verdict are in a band under the chart (see `panel`), so they cover no curve.
//!
//! The PNG's text goes through `GlyphFix`, which keeps each glyph's bearing (plotters 0.3.7
//! drops it and left gaps in Japanese labels).

use crate::font::{self, Label};
use crate::glyphs::GlyphFix;
use crate::panel::{self, LegendEntry};
use crate::runs::{Accepted, Analysis};
use crate::sites::GrowingSite;
use crate::Lang;
use memmon_core::MIB;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// Most buckets kept: at most two RSS points and one peak point each.
pub const MAX_BUCKETS: usize = 2048;

/// Image size in pixels: the chart, and the legend and verdict band under it.
pub const SIZE: (u32, u32) = (1200, 560 + panel::HEIGHT);

/// Colours of the growing sites' curves, fastest first.
const SITE_COLORS: [RGBColor; MAX_PLOT_SITES] = [
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The warning threshold above the baseline, MB (the log's `⚠️ [警告]` line).
const THRESHOLD_MB: f64 = 50.0;

/// Growing sites listed in the legend (all runs together, fastest first).
const MAX_PLOT_SITES: usize = 5;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    key: u64,
    run: usize,
    /// (x seconds, MB) of the lowest and highest RSS.
    lo: (f64, f64),
    hi: (f64, f64),
    /// (x seconds, MB) of the highest ピーク.
    peak: (f64, f64),
}

impl Bucket {
    fn merge(&mut self, o: &Bucket) {
        if o.lo.1 < self.lo.1 {
            self.lo = o.lo;
        }
        if o.hi.1 > self.hi.1 {
            self.hi = o.hi;
        }
        if o.peak.1 >= self.peak.1 {
            self.peak = o.peak;
        }
    }
}

/// The downsampled series, filled while the logs stream by.
#[derive(Debug)]
pub struct Collector {
    width_s: f64,
    buckets: Vec<Bucket>,
}

impl Default for Collector {
    fn default() -> Self {
        Self::new()
    }
}

impl Collector {
    /// Empty, one-second buckets.
    pub fn new() -> Collector {
        Collector {
            width_s: 1.0,
            buckets: Vec::new(),
        }
    }

    /// Adds a sample (x never decreases: the run splitter guarantees it).
    pub fn push(&mut self, a: &Accepted) {
        let x = a.x_s.max(0.0);
        let rss = (x, a.sample.rss_mb);
        let b = Bucket {
            key: (x / self.width_s) as u64,
            run: a.run,
            lo: rss,
            hi: rss,
            peak: (x, a.sample.peak_mb),
        };
        match self.buckets.last_mut() {
            Some(last) if last.key == b.key && last.run == b.run => last.merge(&b),
            _ => {
                self.buckets.push(b);
                if self.buckets.len() > MAX_BUCKETS {
                    self.coarsen();
                }
            }
        }
    }

    /// Doubles the width until at most half the buckets are left. Sparse buckets may not
    /// merge at once, hence the loop; it ends because one bucket per run eventually spans
    /// everything (and a run boundary is kept only while below the limit).
    fn coarsen(&mut self) {
        while self.buckets.len() > MAX_BUCKETS / 2 {
            self.width_s *= 2.0;
            let mut merged: Vec<Bucket> = Vec::with_capacity(self.buckets.len());
            for mut b in self.buckets.drain(..) {
                b.key /= 2;
                match merged.last_mut() {
                    // Past many restarts, runs must merge too or the loop could not end.
                    Some(m) if m.key == b.key => m.merge(&b),
                    _ => merged.push(b),
                }
            }
            self.buckets = merged;
        }
    }

    /// RSS polylines, one per stretch of a run, x in `unit` seconds.
    fn rss_segments(&self, unit: f64) -> Vec<Vec<(f64, f64)>> {
        segments(&self.buckets, |b, out| {
            let (first, second) = if b.lo.0 <= b.hi.0 {
                (b.lo, b.hi)
            } else {
                (b.hi, b.lo)
            };
            out.push((first.0 / unit, first.1));
            if second != first {
                out.push((second.0 / unit, second.1));
            }
        })
    }

    fn peak_segments(&self, unit: f64) -> Vec<Vec<(f64, f64)>> {
        segments(&self.buckets, |b, out| {
            out.push((b.peak.0 / unit, b.peak.1))
        })
    }
}

/// Splits buckets into polylines at run changes, so no line crosses a restart.
fn segments(
    buckets: &[Bucket],
    mut points: impl FnMut(&Bucket, &mut Vec<(f64, f64)>),
) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut run = None;
    for b in buckets {
        if run != Some(b.run) {
            out.push(Vec::new());
            run = Some(b.run);
        }
        if let Some(seg) = out.last_mut() {
            points(b, seg);
        }
    }
    out
}

/// Refuses a plot file that is neither `.svg` nor `.png` (checked before reading the logs).
pub fn check_path(path: &Path) -> Result<(), String> {
    kind(path).map(|_| ())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Svg,
    Png,
}

fn kind(path: &Path) -> Result<Kind, String> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("svg") => Ok(Kind::Svg),
        Some("png") => Ok(Kind::Png),
        _ => Err("the plot file must end in .svg or .png".into()),
    }
}

/// Draws the plot into `path` (SVG or PNG by its extension).
pub fn render(c: &Collector, a: &Analysis, path: &Path, lang: Lang) -> Result<(), String> {
    font::register()?;
    match kind(path)? {
        Kind::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
                draw(&root, c, a, lang)?;
                root.present().map_err(|e| e.to_string())?;
            }
            std::fs::write(path, svg).map_err(|e| e.to_string())
        }
        Kind::Png => {
            let (w, h) = SIZE;
            let mut pixels = vec![0u8; w as usize * h as usize * 3];
            {
                let inner = BitMapBackend::with_buffer(&mut pixels, SIZE);
                let root = GlyphFix { inner }.into_drawing_area();
                draw(&root, c, a, lang)?;
                root.present().map_err(|e| e.to_string())?;
            }
            write_png(path, w, h, &pixels)
        }
    }
}

/// Encodes RGB pixels with the pure-Rust `png` crate (plotters' own encoder would pull in
/// the whole `image` crate).
fn write_png(path: &Path, w: u32, h: u32, rgb: &[u8]) -> Result<(), String> {
    let file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(rgb).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    c: &Collector,
    a: &Analysis,
    lang: Lang,
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let (chart_area, band) = root.split_vertically(SIZE.1 - panel::HEIGHT);
    let legend = draw_chart(&chart_area, c, a, lang)?;
    panel::draw(&band, &legend, a, lang).map_err(err)
}

/// The chart: curves, threshold, trend, restarts, the growing sites. Returns the legend's
/// entries, one per series drawn.
fn draw_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    c: &Collector,
    a: &Analysis,
    lang: Lang,
) -> Result<Vec<LegendEntry>, String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();

    let max_x = c
        .buckets
        .iter()
        .map(|b| b.hi.0.max(b.lo.0).max(b.peak.0))
        .chain(
            a.runs
                .iter()
                .filter_map(|r| Some(r.anchor_s + r.last?.elapsed_secs as f64)),
        )
        .fold(0.0_f64, f64::max);
    let (unit, x_label) = if max_x > 3.0 * 3600.0 {
        (3600.0, Label::ElapsedHours)
    } else {
        (60.0, Label::ElapsedMinutes)
    };
    let x_of = |secs: f64| secs / unit;

    // Per run: threshold and trend lines, in plot units.
    let thresholds: Vec<[(f64, f64); 2]> = a
        .runs
        .iter()
        .filter_map(|r| {
            let y = r.baseline_mb? + THRESHOLD_MB;
            Some([
                (x_of(r.anchor_s + r.first?.elapsed_secs as f64), y),
                (x_of(r.anchor_s + r.last?.elapsed_secs as f64), y),
            ])
        })
        .collect();
    // The trend is fitted with the trim probes' drops added back (their step is the probe's,
    // see `parts`): drawn over the samples, it steps down by each drop where the probe ran.
    let trends: Vec<[(f64, f64); 2]> = a
        .runs
        .iter()
        .flat_map(|r| {
            let Some(f) = r.fit else {
                return Vec::new();
            };
            let steps = r
                .diagnosis
                .as_ref()
                .map_or(&[][..], |d| d.probe_steps.as_slice());
            let line = |t: f64| {
                let k = (f.to_mb - f.from_mb) / (f.to_elapsed - f.from_elapsed).max(1e-9);
                f.from_mb + k * (t - f.from_elapsed)
            };
            let mut cuts: Vec<(f64, f64)> = vec![(f.from_elapsed, 0.0)];
            let mut down = 0.0;
            for &(t, drop) in steps {
                down += drop;
                if t > f.from_elapsed && t < f.to_elapsed {
                    cuts.push((t, down));
                } else if t <= f.from_elapsed {
                    cuts[0].1 = down;
                }
            }
            let ends: Vec<f64> = cuts
                .iter()
                .skip(1)
                .map(|c| c.0)
                .chain([f.to_elapsed])
                .collect();
            cuts.iter()
                .zip(ends)
                .map(|(&(t0, d), t1)| {
                    [
                        (x_of(r.anchor_s + t0), line(t0) - d),
                        (x_of(r.anchor_s + t1), line(t1) - d),
                    ]
                })
                .collect()
        })
        .collect();
    let restarts: Vec<f64> = a
        .runs
        .iter()
        .skip(1)
        .filter_map(|r| Some(x_of(r.anchor_s + r.first?.elapsed_secs as f64)))
        .collect();

    let sites: Vec<(String, Vec<(f64, f64)>)> = plot_sites(a, lang)
        .into_iter()
        .map(|(label, anchor_s, g)| {
            let points = g
                .points
                .iter()
                .map(|&(t, bytes)| (x_of(anchor_s + t), bytes / MIB as f64))
                .collect();
            (label, points)
        })
        .collect();

    let grown = plot_parts(a, lang);
    let part_series: Vec<PartCurve<Vec<(f64, f64)>>> = grown
        .into_iter()
        .map(|c| PartCurve {
            points: c
                .points
                .iter()
                .map(|&(t, v)| (x_of(c.anchor_s + t), v))
                .collect(),
            label: c.label,
            bytes: c.bytes,
            anchor_s: c.anchor_s,
        })
        .collect();
    let counts: Vec<f64> = part_series
        .iter()
        .filter(|s| !s.bytes)
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .collect();
    let (c0, c1) = counts
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &y| {
            (l.min(y), h.max(y))
        });
    let count_axis = c0.is_finite() && c1.is_finite();
    let (c0, c1) = if count_axis {
        let pad = ((c1 - c0) * 0.05).max(1.0);
        ((c0 - pad).max(0.0), c1 + pad)
    } else {
        (0.0, 1.0)
    };

    let ys = c
        .buckets
        .iter()
        .flat_map(|b| [b.lo.1, b.hi.1, b.peak.1])
        .chain(thresholds.iter().map(|t| t[0].1))
        .chain(trends.iter().flat_map(|t| [t[0].1, t[1].1]))
        .chain(sites.iter().flat_map(|s| s.1.iter().map(|p| p.1)))
        .chain(
            part_series
                .iter()
                .filter(|s| s.bytes)
                .flat_map(|s| s.points.iter().map(|p| p.1)),
        )
        .filter(|y| y.is_finite());
    let (lo, hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), y| {
        (l.min(y), h.max(y))
    });
    let (lo, hi) = if lo.is_finite() && hi.is_finite() {
        (lo, hi)
    } else {
        (0.0, 1.0)
    };
    let pad = ((hi - lo) * 0.05).max(1.0);
    let (y0, y1) = ((lo - pad).max(0.0), hi + pad);
    let x1 = x_of(max_x).max(1e-3);

    let mut chart = ChartBuilder::on(root)
        .caption(Label::Title.text(lang), (font::FAMILY, 24))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .right_y_label_area_size(if count_axis { 56 } else { 0 })
        .build_cartesian_2d(0.0..x1, y0..y1)
        .map_err(err)?
        .set_secondary_coord(0.0..x1, c0..c1);
    chart
        .configure_mesh()
        .x_desc(x_label.text(lang))
        .y_desc(Label::MemoryMb.text(lang))
        .label_style((font::FAMILY, 14))
        .axis_desc_style((font::FAMILY, 16))
        .draw()
        .map_err(err)?;
    if count_axis {
        chart
            .configure_secondary_axes()
            .y_desc(count_label(lang))
            .label_style((font::FAMILY, 14))
            .axis_desc_style((font::FAMILY, 16))
            .draw()
            .map_err(err)?;
    }

    let rss_color = RGBColor(31, 119, 180);
    let peak_color = RGBColor(255, 127, 14);
    let trend_color = RGBColor(44, 160, 44);
    let restart_color = RGBColor(127, 127, 127);

    // Drawn bottom to top: the data goes last, so a perfect fit does not hide it.
    let mut legend = Vec::new();
    draw_lines(
        &mut legend,
        &mut chart,
        restarts.iter().map(|&x| vec![(x, y0), (x, y1)]).collect(),
        restart_color.stroke_width(1),
        Label::Restart.text(lang),
    )
    .map_err(err)?;
    draw_lines(
        &mut legend,
        &mut chart,
        thresholds.iter().map(|t| t.to_vec()).collect(),
        RED.stroke_width(1),
        Label::Threshold.text(lang),
    )
    .map_err(err)?;
    draw_lines(
        &mut legend,
        &mut chart,
        trends.iter().map(|t| t.to_vec()).collect(),
        trend_color.mix(0.55).stroke_width(5),
        Label::Trend.text(lang),
    )
    .map_err(err)?;
    draw_lines(
        &mut legend,
        &mut chart,
        c.peak_segments(unit),
        peak_color.stroke_width(1),
        Label::Peak.text(lang),
    )
    .map_err(err)?;
    draw_lines(
        &mut legend,
        &mut chart,
        c.rss_segments(unit),
        rss_color.stroke_width(2),
        Label::Rss.text(lang),
    )
    .map_err(err)?;

    for (i, (label, points)) in sites.into_iter().enumerate() {
        let style = SITE_COLORS[i % SITE_COLORS.len()].stroke_width(2);
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, style.filled())))
            .map_err(err)?;
        draw_lines(&mut legend, &mut chart, vec![points], style, &label).map_err(err)?;
        if let Some(entry) = legend.last_mut() {
            entry.marker = true;
        }
    }
    for PartCurve {
        label,
        bytes,
        points,
        ..
    } in part_series
    {
        let style = PART_COLOR.stroke_width(3);
        if bytes {
            draw_lines(&mut legend, &mut chart, vec![points], style, &label).map_err(err)?;
        } else {
            chart
                .draw_secondary_series(LineSeries::new(points, style))
                .map_err(err)?;
            legend.push(LegendEntry {
                label,
                style,
                marker: false,
            });
        }
    }
    Ok(legend)
}

/// The colour of the part that carries the growth.
const PART_COLOR: RGBColor = RGBColor(214, 39, 40);

/// The count axis' name, in English when the font cannot draw the Japanese.
fn count_label(lang: Lang) -> &'static str {
    match lang {
        Lang::Ja if font::covered("個数") => "個数",
        _ => "Count",
    }
}

/// The curve of a run's growing part.
struct PartCurve<P> {
    /// The legend's label: `native memory +12.00MB/h`, `#N` for the run when there are several.
    label: String,
    /// A byte part (MB axis), else a count (the right-hand axis).
    bytes: bool,
    /// The run's place on the x axis.
    anchor_s: f64,
    /// (経過 seconds, MB or a count), then (x, y) once placed.
    points: P,
}

/// Per run whose diagnosis names a cause: its growing part's curve.
fn plot_parts(a: &Analysis, lang: Lang) -> Vec<PartCurve<&[(f64, f64)]>> {
    let several = a.runs.len() > 1;
    a.runs
        .iter()
        .filter_map(|r| {
            let d = r.diagnosis.as_ref()?;
            let part = d.attribution?.part;
            let rate = d.rate_per_hour()?;
            if d.growing_points.is_empty() {
                return None;
            }
            let (name, per_hour) = match lang {
                Lang::Ja if font::covered(part.name(lang)) && font::covered("MB/時") => {
                    (part.name(lang), "/時")
                }
                _ => (part.name(Lang::En), "/h"),
            };
            let mut label = if part.is_bytes() {
                format!("{name} {rate:+.2}MB{per_hour}")
            } else {
                format!("{name} {rate:+.1}{per_hour}")
            };
            if several {
                label.push_str(&format!(" #{}", r.index));
            }
            Some(PartCurve {
                label,
                bytes: part.is_bytes(),
                anchor_s: r.anchor_s,
                points: d.growing_points.as_slice(),
            })
        })
        .collect()
}

/// The fastest growing sites, each with its legend label and its run's place on the x axis.
/// The label: `tracemalloc: file.py:LINE +X.XXMB/h`, the file name only (a full path would not
/// fit the legend's column), the PID when the block named one, `#N` for the run when there are
/// several.
fn plot_sites(a: &Analysis, lang: Lang) -> Vec<(String, f64, &GrowingSite)> {
    let mut all: Vec<(usize, f64, &GrowingSite)> = a
        .runs
        .iter()
        .flat_map(|r| {
            r.growing_sites
                .iter()
                .map(move |g| (r.index, r.anchor_s, g))
        })
        .collect();
    all.sort_by(|x, y| {
        y.2.slope_bytes_per_hour
            .total_cmp(&x.2.slope_bytes_per_hour)
    });
    let per_hour = match lang {
        Lang::Ja if font::covered("MB/時") => "MB/時",
        _ => "MB/h",
    };
    let several = a.runs.len() > 1;
    all.into_iter()
        .take(MAX_PLOT_SITES)
        .map(|(run, anchor_s, g)| {
            let name = g.site.rsplit('/').next().unwrap_or(&g.site);
            let mb = g.slope_bytes_per_hour / (1024.0 * 1024.0);
            let mut s = format!("tracemalloc: {name} {mb:+.2}{per_hour}");
            if let Some(pid) = g.pid {
                s.push_str(&format!(" (PID {pid})"));
            }
            if several {
                s.push_str(&format!(" #{run}"));
            }
            // The embedded font is a subset: a character it lacks would be drawn as a box.
            let label = s
                .chars()
                .map(|c| {
                    if font::covered(c.encode_utf8(&mut [0; 4])) {
                        c
                    } else {
                        '?'
                    }
                })
                .collect();
            (label, anchor_s, g)
        })
        .collect()
}

type Chart<'a, DB> = ChartContext<
    'a,
    DB,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// Draws polylines of one series; the legend names it once (nothing when it is empty).
fn draw_lines<DB: DrawingBackend>(
    legend: &mut Vec<LegendEntry>,
    chart: &mut Chart<'_, DB>,
    lines: Vec<Vec<(f64, f64)>>,
    style: ShapeStyle,
    label: &str,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let mut labelled = false;
    for line in lines.into_iter().filter(|l| !l.is_empty()) {
        chart.draw_series(LineSeries::new(line, style))?;
        if !labelled {
            legend.push(LegendEntry {
                label: label.to_owned(),
                style,
                marker: false,
            });
            labelled = true;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use memmon_format::SampleLine;

    fn accepted(x_s: f64, run: usize, rss_mb: f64) -> Accepted {
        Accepted {
            sample: SampleLine {
                at: date(2025, 1, 1).at(0, 0, 0, 0),
                elapsed_secs: x_s as u64,
                rss_mb,
                growth_mb: 0.0,
                vms_mb: 0.0,
                peak_mb: rss_mb,
                sys_percent: 0.0,
                sys_available_mb: 0.0,
            },
            run,
            x_s,
        }
    }

    #[test]
    fn downsampling_is_bounded_and_keeps_extremes() {
        let mut c = Collector::new();
        for i in 0..1_000_000u32 {
            // A spike at one sample must survive the min/max buckets.
            let rss = if i == 777_777 {
                500.0
            } else {
                40.0 + f64::from(i % 7)
            };
            c.push(&accepted(f64::from(i), 1 + (i / 400_000) as usize, rss));
        }
        assert!(c.buckets.len() <= MAX_BUCKETS, "{}", c.buckets.len());
        assert!(c.buckets.iter().any(|b| b.hi.1 == 500.0));
        assert!(c.buckets.iter().all(|b| b.lo.1 == 40.0));
        // Three runs: three polylines.
        assert_eq!(c.rss_segments(1.0).len(), 3);
    }

    #[test]
    fn only_svg_and_png() {
        assert!(check_path(Path::new("a.SVG")).is_ok());
        assert!(check_path(Path::new("a.png")).is_ok());
        assert!(check_path(Path::new("a.pdf")).is_err());
    }
}
