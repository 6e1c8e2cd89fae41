//! [`parse_line`]: a log line back to its [`Record`].
//!
//! Hand-written and allocation-free for sample lines, because `memmon analyze` reads logs of
//! millions of lines: dispatch on the first byte, then walk the fixed text with a cursor. Number
//! fields accept exactly the shape their format prints (`{:.2}` has two decimals, no leading
//! zeros, a sign only where one is printed), so a line that parses re-formats to the same bytes;
//! anything else is [`Record::Other`].

use crate::numbers::{Size, SizeUnit};
use crate::record::{
    BreakdownLine, ExitKind, IntervalText, Record, SampleLine, SiteLine, BREAKDOWN_PREFIX,
    NO_FIGURE, RULE,
};
use jiff::civil::DateTime;
use memmon_core::FdCounts;

/// Reads one line (without its `\n`; a trailing `\r` is ignored) into its typed record. A line
/// of no known shape is [`Record::Other`]: this never fails and never panics.
pub fn parse_line(line: &str) -> Record {
    let line = line.strip_suffix('\r').unwrap_or(line);
    parse_known(line).unwrap_or_else(|| Record::Other(line.to_owned()))
}

fn parse_known(line: &str) -> Option<Record> {
    let Some(&first) = line.as_bytes().first() else {
        return Some(Record::Blank);
    };
    match first {
        b'[' => sample(line).map(Record::Sample),
        b'=' => (line == RULE).then_some(Record::Rule),
        b' ' => indented(line),
        b'P' => {
            let mut c = Cur::new(line.strip_prefix("PID: ")?);
            let pid = c.uint()?;
            c.end()?;
            Some(Record::Pid(u32::try_from(pid).ok()?))
        }
        _ => other_prefixes(line),
    }
}

/// `[YYYY-MM-DD HH:MM:SS] 経過: … | RSS: …` — the hot path.
fn sample(line: &str) -> Option<SampleLine> {
    let mut c = Cur::new(line);
    c.lit("[")?;
    let at = c.datetime()?;
    c.lit("] 経過: ")?;
    let elapsed_secs = c.elapsed()?;
    c.lit(" | RSS: ")?;
    // RSS, VMS, peak, the system's use and what is free are never negative: a `-` there is
    // a malformed line, not a figure to fit.
    let rss_mb = c.fixed(2, Sign::None)?;
    c.lit("MB (初期比: ")?;
    let growth_mb = c.fixed(2, Sign::Always)?;
    c.lit("MB) | VMS: ")?;
    let vms_mb = c.fixed(2, Sign::None)?;
    c.lit("MB | ピーク: ")?;
    let peak_mb = c.fixed(2, Sign::None)?;
    c.lit("MB | システム: ")?;
    let sys_percent = c.fixed(1, Sign::None)?;
    c.lit("% (")?;
    let sys_available_mb = c.fixed(0, Sign::None)?;
    c.lit("MB空き)")?;
    c.end()?;
    Some(SampleLine {
        at,
        elapsed_secs,
        rss_mb,
        growth_mb,
        vms_mb,
        peak_mb,
        sys_percent,
        sys_available_mb,
    })
}

/// Lines of a detail block (two-space first lines, four-space site lines) and the other
/// two-space line, the breakdown. Tried after the detail lines, so they pay one failed
/// prefix test at most.
fn indented(line: &str) -> Option<Record> {
    if let Some(body) = line.strip_prefix("    ") {
        return site(body).map(Record::Site);
    }
    if line == "  [Top 10 メモリ消費箇所]" {
        return Some(Record::TopHeader);
    }
    if let Some(rest) = line.strip_prefix("  [tracemalloc] ") {
        let mut c = Cur::new(rest);
        let pid = if c.lit("PID ").is_some() {
            let pid = u32::try_from(c.uint()?).ok()?;
            if c.lit(": 応答なし (").is_some() {
                let secs = c.uint()?;
                c.lit("s)")?;
                c.end()?;
                return Some(Record::NoAnswer { pid, secs });
            }
            c.lit(" ")?;
            Some(pid)
        } else {
            None
        };
        c.lit("Current: ")?;
        let current_mb = c.fixed(2, Sign::Minus)?;
        c.lit("MB, Peak: ")?;
        let peak_mb = c.fixed(2, Sign::Minus)?;
        c.lit("MB")?;
        c.end()?;
        return Some(Record::Tracemalloc {
            pid,
            current_mb,
            peak_mb,
        });
    }
    if let Some(rest) = line.strip_prefix(BREAKDOWN_PREFIX) {
        return breakdown(rest).map(Record::Breakdown);
    }
    if let Some(record) = crate::diagnosis::parse(line) {
        return Some(record);
    }
    if let Some(record) = crate::evidence::parse(line) {
        return Some(record);
    }
    let mut c = Cur::new(line.strip_prefix("  [smaps] Anonymous: ")?);
    let anonymous_mb = c.fixed(2, Sign::Minus)?;
    c.lit("MB, Swap: ")?;
    let swap_mb = c.fixed(2, Sign::Minus)?;
    c.lit("MB, スレッド: ")?;
    let threads = c.uint()?;
    c.lit(", FD: ")?;
    let fds = c.uint()?;
    c.end()?;
    Some(Record::Smaps {
        anonymous_mb,
        swap_mb,
        threads,
        fds,
    })
}

