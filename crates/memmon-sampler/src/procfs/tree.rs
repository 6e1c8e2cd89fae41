//! Finding and reading a process's descendants, for `children: true`.
//!
//! The tree is found afresh at every sample, because children come and go. The fast way is
//! `/proc/PID/task/TID/children` (every thread's own children, recursively); kernels built
//! without `CONFIG_PROC_CHILDREN` lack that file, and then every `/proc/N/stat` is scanned for
//! its parent PID instead. A descendant that vanishes between being listed and being read is
//! skipped: it no longer holds memory. Each descendant adds its `VmSize` and its private
//! memory (see `descendant.rs`), read through files kept open while it stays in the tree.

use super::descendant::{Buffers, Descendant, Opened};
use super::parse::{parse_children, parse_stat_ppid};
use super::read_into;
use crate::error::{io_error, is_gone, not_utf8, parse_error};
use memmon_core::{Breakdown, SampleError};
use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The current descendants of `pid` (not `pid` itself), found the way a sample finds them:
/// memmon signals them all when it is asked to stop, so that a launcher that does not `exec`
/// cannot leave its client without the stop signal.
pub fn descendants(root: &Path, pid: u32) -> Result<Vec<u32>, SampleError> {
    let mut tree = Tree::new(root, pid);
    match tree.discovery {
        Discovery::ChildrenFiles => tree.find_by_children_files()?,
        Discovery::ParentScan => tree.find_by_parent_scan()?,
    }
    Ok(std::mem::take(&mut tree.found))
}

/// The children of `pid` now (all its threads' children, zombies included): memmon, a child
/// subreaper, finds there the orphans of the command's tree it adopted, to reap them by PID.
pub fn children(root: &Path, pid: u32) -> Result<Vec<u32>, SampleError> {
    let mut tree = Tree::new(root, pid);
    tree.direct_children(pid)?;
    Ok(std::mem::take(&mut tree.kids))
}

/// The live processes (zombies left out) that `adopter`, a child subreaper, holds apart from
/// `except` (its command): each of its other children and their descendants. What the
/// command's tree left behind when the command ended: daemons it started, which were
/// re-parented to memmon.
pub fn adopted(root: &Path, adopter: u32, except: u32) -> Result<Vec<u32>, SampleError> {
    let mut tree = Tree::new(root, except).adopted_by(adopter);
    tree.root_gone = true;
    match tree.discovery {
        Discovery::ChildrenFiles => tree.find_by_children_files()?,
        Discovery::ParentScan => tree.find_by_parent_scan()?,
    }
    let found = std::mem::take(&mut tree.found);
    Ok(found
        .into_iter()
        .filter(|&pid| !is_zombie(root, pid))
        .collect())
}

/// Whether `pid` is a zombie, or gone (`/proc/PID/stat`'s state after the command name).
fn is_zombie(root: &Path, pid: u32) -> bool {
    let Ok(stat) = std::fs::read(root.join(pid.to_string()).join("stat")) else {
        return true;
    };
    let Some(close) = stat.iter().rposition(|&b| b == b')') else {
        return false;
    };
    stat[close + 1..]
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&state| state == b'Z' || state == b'X')
}

/// At most this many descendants keep their two files open between samples (512 descriptors,
/// half the usual soft limit of 1024, so memmon never runs out of descriptors for its log and
/// the command it runs). Descendants past it (a tree can have thousands) are read through files
/// opened and closed at every sample: correct, two more system calls each, and a recycled PID
/// is then guarded only by the tree having just been listed.
pub(super) const KEPT_DESCENDANTS: usize = 256;

/// What the last walk found out that the user is to be told (once each, by the caller).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct TreeNotes {
    /// The first descendant whose RSS counted (its `smaps_rollup` and `smaps` could not be
    /// read), for the notice.
    pub(super) rss_example: Option<u32>,
    /// A descendant had no `smaps_rollup` (kernel before 4.14): `smaps` was summed instead.
    pub(super) no_rollup: bool,
}

