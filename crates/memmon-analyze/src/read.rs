//! Streaming line reading: bytes split on `\n`, each line decoded on its own, so a log with a
//! stretch of invalid UTF-8 (a mixed-encoding paste, a power cut's zero-filled block) loses only
//! those lines. Memory stays bounded by [`MAX_LINE`] however long the file or its lines.

use jiff::civil::DateTime;
use memmon_format::{parse_line, Record};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::FileTypeExt;
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

/// The lines of an input, from its start, as [`FileInfo::lines`] gives them.
pub type Lines = LineReader<Box<dyn BufRead>>;

/// What the quick first look at a file found.
#[derive(Debug)]
pub struct FileInfo {
    /// The file as given.
    pub path: PathBuf,
    /// The first header or sample time: the key that orders rotated files.
    pub first_time: DateTime,
    /// A pipe, FIFO or terminal (`/dev/stdin`, `<(…)`) can be read only once: the bytes the
    /// first look took, and the stream to read on from. `None` for a file, which is reopened.
    stream: Option<Stream>,
}

/// A stream part read: what was read so far, and the rest still in the kernel.
struct Stream {
    seen: Vec<u8>,
    rest: File,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Stream({} bytes seen)", self.seen.len())
    }
}

impl FileInfo {
    /// Every line of the input from its start: a file is opened again; a stream goes on
    /// after the bytes its first look already took, so nothing is read twice or lost.
    pub fn lines(self) -> io::Result<Lines> {
        let reader: Box<dyn BufRead> = match self.stream {
            None => Box::new(BufReader::with_capacity(BUF_SIZE, File::open(&self.path)?)),
            Some(Stream { seen, rest }) => Box::new(BufReader::with_capacity(
                BUF_SIZE,
                io::Cursor::new(seen).chain(rest),
            )),
        };
        Ok(LineReader::new(reader))
    }
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
    /// Readable but holds no sample line, footer or header (not a memory_usage.log).
    #[error("{}: no sample line (not a memory_usage.log?)", path.display())]
    NoSample {
        /// The file.
        path: PathBuf,
    },
    /// Every input is empty: there is nothing to analyse.
    #[error("{}: empty (no log to analyse)", paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    AllEmpty {
        /// The files.
        paths: Vec<PathBuf>,
    },
}

/// How much of a stream the first look keeps while it looks for the first time: a stream
/// cannot be read twice, so what it read is replayed; past this, memory would grow with a
/// stream of garbage.
const STREAM_LOOK_LIMIT: usize = 8 * 1024 * 1024;

/// A reader that keeps a copy of everything read through it (a stream's first look), up to
/// [`STREAM_LOOK_LIMIT`].
struct Recorder {
    inner: File,
    seen: Vec<u8>,
}

