//! The log file: appended, one write per sample, rotated by size, and never a reason to stop.
//!
//! A write failure (full disk, a device that refuses) is reported once on stderr, the samples
//! are counted as lost, and every later sample retries; when a write works again the log gets
//! the spec's lost-samples line first.

use crate::console::say;
use crate::lang::current;
use crate::lang::{tr, Lang};
use memmon_format::{LogFormat, Record};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often a sample checks whether the log was moved, deleted or truncated (see
/// [`LogSink::reopen_if_moved_now_and_then`]): about once a second, so a fast interval does not
/// pay a `stat` per sample, and a moved log is still found within a second or so.
pub const MOVED_CHECK_EVERY: Duration = Duration::from_secs(1);

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
    source: io::Error,
}

impl OpenError {
    /// The message in `lang` (`Display` is the English one); the OS's error text stays as the
    /// OS gives it.
    pub fn message(&self, lang: Lang) -> String {
        let (path, source) = (&self.path, &self.source);
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

struct Failing {
    reason: String,
    lost: u64,
}

/// The open log.
pub struct LogSink {
    path: PathBuf,
    file: File,
    regular: bool,
    size: u64,
    /// Device and inode of `file`, to tell whether the path still names it without an `fstat`.
    id: (u64, u64),
    /// When the path was last checked (`None`: never).
    checked_at: Option<Instant>,
    options: SinkOptions,
    buf: Vec<u8>,
    failing: Option<Failing>,
    errors_total: u64,
    told_truncated: bool,
    /// The index (0: the log itself, N: `log.N`) of the newest file that holds an earlier
    /// run, which this run's rotations must not delete.
    earlier: Option<u32>,
    /// Whether the "keeps growing" notice was given.
    told_kept: bool,
}

impl LogSink {
    /// Opens the log for appending, rotating it first when it is a regular file over the limit
    /// (the run boundary). Creates it with mode 0644 (less under the umask) and never follows a
    /// symlink at the log path.
    pub fn open(path: &Path, options: SinkOptions) -> Result<Self, OpenError> {
        let err = |source| OpenError {
            path: path.display().to_string(),
            source,
        };
        let mut rotated = false;
        if let Ok(meta) = fs::symlink_metadata(path) {
            if meta.file_type().is_file() && meta.len() > 0 && meta.len() >= options.max_bytes {
                rotate(path, options.keep).map_err(err)?;
                rotated = options.keep > 0;
            }
        }
        let file = open_append(path).map_err(err)?;
        let meta = file.metadata().map_err(err)?;
        // Where the newest earlier run is: rotated away to `.1` just now, or in this file.
        let earlier = if rotated {
            Some(1)
        } else {
            (meta.file_type().is_file() && meta.len() > 0).then_some(0)
        };
        Ok(LogSink {
            earlier,
            told_kept: false,
            path: path.to_path_buf(),
            regular: meta.file_type().is_file(),
            size: meta.len(),
            id: (meta.dev(), meta.ino()),
            checked_at: None,
            file,
            options,
            buf: Vec::with_capacity(4096),
            failing: None,
            errors_total: 0,
            told_truncated: false,
        })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Failed writes so far (exported as `memmon_log_write_errors_total`).
    pub fn errors_total(&self) -> u64 {
        self.errors_total
    }

    /// Writes the records in one write. `samples` is how many sample lines they hold, counted as
    /// lost when the write fails. Returns whether the write succeeded.
    pub fn write(&mut self, format: &LogFormat, records: &[Record], samples: u64) -> bool {
        self.buf.clear();
        if let Some(f) = &self.failing {
            if f.lost > 0 {
                let line = format.lost_samples(f.lost, &f.reason);
                memmon_format::append_records(&mut self.buf, std::slice::from_ref(&line));
            }
        }
        memmon_format::append_records(&mut self.buf, records);
        let result = self.file.write_all(&self.buf).and_then(|()| {
            if self.options.sync && self.regular {
                self.file.sync_data()
            } else {
                Ok(())
            }
        });
        match result {
            Ok(()) => {
                self.size += self.buf.len() as u64;
                if let Some(f) = self.failing.take() {
                    let (path, lost) = (self.path.display(), f.lost);
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
            Err(e) => {
                self.errors_total += 1;
                match &mut self.failing {
                    Some(f) => f.lost += samples,
                    None => {
                        let path = self.path.display();
                        say!(
                            "memmon: {}",
                            tr!(
                                current(),
                                "ログ {path} に書けません: {e}。監視は続け、サンプルごとに書き直します",
                                "cannot write to the log {path}: {e}; monitoring goes on and retries at every sample"
                            )
                        );
                        self.failing = Some(Failing {
                            reason: e.to_string(),
                            lost: samples,
                        });
                    }
                }
                false
            }
        }
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
            _ => {
                let file = open_append(&self.path).ok()?;
                self.reset_to(file);
                Some(Reopened::Replaced)
            }
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
        let file = open_append(&self.path)?;
        self.reset_to(file);
        Ok(true)
    }

    /// Makes `file`, just opened at the log path, the log.
    fn reset_to(&mut self, file: File) {
        match file.metadata() {
            Ok(meta) => {
                self.size = meta.len();
                self.regular = meta.file_type().is_file();
                self.id = (meta.dev(), meta.ino());
            }
            Err(_) => {
                // An fstat of a file just opened does not fail in practice; if it does, the
                // file is treated as not regular (never checked or rotated), as it always was.
                self.size = 0;
                self.regular = false;
                self.id = (0, 0);
            }
        }
        self.file = file;
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::FileTypeExt;
    // O_NONBLOCK: a FIFO planted at the log path would otherwise block `open` until a reader
    // comes, and the command would never start (with no reader it fails at once: ENXIO).
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(path)?;
    let kind = file.metadata()?.file_type();
    if kind.is_fifo() || kind.is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file or a device (a FIFO or a socket would block memmon)",
        ));
    }
    // Writes to a terminal or another device block as they always did.
    rustix::fs::fcntl_setfl(&file, rustix::fs::OFlags::APPEND)?;
    Ok(file)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("memmon-sink-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn rotation_keeps_n_files_in_order() {
        let d = tmpdir("rotate");
        let log = d.join("memory_usage.log");
        for gen in 0..4 {
            fs::write(&log, format!("gen{gen}")).unwrap();
            rotate(&log, 2).unwrap();
        }
        assert!(!log.exists());
        assert_eq!(
            fs::read_to_string(d.join("memory_usage.log.1")).unwrap(),
            "gen3"
        );
        assert_eq!(
            fs::read_to_string(d.join("memory_usage.log.2")).unwrap(),
            "gen2"
        );
        assert!(!d.join("memory_usage.log.3").exists());
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_fast_run_never_rotates_away_the_newest_earlier_run() {
        let format = LogFormat::system();
        let line = [Record::Other("x".repeat(100))];
        for keep in [1u32, 2, 3] {
            let d = tmpdir(&format!("protect-{keep}"));
            let log = d.join("m.log");
            fs::write(&log, "the crash being investigated\n").unwrap();
            let opts = SinkOptions {
                max_bytes: 300,
                keep,
                sync: false,
            };
            let mut sink = LogSink::open(&log, opts).unwrap();
            let mut rotations = 0;
            for _ in 0..40 {
                sink.write(&format, &line, 1);
                if sink.over_limit() && sink.rotate_now().unwrap() {
                    rotations += 1;
                }
            }
            let holders: Vec<String> = std::iter::once(log.clone())
                .chain((1..=keep).map(|n| d.join(format!("m.log.{n}"))))
                .filter(|p| {
                    fs::read_to_string(p).is_ok_and(|t| t.contains("the crash being investigated"))
                })
                .map(|p| p.display().to_string())
                .collect();
            assert_eq!(holders.len(), 1, "keep {keep}: {holders:?}");
            assert!(!d.join(format!("m.log.{}", keep + 1)).exists());
            if keep == 1 {
                // One rotation moved it to .1; after that the log grows instead.
                assert_eq!(rotations, 1);
                assert!(fs::metadata(&log).unwrap().len() > 300);
            } else {
                assert!(rotations > 5, "keep {keep}: {rotations}");
                assert!(holders[0].ends_with(&format!(".{keep}")), "{holders:?}");
            }
            fs::remove_dir_all(d).unwrap();
        }
    }

    #[test]
    fn writing_resumes_after_a_failure_with_the_lost_samples_line() {
        let d = tmpdir("resume");
        let opts = SinkOptions {
            max_bytes: 1 << 20,
            keep: 1,
            sync: false,
        };
        let format = LogFormat::system();
        let line = [Record::Other("a sample".into())];
        let mut sink = LogSink::open(Path::new("/dev/full"), opts).unwrap();
        assert!(!sink.regular, "/dev/full is never rotated or checked");
        assert!(!sink.write(&format, &line, 1));
        assert!(!sink.write(&format, &line, 1));
        assert!(!sink.write(&format, &line, 0));
        assert_eq!(sink.errors_total(), 3);
        // Space returns: the same sink now writes to a regular file.
        let log = d.join("m.log");
        sink.file = open_append(&log).unwrap();
        assert!(sink.write(&format, &line, 1));
        assert!(sink.write(&format, &line, 1));
        assert_eq!(
            fs::read_to_string(&log).unwrap(),
            "⚠️ [memmon] 2件のサンプルをログに書けませんでした (No space left on device (os error 28))\na sample\na sample\n"
        );
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn deleted_moved_and_truncated_logs_are_noticed() {
        let d = tmpdir("moved");
        let log = d.join("m.log");
        let opts = SinkOptions {
            max_bytes: 1 << 20,
            keep: 1,
            sync: false,
        };
        let format = LogFormat::system();
        let line = [Record::Other("line".into())];
        let mut sink = LogSink::open(&log, opts).unwrap();
        assert!(sink.write(&format, &line, 1));
        assert_eq!(sink.reopen_if_moved(), None);
        fs::rename(&log, d.join("m.log.old")).unwrap();
        assert_eq!(sink.reopen_if_moved(), Some(Reopened::Replaced));
        assert!(sink.write(&format, &line, 1));
        assert_eq!(fs::read_to_string(&log).unwrap(), "line\n");
        fs::remove_file(&log).unwrap();
        assert_eq!(sink.reopen_if_moved(), Some(Reopened::Replaced));
        assert!(log.exists());
        assert!(sink.write(&format, &line, 1));
        assert!(sink.write(&format, &line, 1));
        fs::write(&log, "").unwrap();
        assert_eq!(sink.reopen_if_moved(), Some(Reopened::Truncated));
        assert_eq!(sink.reopen_if_moved(), None);
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn samples_check_the_log_at_most_once_a_second() {
        let d = tmpdir("now-and-then");
        let log = d.join("m.log");
        let opts = SinkOptions {
            max_bytes: 1 << 20,
            keep: 1,
            sync: false,
        };
        let mut sink = LogSink::open(&log, opts).unwrap();
        assert_eq!(sink.reopen_if_moved_now_and_then(), None);
        fs::rename(&log, d.join("m.log.old")).unwrap();
        // Checked a moment ago: not again yet.
        assert_eq!(sink.reopen_if_moved_now_and_then(), None);
        // A second later the move is noticed.
        sink.checked_at = sink.checked_at.map(|t| t - MOVED_CHECK_EVERY);
        assert_eq!(
            sink.reopen_if_moved_now_and_then(),
            Some(Reopened::Replaced)
        );
        assert!(log.exists());
        // The unconditional check (before the footer) never waits.
        fs::remove_file(&log).unwrap();
        assert_eq!(sink.reopen_if_moved(), Some(Reopened::Replaced));
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn open_refuses_a_symlink_at_the_log_path() {
        let d = tmpdir("symlink");
        let target = d.join("target");
        fs::write(&target, "precious").unwrap();
        let log = d.join("memory_usage.log");
        std::os::unix::fs::symlink(&target, &log).unwrap();
        let opts = SinkOptions {
            max_bytes: 1 << 20,
            keep: 1,
            sync: false,
        };
        assert!(LogSink::open(&log, opts).is_err());
        assert_eq!(fs::read_to_string(&target).unwrap(), "precious");
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn open_error_in_both_languages() {
        let log = Path::new("/nonexistent-memmon-dir/memory_usage.log");
        let opts = SinkOptions {
            max_bytes: 1 << 20,
            keep: 1,
            sync: false,
        };
        let Err(e) = LogSink::open(log, opts) else {
            panic!("opened a log in a missing directory")
        };
        let ja = e.message(Lang::Ja);
        assert!(
            ja.starts_with("ログ /nonexistent-memmon-dir/memory_usage.log を開けません: "),
            "{ja}"
        );
        assert_eq!(e.message(Lang::En), e.to_string());
        assert!(e
            .to_string()
            .starts_with("cannot open the log /nonexistent-memmon-dir/"));
    }
}
