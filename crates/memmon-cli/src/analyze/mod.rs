//! `memmon analyze`: read memory_usage.log files (memmon's or the original monitor's), split
//! them into runs, and tell a leak from warm-up.
//!
//! The guide's "log analysis" was manual (Excel, `grep 初期比`, eyeballing the trend); this
//! does it in one streaming pass: [`read`] splits bytes into lines, [`runs`] splits records into
//! runs and fits each with memmon-core's `TrendEstimator`, [`sites`] finds the tracemalloc
//! allocation sites that grow steadily (the line that leaks), [`report`] prints text or JSON,
//! [`csv`] and [`plot`] write the optional files. Memory stays flat however long the logs.

mod csv;
mod font;
mod glyphs;
mod outputs;
mod panel;
mod plot;
mod read;
mod report;
mod runs;
mod sites;

/// The report's language: memmon's shared one (its `--lang` is [`LangArg`]).
pub use crate::lang::Lang;
use crate::lang::LangArg;
use clap::Args;
use jiff::civil::DateTime;
use memmon_core::VerdictSettings;
use read::{FileError, LineReader};
use runs::{Accepted, Analysis, Analyzer, Window};
use std::fs::File;
use std::io::{self, BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

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

/// Why `memmon analyze` failed (exit 2).
#[derive(Debug, thiserror::Error)]
enum AnalyzeError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{}: {source}", path.display())]
    Output { path: PathBuf, source: io::Error },
    #[error("{}: {message}", path.display())]
    Plot { path: PathBuf, message: String },
    #[error(transparent)]
    Clash(#[from] outputs::Clash),
    #[error("writing the report: {0}")]
    Stdout(io::Error),
}

fn output_err(path: &Path) -> impl FnOnce(io::Error) -> AnalyzeError + '_ {
    move |source| AnalyzeError::Output {
        path: path.to_owned(),
        source,
    }
}

/// Runs `memmon analyze`; returns the exit code.
pub fn run(args: AnalyzeArgs) -> i32 {
    let stdout = io::stdout();
    match execute(&args, &mut stdout.lock()) {
        Ok(()) => 0,
        Err(e) => {
            crate::console::say!("memmon: {e}");
            2
        }
    }
}

fn execute(args: &AnalyzeArgs, out: &mut impl Write) -> Result<(), AnalyzeError> {
    // No output may be an input (or another output): checked before any file is opened.
    let outs: Vec<(&'static str, &Path)> = [("--csv", &args.csv), ("--plot", &args.plot)]
        .into_iter()
        .filter_map(|(what, p)| p.as_deref().map(|p| (what, p)))
        .collect();
    outputs::check(&args.logs, &outs)?;
    // A first look at every file before any output: order by time, refuse a file with no
    // sample (exit 2) before a CSV or plot is half written.
    if let Some(path) = &args.plot {
        plot::check_path(path).map_err(|message| AnalyzeError::Plot {
            path: path.clone(),
            message,
        })?;
    }
    // Empty files are no error: logrotate leaves them (`create`, `copytruncate`), and the
    // report of the others is what the user asked for; the report names them.
    let read::Inputs { files, empty } = read::scan_all(&args.logs)?;
    let window = Window {
        since: args.since,
        until: args.until,
    };
    let mut csv = match &args.csv {
        Some(path) => {
            let file = File::create(path).map_err(output_err(path))?;
            Some(csv::CsvWriter::new(BufWriter::new(file)).map_err(output_err(path))?)
        }
        None => None,
    };
    let mut plot = args.plot.as_ref().map(|_| plot::Collector::new());
    let mut analyzer = Analyzer::new(VerdictSettings::default(), window);
    let mut paths = Vec::with_capacity(files.len());
    for file in files {
        let path = file.path.clone();
        let mut lines = file.lines().map_err(|source| FileError::Io {
            path: path.clone(),
            source,
        })?;
        feed(&mut analyzer, &mut lines, |a| {
            if let Some(p) = &mut plot {
                p.push(a);
            }
            match (&mut csv, &args.csv) {
                (Some(w), Some(path)) => w.row(a).map_err(output_err(path)),
                _ => Ok(()),
            }
        })
        .map_err(|e| match e {
            FeedError::Read(source) => AnalyzeError::File(FileError::Io {
                path: path.clone(),
                source,
            }),
            FeedError::Sink(e) => e,
        })?;
        paths.push(path);
    }
    let mut analysis = analyzer.finish();
    analysis.empty_files = empty;
    if let (Some(w), Some(path)) = (csv, &args.csv) {
        w.finish().map_err(output_err(path))?;
    }
    if let (Some(p), Some(path)) = (plot, &args.plot) {
        plot::render(&p, &analysis, path, args.lang.get()).map_err(|message| {
            AnalyzeError::Plot {
                path: path.clone(),
                message,
            }
        })?;
    }
    let text = if args.json {
        report::json(&analysis, &paths) + "\n"
    } else {
        report::text(&analysis, &paths, args.lang.get())
    };
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(AnalyzeError::Stdout)
}

enum FeedError<E> {
    Read(io::Error),
    Sink(E),
}

/// Feeds every line of `lines` to the analyzer and each accepted sample to `sink`.
fn feed<R: BufRead, E>(
    analyzer: &mut Analyzer,
    lines: &mut LineReader<R>,
    mut sink: impl FnMut(&Accepted) -> Result<(), E>,
) -> Result<(), FeedError<E>> {
    while let Some(line) = lines.next_line().map_err(FeedError::Read)? {
        if let Some(a) = analyzer.line(line) {
            sink(&a).map_err(FeedError::Sink)?;
        }
    }
    Ok(())
}

/// Analyses one log stream with the default thresholds, no window and no outputs: the entry
/// point for benchmarks (`memmon analyze` itself adds file ordering, CSV and plot).
// Only the tests and the benchmark call it (the binary goes through `execute`).
#[cfg_attr(not(test), allow(dead_code))]
pub fn analyze_reader(reader: impl BufRead) -> io::Result<Analysis> {
    let mut analyzer = Analyzer::new(VerdictSettings::default(), Window::default());
    let mut lines = LineReader::new(reader);
    feed(&mut analyzer, &mut lines, |_| Ok::<(), ()>(())).map_err(|e| match e {
        FeedError::Read(e) => e,
        FeedError::Sink(()) => io::Error::other("unreachable sink error"),
    })?;
    Ok(analyzer.finish())
}

#[cfg(test)]
mod tests;
