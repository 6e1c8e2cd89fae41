//! The tracking allocator's cost on an allocation-heavy workload, for `cargo xtask bench`.
//!
//! `cargo run --release -p memmon-sampler --example alloc_bench [PAIRS] [ROUNDS]` prints
//! `alloc-1t-ratio: X`, `alloc-2t-ratio: X`, `alloc-sites-1t-ratio: X`, `alloc-sites-2t-ratio: X`:
//! the median time with counting (or counting and sites at the default 512 KiB interval) over
//! the median time with the allocator switched off (straight to `System`). One process holds one
//! global allocator, so the modes are switched at run time, between runs, in interleaved rounds.
//!
//! Workload per thread: PAIRS allocate/free pairs of 16–256 bytes; about one block in ten is kept
//! in a 4096-slot ring for a while (freed when its slot is reused).

use memmon_sampler::alloc::{self, Mode, TrackingAllocator};
use std::hint::black_box;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: TrackingAllocator = TrackingAllocator::new();

fn workload(pairs: u64, seed: u64) {
    let mut ring: Vec<Option<Vec<u8>>> = (0..4096).map(|_| None).collect();
    let mut x = seed | 1;
    for i in 0..pairs {
        // xorshift64: cheap and allocation-free.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let size = 16 + (x % 241) as usize;
        let block = black_box(Vec::<u8>::with_capacity(size));
        if x % 10 == 0 {
            ring[(i % 4096) as usize] = Some(block);
        }
    }
    black_box(ring);
}

fn run(mode: Mode, threads: u64, pairs: u64) -> Duration {
    alloc::set_mode(mode);
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || workload(pairs, 0x9e37_79b9 + t));
        }
    });
    let elapsed = start.elapsed();
    alloc::set_mode(Mode::Off);
    elapsed
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort_unstable();
    v[v.len() / 2].as_secs_f64()
}

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>());
    let pairs = args.next().and_then(Result::ok).unwrap_or(2_000_000);
    let rounds = args.next().and_then(Result::ok).unwrap_or(7).max(1);
    // Blocks allocated in one mode and freed in another would skew the counts; each run frees
    // all it allocated, and the mode only changes between runs.
    for threads in [1u64, 2] {
        let modes = [Mode::Off, Mode::Counting, Mode::Sites];
        let mut times: Vec<Vec<Duration>> = vec![Vec::new(); modes.len()];
        run(Mode::Off, threads, pairs / 4); // warm-up
        for round in 0..rounds {
            // Rotate the order so drift in machine load spreads over all modes.
            for k in 0..modes.len() {
                let m = (k + round as usize) % modes.len();
                times[m].push(run(modes[m], threads, pairs));
            }
        }
        let off = median(times[0].clone());
        let counting = median(times[1].clone()) / off;
        let sites = median(times[2].clone()) / off;
        println!("alloc-{threads}t-ratio: {counting:.3}");
        println!("alloc-sites-{threads}t-ratio: {sites:.3}");
        eprintln!(
            "{threads} thread(s), {pairs} pairs each: off {:.1} ms (median of {rounds})",
            off * 1e3
        );
    }
    let stats = alloc::stats();
    eprintln!(
        "site table: {} live samples, {} dropped",
        stats.sampled, stats.dropped_samples
    );
}
