//! A tracking global allocator: the Rust counterpart of Python's `tracemalloc`, for the detail
//! block (`[tracemalloc] Current: …, Peak: …` and the top 10 allocation sites).
//!
//! Install [`TrackingAllocator`] in a binary (never in a library: the binary picks the global
//! allocator), then ask [`stats`] for the traced heap, [`AllocDetail`] for the detail block, or
//! start a [`Monitor`] that writes `memory_usage.log` from a background thread:
//!
//! ```no_run
//! use memmon_sampler::alloc::{Monitor, MonitorConfig, TrackingAllocator};
//!
//! #[global_allocator]
//! static GLOBAL: TrackingAllocator = TrackingAllocator::new();
//!
//! let monitor = Monitor::start(MonitorConfig::from_file("client_config.json".as_ref())?)?;
//! // … the program runs …
//! monitor.stop()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What is counted, and how exactly
//!
//! Every allocation through the allocator is counted (live bytes as requested in the `Layout`,
//! live allocations, and the peak of live bytes). Threads keep their own deltas and fold them into
//! shared totals when `|delta|` reaches [`BATCH_BYTES`] (64 KiB) or [`BATCH_COUNT`] allocations,
//! when they exit, or on [`flush_thread`]. So [`stats`] may differ from the true live total by
//! less than 64 KiB per running thread, and the peak may lag the true peak by as much (it is
//! taken over flushed totals). [`stats`] flushes the calling thread first.
//!
//! # Allocation sites
//!
//! With sites on ([`TrackingAllocator::new`]), on average one allocation per
//! [`sample_interval`] bytes (default 512 KiB) is sampled, with exponentially distributed gaps
//! so that every size is represented fairly. A sampled allocation's stack is captured as raw
//! return addresses (no allocation) and kept in a fixed table ([`table::MAX_LIVE`] entries, about
//! 1.2 MiB, allocated at the first sample from the inner allocator) until it is freed. Frees of
//! unsampled blocks cost one load of a 64 Ki-bit filter. Addresses become `file.rs:LINE` only
//! when a report is made, skipping the frames of this allocator, `std`/`alloc`/`core` and the
//! `backtrace` crate; line tables must be in the binary (`debug = "line-tables-only"` in
//! release, as memmon's workspace sets). Each site's size and count are estimates: a sample of
//! `s` bytes at interval `I` stands for `s / (1 - exp(-s/I))` bytes.
//!
//! # Mapping onto memmon's traits
//!
//! - [`AllocDetail`] is the [`memmon_core::DetailSource`]: `Detail::Traced` with the traced
//!   current and peak and the top sites, laid out by memmon-format as tracemalloc's block.
//! - [`HeapSampler`] is a [`memmon_core::Sampler`] over the traced heap alone: `rss` = live
//!   bytes, `vms` = peak, system fields 0. The [`Monitor`] does not use it: its sample lines
//!   report the process's real RSS (procfs), like the original monitor, and the allocator only
//!   fills the detail block.

mod counters;
mod monitor;
mod report;
mod sampling;
pub mod table;

pub use counters::{flush_thread, BATCH_BYTES, BATCH_COUNT};
pub use monitor::{Monitor, MonitorConfig};
pub use report::{AllocDetail, HeapSampler};
pub use sampling::{
    sample_interval, set_sample_interval, set_seed, weight, DEFAULT_SAMPLE_INTERVAL, MAX_FRAMES,
};

use sampling::capture;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use table::{Entry, Storage, Table};

/// What the allocator does on each call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Straight to the inner allocator: no counting, no sampling (for benchmarks comparing in one
    /// process; blocks allocated while off and freed while on make the counts drift).
    Off,
    /// Counts live bytes, live allocations and the peak; no sites, no table.
    Counting,
    /// Counts, and samples allocation sites.
    Sites,
}

const UNSET: u8 = 0;
const OFF: u8 = 1;
const COUNTING: u8 = 2;
const SITES: u8 = 3;

impl Mode {
    const fn code(self) -> u8 {
        match self {
            Mode::Off => OFF,
            Mode::Counting => COUNTING,
            Mode::Sites => SITES,
        }
    }

    fn from_code(code: u8) -> Option<Mode> {
        match code {
            OFF => Some(Mode::Off),
            COUNTING => Some(Mode::Counting),
            SITES => Some(Mode::Sites),
            _ => None,
        }
    }
}

/// Overrides the constructors' mode for the whole process when set ([`set_mode`]).
static MODE_OVERRIDE: AtomicU8 = AtomicU8::new(UNSET);
/// The process's one table of sampled allocations.
static TABLE: Table = Table::new();

/// Switches the installed allocator's mode at run time, for the whole process. Meant for
/// benchmarks and tests; see [`Mode::Off`] for what switching does to the counts.
pub fn set_mode(mode: Mode) {
    MODE_OVERRIDE.store(mode.code(), Relaxed);
}

/// The mode in force: the [`set_mode`] override, else that of the installed allocator; `None`
/// while no tracking allocator has handled an allocation (it is not installed).
pub fn mode() -> Option<Mode> {
    Mode::from_code(MODE_OVERRIDE.load(Relaxed))
        .or_else(|| Mode::from_code(counters::INSTALLED_MODE.load(Relaxed)))
}

