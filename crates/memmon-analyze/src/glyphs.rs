//! Text on the PNG, laid out glyph by glyph with each glyph's left side bearing.
//!
//! plotters 0.3.7 draws `ab_glyph` text by rasterizing each glyph and placing its bitmap at the
//! pen position, leaving out the glyph's own offset from the pen (`px_bounds().min.x`). Glyphs
//! with a wide left bearing (`し`, `リ`, most kana) are then drawn too far left and leave a gap
//! behind them: the plot read `警告し きい値` and `メモリ 使用量`. [`GlyphFix`] wraps the bitmap
//! backend and draws text itself, each glyph at pen + bearing, everything else passing through.
//! (The SVG backend writes `<text>` elements that the viewer lays out: it needs no fix.)

use crate::font;
use ab_glyph::{point, Font, FontRef, ScaleFont};
use plotters::prelude::DrawingBackend;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind,
};

/// Calls `put(x, y, coverage)` for every inked pixel of `text` at `size` pixels, pen starting at
/// x = 0, with plotters' vertical convention (the baseline at y = size / 2), so that the
/// chart's own layout, computed from plotters' estimate, still fits. Returns the advance width.
pub fn layout(
    font: &FontRef<'_>,
    size: f32,
    text: &str,
    mut put: impl FnMut(i32, i32, f32),
) -> f32 {
    let scaled = font.as_scaled(size);
    let mut pen = 0.0f32;
    let mut prev = None;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = prev {
            pen += scaled.kern(p, id);
        }
        let glyph = id.with_scale_and_position(size, point(pen, 0.0));
        if let Some(outline) = scaled.outline_glyph(glyph) {
            let b = outline.px_bounds();
            // `px_bounds` holds the pen and the bearing: the bitmap's place, whole pixels.
            let (left, top) = (b.min.x as i32, (size / 2.0 + b.min.y) as i32);
            outline.draw(|x, y, coverage| put(left + x as i32, top + y as i32, coverage));
        }
        pen += scaled.h_advance(id);
        prev = Some(id);
    }
    pen
}

/// A bitmap backend whose text is drawn by [`layout`]; every other call goes to `inner`.
pub struct GlyphFix<DB> {
    /// The backend drawn on.
    pub inner: DB,
}

impl<DB: DrawingBackend> DrawingBackend for GlyphFix<DB> {
    type ErrorType = DB::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.fill_polygon(vert, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.blit_bitmap(pos, size, src)
    }

    /// plotters' own `draw_text` (anchor, rotation, clipping), with the glyphs from [`layout`].
    fn draw_text<TStyle: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &TStyle,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        let color = style.color();
        let Some(font) = font::parsed() else {
            return self.inner.draw_text(text, style, pos);
        };
        if color.alpha == 0.0 {
            return Ok(());
        }
        let ((min_x, min_y), (max_x, max_y)) = style
            .layout_box(text)
            .map_err(|e| DrawingErrorKind::FontError(Box::new(e)))?;
        let (width, height) = (max_x - min_x, max_y - min_y);
        let dx = match style.anchor().h_pos {
            HPos::Left => 0,
            HPos::Right => -width,
            HPos::Center => -width / 2,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0,
            VPos::Center => -height / 2,
            VPos::Bottom => -height,
        };
        let trans = style.transform();
        let (w, h) = self.inner.get_size();
        let mut result = Ok(());
        layout(font, style.size() as f32, text, |x, y, coverage| {
            if result.is_err() || coverage <= 0.0 {
                return;
            }
            let (x, y) = trans.transform(x + dx - min_x, y + dy - min_y);
            let (x, y) = (pos.0 + x, pos.1 + y);
            if x >= 0 && x < w as i32 && y >= 0 && y < h as i32 {
                let ink = BackendColor {
                    alpha: color.alpha * f64::from(coverage.min(1.0)),
                    rgb: color.rgb,
                };
                result = self.inner.draw_pixel((x, y), ink);
            }
        });
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plotters::style::TextStyle;
    use std::collections::BTreeSet;

    const SIZE: f32 = 24.0;

