//! One descendant's files for `--children`: `statm` (VmSize, and RSS for a fallback), kept open
//! from the sample that first sees the descendant until it is gone, as the watched process's
//! `statm` is: an open `/proc/PID/…` descriptor stays bound to its process (it reads ESRCH once
//! the process is reaped), so a PID recycled between two samples is never read as the old
//! process. The file its private memory is summed from (`smaps_rollup`, or `smaps`) is opened
//! afresh at each sample, right after the kept `statm` said the process is still there: those
//! files hold the address space they were opened on, so one kept open across an `exec` (a
//! shell's child is seen between its fork and its exec) would read the dead pre-exec memory
//! forever.

use super::breakdown::{count_fds, read_status};
use super::lines::{each_line, LineError};
use super::parse::{parse_statm, PrivateSplit, PrivateSum, Statm};
use super::{read_from_start, Ends};
use crate::error::{is_gone, not_utf8, parse_error};
use memmon_core::{Breakdown, SampleError};
use std::fs::File;
use std::io;
use std::path::Path;

/// Where a descendant's counted memory comes from (the spec: its private memory, so that pages
/// forked children share with their parent count once).
#[derive(Debug)]
pub(super) enum PrivateFrom {
    /// `smaps_rollup` (Linux 4.14 and later): `Private_Clean + Private_Dirty`, summed by the
    /// kernel in one pass.
    Rollup,
    /// `smaps`, on kernels without `smaps_rollup`: the same two fields of every mapping,
    /// streamed (the file can be large; it is never held whole).
    Smaps,
    /// Neither can be read (another user's process, a setuid one): its RSS counts instead.
    Rss,
}

/// The open files of one descendant.
#[derive(Debug)]
pub(super) struct Descendant {
    statm: File,
    private: PrivateFrom,
    /// The walk (sample) that last listed it: descendants not listed any more are dropped.
    pub(super) seen: u64,
}

/// What [`Descendant::open`] learnt besides the files, for the sampler's once-only notices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Opened {
    /// `smaps_rollup` is open.
    Rollup,
    /// No `smaps_rollup` (an old kernel): `smaps` stands in.
    NoRollup,
    /// Neither file could be opened: the RSS counts.
    Unreadable,
}

/// One descendant's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Counted {
    /// Its `VmSize`, in bytes.
    pub(super) vms: u64,
    /// What it adds to the tree's RSS: its private memory, or its RSS for [`PrivateFrom::Rss`].
    pub(super) rss: u64,
    /// Whether `rss` is its RSS (its private memory could not be read).
    pub(super) by_rss: bool,
}

/// Reused read space for descendants' files.
#[derive(Debug, Default)]
pub(super) struct Buffers {
    pub(super) statm: Vec<u8>,
    pub(super) lines: Vec<u8>,
    /// `status`, for the breakdown.
    pub(super) status: Vec<u8>,
}

impl Descendant {
    /// Opens the files of descendant `pid` under `dir` (`ROOT/PID`). `Ok(None)`: it is gone.
    pub(super) fn open(dir: &Path, seen: u64) -> Result<Option<(Self, Opened)>, SampleError> {
        let path = dir.join("statm");
        let statm = match File::open(&path) {
            Ok(f) => f,
            Err(e) if is_gone(&e) => return Ok(None),
            Err(e) => return Err(crate::error::io_error(&e, &path, None)),
        };
        // Opened here only to learn which file can be read; each sample opens it again.
        let (private, opened) = match File::open(dir.join("smaps_rollup")) {
            Ok(_) => (PrivateFrom::Rollup, Opened::Rollup),
            Err(e) if is_srch(&e) => return Ok(None),
            // Its statm opened, so the process exists: the kernel lacks smaps_rollup.
            Err(e) if e.kind() == io::ErrorKind::NotFound => match File::open(dir.join("smaps")) {
                Ok(_) => (PrivateFrom::Smaps, Opened::NoRollup),
                Err(e) if is_srch(&e) => return Ok(None),
                Err(_) => (PrivateFrom::Rss, Opened::Unreadable),
            },
            Err(_) => (PrivateFrom::Rss, Opened::Unreadable),
        };
        Ok(Some((
            Descendant {
                statm,
                private,
                seen,
            },
            opened,
        )))
    }

