//! `analyze-lines-per-s`: a generated log of known size through `memmon analyze FILE --json`.

use crate::{fail, Result};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

/// Seconds between the generated samples (the header says `5秒`).
const INTERVAL_S: u64 = 5;

/// 2026-01-01 00:00:00, as seconds since the Unix epoch (local time is not asked for: the log
/// carries naive timestamps).
const START: u64 = 1_767_225_600;

/// The header memmon writes at every start; 6 lines.
const HEADER_LINES: u64 = 6;

/// Writes a log of `lines` lines in memmon's format: a header, then samples every 5 s whose RSS
/// grows slowly with a little deterministic noise (so the analysis does real work).
pub fn write_log(path: &Path, lines: u64) -> Result<()> {
    let file =
        std::fs::File::create(path).map_err(|e| fail!("cannot create {}: {e}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let mut text = String::with_capacity(1 << 16);
    let rule = "=".repeat(80);
    let _ = write!(
        text,
        "{rule}\nメモリモニタリング開始: {}\nPID: 4242\nモニタリング間隔: {INTERVAL_S}秒\n{rule}\n\n",
        timestamp(START)
    );
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let (mut base, mut peak) = (None, 0.0f64);
    for k in 0..lines.saturating_sub(HEADER_LINES) {
        let t = k * INTERVAL_S;
        // xorshift64: noise of ±0.5 MB on a growth of 1 MB an hour.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let noise = (rng % 1000) as f64 / 1000.0 - 0.5;
        let rss = 45.0 + t as f64 / 3600.0 + noise;
        let base = *base.get_or_insert(rss);
        peak = peak.max(rss);
        sample_line(&mut text, START + t, t, rss, rss - base, peak);
        if text.len() > (1 << 16) - 512 {
            out.write_all(text.as_bytes())
                .map_err(|e| fail!("cannot write {}: {e}", path.display()))?;
            text.clear();
        }
    }
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| fail!("cannot write {}: {e}", path.display()))
}

/// Appends one sample line, laid out as memmon-format writes it.
fn sample_line(out: &mut String, at: u64, elapsed: u64, rss: f64, growth: f64, peak: f64) {
    let _ = writeln!(
        out,
        "[{}] 経過: {:02}:{:02}:{:02} | RSS: {rss:.2}MB (初期比: {growth:+.2}MB) | VMS: {:.2}MB \
         | ピーク: {peak:.2}MB | システム: 35.2% (512MB空き)",
        timestamp(at),
        elapsed / 3600,
        elapsed / 60 % 60,
        elapsed % 60,
        rss + 80.0,
    );
}

/// `YYYY-MM-DD HH:MM:SS` for seconds since the epoch (UTC; civil-from-days, H. Hinnant).
fn timestamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let s = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// The `"lines": N` count of `memmon analyze --json` output, to check it read the whole file.
pub fn json_lines(json: &str) -> Option<u64> {
    let at = json.find("\"lines\"")? + "\"lines\"".len();
    let rest = json[at..].trim_start().strip_prefix(':')?.trim_start();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_cross_months_and_leap_days() {
        assert_eq!(timestamp(0), "1970-01-01 00:00:00");
        assert_eq!(timestamp(START), "2026-01-01 00:00:00");
        assert_eq!(timestamp(951_782_400 + 3661), "2000-02-29 01:01:01");
        assert_eq!(timestamp(START + 59 * 86_400), "2026-03-01 00:00:00");
    }

    #[test]
    fn sample_lines_have_memmons_layout() {
        let mut s = String::new();
        sample_line(&mut s, START + 90_061, 90_061, 45.004, 0.5, 46.0);
        assert_eq!(
            s,
            "[2026-01-02 01:01:01] 経過: 25:01:01 | RSS: 45.00MB (初期比: +0.50MB) | \
             VMS: 125.00MB | ピーク: 46.00MB | システム: 35.2% (512MB空き)\n"
        );
    }

    #[test]
    fn the_generated_log_has_the_asked_line_count() {
        let dir = std::env::temp_dir().join(format!("xtask-bench-test-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("gen.log");
        write_log(&path, 1000).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1000);
        assert!(text.starts_with("=====") && text.contains("モニタリング間隔: 5秒"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_json_line_count_is_found() {
        assert_eq!(
            json_lines(r#"{"lines": 1000000, "runs": []}"#),
            Some(1_000_000)
        );
        assert_eq!(json_lines(r#"{"files":[],"lines":12}"#), Some(12));
        assert_eq!(json_lines("{}"), None);
    }
}
