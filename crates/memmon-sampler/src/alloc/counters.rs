//! Live-byte and live-allocation counting: per-thread deltas folded into shared totals in batches.
//!
//! One shared atomic updated on every allocation made two allocating threads 1.6–1.9× slower
//! (the cache line bounces between cores). Each thread therefore keeps its own counters in a
//! `const`-initialised thread-local without a destructor (so touching it never allocates, never
//! checks an initialisation state, and stays usable while a thread is being torn down).
//!
//! The fast path is two read-modify-writes of that thread-local and one branch: an allocation
//! takes its size off the thread's allocation budget (`alloc_left`) and adds one to the count; a
//! free takes its size off the free budget and subtracts one. Live bytes are not added up per
//! call: what was allocated since the last visit of the slow path is how far the allocation
//! budget went down, and likewise for frees. When a budget runs out (every [`BUDGET`] bytes
//! allocated or freed), the slow path ([`fold`]) turns both into a signed pending delta, hands
//! it to the shared totals once it is large, and refills the budgets. With sites on the
//! allocation budget is also the sampling countdown (never more than what is left of it), so
//! sampling costs the fast path nothing more.
//!
//! A new thread starts with empty budgets, so its first allocation and its first free take the
//! slow path, which registers the exit flush. An exiting thread keeps them empty, so every later
//! operation goes straight to the shared totals.

use std::cell::Cell;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering::Relaxed};

/// The most a thread's unflushed live-byte delta can be (64 KiB), in either direction.
///
/// Consequence, stated in the public docs: the shared current total differs from the true one by
/// less than 64 KiB per thread that is alive and has not flushed, and the peak may miss (or, when
/// another thread holds an unflushed negative delta, overstate) the true peak by as much.
pub const BATCH_BYTES: u64 = 64 * 1024;

/// A thread hands its allocation-count delta to the shared total once it reaches this at one
/// of its slow-path visits (every 32 KiB allocated or freed); between visits it can grow by the
/// calls that moved those 32 KiB.
pub const BATCH_COUNT: u64 = 1024;

/// Bytes a thread allocates, and bytes it frees, between two visits of its slow path.
pub(crate) const BUDGET: i64 = 32 * 1024;
/// A folded delta goes to the shared totals once this big: with up to [`BUDGET`] unfolded on
/// either side, the unflushed total stays below [`BATCH_BYTES`].
const PENDING_LIMIT: i64 = BATCH_BYTES as i64 - BUDGET;

/// Shared totals: flushed live bytes (signed: a thread may free what another allocated before
/// either flushed), flushed live allocations, and the highest flushed live-byte total.
static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);
static LIVE_COUNT: AtomicI64 = AtomicI64::new(0);
static PEAK_BYTES: AtomicI64 = AtomicI64::new(0);

/// Bumped by the sampling and mode setters so other threads reseed at their next countdown
/// expiry.
pub(crate) static SEED_EPOCH: AtomicU64 = AtomicU64::new(1);
/// Hands each thread a distinct ordinal to mix into its seed.
static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);

/// The mode of the allocator that registered a thread first, for [`super::mode`].
pub(crate) static INSTALLED_MODE: AtomicU8 = AtomicU8::new(0);

/// Everything a thread keeps for itself. All `Cell`s: only the owning thread touches it. The
/// three fields of the fast path come first, and the alignment keeps them in one cache line.
#[repr(C, align(64))]
pub(crate) struct ThreadState {
    /// Bytes the thread may still allocate before its slow path runs; negative once an
    /// allocation went past it.
    alloc_left: Cell<i64>,
    /// As `alloc_left`, for frees.
    free_left: Cell<i64>,
    /// Allocations minus frees since the last fold.
    count: Cell<i64>,
    /// `alloc_left` at the last fold: the difference is what was allocated since.
    alloc_start: Cell<i64>,
    /// As `alloc_start`, for frees.
    free_start: Cell<i64>,
    /// Folded deltas not yet in the shared totals.
    pending_bytes: Cell<i64>,
    pending_count: Cell<i64>,
    /// With sites on: bytes still to allocate before the next sampled allocation, as of the
    /// last fold. The allocation budget never exceeds it.
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
    /// Set once the exit flush ran: budgets stay empty, every operation flushes.
    exiting: Cell<bool>,
}

impl ThreadState {
    const fn new() -> Self {
        ThreadState {
            alloc_left: Cell::new(0),
            free_left: Cell::new(0),
            count: Cell::new(0),
            alloc_start: Cell::new(0),
            free_start: Cell::new(0),
            pending_bytes: Cell::new(0),
            pending_count: Cell::new(0),
            countdown: Cell::new(0),
            rng: Cell::new(0),
            epoch: Cell::new(0),
            busy: Cell::new(false),
            registered: Cell::new(false),
            exiting: Cell::new(false),
        }
    }

