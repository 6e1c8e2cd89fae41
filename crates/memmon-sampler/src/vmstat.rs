//! The system's OOM-kill counter, for the log's `OOMキラーが発動しました (+N)` line.

use crate::error::{io_error, parse_error};
use crate::procfs::parse::parse_vmstat_oom_kill;
use crate::procfs::{read_from_start, Ends};
use memmon_core::SampleError;
use std::fs::File;
use std::path::{Path, PathBuf};

/// How many processes the kernel's OOM killer has killed since boot: `oom_kill` in
/// `ROOT/vmstat`. Kernels before 4.13 do not count them; that reads as `Ok(0)`, so the
/// difference between two samples stays 0 and no OOM line is ever written.
pub fn oom_kills(root: &Path) -> Result<u64, SampleError> {
    OomCounter::new(root).read()
}

/// [`oom_kills`] for a caller that asks again and again (at every sample of a slow interval,
/// about once a second at a fast one), with a read buffer kept between reads.
///
/// vmstat is ~4 KB of ~190 lines with `oom_kill` around line 125: reading it into a new `Vec`,
/// converting it lossily to UTF-8 and splitting all lines up to the counter cost ~76,000
/// instructions a read, ten times a whole sample of `memmon run`. The file is still opened
/// afresh at every read, so a `/proc` tree whose `vmstat` is replaced (the e2e fixtures) is
/// read as it is now.
#[derive(Debug)]
pub struct OomCounter {
    path: PathBuf,
    buf: Vec<u8>,
}

impl OomCounter {
    /// The counter in `ROOT/vmstat`; nothing is read yet.
    pub fn new(root: &Path) -> OomCounter {
        OomCounter {
            path: root.join("vmstat"),
            buf: Vec::new(),
        }
    }

    /// The counter now.
    pub fn read(&mut self) -> Result<u64, SampleError> {
        let io = |e| io_error(&e, &self.path, None);
        let file = File::open(&self.path).map_err(io)?;
        if self.buf.is_empty() {
            // Room for the whole file in one read on today's kernels (~4 KB).
            self.buf.resize(8192, 0);
        }
        // vmstat is a seq_file of many records, which may hand out its text in pieces: only a
        // 0-byte read is its end.
        let len = read_from_start(&file, &mut self.buf, Ends::AtZeroRead).map_err(io)?;
        let count = oom_kill_in(&self.buf[..len]).map_err(|e| parse_error(e, &self.path))?;
        Ok(count.unwrap_or(0))
    }
}

/// [`parse_vmstat_oom_kill`] on the bytes as read, without splitting every line before the
/// counter's: the first line whose first field is `oom_kill` holds the text `oom_kill`, so the
/// lines before the first occurrence of that text are skipped, not parsed.
fn oom_kill_in(bytes: &[u8]) -> Result<Option<u64>, crate::procfs::parse::ParseError> {
    // vmstat is ASCII; a stray byte elsewhere in it must not hide the counter.
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    };
    let Some(at) = text.find("oom_kill") else {
        return Ok(None);
    };
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    parse_vmstat_oom_kill(&text[line_start..]).map_err(|mut e| {
        // Counted only for an error: the one place the skipped lines matter.
        if e.line > 0 {
            e.line += text.as_bytes()[..line_start]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
        }
        e
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn vmstat_text() -> impl Strategy<Value = String> {
        let line = prop_oneof![
            "[a-z_]{1,20} [0-9]{1,12}",
            "[ \t]{0,2}oom_kill[ \t]{0,3}[+-]?[0-9a-z]{0,22}",
            "oom_kill(er)? [0-9]{1,5}",
            "[ -~]{0,30}oom_kill[ -~]{0,10}",
            "[ -~]{0,40}",
        ];
        crate::test_text::lines_text(line, 40)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn reads_as_the_line_by_line_parser(text in vmstat_text()) {
            prop_assert_eq!(oom_kill_in(text.as_bytes()), parse_vmstat_oom_kill(&text));
        }

        #[test]
        fn reads_lossy_text_as_the_line_by_line_parser(
            text in vmstat_text(),
            junk in prop::collection::vec((any::<prop::sample::Index>(), 0x80u8..=0xff), 0..4),
        ) {
            let mut bytes = text.into_bytes();
            for (at, b) in junk {
                if !bytes.is_empty() {
                    let i = at.index(bytes.len());
                    bytes[i] = b;
                }
            }
            let lossy = String::from_utf8_lossy(&bytes);
            prop_assert_eq!(oom_kill_in(&bytes), parse_vmstat_oom_kill(&lossy));
        }
    }

    #[test]
    fn a_kept_counter_reads_the_live_file_again() {
        if !Path::new("/proc/vmstat").exists() {
            return; // no procfs here
        }
        let mut counter = OomCounter::new(Path::new("/proc"));
        let first = counter.read().unwrap();
        let again = counter.read().unwrap();
        assert!(again >= first);
        assert_eq!(oom_kills(Path::new("/proc")).unwrap(), again);
    }
}
