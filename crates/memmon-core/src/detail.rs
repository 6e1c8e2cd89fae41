//! The data of a detail block (every 10th sample), from whichever source fills it.

use crate::sample::SampleError;
use std::task::{Poll, Waker};
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

/// What one hooked process did when asked to call `malloc_trim(0)` (issue #19's probe).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrimReply {
    /// The process that answered.
    pub pid: u32,
    /// `Some(released)`: glibc's `malloc_trim` was called and returned whether it gave memory
    /// back; `None`: the process has no `malloc_trim` (not glibc), nothing was called.
    pub called: Option<bool>,
}

/// How the count and shallow size of one Python type changed between two looks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeGrowth {
    /// The type's name (`module.Qualname` for classes outside `builtins`).
    pub name: String,
    /// Objects more (or fewer) than at the previous look.
    pub count: i64,
    /// Shallow bytes (`sys.getsizeof`) more (or fewer) than at the previous look.
    pub bytes: i64,
}

/// One hooked process's growing object types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypesReply {
    /// The process that answered.
    pub pid: u32,
    /// The types that grew most, largest first (at most a handful).
    pub types: Vec<TypeGrowth>,
    /// False when the hook's time budget ended the walk early (the figures are then partial).
    pub complete: bool,
}

/// One allocation site of an evidence capture, with its traceback (issue #20).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracedSite {
    /// The most recent frame, `file.py:123`.
    pub location: String,
    /// Bytes traced there.
    pub size: u64,
    /// Allocations traced there.
    pub count: u64,
    /// The traceback, most recent frame first, as deep as tracing keeps (`file.py:123`).
    pub traceback: Vec<String>,
}

/// The object types of one process by count and shallow size, for an evidence capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeCount {
    /// The type's name (`module.Qualname` outside builtins).
    pub name: String,
    /// Live objects.
    pub count: u64,
    /// Their shallow bytes.
    pub bytes: u64,
}

/// How an evidence capture's sites were estimated: from a bounded sample of the live objects
/// (never a copy of tracemalloc's traces, which costs what a full snapshot does). The bundle
/// says so, with how much of the traced memory the estimate accounts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteEstimate {
    /// One object (and one reference to an untracked object) in this many was sampled.
    pub step: u64,
    /// Objects whose traceback was read.
    pub samples: u64,
    /// Large strings and byte strings counted one by one.
    pub large: u64,
    /// Containers with many items whose items were sampled.
    pub containers: u64,
    /// The bytes the estimate puts on the client's lines (all sites, not only the top).
    pub estimated_bytes: u64,
    /// What tracemalloc traced at the capture (`get_traced_memory()`'s current).
    pub traced_bytes: u64,
}

/// What one hooked process gave for an evidence capture: its top sites with tracebacks and
/// its object types, bounded (a top-N from a sample, never a full snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceReply {
    /// The process that answered.
    pub pid: u32,
    /// Tracing was off and started for this capture: the sites show only what was allocated
    /// since (the bundle says so).
    pub started_now: bool,
    /// Top sites by size, largest first.
    pub sites: Vec<TracedSite>,
    /// Types by shallow size, largest first.
    pub types: Vec<TypeCount>,
    /// False when the types walk ran out of its time budget.
    pub types_complete: bool,
    /// Why the sites and types were not taken, when they were not: near an OOM even the list
    /// of live objects the capture walks (8 bytes an object) could be what kills the client,
    /// so the hook skips it and says why; the bundle says so.
    pub sites_skipped: Option<String>,
    /// How the sites were estimated; `None` when they were not taken (or from an older hook).
    pub estimate: Option<SiteEstimate>,
}

/// What a detail source gives back: the blocks, or why there are none.
pub type DetailResult = Result<Vec<Detail>, SampleError>;

/// A source of detail blocks (the every-10th-sample policy decides when it is asked).
///
/// Most sources answer at once (`/proc/PID/smaps`, memmon's own allocator) and only implement
/// [`detail`](DetailSource::detail). A source whose answer takes time (a Python process asked
/// over a socket) also implements [`request`](DetailSource::request) and
/// [`poll`](DetailSource::poll), so that the caller's sampling schedule never waits for it: the
/// caller writes the sample line at once and the block when it completes.
pub trait DetailSource {
    /// Collects the blocks due now (several when several processes each give one), waiting
    /// for them if need be.
    fn detail(&mut self) -> DetailResult;

    /// Starts collecting the blocks due now without waiting. `Pending` means the caller is to
    /// call [`poll`](DetailSource::poll) when `waker` is woken (from any thread) and, at the
    /// latest, [`timeout`](DetailSource::timeout) after this call. The default answers at once.
    fn request(&mut self, waker: &Waker) -> Poll<DetailResult> {
        let _ = waker;
        Poll::Ready(self.detail())
    }

