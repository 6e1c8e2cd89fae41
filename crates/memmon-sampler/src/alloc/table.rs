//! The sampled allocations still alive: a fixed-capacity hash table keyed by address, with a
//! bitset in front so that the free path of the many never-sampled blocks costs one load.
//!
//! - Storage (`Storage`, about 1.2 MiB) is allocated once, zeroed, from the inner allocator at
//!   the first sample; counting-only allocators never create it. It never grows: past
//!   [`MAX_LIVE`] entries new samples are dropped and counted.
//! - Open addressing with linear probing and backward-shift deletion (no tombstones, so probe
//!   lengths stay short however long the program runs), at most 3/4 full.
//! - A spin lock guards it. It is taken only by a sampled allocation, by a free whose bitset bit
//!   is set, and by a report copying the entries out; none of them allocates or frees while
//!   holding it, so the allocator can never wait on itself.
//! - The bitset: [`BITS`] bits, one per address hash bucket, set while at least one live sampled
//!   allocation hashes there (a per-bucket count under the lock keeps it exact). A clear bit means
//!   "certainly not sampled".

use super::sampling::MAX_FRAMES;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

/// Table slots (a power of two).
pub const SLOTS: usize = 4096;
/// Most live sampled allocations kept (3/4 of the slots, so probing stays short).
pub const MAX_LIVE: usize = SLOTS / 4 * 3;
/// Bits in the free-path filter: 64 Ki bits, 8 KiB. At most [`MAX_LIVE`] are set, so a random
/// unsampled free takes the lock less than 5% of the time even with a full table.
pub const BITS: usize = 1 << 16;

/// One sampled allocation.
#[derive(Clone, Copy)]
pub(crate) struct Entry {
    /// The block's address; 0 marks an empty slot.
    pub addr: usize,
    /// Requested size in bytes.
    pub size: u64,
    /// How many allocations this sample stands for (see [`super::sampling::weight`]).
    pub weight: f64,
    /// Valid entries of `frames`.
    pub depth: usize,
    /// Return addresses, innermost first.
    pub frames: [usize; MAX_FRAMES],
}

/// The table's memory, allocated zeroed (an all-zero `Entry` is an empty slot).
pub(crate) struct Storage {
    slots: [Entry; SLOTS],
    /// Live sampled allocations per filter bucket; saturates at 255 and then stays (its bit is
    /// never cleared again, which only costs lock trips).
    bucket_counts: [u8; BITS],
}

/// The table. One static instance serves the process; tests build their own. The pointee of
/// `storage` is only touched with `lock` held (Acquire on taking, Release on leaving).
pub(crate) struct Table {
    storage: AtomicPtr<Storage>,
    lock: AtomicBool,
    bits: [AtomicU64; BITS / 64],
    len: AtomicUsize,
    dropped: AtomicU64,
}

struct Held<'a>(&'a AtomicBool);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

fn slot_hash(addr: usize) -> usize {
    // Blocks are at least 8-aligned; Fibonacci hashing spreads the remaining bits.
    ((addr as u64 >> 3).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 52) as usize & (SLOTS - 1)
}

/// The filter bucket of a block: address bits 4..20. Every free with sites on computes it, so it
/// is a shift and a mask rather than a multiplicative hash: `malloc` blocks are 16-aligned and
/// small ones lie 16 bytes or more apart, so neighbouring blocks fall into distinct buckets.
/// Page-aligned blocks share 1/256 of the buckets; their frees are rare and costly anyway, so
/// the extra lock trips of their false positives do not show.
fn bit_hash(addr: usize) -> usize {
    (addr >> 4) & (BITS - 1)
}