    fn ours(text: &str) -> Vec<(i32, i32)> {
        let mut px = Vec::new();
        let font = font::parsed().unwrap();
        layout(font, SIZE, text, |x, y, c| {
            if c > 0.25 {
                px.push((x, y));
            }
        });
        px
    }

    fn plotters_own(text: &str) -> Vec<(i32, i32)> {
        font::register().unwrap();
        let mut px = Vec::new();
        let style = TextStyle::from((font::FAMILY, f64::from(SIZE)));
        let _ = style
            .draw(text, (0, 0), |x, y, c| {
                if c.alpha > 0.25 {
                    px.push((x, y));
                }
                Ok::<(), ()>(())
            })
            .unwrap();
        px
    }

    /// Where each glyph's ink begins in `text` as `render` draws it: the leftmost column the
    /// glyph adds to the text before it (`None` for a space).
    fn ink_starts(render: fn(&str) -> Vec<(i32, i32)>, text: &str) -> Vec<Option<i32>> {
        let cols = |s: &str| -> BTreeSet<i32> { render(s).into_iter().map(|p| p.0).collect() };
        let ends: Vec<usize> = text.char_indices().map(|(i, c)| i + c.len_utf8()).collect();
        let mut before = BTreeSet::new();
        let mut out = Vec::new();
        for end in ends {
            let now = cols(&text[..end]);
            out.push(now.difference(&before).next().copied());
            before = now;
        }
        out
    }

    /// Where each glyph's ink should begin: its pen position plus its left side bearing (the
    /// bearing read off the glyph drawn alone at pen 0).
    fn expected_starts(text: &str) -> Vec<Option<i32>> {
        let font = font::parsed().unwrap();
        text.char_indices()
            .map(|(i, c)| {
                let pen = layout(font, SIZE, &text[..i], |_, _, _| {});
                let alone = ours(c.encode_utf8(&mut [0; 4]));
                alone
                    .iter()
                    .map(|p| p.0)
                    .min()
                    .map(|lsb| (pen + lsb as f32) as i32)
            })
            .collect()
    }

    /// The labels the users saw broken (`警告し きい値`, `メモリ 使用量`): every glyph's ink
    /// begins at its pen position plus its bearing, within a pixel; plotters' own drawing puts
    /// some glyphs (`し`, `リ`) a bearing too far left.
    #[test]
    fn every_glyph_sits_at_its_pen_plus_its_bearing() {
        for text in ["警告しきい値", "メモリ使用量", "傾向線 (ウォームアップ後)"]
        {
            let want = expected_starts(text);
            let got = ink_starts(ours, text);
            for (k, (g, w)) in got.iter().zip(&want).enumerate() {
                if let (Some(g), Some(w)) = (g, w) {
                    assert!((g - w).abs() <= 1, "{text} glyph {k}: ink at {g}, want {w}");
                }
            }
            let theirs = ink_starts(plotters_own, text);
            let worst = theirs
                .iter()
                .zip(&want)
                .filter_map(|(g, w)| Some((g.as_ref()? - w.as_ref()?).abs()))
                .max()
                .unwrap_or(0);
            assert!(
                worst >= 2,
                "{text}: plotters now lays out well (off by {worst} px at most); GlyphFix may go"
            );
        }
    }

    /// A glyph's ink begins at pen + bearing: `し` alone begins right of where plotters puts it;
    /// the advance is plotters' estimate, so the chart's own layout is unchanged.
    #[test]
    fn the_left_bearing_is_kept_and_the_width_is_plotters_estimate() {
        let first = |px: &[(i32, i32)]| px.iter().map(|p| p.0).min().unwrap();
        assert!(first(&ours("し")) > first(&plotters_own("し")));
        font::register().unwrap();
        let font = font::parsed().unwrap();
        for text in ["警告しきい値", "RSS", "メモリ (MB)"] {
            let width = layout(font, SIZE, text, |_, _, _| {});
            let style = TextStyle::from((font::FAMILY, f64::from(SIZE)));
            let ((x0, _), (x1, _)) = style.layout_box(text).unwrap();
            assert_eq!(width as i32, x1 - x0, "{text}");
        }
    }
}