/// The breakdown line after `  [内訳] 匿名: `: exactly the printed shape. Memory figures are
/// never negative (bytes / MiB), so a sign is a malformed line, as on the sample line.
fn breakdown(rest: &str) -> Option<BreakdownLine> {
    let mut c = Cur::new(rest);
    let anon_mb = c.fixed(2, Sign::None)?;
    c.lit("MB, ファイル: ")?;
    let file_mb = c.fixed(2, Sign::None)?;
    c.lit("MB, 共有: ")?;
    let shmem_mb = c.fixed(2, Sign::None)?;
    c.lit("MB, スワップ: ")?;
    let swap_mb = c.fixed(2, Sign::None)?;
    c.lit("MB, スレッド: ")?;
    let threads = c.uint()?;
    c.lit(", FD: ソケット ")?;
    let sockets = c.uint()?;
    c.lit(", ファイル ")?;
    let files = c.uint()?;
    c.lit(", パイプ ")?;
    let pipes = c.uint()?;
    c.lit(", その他 ")?;
    let other = c.uint()?;
    c.end()?;
    Some(BreakdownLine {
        anon_mb,
        file_mb,
        shmem_mb,
        swap_mb,
        threads,
        fds: FdCounts {
            sockets,
            files,
            pipes,
            other,
        },
    })
}

/// `LOCATION: size=SIZE, count=N[, average=SIZE]`. The location is free text (it may hold
/// `: `), so the fixed tail is found from the right.
fn site(body: &str) -> Option<SiteLine> {
    let split = body.rfind(": size=")?;
    let location = &body[..split];
    let mut c = Cur::new(&body[split + ": size=".len()..]);
    let size = c.size()?;
    c.lit(", count=")?;
    let count = c.uint()?;
    let average = if c.lit(", average=").is_some() {
        Some(c.size()?)
    } else {
        None
    };
    c.end()?;
    // Display leaves the average out exactly when the count is 0; a line that disagrees would
    // not re-format to itself.
    if average.is_some() != (count != 0) {
        return None;
    }
    Some(SiteLine {
        location: location.to_owned(),
        size,
        count,
        average,
    })
}