    /// Reads the descendant now. `Ok(None)`: the process these files belong to is gone (dead,
    /// or a zombie, whose `smaps_rollup` reads ESRCH and `smaps` reads empty).
    pub(super) fn read(
        &self,
        dir: &Path,
        page_size: u64,
        bufs: &mut Buffers,
    ) -> Result<Option<Counted>, SampleError> {
        let statm = match read_from_start(&self.statm, &mut bufs.statm, Ends::AtShortRead) {
            Ok(n) => &bufs.statm[..n],
            Err(e) if is_gone(&e) => return Ok(None),
            Err(e) => return Err(crate::error::io_error(&e, &dir.join("statm"), None)),
        };
        let path = || dir.join("statm");
        let text = std::str::from_utf8(statm).map_err(|_| not_utf8(&path()))?;
        let Statm { vms, rss } =
            parse_statm(text, page_size).map_err(|e| parse_error(e, &path()))?;
        let name = match &self.private {
            PrivateFrom::Rss => {
                return Ok(Some(Counted {
                    vms,
                    rss,
                    by_rss: true,
                }))
            }
            PrivateFrom::Rollup => "smaps_rollup",
            PrivateFrom::Smaps => "smaps",
        };
        let file = match File::open(dir.join(name)) {
            Ok(f) => f,
            Err(e) if is_gone(&e) || is_srch(&e) => return Ok(None),
            Err(e) => return Err(crate::error::io_error(&e, &dir.join(name), None)),
        };
        let mut sum = PrivateSum::default();
        let read = each_line(&file, &mut bufs.lines, |line| sum.line(line));
        match read {
            Ok(()) if sum.lines == 0 => Ok(None),
            Ok(()) => Ok(Some(Counted {
                vms,
                rss: sum.bytes,
                by_rss: false,
            })),
            Err(LineError::Io(e)) if is_gone(&e) => Ok(None),
            Err(LineError::Io(e)) => Err(crate::error::io_error(&e, &dir.join(name), None)),
            Err(LineError::Parse(e)) => Err(parse_error(e, &dir.join(name))),
        }
    }

    /// The descendant's part of the tree's breakdown now, from the same file its counted memory
    /// comes from, so that its resident parts add up to what [`Descendant::read`] counts for
    /// it: the split of its private memory (`smaps_rollup`, or `smaps`; shared memory 0, see
    /// [`PrivateSplit`]), or, for one counted by its RSS, `status`'s `RssAnon`, `RssFile` and
    /// `RssShmem`, the counters its `statm` resident field sums. Threads come from `status`,
    /// descriptors from `fd/`. `Ok(None)`: the process these files belong to is gone (checked
    /// through the kept `statm` first, so a recycled PID is not read as it).
    pub(super) fn breakdown(
        &self,
        dir: &Path,
        bufs: &mut Buffers,
    ) -> Result<Option<Breakdown>, SampleError> {
        match read_from_start(&self.statm, &mut bufs.statm, Ends::AtShortRead) {
            Ok(_) => {}
            Err(e) if is_gone(&e) => return Ok(None),
            Err(e) => return Err(crate::error::io_error(&e, &dir.join("statm"), None)),
        }
        let mut part = Breakdown::default();
        let name = match &self.private {
            PrivateFrom::Rss => None,
            PrivateFrom::Rollup => Some("smaps_rollup"),
            PrivateFrom::Smaps => Some("smaps"),
        };
        if let Some(name) = name {
            let file = match File::open(dir.join(name)) {
                Ok(f) => f,
                Err(e) if is_gone(&e) || is_srch(&e) => return Ok(None),
                Err(e) => return Err(crate::error::io_error(&e, &dir.join(name), None)),
            };
            let mut split = PrivateSplit::default();
            match each_line(&file, &mut bufs.lines, |line| split.line(line)) {
                // Empty: a zombie's, as in `read`.
                Ok(()) if split.lines == 0 => return Ok(None),
                Ok(()) => {}
                Err(LineError::Io(e)) if is_gone(&e) => return Ok(None),
                Err(LineError::Io(e)) => {
                    return Err(crate::error::io_error(&e, &dir.join(name), None))
                }
                Err(LineError::Parse(e)) => return Err(parse_error(e, &dir.join(name))),
            }
            let parts = split.parts();
            (part.anon, part.file, part.swap) = (parts.anon, parts.file, parts.swap);
        }
        let Some(status) = read_status(dir, &mut bufs.status)? else {
            return Ok(None);
        };
        part.threads = status.threads;
        if name.is_none() {
            (part.anon, part.file, part.shmem, part.swap) =
                (status.anon, status.file, status.shmem, status.swap);
        }
        if !count_fds(dir, &mut part.fds)? {
            return Ok(None);
        }
        Ok(Some(part))
    }
}

/// ESRCH, told apart from ENOENT: opening a file of a process that is being reaped.
fn is_srch(e: &io::Error) -> bool {
    rustix::io::Errno::from_io_error(e) == Some(rustix::io::Errno::SRCH)
}
