//! The in-process monitor thread allocates as it samples and resolves sites while the program
//! allocates: the allocator never deadlocks or recurses, and the log gets every part.

use memmon_core::IntervalSpec;
use memmon_sampler::alloc::{self, TrackingAllocator};
use memmon_watch::{Monitor, MonitorConfig};
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

#[global_allocator]
static GLOBAL: TrackingAllocator = TrackingAllocator::new();

/// Aborts the whole test binary if `f` has not finished in time: a deadlock fails loudly
/// instead of hanging the suite.
fn within<R>(secs: u64, f: impl FnOnce() -> R) -> R {
    let done = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&done);
    thread::spawn(move || {
        thread::sleep(Duration::from_secs(secs));
        if !flag.load(Ordering::SeqCst) {
            eprintln!("deadlock: not finished within {secs} s");
            std::process::abort();
        }
    });
    let result = f();
    done.store(true, Ordering::SeqCst);
    result
}

#[test]
fn monitor_thread_samples_and_reports_while_the_program_allocates() {
    alloc::set_sample_interval(4096);
    let dir = std::env::temp_dir().join(format!("memmon-alloc-reentrancy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let log = dir.join("memory_usage.log");
    let _ = std::fs::remove_file(&log);
    let config = MonitorConfig {
        log_file: log.clone(),
        interval: IntervalSpec::Decimal(0.02),
        warn_threshold_mb: 1.0,
        detail_every: NonZeroU64::new(1),
        tracemalloc: true,
    };
    within(120, || {
        let monitor = Monitor::start(config).expect("monitor starts");
        let mut kept = Vec::new();
        for round in 0..200 {
            kept.push(vec![round as u8; 16 * 1024]);
            let churn: Vec<String> = (0..100).map(|i| i.to_string()).collect();
            std::hint::black_box(churn);
            thread::sleep(Duration::from_millis(1));
        }
        monitor.stop().expect("log written");
        drop(kept);
    });
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(text.contains("メモリモニタリング開始"), "{text}");
    assert!(text.contains("  [tracemalloc] Current: "), "{text}");
    assert!(text.contains("  [Top 10 メモリ消費箇所]"), "{text}");
    assert!(text.contains("in_process.rs:"), "{text}");
    assert!(text.contains("モニタリング終了"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
    alloc::set_sample_interval(alloc::DEFAULT_SAMPLE_INTERVAL);
}