/// Header, footer and memmon's own lines (all start with non-ASCII text).
fn other_prefixes(line: &str) -> Option<Record> {
    const WARN: &str = "⚠️ [警告] ";
    const MEMMON: &str = "⚠️ [memmon] ";
    if let Some(rest) = line.strip_prefix(WARN) {
        let mut c = Cur::new(rest);
        if c.lit("メモリが初期値から ").is_some() {
            let growth_mb = c.fixed(2, Sign::Minus)?;
            c.lit("MB 増加しています")?;
            c.end()?;
            return Some(Record::Warning { growth_mb });
        }
        c.lit("OOMキラーが発動しました (+")?;
        let kills = c.uint()?;
        c.lit(")")?;
        c.end()?;
        return Some(Record::Oom { kills });
    }
    if let Some(rest) = line.strip_prefix(MEMMON) {
        if let Some(reason) = rest.strip_prefix("サンプル取得失敗: ") {
            return Some(Record::SampleFailed {
                reason: reason.to_owned(),
            });
        }
        if rest == "最終サンプルを取得できないため、直前のサンプルを使用します"
        {
            return Some(Record::LastGoodUsed);
        }
        if let Some(reason) = rest.strip_prefix("監視なしで実行します: ") {
            return Some(Record::Unmonitored {
                reason: reason.to_owned(),
            });
        }
        let mut c = Cur::new(rest);
        let count = c.uint()?;
        c.lit("件のサンプルをログに書けませんでした (")?;
        let reason = c.rest.strip_suffix(')')?;
        return Some(Record::LostSamples {
            count,
            reason: reason.to_owned(),
        });
    }
    if let Some(rest) = line.strip_prefix("メモリモニタリング開始: ") {
        return Cur::whole_datetime(rest).map(|at| Record::Start { at });
    }
    if let Some(rest) = line.strip_prefix("メモリモニタリング継続: ") {
        return Cur::whole_datetime(rest).map(|at| Record::Continue { at });
    }
    if let Some(rest) = line.strip_prefix("モニタリング終了: ") {
        return Cur::whole_datetime(rest).map(|at| Record::End { at });
    }
    if let Some(rest) = line.strip_prefix("モニタリング間隔: ") {
        return IntervalText::parse(rest.strip_suffix("秒")?).map(Record::Interval);
    }
    if let Some(rest) = line.strip_prefix("実行時間: ") {
        let mut c = Cur::new(rest);
        let secs = c.uint()?;
        c.lit("秒")?;
        c.end()?;
        return Some(Record::Runtime { secs });
    }
    if let Some(rest) = line.strip_prefix("初期メモリ: ") {
        return Cur::footer_mb(rest).map(|mb| Record::Initial { mb });
    }
    if let Some(rest) = line.strip_prefix("最終メモリ: ") {
        return Cur::footer_mb(rest).map(|mb| Record::Final { mb });
    }
    if let Some(rest) = line.strip_prefix("ピークメモリ: ") {
        return Cur::footer_mb(rest).map(|mb| Record::Peak { mb });
    }
    if let Some(rest) = line.strip_prefix("メモリ増加量: ") {
        return Cur::footer_mb(rest).map(|mb| Record::Increase { mb });
    }
    let rest = line.strip_prefix("プロセス終了: ")?;
    let mut c = Cur::new(rest);
    if c.lit("終了コード ").is_some() {
        let code = c.int()?;
        c.end()?;
        return Some(Record::ProcessExit(ExitKind::Code(code)));
    }
    c.lit("シグナル ")?;
    let number = c.int()?;
    c.lit(" (")?;
    let name = c.rest.strip_suffix(')')?;
    Some(Record::ProcessExit(ExitKind::Signal {
        number,
        name: name.to_owned(),
    }))
}

/// Which signs a number field may carry, as its format prints them.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sign {
    /// `{:.2}`: a `-` for negatives only.
    Minus,
    /// `{:+.2}`: always `+` or `-`.
    Always,
    /// A figure that is never negative: no sign at all.
    None,
}

/// `text` as a finite number: 400 digits parse to infinity, which no printer wrote (memmon
/// prints finite figures only) and which would print as `infMB` or turn a fit into NaN.
fn finite(text: &str) -> Option<f64> {
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// A cursor over the rest of a line.
pub(crate) struct Cur<'a> {
    rest: &'a str,
}

impl<'a> Cur<'a> {
    pub(crate) fn new(rest: &'a str) -> Self {
        Cur { rest }
    }

    /// Consumes `text` if the rest starts with it.
    pub(crate) fn lit(&mut self, text: &str) -> Option<()> {
        self.rest = self.rest.strip_prefix(text)?;
        Some(())
    }

    /// Succeeds when nothing is left.
    pub(crate) fn end(&self) -> Option<()> {
        self.rest.is_empty().then_some(())
    }

    /// `X.XXMB` and nothing after it.
    fn whole_mb(rest: &str) -> Option<f64> {
        let mut c = Cur::new(rest);
        let mb = c.fixed(2, Sign::Minus)?;
        c.lit("MB")?;
        c.end()?;
        Some(mb)
    }

    /// A footer figure: `X.XXMB`, or `-` (nothing measured it), and nothing after it.
    fn footer_mb(rest: &str) -> Option<Option<f64>> {
        if rest == NO_FIGURE {
            return Some(None);
        }
        Cur::whole_mb(rest).map(Some)
    }

    /// A timestamp and nothing after it.
    fn whole_datetime(rest: &str) -> Option<DateTime> {
        let mut c = Cur::new(rest);
        let at = c.datetime()?;
        c.end()?;
        Some(at)
    }

