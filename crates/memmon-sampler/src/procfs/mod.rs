//! The Linux fast path: [`ProcfsSampler`] reads `statm` and `meminfo` from `/proc`.

pub mod parse;
mod tree;

use crate::error::{io_error, not_utf8, parse_error};
use memmon_core::{Reading, SampleError, Sampler};
use parse::{parse_meminfo, parse_statm, parse_status, Statm};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use tree::Tree;

/// The size of the pages `statm` counts, in bytes (4096 on most systems; 16384 on a Raspberry
/// Pi 5 running its default kernel, which is why it is asked for and never assumed).
pub fn page_size() -> u64 {
    // usize is at most 64 bits on every target Rust supports, so this never truncates.
    rustix::param::page_size() as u64
}

/// How a [`ProcfsSampler`] reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcfsOptions {
    /// The proc file system's mount point; tests point it at a fixture tree.
    pub root: PathBuf,
    /// Sum RSS and VMS over the process and all its descendants (found afresh at every sample).
    pub children: bool,
}

impl Default for ProcfsOptions {
    fn default() -> Self {
        ProcfsOptions {
            root: PathBuf::from("/proc"),
            children: false,
        }
    }
}

/// A file kept open and re-read from offset 0 at every sample: one `pread` instead of
/// open + read + close, and, for `/proc/PID/…`, the descriptor stays bound to the process it was
/// opened for, so a recycled PID can never be mistaken for the watched process.
#[derive(Debug)]
struct KeptFile {
    file: File,
    path: PathBuf,
    buf: Vec<u8>,
}

impl KeptFile {
    fn open(path: PathBuf, pid: Option<u32>, capacity: usize) -> Result<Self, SampleError> {
        match File::open(&path) {
            Ok(file) => Ok(KeptFile {
                file,
                path,
                buf: Vec::with_capacity(capacity),
            }),
            Err(e) => Err(io_error(&e, &path, pid)),
        }
    }

    /// The file's current content. Reuses the buffer, so a steady-state sample allocates nothing.
    fn read(&mut self, pid: Option<u32>) -> Result<&str, SampleError> {
        if let Err(e) = read_from_start(&self.file, &mut self.buf) {
            return Err(io_error(&e, &self.path, pid));
        }
        std::str::from_utf8(&self.buf).map_err(|_| not_utf8(&self.path))
    }
}

/// Reads all of `file` from offset 0 into `buf` (cleared first, capacity kept).
fn read_from_start(file: &File, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.clear();
    loop {
        let filled = buf.len();
        if filled == buf.capacity() {
            buf.reserve(filled.max(256));
        }
        buf.resize(buf.capacity(), 0);
        let read = file.read_at(&mut buf[filled..], filled as u64);
        match read {
            // proc files may hand out their text in pieces; only a 0-byte read is the end.
            Ok(0) => {
                buf.truncate(filled);
                return Ok(());
            }
            Ok(n) => buf.truncate(filled + n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => buf.truncate(filled),
            Err(e) => {
                buf.truncate(filled);
                return Err(e);
            }
        }
    }
}

/// Samples a process (or process tree) from `/proc/PID/statm` and the system from
/// `/proc/meminfo`, the cheapest files that give RSS, VMS, total and available memory.
///
/// Errors: the process gone (ENOENT, ESRCH, or a zombie) is [`SampleError::Exited`]; EACCES or
/// EPERM is [`SampleError::PermissionDenied`]; unexpected content is [`SampleError::Parse`] with
/// the path; anything else is [`SampleError::Io`].
#[derive(Debug)]
pub struct ProcfsSampler {
    pid: u32,
    root: PathBuf,
    page_size: u64,
    statm: KeptFile,
    meminfo: KeptFile,
    /// Present with `children: true`: finds and reads the descendants.
    tree: Option<Tree>,
}

impl ProcfsSampler {
    /// Opens the files of process `pid` under `options.root` and takes one reading to check
    /// that they can be read and parsed. A PID that does not exist gives
    /// [`SampleError::Exited`]; one memmon may not read, [`SampleError::PermissionDenied`].
    pub fn new(pid: u32, options: ProcfsOptions) -> Result<Self, SampleError> {
        let root = options.root;
        // meminfo first: a wrong root then reads as an I/O error, not as "process exited".
        let meminfo = KeptFile::open(root.join("meminfo"), None, 4096)?;
        let statm = KeptFile::open(root.join(pid.to_string()).join("statm"), Some(pid), 128)?;
        let tree = options.children.then(|| Tree::new(&root, pid));
        let mut sampler = ProcfsSampler {
            pid,
            root,
            page_size: page_size(),
            statm,
            meminfo,
            tree,
        };
        sampler.sample()?;
        Ok(sampler)
    }

    /// Converts `statm` pages with `page_size` bytes instead of the running kernel's: for fixture
    /// trees captured on another machine, so their numbers are the same everywhere.
    pub fn with_page_size(mut self, page_size: u64) -> Self {
        self.page_size = page_size;
        self
    }

    /// The watched process.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    fn main_statm(&mut self) -> Result<Statm, SampleError> {
        let pid = self.pid;
        let text = self.statm.read(Some(pid))?;
        let statm =
            parse_statm(text, self.page_size).map_err(|e| parse_error(e, &self.statm.path))?;
        if statm.vms == 0 && self.is_dead()? {
            // A zombie's statm reads all zeros until its parent reaps it: it has exited.
            return Err(SampleError::Exited { pid });
        }
        Ok(statm)
    }

    /// Whether the watched process is a zombie. Only asked when statm reads zero, which a live
    /// user process never does (kernel threads do, and are alive).
    fn is_dead(&self) -> Result<bool, SampleError> {
        let path = self.root.join(self.pid.to_string()).join("status");
        let text = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) => return Err(io_error(&e, &path, Some(self.pid))),
        };
        let text = std::str::from_utf8(&text).map_err(|_| not_utf8(&path))?;
        let status = parse_status(text).map_err(|e| parse_error(e, &path))?;
        Ok(status.is_dead())
    }
}

impl Sampler for ProcfsSampler {
    fn sample(&mut self) -> Result<Reading, SampleError> {
        let main = self.main_statm()?;
        let text = self.meminfo.read(None)?;
        let mem = parse_meminfo(text).map_err(|e| parse_error(e, &self.meminfo.path))?;
        let (mut rss, mut vms) = (main.rss, main.vms);
        if let Some(tree) = &mut self.tree {
            let sum = tree.descendants_statm(self.page_size)?;
            rss = rss.saturating_add(sum.rss);
            vms = vms.saturating_add(sum.vms);
        }
        Ok(Reading {
            rss,
            vms,
            sys_total: mem.total,
            sys_available: mem.available,
        })
    }
}

/// Reads a whole file into `buf` (cleared first), for files opened afresh at every sample.
fn read_into(path: &Path, buf: &mut Vec<u8>) -> io::Result<()> {
    use std::io::Read;
    buf.clear();
    File::open(path)?.read_to_end(buf).map(|_| ())
}
