//! Reading a file line by line through one reused buffer, so that memmon's own memory does not
//! grow with the size of the file (a target's `smaps` can be ~90 MB).

use super::parse::ParseError;
use std::io::{self, Read};

/// How much is read at a time: a typical `smaps_rollup` in one read, `smaps` in ~60 lines a read.
const CHUNK: usize = 8 * 1024;

/// The longest line accepted. Kernel lines are at most a path (`PATH_MAX`, 4096) and ~80
/// bytes; a longer one means the file is not what it should be, and the buffer must not grow
/// with it.
pub(crate) const MAX_LINE: usize = 64 * 1024;

/// Why [`each_line`] stopped.
#[derive(Debug)]
pub(crate) enum LineError {
    /// Reading failed.
    Io(io::Error),
    /// The line handler refused a line.
    Parse(ParseError),
}

/// Reads `reader` to its end and hands each line to `line` without its `\n` (nor the `\r` of a
/// `\r\n`, as `str::lines` has it; a last line without `\n` keeps its `\r`). `buf` is the read
/// space, reused across calls: it holds at most one chunk and one partial line.
pub(crate) fn each_line<R: Read>(
    mut reader: R,
    buf: &mut Vec<u8>,
    mut line: impl FnMut(&[u8]) -> Result<(), ParseError>,
) -> Result<(), LineError> {
    if buf.len() < CHUNK {
        buf.resize(CHUNK, 0);
    }
    let (mut start, mut end) = (0, 0);
    loop {
        if start == end {
            (start, end) = (0, 0);
        } else if end == buf.len() {
            if start > 0 {
                buf.copy_within(start..end, 0);
                (start, end) = (0, end - start);
            } else if buf.len() < MAX_LINE + 1 {
                // One line longer than the buffer: grow it, up to the longest line accepted.
                buf.resize((buf.len() * 2).min(MAX_LINE + 1), 0);
            } else {
                return Err(LineError::Io(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a line longer than 64 KiB",
                )));
            }
        }
        let n = match reader.read(&mut buf[end..]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(LineError::Io(e)),
        };
        if n == 0 {
            if start < end {
                line(&buf[start..end]).map_err(LineError::Parse)?;
            }
            return Ok(());
        }
        let scan_from = end;
        end += n;
        let mut from = scan_from;
        while let Some(pos) = buf[from..end].iter().position(|&b| b == b'\n') {
            let nl = from + pos;
            let text = &buf[start..nl];
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            line(text).map_err(LineError::Parse)?;
            start = nl + 1;
            from = start;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `step` bytes a call, as a proc file may.
    struct Trickle<'a> {
        text: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(out.len()).min(self.text.len());
            out[..n].copy_from_slice(&self.text[..n]);
            self.text = &self.text[n..];
            Ok(n)
        }
    }

    fn lines_of(text: &str, step: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut buf = Vec::new();
        let reader = Trickle {
            text: text.as_bytes(),
            step,
        };
        each_line(reader, &mut buf, |l| {
            out.push(String::from_utf8_lossy(l).into_owned());
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn lines_are_split_as_str_lines_splits_them_whatever_the_read_sizes() {
        let long = "x".repeat(20_000);
        let texts = [
            String::new(),
            "a".into(),
            "a\n".into(),
            "a\n\nb".into(),
            "a\r\nb\r".into(),
            "\r\n\r\n".into(),
            format!("{long}\nshort\n{long}"),
        ];
        for text in &texts {
            let expected: Vec<String> = text.lines().map(str::to_owned).collect();
            for step in [1, 3, 4096, 1 << 20] {
                assert_eq!(lines_of(text, step), expected, "step {step}");
            }
        }
    }

    #[test]
    fn the_buffer_stays_bounded_by_the_longest_line() {
        let text = "0123456789abcdef\n".repeat(100_000);
        let mut buf = Vec::new();
        let mut count = 0;
        each_line(text.as_bytes(), &mut buf, |_| {
            count += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(count, 100_000);
        assert_eq!(buf.len(), CHUNK);
        let huge = "y".repeat(MAX_LINE + 10);
        let err = each_line(huge.as_bytes(), &mut buf, |_| Ok(())).unwrap_err();
        assert!(matches!(err, LineError::Io(ref e) if e.kind() == io::ErrorKind::InvalidData));
    }
}
