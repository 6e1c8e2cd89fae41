//! The state machine's behaviour, with exact numbers.

use memmon_core::{Bytes, Event, Monitor, MonitorSettings, Reading, SampleError, Stamp, MIB};
use proptest::prelude::*;
use std::num::NonZeroU64;
use std::time::{Duration, SystemTime};

fn at(secs: u64) -> Stamp {
    Stamp {
        wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs),
        elapsed: Duration::from_secs(secs),
    }
}

fn rss(bytes: u64) -> Reading {
    Reading {
        rss: bytes,
        vms: bytes * 3,
        sys_total: 1024 * MIB,
        sys_available: 512 * MIB,
    }
}

#[test]
fn first_sample_is_the_baseline() {
    let mut m = Monitor::new(MonitorSettings::default());
    let out = m.on_sample(at(0), rss(40 * MIB));
    assert_eq!(out.sample.index, 1);
    assert_eq!(out.sample.growth, Bytes(0));
    assert_eq!(out.sample.peak, 40 * MIB);
    assert_eq!(out.warning, None);
    assert_eq!(m.baseline(), Some(40 * MIB));
}

#[test]
fn warning_only_strictly_above_threshold_unrounded() {
    let base = 10 * MIB;
    let mut m = Monitor::new(MonitorSettings::default());
    m.on_sample(at(0), rss(base));
    // Exactly 50.000 MiB: no warning.
    let out = m.on_sample(at(1), rss(base + 50 * MIB));
    assert_eq!(out.warning, None);
    // 50.004 MiB prints as +50.00MB but warns: the comparison is unrounded.
    let g = (50.004 * MIB as f64) as u64;
    let out = m.on_sample(at(2), rss(base + g));
    assert_eq!(out.warning.map(|w| w.growth), Some(Bytes(g as i64)));
    // One byte above warns too, and every such sample warns again.
    let out = m.on_sample(at(3), rss(base + 50 * MIB + 1));
    assert!(out.warning.is_some());
    assert_eq!(m.warnings(), 2);
}

#[test]
fn fractional_threshold_compares_exactly() {
    let t = MonitorSettings::threshold_from_mib(0.5);
    assert_eq!(t, Bytes(524_288));
    let settings = MonitorSettings {
        warn_threshold: MonitorSettings::threshold_from_mib(100.6 / MIB as f64),
        ..MonitorSettings::default()
    };
    let mut m = Monitor::new(settings);
    m.on_sample(at(0), rss(1000));
    assert!(m.on_sample(at(1), rss(1100)).warning.is_none());
    assert!(m.on_sample(at(2), rss(1101)).warning.is_some());
}

#[test]
fn peak_is_running_max_and_growth_can_be_negative() {
    let mut m = Monitor::new(MonitorSettings::default());
    m.on_sample(at(0), rss(30 * MIB));
    m.on_sample(at(1), rss(45 * MIB));
    let out = m.on_sample(at(2), rss(20 * MIB));
    assert_eq!(out.sample.peak, 45 * MIB);
    assert_eq!(out.sample.growth, Bytes(-10 * MIB as i64));
}

#[test]
fn detail_on_counted_samples_only() {
    let mut m = Monitor::new(MonitorSettings::default());
    let mut due = Vec::new();
    for i in 0..35u64 {
        if i % 4 == 3 {
            let failed = m.on_failure(at(i), SampleError::Exited { pid: 7 });
            assert_eq!(failed.error, SampleError::Exited { pid: 7 });
            continue;
        }
        let out = m.on_sample(at(i), rss(MIB));
        if out.detail_due {
            due.push(out.sample.index);
        }
    }
    // 35 attempts, 8 failures: 27 counted samples.
    assert_eq!(m.samples(), 27);
    assert_eq!(m.failures(), 8);
    assert_eq!(due, vec![10, 20]);
}

#[test]
fn detail_every_is_a_parameter_and_can_be_off() {
    let mut m = Monitor::new(MonitorSettings {
        detail_every: NonZeroU64::new(3),
        ..MonitorSettings::default()
    });
    let due: Vec<bool> = (0..7)
        .map(|i| m.on_sample(at(i), rss(MIB)).detail_due)
        .collect();
    assert_eq!(due, [false, false, true, false, false, true, false]);
    let mut off = Monitor::new(MonitorSettings {
        detail_every: None,
        ..MonitorSettings::default()
    });
    assert!((0..30).all(|i| !off.on_sample(at(i), rss(MIB)).detail_due));
}

