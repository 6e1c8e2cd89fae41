//! What a sampler measures, and how it fails.

use crate::breakdown::Breakdown;

/// One memory reading: the watched process (or process tree) and the whole system, in bytes.
///
/// Samplers convert to bytes at their boundary (pages through the real page size, the kernel's
/// "kB" as KiB), so nothing downstream handles units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reading {
    /// Resident set size of the watched process (summed over its descendants with `--children`).
    pub rss: u64,
    /// Virtual memory size of the watched process (summed likewise).
    pub vms: u64,
    /// The system's total memory (`MemTotal`).
    pub sys_total: u64,
    /// The system's available memory (`MemAvailable`).
    pub sys_available: u64,
}

impl Reading {
    /// System memory in use as a percentage, `(total - available) / total * 100`, as the log's
    /// `システム:` field; 0 when the total is unknown.
    pub fn sys_used_percent(&self) -> f64 {
        if self.sys_total == 0 {
            return 0.0;
        }
        let used = self.sys_total.saturating_sub(self.sys_available);
        used as f64 / self.sys_total as f64 * 100.0
    }
}

/// Why a sample could not be taken. Callers treat these differently: an exited process ends
/// the run, a permission problem needs the user, a parse failure is a bug to report with its path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SampleError {
    /// The watched process no longer exists (normal at the end of a run).
    #[error("process {pid} has exited")]
    Exited {
        /// The process that was being read.
        pid: u32,
    },
    /// The process is a kernel thread: it has no address space, so there is no user memory to
    /// watch (its `statm` reads all zeros for as long as it lives). Given when a sampler is
    /// created, so `--pid 2` is refused instead of logging 0.00 MB forever.
    #[error("process {pid} is a kernel thread: it has no user memory to watch")]
    KernelThread {
        /// The process that was asked for.
        pid: u32,
    },
    /// The process has exited but its parent has not yet collected its exit status (a
    /// zombie): the PID still exists, its memory is gone. Given when a sampler is created;
    /// during a run a zombie is [`SampleError::Exited`], the end of the run.
    #[error("process {pid} has exited and is waiting for its parent to collect its exit status (a zombie)")]
    Zombie {
        /// The process that was asked for.
        pid: u32,
    },
    /// The OS refused to let memmon read the process (another user's process, hardened /proc).
    #[error("permission denied reading {path}")]
    PermissionDenied {
        /// The file or object that could not be read.
        path: String,
    },
    /// The data was read but did not have the expected shape: a bug, reported with its source.
    #[error("cannot parse {path}: {detail}")]
    Parse {
        /// Where the data came from.
        path: String,
        /// What was wrong.
        detail: String,
    },
    /// Any other failure, with the OS's message.
    #[error("{path}: {message}")]
    Io {
        /// What was being read.
        path: String,
        /// The OS's error text.
        message: String,
    },
}

/// A source of memory readings: procfs, sysinfo, a tracking allocator, or a script in tests.
pub trait Sampler {
    /// Takes one reading now.
    fn sample(&mut self) -> Result<Reading, SampleError>;

    /// What the watched tree's memory is made of now (issue #19's breakdown line), read from
    /// the same sources as [`sample`](Sampler::sample)'s RSS so that the resident parts add up
    /// to it. `None`: this sampler has no breakdown (sysinfo, the tracking allocator); the
    /// default.
    fn breakdown(&mut self) -> Option<Result<Breakdown, SampleError>> {
        None
    }
}

impl<S: Sampler + ?Sized> Sampler for Box<S> {
    fn sample(&mut self) -> Result<Reading, SampleError> {
        (**self).sample()
    }

    fn breakdown(&mut self) -> Option<Result<Breakdown, SampleError>> {
        (**self).breakdown()
    }
}
