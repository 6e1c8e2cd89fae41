//! A tracking global allocator: the Rust counterpart of Python's `tracemalloc`, for the detail
//! block (`[tracemalloc] Current: …, Peak: …` and the top 10 allocation sites).
//!
//! Install [`TrackingAllocator`] in a binary (never in a library: the binary picks the global
//! allocator), then ask [`stats`] for the traced heap or [`AllocDetail`] for the detail block.
//! A background thread that writes `memory_usage.log` from inside the process is memmon-watch's
//! `Monitor`, which uses [`AllocDetail`] for its detail blocks.
//!
//! # What is counted, and how exactly
//!
//! Every allocation through the allocator is counted (live bytes as requested in the `Layout`,
//! live allocations, and the peak of live bytes). Threads keep their own deltas and fold them into
//! shared totals in batches: at most every 32 KiB a thread allocates or frees it looks at its
//! delta, and hands it over once it is 32 KiB or [`BATCH_COUNT`] allocations; it also flushes
//! when it exits, or on [`flush_thread`]. So [`stats`] may differ from the true live total by
//! less than [`BATCH_BYTES`] (64 KiB) per running thread, and the peak may lag the true peak by
//! as much (it is taken over flushed totals). [`stats`] flushes the calling thread first.
//!
//! One inexactness is accepted for speed: an allocation of at most 32 KiB that the inner
//! allocator refuses stays counted (see the comment in the `GlobalAlloc` impl). That takes an
//! out-of-memory system and a program that survives it through a fallible API.
//!
//! # Cost
//!
//! `cargo xtask bench` measures it (`alloc-*-ratio`; the benchmark's docs say how). Per call the
//! fast path is two read-modify-writes of a thread-local and one branch, plus, on a free, one
//! load of a flag in the allocator static (and the filter word below once this allocator has
//! sampled). Everything rarer is behind a tail call, so `alloc` and `dealloc` themselves end in
//! a tail call of the inner allocator.
//!
//! # Allocation sites
//!
//! With sites on ([`TrackingAllocator::new`]), on average one allocation per
//! [`sample_interval`] bytes (default 512 KiB) is sampled, with exponentially distributed gaps
//! so that every size is represented fairly. A sampled allocation's stack is captured as raw
//! return addresses (no allocation) and kept in a fixed table ([`table::MAX_LIVE`] entries, about
//! 1.2 MiB, allocated at the first sample from the inner allocator) until it is freed. Frees of
//! unsampled blocks cost one load of a 64 Ki-bit filter (none before the first sample).
//! Addresses become `file.rs:LINE` only when a report is made, skipping the frames of this
//! allocator, `std`/`alloc`/`core` and the `backtrace` crate; line tables must be in the binary
//! (`debug = "line-tables-only"` in release, as memmon's workspace sets). Each site's size and
//! count are estimates: a sample of `s` bytes at interval `I` stands for `s / (1 - exp(-s/I))`
//! bytes. The table's lock is made safe across `fork` (`pthread_atfork`): a child forked while
//! another thread held it would otherwise wait for it forever.
//!
//! # Mapping onto memmon's traits
//!
//! - [`AllocDetail`] is the [`memmon_core::DetailSource`]: `Detail::Traced` with the traced
//!   current and peak and the top sites, laid out by memmon-format as tracemalloc's block.
//! - [`HeapSampler`] is a [`memmon_core::Sampler`] over the traced heap alone: `rss` = live
//!   bytes, `vms` = peak, system fields 0. memmon-watch's `Monitor` does not use it: its sample lines
//!   report the process's real RSS (procfs), like the original monitor, and the allocator only
//!   fills the detail block.

mod counters;
mod report;
mod sampling;
mod stack;
pub mod table;

pub use counters::{flush_thread, BATCH_BYTES, BATCH_COUNT};
pub use report::{AllocDetail, HeapSampler};
pub use sampling::{
    sample_interval, set_sample_interval, set_seed, weight, DEFAULT_SAMPLE_INTERVAL, MAX_FRAMES,
};

use counters::SampleAt;
use stack::capture;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering::Relaxed};
use table::{Entry, Storage, Table};

/// What the allocator does on each call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Counts live bytes, live allocations and the peak; no sites, no table.
    Counting,
    /// Counts, and samples allocation sites.
    Sites,
}

const UNSET: u8 = 0;
pub(crate) const COUNTING: u8 = 2;
pub(crate) const SITES: u8 = 3;

impl Mode {
    const fn code(self) -> u8 {
        match self {
            Mode::Counting => COUNTING,
            Mode::Sites => SITES,
        }
    }

