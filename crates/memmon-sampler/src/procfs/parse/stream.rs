//! Line-at-a-time parsers for `/proc/PID/smaps` and `smaps_rollup`, for text read through a
//! fixed buffer: a target with 60,000 mappings has ~90 MB of `smaps`, which memmon must never
//! hold whole (it did: issue 17, item 13).

use super::{kib_value, kib_value_in_line, mapping_header, MappingGroup, ParseError, Smaps, ANON};
use std::collections::HashMap;

/// How many distinct mapping paths [`SmapsStream`] keeps a group of their own for. Mappings of
/// any further path are folded into one [`OTHER`] group, so the parser's memory is bounded
/// (at most this many paths, each at most `PATH_MAX`) whatever the target maps. 1024 is far
/// above what a real process maps (a large Python service: ~300 paths) and far below the
/// mapping counts that made the whole-text parser grow.
pub const MAX_GROUPS: usize = 1024;

/// The group that holds the mappings of paths past [`MAX_GROUPS`].
pub const OTHER: &str = "[other]";

/// Parses `smaps` (or `smaps_rollup`) fed one line at a time, with the same rules, totals and
/// errors as [`parse_smaps`](super::parse_smaps) as long as the text has at most
/// [`MAX_GROUPS`] distinct paths; past that, the mappings of new paths count in [`OTHER`]
/// (total RSS and mapping count stay exact). It also sums `Private_Clean + Private_Dirty`.
#[derive(Debug, Clone)]
pub struct SmapsStream {
    /// Path → index into `sums`. Owned paths are allocated once per distinct path, never per
    /// mapping.
    index: HashMap<Box<str>, usize>,
    /// Summed RSS and mapping count of each group.
    sums: Vec<(u64, u64)>,
    cap: usize,
    /// The group of the mapping whose fields are being read.
    current: Option<usize>,
    line_no: usize,
    anonymous: u64,
    swap: u64,
    private: u64,
}

impl Default for SmapsStream {
    fn default() -> Self {
        Self::with_cap(MAX_GROUPS)
    }
}

impl SmapsStream {
    /// A parser that keeps at most `cap` groups of their own (plus [`OTHER`]).
    pub fn with_cap(cap: usize) -> Self {
        SmapsStream {
            index: HashMap::new(),
            sums: Vec::new(),
            cap,
            current: None,
            line_no: 0,
            anonymous: 0,
            swap: 0,
            private: 0,
        }
    }

    /// Takes the next line, without its line ending.
    pub fn line(&mut self, line: &str) -> Result<(), ParseError> {
        self.line_no += 1;
        let line_no = self.line_no;
        if let Some(path) = mapping_header(line) {
            let path = if path.is_empty() { ANON } else { path };
            let slot = self.slot(path);
            self.sums[slot].1 += 1;
            self.current = Some(slot);
            return Ok(());
        }
        if line.trim().is_empty() {
            return Ok(());
        }
        let (key, value) = line.split_once(':').ok_or(ParseError::at(
            line_no,
            "expected a mapping header or `Key: value`",
        ))?;
        let slot = self
            .current
            .ok_or(ParseError::at(line_no, "field before any mapping header"))?;
        match key {
            "Rss" => {
                let rss = kib_value(value, line_no)?;
                self.sums[slot].0 = self.sums[slot].0.saturating_add(rss);
            }
            "Anonymous" => {
                self.anonymous = self.anonymous.saturating_add(kib_value(value, line_no)?)
            }
            "Swap" => self.swap = self.swap.saturating_add(kib_value(value, line_no)?),
            "Private_Clean" | "Private_Dirty" => {
                self.private = self.private.saturating_add(kib_value(value, line_no)?);
            }
            _ => {}
        }
        Ok(())
    }

    /// The group index for `path`, created if there is room, else [`OTHER`]'s.
    fn slot(&mut self, path: &str) -> usize {
        if let Some(&i) = self.index.get(path) {
            return i;
        }
        let key = if self.index.len() < self.cap {
            path
        } else {
            OTHER
        };
        if let Some(&i) = self.index.get(key) {
            return i;
        }
        let i = self.sums.len();
        self.sums.push((0, 0));
        self.index.insert(key.into(), i);
        i
    }

    /// How many lines were fed.
    pub fn lines(&self) -> usize {
        self.line_no
    }

    /// Summed `Private_Clean + Private_Dirty` so far, in bytes.
    pub fn private(&self) -> u64 {
        self.private
    }

    /// The summary: groups largest summed RSS first, ties ordered by path.
    pub fn finish(self) -> Smaps {
        let sums = self.sums;
        let mut groups: Vec<MappingGroup> = self
            .index
            .into_iter()
            .map(|(path, i)| MappingGroup {
                path: path.into_string(),
                rss: sums[i].0,
                count: sums[i].1,
            })
            .collect();
        groups.sort_by(|a, b| b.rss.cmp(&a.rss).then_with(|| a.path.cmp(&b.path)));
        Smaps {
            groups,
            anonymous: self.anonymous,
            swap: self.swap,
        }
    }
}

/// Sums `Private_Clean + Private_Dirty` of `smaps_rollup` (one of each) or `smaps` (one of each
/// per mapping), fed one line at a time as bytes: the per-sample path of `--children`, which
/// reads every descendant's at every sample, so it neither checks UTF-8 nor allocates. Other
/// lines are not looked at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrivateSum {
    /// The sum so far, in bytes.
    pub bytes: u64,
    /// Lines fed so far (how a caller tells an empty read, a dead process's, from a real one).
    pub lines: usize,
}

impl PrivateSum {
    /// Takes the next line, without its line ending.
    pub fn line(&mut self, line: &[u8]) -> Result<(), ParseError> {
        self.lines += 1;
        let value = if let Some(v) = line.strip_prefix(b"Private_Clean:") {
            v
        } else if let Some(v) = line.strip_prefix(b"Private_Dirty:") {
            v
        } else {
            return Ok(());
        };
        let (n, _) = kib_value_in_line(value, self.lines)?;
        self.bytes = self.bytes.saturating_add(n);
        Ok(())
    }
}
