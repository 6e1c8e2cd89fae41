//! Parsers behind issue #19's breakdown line ([`memmon_core::Breakdown`]): what a process's
//! resident memory is made of (`status`, or a descendant's private memory from
//! `smaps_rollup`), and what kind of thing each of its descriptors is (`/proc/PID/fd` links).

use super::{kib_value_in_line, parse_status, ParseError, RssSplit};

/// The parts of `/proc/PID/status` the breakdown takes for one process, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatusMemory {
    /// `RssAnon`.
    pub anon: u64,
    /// `RssFile`.
    pub file: u64,
    /// `RssShmem`.
    pub shmem: u64,
    /// `VmSwap` (0 when absent: kernel threads, zombies).
    pub swap: u64,
    /// `Threads`.
    pub threads: u64,
}

impl StatusMemory {
    /// The resident parts together: the kernel prints `VmRSS` as exactly this sum, and
    /// `statm`'s resident field counts the same three counters, in pages.
    pub fn resident(&self) -> u64 {
        self.anon
            .saturating_add(self.file)
            .saturating_add(self.shmem)
    }
}

/// Parses the memory parts and thread count of `/proc/PID/status`. `Threads:` is required, as
/// for [`parse_status`](super::parse_status).
///
/// Kernels before 4.5 print `VmRSS` without `RssAnon`, `RssFile` and `RssShmem`: the split is
/// then unknown, and the whole `VmRSS` is given as `anon`, so the parts still add up to the RSS
/// the sample line shows (the split is what is lost, never the total). A zombie or kernel
/// thread, which has no memory lines at all, reads all zeros.
pub fn parse_status_memory(text: &str) -> Result<StatusMemory, ParseError> {
    // The same parser as every other read of `status`: one place knows its lines.
    let status = parse_status(text)?;
    let split = status.rss_split.unwrap_or(RssSplit {
        anon: status.vm_rss.unwrap_or(0),
        ..RssSplit::default()
    });
    Ok(StatusMemory {
        anon: split.anon,
        file: split.file,
        shmem: split.shmem,
        swap: status.vm_swap.unwrap_or(0),
        threads: status.threads,
    })
}

/// What a descendant's private memory (`Private_Clean + Private_Dirty`, what the sample line
/// counts for it with `--children`) is made of, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PrivateParts {
    /// `Private_Clean + Private_Dirty`: what the sample line counts for the descendant.
    pub private: u64,
    /// The anonymous part of it.
    pub anon: u64,
    /// The rest of it: file-backed pages only this process maps.
    pub file: u64,
    /// `Swap`.
    pub swap: u64,
}

/// Sums what [`PrivateParts`] is made of from `smaps_rollup` (or `smaps`, whose mappings are
/// summed the same way), fed one line at a time as [`PrivateSum`](super::PrivateSum) is, with
/// the same private total.
///
/// The split: `anon` is `Anonymous` capped at the private total, `file` the rest. Why capped:
/// `Anonymous` also counts the anonymous pages a forked child still shares copy-on-write with
/// its parent, which are not private and which the sample line does not count for it; the
/// private pages of a forked worker are overwhelmingly anonymous (what it wrote since the
/// fork), so they are taken as anonymous first, and only what private memory holds beyond
/// `Anonymous` is file-backed (a library or file only it maps, or pages it read since). Shared
/// memory is 0 for a descendant: a shmem page it maps is either shared with another process
/// (then not private, not counted by the sample line) or mapped by it alone (then private,
/// and counted here as file-backed, since the rollup does not tell it apart).
#[derive(Debug, Clone, Copy, Default)]
pub struct PrivateSplit {
    private: u64,
    anonymous: u64,
    swap: u64,
    /// Lines fed so far (how a caller tells an empty read, a dead process's, from a real one).
    pub lines: usize,
}

impl PrivateSplit {
    /// Takes the next line, without its line ending.
    pub fn line(&mut self, line: &[u8]) -> Result<(), ParseError> {
        self.lines += 1;
        let (slot, value) = if let Some(v) = line.strip_prefix(b"Private_Clean:") {
            (&mut self.private, v)
        } else if let Some(v) = line.strip_prefix(b"Private_Dirty:") {
            (&mut self.private, v)
        } else if let Some(v) = line.strip_prefix(b"Anonymous:") {
            (&mut self.anonymous, v)
        } else if let Some(v) = line.strip_prefix(b"Swap:") {
            (&mut self.swap, v)
        } else {
            return Ok(());
        };
        let (n, _) = kib_value_in_line(value, self.lines)?;
        *slot = slot.saturating_add(n);
        Ok(())
    }

