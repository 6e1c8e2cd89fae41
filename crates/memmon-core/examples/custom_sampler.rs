//! Library use of memmon-core alone: a custom `Sampler`, the state machine, the events printed.
//!
//! Run with `cargo run -p memmon-core --example custom_sampler`.

use memmon_core::{
    Event, Monitor, MonitorSettings, Reading, SampleError, Sampler, Schedule, Stamp, MIB,
};
use std::time::{Duration, SystemTime};

/// A pretend process that keeps 7 MiB more at every sample, and fails once.
struct Leaky {
    step: u64,
}

impl Sampler for Leaky {
    fn sample(&mut self) -> Result<Reading, SampleError> {
        self.step += 1;
        if self.step == 4 {
            return Err(SampleError::Io {
                path: "/proc/4242/statm".into(),
                message: "interrupted".into(),
            });
        }
        Ok(Reading {
            rss: (20 + 7 * self.step) * MIB,
            vms: (90 + 7 * self.step) * MIB,
            sys_total: 1024 * MIB,
            sys_available: (600 - 7 * self.step) * MIB,
        })
    }
}

fn main() {
    let mut sampler = Leaky { step: 0 };
    let mut monitor = Monitor::new(MonitorSettings::default());
    // Simulated time: the core never reads a clock, so the caller says what time it is.
    let mut schedule = Schedule::new(Duration::from_secs(60), Some(Duration::from_secs(720)));
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000);
    let mut now = Duration::ZERO;
    while let Some(deadline) = schedule.next(now) {
        now = deadline.at;
        let at = Stamp {
            wall: start + now,
            elapsed: now,
        };
        match sampler.sample() {
            Ok(reading) => {
                for event in monitor.on_sample(at, reading).events() {
                    print_event(&event);
                }
            }
            Err(e) => print_event(&Event::SampleFailed(monitor.on_failure(at, e))),
        }
    }
    let end = Stamp {
        wall: start + now,
        elapsed: now,
    };
    let summary = monitor.finish(end, sampler.sample().ok());
    // A figure nothing measured is `None` (the log's footer prints `-`).
    let mib =
        |b: Option<u64>| b.map_or("-".to_owned(), |b| format!("{:.2}", b as f64 / MIB as f64));
    println!(
        "summary: initial {} MiB, last {} MiB, peak {} MiB, growth {} MiB",
        mib(summary.initial),
        mib(summary.last),
        mib(summary.peak),
        summary
            .growth
            .map_or("-".to_owned(), |g| format!("{:+.2}", g.mib()))
    );
}

fn print_event(event: &Event) {
    match event {
        Event::Sample(s) => println!(
            "sample #{} at {:?}: rss {:.2} MiB, growth {:+.2} MiB, peak {:.2} MiB",
            s.index,
            s.at.elapsed,
            s.reading.rss as f64 / MIB as f64,
            s.growth.mib(),
            s.peak as f64 / MIB as f64
        ),
        Event::Warning(w) => println!("warning: grew {:.2} MiB", w.growth.mib()),
        Event::DetailDue { index } => println!("detail block due after sample #{index}"),
        Event::SampleFailed(f) => println!("sample failed: {}", f.error),
    }
}
