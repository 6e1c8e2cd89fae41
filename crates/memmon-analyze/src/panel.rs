//! The band under the plot: the legend (left) and the verdict (right), outside the chart so
//! neither covers a curve, and so that a reader who only sees the picture reads what
//! `memmon analyze` says: per run the verdict, the growth rate, the time until available
//! memory runs out and the footer's figures, then the restarts.

use crate::font;
use crate::report::{exhaustion_text, figures_text, rate_text, restarts_text, verdict_text};
use crate::runs::{Analysis, RunSummary};
use crate::Lang;
use memmon_core::Verdict;
use plotters::coord::Shift;
use plotters::prelude::*;

/// The band's height in pixels.
pub const HEIGHT: u32 = 230;

/// Runs whose verdict the band shows (the latest ones); the report has them all.
pub const MAX_RUNS: usize = 2;

/// Width of the legend's column.
const LEGEND_W: i32 = 440;

/// Line height of the band's text.
const LINE_H: i32 = 19;

/// One entry of the legend: how the series is drawn, and its name.
#[derive(Debug, Clone)]
pub struct LegendEntry {
    /// The series' name.
    pub label: String,
    /// Its line.
    pub style: ShapeStyle,
    /// Drawn with a dot at each point (the tracemalloc sites).
    pub marker: bool,
}

/// How a line of the verdict column is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// A run's verdict, in its colour.
    Verdict(Verdict),
    /// Plain text.
    Plain,
}

/// The verdict column's lines: per run (the last [`MAX_RUNS`]) its verdict, rate, time to
/// exhaustion and figures, then the restarts. A line the embedded font cannot draw in
/// Japanese is given in English (boxes would say nothing).
pub fn verdict_lines(a: &Analysis, lang: Lang) -> Vec<(String, Tone)> {
    let lines = verdict_lines_in(a, lang);
    if lang == Lang::Ja && lines.iter().any(|(l, _)| !font::covered(l)) {
        return verdict_lines_in(a, Lang::En);
    }
    lines
}

fn verdict_lines_in(a: &Analysis, lang: Lang) -> Vec<(String, Tone)> {
    let mut out = Vec::new();
    let total = a.runs.len();
    let shown = &a.runs[total.saturating_sub(MAX_RUNS)..];
    let hidden = total - shown.len();
    if hidden > 0 {
        out.push((
            match lang {
                Lang::Ja => format!("(最初の {hidden} 実行は省略: memmon analyze で全件)"),
                Lang::En => format!(
                    "({hidden} earlier run{} left out: memmon analyze has all)",
                    if hidden == 1 { "" } else { "s" }
                ),
            },
            Tone::Plain,
        ));
    }
    for r in shown {
        out.extend(run_lines(r, total, lang));
    }
    if total > 1 {
        out.push((restarts_text(a, lang), Tone::Plain));
    }
    out
}

fn run_lines(r: &RunSummary, total: usize, lang: Lang) -> Vec<(String, Tone)> {
    let head = match lang {
        Lang::Ja => format!("実行 {}/{total} 判定: ", r.index),
        Lang::En => format!("Run {}/{total} verdict: ", r.index),
    };
    let mut lines = vec![(
        head + verdict_text(r.verdict, lang),
        Tone::Verdict(r.verdict),
    )];
    let rate = rate_text(r, lang);
    let exhaustion = exhaustion_text(r, lang);
    match (rate, exhaustion) {
        (Some(rate), Some(ex)) => {
            lines.push((format!("  {rate}"), Tone::Plain));
            lines.push((format!("  {ex}"), Tone::Plain));
        }
        (Some(one), None) | (None, Some(one)) => lines.push((format!("  {one}"), Tone::Plain)),
        (None, None) => {}
    }
    lines.push((format!("  {}", figures_text(r, lang)), Tone::Plain));
    lines
}

fn tone_color(tone: Tone) -> RGBColor {
    match tone {
        Tone::Verdict(Verdict::Leak) => RGBColor(200, 30, 30),
        Tone::Verdict(Verdict::Normal) => RGBColor(30, 130, 50),
        Tone::Verdict(Verdict::Inconclusive(_)) => RGBColor(110, 110, 110),
        Tone::Plain => RGBColor(20, 20, 20),
    }
}

