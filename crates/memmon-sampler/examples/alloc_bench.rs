//! The tracking allocator's cost on an allocation-heavy workload, for `cargo xtask bench`.
//!
//! `cargo run --release -p memmon-sampler --example alloc_bench [PAIRS] [ROUNDS]` prints
//! `alloc-1t-ratio: X`, `alloc-2t-ratio: X`, `alloc-sites-1t-ratio: X`, `alloc-sites-2t-ratio: X`:
//! the time with counting (or counting and sites at the default 512 KiB interval) over the time
//! of plain `System`. This machine's speed swings by up to 2x within a second, so the sides take
//! turns at a fine grain: each round runs every side's PAIRS in chunks of a million pairs
//! (fewer when PAIRS is smaller), the three sides one chunk each in turn, the first of them
//! rotating, and the figure is the median over all chunks of a chunk's time over the `System`
//! chunk run beside it. (In one comparison on a loaded machine, whole 10M-pair runs side by
//! side gave figures that moved by up to 0.16 between two runs of the bench; chunks of 1M, by
//! up to 0.02.)
//!
//! Workload per thread: PAIRS (default 10 million) allocate/free pairs of 16–256 bytes; about one
//! block in ten is kept in a 4096-slot ring for a while (freed when its slot is reused, or at the
//! end of its chunk).
//!
//! The baseline does exactly the same work: the one workload function is instantiated for each
//! allocator, and every allocation and free goes through one non-inlined call, as a program's
//! `__rust_alloc` does to reach the `#[global_allocator]`. (Switching the tracking allocator
//! "off" would not be plain `System`: its mode check would be counted in the baseline.)
//!
//! `alloc_bench PAIRS 1 system|counting|sites THREADS` runs one mode once and prints nothing: for
//! instruction counts under `valgrind --tool=callgrind`, which are repeatable on a loaded machine.

use memmon_sampler::alloc::{self, TrackingAllocator};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::time::{Duration, Instant};

// Everything else in the process (thread spawns, printing) uses plain `System`; the allocators
// under test are called by the workload alone.
#[global_allocator]
static GLOBAL: System = System;

static COUNTING: TrackingAllocator = TrackingAllocator::counting_only();
static SITES: TrackingAllocator = TrackingAllocator::new();

/// The allocators compared.
#[derive(Clone, Copy)]
enum Which {
    System,
    Counting,
    Sites,
}

const ALL: [Which; 3] = [Which::System, Which::Counting, Which::Sites];

/// Each side's pairs per thread and round run in chunks of at most this many, the sides taking
/// turns chunk by chunk (see the module's docs).
const CHUNK_PAIRS: u64 = 1_000_000;

/// Names one allocator static, so that the shims below call it as `__rust_alloc` calls the
/// `#[global_allocator]`: a known static, not a pointer passed in.
trait Global {
    type A: GlobalAlloc + 'static;
    fn get() -> &'static Self::A;
}

struct PlainSystem;
struct Counting;
struct Sites;

impl Global for PlainSystem {
    type A = System;
    fn get() -> &'static System {
        &System
    }
}

impl Global for Counting {
    type A = TrackingAllocator;
    fn get() -> &'static TrackingAllocator {
        &COUNTING
    }
}

impl Global for Sites {
    type A = TrackingAllocator;
    fn get() -> &'static TrackingAllocator {
        &SITES
    }
}

/// One allocation, never inlined: the call a `#[global_allocator]` costs.
#[inline(never)]
fn alloc_with<G: Global>(layout: Layout) -> *mut u8 {
    // SAFETY: every layout here has a non-zero size (16–256 bytes).
    unsafe { G::get().alloc(layout) }
}

/// One free, never inlined, as in `alloc_with`.
#[inline(never)]
fn dealloc_with<G: Global>(ptr: *mut u8, layout: Layout) {
    // SAFETY: `ptr` came from `alloc_with::<G>(layout)` with this same layout and is freed once.
    unsafe { G::get().dealloc(ptr, layout) }
}

