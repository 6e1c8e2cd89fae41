//! memmon's pure logic: samples in, events out.
//!
//! This crate holds the monitor's state machine ([`Monitor`]): it takes memory readings (or
//! sampling failures) stamped with a wall-clock time and an elapsed duration that the caller
//! measured, and returns typed events ([`Event`]): sample lines with 初期比 and the running peak,
//! growth warnings, "a detail block is due", and the [`Summary`] behind the footer. It also owns
//! the sampling [`Schedule`], the [`Sampler`] and [`DetailSource`] traits every data source
//! implements, the [`Bytes`], [`IntervalSpec`] and [`Lang`] value types, and the leak-trend
//! estimator ([`TrendEstimator`]: a bounded-memory Theil–Sen slope after warm-up, with a
//! [`Verdict`]).
//!
//! What it must never do: touch the file system, the clock, the environment, threads or the
//! allocator's internals. Every input is passed in, so every behaviour is testable with literal
//! numbers, and any program (the `memmon` binary, a library user's background thread) can drive it.
//!
//! # Example
//! ```
//! use memmon_core::{Monitor, MonitorSettings, Reading, Stamp};
//! use std::time::{Duration, SystemTime};
//!
//! let mut monitor = Monitor::new(MonitorSettings::default());
//! let at = |s| Stamp { wall: SystemTime::UNIX_EPOCH, elapsed: Duration::from_secs(s) };
//! let mib = 1024 * 1024;
//! let first = monitor.on_sample(at(0), Reading { rss: 40 * mib, vms: 90 * mib, sys_total: 1024 * mib, sys_available: 512 * mib });
//! assert_eq!(first.sample.growth.get(), 0);
//! let later = monitor.on_sample(at(300), Reading { rss: 95 * mib, vms: 150 * mib, sys_total: 1024 * mib, sys_available: 400 * mib });
//! assert!(later.warning.is_some()); // 55 MiB > the default 50 MiB threshold
//! ```

mod breakdown;
pub mod bundle_name;
mod bytes;
mod detail;
mod diagnosis;
mod interval;
mod lang;
pub mod live;
mod monitor;
mod sample;
mod schedule;
mod trend;

pub use breakdown::{Breakdown, FdCounts};
pub use bytes::{Bytes, MIB};
pub use detail::{
    Detail, DetailResult, DetailSource, EvidenceReply, Site, SiteEstimate, TracedSite, TrimReply,
    TypeCount, TypeGrowth, TypesReply,
};
pub use diagnosis::{
    attribute, Attribution, Cause, Part, PartSlopes, TrimOutcome, MIN_BYTES_PER_SEC,
    MIN_FDS_PER_SEC, MIN_THREADS_PER_SEC,
};
pub use interval::{IntervalError, IntervalSpec};
pub use lang::{Lang, ParseLangError};
pub use monitor::{
    Event, FailedEvent, Monitor, MonitorSettings, SampleEvent, SampleOutcome, Stamp, Summary,
    WarningEvent,
};
pub use sample::{Reading, SampleError, Sampler};
pub use schedule::{Deadline, Schedule};
pub use trend::{
    time_to_exhaustion, HalfFit, InconclusiveReason, SlopeMethod, TrendError, TrendEstimate,
    TrendEstimator, TrendSettings, Verdict, VerdictSettings, Warmup, MAX_ABS_TIME_SECS,
    MAX_ABS_VALUE_BYTES, MAX_BINS,
};