/// Draws the band: a rule, the legend on the left, the verdict on the right.
pub fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    legend: &[LegendEntry],
    a: &Analysis,
    lang: Lang,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (w, _) = area.dim_in_pixel();
    let grey = RGBColor(190, 190, 190);
    area.draw(&PathElement::new(vec![(12, 2), (w as i32 - 12, 2)], grey))?;
    area.draw(&PathElement::new(
        vec![(LEGEND_W, 14), (LEGEND_W, HEIGHT as i32 - 10)],
        grey,
    ))?;
    let text = |s: &str, x: i32, y: i32, size: u32, color: RGBColor| {
        Text::new(
            s.to_owned(),
            (x, y),
            (font::FAMILY, size).into_font().color(&color),
        )
    };
    let mut y = 16;
    for entry in legend {
        let mid = y + LINE_H / 2 - 3;
        area.draw(&PathElement::new(vec![(24, mid), (56, mid)], entry.style))?;
        if entry.marker {
            area.draw(&Circle::new((40, mid), 3, entry.style.filled()))?;
        }
        area.draw(&text(&entry.label, 68, y, 14, BLACK))?;
        y += LINE_H;
    }
    let mut y = 14;
    for (i, (line, tone)) in verdict_lines(a, lang).iter().enumerate() {
        let size = if matches!(tone, Tone::Verdict(_)) {
            16
        } else {
            14
        };
        if i > 0 && matches!(tone, Tone::Verdict(_)) {
            y += 4;
        }
        area.draw(&text(line, LEGEND_W + 16, y, size, tone_color(*tone)))?;
        y += LINE_H;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::Gen;
    use super::*;
    use crate::analyze_reader;
    use jiff::civil::date;

    /// Every line the band can show draws in Japanese with the embedded font.
    #[test]
    fn every_verdict_line_draws_in_japanese() {
        let t0 = date(2025, 11, 21).at(9, 0, 0, 0);
        let mut g = Gen::new(3);
        // Four runs (two left out): a leak, a flat one, a noisy one, a short one; restarts.
        for (k, shape) in [0.0, 1.0, 2.0, 3.0].into_iter().enumerate() {
            let at = t0 + jiff::SignedDuration::from_hours(3 * k as i64);
            g.header(at, "60");
            let n = if k == 3 { 3 } else { 120 };
            let sigma = if k == 2 { 30.0 } else { 0.2 };
            g.samples(at, 60, n, sigma, move |t| 40.0 + shape * t / 360.0);
            g.footer(at + jiff::SignedDuration::from_secs(7200), Some(1));
        }
        let a = analyze_reader(g.out.as_bytes()).unwrap();
        let lines = verdict_lines_in(&a, Lang::Ja);
        for (line, _) in &lines {
            assert!(font::covered(line), "the font lacks a glyph of {line:?}");
        }
        assert_eq!(verdict_lines(&a, Lang::Ja), lines);
        assert!(lines[0].0.starts_with("(最初の 2 実行は省略"), "{lines:?}");
        let en = verdict_lines(&a, Lang::En);
        assert_eq!(en[0].0, "(2 earlier runs left out: memmon analyze has all)");
        assert!(
            lines.iter().any(|l| l.0.starts_with("再起動: 3回")),
            "{lines:?}"
        );
        for v in [
            "正常",
            "メモリリークの疑い",
            "判定不能 (変動が大きすぎます)",
            "判定不能 (不安定: 段差・減少、または一部の期間だけの増加)",
            "判定不能 (データ不足: ウォームアップ後のサンプルが少なすぎます)",
            "空きメモリ枯渇までの推定: 1日 8時間 (空き 23666MB)",
            "初期メモリ: - | 最終メモリ: - | ピークメモリ: - | メモリ増加量: -",
            "ウォームアップ除外: 00:00:00 | 増加率: +723.47MB/時 (r² 1.000)",
            "再起動が繰り返されています (クラッシュループの疑い)",
        ] {
            assert!(font::covered(v), "the font lacks a glyph of {v:?}");
        }
    }
}
