//! The watching loop: a sampler read on memmon-core's schedule, its events laid out by
//! memmon-format and written to `memory_usage.log`.
//!
//! Today it holds [`Monitor`], the original monitor's background thread for Rust programs: a
//! program installs memmon-sampler's tracking allocator and starts a [`Monitor`] that samples the
//! process itself and writes the same log as the `memmon` binary.
//!
//! ```no_run
//! use memmon_sampler::TrackingAllocator;
//! use memmon_watch::{Monitor, MonitorConfig};
//!
//! #[global_allocator]
//! static GLOBAL: TrackingAllocator = TrackingAllocator::new();
//!
//! let monitor = Monitor::start(MonitorConfig::from_file("client_config.json".as_ref())?)?;
//! // … the program runs …
//! monitor.stop()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What it never does: measure anything itself (memmon-sampler does), decide policy (memmon-core
//! does: the schedule, baseline, peak, warnings, when a detail block is due), lay out a line
//! (memmon-format does), or know a command line, a child process or an exit code (memmon-cli
//! does). It installs no global allocator: the program that embeds it picks one.

pub mod console;
pub mod lang;
pub mod metrics;
mod monitor;
pub mod session;
pub mod sink;

pub use monitor::{Monitor, MonitorConfig};
