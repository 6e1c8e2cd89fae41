//! The plot's embedded font and its fixed labels.
//!
//! plotters' `ab_glyph` feature draws text in pure Rust (no fontconfig, no freetype), but only
//! with fonts registered by hand. memmon embeds a subset of Noto Sans CJK JP (SIL OFL 1.1;
//! `assets/README.md`): printable ASCII plus the characters of the Japanese labels below, made
//! by `scripts/subset-font.sh` from `assets/subset-chars.txt`. A Japanese label with a character
//! the subset lacks is replaced by its English one rather than drawn as boxes.

use crate::Lang;
use ab_glyph::{Font, FontRef};
use plotters::style::FontStyle;
use std::sync::OnceLock;

/// The subset font (about 32 KiB).
static FONT: &[u8] = include_bytes!("../assets/memmon-labels.otf");

/// The family name the plot asks for.
pub const FAMILY: &str = "sans-serif";

/// One fixed label of the plot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    /// The caption.
    Title,
    /// The x axis, in hours.
    ElapsedHours,
    /// The x axis, in minutes.
    ElapsedMinutes,
    /// The y axis.
    MemoryMb,
    /// The RSS series.
    Rss,
    /// The peak series.
    Peak,
    /// The warning threshold line.
    Threshold,
    /// The fitted trend.
    Trend,
    /// Restart markers.
    Restart,
}

impl Label {
    /// Every label (the font test walks them).
    #[cfg(test)]
    pub const ALL: [Label; 9] = [
        Label::Title,
        Label::ElapsedHours,
        Label::ElapsedMinutes,
        Label::MemoryMb,
        Label::Rss,
        Label::Peak,
        Label::Threshold,
        Label::Trend,
        Label::Restart,
    ];

    fn ja(self) -> &'static str {
        match self {
            Label::Title => "メモリ使用量",
            Label::ElapsedHours => "経過 (時間)",
            Label::ElapsedMinutes => "経過 (分)",
            Label::MemoryMb => "メモリ (MB)",
            Label::Rss => "RSS",
            Label::Peak => "ピーク",
            Label::Threshold => "警告しきい値 (初期値 +50MB)",
            Label::Trend => "傾向線 (ウォームアップ後)",
            Label::Restart => "再起動",
        }
    }

    fn en(self) -> &'static str {
        match self {
            Label::Title => "Memory usage",
            Label::ElapsedHours => "Elapsed (hours)",
            Label::ElapsedMinutes => "Elapsed (minutes)",
            Label::MemoryMb => "Memory (MB)",
            Label::Rss => "RSS",
            Label::Peak => "Peak",
            Label::Threshold => "Warning threshold (baseline +50MB)",
            Label::Trend => "Trend (after warm-up)",
            Label::Restart => "Restart",
        }
    }

    /// The label in `lang`, or in English when the font cannot draw the Japanese one.
    pub fn text(self, lang: Lang) -> &'static str {
        match lang {
            Lang::Ja if covered(self.ja()) => self.ja(),
            _ => self.en(),
        }
    }
}

/// The embedded font, parsed once (`None` if it could not be read).
pub fn parsed() -> Option<&'static FontRef<'static>> {
    static PARSED: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    PARSED
        .get_or_init(|| FontRef::try_from_slice(FONT).ok())
        .as_ref()
}

/// Whether the embedded font has a glyph for every character of `text`.
pub fn covered(text: &str) -> bool {
    parsed().is_some_and(|f| text.chars().all(|c| f.glyph_id(c).0 != 0))
}

/// Registers the font with plotters under [`FAMILY`] (idempotent).
pub fn register() -> Result<(), String> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err("the embedded font could not be read".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_label_draws_in_both_languages() {
        for label in Label::ALL {
            assert!(
                covered(label.ja()),
                "subset lacks a glyph of {:?}",
                label.ja()
            );
            assert!(
                covered(label.en()),
                "subset lacks a glyph of {:?}",
                label.en()
            );
            assert_eq!(label.text(Lang::Ja), label.ja());
        }
        // Digits, signs and the axis formats are drawn too.
        assert!(covered("0123456789.-+ ()MB"));
        assert!(
            !covered("漢"),
            "a character outside the subset must be detected"
        );
        assert_eq!(register(), Ok(()));
    }
}