    /// Scans `[sign]DIGITS[.DIGITS]` with no superfluous leading zero; returns the text and
    /// the number of decimals (`None` without a point).
    fn number(&mut self, sign: Sign) -> Option<(&'a str, Option<usize>)> {
        let b = self.rest.as_bytes();
        let mut i = 0;
        match (sign, b.first()) {
            (Sign::Always, Some(b'+' | b'-')) | (Sign::Minus, Some(b'-')) => i = 1,
            (Sign::Always, _) | (Sign::None, Some(b'-' | b'+')) => return None,
            (Sign::Minus | Sign::None, _) => {}
        }
        let int_start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let int_len = i - int_start;
        if int_len == 0 || (int_len > 1 && b[int_start] == b'0') {
            return None;
        }
        let mut decimals = None;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let frac_start = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            decimals = Some(i - frac_start);
        }
        // All scanned bytes are ASCII, so `i` is a char boundary.
        let (text, rest) = self.rest.split_at(i);
        self.rest = rest;
        Some((text, decimals))
    }

    /// A number printed with exactly `decimals` decimals (`{:.N}`).
    pub(crate) fn fixed(&mut self, decimals: usize, sign: Sign) -> Option<f64> {
        let (text, found) = self.number(sign)?;
        let expected = (decimals > 0).then_some(decimals);
        if found != expected {
            return None;
        }
        finite(text)
    }

    /// An unsigned integer, no leading zeros.
    pub(crate) fn uint(&mut self) -> Option<u64> {
        match self.number(Sign::Minus)? {
            (text, None) if !text.starts_with('-') => text.parse().ok(),
            _ => None,
        }
    }

    /// What is left of the line.
    pub(crate) fn rest(&self) -> &'a str {
        self.rest
    }

    /// An integer printed with `{:+}`: always a sign, no leading zeros.
    pub(crate) fn signed_int(&mut self) -> Option<i64> {
        match self.number(Sign::Always)? {
            (text, None) => text.parse().ok(),
            _ => None,
        }
    }

    /// A signed integer (`-1`), no leading zeros.
    fn int(&mut self) -> Option<i32> {
        match self.number(Sign::Minus)? {
            (text, None) => text.parse().ok(),
            _ => None,
        }
    }

    /// tracemalloc's `SIZE UNIT`: `%.1f` or `%.0f`, a space, a unit.
    fn size(&mut self) -> Option<Size> {
        let (text, decimals) = self.number(Sign::Minus)?;
        let one_decimal = match decimals {
            None => false,
            Some(1) => true,
            Some(_) => return None,
        };
        let value = finite(text)?;
        self.lit(" ")?;
        let end = self.rest.find(',').unwrap_or(self.rest.len());
        let unit = SizeUnit::from_text(&self.rest[..end])?;
        self.rest = &self.rest[end..];
        Some(Size {
            value,
            unit,
            one_decimal,
        })
    }

    /// `YYYY-MM-DD HH:MM:SS`, a valid civil time.
    fn datetime(&mut self) -> Option<DateTime> {
        let b = self.rest.as_bytes().get(..19)?;
        let shape = b"dddd-dd-dd dd:dd:dd";
        let fits = b.iter().zip(shape).all(|(&c, &s)| {
            if s == b'd' {
                c.is_ascii_digit()
            } else {
                c == s
            }
        });
        if !fits {
            return None;
        }
        let num = |r: std::ops::Range<usize>| {
            b[r].iter()
                .fold(0i16, |acc, &d| acc * 10 + i16::from(d - b'0'))
        };
        let small = |r| i8::try_from(num(r)).ok();
        let at = DateTime::new(
            num(0..4),
            small(5..7)?,
            small(8..10)?,
            small(11..13)?,
            small(14..16)?,
            small(17..19)?,
            0,
        )
        .ok()?;
        self.rest = &self.rest[19..];
        Some(at)
    }

    /// 経過 `HH:MM:SS` (hours: two digits or more, no superfluous leading zero).
    fn elapsed(&mut self) -> Option<u64> {
        let b = self.rest.as_bytes();
        let mut i = 0;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i < 2 || (i > 2 && b[0] == b'0') {
            return None;
        }
        let hours: u64 = self.rest[..i].parse().ok()?;
        let two = |at: usize| -> Option<u64> {
            let d = b.get(at..at + 2)?;
            if b.get(at - 1) != Some(&b':') || !d.iter().all(u8::is_ascii_digit) {
                return None;
            }
            Some(u64::from(d[0] - b'0') * 10 + u64::from(d[1] - b'0'))
        };
        let minutes = two(i + 1)?;
        let seconds = two(i + 4)?;
        if minutes >= 60 || seconds >= 60 {
            return None;
        }
        let total = hours
            .checked_mul(3600)?
            .checked_add(minutes * 60 + seconds)?;
        self.rest = self.rest.get(i + 6..)?;
        Some(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_shapes_that_would_print_differently() {
        for line in [
            "初期メモリ: 015.20MB",
            "初期メモリ: 15.2MB",
            "初期メモリ: +15.20MB",
            "初期メモリ: -MB",
            "初期メモリ: - ",
            "初期メモリ: --",
            "初期メモリ:-",
            "実行時間: 0300秒",
            "PID: 99999999999",
            "    a.py:1: size=1.25 KiB, count=1, average=1 KiB",
            "    a.py:1: size=1 KiB, count=0, average=1 KiB",
            "    a.py:1: size=1 KiB, count=1",
            "メモリモニタリング開始: 2025-02-30 00:00:00",
            "モニタリング間隔: infinity秒",
            "  [内訳] 匿名: 30.1MB, ファイル: 8.40MB, 共有: 1.20MB, スワップ: 0.00MB, スレッド: 4, FD: ソケット 3, ファイル 5, パイプ 2, その他 4",
            "  [内訳] 匿名: 30.12MB, ファイル: 8.40MB, 共有: 1.20MB, スワップ: -0.00MB, スレッド: 4, FD: ソケット 3, ファイル 5, パイプ 2, その他 4",
            "  [内訳] 匿名: 30.12MB, ファイル: 8.40MB, 共有: 1.20MB, スワップ: 0.00MB, スレッド: 4, FD: ソケット 3, ファイル 5, パイプ 2",
            "  [内訳] 匿名: 30.12MB, ファイル: 8.40MB, 共有: 1.20MB, スワップ: 0.00MB, スレッド: 4, FD: ソケット 3, ファイル 5, パイプ 2, その他 4 ",
            "  [内訳] 匿名: 30.12MB, ファイル: 8.40MB, 共有: 1.20MB, スワップ: 0.00MB, スレッド: 4, FD: 14",
            "   [内訳] 匿名: 30.12MB, ファイル: 8.40MB, 共有: 1.20MB, スワップ: 0.00MB, スレッド: 4, FD: ソケット 3, ファイル 5, パイプ 2, その他 4",
        ] {
            assert_eq!(parse_line(line), Record::Other(line.to_owned()), "{line}");
        }
    }

    #[test]
    fn negative_or_overflowing_sample_figures_are_not_samples() {
        let ok = "[2026-11-24 19:00:00] 経過: 00:00:00 | RSS: 31.33MB (初期比: +0.00MB) | VMS: 400.00MB | ピーク: 31.33MB | システム: 42.0% (1024MB空き)";
        assert!(matches!(parse_line(ok), Record::Sample(_)));
        let huge = "9".repeat(400);
        for bad in [
            ok.replace("RSS: 31.33", "RSS: -31.33"),
            ok.replace("VMS: 400.00", "VMS: -400.00"),
            ok.replace("ピーク: 31.33", "ピーク: -31.33"),
            ok.replace("42.0%", "-42.0%"),
            ok.replace("1024MB空き", "-1024MB空き"),
            ok.replace("RSS: 31.33", &format!("RSS: {huge}.00")),
            ok.replace("+0.00MB)", &format!("+{huge}.00MB)")),
        ] {
            assert_eq!(parse_line(&bad), Record::Other(bad.clone()), "{bad}");
        }
        // A negative 初期比 is a figure (memory went down).
        let down = ok.replace("+0.00MB)", "-1.00MB)");
        assert!(matches!(parse_line(&down), Record::Sample(_)));
        let footer = format!("最終メモリ: {huge}.00MB");
        assert_eq!(parse_line(&footer), Record::Other(footer.clone()));
    }

    #[test]
    fn a_dash_is_a_figure_nothing_measured() {
        assert_eq!(parse_line("初期メモリ: -"), Record::Initial { mb: None });
        assert_eq!(parse_line("最終メモリ: -"), Record::Final { mb: None });
        assert_eq!(parse_line("ピークメモリ: -"), Record::Peak { mb: None });
        assert_eq!(parse_line("メモリ増加量: -"), Record::Increase { mb: None });
        assert_eq!(
            parse_line("メモリ増加量: -1.23MB"),
            Record::Increase { mb: Some(-1.23) }
        );
    }

    #[test]
    fn trailing_cr_is_ignored() {
        assert_eq!(parse_line("PID: 7\r"), Record::Pid(7));
        assert_eq!(parse_line("\r"), Record::Blank);
    }
}
