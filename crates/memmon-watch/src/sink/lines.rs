//! What reaches the file is whole lines, however writes fail.
//!
//! A write can stop partway (`ENOSPC` after some bytes, a non-blocking pipe that is full): the
//! bytes that made it end inside a line. That line's rest is kept and written before anything
//! else once writing works again, so the line is completed instead of glued to the next one (the
//! issue's `…| ピーク⚠️ [memmon] 67件のサンプル…`). A header that could not be written is kept too
//! and goes first, so a run started on a full disk still has its header. Every other line of a
//! failed write is dropped; the sample lines among them are counted and named in the spec's
//! lost-samples line when writing works again.

use memmon_format::{LogFormat, Record};
use std::io::{self, Write};

/// Past this many bytes kept, a further header that could not be written is dropped instead of
/// kept: the rest of one line plus a few headers is all that is ever kept in practice (a header
/// is kept once per run, and once per reopening of the log during a failure), so this only
/// bounds memmon's memory against a log that is moved away over and over on a full disk.
const KEEP_AT_MOST: usize = 16 * 1024;

/// A write failure in progress.
struct Failing {
    /// The error that began it, named in the lost-samples line.
    reason: String,
    /// Samples lost and not yet named in a lost-samples line in the file.
    unreported: u64,
    /// Samples lost since the failure began (said on stderr when writing works again).
    lost: u64,
}

/// What a write did.
#[derive(Debug)]
pub(super) struct Report {
    /// Bytes that reached the file (all of them, or the part before the error).
    pub bytes: u64,
    /// The error that stopped the write, if one did.
    pub error: Option<io::Error>,
    /// Whether this write began a failure (the caller says so once on stderr).
    pub began: bool,
    /// The samples lost during the failure that this write ended.
    pub recovered: Option<u64>,
    /// Sample lines that began in the file (whole, or begun and kept to be completed there).
    pub reached: u64,
    /// The samples named by a lost-samples line that began in the file.
    pub named: u64,
}

/// The lines on their way to the file, and the accounting of those that did not get there.
#[derive(Default)]
pub(super) struct Lines {
    /// Bytes the file must get before anything else, always whole lines once written: first
    /// the rest of a line a failed write cut short (`torn` bytes), then headers that could not
    /// be written.
    pending: Vec<u8>,
    /// How many of `pending`'s first bytes complete a line already begun in the file (0: the
    /// file ends with a whole line).
    torn: usize,
    failing: Option<Failing>,
    errors_total: u64,
    buf: Vec<u8>,
    segments: Vec<(usize, Part)>,
}

/// One piece of a write, by what happens to it when the write fails before its end.
#[derive(Debug, Clone, Copy)]
enum Part {
    /// Kept bytes from earlier writes: kept again.
    Pending,
    /// The lost-samples line naming this many samples.
    Lost(u64),
    /// A line of a header: kept.
    Header,
    /// A sample line: counted as lost.
    Sample,
    /// Any other line: dropped.
    Other,
}

impl Lines {
    /// Failed writes so far.
    pub fn errors_total(&self) -> u64 {
        self.errors_total
    }

