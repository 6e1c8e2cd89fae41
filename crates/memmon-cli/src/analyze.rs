//! `memmon analyze`: its flags, and one call to memmon-analyze, which reads the logs and writes
//! the report, the CSV and the plot. This module prints the error and picks the exit code.

use crate::lang::LangArg;
use clap::Args;
use jiff::civil::DateTime;
use memmon_analyze::{Request, Window};
use std::io;
use std::path::PathBuf;

/// `memmon analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Log files (rotated ones such as memory_usage.log.1 may be given together, in any order;
    /// empty ones are skipped; /dev/stdin, a FIFO or <(…) is read as a stream)
    #[arg(value_name = "LOG", required = true)]
    pub logs: Vec<PathBuf>,
    /// Print one JSON object instead of the text report
    #[arg(long)]
    pub json: bool,
    /// Write every sample as a CSV row (for LibreOffice Calc / Excel)
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Draw RSS, peak, the +50MB warning line and the trend (FILE.svg or FILE.png)
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Ignore samples before TIME ("YYYY-MM-DD HH:MM:SS", "YYYY-MM-DD HH:MM" or "YYYY-MM-DD")
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub since: Option<DateTime>,
    /// Ignore samples after TIME (same forms as --since; a day alone means its end)
    #[arg(long, value_name = "TIME", value_parser = parse_until)]
    pub until: Option<DateTime>,
    /// Language of the report and the plot's labels
    #[arg(long, value_enum, default_value_t = LangArg::Ja)]
    pub lang: LangArg,
}

/// `--since`/`--until`: the log's local time, to the second, minute or day.
fn parse_time(s: &str) -> Result<DateTime, String> {
    let s = s.trim();
    if let Ok(dt) = s.parse::<DateTime>() {
        return Ok(dt);
    }
    if let Ok(d) = s.parse::<jiff::civil::Date>() {
        return Ok(d.at(0, 0, 0, 0));
    }
    Err(format!(
        "{s:?} is not a time: expected \"YYYY-MM-DD HH:MM:SS\", \"YYYY-MM-DD HH:MM\" or \"YYYY-MM-DD\""
    ))
}

/// `--until`: as [`parse_time`], but a day alone means up to its last second.
fn parse_until(s: &str) -> Result<DateTime, String> {
    match s.trim().parse::<jiff::civil::Date>() {
        Ok(d) if s.trim().len() == 10 => Ok(d.at(23, 59, 59, 0)),
        _ => parse_time(s),
    }
}

/// Runs `memmon analyze`; returns the exit code (2 when the analysis fails).
///
/// Never inlined: `main`, which `memmon run` executes, sits in `.text.hot` (hot-text.ld), and
/// with the analysis inlined into it (as LTO did once it came from another crate) about 22 KiB
/// of code `run` never calls went hot with it. Out of line, it stays in `.text.cold`
/// (cold-text.ld's `memmon::analyze` and `memmon_analyze` patterns).
#[inline(never)]
pub fn run(args: AnalyzeArgs) -> i32 {
    let request = Request {
        logs: args.logs,
        json: args.json,
        csv: args.csv,
        plot: args.plot,
        window: Window {
            since: args.since,
            until: args.until,
        },
        lang: args.lang.get(),
    };
    let stdout = io::stdout();
    match memmon_analyze::analyze(&request, &mut stdout.lock()) {
        Ok(()) => 0,
        Err(e) => {
            memmon_watch::say!("memmon: {e}");
            2
        }
    }
}
