//! The allocator never deadlocks or recurses while other threads allocate during panic
//! unwinding and a reporter resolves sites (the monitor thread's case is memmon-watch's
//! `tests/in_process.rs`).

use memmon_sampler::alloc::{self, AllocDetail, TrackingAllocator};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

#[global_allocator]
static GLOBAL: TrackingAllocator = TrackingAllocator::new();

/// The tests of this binary change process-wide settings (panic hook, sample interval).
static SERIAL: Mutex<()> = Mutex::new(());

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

/// Allocates while it is dropped, which during a panic happens inside the unwinder's landing pads.
struct AllocatesOnDrop;

impl Drop for AllocatesOnDrop {
    fn drop(&mut self) {
        let strings: Vec<String> = (0..64).map(|i| format!("unwinding {i}")).collect();
        std::hint::black_box(strings);
    }
}

#[test]
fn allocating_during_unwinding_on_many_threads_while_reports_resolve() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Sample nearly everything, so stack captures happen mid-unwind.
    alloc::set_sample_interval(256);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    within(120, || {
        let stop = Arc::new(AtomicBool::new(false));
        let reporter = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut detail = AllocDetail::new();
                let mut reports = 0;
                while !stop.load(Ordering::SeqCst) || reports == 0 {
                    let _ = detail.report().expect("installed");
                    reports += 1;
                }
                reports
            })
        };
        let workers: Vec<_> = (0..4)
            .map(|_| {
                thread::spawn(|| {
                    for _ in 0..50 {
                        let caught = std::panic::catch_unwind(|| {
                            let _guard = AllocatesOnDrop;
                            let _held = vec![0u8; 1000];
                            panic!("boom");
                        });
                        assert!(caught.is_err());
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().expect("worker survived its caught panics");
        }
        stop.store(true, Ordering::SeqCst);
        assert!(reporter.join().expect("reporter") > 0);
    });
    std::panic::set_hook(previous);
    alloc::set_sample_interval(alloc::DEFAULT_SAMPLE_INTERVAL);
}
