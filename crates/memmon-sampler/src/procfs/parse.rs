//! Pure parsers for the `/proc` files memmon reads: text in, typed values in bytes out.
//!
//! Nothing here does I/O, so every parser is tested on literal text and on fixtures captured
//! from a real kernel. Units are converted once, here: `statm` counts pages (converted with the
//! page size the caller passes), and the kernel's "kB" are KiB. The parsers on the per-sample
//! path (`statm`, `meminfo`, `children`) do not allocate.

use std::collections::BTreeMap;
use std::fmt;

mod breakdown;
mod stream;
pub use breakdown::{
    count_fd, fd_kind, fd_kind_bytes, parse_private_parts, parse_status_memory, FdKind,
    PrivateParts, PrivateSplit, StatusMemory,
};
pub use stream::{PrivateSum, SmapsStream, MAX_GROUPS, OTHER};

/// What was wrong with a file's text, and on which line. It holds no owned text so that a
/// failing parse on the sample path does not allocate; the sampler attaches the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number (0 when the problem is the file as a whole, e.g. a missing key).
    pub line: usize,
    /// What was expected.
    pub what: &'static str,
}

impl ParseError {
    fn at(line: usize, what: &'static str) -> Self {
        ParseError { line, what }
    }

    fn whole(what: &'static str) -> Self {
        ParseError { line: 0, what }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(self.what)
        } else {
            write!(f, "line {}: {}", self.line, self.what)
        }
    }
}

impl std::error::Error for ParseError {}

/// `/proc/PID/statm`, converted to bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Statm {
    /// Total program size (the first field, VmSize), in bytes.
    pub vms: u64,
    /// Resident set size (the second field), in bytes.
    pub rss: u64,
}

/// Parses `statm`: seven page counts on one line; only the first two (size, resident) are used.
/// `page_size` is the size of the pages it counts, in bytes.
pub fn parse_statm(text: &str, page_size: u64) -> Result<Statm, ParseError> {
    let mut fields = text.split_ascii_whitespace();
    let size = number(fields.next(), 1, "expected the size in pages")?;
    let resident = number(fields.next(), 1, "expected the resident size in pages")?;
    let to_bytes = |pages: u64| {
        pages
            .checked_mul(page_size)
            .ok_or(ParseError::at(1, "page count overflows a byte count"))
    };
    Ok(Statm {
        vms: to_bytes(size)?,
        rss: to_bytes(resident)?,
    })
}

/// The two `/proc/meminfo` figures of the log's `システム:` field, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Meminfo {
    /// `MemTotal`.
    pub total: u64,
    /// `MemAvailable`; on kernels older than 3.14, which lack it, `MemFree + Buffers + Cached`
    /// (what `free` reported as available before the kernel did).
    pub available: u64,
}

/// Parses `/proc/meminfo` (`Key:   N kB` lines). It stops reading once both figures are found.
pub fn parse_meminfo(text: &str) -> Result<Meminfo, ParseError> {
    parse_meminfo_bytes(text.as_bytes())
}

/// [`parse_meminfo`] on the file's bytes as read: at every sample only the first three of its
/// ~50 lines are needed, so the whole text is not checked for UTF-8 first (that check and
/// splitting the lines were most of a sample's parsing). Only the keys and values it uses must
/// be well formed; a stray byte elsewhere is no error.
pub fn parse_meminfo_bytes(text: &[u8]) -> Result<Meminfo, ParseError> {
    let mut total = None;
    let mut available = None;
    // Fallback for kernels without MemAvailable.
    let (mut free, mut buffers, mut cached) = (None, None, None);
    // One pass over each line read: a wanted line is parsed up to its '\n', any other is
    // skipped to it.
    let mut rest = text;
    let mut line_no = 0;
    while !rest.is_empty() {
        line_no += 1;
        // None of these keys holds a ':', so a line that starts with one and its ':' has that
        // key before its first ':', as the line-by-line reading had it.
        let (slot, key_len) = match rest.first() {
            Some(b'M') if rest.starts_with(b"MemTotal:") => (&mut total, 9),
            Some(b'M') if rest.starts_with(b"MemAvailable:") => (&mut available, 13),
            Some(b'M') if rest.starts_with(b"MemFree:") => (&mut free, 8),
            Some(b'B') if rest.starts_with(b"Buffers:") => (&mut buffers, 8),
            Some(b'C') if rest.starts_with(b"Cached:") => (&mut cached, 7),
            _ => {
                let end = rest
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(rest.len(), |i| i + 1);
                rest = &rest[end..];
                continue;
            }
        };
        let (value, next) = kib_value_in_line(&rest[key_len..], line_no)?;
        *slot = Some(value);
        rest = next;
        if total.is_some() && available.is_some() {
            break;
        }
    }
    let total = total.ok_or(ParseError::whole("MemTotal is missing"))?;
    let available = match (available, free, buffers, cached) {
        (Some(a), ..) => a,
        (None, Some(f), Some(b), Some(c)) => f.saturating_add(b).saturating_add(c),
        _ => return Err(ParseError::whole("MemAvailable is missing")),
    };
    Ok(Meminfo { total, available })
}

