//! The log file: appended, one write per sample, rotated by size, and never a reason to stop.
//!
//! A write failure (full disk, a device that refuses, a pipe that is full) is reported once on
//! stderr, the samples are counted as lost, and every later sample retries; when a write works
//! again the log gets the rest of any line the failure cut short, a header that could not be
//! written, then the spec's lost-samples line (see `sink/lines.rs`). Lines that went into a log
//! deleted meanwhile are counted the same way (`LogSink::count_if_deleted`). What the log path
//! may name, and which symlink is followed, is in `sink/open.rs`.

mod lines;
mod open;
#[cfg(test)]
mod tests;

use crate::lang::current;
use crate::lang::{tr, Lang};
use crate::say;
use lines::Lines;
use memmon_format::{LogFormat, Record};
use open::{open_log, Failure, Opened};
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often a sample checks whether the log was moved, deleted or truncated (see
/// [`LogSink::reopen_if_moved_now_and_then`]): about once a second, so a fast interval does not
/// pay a `stat` per sample, and a moved log is still found within a second or so. A deleted
/// log is found sooner: by the write after the deletion (see [`LogSink::write`]).
pub const MOVED_CHECK_EVERY: Duration = Duration::from_secs(1);

/// The lost-samples line's reason for samples written into a log that was deleted (and whose
/// path could be opened again).
const DELETED_REASON: &str = "ログファイルが削除されていました";

/// How the log file is kept.
#[derive(Debug, Clone)]
pub struct SinkOptions {
    /// Rotate when a regular log file is larger than this.
    pub max_bytes: u64,
    /// Rotated files kept (`.1` … `.N`); 0 keeps none.
    pub keep: u32,
    /// `fdatasync` after each write: on for intervals of a second or more, so a power cut loses
    /// at most the line being written; off for faster intervals, where it would wear the SD card.
    pub sync: bool,
}

/// The log could not be opened at start (memmon has not started anything yet, so this is fatal).
#[derive(Debug, thiserror::Error)]
#[error("cannot open the log {path}: {source}")]
pub struct OpenError {
    path: String,
    #[source]
    source: Failure,
}

impl OpenError {
    /// The message in `lang` (`Display` is the English one); the OS's error text stays as the
    /// OS gives it.
    pub fn message(&self, lang: Lang) -> String {
        let (path, source) = (&self.path, self.source.message(lang));
        tr!(
            lang,
            "ログ {path} を開けません: {source}",
            "cannot open the log {path}: {source}"
        )
    }
}

/// Why the log had to be reopened during a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reopened {
    /// The file at the log path is gone or is another file (deleted, moved away by logrotate).
    Replaced,
    /// The file shrank: another program truncated it (an older client embedding the Python
    /// monitor opens the same log with mode `w`).
    Truncated,
}

/// The open log.
pub struct LogSink {
    path: PathBuf,
    file: File,
    /// A regular file named by the path itself: rotated and checked. Anything else (a
    /// device, memmon's own stdout) is written as is.
    regular: bool,
    size: u64,
    /// Device and inode of `file`, to tell whether the path still names it without an `fstat`.
    id: (u64, u64),
    /// When the path was last checked (`None`: never).
    checked_at: Option<Instant>,
    options: SinkOptions,
    lines: Lines,
    /// Why the log path names nothing memmon may write while the file memmon had open is
    /// deleted (a FIFO moved over the log, its directory removed): samples are then counted as
    /// lost instead of written into a file nobody can read, until the path works again.
    detached: Option<String>,
    /// Samples (and samples a lost-samples line named) whose lines went into `file` after it
    /// was deleted: in no file, so counted as lost once the next check knows why (see
    /// `count_if_deleted`).
    nowhere: u64,
    /// Whether the deletion of `file` was said on stderr.
    told_deleted: bool,
    told_truncated: bool,
    /// The index (0: the log itself, N: `log.N`) of the newest file that holds an earlier
    /// run, which this run's rotations must not delete.
    earlier: Option<u32>,
    /// Whether the "keeps growing" notice was given.
    told_kept: bool,
}

