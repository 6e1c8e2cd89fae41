//! The data of a detail block (every 10th sample), from whichever source fills it.

use crate::sample::SampleError;
use std::time::Duration;

/// One line of a detail block's top 10: a place that holds memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// Where: `file.py:123`, `file.rs:45`, a mapping path such as `[heap]` or `/usr/lib/…so`.
    pub location: String,
    /// Bytes held there (traced live bytes, or summed RSS of the mappings).
    pub size: u64,
    /// How many blocks (allocations, or mappings).
    pub count: u64,
}

/// One detail block.
#[derive(Debug, Clone, PartialEq)]
pub enum Detail {
    /// Traced heap, as Python's tracemalloc or memmon's tracking allocator reports it.
    Traced {
        /// The process it belongs to, when several are watched (`PID N` in the first line);
        /// `None` writes exactly the original's line.
        pid: Option<u32>,
        /// Currently traced bytes.
        current: u64,
        /// Peak traced bytes.
        peak: u64,
        /// Top sites by size, at most 10 are written.
        sites: Vec<Site>,
    },
    /// A summary of `/proc/PID/smaps`, for any process watched from outside.
    Smaps {
        /// Anonymous memory (`smaps_rollup`).
        anonymous: u64,
        /// Swapped-out memory (`smaps_rollup`).
        swap: u64,
        /// Thread count.
        threads: u64,
        /// Open file descriptors.
        fds: u64,
        /// Mappings grouped by path, by summed RSS.
        sites: Vec<Site>,
    },
    /// A process that was asked for a snapshot and did not answer in time.
    NoAnswer {
        /// The silent process.
        pid: u32,
        /// How long memmon waited.
        waited: Duration,
    },
}

/// A source of detail blocks (the every-10th-sample policy decides when it is asked).
pub trait DetailSource {
    /// Collects the blocks due now (several when several processes each give one).
    fn detail(&mut self) -> Result<Vec<Detail>, SampleError>;
}

impl<D: DetailSource + ?Sized> DetailSource for Box<D> {
    fn detail(&mut self) -> Result<Vec<Detail>, SampleError> {
        (**self).detail()
    }
}
