//! The Linux fast path: [`ProcfsSampler`] reads `statm` and `meminfo` from `/proc`.

mod breakdown;
mod descendant;
pub(crate) mod lines;
pub mod parse;
mod tree;

pub use tree::{adopted, children, descendants};

use crate::error::{io_error, not_utf8, parse_error};
use memmon_core::{Breakdown, Reading, SampleError, Sampler};
use parse::{parse_meminfo_bytes, parse_statm, parse_status, Statm};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use tree::Tree;

/// Notices of every [`ProcfsSampler`] of this process not yet taken by
/// [`ProcfsSampler::take_pending_notices`]. Process-wide because the caller holds its sampler
/// as a `dyn Sampler`, whose trait has no room for them; this crate prints nothing itself.
static PENDING_NOTICES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Whether each kind of notice has been queued by some sampler of this process: `memmon run`
/// reads the same tree with two samplers (the session's and the stop path's), and the user is
/// told once.
static QUEUED_RSS_COUNTED: AtomicBool = AtomicBool::new(false);
static QUEUED_NO_ROLLUP: AtomicBool = AtomicBool::new(false);

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
    /// The whole tree's figures (the process and all its descendants, found afresh at every
    /// sample): RSS is the process's RSS plus each descendant's private memory
    /// (`Private_Clean + Private_Dirty` of `smaps_rollup`, or of `smaps` on kernels before
    /// 4.14), so pages forked children share with their parent count once; a descendant whose
    /// private memory cannot be read counts with its RSS. VMS is the sum of `VmSize`.
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
    /// Read space, zeroed once when it grows: re-zeroing it before every `pread` (`resize`)
    /// was a 4 KiB `memset` per sample, a quarter of `memmon run`'s own instructions.
    buf: Vec<u8>,
    /// The file is one record the kernel generates in one go (see [`Ends::AtShortRead`]).
    ends: Ends,
}

/// How [`read_from_start`] knows it has reached the end of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ends {
    /// Only a 0-byte read is the end: files that may hand out their text in pieces. Every
    /// kept `/proc/PID/…` file is a single_open one today; `/proc/vmstat` (see `OomCounter`)
    /// is not.
    AtZeroRead,
    /// A read that returns fewer bytes than the buffer space offered is the whole file. For
    /// `statm` and `meminfo` only: the kernel builds them with seq_file's `single_open`, which
    /// renders the whole text into its own buffer and hands out as much as the reader asked
    /// for, so a read that leaves room in our buffer got everything, and the second `pread` the
    /// 0-byte rule needs (one more system call per file per sample) is saved. A read that fills
    /// the space exactly proves nothing: the buffer grows and reading goes on.
    AtShortRead,
}

impl KeptFile {
    fn open(
        path: PathBuf,
        pid: Option<u32>,
        capacity: usize,
        ends: Ends,
    ) -> Result<Self, SampleError> {
        match File::open(&path) {
            Ok(file) => Ok(KeptFile {
                file,
                path,
                buf: vec![0; capacity],
                ends,
            }),
            Err(e) => Err(io_error(&e, &path, pid)),
        }
    }

    /// The file's current content. Reuses the buffer, so a steady-state sample allocates nothing.
    fn read(&mut self, pid: Option<u32>) -> Result<&str, SampleError> {
        let path = &self.path;
        let bytes = Self::read_into(&self.file, &mut self.buf, self.ends, path, pid)?;
        std::str::from_utf8(bytes).map_err(|_| not_utf8(path))
    }

    /// The file's current content as bytes, for a parser that reads only part of it.
    fn read_bytes(&mut self, pid: Option<u32>) -> Result<&[u8], SampleError> {
        Self::read_into(&self.file, &mut self.buf, self.ends, &self.path, pid)
    }

    fn read_into<'b>(
        file: &File,
        buf: &'b mut Vec<u8>,
        ends: Ends,
        path: &Path,
        pid: Option<u32>,
    ) -> Result<&'b [u8], SampleError> {
        match read_from_start(file, buf, ends) {
            Ok(len) => Ok(&buf[..len]),
            Err(e) => Err(io_error(&e, path, pid)),
        }
    }
}

