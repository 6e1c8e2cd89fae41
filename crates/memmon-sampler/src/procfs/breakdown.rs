//! Reading one process's part of issue #19's breakdown: its `status` and its open descriptors.
//! The tree's sum is made in [`ProcfsSampler::breakdown`](super::ProcfsSampler::breakdown).

use super::parse::{count_fd, fd_kind_bytes, parse_status_memory, StatusMemory};
use crate::error::{io_error, is_gone, not_utf8, parse_error};
use memmon_core::{FdCounts, SampleError};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `ROOT/PID/status`'s memory parts and thread count, read once (opened afresh: it is read
/// every tenth sample, not worth a kept descriptor). `Ok(None)`: the process is gone; the
/// caller decides what that means.
pub(super) fn read_status(
    dir: &Path,
    buf: &mut Vec<u8>,
) -> Result<Option<StatusMemory>, SampleError> {
    let path = dir.join("status");
    match super::read_into(&path, buf) {
        Ok(()) => {}
        Err(e) if is_gone(&e) => return Ok(None),
        Err(e) => return Err(io_error(&e, &path, None)),
    }
    let text = std::str::from_utf8(buf).map_err(|_| not_utf8(&path))?;
    parse_status_memory(text)
        .map(Some)
        .map_err(|e| parse_error(e, &path))
}

/// Adds the open descriptors of the process at `dir` to `counts`, by kind, in one pass over
/// `dir/fd`: each entry is classified as it is listed and nothing is kept, so a process with
/// 10,000 descriptors costs 10,000 `readlink`s and no more memory than one.
///
/// Best effort, like the descriptor count of the `[smaps]` block: a directory memmon may not
/// list (it needs ptrace rights over the process, stricter than `status`: another user's
/// descendant) adds nothing; a listing that fails midway keeps what was counted; a descriptor
/// closed between being listed and its link being read is not counted. `Ok(false)`: the
/// process is gone.
pub(super) fn count_fds(dir: &Path, counts: &mut FdCounts) -> Result<bool, SampleError> {
    let path = dir.join("fd");
    let entries = match std::fs::read_dir(&path) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => return Ok(true),
        Err(e) if is_gone(&e) => return Ok(false),
        Err(e) => return Err(io_error(&e, &path, None)),
    };
    for entry in entries {
        let Ok(entry) = entry else { break };
        // Not a link (only in a fixture tree), or closed since it was listed: not counted.
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue;
        };
        count_fd(counts, fd_kind_bytes(target.as_os_str().as_bytes()));
    }
    Ok(true)
}

/// Adds `part`'s figures to `sum`.
pub(super) fn add(sum: &mut memmon_core::Breakdown, part: &memmon_core::Breakdown) {
    sum.anon = sum.anon.saturating_add(part.anon);
    sum.file = sum.file.saturating_add(part.file);
    sum.shmem = sum.shmem.saturating_add(part.shmem);
    sum.swap = sum.swap.saturating_add(part.swap);
    sum.threads = sum.threads.saturating_add(part.threads);
    let (f, p) = (&mut sum.fds, &part.fds);
    f.sockets = f.sockets.saturating_add(p.sockets);
    f.files = f.files.saturating_add(p.files);
    f.pipes = f.pipes.saturating_add(p.pipes);
    f.other = f.other.saturating_add(p.other);
}
