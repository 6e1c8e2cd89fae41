//! The watching loop: a sampler read on memmon-core's schedule, its events laid out by
//! memmon-format and written to `memory_usage.log`. `memmon run`, `memmon test` and a Rust
//! program that embeds memmon share it.
//!
//! - [`session`]: one monitoring session, from the header to the footer: samples, warnings,
//!   detail blocks (requested without ever holding up the schedule), the OOM line, the online
//!   trend for the metrics.
//! - [`sink`]: the log file: append, rotation, reopening a log moved away, write-failure
//!   recovery, and what the log path may name.
//! - [`console`]: memmon's stderr lines, which never panic; [`lang`]: the language of the
//!   notices said deep inside a run.
//! - [`metrics`]: Prometheus output, as a textfile and at `GET /metrics`.
//! - [`Monitor`]: the original monitor's background thread for Rust programs: a program installs
//!   memmon-sampler's tracking allocator and starts a [`Monitor`] that samples the process itself
//!   and writes the same log as the `memmon` binary, through the same session.
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
//! (memmon-format does), or know a command line, a signal, a child process or an exit code
//! (memmon-cli does). It installs no global allocator: the program that embeds it picks one.

pub mod console;
pub mod evidence;
pub mod lang;
pub mod metrics;
mod monitor;
pub mod session;
pub mod sink;

pub use monitor::{Monitor, MonitorConfig};
