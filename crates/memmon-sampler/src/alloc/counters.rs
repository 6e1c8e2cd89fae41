//! Live-byte and live-allocation counting: per-thread deltas folded into shared totals in batches.
//!
//! One shared atomic updated on every allocation made two allocating threads 1.6–1.9× slower
//! (the cache line bounces between cores). Each thread therefore keeps its own signed deltas in a
//! `const`-initialised thread-local without a destructor (so touching it never allocates and it
//! stays usable while a thread is being torn down) and adds them to the shared totals only when
//! the byte delta reaches [`BATCH_BYTES`] or the count delta [`BATCH_COUNT`] in either direction.

use std::cell::Cell;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering::Relaxed};

/// A thread folds its byte delta into the shared total once `|delta|` reaches this (64 KiB).
///
/// Consequence, stated in the public docs: the shared current total differs from the true one by
/// less than 64 KiB per thread that is alive and has not flushed, and the peak may miss (or, when
/// another thread holds an unflushed negative delta, overstate) the true peak by as much.
pub const BATCH_BYTES: u64 = 64 * 1024;

/// A thread folds its allocation-count delta in once `|delta|` reaches this.
pub const BATCH_COUNT: u64 = 1024;

/// Shared totals: flushed live bytes (signed: a thread may free what another allocated before
/// either flushed), flushed live allocations, and the highest flushed live-byte total.
static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);
static LIVE_COUNT: AtomicI64 = AtomicI64::new(0);
static PEAK_BYTES: AtomicI64 = AtomicI64::new(0);

/// Bumped by the sampling setters so other threads reseed at their next countdown expiry.
pub(crate) static SEED_EPOCH: AtomicU64 = AtomicU64::new(1);
/// Hands each thread a distinct ordinal to mix into its seed.
static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);

/// The mode of the allocator that registered a thread first, for [`super::mode`].
pub(crate) static INSTALLED_MODE: AtomicU8 = AtomicU8::new(0);

/// Everything a thread keeps for itself. All `Cell`s: only the owning thread touches it.
pub(crate) struct ThreadState {
    /// Unflushed live-byte delta.
    bytes: Cell<i64>,
    /// Unflushed live-allocation delta.
    count: Cell<i64>,
    /// The byte delta that triggers a flush: [`BATCH_BYTES`], or 0 once the thread is exiting so
    /// that every later operation goes straight to the shared totals.
    limit: Cell<u64>,
    /// Bytes still to allocate before the next sampled allocation.
    pub(crate) countdown: Cell<i64>,
    /// The thread's PRNG state (splitmix64); 0 while unseeded.
    pub(crate) rng: Cell<u64>,
    /// The [`SEED_EPOCH`] the thread was seeded in.
    pub(crate) epoch: Cell<u64>,
    /// Set while the thread is inside memmon's own code (capturing a stack, resolving a report):
    /// allocations are then counted but never sampled, so the allocator cannot recurse.
    pub(crate) busy: Cell<bool>,
    /// Whether the exit-flush destructor has been registered for this thread.
    registered: Cell<bool>,
}

impl ThreadState {
    const fn new() -> Self {
        ThreadState {
            bytes: Cell::new(0),
            count: Cell::new(0),
            limit: Cell::new(BATCH_BYTES),
            countdown: Cell::new(0),
            rng: Cell::new(0),
            epoch: Cell::new(0),
            busy: Cell::new(false),
            registered: Cell::new(false),
        }
    }

    /// A fresh seed for this thread, derived from the global seed and a per-thread ordinal.
    pub(crate) fn thread_ordinal() -> u64 {
        NEXT_THREAD.fetch_add(1, Relaxed)
    }
}

thread_local! {
    // `const` and without `Drop`: compiled to a plain `#[thread_local]`, so access never
    // allocates, never registers a destructor and never fails, even during thread teardown.
    pub(crate) static STATE: ThreadState = const { ThreadState::new() };
}