/// Parses `/proc/PID/task/TID/children` (space-separated PIDs) and appends them to `out`, so
/// the caller can reuse one vector across samples.
pub fn parse_children(text: &str, out: &mut Vec<u32>) -> Result<(), ParseError> {
    for field in text.split_ascii_whitespace() {
        let pid = field
            .parse::<u32>()
            .map_err(|_| ParseError::at(1, "expected a process ID"))?;
        out.push(pid);
    }
    Ok(())
}

/// The parts of `/proc/PID/status` memmon uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// The state letter (`R`, `S`, `Z` …), from `State:`.
    pub state: Option<char>,
    /// `Threads:`.
    pub threads: u64,
    /// `VmRSS`, in bytes; absent for kernel threads and zombies.
    pub vm_rss: Option<u64>,
    /// `VmSize`, in bytes; absent for kernel threads and zombies.
    pub vm_size: Option<u64>,
    /// `RssAnon`, `RssFile` and `RssShmem`, in bytes, when the kernel prints them (Linux 4.5+;
    /// absent for kernel threads and zombies): the parts `VmRSS` is the sum of.
    pub rss_split: Option<RssSplit>,
    /// `VmSwap`, in bytes; absent for kernel threads and zombies.
    pub vm_swap: Option<u64>,
}

/// What `VmRSS` is the sum of, from `/proc/PID/status`, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RssSplit {
    /// `RssAnon`.
    pub anon: u64,
    /// `RssFile`.
    pub file: u64,
    /// `RssShmem`.
    pub shmem: u64,
}

impl Status {
    /// Whether the process is dead but not yet reaped (`Z`) or dead (`X`): its memory is gone
    /// and its `statm` reads all zeros.
    pub fn is_dead(&self) -> bool {
        matches!(self.state, Some('Z' | 'X'))
    }
}

/// Parses `/proc/PID/status` (`Key:\tvalue` lines). `Threads:` is required: every process has it.
pub fn parse_status(text: &str) -> Result<Status, ParseError> {
    let mut status = Status {
        state: None,
        threads: 0,
        vm_rss: None,
        vm_size: None,
        rss_split: None,
        vm_swap: None,
    };
    let mut threads = None;
    for (i, line) in text.lines().enumerate() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        match key {
            "State" => status.state = value.trim_start().chars().next(),
            "Threads" => threads = Some(number(Some(value.trim()), i + 1, "expected a count")?),
            "VmRSS" => status.vm_rss = Some(kib_value(value, i + 1)?),
            "VmSize" => status.vm_size = Some(kib_value(value, i + 1)?),
            "VmSwap" => status.vm_swap = Some(kib_value(value, i + 1)?),
            "RssAnon" => status.rss_split.get_or_insert_default().anon = kib_value(value, i + 1)?,
            "RssFile" => status.rss_split.get_or_insert_default().file = kib_value(value, i + 1)?,
            "RssShmem" => status.rss_split.get_or_insert_default().shmem = kib_value(value, i + 1)?,
            _ => {}
        }
    }
    status.threads = threads.ok_or(ParseError::whole("Threads is missing"))?;
    Ok(status)
}

