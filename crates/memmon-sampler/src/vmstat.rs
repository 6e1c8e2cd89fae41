//! The system's OOM-kill counter, for the log's `OOMキラーが発動しました (+N)` line.

use crate::error::{io_error, parse_error};
use crate::procfs::parse::parse_vmstat_oom_kill;
use memmon_core::SampleError;
use std::path::Path;

/// How many processes the kernel's OOM killer has killed since boot: `oom_kill` in
/// `ROOT/vmstat`. Kernels before 4.13 do not count them; that reads as `Ok(0)`, so the
/// difference between two samples stays 0 and no OOM line is ever written.
pub fn oom_kills(root: &Path) -> Result<u64, SampleError> {
    let path = root.join("vmstat");
    let text = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) => return Err(io_error(&e, &path, None)),
    };
    // vmstat is ASCII; a stray byte elsewhere in it must not hide the counter.
    let text = String::from_utf8_lossy(&text);
    let count = parse_vmstat_oom_kill(&text).map_err(|e| parse_error(e, &path))?;
    Ok(count.unwrap_or(0))
}