    /// The parts of what was fed.
    pub fn parts(&self) -> PrivateParts {
        let anon = self.anonymous.min(self.private);
        PrivateParts {
            private: self.private,
            anon,
            file: self.private - anon,
            swap: self.swap,
        }
    }
}

/// [`PrivateSplit`] over a whole `smaps_rollup` (or `smaps`) text.
pub fn parse_private_parts(text: &str) -> Result<PrivateParts, ParseError> {
    let mut split = PrivateSplit::default();
    for line in text.lines() {
        split.line(line.as_bytes())?;
    }
    Ok(split.parts())
}

/// What an open descriptor points at, from its `/proc/PID/fd/N` link target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdKind {
    /// `socket:[INODE]`.
    Socket,
    /// A path: a regular file or directory, deleted ones (`/tmp/x (deleted)`) included, and
    /// POSIX shared memory and message queues (`/dev/shm/…`, `/dev/mqueue/…`), which are
    /// files of a memory file system.
    File,
    /// `pipe:[INODE]` (FIFOs opened by path show their path, and count as files).
    Pipe,
    /// Everything else: `anon_inode:…` (eventfd, epoll, timerfd, inotify, …), namespaces
    /// (`net:[…]`), and device nodes (`/dev/null`, `/dev/pts/0`, `/dev/urandom`).
    ///
    /// Devices are not files here because almost every process holds some (its standard
    /// streams on `/dev/null` or a terminal) and holds them from start to end: counted as
    /// files, they would make the files figure of every daemon start at 3 and hide what it
    /// is for, the data files a process opens and forgets to close. memmon-core's
    /// [`FdCounts::other`](memmon_core::FdCounts::other) says the same.
    Other,
}

/// The kind of descriptor a `/proc/PID/fd/N` link target names.
pub fn fd_kind(target: &str) -> FdKind {
    fd_kind_bytes(target.as_bytes())
}

/// [`fd_kind`] on the link's bytes as read: a path need not be UTF-8.
pub fn fd_kind_bytes(target: &[u8]) -> FdKind {
    let bracketed = |prefix: &[u8]| {
        target
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with(b"[") && rest.ends_with(b"]"))
    };
    if bracketed(b"socket:") {
        FdKind::Socket
    } else if bracketed(b"pipe:") {
        FdKind::Pipe
    } else if target.starts_with(b"/dev/shm/") || target.starts_with(b"/dev/mqueue/") {
        FdKind::File
    } else if target.starts_with(b"/dev/") {
        FdKind::Other
    } else if target.starts_with(b"/") {
        FdKind::File
    } else {
        FdKind::Other
    }
}

