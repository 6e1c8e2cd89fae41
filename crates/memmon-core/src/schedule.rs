//! When samples are due: start + k × interval, missed deadlines skipped, never burst.

use std::time::Duration;

/// A sampling deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    /// Which deadline: the sample is due at `k × interval` after the start.
    pub k: u64,
    /// `k × interval`, as time since the start.
    pub at: Duration,
}

/// The sampling schedule. It only does arithmetic on the elapsed times the caller passes in.
#[derive(Debug, Clone)]
pub struct Schedule {
    interval_ns: u128,
    duration_ns: Option<u128>,
    next_k: u64,
}

impl Schedule {
    /// A schedule with samples every `interval` (at least 1 ns), and, with a `duration`, only
    /// the samples with `k × interval < duration`.
    pub fn new(interval: Duration, duration: Option<Duration>) -> Self {
        Schedule {
            interval_ns: interval.as_nanos().max(1),
            duration_ns: duration.map(|d| d.as_nanos()),
            next_k: 0,
        }
    }

    /// The next deadline not already handed out and not in the past relative to `now` (time
    /// since the start): deadlines that passed while the caller was busy are skipped, never
    /// made up in a burst. `None` when the duration allows no more samples.
    ///
    /// The first call always returns `k = 0`: the first sample is taken at once when monitoring
    /// starts, even though a few microseconds have passed since the caller noted the start.
    pub fn next(&mut self, now: Duration) -> Option<Deadline> {
        let now_ns = if self.next_k == 0 { 0 } else { now.as_nanos() };
        let first_not_past = now_ns.div_ceil(self.interval_ns);
        let k = u128::from(self.next_k).max(first_not_past);
        let at_ns = k.checked_mul(self.interval_ns)?;
        if self.duration_ns.is_some_and(|d| at_ns >= d) {
            return None;
        }
        let k = u64::try_from(k).ok()?;
        let at = duration_from_nanos(at_ns)?;
        self.next_k = k.checked_add(1)?;
        Some(Deadline { k, at })
    }
}

fn duration_from_nanos(ns: u128) -> Option<Duration> {
    let secs = u64::try_from(ns / 1_000_000_000).ok()?;
    let sub = u32::try_from(ns % 1_000_000_000).ok()?;
    Some(Duration::new(secs, sub))
}