/// One group of mappings of `/proc/PID/smaps`: all mappings with the same path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingGroup {
    /// The mapping path (`/usr/lib/…so`, `[heap]`, `[stack]` …), or `[anon]` for anonymous
    /// mappings, which have none.
    pub path: String,
    /// Summed `Rss`, in bytes.
    pub rss: u64,
    /// How many mappings.
    pub count: u64,
}

/// `/proc/PID/smaps` summarised: groups by path and the process-wide totals.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Smaps {
    /// Mappings grouped by path, largest summed RSS first, ties by path.
    pub groups: Vec<MappingGroup>,
    /// Summed `Anonymous`, in bytes.
    pub anonymous: u64,
    /// Summed `Swap`, in bytes.
    pub swap: u64,
}

/// The path memmon gives anonymous mappings, which have none in `smaps`.
pub const ANON: &str = "[anon]";

/// Parses `/proc/PID/smaps`, or `smaps_rollup` (the same shape with one `[rollup]` mapping).
/// It needs the whole text and keeps every distinct path: for what memmon reads of a live
/// process, [`SmapsStream`] (bounded, fed line by line) is used instead; this one stays as the
/// reference the property tests hold the stream to.
///
/// A mapping starts with a header `start-end perms offset dev inode [path]`, followed by
/// `Key: value` lines; `Rss`, `Anonymous` and `Swap` (`N kB`) are summed, the rest ignored.
pub fn parse_smaps(text: &str) -> Result<Smaps, ParseError> {
    // Borrowing paths from the text: one owned string per group, not per mapping.
    let mut groups: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let mut current: Option<&str> = None;
    let (mut anonymous, mut swap) = (0u64, 0u64);
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if let Some(path) = mapping_header(line) {
            let path = if path.is_empty() { ANON } else { path };
            groups.entry(path).or_default().1 += 1;
            current = Some(path);
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        let (key, value) = line.split_once(':').ok_or(ParseError::at(
            line_no,
            "expected a mapping header or `Key: value`",
        ))?;
        let path = current.ok_or(ParseError::at(line_no, "field before any mapping header"))?;
        match key {
            "Rss" => {
                let rss = kib_value(value, line_no)?;
                let group = groups.entry(path).or_default();
                group.0 = group.0.saturating_add(rss);
            }
            "Anonymous" => anonymous = anonymous.saturating_add(kib_value(value, line_no)?),
            "Swap" => swap = swap.saturating_add(kib_value(value, line_no)?),
            _ => {}
        }
    }
    let mut groups: Vec<MappingGroup> = groups
        .into_iter()
        .map(|(path, (rss, count))| MappingGroup {
            path: path.to_owned(),
            rss,
            count,
        })
        .collect();
    // The map iterates by path, and the sort is stable: ties stay ordered by path.
    groups.sort_by_key(|g| std::cmp::Reverse(g.rss));
    Ok(Smaps {
        groups,
        anonymous,
        swap,
    })
}

/// `/proc/PID/smaps_rollup`: the process-wide sums of `smaps`, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SmapsRollup {
    /// `Anonymous`.
    pub anonymous: u64,
    /// `Swap`.
    pub swap: u64,
}

/// Parses `/proc/PID/smaps_rollup` (Linux 4.14 and later).
pub fn parse_smaps_rollup(text: &str) -> Result<SmapsRollup, ParseError> {
    let smaps = parse_smaps(text)?;
    if smaps.groups.is_empty() {
        return Err(ParseError::whole("no [rollup] header"));
    }
    Ok(SmapsRollup {
        anonymous: smaps.anonymous,
        swap: smaps.swap,
    })
}

/// Parses `/proc/vmstat` for `oom_kill` (Linux 4.13 and later); `None` when the kernel does not
/// count OOM kills.
pub fn parse_vmstat_oom_kill(text: &str) -> Result<Option<u64>, ParseError> {
    for (i, line) in text.lines().enumerate() {
        let mut fields = line.split_ascii_whitespace();
        if fields.next() == Some("oom_kill") {
            return number(fields.next(), i + 1, "expected the oom_kill count").map(Some);
        }
    }
    Ok(None)
}