impl Table {
    /// An empty table without storage.
    pub(crate) const fn new() -> Self {
        Table {
            storage: AtomicPtr::new(ptr::null_mut()),
            lock: AtomicBool::new(false),
            bits: [const { AtomicU64::new(0) }; BITS / 64],
            len: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> Held<'_> {
        let mut spins = 0u32;
        while self
            .lock
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            spins = spins.wrapping_add(1);
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                // The holder may have been preempted; `sched_yield` does not allocate.
                std::thread::yield_now();
            }
        }
        Held(&self.lock)
    }

    /// Live sampled allocations.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Samples dropped because the table was full (or its storage could not be allocated).
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Records a sampled allocation. `allocate` provides zeroed memory for [`Storage`] the first
    /// time (null on failure: the sample is dropped and counted).
    pub(crate) fn insert(&self, entry: &Entry, allocate: impl FnOnce() -> *mut Storage) {
        let _held = self.lock();
        let mut storage = self.storage.load(Ordering::Relaxed);
        if storage.is_null() {
            storage = allocate();
            if storage.is_null() {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            self.storage.store(storage, Ordering::Relaxed);
        }
        if self.len() >= MAX_LIVE {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // SAFETY: `storage` is non-null, was allocated zeroed for a `Storage` (all-zero bytes are
        // a valid `Storage`), is never freed, and the lock gives this thread exclusive access.
        let st = unsafe { &mut *storage };
        let mut i = slot_hash(entry.addr);
        while st.slots[i].addr != 0 && st.slots[i].addr != entry.addr {
            i = (i + 1) & (SLOTS - 1);
        }
        let fresh = st.slots[i].addr == 0;
        st.slots[i] = *entry;
        if fresh {
            self.len.fetch_add(1, Ordering::Relaxed);
            let b = bit_hash(entry.addr);
            st.bucket_counts[b] = st.bucket_counts[b].saturating_add(1);
            self.bits[b / 64].fetch_or(1 << (b % 64), Ordering::Relaxed);
        }
    }

    /// Whether `addr` might be sampled: one relaxed load. A block's insertion happens before it
    /// is handed out, and the free that follows is ordered after that hand-out, so a sampled
    /// block is never missed.
    #[inline]
    pub(crate) fn maybe_sampled(&self, addr: usize) -> bool {
        let b = bit_hash(addr);
        self.bits[b / 64].load(Ordering::Relaxed) & (1 << (b % 64)) != 0
    }

    /// Forgets `addr` if it was sampled (call before the block goes back to the inner allocator,
    /// so a reuse of the address cannot be inserted first and then removed by mistake).
    #[inline]
    pub(crate) fn remove(&self, addr: usize) {
        if self.maybe_sampled(addr) {
            self.remove_slow(addr);
        }
    }

    /// Takes the lock and keeps it, until [`Table::release_after_fork`]: for the handler that
    /// runs in the forking thread just before a `fork`.
    pub(crate) fn hold_for_fork(&self) {
        std::mem::forget(self.lock());
    }

    /// Takes and releases the lock if it is free within some milliseconds of trying; for a test
    /// that must not hang.
    #[cfg(test)]
    pub(crate) fn lock_is_free_soon(&self) -> bool {
        for _ in 0..100_000 {
            if self
                .lock
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                self.lock.store(false, Ordering::Release);
                return true;
            }
            std::thread::yield_now();
        }
        false
    }

    /// Releases the lock taken by [`Table::hold_for_fork`], in the parent and in the child.
    pub(crate) fn release_after_fork(&self) {
        self.lock.store(false, Ordering::Release);
    }

    #[cold]
    fn remove_slow(&self, addr: usize) {
        let _held = self.lock();
        let storage = self.storage.load(Ordering::Relaxed);
        if storage.is_null() {
            return;
        }
        // SAFETY: as in `insert`: valid, never freed, exclusive under the lock.
        let st = unsafe { &mut *storage };
        let mut i = slot_hash(addr);
        loop {
            match st.slots[i].addr {
                0 => return,
                a if a == addr => break,
                _ => i = (i + 1) & (SLOTS - 1),
            }
        }
        // Backward-shift deletion: pull later entries of the run into the hole when their home
        // slot does not lie cyclically between the hole and themselves.
        let mut hole = i;
        let mut j = i;
        loop {
            j = (j + 1) & (SLOTS - 1);
            let a = st.slots[j].addr;
            if a == 0 {
                break;
            }
            let home = slot_hash(a);
            let dist_home = j.wrapping_sub(home) & (SLOTS - 1);
            let dist_hole = j.wrapping_sub(hole) & (SLOTS - 1);
            if dist_home >= dist_hole {
                st.slots[hole] = st.slots[j];
                hole = j;
            }
        }
        st.slots[hole].addr = 0;
        self.len.fetch_sub(1, Ordering::Relaxed);
        let b = bit_hash(addr);
        let c = st.bucket_counts[b];
        if c != u8::MAX {
            st.bucket_counts[b] = c - 1;
            if c == 1 {
                self.bits[b / 64].fetch_and(!(1 << (b % 64)), Ordering::Relaxed);
            }
        }
    }

    /// Copies live entries into `out` without growing it (the caller reserves first, outside
    /// the lock, since allocating here could need the lock again). Returns how many did not fit.
    pub(crate) fn snapshot(&self, out: &mut Vec<Entry>) -> usize {
        let _held = self.lock();
        let storage = self.storage.load(Ordering::Relaxed);
        if storage.is_null() {
            return 0;
        }
        // SAFETY: as in `insert`; read-only here.
        let st = unsafe { &*storage };
        let mut missed = 0;
        for e in st.slots.iter().filter(|e| e.addr != 0) {
            if out.len() < out.capacity() {
                out.push(*e);
            } else {
                missed += 1;
            }
        }
        missed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::{alloc_zeroed, Layout};

    fn entry(addr: usize, size: u64) -> Entry {
        Entry {
            addr,
            size,
            weight: 1.0,
            depth: 0,
            frames: [0; MAX_FRAMES],
        }
    }

    fn storage() -> *mut Storage {
        // SAFETY: `Storage` has a non-zero size; the memory is leaked on purpose (as in use).
        unsafe { alloc_zeroed(Layout::new::<Storage>()).cast() }
    }

    fn live(table: &Table) -> Vec<usize> {
        let mut out = Vec::with_capacity(SLOTS);
        assert_eq!(table.snapshot(&mut out), 0);
        let mut addrs: Vec<usize> = out.iter().map(|e| e.addr).collect();
        addrs.sort_unstable();
        addrs
    }

    #[test]
    fn insert_remove_keeps_every_other_entry_findable() {
        let table = Table::new();
        // Colliding runs: many addresses, removed in an order that exercises backward shifts.
        let addrs: Vec<usize> = (1..=2000).map(|i| i * 4096).collect();
        for &a in &addrs {
            table.insert(&entry(a, 16), storage);
        }
        assert_eq!(table.len(), 2000);
        for &a in addrs.iter().step_by(3) {
            table.remove(a);
        }
        let expected: Vec<usize> = addrs
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 != 0)
            .map(|(_, &a)| a)
            .collect();
        assert_eq!(live(&table), expected);
        for &a in &expected {
            assert!(table.maybe_sampled(a));
            table.remove(a);
        }
        assert_eq!(table.len(), 0);
        assert!(table.bits.iter().all(|w| w.load(Ordering::Relaxed) == 0));
    }

    #[test]
    fn full_table_drops_and_counts() {
        let table = Table::new();
        for i in 1..=(MAX_LIVE + 10) {
            table.insert(&entry(i * 16, 16), storage);
        }
        assert_eq!(table.len(), MAX_LIVE);
        assert_eq!(table.dropped(), 10);
    }

    #[test]
    fn no_storage_drops() {
        let table = Table::new();
        table.insert(&entry(64, 16), ptr::null_mut);
        assert_eq!((table.len(), table.dropped()), (0, 1));
        table.remove(64);
    }
}
