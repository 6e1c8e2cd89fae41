//! `memmon analyze` as a library: read memory_usage.log files (memmon's or the original
//! monitor's), split them into runs, and tell a leak from warm-up.
//!
//! The guide's "log analysis" was manual (Excel, `grep 初期比`, eyeballing the trend); this
//! does it in one streaming pass: [`read`] splits bytes into lines, [`runs`] splits records into
//! runs and fits each with memmon-core's `TrendEstimator`, [`sites`] finds the tracemalloc
//! allocation sites that grow steadily (the line that leaks), [`parts`] says which part of the
//! memory carries the growth and why (issue #19), [`report`] renders text (Japanese
//! or English) or JSON, [`csv`] and [`plot`] write the optional files. Memory stays flat however
//! long the logs.
//!
//! Logs go in as paths ([`analyze`], which is the whole of `memmon analyze`: ordering rotated
//! files, the `--since`/`--until` window, the CSV, the plot and the report) or as one reader
//! ([`analyze_reader`]); an [`Analysis`] comes out, with each run's figures, verdict and growing
//! sites.
//!
//! What it never does: parse command lines, exit the process or print to the terminal. The
//! report goes to the `Write` the caller passes, and a failure is an [`Error`] for the caller to
//! show. It writes no file but the outputs it is asked for (`--csv`, `--plot`), and only after
//! checking that none of them is an input ([`outputs`]). The log's line layout stays
//! memmon-format's and the verdict's policy memmon-core's.

pub mod archive;
pub mod bundle;
pub mod csv;
mod font;
mod glyphs;
pub mod markdown;
pub mod outputs;
mod panel;
pub mod parts;
pub mod plot;
pub mod read;
pub mod redact;
pub mod report;
pub mod runs;
pub mod sites;

/// The report's language (memmon's shared one).
pub use memmon_core::Lang;
pub use read::FileError;
pub use runs::{Analysis, Window};

use memmon_core::VerdictSettings;
use read::LineReader;
use runs::{Accepted, Analyzer};
use std::fs::File;
use std::io::{self, BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

/// What to analyse and what to produce: `memmon analyze`'s flags, parsed.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Log files: rotated ones such as memory_usage.log.1 may be given together, in any order;
    /// empty ones are skipped; `/dev/stdin`, a FIFO or `<(…)` is read as a stream.
    pub logs: Vec<PathBuf>,
    /// One JSON object instead of the text report.
    pub json: bool,
    /// Where to write every sample as a CSV row.
    pub csv: Option<PathBuf>,
    /// Where to draw the plot (`.svg` or `.png`).
    pub plot: Option<PathBuf>,
    /// Samples outside it are ignored.
    pub window: Window,
    /// The language of the text report and the plot's labels.
    pub lang: Lang,
}

/// Why an analysis failed (`memmon analyze` exits 2). `Display` is the message, in English.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An input cannot be read, holds no memmon line, or every input is empty.
    #[error(transparent)]
    File(#[from] FileError),
    /// The CSV (or another output file) cannot be written.
    #[error("{}: {source}", path.display())]
    Output {
        /// The output file.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// The plot cannot be drawn or written (or its name is neither `.svg` nor `.png`).
    #[error("{}: {message}", path.display())]
    Plot {
        /// The plot file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// An output is an input or another output.
    #[error(transparent)]
    Clash(#[from] outputs::Clash),
    /// The report cannot be written to the caller's writer.
    #[error("writing the report: {0}")]
    Report(io::Error),
}

fn output_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Output {
        path: path.to_owned(),
        source,
    }
}

/// Runs `memmon analyze`: checks the outputs, reads every log in `request`, writes the CSV and
/// the plot it asks for, and writes the report (text or JSON) to `out`, flushed.
pub fn analyze(request: &Request, out: &mut impl Write) -> Result<(), Error> {
    let (mut analysis, paths) = analyze_files(request)?;
    bundle::assign(&mut analysis.runs, &bundle::find(&request.logs));
    let text = if request.json {
        report::json(&analysis, &paths, request.lang) + "\n"
    } else {
        report::text(&analysis, &paths, request.lang)
    };
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(Error::Report)
}

/// [`analyze`] without the report: checks the outputs, reads every log, writes the CSV and the
/// plot `request` asks for, and returns the analysis with the files read, in the order read
/// (`request.json` is ignored). `memmon report` renders its Markdown from this.
pub fn analyze_files(request: &Request) -> Result<(Analysis, Vec<PathBuf>), Error> {
    // No output may be an input (or another output): checked before any file is opened.
    let outs: Vec<(&'static str, &Path)> = [("--csv", &request.csv), ("--plot", &request.plot)]
        .into_iter()
        .filter_map(|(what, p)| p.as_deref().map(|p| (what, p)))
        .collect();
    outputs::check(&request.logs, &outs)?;
    // A first look at every file before any output: order by time, refuse a file with no
    // sample (exit 2) before a CSV or plot is half written.
    if let Some(path) = &request.plot {
        plot::check_path(path).map_err(|message| Error::Plot {
            path: path.clone(),
            message,
        })?;
    }
    // Empty files are no error: logrotate leaves them (`create`, `copytruncate`), and the
    // report of the others is what the user asked for; the report names them.
    let read::Inputs { files, empty } = read::scan_all(&request.logs)?;
    let mut csv = match &request.csv {
        Some(path) => {
            let file = File::create(path).map_err(output_err(path))?;
            Some(csv::CsvWriter::new(BufWriter::new(file)).map_err(output_err(path))?)
        }
        None => None,
    };
    let mut plot = request.plot.as_ref().map(|_| plot::Collector::new());
    let mut analyzer = Analyzer::new(VerdictSettings::default(), request.window);
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
            match (&mut csv, &request.csv) {
                (Some(w), Some(path)) => w.row(a).map_err(output_err(path)),
                _ => Ok(()),
            }
        })
        .map_err(|e| match e {
            FeedError::Read(source) => Error::File(FileError::Io {
                path: path.clone(),
                source,
            }),
            FeedError::Sink(e) => e,
        })?;
        paths.push(path);
    }
    let mut analysis = analyzer.finish();
    analysis.empty_files = empty;
    if let (Some(w), Some(path)) = (csv, &request.csv) {
        w.finish().map_err(output_err(path))?;
    }
    if let (Some(p), Some(path)) = (plot, &request.plot) {
        plot::render(&p, &analysis, path, request.lang).map_err(|message| Error::Plot {
            path: path.clone(),
            message,
        })?;
    }
    Ok((analysis, paths))
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

/// Analyses one log stream with the default thresholds, no window and no outputs (the entry
/// point for benchmarks and tests; [`analyze`] adds file ordering, the window, CSV and plot).
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
mod diagnosis_tests;
#[cfg(test)]
mod request_tests;
#[cfg(test)]
mod tests;
