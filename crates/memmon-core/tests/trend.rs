//! The leak-trend estimator against generated series of known shape.

use memmon_core::{
    time_to_exhaustion, InconclusiveReason, SlopeMethod, TrendError, TrendEstimate, TrendEstimator,
    TrendSettings, Verdict, VerdictSettings, Warmup, MAX_BINS, MIB,
};
use proptest::prelude::*;

const MB: f64 = MIB as f64;
const HOUR: f64 = 3600.0;

/// Deterministic pseudo-noise, uniform in [-amp, amp].
struct Noise(u64);

impl Noise {
    fn next(&mut self, amp: f64) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let u = (self.0 >> 11) as f64 / (1u64 << 53) as f64;
        (2.0 * u - 1.0) * amp
    }
}

/// Feeds `f(t)` every `step` seconds over `[0, secs]` and returns the estimate and verdict.
fn run_with(
    settings: TrendSettings,
    secs: f64,
    step: f64,
    mut f: impl FnMut(f64) -> f64,
) -> (TrendEstimate, Verdict) {
    let mut est = TrendEstimator::new(settings).expect("valid settings");
    let n = (secs / step).round() as u64;
    for k in 0..=n {
        let t = k as f64 * step;
        est.push(t, f(t)).expect("point in range");
    }
    let e = est.estimate().expect("enough bins");
    let v = e.verdict(&VerdictSettings::default());
    assert_eq!(v, est.verdict(&VerdictSettings::default()));
    (e, v)
}

fn run(secs: f64, step: f64, f: impl FnMut(f64) -> f64) -> (TrendEstimate, Verdict) {
    run_with(TrendSettings::default(), secs, step, f)
}

fn assert_close(got: f64, want: f64, rel: f64) {
    assert!(
        (got - want).abs() <= rel * want.abs(),
        "got {got}, want {want} ± {}%",
        rel * 100.0
    );
}

/// "Slope ≈ 0": the line moves less than 0.5 MiB over the fitted span.
fn assert_flat(e: &TrendEstimate) {
    assert!(
        e.rise_bytes().abs() < 0.5 * MB,
        "rise {} MiB",
        e.rise_bytes() / MB
    );
}

#[test]
fn flat_with_noise_is_normal() {
    let mut noise = Noise(1);
    let (e, v) = run(6.0 * HOUR, 60.0, |_| 80.0 * MB + noise.next(3.0 * MB));
    assert_eq!(v, Verdict::Normal);
    assert_flat(&e);
    assert!(e.warmup_secs < 600.0, "warm-up {}", e.warmup_secs);
}

#[test]
fn warmup_then_flat_is_normal_and_warmup_is_found() {
    // 15 → 60 MiB over the first 10 minutes, then flat with noise, for 4 hours at 5 s.
    let mut noise = Noise(2);
    let (e, v) = run(4.0 * HOUR, 5.0, |t| {
        let level = if t < 600.0 {
            15.0 + 45.0 * t / 600.0
        } else {
            60.0
        };
        level * MB + noise.next(1.0 * MB)
    });
    assert_eq!(v, Verdict::Normal);
    assert_flat(&e);
    assert!(
        (500.0..=800.0).contains(&e.warmup_secs),
        "warm-up {}",
        e.warmup_secs
    );
}

#[test]
fn one_mb_per_hour_over_a_day_is_a_leak_below_the_warning_threshold() {
    let mut noise = Noise(3);
    let slope = MB / HOUR;
    let (e, v) = run(24.0 * HOUR, 60.0, |t| {
        40.0 * MB + slope * t + noise.next(2.0 * MB)
    });
    assert_eq!(v, Verdict::Leak);
    assert_close(e.slope_bytes_per_sec, slope, 0.10);
    assert!(e.rise_bytes() < 50.0 * MB);
    assert!(e.r2 > 0.9, "r2 {}", e.r2);
}

#[test]
fn climbing_gc_sawtooth_is_a_leak() {
    // +5 MiB/h underneath; the heap climbs 20 MiB and drops back every 37 minutes.
    let slope = 5.0 * MB / HOUR;
    let period = 37.0 * 60.0;
    let mut noise = Noise(4);
    let (e, v) = run(24.0 * HOUR, 60.0, |t| {
        let phase = (t % period) / period;
        50.0 * MB + slope * t + 20.0 * MB * phase + noise.next(0.5 * MB)
    });
    assert_eq!(v, Verdict::Leak);
    assert_close(e.slope_bytes_per_sec, slope, 0.10);
}

#[test]
fn a_step_then_flat_is_not_a_leak() {
    for (at, want) in [
        // Early: indistinguishable from a warm-up, and then it is flat.
        (0.3, Verdict::Normal),
        // Late: the fit sees a level shift, not growth.
        (0.6, Verdict::Inconclusive(InconclusiveReason::Unsteady)),
        (0.9, Verdict::Inconclusive(InconclusiveReason::Unsteady)),
    ] {
        let mut noise = Noise(5);
        let secs = 12.0 * HOUR;
        let (e, v) = run(secs, 60.0, |t| {
            let step = if t >= at * secs { 30.0 * MB } else { 0.0 };
            60.0 * MB + step + noise.next(1.0 * MB)
        });
        assert_eq!(v, want, "step at {at}: {e:?}");
    }
}

