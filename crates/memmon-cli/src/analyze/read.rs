//! Streaming line reading: bytes split on `\n`, each line decoded on its own, so a log with a
//! stretch of invalid UTF-8 (a mixed-encoding paste, a power cut's zero-filled block) loses only
//! those lines. Memory stays bounded by [`MAX_LINE`] however long the file or its lines.

use jiff::civil::DateTime;
use memmon_format::{parse_line, Record};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// Longest line kept; any longer line is garbage (no memmon line is near it), and keeping it
/// whole would let one newline-free file fill the memory.
pub const MAX_LINE: usize = 64 * 1024;

/// Read buffer size: large enough that a sample line never straddles many refills.
const BUF_SIZE: usize = 256 * 1024;

/// One line as read.
#[derive(Debug, PartialEq)]
pub enum Line<'a> {
    /// A line in UTF-8 (without its `\n`); `terminated` is false for a last line with no `\n`.
    Text {
        /// The text.
        text: &'a str,
        /// Whether a `\n` ended it.
        terminated: bool,
    },
    /// Not UTF-8, or longer than [`MAX_LINE`]; `terminated` as above.
    Invalid {
        /// Whether a `\n` ended it.
        terminated: bool,
    },
}

/// Splits a byte stream into [`Line`]s, reusing one buffer.
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
}

impl<R: BufRead> LineReader<R> {
    /// Reads lines from `inner`.
    pub fn new(inner: R) -> Self {
        LineReader {
            inner,
            buf: Vec::with_capacity(512),
        }
    }

    /// The next line, `None` at the end.
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        self.buf.clear();
        // `read_until` finds the `\n` with std's fast memchr; `take` caps the line's length.
        let limit = MAX_LINE as u64 + 1;
        let n = read_until_retrying(&mut Read::take(&mut self.inner, limit), &mut self.buf)?;
        if n == 0 {
            return Ok(None);
        }
        let terminated = self.buf.last() == Some(&b'\n');
        if terminated {
            self.buf.pop();
        } else if self.buf.len() > MAX_LINE {
            // Overlong: drop the rest of it too; it is garbage whatever its tail.
            let rest = loop {
                match self.inner.skip_until(b'\n') {
                    Ok(k) => break k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            };
            return Ok(Some(Line::Invalid {
                terminated: rest > 0,
            }));
        }
        Ok(Some(match std::str::from_utf8(&self.buf) {
            Ok(text) => Line::Text { text, terminated },
            Err(_) => Line::Invalid { terminated },
        }))
    }
}

/// `read_until`, retried on `Interrupted` (it may have appended part of the line already;
/// a retry appends the rest, as `read_until` itself does internally).
fn read_until_retrying(r: &mut impl BufRead, buf: &mut Vec<u8>) -> io::Result<usize> {
    let mut total = 0;
    loop {
        match r.read_until(b'\n', buf) {
            Ok(n) => return Ok(total + n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => total = buf.len(),
            Err(e) => return Err(e),
        }
    }
}

/// Opens a log for reading, with a large buffer.
pub fn open(path: &Path) -> io::Result<LineReader<BufReader<File>>> {
    let file = File::open(path)?;
    Ok(LineReader::new(BufReader::with_capacity(BUF_SIZE, file)))
}

/// What the quick first look at a file found.
#[derive(Debug, Clone)]
pub struct FileInfo {
    /// The file as given.
    pub path: PathBuf,
    /// The first header or sample time: the key that orders rotated files.
    pub first_time: DateTime,
}

/// Why a file cannot be analysed.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Missing, unreadable, a directory…
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// Readable but holds no sample line and no footer (not a memory_usage.log, or empty).
    #[error("{}: no sample line (not a memory_usage.log?)", path.display())]
    NoSample {
        /// The file.
        path: PathBuf,
    },
}

/// Reads a file up to its first sample line: its first time (header or sample) orders the
/// files, and a file with no sample at all is refused before anything is written. A footer
/// counts as a sample here: a run that ended before its first sample (a command that exited
/// during the start-up delay) is a memmon log too. Stops at the first sample or footer, so the
/// cost is a few lines for a real log.
pub fn scan(path: &Path) -> Result<FileInfo, FileError> {
    let io_err = |source| FileError::Io {
        path: path.to_owned(),
        source,
    };
    let mut lines = open(path).map_err(io_err)?;
    let mut first_time = None;
    while let Some(line) = lines.next_line().map_err(io_err)? {
        let Line::Text { text, .. } = line else {
            continue;
        };
        match parse_line(text) {
            Record::Start { at } | Record::Continue { at } => {
                first_time.get_or_insert(at);
            }
            Record::Sample(s) => {
                return Ok(FileInfo {
                    path: path.to_owned(),
                    first_time: first_time.unwrap_or(s.at),
                });
            }
            Record::End { at } => {
                return Ok(FileInfo {
                    path: path.to_owned(),
                    first_time: first_time.unwrap_or(at),
                });
            }
            _ => {}
        }
    }
    Err(FileError::NoSample {
        path: path.to_owned(),
    })
}

/// Scans every file and orders them by their first time, oldest first (rotated files
/// `memory_usage.log.2`, `.1`, then the live one, whatever order they were given in). Files
/// with the same first time keep the order given.
pub fn scan_all(paths: &[PathBuf]) -> Result<Vec<FileInfo>, FileError> {
    let mut infos = paths
        .iter()
        .map(|p| scan(p))
        .collect::<Result<Vec<_>, _>>()?;
    infos.sort_by_key(|i| i.first_time);
    Ok(infos)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn lines(bytes: &[u8]) -> Vec<String> {
        let mut r = LineReader::new(bytes);
        let mut out = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            out.push(match l {
                Line::Text { text, terminated } => format!("{text}|{terminated}"),
                Line::Invalid { terminated } => format!("<invalid>|{terminated}"),
            });
        }
        out
    }

    #[test]
    fn splits_on_newline_and_flags_invalid_and_unterminated() {
        assert_eq!(
            lines(b"a\n\xff\xfe\nb\n\ncut"),
            ["a|true", "<invalid>|true", "b|true", "|true", "cut|false"]
        );
        assert!(lines(b"").is_empty());
        assert_eq!(lines(b"x\n"), ["x|true"]);
    }

    #[test]
    fn overlong_line_is_invalid_and_reading_goes_on() {
        let mut data = vec![b'z'; MAX_LINE + 10];
        data.extend_from_slice(b"\nok\n");
        // A tiny buffer makes the long line span many refills.
        let mut r = LineReader::new(BufReader::with_capacity(7, &data[..]));
        assert_eq!(
            r.next_line().unwrap(),
            Some(Line::Invalid { terminated: true })
        );
        assert_eq!(
            r.next_line().unwrap(),
            Some(Line::Text {
                text: "ok",
                terminated: true
            })
        );
        assert_eq!(r.next_line().unwrap(), None);
    }
}