/// Adds one descriptor of `kind` to `counts`.
pub fn count_fd(counts: &mut memmon_core::FdCounts, kind: FdKind) {
    let slot = match kind {
        FdKind::Socket => &mut counts.sockets,
        FdKind::File => &mut counts.files,
        FdKind::Pipe => &mut counts.pipes,
        FdKind::Other => &mut counts.other,
    };
    *slot = slot.saturating_add(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: u64 = 1024;

    #[test]
    fn status_gives_the_resident_parts_swap_and_threads() {
        // A real kernel's lines (tabs and padding as printed).
        let text = "Name:\tcat\nState:\tR (running)\nVmSize:\t    3060 kB\nVmRSS:\t    1704 kB\n\
                    RssAnon:\t     116 kB\nRssFile:\t    1588 kB\nRssShmem:\t       8 kB\n\
                    VmSwap:\t      12 kB\nThreads:\t3\n";
        let m = parse_status_memory(text).unwrap();
        assert_eq!(
            m,
            StatusMemory {
                anon: 116 * KIB,
                file: 1588 * KIB,
                shmem: 8 * KIB,
                swap: 12 * KIB,
                threads: 3,
            }
        );
        assert_eq!(m.resident(), 1712 * KIB);
    }

    #[test]
    fn status_without_the_split_gives_the_whole_rss_as_anon() {
        let old = "VmRSS:\t 4000 kB\nThreads:\t2\n";
        let m = parse_status_memory(old).unwrap();
        assert_eq!((m.anon, m.file, m.shmem, m.threads), (4000 * KIB, 0, 0, 2));
        let zombie = "Name:\tz\nState:\tZ (zombie)\nThreads:\t1\n";
        assert_eq!(
            parse_status_memory(zombie).unwrap(),
            StatusMemory {
                threads: 1,
                ..StatusMemory::default()
            }
        );
    }

    #[test]
    fn status_errors_name_the_line() {
        assert_eq!(
            parse_status_memory("VmRSS: 1 kB\n").unwrap_err(),
            ParseError::whole("Threads is missing")
        );
        let bad = "Threads:\t1\nRssAnon:\tlots kB\n";
        assert_eq!(parse_status_memory(bad).unwrap_err().line, 2);
        let unit = "Threads:\t1\nRssFile:\t1 MB\n";
        assert_eq!(parse_status_memory(unit).unwrap_err().line, 2);
    }

    #[test]
    fn private_memory_is_anonymous_first_and_file_backed_for_the_rest() {
        let rollup = "55d0c0a00000-7ffc3b7ff000 ---p 00000000 00:00 0    [rollup]\n\
                      Rss:                 200 kB\nShared_Clean:        100 kB\n\
                      Private_Clean:        40 kB\nPrivate_Dirty:        60 kB\n\
                      Anonymous:            60 kB\nPrivate_Hugetlb:    4096 kB\n\
                      Swap:                  8 kB\nSwapPss:               4 kB\n";
        let p = parse_private_parts(rollup).unwrap();
        assert_eq!(
            p,
            PrivateParts {
                private: 100 * KIB,
                anon: 60 * KIB,
                file: 40 * KIB,
                swap: 8 * KIB,
            }
        );
        // A forked child still sharing most of its parent's heap: Anonymous exceeds its
        // private memory, all of which is then anonymous.
        let forked = "Private_Clean: 0 kB\nPrivate_Dirty: 300 kB\nAnonymous: 5000 kB\n";
        let p = parse_private_parts(forked).unwrap();
        assert_eq!((p.private, p.anon, p.file), (300 * KIB, 300 * KIB, 0));
    }

    #[test]
    fn private_parts_sum_every_mapping_of_smaps() {
        let smaps = "00400000-00452000 r-xp 00000000 08:02 173521  /usr/bin/worker\n\
                     Private_Clean: 12 kB\nPrivate_Dirty: 0 kB\nAnonymous: 0 kB\nSwap: 0 kB\n\
                     00652000-00e00000 rw-p 00000000 00:00 0  [heap]\n\
                     Private_Clean: 0 kB\nPrivate_Dirty: 100 kB\nAnonymous: 100 kB\nSwap: 4 kB\n";
        let p = parse_private_parts(smaps).unwrap();
        assert_eq!(
            (p.private, p.anon, p.file, p.swap),
            (112 * KIB, 100 * KIB, 12 * KIB, 4 * KIB)
        );
        assert_eq!(
            parse_private_parts("Private_Dirty: x kB\n")
                .unwrap_err()
                .line,
            1
        );
    }

    #[test]
    fn descriptors_are_told_apart_by_their_link_target() {
        let cases = [
            ("socket:[123456]", FdKind::Socket),
            ("pipe:[98765]", FdKind::Pipe),
            ("/var/log/app.log", FdKind::File),
            ("/tmp/scratch (deleted)", FdKind::File),
            ("/home/u/dir with spaces", FdKind::File),
            ("/", FdKind::File),
            ("/dev/shm/sem.lock", FdKind::File),
            ("/dev/mqueue/q", FdKind::File),
            ("/dev/null", FdKind::Other),
            ("/dev/pts/0", FdKind::Other),
            ("/dev/urandom", FdKind::Other),
            ("anon_inode:[eventfd]", FdKind::Other),
            ("anon_inode:inotify", FdKind::Other),
            ("anon_inode:[eventpoll]", FdKind::Other),
            ("net:[4026531840]", FdKind::Other),
            ("socket:", FdKind::Other),
            ("pipe:123", FdKind::Other),
            ("", FdKind::Other),
        ];
        for (target, kind) in cases {
            assert_eq!(fd_kind(target), kind, "{target:?}");
        }
        assert_eq!(fd_kind_bytes(b"/tmp/\xff\xfe"), FdKind::File);
    }

    #[test]
    fn counting_adds_one_of_the_kind() {
        let mut counts = memmon_core::FdCounts::default();
        for kind in [
            FdKind::Socket,
            FdKind::Socket,
            FdKind::File,
            FdKind::Pipe,
            FdKind::Other,
        ] {
            count_fd(&mut counts, kind);
        }
        assert_eq!(
            counts,
            memmon_core::FdCounts {
                sockets: 2,
                files: 1,
                pipes: 1,
                other: 1,
            }
        );
    }
}