#[test]
fn events_come_in_log_order() {
    let mut m = Monitor::new(MonitorSettings::default());
    m.on_sample(at(0), rss(MIB));
    for i in 1..9 {
        m.on_sample(at(i), rss(MIB));
    }
    let out = m.on_sample(at(9), rss(60 * MIB));
    let kinds: Vec<&str> = out
        .events()
        .map(|e| match e {
            Event::Sample(_) => "sample",
            Event::Warning(_) => "warning",
            Event::DetailDue { .. } => "detail",
            Event::SampleFailed(_) => "failed",
        })
        .collect();
    assert_eq!(kinds, ["sample", "warning", "detail"]);
}

#[test]
fn footer_folds_fresh_final_sample_into_peak() {
    let mut m = Monitor::new(MonitorSettings::default());
    m.on_sample(at(0), rss(15 * MIB));
    m.on_sample(at(5), rss(74 * MIB));
    // The original's reference log ends with 最終 74.54 > ピーク 74.52; memmon folds it in.
    let s = m.finish(at(10), Some(rss(75 * MIB)));
    assert_eq!(s.initial, Some(15 * MIB));
    assert_eq!(s.last, Some(75 * MIB));
    assert_eq!(s.peak, Some(75 * MIB));
    assert_eq!(s.growth, Some(Bytes(60 * MIB as i64)));
    assert!(s.fresh);
    assert_eq!(s.at.elapsed, Duration::from_secs(10));
}

#[test]
fn footer_uses_last_good_sample_when_no_fresh_one() {
    let mut m = Monitor::new(MonitorSettings::default());
    m.on_sample(at(0), rss(15 * MIB));
    m.on_sample(at(5), rss(20 * MIB));
    m.on_sample(at(6), rss(18 * MIB));
    let s = m.finish(at(10), None);
    assert_eq!(
        (s.last, s.peak, s.fresh),
        (Some(18 * MIB), Some(20 * MIB), false)
    );
    assert!(s.last_good_used());
    assert_eq!(s.growth, Some(Bytes(3 * MIB as i64)));
}

#[test]
fn footer_without_any_sample_line_invents_nothing() {
    // The command ended during the start-up delay and no fresh sample could be taken.
    let s = Monitor::new(MonitorSettings::default()).finish(at(1), None);
    assert_eq!(
        (s.initial, s.last, s.peak, s.growth),
        (None, None, None, None)
    );
    assert!(!s.fresh);
    assert!(!s.last_good_used());
    assert_eq!(s.at.elapsed, Duration::from_secs(1));
}

#[test]
fn footer_without_sample_lines_takes_last_and_peak_from_the_fresh_sample() {
    let s = Monitor::new(MonitorSettings::default()).finish(at(3), Some(rss(12 * MIB)));
    assert_eq!(s.initial, None);
    assert_eq!((s.last, s.peak), (Some(12 * MIB), Some(12 * MIB)));
    assert_eq!(s.growth, None);
    assert!(s.fresh && !s.last_good_used());
}

#[test]
fn failed_samples_alone_leave_no_figure() {
    let mut m = Monitor::new(MonitorSettings::default());
    m.on_failure(
        at(1),
        SampleError::Io {
            path: "/proc/1/statm".into(),
            message: "gone".into(),
        },
    );
    let s = m.finish(at(2), None);
    assert_eq!(
        (s.initial, s.last, s.peak, s.growth),
        (None, None, None, None)
    );
}

proptest! {
    #[test]
    fn peak_is_monotone_and_bounds_every_sample(values in proptest::collection::vec(0u64..(1 << 40), 1..200)) {
        let mut m = Monitor::new(MonitorSettings::default());
        let mut prev_peak = 0;
        for (i, v) in values.iter().enumerate() {
            let out = m.on_sample(at(i as u64), rss(*v));
            prop_assert!(out.sample.peak >= prev_peak);
            prop_assert!(out.sample.peak >= *v);
            prop_assert_eq!(out.sample.growth.get(), *v as i64 - values[0] as i64);
            prop_assert_eq!(out.warning.is_some(), out.sample.growth.get() > 50 * MIB as i64);
            prev_peak = out.sample.peak;
        }
        prop_assert_eq!(prev_peak, *values.iter().max().unwrap());
    }

    #[test]
    fn footer_is_consistent(values in proptest::collection::vec(0u64..(1 << 40), 1..50), last in 0u64..(1 << 40)) {
        let mut m = Monitor::new(MonitorSettings::default());
        for (i, v) in values.iter().enumerate() {
            m.on_sample(at(i as u64), rss(*v));
        }
        let s = m.finish(at(100), Some(rss(last)));
        let (Some(peak), Some(l), Some(initial), Some(growth)) = (s.peak, s.last, s.initial, s.growth) else {
            panic!("a run with samples and a fresh one has every figure: {s:?}");
        };
        prop_assert!(peak >= l);
        prop_assert_eq!(l, last);
        prop_assert_eq!(initial, values[0]);
        prop_assert_eq!(growth.get(), l as i64 - initial as i64);
    }
}