impl Read for Recorder {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.seen.len() >= STREAM_LOOK_LIMIT {
            return Err(io::Error::other(format!(
                "no memmon line in the first {} MiB of the stream",
                STREAM_LOOK_LIMIT >> 20
            )));
        }
        let n = self.inner.read(buf)?;
        self.seen.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

/// What the first look at one input found.
enum Look {
    /// A time to order it by.
    Found(DateTime),
    /// Nothing but whitespace: logrotate's freshly created or emptied file.
    Empty,
    /// Content, but no line memmon wrote.
    NoSample,
}

/// Reads lines up to the first sample line. Its time (or an earlier header's) orders the
/// files. A footer counts as a sample here: a run that ended before its first sample (a command
/// that exited during the start-up delay) is a memmon log too. A file that holds only headers
/// (the live log just after a rotation: a continuation header, or a start header before the
/// first sample) is a log too: it continues or starts a run. Stops at the first sample or
/// footer, so the cost is a few lines for a real log.
fn look(lines: &mut LineReader<impl BufRead>) -> io::Result<Look> {
    let mut first_time = None;
    let mut content = false;
    while let Some(line) = lines.next_line()? {
        let text = match line {
            Line::Text { text, .. } => text,
            Line::Invalid { .. } => {
                content = true;
                continue;
            }
        };
        content |= !text.trim().is_empty();
        match parse_line(text) {
            Record::Start { at } | Record::Continue { at } => {
                first_time.get_or_insert(at);
            }
            Record::Sample(s) => return Ok(Look::Found(first_time.unwrap_or(s.at))),
            Record::End { at } => return Ok(Look::Found(first_time.unwrap_or(at))),
            _ => {}
        }
    }
    Ok(match (first_time, content) {
        (Some(at), _) => Look::Found(at),
        (None, false) => Look::Empty,
        (None, true) => Look::NoSample,
    })
}

/// The first look at one input: `Ok(None)` for an empty one.
pub fn scan(path: &Path) -> Result<Option<FileInfo>, FileError> {
    let io_err = |source| FileError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    // The type of what was opened (fstat), never its size: a pipe has none.
    let kind = file.metadata().map_err(io_err)?.file_type();
    let is_stream = kind.is_fifo() || kind.is_char_device() || kind.is_socket();
    let (found, stream) = if is_stream {
        let recorder = Recorder {
            inner: file,
            seen: Vec::new(),
        };
        let mut lines = LineReader::new(BufReader::with_capacity(BUF_SIZE, recorder));
        // The look reads through the recorder, so its copy holds every byte taken from the
        // stream, also those still in the buffer.
        let found = look(&mut lines).map_err(io_err)?;
        let recorder = lines.inner.into_inner();
        (
            found,
            Some(Stream {
                seen: recorder.seen,
                rest: recorder.inner,
            }),
        )
    } else {
        let mut lines = LineReader::new(BufReader::with_capacity(BUF_SIZE, file));
        (look(&mut lines).map_err(io_err)?, None)
    };
    match found {
        Look::Found(first_time) => Ok(Some(FileInfo {
            path: path.to_owned(),
            first_time,
            stream,
        })),
        Look::Empty => Ok(None),
        Look::NoSample => Err(FileError::NoSample {
            path: path.to_owned(),
        }),
    }
}

/// The inputs in reading order, and the empty ones left out.
#[derive(Debug)]
pub struct Inputs {
    /// The files to read, oldest first.
    pub files: Vec<FileInfo>,
    /// Empty files (logrotate's fresh or emptied ones): they add nothing, and the report says
    /// they were skipped.
    pub empty: Vec<PathBuf>,
}

/// Scans every file and orders them oldest first: by their first time, then within a
/// logrotate set (`memory_usage.log`, `.1`, `.2`, … `.10`) by the rotation number, highest
/// (oldest) first and the live file last. The number decides over the content time: a
/// copytruncate set's files can start in the same second, and a clock set at boot can move
/// the times, but logrotate's numbers never lie. Files of one time and no set keep the order
/// given.
pub fn scan_all(paths: &[PathBuf]) -> Result<Inputs, FileError> {
    let mut files = Vec::new();
    let mut empty = Vec::new();
    for path in paths {
        match scan(path)? {
            Some(info) => files.push(info),
            None => empty.push(path.clone()),
        }
    }
    if files.is_empty() && !empty.is_empty() {
        return Err(FileError::AllEmpty { paths: empty });
    }
    files.sort_by_key(|i| i.first_time);
    order_rotation_sets(&mut files);
    Ok(Inputs { files, empty })
}

/// `memory_usage.log.12` → (`memory_usage.log`, 12); the live `memory_usage.log` → (itself, 0).
fn rotation(path: &Path) -> (PathBuf, u64) {
    let number = path
        .extension()
        .and_then(|e| e.to_str())
        .filter(|e| e.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|e| e.parse::<u64>().ok())
        .filter(|&n| n > 0);
    match number {
        Some(n) => (path.with_extension(""), n),
        None => (path.to_owned(), 0),
    }
}

/// `base` with its directory spelled canonically, so `./m.log.1` and `m.log` are one set
/// (as given when the directory cannot be resolved).
fn same_dir_spelling(base: PathBuf) -> PathBuf {
    let dir = match base.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match (std::fs::canonicalize(dir), base.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => base,
    }
}

/// Within each logrotate set, puts the set's files, in the places the time order gave them,
/// in rotation order: highest number first, the live file (0) last.
fn order_rotation_sets(files: &mut Vec<FileInfo>) {
    let keys: Vec<(PathBuf, u64)> = files
        .iter()
        .map(|f| {
            let (base, n) = rotation(&f.path);
            (same_dir_spelling(base), n)
        })
        .collect();
    let mut slots: Vec<Option<FileInfo>> = files.drain(..).map(Some).collect();
    let mut placed = vec![false; keys.len()];
    let mut order: Vec<usize> = (0..keys.len()).collect();
    for i in 0..keys.len() {
        if placed[i] {
            continue;
        }
        let members: Vec<usize> = (i..keys.len())
            .filter(|&j| keys[j].0 == keys[i].0)
            .collect();
        let mut by_number = members.clone();
        by_number.sort_by_key(|&j| std::cmp::Reverse(keys[j].1));
        for (&at, &from) in members.iter().zip(&by_number) {
            order[at] = from;
            placed[at] = true;
        }
    }
    files.extend(order.into_iter().filter_map(|j| slots[j].take()));
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

    fn info(path: &str, minute: i8) -> FileInfo {
        FileInfo {
            path: PathBuf::from(path),
            first_time: jiff::civil::date(2025, 1, 1).at(0, minute, 0, 0),
            stream: None,
        }
    }

    #[test]
    fn rotation_numbers_order_a_set_even_against_its_times() {
        assert_eq!(rotation(Path::new("a/m.log.10")), ("a/m.log".into(), 10));
        assert_eq!(rotation(Path::new("m.log")), ("m.log".into(), 0));
        assert_eq!(rotation(Path::new("m.log.0")), ("m.log.0".into(), 0));
        assert_eq!(rotation(Path::new("m.log.1a")), ("m.log.1a".into(), 0));
        // The clock was set back between rotations (a Pi without an RTC): the live file and
        // `.1` look older than `.10` and `.2`; an unrelated log keeps its place by time.
        let mut files = vec![
            info("m.log", 0),
            info("other.log", 1),
            info("m.log.1", 2),
            info("m.log.2", 3),
            info("m.log.10", 4),
        ];
        order_rotation_sets(&mut files);
        let names: Vec<_> = files.iter().map(|f| f.path.to_string_lossy()).collect();
        assert_eq!(
            names,
            ["m.log.10", "other.log", "m.log.2", "m.log.1", "m.log"]
        );
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