/// The parent PID from `/proc/PID/stat`. The command name (second field, in parentheses) may
/// hold spaces and parentheses itself, so fields are counted after its last `)`.
pub fn parse_stat_ppid(text: &str) -> Result<u32, ParseError> {
    let (_, rest) = text
        .rsplit_once(')')
        .ok_or(ParseError::at(1, "expected `pid (comm) state ppid`"))?;
    let mut fields = rest.split_ascii_whitespace();
    let _state = fields.next();
    fields
        .next()
        .and_then(|f| f.parse::<u32>().ok())
        .ok_or(ParseError::at(1, "expected the parent PID"))
}

/// The path of an `smaps` mapping header, `None` when the line is not a header.
///
/// A header has five fields (range, perms, offset, device, inode) and then the path, which may
/// contain spaces (`/tmp/a b (deleted)`), so the path is the rest of the line, not a field.
fn mapping_header(line: &str) -> Option<&str> {
    let mut rest = line;
    for field_no in 0..5 {
        rest = rest.trim_start_matches(' ');
        let end = rest.find(' ').unwrap_or(rest.len());
        let field = &rest[..end];
        if field_no == 0 && !is_address_range(field) {
            return None;
        }
        if field.is_empty() {
            return None;
        }
        rest = &rest[end..];
    }
    Some(rest.trim_matches(' '))
}

fn is_address_range(field: &str) -> bool {
    field.split_once('-').is_some_and(|(a, b)| {
        !a.is_empty()
            && !b.is_empty()
            && a.bytes().all(|c| c.is_ascii_hexdigit())
            && b.bytes().all(|c| c.is_ascii_hexdigit())
    })
}

/// A `   N kB` value in bytes.
fn kib_value(value: &str, line: usize) -> Result<u64, ParseError> {
    let mut fields = value.split_ascii_whitespace();
    let n = number(fields.next(), line, "expected a number of kB")?;
    match fields.next() {
        Some("kB") | None => {}
        Some(_) => return Err(ParseError::at(line, "expected the unit kB")),
    }
    n.checked_mul(1024)
        .ok_or(ParseError::at(line, "kB value overflows a byte count"))
}

/// [`kib_value`] on the bytes of a line's value, read up to the end of the line (its `\n` or
/// the end of `text`), with the same rules spelled out: the first field separated by ASCII
/// whitespace is a `u64` as `str::parse` reads it (one optional `+`, then digits), the second,
/// if any, is `kB`, anything after is ignored. Returns the value and the text after the line.
fn kib_value_in_line(text: &[u8], line: usize) -> Result<(u64, &[u8]), ParseError> {
    let (number, rest) = field_in_line(text);
    let n = number
        .and_then(decimal_u64)
        .ok_or(ParseError::at(line, "expected a number of kB"))?;
    let (unit, rest) = field_in_line(rest);
    match unit {
        Some(b"kB") | None => {}
        Some(_) => return Err(ParseError::at(line, "expected the unit kB")),
    }
    let n = n
        .checked_mul(1024)
        .ok_or(ParseError::at(line, "kB value overflows a byte count"))?;
    let end = rest
        .iter()
        .position(|&b| b == b'\n')
        .map_or(rest.len(), |i| i + 1);
    Ok((n, &rest[end..]))
}

/// The next field of the line at the start of `text` (separated by ASCII whitespace, as
/// `split_ascii_whitespace` has it) and the text after it; `None`, with the text from the end
/// of the line on, when the line has no more fields.
fn field_in_line(text: &[u8]) -> (Option<&[u8]>, &[u8]) {
    let mut i = 0;
    while i < text.len() && text[i] != b'\n' && text[i].is_ascii_whitespace() {
        i += 1;
    }
    let start = i;
    while i < text.len() && !text[i].is_ascii_whitespace() {
        i += 1;
    }
    let field = (i > start).then(|| &text[start..i]);
    (field, &text[i..])
}

/// `str::parse::<u64>` on bytes: an optional `+` and at least one digit, no overflow.
fn decimal_u64(field: &[u8]) -> Option<u64> {
    let digits = match field {
        [b'+', rest @ ..] => rest,
        _ => field,
    };
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(d))
    })
}

fn number(field: Option<&str>, line: usize, what: &'static str) -> Result<u64, ParseError> {
    field
        .and_then(|f| f.parse::<u64>().ok())
        .ok_or(ParseError::at(line, what))
}

#[cfg(test)]
mod tests;