    /// Writes what is kept, a header that begins `records`, the lost-samples line when samples
    /// were lost, then the rest of `records`, in one `write` when the file takes it all.
    pub fn write(
        &mut self,
        out: &mut impl Write,
        format: &LogFormat,
        records: &[Record],
    ) -> Report {
        self.buf.clear();
        self.segments.clear();
        if !self.pending.is_empty() {
            self.buf.extend_from_slice(&self.pending);
            self.segments.push((self.buf.len(), Part::Pending));
        }
        // A header in this write (the run's, or a continuation header in a new file) comes
        // before the lost-samples line, which belongs to the run the header opens.
        let (header, rest) = records.split_at(header_len(records));
        for record in header {
            memmon_format::append_records(&mut self.buf, std::slice::from_ref(record));
            self.segments.push((self.buf.len(), Part::Header));
        }
        if let Some(f) = self.failing.as_ref().filter(|f| f.unreported > 0) {
            let line = format.lost_samples(f.unreported, &f.reason);
            memmon_format::append_records(&mut self.buf, std::slice::from_ref(&line));
            self.segments
                .push((self.buf.len(), Part::Lost(f.unreported)));
        }
        for record in rest {
            memmon_format::append_records(&mut self.buf, std::slice::from_ref(record));
            let part = match record {
                Record::Sample(_) => Part::Sample,
                _ => Part::Other,
            };
            self.segments.push((self.buf.len(), part));
        }
        let (n, error) = write_counting(out, &self.buf);
        let (reached, named) = self.reached(n);
        let Some(error) = error else {
            self.pending.clear();
            self.torn = 0;
            return Report {
                bytes: n as u64,
                error: None,
                began: false,
                recovered: self.failing.take().map(|f| f.lost),
                reached,
                named,
            };
        };
        self.errors_total += 1;
        // Where the file now ends: inside a line when the last byte written is not a newline.
        let torn = if n == 0 {
            self.torn
        } else if self.buf[n - 1] == b'\n' {
            0
        } else {
            self.buf[n..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(self.buf.len() - n, |p| p + 1)
        };
        let mut kept = Vec::new();
        let (mut reported, mut newly_lost, mut start) = (0, 0, 0);
        for &(end, part) in &self.segments {
            let from = start.max(n);
            let (written, cut) = (end <= n, start < n && n < end);
            start = end;
            match part {
                Part::Lost(count) if written || cut => {
                    // Begun in the file: it will be whole, so these samples are named.
                    reported += count;
                    if cut {
                        kept.extend_from_slice(&self.buf[from..end]);
                    }
                }
                _ if written => {}
                Part::Pending => kept.extend_from_slice(&self.buf[from..end]),
                Part::Header if cut || kept.len() < KEEP_AT_MOST => {
                    kept.extend_from_slice(&self.buf[from..end])
                }
                Part::Sample | Part::Other | Part::Header if cut => {
                    kept.extend_from_slice(&self.buf[from..end])
                }
                Part::Sample => newly_lost += 1,
                Part::Lost(_) | Part::Header | Part::Other => {}
            }
        }
        self.pending = kept;
        self.torn = torn;
        let began = match &mut self.failing {
            Some(f) => {
                f.unreported = f.unreported.saturating_sub(reported) + newly_lost;
                f.lost += newly_lost;
                false
            }
            None => {
                self.failing = Some(Failing {
                    reason: error.to_string(),
                    unreported: newly_lost,
                    lost: newly_lost,
                });
                true
            }
        };
        Report {
            bytes: n as u64,
            error: Some(error),
            began,
            recovered: None,
            reached,
            named,
        }
    }

    /// The sample lines, and the samples named by a lost-samples line, among the lines of
    /// the last write that began within its first `n` bytes.
    fn reached(&self, n: usize) -> (u64, u64) {
        let (mut samples, mut named, mut start) = (0, 0, 0);
        for &(end, part) in &self.segments {
            if start < n {
                match part {
                    Part::Sample => samples += 1,
                    Part::Lost(count) => named += count,
                    Part::Pending | Part::Header | Part::Other => {}
                }
            }
            start = end;
        }
        (samples, named)
    }

    /// Counts a failure that lost no bytes (`fdatasync` failed after a whole write). Returns
    /// whether it began a failure.
    pub fn failed_after_writing(&mut self, error: &io::Error) -> bool {
        self.errors_total += 1;
        if self.failing.is_some() {
            return false;
        }
        self.failing = Some(Failing {
            reason: error.to_string(),
            unreported: 0,
            lost: 0,
        });
        true
    }

    /// Counts samples that are in no file: they could not even be tried (the log path names
    /// nothing memmon may write), or their lines went into a file that turned out to be
    /// deleted (`LogSink::write`). They count in the stderr notice too, so that each notice
    /// repeats its lost-samples line's count.
    pub fn lost_unwritten(&mut self, reason: &str, samples: u64) {
        self.errors_total += 1;
        let f = self.failing.get_or_insert_with(|| Failing {
            reason: reason.to_owned(),
            unreported: 0,
            lost: 0,
        });
        f.unreported += samples;
        f.lost += samples;
    }

    /// Before the log changes to another file: completes the line cut short in the file
    /// being left, where it began. If that fails too, the rest is dropped: it must never
    /// start the next file as a fragment. Headers kept stay kept (whole lines fit anywhere).
    pub fn finish_in(&mut self, old: &mut impl Write) {
        if self.torn == 0 {
            return;
        }
        let _ = write_counting(old, &self.pending[..self.torn]);
        self.pending.drain(..self.torn);
        self.torn = 0;
    }

    /// Bytes kept for the file (tests).
    #[cfg(test)]
    pub fn pending(&self) -> &[u8] {
        &self.pending
    }
}

/// How many of `records` are a header (the rule, the 開始/継続 line, PID, interval, the rule,
/// the empty line), as `LogFormat::header` makes it; 0 when they do not begin with one.
fn header_len(records: &[Record]) -> usize {
    match records {
        [Record::Rule, Record::Start { .. } | Record::Continue { .. }, ..] => records
            .iter()
            .position(|r| matches!(r, Record::Blank))
            .map_or(records.len(), |p| p + 1),
        _ => 0,
    }
}

/// Writes `buf`, returning how many bytes were written and the error that stopped it.
fn write_counting(out: &mut impl Write, buf: &[u8]) -> (usize, Option<io::Error>) {
    let mut n = 0;
    while n < buf.len() {
        match out.write(&buf[n..]) {
            Ok(0) => return (n, Some(io::ErrorKind::WriteZero.into())),
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (n, Some(e)),
        }
    }
    (n, None)
}
