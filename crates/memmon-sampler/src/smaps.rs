//! [`SmapsSource`]: the detail block for a process watched from outside, from `/proc/PID/smaps`.

use crate::error::{io_error, is_gone, parse_error};
use crate::procfs::parse::{parse_smaps, parse_smaps_rollup, parse_status};
use memmon_core::{Detail, DetailSource, SampleError, Site};
use std::io;
use std::path::PathBuf;

/// How many sites a detail block lists (the log's `[Top 10 メモリ消費箇所]`).
const TOP: usize = 10;

/// Summarises `/proc/PID/smaps` into one [`Detail::Smaps`]: anonymous and swapped memory
/// (`smaps_rollup`), thread count (`status`), open descriptors (`fd/`), and the mappings grouped
/// by path, the 10 largest by summed RSS (ties ordered by path, so blocks are deterministic).
///
/// Reading `smaps` needs the same rights as `ptrace` reading the process: for another user's
/// process it fails with [`SampleError::PermissionDenied`]. It walks every page table of the
/// process, so it is asked only every 10th sample.
#[derive(Debug, Clone)]
pub struct SmapsSource {
    pid: u32,
    dir: PathBuf,
}

impl SmapsSource {
    /// A source for process `pid` under the proc root `root` (`/proc`, or a fixture tree).
    /// Nothing is read until [`DetailSource::detail`].
    pub fn new(pid: u32, root: impl Into<PathBuf>) -> Self {
        SmapsSource {
            pid,
            dir: root.into().join(pid.to_string()),
        }
    }

    /// The process whose mappings are read.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Reads a file of the process. Mapping paths are file names, which may be any bytes, so
    /// the text is converted lossily rather than rejected.
    fn read(&self, name: &str) -> Result<String, (io::Error, PathBuf)> {
        let path = self.dir.join(name);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
            Err(e) => Err((e, path)),
        }
    }

    fn read_required(&self, name: &str) -> Result<(String, PathBuf), SampleError> {
        let path = self.dir.join(name);
        self.read(name)
            .map(|text| (text, path))
            .map_err(|(e, path)| io_error(&e, &path, Some(self.pid)))
    }

    /// Open descriptors, best effort: 0 when the `fd` directory may not be listed (it needs
    /// ptrace rights, stricter than `status`), and the entries read so far when listing fails
    /// midway. A count is a hint in a detail block, not worth failing the whole block for.
    fn fds(&self) -> Result<u64, SampleError> {
        let path = self.dir.join("fd");
        let entries = match std::fs::read_dir(&path) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => return Ok(0),
            Err(e) => return Err(io_error(&e, &path, Some(self.pid))),
        };
        let mut count = 0;
        for entry in entries {
            match entry {
                Ok(_) => count += 1,
                Err(_) => break,
            }
        }
        Ok(count)
    }
}

impl DetailSource for SmapsSource {
    fn detail(&mut self) -> Result<Vec<Detail>, SampleError> {
        let (text, path) = self.read_required("smaps")?;
        let smaps = parse_smaps(&text).map_err(|e| parse_error(e, &path))?;
        drop(text);

        // smaps_rollup's sums are taken in one pass, so they are consistent with each other;
        // kernels before 4.14 lack it and the sums of smaps stand in.
        let (anonymous, swap) = match self.read("smaps_rollup") {
            Ok(text) => {
                let path = self.dir.join("smaps_rollup");
                let rollup = parse_smaps_rollup(&text).map_err(|e| parse_error(e, &path))?;
                (rollup.anonymous, rollup.swap)
            }
            Err((e, _)) if is_gone(&e) && self.dir.join("status").exists() => {
                (smaps.anonymous, smaps.swap)
            }
            Err((e, path)) => return Err(io_error(&e, &path, Some(self.pid))),
        };

        let (text, path) = self.read_required("status")?;
        let threads = parse_status(&text)
            .map_err(|e| parse_error(e, &path))?
            .threads;
        let fds = self.fds()?;

        let sites = smaps
            .groups
            .into_iter()
            .take(TOP)
            .map(|g| Site {
                location: g.path,
                size: g.rss,
                count: g.count,
            })
            .collect();
        Ok(vec![Detail::Smaps {
            anonymous,
            swap,
            threads,
            fds,
            sites,
        }])
    }
}