/// `pairs` allocate/free pairs of 16–256 bytes (align 1, as a `Vec<u8>`'s); one block in ten
/// lives on in a 4096-slot ring until its slot is reused.
fn workload<G: Global>(pairs: u64, seed: u64) {
    let mut ring: Vec<(*mut u8, Layout)> = vec![(std::ptr::null_mut(), Layout::new::<()>()); 4096];
    let mut x = seed | 1;
    for i in 0..pairs {
        // xorshift64: cheap and allocation-free.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let size = 16 + (x % 241) as usize;
        let Ok(layout) = Layout::from_size_align(size, 1) else {
            continue;
        };
        let block = black_box(alloc_with::<G>(layout));
        if block.is_null() {
            continue;
        }
        let (ptr, layout) = if x % 10 == 0 {
            std::mem::replace(&mut ring[(i % 4096) as usize], (block, layout))
        } else {
            (block, layout)
        };
        if !ptr.is_null() {
            dealloc_with::<G>(ptr, layout);
        }
    }
    for (ptr, layout) in ring {
        if !ptr.is_null() {
            dealloc_with::<G>(ptr, layout);
        }
    }
}

fn run(which: Which, threads: u64, pairs: u64) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let seed = 0x9e37_79b9 + t;
            s.spawn(move || match which {
                Which::System => workload::<PlainSystem>(pairs, seed),
                Which::Counting => workload::<Counting>(pairs, seed),
                Which::Sites => workload::<Sites>(pairs, seed),
            });
        }
    });
    start.elapsed()
}

/// The median of `v` (the upper middle one of an even count); 0 when empty.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_unstable_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// The median over chunks of `times[side][chunk] / times[0][chunk]`.
fn median_ratio(times: &[Vec<f64>], side: usize) -> f64 {
    let ratios = times[side]
        .iter()
        .zip(&times[0])
        .map(|(t, system)| t / system)
        .collect();
    median(ratios)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize| args.get(i).and_then(|a| a.parse::<u64>().ok());
    let pairs = number(0).unwrap_or(10_000_000);
    let rounds = number(1).unwrap_or(7).max(1);
    let only = match args.get(2).map(String::as_str) {
        None => None,
        Some("system") => Some(Which::System),
        Some("counting") => Some(Which::Counting),
        Some("sites") => Some(Which::Sites),
        Some(other) => {
            eprintln!("alloc_bench: unknown mode {other:?} (system, counting or sites)");
            std::process::exit(2);
        }
    };
    if let Some(which) = only {
        let threads = number(3).unwrap_or(1);
        run(which, threads, pairs);
        return;
    }
    for threads in [1u64, 2] {
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); ALL.len()];
        for which in ALL {
            run(which, threads, pairs / 10); // warm-up: first-touch of heap and code
        }
        // Per side, round by round: the total of its chunks, for the report.
        let mut totals: Vec<Vec<f64>> = vec![Vec::new(); ALL.len()];
        let chunk = pairs.clamp(1, CHUNK_PAIRS);
        let mut turn = 0;
        for _ in 0..rounds {
            let mut round = [0.0; ALL.len()];
            for _ in 0..pairs.div_ceil(chunk) {
                for k in 0..ALL.len() {
                    let m = (k + turn) % ALL.len();
                    let t = run(ALL[m], threads, chunk).as_secs_f64();
                    times[m].push(t);
                    round[m] += t;
                }
                turn += 1;
            }
            for (side, t) in totals.iter_mut().zip(round) {
                side.push(t);
            }
        }
        println!("alloc-{threads}t-ratio: {:.3}", median_ratio(&times, 1));
        println!(
            "alloc-sites-{threads}t-ratio: {:.3}",
            median_ratio(&times, 2)
        );
        let ms = |v: &[f64]| {
            v.iter()
                .map(|t| format!("{:.0}", t * 1e3))
                .collect::<Vec<_>>()
                .join(" ")
        };
        eprintln!(
            "{threads} thread(s), {pairs} pairs each, ms per round: System [{}], counting [{}], \
             sites [{}]",
            ms(&totals[0]),
            ms(&totals[1]),
            ms(&totals[2]),
        );
    }
    let stats = alloc::stats();
    eprintln!(
        "site table: {} live samples, {} dropped",
        stats.sampled, stats.dropped_samples
    );
}