    /// Collects a request that returned `Pending`. With `give_up`, or once the timeout has
    /// passed, it completes with what has come and a [`Detail::NoAnswer`] for the rest.
    /// Without a request in flight it gives `Ready(Ok(vec![]))`.
    fn poll(&mut self, give_up: bool) -> Poll<DetailResult> {
        let _ = give_up;
        Poll::Ready(Ok(Vec::new()))
    }

    /// How long a pending request waits for its answers at most.
    fn timeout(&self) -> Duration {
        Duration::ZERO
    }

    /// Called once, when the first sample is taken (after the start-up delay), before any
    /// request. A source that traces (Python's tracemalloc in the watched processes) starts
    /// here, so that the start-up the original monitor never saw (a launcher's waits, the
    /// interpreter's imports) is neither in its blocks nor a cost to the client. The default
    /// does nothing.
    fn on_first_sample(&mut self) {}

    /// Tracemalloc's own memory (`tracemalloc.get_tracemalloc_memory()`), summed over the
    /// processes of the last block, so that Python's traced bytes can be compared with the
    /// growth of anonymous memory without memmon's own overhead. `None` (the default): unknown.
    fn traced_overhead(&self) -> Option<u64> {
        None
    }

    /// Why the last block's sites were left out, when a process left them out: near an OOM
    /// the copy of the traces a snapshot's sites need could itself kill the client, so the
    /// block carries the traced figures alone (the spec's frame allows no site line). The
    /// caller says it once. `None` (the default): the sites were taken.
    fn sites_skipped(&self) -> Option<String> {
        None
    }

    /// Asks every hooked process to call `malloc_trim(0)` once and waits (bounded by
    /// [`timeout`](DetailSource::timeout)) for the answers. `None` (the default): this source
    /// cannot ask (no hook).
    fn trim(&mut self) -> Option<Vec<TrimReply>> {
        None
    }

    /// Asks every hooked process which object types grew since it was last asked (the first
    /// call sets the reference point and reports every type), bounded in time inside the
    /// process. `None` (the default): this source cannot ask.
    fn growing_types(&mut self) -> Option<Vec<TypesReply>> {
        None
    }

    /// Asks every hooked process for an evidence capture (issue #20): top sites with
    /// tracebacks (tracemalloc started on the spot if it was off) and object types, bounded in
    /// time and memory inside the process, waiting at most [`timeout`](DetailSource::timeout).
    /// `None` (the default): this source cannot ask.
    fn evidence(&mut self) -> Option<Vec<EvidenceReply>> {
        None
    }
}

impl<D: DetailSource + ?Sized> DetailSource for Box<D> {
    fn detail(&mut self) -> DetailResult {
        (**self).detail()
    }

    fn request(&mut self, waker: &Waker) -> Poll<DetailResult> {
        (**self).request(waker)
    }

    fn poll(&mut self, give_up: bool) -> Poll<DetailResult> {
        (**self).poll(give_up)
    }

    fn timeout(&self) -> Duration {
        (**self).timeout()
    }

    fn on_first_sample(&mut self) {
        (**self).on_first_sample()
    }

    fn traced_overhead(&self) -> Option<u64> {
        (**self).traced_overhead()
    }

    fn sites_skipped(&self) -> Option<String> {
        (**self).sites_skipped()
    }

    fn trim(&mut self) -> Option<Vec<TrimReply>> {
        (**self).trim()
    }

    fn growing_types(&mut self) -> Option<Vec<TypesReply>> {
        (**self).growing_types()
    }

    fn evidence(&mut self) -> Option<Vec<EvidenceReply>> {
        (**self).evidence()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source that answers at once and counts its calls.
    struct AtOnce(u32);

    impl DetailSource for AtOnce {
        fn detail(&mut self) -> DetailResult {
            self.0 += 1;
            Ok(vec![Detail::NoAnswer {
                pid: self.0,
                waited: Duration::ZERO,
            }])
        }
    }

    #[test]
    fn a_source_that_answers_at_once_is_never_pending() {
        let mut source: Box<dyn DetailSource> = Box::new(AtOnce(0));
        let Poll::Ready(Ok(blocks)) = source.request(Waker::noop()) else {
            panic!("a blocking source must answer its request at once");
        };
        assert_eq!(
            blocks,
            vec![Detail::NoAnswer {
                pid: 1,
                waited: Duration::ZERO
            }]
        );
        // Nothing in flight: polling gives no block and does not ask again.
        assert!(matches!(source.poll(true), Poll::Ready(Ok(ref b)) if b.is_empty()));
        assert_eq!(source.timeout(), Duration::ZERO);
        assert!(matches!(source.detail(), Ok(ref b) if b.len() == 1));
    }
}