    fn from_code(code: u8) -> Option<Mode> {
        match code {
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

/// Switches the installed allocator's mode at run time, for the whole process: at once for the
/// calling thread, and for each other thread at its next slow-path visit (within 32 KiB of its
/// allocations or frees; the fast path never reads the mode). Samples already taken stay in the
/// table until their blocks are freed.
pub fn set_mode(mode: Mode) {
    MODE_OVERRIDE.store(mode.code(), Relaxed);
    sampling::restart_calling_thread();
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
    /// Set (for good) by this allocator's first sample, before that block is handed out. A
    /// block goes back to the allocator that made it, so while this is clear a free need not
    /// look at the site table at all. Kept here rather than beside the table because the
    /// allocator is a static of the program's own crate, which its inlined fast path reaches
    /// with one direct load; a static of this crate costs a load through the GOT first.
    sampled: AtomicBool,
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
            sampled: AtomicBool::new(false),
        }
    }

    /// Whether `addr` may be a block this allocator sampled: one load while it has sampled
    /// nothing, else one load of the table's filter. The flag is set before the sampled block
    /// is returned, and whatever hands the block to the freeing thread orders the two.
    #[inline]
    fn may_be_sampled(&self, addr: usize) -> bool {
        self.sampled.load(Relaxed) && TABLE.maybe_sampled(addr)
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
    /// An allocation whose budget ran out on the fast path (already counted there): allocate,
    /// then fold, and sample the block if its countdown ran out. Never inlined, and reached by a
    /// tail call with the allocator last, so the fast path moves no registers for it.
    #[cold]
    #[inline(never)]
    fn alloc_slow(layout: Layout, zeroed: bool, this: &Self) -> *mut u8 {
        // SAFETY: called from `alloc`/`alloc_zeroed` with their caller's layout (non-zero size).
        let ptr = unsafe {
            if zeroed {
                this.inner.alloc_zeroed(layout)
            } else {
                this.inner.alloc(layout)
            }
        };
        if ptr.is_null() {
            counters::undo_alloc(layout.size());
            return ptr;
        }
        let at = SampleAt {
            size: layout.size(),
            counted: true,
        };
        if let Some(weight) = counters::slow(this.mode_code(), (0, 0), Some(at)) {
            this.record(ptr, layout.size() as u64, weight);
        }
        ptr
    }

    /// A free that may be of a sampled block (`counted` false: nothing done yet), or whose
    /// budget ran out on the fast path (`counted` true). Arguments ordered as in `alloc_slow`.
    #[cold]
    #[inline(never)]
    fn dealloc_slow(ptr: *mut u8, layout: Layout, counted: bool, this: &Self) {
        let mut ran_out = counted;
        if !counted {
            if this.sampled.load(Relaxed) {
                TABLE.remove(ptr as usize);
            }
            ran_out = !counters::free_fast(layout.size());
        }
        if ran_out {
            counters::slow(this.mode_code(), (0, 0), None);
        }
        // SAFETY: forwarded from `dealloc`, whose caller guarantees `ptr` came from this
        // allocator (so from `inner`) with `layout`.
        unsafe { this.inner.dealloc(ptr, layout) }
    }

    /// `record` behind a call, for `realloc`, which is inlined into the program.
    #[cold]
    #[inline(never)]
    fn record_cold(&self, ptr: *mut u8, size: u64, weight: f64) {
        self.record(ptr, size, weight);
    }

    /// Capture and insert a sampled allocation, with `busy` set. Inlined into `alloc_slow`
    /// together with the capture: every frame between the unwinder and the program's is one
    /// more to unwind per sample (some 1,800 instructions each).
    #[inline(always)]
    fn record(&self, ptr: *mut u8, size: u64, weight: f64) {
        counters::with_busy(|| {
            fork::install_handlers();
            self.sampled.store(true, Relaxed);
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
// the calls never panics (it uses `try_with` and wrapping or saturating arithmetic), never
// unwinds into the caller, and never calls back into the global allocator except with the
// thread marked busy, where nested calls only update thread-local counters.
unsafe impl<A: GlobalAlloc> GlobalAlloc for TrackingAllocator<A> {
    // The fast paths count before calling `inner` and end in a tail call to it, leaving every
    // rare case to a tail call of a cold function: a tracked call then costs half a dozen
    // instructions more than `inner` alone. Measured: merely keeping `alloc` from being a tail
    // call (to take the count back when `inner` fails) cost 8 % on the benchmark, more than
    // the counting itself. So an allocation counted on the fast path (at most the 32 KiB left
    // in the thread's budget) that `inner` then refuses stays counted; such a failure means the
    // system is out of memory, and aborts the program unless it used a fallible API such as
    // `try_reserve`. Larger allocations take the slow path, which takes back what failed.
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !counters::alloc_fast(layout.size()) {
            return Self::alloc_slow(layout, false, self);
        }
        // SAFETY: the caller's contract for `alloc` (non-zero size) is passed on unchanged.
        unsafe { self.inner.alloc(layout) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !counters::alloc_fast(layout.size()) {
            return Self::alloc_slow(layout, true, self);
        }
        // SAFETY: as for `alloc`.
        unsafe { self.inner.alloc_zeroed(layout) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // The table is checked before the block goes back: once it is freed, another thread may
        // get the address, sample it, and our removal would then delete the wrong entry. It is
        // checked in every mode, so samples taken before a switch to counting still leave.
        if self.may_be_sampled(ptr as usize) {
            return Self::dealloc_slow(ptr, layout, false, self);
        }
        if !counters::free_fast(layout.size()) {
            return Self::dealloc_slow(ptr, layout, true, self);
        }
        // SAFETY: the caller guarantees `ptr` came from this allocator (so from `inner`) with
        // `layout`.
        unsafe { self.inner.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // As in `dealloc`: forget the old block before it may be released. If the realloc
        // fails the old block lives on unsampled, an under-estimate only on out-of-memory.
        if self.sampled.load(Relaxed) {
            TABLE.remove(ptr as usize);
        }
        // SAFETY: the caller's contract for `realloc` is passed on unchanged.
        let new = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            // Both sizes are at most isize::MAX: the difference fits.
            let grown = (new_size as i64).wrapping_sub(layout.size() as i64);
            // Sampled as a fresh allocation of `new_size`, as tcmalloc does.
            let at = SampleAt {
                size: new_size,
                counted: false,
            };
            if let Some(weight) = counters::slow(self.mode_code(), (grown, 0), Some(at)) {
                self.record_cold(new, new_size as u64, weight);
            }
        }
        new
    }
}

/// Keeps the site table's spin lock usable in a child process: a fork while another thread
/// holds it would otherwise leave it held forever in the child, whose next sampled allocation
/// or sampled free would then spin without end.
#[cfg(unix)]
mod fork {
    use super::TABLE;
    use std::ffi::c_int;
    use std::sync::atomic::{AtomicBool, Ordering};

    extern "C" {
        // POSIX; in the C library that std already links.
        fn pthread_atfork(
            prepare: Option<unsafe extern "C" fn()>,
            parent: Option<unsafe extern "C" fn()>,
            child: Option<unsafe extern "C" fn()>,
        ) -> c_int;
    }

    static INSTALLED: AtomicBool = AtomicBool::new(false);

    /// Takes the lock in the forking thread, so that no other thread holds it at the fork.
    unsafe extern "C" fn prepare() {
        TABLE.hold_for_fork();
    }

    /// Releases it again, in the parent and in the child.
    unsafe extern "C" fn release() {
        TABLE.release_after_fork();
    }

    /// Registers the handlers once, at the first sample: programs without sites never need them.
    pub(super) fn install_handlers() {
        if INSTALLED.swap(true, Ordering::Relaxed) {
            return;
        }
        // SAFETY: the handlers are plain functions that live for the whole process and only
        // take or release the table's lock, which no holder keeps across a fork or a call that
        // could wait on the forking thread. A failure (ENOMEM) leaves the old risk, nothing
        // worse, so the result is not acted on.
        let _ = unsafe { pthread_atfork(Some(prepare), Some(release), Some(release)) };
    }
}

#[cfg(not(unix))]
mod fork {
    pub(super) fn install_handlers() {}
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::Command;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    // Without the fork handlers a child forked while the other thread holds the table's lock
    // would wait for it for ever; here it gives up after a while and fails the spawn instead.
    #[test]
    fn a_child_forked_while_another_thread_holds_the_table_lock_can_take_it() {
        fork::install_handlers();
        let stop = Arc::new(AtomicBool::new(false));
        let hammer = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(Relaxed) {
                    TABLE.hold_for_fork();
                    std::hint::spin_loop();
                    TABLE.release_after_fork();
                }
            })
        };
        for _ in 0..50 {
            let mut child = Command::new("true");
            // SAFETY: the closure only tries a spin lock and yields, which is async-signal-safe
            // (no allocation, no other lock).
            unsafe {
                child.pre_exec(|| {
                    if TABLE.lock_is_free_soon() {
                        Ok(())
                    } else {
                        Err(std::io::Error::other("the table's lock stayed held"))
                    }
                });
            }
            match child.status() {
                Ok(status) => assert!(status.success(), "{status}"),
                // A machine without `true` on the PATH: the fork and the check still happened.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => panic!("child: {e}"),
            }
        }
        stop.store(true, Relaxed);
        hammer.join().expect("hammer thread");
    }
}