/// Reads all of `file` from offset 0 into the start of `buf` and returns how many bytes it
/// holds; `ends` says how the end is recognised. All of `buf` is read space: a read that fills
/// it grows it (the new part zeroed once, so later reads reuse it as it is).
pub(crate) fn read_from_start(file: &File, buf: &mut Vec<u8>, ends: Ends) -> io::Result<usize> {
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            buf.resize(filled + filled.max(256), 0);
        }
        let offered = buf.len() - filled;
        match file.read_at(&mut buf[filled..], filled as u64) {
            // proc files may hand out their text in pieces; a 0-byte read is always the end.
            Ok(0) => return Ok(filled),
            // A single_open file that left room in the buffer has given all it has.
            Ok(n) if ends == Ends::AtShortRead && n < offered => return Ok(filled + n),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Samples a process (or process tree) from `/proc/PID/statm` and the system from
/// `/proc/meminfo`, the cheapest files that give RSS, VMS, total and available memory.
///
/// Whether process `pid` under `root` has ended: gone, or a zombie (exited, not yet collected
/// by its parent; its memory is gone). A `status` that cannot be read for another reason
/// (permissions, a fixture tree without it) counts as running: the caller goes on as before.
pub fn has_ended(root: &Path, pid: u32) -> bool {
    let path = root.join(pid.to_string()).join("status");
    match std::fs::read(&path) {
        Ok(bytes) => std::str::from_utf8(&bytes)
            .ok()
            .and_then(|text| parse_status(text).ok())
            .is_some_and(|status| status.is_dead()),
        Err(e) => crate::error::is_gone(&e),
    }
}

/// Waits, at most `limit`, until process `pid`'s program is mapped (its text pages, `statm`'s
/// fourth field, are no longer 0). `std::process::Command::spawn` returns as soon as the child's
/// `execve` has let the old image go, before the new program is mapped: a first sample taken
/// then (`--startup-delay 0`) read a process still named `memmon` with 0.00 MB resident and
/// virtual, 30 % of the time on the 2-core box, and that baseline made every later sample look
/// like growth. A `statm` that cannot be read (the process gone, no `/proc`) ends the wait.
pub fn wait_until_loaded(root: &Path, pid: u32, limit: std::time::Duration) {
    let statm = root.join(pid.to_string()).join("statm");
    let started = std::time::Instant::now();
    loop {
        let text = std::fs::read_to_string(&statm).ok().and_then(|t| {
            t.split_ascii_whitespace()
                .nth(3)
                .and_then(|pages| pages.parse::<u64>().ok())
        });
        if text.is_none_or(|pages| pages > 0) || started.elapsed() >= limit {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// Errors: the process gone (ENOENT, ESRCH, or a zombie) is [`SampleError::Exited`], except at
/// creation, where a zombie is [`SampleError::Zombie`] and a kernel thread
/// [`SampleError::KernelThread`]; EACCES or EPERM is [`SampleError::PermissionDenied`];
/// unexpected content is [`SampleError::Parse`] with the path; anything else is
/// [`SampleError::Io`].
#[derive(Debug)]
pub struct ProcfsSampler {
    pid: u32,
    root: PathBuf,
    page_size: u64,
    statm: KeptFile,
    meminfo: KeptFile,
    /// Present with `children: true`: finds and reads the descendants.
    tree: Option<Tree>,
    /// Read space for the watched process's `status`, reused by every breakdown.
    status_buf: Vec<u8>,
    /// What this sampler has told the user (each at most once).
    notices: Vec<String>,
    told_rss_counted: bool,
    told_no_rollup: bool,
}

impl ProcfsSampler {
    /// Opens the files of process `pid` under `options.root` and takes one reading to check
    /// that they can be read and parsed. A PID that does not exist gives
    /// [`SampleError::Exited`]; one memmon may not read, [`SampleError::PermissionDenied`]; a
    /// zombie, [`SampleError::Zombie`]; a kernel thread, [`SampleError::KernelThread`].
    pub fn new(pid: u32, options: ProcfsOptions) -> Result<Self, SampleError> {
        let root = options.root;
        // meminfo first: a wrong root then reads as an I/O error, not as "process exited".
        let meminfo = KeptFile::open(root.join("meminfo"), None, 4096, Ends::AtShortRead)?;
        let statm = KeptFile::open(
            root.join(pid.to_string()).join("statm"),
            Some(pid),
            128,
            Ends::AtShortRead,
        )?;
        let tree = options.children.then(|| Tree::new(&root, pid));
        let mut sampler = ProcfsSampler {
            pid,
            root,
            page_size: page_size(),
            statm,
            meminfo,
            tree,
            status_buf: Vec::new(),
            notices: Vec::new(),
            told_rss_counted: false,
            told_no_rollup: false,
        };
        sampler.check_watchable()?;
        sampler.sample()?;
        Ok(sampler)
    }

    /// Refuses, at the start, a process with no user memory: a zombie (exited, not yet
    /// collected by its parent) and a kernel thread. Both read all zeros in `statm`, which a
    /// live user process never does, so only then are `status` and `stat` read. Without this a
    /// kernel thread was watched at 0.00 MB forever and a zombie was reported as no process.
    fn check_watchable(&mut self) -> Result<(), SampleError> {
        let pid = self.pid;
        let text = self.statm.read(Some(pid))?;
        let statm =
            parse_statm(text, self.page_size).map_err(|e| parse_error(e, &self.statm.path))?;
        if statm.vms != 0 {
            return Ok(());
        }
        if self.is_dead()? {
            return Err(SampleError::Zombie { pid });
        }
        // PF_KTHREAD in `stat`'s flags says so for certain. A live user process without an
        // address space is one between freeing it and becoming a zombie: it is exiting. A
        // `stat` that cannot be read (fixture trees) leaves the zeros to decide: a kernel thread.
        let stat = std::fs::read_to_string(self.root.join(pid.to_string()).join("stat"));
        match stat.ok().as_deref().and_then(stat_flags) {
            Some(flags) if flags & PF_KTHREAD == 0 => Err(SampleError::Exited { pid }),
            _ => Err(SampleError::KernelThread { pid }),
        }
    }

    /// Converts `statm` pages with `page_size` bytes instead of the running kernel's: for fixture
    /// trees captured on another machine, so their numbers are the same everywhere.
    pub fn with_page_size(mut self, page_size: u64) -> Self {
        self.page_size = page_size;
        self
    }

    /// Makes `adopter`, a child subreaper (`PR_SET_CHILD_SUBREAPER`: memmon, the command's
    /// parent), part of how the tree is found, with `children`: the orphans of the command's
    /// tree (a daemon it started, which would otherwise be re-parented out of reach) are
    /// re-parented to it, and its children other than the watched process count as
    /// descendants. The tree then outlives the watched process: once that is gone, a sample
    /// sums what is left (each process's private memory, as for any descendant), and only
    /// when nothing is left is it [`SampleError::Exited`]. Without `children` this changes
    /// nothing.
    pub fn with_adopter(mut self, adopter: u32) -> Self {
        self.tree = self.tree.take().map(|t| t.adopted_by(adopter));
        self
    }

    /// The watched process.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The notices this sampler has given so far, oldest first, each said once: with
    /// `--children`, that some descendant's private memory could not be read and its RSS
    /// counted instead, or that the kernel has no `smaps_rollup` and `smaps` is summed. The
    /// caller says them (on stderr); [`ProcfsSampler::take_pending_notices`] collects them
    /// from every sampler for a caller that holds its sampler as a `dyn Sampler`.
    pub fn notices(&self) -> &[String] {
        &self.notices
    }

    /// Takes the notices the samplers of this process have given since the last call, each
    /// kind once per process however many samplers give it.
    pub fn take_pending_notices() -> Vec<String> {
        std::mem::take(
            &mut *PENDING_NOTICES
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// How many descendants have their files kept open between samples (with `children`);
    /// at most 256, see [`ProcfsOptions::children`].
    pub fn kept_descendants(&self) -> usize {
        self.tree.as_ref().map_or(0, Tree::kept)
    }

    /// Records a notice of this sampler, and queues it for the caller unless a notice of the
    /// same kind (`queued`) already was.
    fn notice(&mut self, queued: &AtomicBool, text: String) {
        if !queued.swap(true, Ordering::Relaxed) {
            PENDING_NOTICES
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(text.clone());
        }
        self.notices.push(text);
    }

    /// What the watched tree's memory is made of and what it holds now (issue #19's
    /// breakdown line): resident memory by kind, swap, threads and descriptors by kind, for
    /// the watched process and, with `children`, each descendant, summed.
    ///
    /// The resident parts add up to the RSS [`Sampler::sample`] reports when nothing changes
    /// in between, because each process's parts come from the source of what the sample
    /// counts for it:
    ///
    /// - the watched process: `status`'s `RssAnon`, `RssFile` and `RssShmem`. The sample reads
    ///   `statm`'s resident field, which is the sum of the same three kernel counters in
    ///   pages (`VmRSS` is printed as their sum too), so the two agree at any one moment and
    ///   differ only by what the process mapped or freed between the two reads; no scaling is
    ///   needed. `VmSwap` and `Threads` come from the same read.
    /// - a descendant: the split of its private memory (`Private_Clean + Private_Dirty` of
    ///   `smaps_rollup`, or `smaps`, what the sample counts for it) into anonymous and
    ///   file-backed, shared memory 0, swap from the same file (see
    ///   [`parse::PrivateSplit`]); one counted by its RSS (its private memory unreadable) is
    ///   split by its `status`, as the watched process is.
    ///
    /// Descriptors: `/proc/PID/fd` of each process, read once and counted while it is listed
    /// (see [`parse::fd_kind`]); one that memmon may not list adds none.
    ///
    /// Cost: per process, one read of `status`, one of `smaps_rollup` (descendants), one
    /// listing of `fd` and a `readlink` per descriptor; meant for every tenth sample, not
    /// every one. Errors as for [`Sampler::sample`]: the watched process gone is
    /// [`SampleError::Exited`] (with an adopter, only once nothing of the tree is left).
    pub fn breakdown(&mut self) -> Result<Breakdown, SampleError> {
        // The kept statm first: it is bound to the watched process, so a PID recycled since is
        // never read as it, and a zombie is told from a live process as the sample tells it.
        let main = match self.main_statm() {
            Ok(_) => {
                let dir = self.root.join(self.pid.to_string());
                let status = breakdown::read_status(&dir, &mut self.status_buf)?;
                let mut part = Breakdown::default();
                let alive = match status {
                    Some(s) => {
                        (part.anon, part.file, part.shmem, part.swap, part.threads) =
                            (s.anon, s.file, s.shmem, s.swap, s.threads);
                        breakdown::count_fds(&dir, &mut part.fds)?
                    }
                    None => false,
                };
                if !alive {
                    return Err(SampleError::Exited { pid: self.pid });
                }
                Some(part)
            }
            Err(SampleError::Exited { .. }) if self.tree.as_ref().is_some_and(Tree::adopts) => {
                if let Some(tree) = &mut self.tree {
                    tree.root_gone();
                }
                None
            }
            Err(e) => return Err(e),
        };
        let mut sum = main.unwrap_or_default();
        if let Some(tree) = &mut self.tree {
            let (descendants, live) = tree.breakdown()?;
            if main.is_none() && live == 0 {
                return Err(SampleError::Exited { pid: self.pid });
            }
            breakdown::add(&mut sum, &descendants);
        }
        Ok(sum)
    }

    fn main_statm(&mut self) -> Result<Statm, SampleError> {
        let pid = self.pid;
        let text = self.statm.read(Some(pid))?;
        let statm =
            parse_statm(text, self.page_size).map_err(|e| parse_error(e, &self.statm.path))?;
        if statm.vms == 0 {
            // No address space: a zombie (statm reads all zeros until its parent reaps it), or
            // a process between freeing its memory and becoming one. Either has exited for
            // what a sample line says; `RSS: 0.00MB` would be a false figure (seen under load:
            // one such line before the exit). Kernel threads, which live without one, were
            // refused at the start (`check_watchable`).
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
    fn breakdown(&mut self) -> Option<Result<Breakdown, SampleError>> {
        Some(ProcfsSampler::breakdown(self))
    }

    fn sample(&mut self) -> Result<Reading, SampleError> {
        let main = match self.main_statm() {
            Ok(main) => Some(main),
            // An adopted tree outlives its root (see `with_adopter`).
            Err(SampleError::Exited { .. }) if self.tree.as_ref().is_some_and(Tree::adopts) => {
                if let Some(tree) = &mut self.tree {
                    tree.root_gone();
                }
                None
            }
            Err(e) => return Err(e),
        };
        let text = self.meminfo.read_bytes(None)?;
        let mem = parse_meminfo_bytes(text).map_err(|e| parse_error(e, &self.meminfo.path))?;
        let (mut rss, mut vms) = main.map_or((0, 0), |m| (m.rss, m.vms));
        if let Some(tree) = &mut self.tree {
            let sum = tree.descendants_sum(self.page_size)?;
            if main.is_none() && sum.live == 0 {
                return Err(SampleError::Exited { pid: self.pid });
            }
            rss = rss.saturating_add(sum.counted);
            vms = vms.saturating_add(sum.vms);
            let notes = tree.notes();
            if let (false, Some(pid)) = (self.told_rss_counted, notes.rss_example) {
                self.told_rss_counted = true;
                let text = format!(
                    "--children: the private memory of process {pid} (and any other descendant \
                     memmon may not read) cannot be read; it counts with its RSS, so pages it \
                     shares with its parent count twice"
                );
                self.notice(&QUEUED_RSS_COUNTED, text);
            }
            if !self.told_no_rollup && notes.no_rollup {
                self.told_no_rollup = true;
                self.notice(
                    &QUEUED_NO_ROLLUP,
                    "--children: this kernel has no /proc/PID/smaps_rollup (Linux < 4.14); \
                     descendants' private memory is summed from smaps, which costs more per sample"
                        .to_owned(),
                );
            }
        }
        Ok(Reading {
            rss,
            vms,
            sys_total: mem.total,
            sys_available: mem.available,
        })
    }
}

/// The kernel's flag for a kernel thread in `/proc/PID/stat`'s `flags` (include/linux/sched.h).
const PF_KTHREAD: u64 = 0x0020_0000;

/// The `flags` field (the 9th) of `/proc/PID/stat`, counted after the command name's closing
/// parenthesis because the name itself may hold spaces and parentheses.
fn stat_flags(text: &str) -> Option<u64> {
    let (_, after_name) = text.rsplit_once(')')?;
    // After the name: state, ppid, pgrp, session, tty_nr, tpgid, flags.
    after_name.split_ascii_whitespace().nth(6)?.parse().ok()
}

/// Reads a whole file into `buf` (cleared first), for files opened afresh at every sample.
fn read_into(path: &Path, buf: &mut Vec<u8>) -> io::Result<()> {
    use std::io::Read;
    buf.clear();
    File::open(path)?.read_to_end(buf).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str, content: &[u8]) -> PathBuf {
        let p = std::env::temp_dir().join(format!("memmon-procfs-{name}-{}", std::process::id()));
        std::fs::write(&p, content).unwrap();
        p
    }

    #[test]
    fn stat_flags_are_read_after_the_name() {
        let kthreadd = "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 6 0 0";
        assert_eq!(stat_flags(kthreadd), Some(2_129_984));
        assert_ne!(2_129_984 & PF_KTHREAD, 0);
        let odd_name = "7 (a) S 1 (b) S 1 7 7 0 -1 4194560 0 0";
        assert_eq!(stat_flags(odd_name), Some(4_194_560));
        assert_eq!(4_194_560 & PF_KTHREAD, 0);
        assert_eq!(stat_flags("7 (a) S 1"), None);
        assert_eq!(stat_flags("garbage"), None);
    }

    proptest::proptest! {
        /// Whatever the command name holds (spaces, parentheses, digits), the flags are the
        /// ones after it; truncated text gives none rather than another field.
        #[test]
        fn stat_flags_survive_any_command_name(
            name in "[ -~]{0,16}",
            flags in proptest::prelude::any::<u64>(),
            state in "[RSDZTtXI]",
            cut in 0usize..20,
        ) {
            let line = format!("42 ({name}) {state} 1 42 42 0 -1 {flags} 5 0 0 0 7 3 0 0 20 0 1");
            proptest::prop_assert_eq!(stat_flags(&line), Some(flags));
            // Cut anywhere after the name, before the flags.
            let tail = format!(" {state} 1 42 42 0 -1");
            let cut = format!("42 ({name}){}", &tail[..cut.min(tail.len())]);
            proptest::prop_assert_eq!(stat_flags(&cut), None);
        }
    }

    #[test]
    fn a_kernel_thread_and_a_zombie_are_refused_at_the_start() {
        if let Ok(stat) = std::fs::read_to_string("/proc/2/stat") {
            // PID 2 is kthreadd outside a PID namespace; inside one it may be anything.
            if stat_flags(&stat).is_some_and(|f| f & PF_KTHREAD != 0) {
                let err = ProcfsSampler::new(2, ProcfsOptions::default()).unwrap_err();
                assert_eq!(err, SampleError::KernelThread { pid: 2 });
            }
        }
        // A child not yet waited for is a zombie once it has exited.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let status = PathBuf::from(format!("/proc/{pid}/stat"));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !std::fs::read_to_string(&status).unwrap().contains(") Z ") {
            assert!(std::time::Instant::now() < deadline, "{pid} never exited");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let err = ProcfsSampler::new(pid, ProcfsOptions::default()).unwrap_err();
        assert_eq!(err, SampleError::Zombie { pid });
        child.wait().unwrap();
    }

    #[test]
    fn a_read_that_fills_the_buffer_exactly_grows_it_and_goes_on() {
        for ends in [Ends::AtShortRead, Ends::AtZeroRead] {
            for len in [0usize, 1, 7, 8, 9, 16, 300, 4096] {
                let content: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
                let p = tmp(&format!("exact-{len}-{ends:?}"), &content);
                let file = File::open(&p).unwrap();
                let mut buf = vec![0; 8];
                let n = read_from_start(&file, &mut buf, ends).unwrap();
                assert_eq!(buf[..n], content, "len {len}, {ends:?}");
                // Re-reading reuses the grown buffer and gives the same text.
                buf[..n].fill(b'#');
                let n = read_from_start(&file, &mut buf, ends).unwrap();
                assert_eq!(buf[..n], content, "len {len}, {ends:?}, second read");
                std::fs::remove_file(&p).unwrap();
            }
        }
    }

    #[test]
    fn live_statm_and_meminfo_read_whole_with_one_read() {
        // The kernel's own files: the short-read rule must give the same text as reading to EOF.
        for path in ["/proc/self/statm", "/proc/meminfo"] {
            let Ok(file) = File::open(path) else { continue };
            let mut short = vec![0; 8];
            let n = read_from_start(&file, &mut short, Ends::AtShortRead).unwrap();
            let short = &short[..n];
            assert!(short.ends_with(b"\n"), "{path}: {short:?}");
            let text = std::str::from_utf8(short).unwrap();
            let first = text.lines().next().unwrap_or("");
            assert!(!first.is_empty(), "{path}");
        }
    }
}