/// The traced heap at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeapStats {
    /// Live bytes (as requested), flushed totals plus the calling thread's.
    pub current: u64,
    /// The highest flushed `current` since start (or [`reset_peak`]).
    pub peak: u64,
    /// Live allocations.
    pub allocations: u64,
    /// Sampled allocations alive in the site table.
    pub sampled: u64,
    /// Samples dropped because the site table was full.
    pub dropped_samples: u64,
}

/// The traced heap now; flushes the calling thread's deltas first.
pub fn stats() -> HeapStats {
    flush_thread();
    let (current, allocations, peak) = counters::totals();
    HeapStats {
        current,
        peak,
        allocations,
        sampled: TABLE.len() as u64,
        dropped_samples: TABLE.dropped(),
    }
}

/// Restarts the peak from the current flushed total.
pub fn reset_peak() {
    flush_thread();
    counters::reset_peak();
}

/// A global allocator that counts live bytes and samples allocation sites, wrapping `A`.
///
/// Install it in a binary with `#[global_allocator]`. All its state is per process (there is only
/// one global allocator), so the free functions of this module ([`stats`], [`set_mode`], …)
/// need no handle.
#[derive(Debug)]
pub struct TrackingAllocator<A = System> {
    inner: A,
    mode: u8,
}

impl TrackingAllocator<System> {
    /// Counting and sites at the default [`sample_interval`] (512 KiB), over [`System`].
    pub const fn new() -> Self {
        Self::with_inner(System, Mode::Sites)
    }

    /// Counting only, over [`System`]: no sampling, no site table.
    pub const fn counting_only() -> Self {
        Self::with_inner(System, Mode::Counting)
    }
}

impl Default for TrackingAllocator<System> {
    fn default() -> Self {
        Self::new()
    }
}

impl<A> TrackingAllocator<A> {
    /// Wraps any allocator, starting in `mode`.
    pub const fn with_inner(inner: A, mode: Mode) -> Self {
        TrackingAllocator {
            inner,
            mode: mode.code(),
        }
    }

    #[inline]
    fn mode_code(&self) -> u8 {
        match MODE_OVERRIDE.load(Relaxed) {
            UNSET => self.mode,
            m => m,
        }
    }
}

impl<A: GlobalAlloc> TrackingAllocator<A> {
    #[inline]
    fn on_alloc(&self, ptr: *mut u8, size: usize, mode: u8) {
        let size = size as u64;
        let sites = (mode == SITES).then_some(size);
        if counters::account(counters::clamp_i64(size), 1, sites, mode) {
            self.record(ptr, size);
        }
    }

    /// The slow path of a sampled allocation: decide, capture, insert; all with `busy` set.
    #[cold]
    #[inline(never)]
    fn record(&self, ptr: *mut u8, size: u64) {
        counters::with_busy(|| {
            let Some(weight) = sampling::take_sample(size) else {
                return;
            };
            let mut entry = Entry {
                addr: ptr as usize,
                size,
                weight,
                depth: 0,
                frames: [0; MAX_FRAMES],
            };
            entry.depth = capture(&mut entry.frames);
            TABLE.insert(&entry, || {
                // SAFETY: `Storage` is a non-zero-sized type; the layout is valid, and the
                // zeroed memory is a valid empty table. It is kept for the life of the process.
                unsafe { self.inner.alloc_zeroed(Layout::new::<Storage>()).cast() }
            });
        });
    }
}

// SAFETY: every method forwards to `inner` with the caller's pointer, layout and size unchanged
// and returns its result unchanged, so `inner`'s guarantees carry over. The bookkeeping around
// the calls never panics (it uses `try_with` and saturating arithmetic), never unwinds into the
// caller, and never calls back into the global allocator except with the thread marked busy,
// where nested calls only update thread-local counters.
unsafe impl<A: GlobalAlloc> GlobalAlloc for TrackingAllocator<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` (non-zero size) is passed on unchanged.
        let ptr = unsafe { self.inner.alloc(layout) };
        let mode = self.mode_code();
        if !ptr.is_null() && mode >= COUNTING {
            self.on_alloc(ptr, layout.size(), mode);
        }
        ptr
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { self.inner.alloc_zeroed(layout) };
        let mode = self.mode_code();
        if !ptr.is_null() && mode >= COUNTING {
            self.on_alloc(ptr, layout.size(), mode);
        }
        ptr
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let mode = self.mode_code();
        if mode >= COUNTING {
            // Before the block goes back: once it is freed, another thread may get the address,
            // sample it, and our removal would then delete the wrong entry.
            if mode == SITES {
                TABLE.remove(ptr as usize);
            }
            counters::account(-counters::clamp_i64(layout.size() as u64), -1, None, mode);
        }
        // SAFETY: the caller guarantees `ptr` came from this allocator (so from `inner`) with
        // `layout`.
        unsafe { self.inner.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let mode = self.mode_code();
        if mode == SITES {
            // As in `dealloc`: forget the old block before it may be released. If the realloc
            // fails the old block lives on unsampled, an under-estimate only on out-of-memory.
            TABLE.remove(ptr as usize);
        }
        // SAFETY: the caller's contract for `realloc` is passed on unchanged.
        let new = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if !new.is_null() && mode >= COUNTING {
            let old = counters::clamp_i64(layout.size() as u64);
            let grown = counters::clamp_i64(new_size as u64).saturating_sub(old);
            // Sampled as a fresh allocation of `new_size`, as tcmalloc does.
            let sites = (mode == SITES).then_some(new_size as u64);
            if counters::account(grown, 0, sites, mode) {
                self.record(new, new_size as u64);
            }
        }
        new
    }
}