/// The tree's figures besides the watched process's own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct TreeSum {
    /// Summed `VmSize` of the descendants, in bytes.
    pub(super) vms: u64,
    /// Summed private memory of the descendants (RSS for those whose private memory cannot
    /// be read), in bytes.
    pub(super) counted: u64,
    /// How many descendants were read (live ones: the gone and zombies are not).
    pub(super) live: usize,
}

/// How descendants are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Discovery {
    /// `/proc/PID/task/TID/children`.
    ChildrenFiles,
    /// `/proc/N/stat` of every process, matched on the parent PID.
    ParentScan,
}

/// The descendant walker; its buffers are reused across samples.
#[derive(Debug)]
pub(super) struct Tree {
    root: PathBuf,
    pid: u32,
    discovery: Discovery,
    /// Descendants found in this sample.
    found: Vec<u32>,
    /// Processes still to visit.
    stack: Vec<u32>,
    /// Guards against cycles, which a PID recycled during the walk could create.
    seen: HashSet<u32>,
    /// Children listed by one process's threads, before they are visited.
    kids: Vec<u32>,
    /// `(pid, parent)` pairs of the parent scan.
    parents: Vec<(u32, u32)>,
    buf: Vec<u8>,
    path: OsString,
    number: String,
    /// Descendants' open files, by PID (at most [`KEPT_DESCENDANTS`]).
    kept: HashMap<u32, Descendant>,
    /// Counts walks, to drop the kept files of descendants no longer listed.
    walk: u64,
    bufs: Buffers,
    notes: TreeNotes,
    /// A child subreaper (memmon) that adopts the tree's orphans: its children other than the
    /// watched process are walked as descendants too.
    adopter: Option<u32>,
    /// The watched process is known to be gone: its PID may be reused by a stranger, so the
    /// walk no longer starts there.
    root_gone: bool,
}

impl Tree {
    pub(super) fn new(root: &Path, pid: u32) -> Self {
        let children_file = root
            .join(pid.to_string())
            .join("task")
            .join(pid.to_string())
            .join("children");
        let discovery = if children_file.exists() {
            Discovery::ChildrenFiles
        } else {
            Discovery::ParentScan
        };
        Tree {
            root: root.to_path_buf(),
            pid,
            discovery,
            found: Vec::new(),
            stack: Vec::new(),
            seen: HashSet::new(),
            kids: Vec::new(),
            parents: Vec::new(),
            buf: Vec::new(),
            path: OsString::new(),
            number: String::new(),
            kept: HashMap::new(),
            walk: 0,
            bufs: Buffers::default(),
            notes: TreeNotes::default(),
            adopter: None,
            root_gone: false,
        }
    }

    /// Walks the children of `adopter` other than the watched process as descendants too:
    /// with memmon a child subreaper, the orphans of the command's tree (a daemon it started)
    /// are re-parented to memmon and stay watched.
    pub(super) fn adopted_by(mut self, adopter: u32) -> Self {
        self.adopter = Some(adopter);
        self
    }

    /// Whether the tree has an adopter, so it can outlive the watched process.
    pub(super) fn adopts(&self) -> bool {
        self.adopter.is_some()
    }

    /// Says that the watched process is gone (it exited and was reaped, or is a zombie): its
    /// PID is no longer walked, since it may be reused by an unrelated process.
    pub(super) fn root_gone(&mut self) {
        self.root_gone = true;
    }

    /// What the last [`Tree::descendants_sum`] found out for the user.
    pub(super) fn notes(&self) -> TreeNotes {
        self.notes
    }

    /// How many descendants have their files kept open.
    pub(super) fn kept(&self) -> usize {
        self.kept.len()
    }

