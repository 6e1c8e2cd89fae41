//! The schedule: start + k × interval, skipped when missed, bounded by the duration.

use memmon_core::{Deadline, Schedule};
use proptest::prelude::*;
use std::time::Duration;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn first_sample_at_once_then_every_interval() {
    let mut s = Schedule::new(ms(500), None);
    assert_eq!(s.next(ms(0)), Some(Deadline { k: 0, at: ms(0) }));
    assert_eq!(s.next(ms(3)), Some(Deadline { k: 1, at: ms(500) }));
    assert_eq!(s.next(ms(501)), Some(Deadline { k: 2, at: ms(1000) }));
}

#[test]
fn the_first_sample_is_taken_at_once_even_if_asked_late() {
    let mut s = Schedule::new(ms(500), Some(ms(3000)));
    assert_eq!(s.next(ms(2)), Some(Deadline { k: 0, at: ms(0) }));
    assert_eq!(s.next(ms(3)), Some(Deadline { k: 1, at: ms(500) }));
}

#[test]
fn a_stall_skips_deadlines_instead_of_bursting() {
    let mut s = Schedule::new(ms(100), None);
    s.next(ms(0));
    // Stopped for 1.05 s: deadlines 1..=10 are gone; the next is 11 (1.1 s).
    assert_eq!(
        s.next(ms(1050)),
        Some(Deadline {
            k: 11,
            at: ms(1100)
        })
    );
    // A deadline exactly now is not in the past.
    assert_eq!(
        s.next(ms(1200)),
        Some(Deadline {
            k: 12,
            at: ms(1200)
        })
    );
}

#[test]
fn duration_bounds_the_samples_like_the_reference_log() {
    // 300 s at 5 s: k × 5 < 300 gives 60 samples (the original test mode's log).
    let mut s = Schedule::new(Duration::from_secs(5), Some(Duration::from_secs(300)));
    let mut n = 0;
    while let Some(d) = s.next(d_at(n)) {
        assert_eq!(d.k, n);
        n += 1;
    }
    assert_eq!(n, 60);
}

#[test]
fn a_startup_delay_moves_every_deadline_and_the_duration_counts_from_the_first_sample() {
    let mut s = Schedule::new(ms(500), Some(ms(1200))).with_delay(ms(60_000));
    assert_eq!(s.delay(), ms(60_000));
    // Asked at the start, the first deadline is the delay's end.
    assert_eq!(
        s.next(ms(0)),
        Some(Deadline {
            k: 0,
            at: ms(60_000)
        })
    );
    assert_eq!(
        s.next(ms(60_001)),
        Some(Deadline {
            k: 1,
            at: ms(60_500)
        })
    );
    assert_eq!(
        s.next(ms(60_500)),
        Some(Deadline {
            k: 2,
            at: ms(61_000)
        })
    );
    // 3 × 500 ms is not below the 1.2 s duration.
    assert_eq!(s.next(ms(61_000)), None);
}

#[test]
fn a_stall_after_a_delay_skips_from_the_first_sample_on() {
    let mut s = Schedule::new(ms(100), None).with_delay(ms(250));
    assert_eq!(s.next(ms(0)).map(|d| d.at), Some(ms(250)));
    // Stalled until 1.0 s: the deadlines at 350 … 950 ms are gone; the next is 1,050 ms.
    assert_eq!(s.next(ms(1000)), Some(Deadline { k: 8, at: ms(1050) }));
}

fn d_at(k: u64) -> Duration {
    Duration::from_secs(5 * k)
}

#[test]
fn deadline_past_duration_is_none() {
    let mut s = Schedule::new(ms(500), Some(ms(3000)));
    s.next(ms(0));
    assert_eq!(s.next(ms(2900)), None);
}

proptest! {
    #[test]
    fn never_past_never_skips_one_ahead(interval in 1u64..10_000, steps in proptest::collection::vec(0u64..50_000, 1..100)) {
        let mut s = Schedule::new(Duration::from_micros(interval), None);
        let mut now = 0u64;
        prop_assert_eq!(s.next(Duration::ZERO).map(|d| d.k), Some(0));
        let mut last_k = Some(0);
        for step in steps {
            now += step;
            let d = s.next(Duration::from_micros(now)).unwrap();
            // Never in the past (but the first, taken at once).
            prop_assert!(d.k == 0 || d.at >= Duration::from_micros(now));
            prop_assert_eq!(d.at, Duration::from_micros(d.k * interval));
            // Never skips a deadline that was still ahead: the one before it was already handed out or is past.
            if d.k > 0 {
                let prev_at = (d.k - 1) * interval;
                prop_assert!(prev_at < now || last_k == Some(d.k - 1));
            }
            if let Some(l) = last_k { prop_assert!(d.k > l); }
            last_k = Some(d.k);
            // The caller sleeps until the deadline.
            now = d.k * interval;
        }
    }

    #[test]
    fn a_delay_only_shifts_the_deadlines(interval in 1u64..10_000, delay in 0u64..100_000, steps in proptest::collection::vec(0u64..50_000, 1..60)) {
        // The same waits after the first sample give the same k with and without a delay,
        // and every deadline is the undelayed one plus the delay.
        let mut plain = Schedule::new(Duration::from_micros(interval), Some(Duration::from_micros(400_000)));
        let mut delayed = Schedule::new(Duration::from_micros(interval), Some(Duration::from_micros(400_000)))
            .with_delay(Duration::from_micros(delay));
        let d0 = delayed.next(Duration::ZERO);
        prop_assert_eq!(d0, Some(Deadline { k: 0, at: Duration::from_micros(delay) }));
        plain.next(Duration::ZERO);
        let mut now = 0u64;
        for step in steps {
            now += step;
            let a = plain.next(Duration::from_micros(now));
            let b = delayed.next(Duration::from_micros(now + delay));
            prop_assert_eq!(a.map(|d| d.k), b.map(|d| d.k));
            prop_assert_eq!(a.map(|d| d.at + Duration::from_micros(delay)), b.map(|d| d.at));
            let Some(a) = a else { break };
            now = a.k * interval;
        }
    }
}