#[test]
fn a_single_spike_in_a_flat_series_is_normal() {
    let mut noise = Noise(6);
    let (e, v) = run(6.0 * HOUR, 60.0, |t| {
        let spike = if t == 3.0 * HOUR { 200.0 * MB } else { 0.0 };
        70.0 * MB + spike + noise.next(1.0 * MB)
    });
    assert_eq!(v, Verdict::Normal);
    assert_flat(&e);
}

#[test]
fn original_test_mode_shape_is_a_leak_at_12_mib_per_minute() {
    // 1 MiB every 5 s from 15 MiB, sampled every 5 s for 300 s (60 samples).
    let (e, v) = run(295.0, 5.0, |t| (15.0 + (t / 5.0).floor()) * MB);
    assert_eq!(v, Verdict::Leak);
    assert_close(e.slope_bytes_per_sec * 60.0, 12.0 * MB, 1e-9);
    assert_eq!(e.warmup_secs, 0.0);
    assert_eq!(e.points, 60);
    // Sampled every second, the staircase still has that slope.
    let (e, v) = run(299.0, 1.0, |t| (15.0 + (t / 5.0).floor()) * MB);
    assert_eq!(v, Verdict::Leak);
    assert_close(e.slope_bytes_per_sec * 60.0, 12.0 * MB, 0.10);
}

#[test]
fn the_online_method_agrees_on_the_shapes() {
    let slope = MB / HOUR;
    let mut noise = Noise(7);
    let (e, v) = run_with(TrendSettings::online(), 24.0 * HOUR, 60.0, |t| {
        40.0 * MB + slope * t + noise.next(2.0 * MB)
    });
    assert_eq!(v, Verdict::Leak);
    assert_close(e.slope_bytes_per_sec, slope, 0.10);
    let mut noise = Noise(8);
    let (e, v) = run_with(TrendSettings::online(), 6.0 * HOUR, 60.0, |_| {
        80.0 * MB + noise.next(3.0 * MB)
    });
    assert_eq!(v, Verdict::Normal);
    assert_flat(&e);
}

#[test]
fn fixed_and_no_warmup() {
    let shape = |t: f64| if t < 600.0 { t * 1000.0 } else { 600_000.0 };
    let fixed = TrendSettings {
        warmup: Warmup::Fixed { secs: 600.0 },
        ..TrendSettings::default()
    };
    let (e, _) = run_with(fixed, 3600.0, 10.0, shape);
    assert_eq!(e.warmup_secs, 600.0);
    assert_eq!(e.slope_bytes_per_sec, 0.0);
    let none = TrendSettings {
        warmup: Warmup::None,
        ..TrendSettings::default()
    };
    let (e, _) = run_with(none, 3600.0, 10.0, shape);
    assert_eq!(e.warmup_secs, 0.0);
    assert_eq!(e.fit_bins, e.bins);
}

#[test]
fn too_short_and_too_noisy() {
    let mut est = TrendEstimator::default();
    assert_eq!(est.estimate(), None);
    assert_eq!(
        est.verdict(&VerdictSettings::default()),
        Verdict::Inconclusive(InconclusiveReason::TooShort)
    );
    for k in 0..6 {
        est.push(k as f64 * 5.0, (10 + k) as f64 * MB).unwrap();
    }
    assert_eq!(
        est.verdict(&VerdictSettings::default()),
        Verdict::Inconclusive(InconclusiveReason::TooShort)
    );
    let mut noise = Noise(9);
    let (_, v) = run(6.0 * HOUR, 60.0, |_| 80.0 * MB + noise.next(20.0 * MB));
    assert_eq!(v, Verdict::Inconclusive(InconclusiveReason::TooNoisy));
}

#[test]
fn a_million_points_keep_at_most_1024_bins() {
    let mut est = TrendEstimator::new(TrendSettings::online()).unwrap();
    for k in 0..1_000_000u64 {
        est.push(k as f64 * 0.1, 1e8 + k as f64).unwrap();
        assert!(est.bins() <= MAX_BINS);
    }
    assert_eq!(est.points(), 1_000_000);
    assert!(est.bins() >= MAX_BINS / 2);
    let e = est.estimate().unwrap();
    assert_close(e.slope_bytes_per_sec, 10.0, 1e-6);
}

