//! Which allocations are sampled, how much each one stands for, and its call stack.
//!
//! As in jemalloc and tcmalloc, a thread samples the allocation during which its byte countdown
//! runs out, then draws a new countdown from an exponential distribution with mean
//! `sample_interval`. By memorylessness an allocation of `s` bytes is then sampled with
//! probability `p = 1 - exp(-s / I)` whatever came before it, so it stands for `1 / p`
//! allocations and `s / p` bytes: small and large sizes are represented fairly.

use super::counters::{clamp_i64, restart_countdown, SampleAt, ThreadState, SEED_EPOCH, STATE};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Default mean distance between samples: 512 KiB, jemalloc's `lg_prof_sample` default.
pub const DEFAULT_SAMPLE_INTERVAL: u64 = 512 * 1024;

/// Return addresses kept per sampled allocation. Debug builds put some 15–20 frames of the
/// allocator, `alloc` and `std` above the user's line; 32 leaves room for a few user frames.
pub const MAX_FRAMES: usize = 32;

static SAMPLE_INTERVAL: AtomicU64 = AtomicU64::new(DEFAULT_SAMPLE_INTERVAL);
static SEED: AtomicU64 = AtomicU64::new(0x6d65_6d6d_6f6e_2121);

/// The mean number of bytes between sampled allocations.
pub fn sample_interval() -> u64 {
    SAMPLE_INTERVAL.load(Relaxed)
}

/// Sets the mean number of bytes between sampled allocations (at least 1). The calling thread
/// starts a new countdown at once; other threads pick the new interval up at their next sample.
pub fn set_sample_interval(bytes: u64) {
    SAMPLE_INTERVAL.store(bytes.max(1), Relaxed);
    restart_calling_thread();
}

/// Sets the seed of the sampling PRNG. The calling thread is reseeded with exactly this seed at
/// once (so a single-threaded test samples the same allocations on every run); other threads
/// reseed, each with its own mix of it, at their next sample.
pub fn set_seed(seed: u64) {
    SEED.store(seed, Relaxed);
    restart_calling_thread();
}

/// Reseeds the calling thread with exactly the global seed and draws it a fresh countdown; bumps
/// the epoch so that every other thread reseeds at its next countdown expiry.
pub(crate) fn restart_calling_thread() {
    let epoch = SEED_EPOCH.fetch_add(1, Relaxed).wrapping_add(1);
    let _ = STATE.try_with(|s| {
        s.rng.set(splitmix(SEED.load(Relaxed)) | 1);
        s.epoch.set(epoch);
        let next = draw(s);
        restart_countdown(s, next);
    });
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Next countdown: exponential with mean [`sample_interval`], from the thread's PRNG.
fn draw(s: &ThreadState) -> i64 {
    let state = s.rng.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
    s.rng.set(state);
    // 53 random bits, shifted into (0, 1] so the logarithm is finite.
    let u = ((splitmix(state) >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let bytes = -u.ln() * sample_interval() as f64;
    // `as` saturates: an absurd interval gives i64::MAX, never wraps.
    bytes as i64
}

/// Decides, on the slow path with sites on, whether the new block `at` is sampled: the fold
/// has already taken the bytes allocated on the fast path off the thread's countdown. Returns
/// how many allocations the block stands for (`1 / p`) and draws the next countdown when it is
/// sampled.
///
/// A thread whose seed is stale (new seed, interval or mode, or never seeded) first reseeds and
/// redraws; the block is then sampled only if the fresh countdown also runs out. A busy thread
/// (inside memmon's own code) draws on but never samples: by memorylessness the others'
/// allocations still see an exponential countdown.
pub(crate) fn on_countdown(s: &ThreadState, at: SampleAt) -> Option<f64> {
    let size = clamp_i64(at.size as u64);
    let epoch = SEED_EPOCH.load(Relaxed);
    if s.rng.get() == 0 || s.epoch.get() != epoch {
        let mixed = SEED.load(Relaxed) ^ ThreadState::thread_ordinal().rotate_left(32);
        s.rng.set(splitmix(mixed) | 1);
        s.epoch.set(epoch);
        let left = draw(s).saturating_sub(size);
        s.countdown.set(left);
        if left >= 0 {
            return None;
        }
    } else if !at.counted {
        s.countdown.set(s.countdown.get().saturating_sub(size));
    }
    if s.countdown.get() >= 0 {
        return None;
    }
    s.countdown.set(draw(s));
    if s.busy.get() {
        return None;
    }
    Some(weight(size.unsigned_abs(), sample_interval()))
}

/// How many allocations of `size` bytes one sample stands for at mean interval `interval`:
/// `1 / (1 - exp(-size / interval))`. The bytes it stands for are `size` times this.
pub fn weight(size: u64, interval: u64) -> f64 {
    let p = -(-(size as f64) / interval.max(1) as f64).exp_m1();
    if p > 0.0 {
        1.0 / p
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_matches_the_inclusion_probability() {
        // Much larger than the interval: always sampled, stands for itself.
        assert!((weight(1 << 30, 16 * 1024) - 1.0).abs() < 1e-9);
        // size = interval: p = 1 - 1/e.
        let w = weight(4096, 4096);
        assert!((w - 1.0 / (1.0 - (-1.0f64).exp())).abs() < 1e-12);
        // Tiny sizes: p ≈ s / I, so one sample of s bytes stands for about I bytes.
        let bytes = 16.0 * weight(16, 512 * 1024);
        assert!((bytes - 512.0 * 1024.0).abs() < 16.0);
    }

    #[test]
    fn draws_have_the_configured_mean() {
        let s = ThreadState::thread_ordinal();
        let state = STATE.with(|st| {
            st.rng.set(splitmix(s) | 1);
            let n = 20_000;
            let total: i64 = (0..n).map(|_| draw(st)).sum();
            total as f64 / n as f64
        });
        let mean = sample_interval() as f64;
        assert!((state - mean).abs() < mean * 0.03, "{state} vs {mean}");
    }
}