    /// A distinct ordinal for this thread, mixed into its seed.
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
/// nested allocation takes the fast path or folds, and cannot come back here.
struct ExitFlush;

impl Drop for ExitFlush {
    fn drop(&mut self) {
        // Later allocations (other thread-locals' destructors) then go straight to the totals.
        let _ = STATE.try_with(|s| {
            s.exiting.set(true);
            fold(s);
            flush(s);
            refill(s, None);
        });
    }
}

thread_local! {
    static EXIT_FLUSH: ExitFlush = const { ExitFlush };
}

#[cold]
fn register(s: &ThreadState, mode: u8) {
    s.registered.set(true);
    if INSTALLED_MODE.load(Relaxed) == 0 {
        let _ = INSTALLED_MODE.compare_exchange(0, mode, Relaxed, Relaxed);
    }
    let was_busy = s.busy.replace(true);
    // Touching the key registers its destructor (an error only means the thread is already
    // tearing its thread-locals down: then it is treated as exiting).
    if EXIT_FLUSH.try_with(|_| ()).is_err() {
        s.exiting.set(true);
        refill(s, None);
    }
    s.busy.set(was_busy);
}

/// Turns what the budgets consumed since the last fold into the pending deltas, and moves the
/// sampling countdown by the bytes allocated. Returns those bytes.
fn fold(s: &ThreadState) -> i64 {
    let allocated = s.alloc_start.get().wrapping_sub(s.alloc_left.get());
    let freed = s.free_start.get().wrapping_sub(s.free_left.get());
    s.alloc_start.set(s.alloc_left.get());
    s.free_start.set(s.free_left.get());
    s.countdown.set(s.countdown.get().saturating_sub(allocated));
    s.pending_bytes.set(
        s.pending_bytes
            .get()
            .wrapping_add(allocated.wrapping_sub(freed)),
    );
    s.pending_count
        .set(s.pending_count.get().wrapping_add(s.count.replace(0)));
    allocated
}

/// Hands the pending deltas to the shared totals.
fn flush(s: &ThreadState) {
    add_shared(s.pending_bytes.replace(0), s.pending_count.replace(0));
}

/// Hands the pending deltas over if they are large, or the thread is exiting.
fn flush_if_due(s: &ThreadState) {
    if s.exiting.get()
        || s.pending_bytes.get().unsigned_abs() >= PENDING_LIMIT.unsigned_abs()
        || s.pending_count.get().unsigned_abs() >= BATCH_COUNT
    {
        flush(s);
    }
}

/// Sets both budgets anew (empty while exiting). `sites_countdown` caps the allocation budget
/// with sites on.
fn refill(s: &ThreadState, sites_countdown: Option<i64>) {
    let budget = if s.exiting.get() { 0 } else { BUDGET };
    let alloc = sites_countdown.map_or(budget, |c| c.clamp(0, budget));
    s.alloc_left.set(alloc);
    s.alloc_start.set(alloc);
    s.free_left.set(budget);
    s.free_start.set(budget);
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

/// Counts an allocation of `size` bytes on the fast path. Returns `false` when the allocation
/// budget ran out: the caller then takes the slow path, [`slow`] once the block exists (or
/// [`undo_alloc`] if the inner allocator failed). The fast path calls nothing, so the
/// allocator can end in a tail call of the inner allocator.
#[inline(always)]
pub(crate) fn alloc_fast(size: usize) -> bool {
    STATE
        .try_with(|s| {
            // The budget is never negative here and `size` ≤ isize::MAX: no overflow.
            let left = s.alloc_left.get().wrapping_sub(size as i64);
            s.alloc_left.set(left);
            s.count.set(s.count.get().wrapping_add(1));
            left >= 0
        })
        .unwrap_or(false)
}

/// Counts a free of `size` bytes on the fast path; returns `false` when the free budget ran
/// out: the caller then calls [`slow`].
#[inline(always)]
pub(crate) fn free_fast(size: usize) -> bool {
    STATE
        .try_with(|s| {
            let left = s.free_left.get().wrapping_sub(size as i64);
            s.free_left.set(left);
            s.count.set(s.count.get().wrapping_sub(1));
            left >= 0
        })
        .unwrap_or(false)
}

/// Takes back an allocation that [`alloc_fast`] counted but the inner allocator failed.
pub(crate) fn undo_alloc(size: usize) {
    let _ = STATE.try_with(|s| {
        s.alloc_left
            .set(s.alloc_left.get().wrapping_add(size as i64));
        s.count.set(s.count.get().wrapping_sub(1));
    });
}

/// The slow path, after the fast path counted an operation and a budget ran out (or the caller
/// has a change of its own to add): folds, flushes when due, registers a new thread, and
/// refills the budgets. `extra` is a (bytes, count) change not made on the fast path (a
/// reallocation's). With sites on (`mode`), `sample` is the size of a new block that moves the
/// countdown: `Some` when the operation was an allocation or reallocation.
///
/// Returns the weight of the block when it is to be sampled.
pub(crate) fn slow(mode: u8, extra: (i64, i64), sample: Option<SampleAt>) -> Option<f64> {
    let result = STATE.try_with(|s| {
        fold(s);
        s.pending_bytes
            .set(s.pending_bytes.get().wrapping_add(extra.0));
        s.pending_count
            .set(s.pending_count.get().wrapping_add(extra.1));
        flush_if_due(s);
        let weight = if mode == super::SITES {
            let weight = sample.and_then(|at| super::sampling::on_countdown(s, at));
            refill(s, Some(s.countdown.get()));
            weight
        } else {
            refill(s, None);
            None
        };
        if !s.registered.get() {
            register(s, mode);
        }
        weight
    });
    match result {
        Ok(weight) => weight,
        Err(_) => {
            // Unreachable for a const thread-local without destructor; stay exact regardless.
            add_shared(extra.0, extra.1);
            None
        }
    }
}

/// How a new block moves the sampling countdown, for [`slow`].
#[derive(Clone, Copy)]
pub(crate) struct SampleAt {
    /// The block's size.
    pub size: usize,
    /// Whether the fast path already took `size` off the budget (an allocation), or the slow
    /// path must take it off the countdown itself (a reallocation).
    pub counted: bool,
}

/// Starts the calling thread's sampling countdown anew at `countdown` bytes (after folding what
/// it allocated under the old one).
pub(crate) fn restart_countdown(s: &ThreadState, countdown: i64) {
    fold(s);
    s.countdown.set(countdown);
    refill(s, Some(countdown));
}

pub(crate) fn clamp_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Folds the calling thread's unflushed deltas into the shared totals now.
///
/// Threads flush by themselves when they exit and whenever their delta passes the batch size;
/// call this before reading [`super::stats`] when a thread's last few KiB must be exact.
pub fn flush_thread() {
    let _ = STATE.try_with(|s| {
        fold(s);
        flush(s);
    });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc::COUNTING;

    fn alloc(size: usize) {
        if !alloc_fast(size) {
            let at = SampleAt {
                size,
                counted: true,
            };
            slow(COUNTING, (0, 0), Some(at));
        }
    }

    fn free(size: usize) {
        if !free_fast(size) {
            slow(COUNTING, (0, 0), None);
        }
    }

    /// The unflushed part: true live bytes minus what the shared total shows, from `base`.
    fn unflushed(base: u64, live: &[usize]) -> i64 {
        let shared = totals().0 as i64 - base as i64;
        live.iter().sum::<usize>() as i64 - shared
    }

    // The only test of this binary that counts (its global allocator is plain `System`), so the
    // shared totals move by this thread's calls alone.
    #[test]
    fn counts_stay_within_the_batch_and_are_exact_after_a_flush_whatever_the_sizes() {
        std::thread::spawn(|| {
            // A ballast keeps the shared total above zero, where `totals` reads it unclamped.
            alloc(1 << 20);
            flush_thread();
            let (base_bytes, base_count, _) = totals();
            let sizes = [16, 40_000, 1 << 20, 5, 100_000, 32 * 1024, 7, 300];
            let mut live = Vec::new();
            for (i, &size) in sizes.iter().cycle().take(2000).enumerate() {
                alloc(size);
                live.push(size);
                if i % 3 == 0 {
                    free(live.swap_remove(i * 7 % live.len()));
                }
                let gap = unflushed(base_bytes, &live);
                assert!(gap.unsigned_abs() < BATCH_BYTES, "{gap} after {i}");
            }
            // A reallocation of a live block, 300 bytes to 70,000.
            let at = SampleAt {
                size: 70_000,
                counted: false,
            };
            slow(COUNTING, (70_000 - 300, 0), Some(at));
            live.push(70_000 - 300);
            flush_thread();
            assert_eq!(unflushed(base_bytes, &live), 0);
            let count = totals().1 - base_count;
            assert_eq!(
                count,
                live.len() as u64 - 1,
                "the realloc adds no allocation"
            );
        })
        .join()
        .expect("counting thread");
    }
}