#[test]
fn refused_points_and_settings() {
    let mut est = TrendEstimator::default();
    est.push(10.0, 1.0).unwrap();
    assert!(matches!(
        est.push(9.0, 1.0),
        Err(TrendError::OutOfOrder { .. })
    ));
    assert_eq!(est.push(11.0, f64::NAN), Err(TrendError::OutOfRange));
    assert_eq!(est.push(11.0, 1e30), Err(TrendError::OutOfRange));
    assert_eq!(est.points(), 1);
    let bad = TrendSettings {
        initial_bin_secs: 0.0,
        ..TrendSettings::default()
    };
    assert!(matches!(
        TrendEstimator::new(bad),
        Err(TrendError::Setting { .. })
    ));
    let bad = TrendSettings {
        warmup: Warmup::Fixed { secs: -1.0 },
        ..TrendSettings::default()
    };
    assert!(TrendEstimator::new(bad).is_err());
}

#[test]
fn exhaustion() {
    assert_eq!(time_to_exhaustion(100.0 * MB, MB), Some(100.0));
    assert_eq!(time_to_exhaustion(100.0 * MB, 0.0), None);
    assert_eq!(time_to_exhaustion(100.0 * MB, -1.0), None);
    assert_eq!(time_to_exhaustion(-5.0, 1.0), Some(0.0));
    assert_eq!(time_to_exhaustion(f64::NAN, 1.0), None);
    assert_eq!(time_to_exhaustion(1e300, 1e-300), None);
}

/// Points in time order: increasing gaps and finite values in the accepted range.
fn series() -> impl Strategy<Value = Vec<(f64, f64)>> {
    prop::collection::vec((0.0f64..1e4, -1e18f64..1e18), 0..400).prop_map(|steps| {
        let mut t = -5e11;
        steps
            .into_iter()
            .map(|(dt, v)| {
                t += dt;
                (t, v)
            })
            .collect()
    })
}

fn methods() -> impl Strategy<Value = SlopeMethod> {
    prop_oneof![
        Just(SlopeMethod::Exact),
        (0usize..300).prop_map(|max_pairs| SlopeMethod::Sampled { max_pairs }),
    ]
}

fn settings(slope: SlopeMethod, width: f64) -> TrendSettings {
    TrendSettings {
        initial_bin_secs: width,
        slope,
        ..TrendSettings::default()
    }
}

proptest! {
    #[test]
    fn bins_stay_bounded_and_estimates_finite(
        pts in series(), width in 1e-6f64..100.0, method in methods(),
    ) {
        let mut est = TrendEstimator::new(settings(method, width)).unwrap();
        for (t, v) in pts {
            est.push(t, v).unwrap();
            prop_assert!(est.bins() <= MAX_BINS);
        }
        if let Some(e) = est.estimate() {
            for x in [e.slope_bytes_per_sec, e.intercept_bytes, e.r2, e.warmup_secs, e.span_secs,
                      e.fit_span_secs, e.residual_scale_bytes, e.noise_bytes] {
                prop_assert!(x.is_finite(), "{e:?}");
            }
            prop_assert!((0.0..=1.0).contains(&e.r2));
            let _ = e.verdict(&VerdictSettings::default());
        }
    }

    #[test]
    fn dense_input_still_bounded(n in 1025usize..5000, width in 1e-3f64..1.0) {
        let mut est = TrendEstimator::new(settings(SlopeMethod::Exact, width)).unwrap();
        for k in 0..n {
            est.push(k as f64 * 0.37, (k % 7) as f64).unwrap();
        }
        prop_assert!(est.bins() <= MAX_BINS);
    }

    #[test]
    fn a_linear_series_gives_its_exact_slope(
        slope in prop_oneof![-1e6f64..-1.0, 1.0f64..1e6],
        base in 0.0f64..1e10,
        step in 0.5f64..600.0,
        n in 3usize..1500,
        method in methods(),
    ) {
        let mut est = TrendEstimator::new(settings(method, 1.0)).unwrap();
        for k in 0..n {
            let t = 1.7e9 + k as f64 * step;
            est.push(t, base + slope * (t - 1.7e9)).unwrap();
        }
        let e = est.estimate().unwrap();
        prop_assert!((e.slope_bytes_per_sec - slope).abs() <= 1e-6 * slope.abs(), "{e:?}");
    }

    #[test]
    fn adding_a_constant_keeps_the_slope(
        pts in prop::collection::vec((1.0f64..120.0, 0.0f64..1e9), 2..300),
        shift in -1e10f64..1e10,
        method in methods(),
    ) {
        let fit = |c: f64| {
            let mut est = TrendEstimator::new(settings(method, 1.0)).unwrap();
            let mut t = 0.0;
            for &(dt, v) in &pts {
                t += dt;
                est.push(t, v.round() + c.round()).unwrap();
            }
            est.estimate().unwrap()
        };
        let (a, b) = (fit(0.0), fit(shift));
        let tol = 1e-6 * a.slope_bytes_per_sec.abs() + 1e-3;
        prop_assert!((a.slope_bytes_per_sec - b.slope_bytes_per_sec).abs() <= tol,
            "{} vs {}", a.slope_bytes_per_sec, b.slope_bytes_per_sec);
        prop_assert_eq!(a.warmup_secs, b.warmup_secs);
    }
}