/// Flushes the thread's deltas when the thread exits. Its registration may allocate (std keeps a
/// list of destructors), so it is registered with `busy` set and `registered` already true: the
/// nested allocation only updates `STATE` and cannot come back here.
struct ExitFlush;

impl Drop for ExitFlush {
    fn drop(&mut self) {
        let _ = STATE.try_with(|s| {
            s.limit.set(0);
            flush(s);
        });
    }
}

thread_local! {
    static EXIT_FLUSH: ExitFlush = const { ExitFlush };
}

#[cold]
fn register(s: &ThreadState, mode: u8) {
    s.registered.set(true);
    let _ = INSTALLED_MODE.compare_exchange(0, mode, Relaxed, Relaxed);
    let was_busy = s.busy.replace(true);
    // Touching the key registers its destructor (an error only means the thread is already
    // tearing its thread-locals down; its deltas are then flushed by `limit` below).
    if EXIT_FLUSH.try_with(|_| ()).is_err() {
        s.limit.set(0);
    }
    s.busy.set(was_busy);
}

fn flush(s: &ThreadState) {
    let bytes = s.bytes.replace(0);
    let count = s.count.replace(0);
    add_shared(bytes, count);
}

fn add_shared(bytes: i64, count: i64) {
    if bytes != 0 {
        let now = LIVE_BYTES.fetch_add(bytes, Relaxed).wrapping_add(bytes);
        if bytes > 0 {
            PEAK_BYTES.fetch_max(now, Relaxed);
        }
    }
    if count != 0 {
        LIVE_COUNT.fetch_add(count, Relaxed);
    }
}

/// Records `bytes` (signed) and `count` live allocations more; returns whether the thread's
/// sampling countdown ran out (only when `sites` and the thread is not busy).
#[inline]
pub(crate) fn account(bytes: i64, count: i64, sampled_size: Option<u64>, mode: u8) -> bool {
    STATE
        .try_with(|s| {
            if !s.registered.get() {
                register(s, mode);
            }
            let b = s.bytes.get().wrapping_add(bytes);
            let c = s.count.get().wrapping_add(count);
            s.bytes.set(b);
            s.count.set(c);
            if b.unsigned_abs() >= s.limit.get() || c.unsigned_abs() >= BATCH_COUNT {
                flush(s);
            }
            match sampled_size {
                Some(size) if !s.busy.get() => {
                    let left = s.countdown.get().wrapping_sub(clamp_i64(size));
                    s.countdown.set(left);
                    left < 0
                }
                _ => false,
            }
        })
        .unwrap_or_else(|_| {
            // Unreachable for a const thread-local without destructor; stay exact regardless.
            add_shared(bytes, count);
            false
        })
}

pub(crate) fn clamp_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Folds the calling thread's unflushed deltas into the shared totals now.
///
/// Threads flush by themselves when they exit and whenever a delta passes the batch size; call
/// this before reading [`super::stats`] when a thread's last few KiB must be exact.
pub fn flush_thread() {
    let _ = STATE.try_with(flush);
}

/// Runs `f` with the calling thread marked busy: its allocations are counted, never sampled.
pub(crate) fn with_busy<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            let was = self.0;
            let _ = STATE.try_with(|s| s.busy.set(was));
        }
    }
    let was = STATE.try_with(|s| s.busy.replace(true)).unwrap_or(true);
    let _restore = Restore(was);
    f()
}

/// Flushed totals: (live bytes, live allocations, peak bytes), negatives read as 0.
pub(crate) fn totals() -> (u64, u64, u64) {
    let live = LIVE_BYTES.load(Relaxed).max(0).unsigned_abs();
    let count = LIVE_COUNT.load(Relaxed).max(0).unsigned_abs();
    let peak = PEAK_BYTES.load(Relaxed).max(0).unsigned_abs();
    (live, count, peak.max(live))
}

/// Sets the peak to the current flushed total (for "peak since the last report" use).
pub(crate) fn reset_peak() {
    PEAK_BYTES.store(LIVE_BYTES.load(Relaxed), Relaxed);
}