impl LogSink {
    /// Opens the log for appending, rotating it first when it is a regular file over the limit
    /// (the run boundary). Creates it with mode 0644 (less under the umask); a symlink at the
    /// log path is followed only as `sink/open.rs` allows.
    pub fn open(path: &Path, options: SinkOptions) -> Result<Self, OpenError> {
        let err = |source: Failure| OpenError {
            path: path.display().to_string(),
            source,
        };
        let mut rotated = false;
        if let Ok(meta) = fs::symlink_metadata(path) {
            if meta.file_type().is_file() && meta.len() > 0 && meta.len() >= options.max_bytes {
                rotate(path, options.keep).map_err(|e| err(e.into()))?;
                rotated = options.keep > 0;
            }
        }
        let Opened { file, regular } = open_log(path).map_err(err)?;
        let meta = file.metadata().map_err(|e| err(e.into()))?;
        // Where the newest earlier run is: rotated away to `.1` just now, or in this file.
        let earlier = if rotated {
            Some(1)
        } else {
            (regular && meta.len() > 0).then_some(0)
        };
        Ok(LogSink {
            earlier,
            told_kept: false,
            path: path.to_path_buf(),
            regular,
            size: meta.len(),
            id: (meta.dev(), meta.ino()),
            checked_at: None,
            file,
            options,
            lines: Lines::default(),
            detached: None,
            nowhere: 0,
            told_deleted: false,
            told_truncated: false,
        })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Failed writes so far (exported as `memmon_log_write_errors_total`).
    pub fn errors_total(&self) -> u64 {
        self.lines.errors_total()
    }

    /// Writes the records in one write. `samples` is how many sample lines they hold (the
    /// sink counts them itself, line by line, when a write fails partway; this is checked in
    /// debug builds). Returns whether the write succeeded. After a write to a regular file, an
    /// `fstat` tells whether the file was deleted: then this write's samples are in no file and
    /// are counted as lost, and the next [`reopen_if_moved_now_and_then`](Self::reopen_if_moved_now_and_then)
    /// checks the path at once.
    pub fn write(&mut self, format: &LogFormat, records: &[Record], samples: u64) -> bool {
        debug_assert_eq!(
            samples,
            records
                .iter()
                .filter(|r| matches!(r, Record::Sample(_)))
                .count() as u64
        );
        if let Some(reason) = &self.detached {
            // Said on stderr when the log was found unusable.
            self.lines.lost_unwritten(reason, samples);
            return false;
        }
        let report = self.lines.write(&mut &self.file, format, records);
        self.size += report.bytes;
        if self.regular && report.bytes > 0 {
            // A lost-samples line that went into a deleted file names its samples nowhere:
            // they are named again in the next file.
            self.count_if_deleted(report.reached + report.named);
        }
        if let Some(e) = report.error {
            if report.began {
                self.say_failing(&e.to_string());
            }
            return false;
        }
        if self.options.sync && self.regular {
            if let Err(e) = self.file.sync_data() {
                if self.lines.failed_after_writing(&e) {
                    self.say_failing(&e.to_string());
                }
                return false;
            }
        }
        if let Some(lost) = report.recovered {
            let path = self.path.display();
            say!(
                "memmon: {}",
                tr!(
                    current(),
                    "ログ {path} にまた書けるようになりました ({lost} 件のサンプルが失われました)",
                    "writing to the log {path} works again ({lost} samples were lost)"
                )
            );
        }
        true
    }

    /// Lines written into a deleted file are in no file: `rm`, or the log's directory removed,
    /// between two of the path checks (about a second apart) sent every sample of that second
    /// into the deleted file, uncounted. So after every write one `fstat` of the open file
    /// (no path walk: far cheaper than the sample itself) asks whether it still has a name
    /// (`st_nlink`). When it has none, the write's samples are counted and the path is checked
    /// at the next write instead of up to a second later; that check names the reason (the
    /// file was deleted, or why the path cannot be opened again) in the lost-samples line.
    /// A deletion that falls between a write and its `fstat` counts that write's samples as
    /// lost although they reached the file just before it was deleted: the count is never
    /// below what is missing, and above it by one write at most, in a window of microseconds.
    /// A file moved away keeps its name (`st_nlink` stays 1), so its lines go on into it.
    fn count_if_deleted(&mut self, samples: u64) {
        let deleted = self.file.metadata().is_ok_and(|m| m.nlink() == 0);
        if !deleted {
            return;
        }
        self.nowhere += samples;
        self.checked_at = None;
        if !self.told_deleted {
            self.told_deleted = true;
            let path = self.path.display();
            say!(
                "memmon: {}",
                tr!(
                    current(),
                    "ログ {path} が削除されました。削除されたファイルに書いたサンプルは失われたものとして数え、パスを開き直します",
                    "the log {path} was deleted; samples written to the deleted file are counted as lost, and the path is opened again"
                )
            );
        }
    }

    /// Hands the samples that went into the deleted file to the lost-samples accounting.
    fn count_nowhere(&mut self, reason: &str) {
        if self.nowhere > 0 {
            self.lines.lost_unwritten(reason, self.nowhere);
            self.nowhere = 0;
        }
    }

    fn say_failing(&self, e: &str) {
        let path = self.path.display();
        say!(
            "memmon: {}",
            tr!(
                current(),
                "ログ {path} に書けません: {e}。監視は続け、サンプルごとに書き直します",
                "cannot write to the log {path}: {e}; monitoring goes on and retries at every sample"
            )
        );
    }

    /// [`reopen_if_moved`](Self::reopen_if_moved), at most once per [`MOVED_CHECK_EVERY`]: for
    /// every sample. The footer calls `reopen_if_moved` itself, so it is never written into a
    /// file moved away in the last second.
    pub fn reopen_if_moved_now_and_then(&mut self) -> Option<Reopened> {
        let now = Instant::now();
        if self
            .checked_at
            .is_some_and(|at| now.saturating_duration_since(at) < MOVED_CHECK_EVERY)
        {
            return None;
        }
        self.checked_at = Some(now);
        self.reopen_if_moved()
    }

    /// Notices a log that was deleted, moved away or truncated by another program since the
    /// last write, and reopens it. One `lstat` of the path: while it names our file (same device
    /// and inode as when we opened it) its size is our file's size. A log that is not a regular
    /// file (`/dev/stdout`, `/dev/full`) is never checked.
    pub fn reopen_if_moved(&mut self) -> Option<Reopened> {
        if !self.regular {
            return None;
        }
        match fs::symlink_metadata(&self.path) {
            Ok(there) if (there.dev(), there.ino()) == self.id => {
                if there.len() >= self.size {
                    return None;
                }
                self.size = there.len();
                if !self.told_truncated {
                    self.told_truncated = true;
                    let path = self.path.display();
                    say!(
                        "memmon: {}",
                        tr!(
                            current(),
                            "ログ {path} が別のプログラムに切り詰められました (Python のモニターを組み込んだ古いクライアントはモード 'w' で開きます)。memmon は追記を続けますが、memmon 専用のファイルを指定してください: 設定の memory_monitor ブロックの `log_file`、または --log",
                            "the log {path} was truncated by another program (an older client that embeds the Python monitor opens it with mode 'w'); memmon goes on appending, but give memmon a file of its own: `log_file` in the memory_monitor block of the config, or --log"
                        )
                    );
                }
                Some(Reopened::Truncated)
            }
            _ => match open_log(&self.path) {
                Ok(opened) => {
                    self.reset_to(opened);
                    Some(Reopened::Replaced)
                }
                Err(e) => {
                    // The path names something memmon must not write (a FIFO moved over the
                    // log: refused without blocking) or nothing it can create. While the file
                    // memmon has open is still linked somewhere (moved away), lines go on into
                    // it; once it is deleted they would go where nobody can read them, so they
                    // are counted as lost instead, and the path is tried again at each check.
                    let deleted = self.file.metadata().map_or(true, |m| m.nlink() == 0);
                    if deleted && self.detached.is_none() {
                        self.say_failing(&e.message(current()));
                        self.detached = Some(e.message(Lang::Ja));
                    }
                    if let Some(reason) = self.detached.clone() {
                        // Those that went into the deleted file are lost for the same reason
                        // as those that follow: the path cannot be opened again.
                        self.count_nowhere(&reason);
                    }
                    None
                }
            },
        }
    }

    /// Whether the log (a regular file) has passed the size limit.
    pub fn over_limit(&self) -> bool {
        self.regular && self.size > self.options.max_bytes
    }

    /// Rotates now (mid-run) and reopens a fresh file; the caller writes a continuation header
    /// when this returns `Ok(true)`. The newest file that holds an earlier run (the crash being
    /// investigated) is never deleted by a rotation of this run: when it would be, the files of
    /// this run are rotated below it instead, and with `keep_logs` 1 the log keeps growing
    /// (`Ok(false)`, said once on stderr).
    pub fn rotate_now(&mut self) -> io::Result<bool> {
        let keep = self.options.keep;
        match self.earlier {
            Some(at) if keep > 0 && at >= keep => {
                if keep == 1 {
                    if !self.told_kept {
                        self.told_kept = true;
                        let path = self.path.display();
                        say!(
                            "memmon: {}",
                            tr!(
                                current(),
                                "ログ {path} は max_log_mb を超えましたが、ローテーションすると以前の実行を持つ唯一のファイル {path}.1 が消えます (keep_logs が 1)。ログはこのまま大きくなります",
                                "the log {path} is past max_log_mb, but rotating it would delete {path}.1, the only file with an earlier run (keep_logs is 1); the log keeps growing"
                            )
                        );
                    }
                    return Ok(false);
                }
                rotate_below(&self.path, keep)?;
            }
            Some(at) => {
                rotate(&self.path, keep)?;
                self.earlier = (keep > 0).then_some(at + 1);
            }
            None => rotate(&self.path, keep)?,
        }
        let opened = open_log(&self.path)?;
        self.reset_to(opened);
        Ok(true)
    }

    /// Makes `opened`, just opened at the log path, the log. A line the last failed write cut
    /// short is completed in the file being left first, where it began.
    fn reset_to(&mut self, opened: Opened) {
        self.lines.finish_in(&mut &self.file);
        // The log language is Japanese whatever `--lang` says (the spec's lines).
        self.count_nowhere(DELETED_REASON);
        self.told_deleted = false;
        match opened.file.metadata() {
            Ok(meta) => {
                self.size = meta.len();
                self.id = (meta.dev(), meta.ino());
                self.regular = opened.regular;
            }
            Err(_) => {
                // An fstat of a file just opened does not fail in practice; if it does, the
                // file is treated as not regular (never checked or rotated), as it always was.
                self.size = 0;
                self.regular = false;
                self.id = (0, 0);
            }
        }
        self.file = opened.file;
        self.detached = None;
    }
}

/// Rotation that keeps `log.keep` (the newest earlier run) where it is: `log.(keep-1)`, a file
/// of this run, is removed, and `log` → `log.1` … `log.(keep-2)` → `log.(keep-1)` (keep ≥ 2).
fn rotate_below(path: &Path, keep: u32) -> io::Result<()> {
    rotate(path, keep - 1)
}

/// `log` → `log.1` → `log.2` … keeping `keep` files; with 0 the log is removed.
fn rotate(path: &Path, keep: u32) -> io::Result<()> {
    if keep == 0 {
        return fs::remove_file(path);
    }
    let numbered = |n: u32| {
        let mut s = path.as_os_str().to_os_string();
        s.push(format!(".{n}"));
        PathBuf::from(s)
    };
    match fs::remove_file(numbered(keep)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    for n in (1..keep).rev() {
        match fs::rename(numbered(n), numbered(n + 1)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    fs::rename(path, numbered(1))
}