    /// The descendants' figures now (the process itself not included): VmSize, and private
    /// memory (`Private_Clean + Private_Dirty`), or RSS where that cannot be read.
    pub(super) fn descendants_sum(&mut self, page_size: u64) -> Result<TreeSum, SampleError> {
        match self.discovery {
            Discovery::ChildrenFiles => self.find_by_children_files()?,
            Discovery::ParentScan => self.find_by_parent_scan()?,
        }
        self.walk += 1;
        let walk = self.walk;
        let mut sum = TreeSum::default();
        for i in 0..self.found.len() {
            let pid = self.found[i];
            self.build_path(&[pid], "");
            let dir = PathBuf::from(&self.path);
            let counted = match self.kept.get_mut(&pid) {
                Some(kept) => {
                    kept.seen = walk;
                    match kept.read(&dir, page_size, &mut self.bufs)? {
                        Some(counted) => Some(counted),
                        // The process the files were opened for is gone, yet its PID is
                        // listed: recycled for a new descendant, which is opened afresh.
                        None => {
                            self.kept.remove(&pid);
                            self.open_and_read(pid, &dir, page_size)?
                        }
                    }
                }
                None => self.open_and_read(pid, &dir, page_size)?,
            };
            if let Some(c) = counted {
                if c.by_rss {
                    self.notes.rss_example.get_or_insert(pid);
                }
                sum.vms = sum.vms.saturating_add(c.vms);
                sum.counted = sum.counted.saturating_add(c.rss);
                sum.live += 1;
            }
        }
        self.kept.retain(|_, d| d.seen == walk);
        Ok(sum)
    }

    /// The descendants' breakdown now (the process itself not included), summed over the
    /// descendants found afresh, as [`Tree::descendants_sum`] finds them, each read from the
    /// same file its counted memory comes from (see [`Descendant::breakdown`]). The kept files
    /// are used and left as they are: which descendants stay kept is the samples' business.
    /// Returns the sum and how many descendants were read (live ones).
    pub(super) fn breakdown(&mut self) -> Result<(Breakdown, usize), SampleError> {
        match self.discovery {
            Discovery::ChildrenFiles => self.find_by_children_files()?,
            Discovery::ParentScan => self.find_by_parent_scan()?,
        }
        let mut sum = Breakdown::default();
        let mut live = 0;
        for i in 0..self.found.len() {
            let pid = self.found[i];
            self.build_path(&[pid], "");
            let dir = PathBuf::from(&self.path);
            let kept = match self.kept.get(&pid) {
                Some(kept) => kept.breakdown(&dir, &mut self.bufs)?,
                None => None,
            };
            let part = match kept {
                Some(part) => Some(part),
                // Not kept (new since the last sample, past the limit, or its PID recycled):
                // opened for this reading only.
                None => match Descendant::open(&dir, self.walk)? {
                    Some((fresh, _)) => fresh.breakdown(&dir, &mut self.bufs)?,
                    None => None,
                },
            };
            if let Some(part) = part {
                super::breakdown::add(&mut sum, &part);
                live += 1;
            }
        }
        Ok((sum, live))
    }

    /// Opens a descendant seen for the first time (kept open if there is room) and reads it.
    fn open_and_read(
        &mut self,
        pid: u32,
        dir: &Path,
        page_size: u64,
    ) -> Result<Option<super::descendant::Counted>, SampleError> {
        let Some((descendant, opened)) = Descendant::open(dir, self.walk)? else {
            return Ok(None);
        };
        let counted = descendant.read(dir, page_size, &mut self.bufs)?;
        if counted.is_some() {
            if opened == Opened::NoRollup {
                self.notes.no_rollup = true;
            }
            if self.kept.len() < KEPT_DESCENDANTS {
                self.kept.insert(pid, descendant);
            }
        }
        Ok(counted)
    }

    fn find_by_children_files(&mut self) -> Result<(), SampleError> {
        self.found.clear();
        self.seen.clear();
        self.stack.clear();
        self.seen.insert(self.pid);
        if !self.root_gone {
            self.stack.push(self.pid);
        }
        if let Some(adopter) = self.adopter {
            self.seen.insert(adopter);
            self.direct_children(adopter)?;
            self.take_kids();
        }
        while let Some(pid) = self.stack.pop() {
            self.direct_children(pid)?;
            self.take_kids();
        }
        Ok(())
    }

    /// Moves the children just listed into `found` and onto the stack, each once.
    fn take_kids(&mut self) {
        for kid in self.kids.drain(..) {
            if self.seen.insert(kid) {
                self.found.push(kid);
                self.stack.push(kid);
            }
        }
    }

