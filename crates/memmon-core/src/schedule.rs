//! When samples are due: start + delay + k × interval, missed deadlines skipped, never burst.

use std::time::Duration;

/// A sampling deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    /// Which deadline: the sample is due at `delay + k × interval` after the start.
    pub k: u64,
    /// `delay + k × interval`, as time since the start.
    pub at: Duration,
}

/// The sampling schedule. It only does arithmetic on the elapsed times the caller passes in.
#[derive(Debug, Clone)]
pub struct Schedule {
    interval_ns: u128,
    duration_ns: Option<u128>,
    delay_ns: u128,
    next_k: u64,
}

impl Schedule {
    /// A schedule with samples every `interval` (at least 1 ns), and, with a `duration`, only
    /// the samples with `k × interval < duration`.
    pub fn new(interval: Duration, duration: Option<Duration>) -> Self {
        Schedule {
            interval_ns: interval.as_nanos().max(1),
            duration_ns: duration.map(|d| d.as_nanos()),
            delay_ns: 0,
            next_k: 0,
        }
    }

    /// The same schedule with its first sample `delay` after the start (the spec's
    /// `startup_delay`): deadlines fall at `delay + k × interval`, and the duration counts from
    /// the first sample, so it still allows the samples with `k × interval < duration`.
    /// Elapsed times passed to [`Schedule::next`] stay counted from the start (the header), as
    /// 経過 is.
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay_ns = delay.as_nanos();
        self
    }

    /// The start-up delay before the first sample.
    pub fn delay(&self) -> Duration {
        duration_from_nanos(self.delay_ns).unwrap_or(Duration::MAX)
    }

    /// The next deadline not already handed out and not in the past relative to `now` (time
    /// since the start): deadlines that passed while the caller was busy are skipped, never
    /// made up in a burst. `None` when the duration allows no more samples.
    ///
    /// The first call always returns `k = 0`: the first sample is taken when the delay is over
    /// (at once without one), even if the caller asks a little late.
    pub fn next(&mut self, now: Duration) -> Option<Deadline> {
        let since_first = if self.next_k == 0 {
            0
        } else {
            now.as_nanos().saturating_sub(self.delay_ns)
        };
        let first_not_past = since_first.div_ceil(self.interval_ns);
        let k = u128::from(self.next_k).max(first_not_past);
        let offset_ns = k.checked_mul(self.interval_ns)?;
        if self.duration_ns.is_some_and(|d| offset_ns >= d) {
            return None;
        }
        let k = u64::try_from(k).ok()?;
        let at = duration_from_nanos(offset_ns.checked_add(self.delay_ns)?)?;
        self.next_k = k.checked_add(1)?;
        Some(Deadline { k, at })
    }
}

fn duration_from_nanos(ns: u128) -> Option<Duration> {
    let secs = u64::try_from(ns / 1_000_000_000).ok()?;
    let sub = u32::try_from(ns % 1_000_000_000).ok()?;
    Some(Duration::new(secs, sub))
}
