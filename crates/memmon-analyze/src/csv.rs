//! `--csv FILE`: one row per sample, for LibreOffice Calc or Excel (the guide's "グラフ化").
//!
//! Plain comma-separated values: no field can hold a comma or a quote (times and numbers
//! only), so no quoting is needed. Numbers keep the log's precision; the timestamp keeps the
//! log's `YYYY-MM-DD HH:MM:SS`, which spreadsheets read as a date-time.

use crate::runs::Accepted;
use std::io::{self, Write};

/// The header row.
pub const HEADER: &str =
    "timestamp,elapsed_s,rss_mb,delta_mb,vms_mb,peak_mb,sys_percent,sys_available_mb,run";

/// Writes rows as samples arrive (streaming: nothing is kept).
pub struct CsvWriter<W: Write> {
    out: W,
}

impl<W: Write> CsvWriter<W> {
    /// Writes the header row.
    pub fn new(mut out: W) -> io::Result<Self> {
        writeln!(out, "{HEADER}")?;
        Ok(CsvWriter { out })
    }

    /// Writes one sample's row.
    pub fn row(&mut self, a: &Accepted) -> io::Result<()> {
        let s = &a.sample;
        // By hand rather than `strftime`, which parses its format string on every row.
        let t = s.at;
        write!(
            self.out,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02},{},",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            s.elapsed_secs
        )?;
        for (x, decimals) in [
            (s.rss_mb, 2),
            (s.growth_mb, 2),
            (s.vms_mb, 2),
            (s.peak_mb, 2),
            (s.sys_percent, 1),
            (s.sys_available_mb, 0),
        ] {
            fixed(&mut self.out, x, decimals)?;
            self.out.write_all(b",")?;
        }
        writeln!(self.out, "{}", a.run)
    }

    /// Flushes and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Writes `x` with `decimals` decimals through integers: the values were parsed from text with
/// at most that many decimals, so scaling and rounding restores them exactly, and integer
/// formatting is several times faster than `{:.2}` (a 1M-row CSV is mostly this).
fn fixed(out: &mut impl Write, x: f64, decimals: u32) -> io::Result<()> {
    let scale = 10i64.pow(decimals);
    let scaled = (x * scale as f64).round();
    if !scaled.is_finite() || scaled.abs() >= 9e15 {
        // Out of exact integer range: no log line holds such a number, but stay correct.
        return write!(out, "{:.*}", decimals as usize, x);
    }
    let n = scaled as i64;
    let sign = if n < 0 { "-" } else { "" };
    let (int, frac) = (
        n.unsigned_abs() / scale as u64,
        n.unsigned_abs() % scale as u64,
    );
    if decimals == 0 {
        write!(out, "{sign}{int}")
    } else {
        write!(out, "{sign}{int}.{frac:0width$}", width = decimals as usize)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use jiff::civil::date;
    use memmon_format::SampleLine;

    #[test]
    fn fixed_matches_format_at_the_logs_precision() {
        let cases = [
            (0.0, 2, "0.00"),
            (45.23, 2, "45.23"),
            (-2.15, 2, "-2.15"),
            (0.07, 2, "0.07"),
            (123456.78, 2, "123456.78"),
            (35.2, 1, "35.2"),
            (100.0, 1, "100.0"),
            (23686.0, 0, "23686"),
        ];
        for (x, d, want) in cases {
            let mut v = Vec::new();
            fixed(&mut v, x, d).unwrap();
            assert_eq!(String::from_utf8(v).unwrap(), want);
        }
    }

    #[test]
    fn header_then_one_row_per_sample() {
        let sample = SampleLine {
            at: date(2025, 11, 21).at(14, 30, 0, 0),
            elapsed_secs: 300,
            rss_mb: 45.23,
            growth_mb: 2.15,
            vms_mb: 123.45,
            peak_mb: 47.12,
            sys_percent: 35.2,
            sys_available_mb: 512.0,
        };
        let mut w = CsvWriter::new(Vec::new()).unwrap();
        w.row(&Accepted {
            sample,
            run: 2,
            x_s: 0.0,
        })
        .unwrap();
        let text = String::from_utf8(w.finish().unwrap()).unwrap();
        assert_eq!(
            text,
            format!("{HEADER}\n2025-11-21 14:30:00,300,45.23,2.15,123.45,47.12,35.2,512,2\n")
        );
    }
}