    /// Lists the children of `pid` (every thread's) into `self.kids`. Only the watched process
    /// (or the adopter) being gone is an error; a descendant that ended lists none.
    fn direct_children(&mut self, pid: u32) -> Result<(), SampleError> {
        self.kids.clear();
        if self.discovery == Discovery::ParentScan {
            self.scan_parents()?;
            self.kids
                .extend(self.parents.iter().filter(|p| p.1 == pid).map(|p| p.0));
            return Ok(());
        }
        self.build_path(&[pid], "task");
        let task_dir = PathBuf::from(&self.path);
        let entries = match std::fs::read_dir(&task_dir) {
            Ok(entries) => entries,
            Err(e) if is_gone(&e) && pid != self.pid => return Ok(()),
            // The watched process itself gone: `Exited`, as for its statm.
            Err(e) => return Err(io_error(&e, &task_dir, Some(self.pid))),
        };
        for entry in entries {
            let Some(tid) = entry
                .ok()
                .and_then(|e| e.file_name().to_str()?.parse().ok())
            else {
                continue;
            };
            self.build_path(&[pid, tid], "children");
            let path = Path::new(&self.path);
            match read_into(path, &mut self.buf) {
                Ok(()) => {}
                Err(e) if is_gone(&e) => continue,
                Err(e) => return Err(io_error(&e, path, None)),
            }
            let text = std::str::from_utf8(&self.buf).map_err(|_| not_utf8(path))?;
            // Appends: every thread's children are the process's.
            parse_children(text, &mut self.kids).map_err(|e| parse_error(e, path))?;
        }
        Ok(())
    }

    fn find_by_parent_scan(&mut self) -> Result<(), SampleError> {
        self.found.clear();
        self.scan_parents()?;
        self.seen.clear();
        self.seen.insert(self.pid);
        self.stack.clear();
        if !self.root_gone {
            self.stack.push(self.pid);
        }
        if let Some(adopter) = self.adopter {
            self.seen.insert(adopter);
            self.stack.push(adopter);
        }
        while let Some(parent) = self.stack.pop() {
            for &(pid, ppid) in &self.parents {
                if ppid == parent && self.seen.insert(pid) {
                    self.found.push(pid);
                    self.stack.push(pid);
                }
            }
        }
        Ok(())
    }

    /// Reads every process's parent into `self.parents`.
    fn scan_parents(&mut self) -> Result<(), SampleError> {
        self.parents.clear();
        let entries = std::fs::read_dir(&self.root).map_err(|e| io_error(&e, &self.root, None))?;
        for entry in entries {
            let Some(pid) = entry
                .ok()
                .and_then(|e| e.file_name().to_str()?.parse::<u32>().ok())
            else {
                continue;
            };
            self.build_path(&[pid], "stat");
            let path = Path::new(&self.path);
            match read_into(path, &mut self.buf) {
                Ok(()) => {}
                Err(e) if is_gone(&e) => continue,
                Err(e) => return Err(io_error(&e, path, None)),
            }
            // The command name may be any bytes; only the fields after it are needed.
            let text = String::from_utf8_lossy(&self.buf);
            let parent = parse_stat_ppid(&text).map_err(|e| parse_error(e, path))?;
            self.parents.push((pid, parent));
        }
        Ok(())
    }

    /// Sets `self.path` to `ROOT/P1/task/P2/…/leaf`: one PID gives `ROOT/PID/leaf`, two give
    /// `ROOT/PID/task/TID/leaf`. Reuses its buffers, so walking the tree does not allocate.
    fn build_path(&mut self, pids: &[u32], leaf: &str) {
        self.path.clear();
        self.path.push(&self.root);
        for (i, pid) in pids.iter().enumerate() {
            if i > 0 {
                self.path.push("/task");
            }
            self.number.clear();
            // Writing to a String cannot fail.
            let _ = write!(self.number, "/{pid}");
            self.path.push(&self.number);
        }
        self.path.push("/");
        self.path.push(leaf);
    }
}
