//! What a watched tree's memory is made of and what it holds: the value behind issue #19's
//! breakdown line, produced by a sampler and laid out by memmon-format.

/// Resident memory by kind, swap, threads and open descriptors of one watched tree (the watched
/// process, plus its descendants with `--children`). The three resident parts add up to the
/// sample line's RSS of the same moment, taken from the same sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Breakdown {
    /// Anonymous resident memory (heap, stacks, private mappings), bytes.
    pub anon: u64,
    /// File-backed resident memory (code, libraries, mapped files), bytes.
    pub file: u64,
    /// Shared memory resident (`shmem`, tmpfs, SysV), bytes.
    pub shmem: u64,
    /// Swapped-out memory, bytes.
    pub swap: u64,
    /// Threads, summed over the tree.
    pub threads: u64,
    /// Open file descriptors by kind, summed over the tree.
    pub fds: FdCounts,
}

impl Breakdown {
    /// Resident memory: the three resident parts together.
    pub fn resident(&self) -> u64 {
        self.anon
            .saturating_add(self.file)
            .saturating_add(self.shmem)
    }
}

/// Open file descriptors by what they point at (`/proc/PID/fd`'s link targets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FdCounts {
    /// `socket:[…]`: network and Unix sockets (a database connection left open shows here).
    pub sockets: u64,
    /// Regular files and directories (a path).
    pub files: u64,
    /// `pipe:[…]`.
    pub pipes: u64,
    /// Everything else: `anon_inode:…` (eventfd, epoll, timerfd), devices, …
    pub other: u64,
}

impl FdCounts {
    /// All descriptors.
    pub fn total(&self) -> u64 {
        self.sockets
            .saturating_add(self.files)
            .saturating_add(self.pipes)
            .saturating_add(self.other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_the_parts_and_never_overflow() {
        let b = Breakdown {
            anon: 3,
            file: 4,
            shmem: 5,
            swap: 100,
            threads: 2,
            fds: FdCounts {
                sockets: 1,
                files: 2,
                pipes: 3,
                other: 4,
            },
        };
        assert_eq!(b.resident(), 12);
        assert_eq!(b.fds.total(), 10);
        let huge = Breakdown {
            anon: u64::MAX,
            file: 1,
            ..Breakdown::default()
        };
        assert_eq!(huge.resident(), u64::MAX);
    }
}
