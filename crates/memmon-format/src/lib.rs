//! The `memory_usage.log` lines, byte for byte.
//!
//! memmon writes the same Japanese log lines as the users' original Python monitor, so their
//! `grep` recipes and spreadsheets keep working, and reads them back for `memmon analyze`. This
//! crate is the only place that knows the line layout (the contract is `spec/log-format.md`):
//!
//! - [`Record`]: one typed log line. Its `Display` writes the line (without `\n`); it is the one
//!   place a line is laid out. [`SampleLine`], [`BreakdownLine`], [`SiteLine`],
//!   [`IntervalText`], [`ExitKind`] and [`Size`] hold the parts.
//! - [`LogFormat`]: turns memmon-core's events ([`memmon_core::SampleEvent`],
//!   [`memmon_core::Summary`], [`memmon_core::Detail`], [`memmon_core::Breakdown`], …) into
//!   records, printing times in a time zone; [`write_records`] writes them ([`append_records`] into a kept buffer).
//! - [`parse_line`]: a line back to its record, fast and allocation-free for sample lines;
//!   unknown lines become [`Record::Other`], never an error.
//! - [`console`]: the console lines of the original.
//!
//! It never samples, schedules or decides anything (whether to warn, when a detail block is
//! due): memmon-core decides, this crate only prints and reads.
//!
//! # Example
//! ```
//! use memmon_format::{parse_line, LogFormat, Record};
//! use memmon_core::{Monitor, MonitorSettings, Reading, Stamp, MIB};
//! use std::time::{Duration, SystemTime};
//!
//! let format = LogFormat::with_zone(jiff::tz::TimeZone::fixed(jiff::tz::offset(9)));
//! let mut monitor = Monitor::new(MonitorSettings::default());
//! let at = Stamp { wall: SystemTime::UNIX_EPOCH, elapsed: Duration::from_secs(300) };
//! let reading = Reading { rss: 45 * MIB, vms: 123 * MIB, sys_total: 1024 * MIB, sys_available: 512 * MIB };
//! let outcome = monitor.on_sample(at, reading);
//! let line = format.sample(&outcome.sample).to_string();
//! assert_eq!(
//!     line,
//!     "[1970-01-01 09:00:00] 経過: 00:05:00 | RSS: 45.00MB (初期比: +0.00MB) | VMS: 123.00MB | ピーク: 45.00MB | システム: 50.0% (512MB空き)"
//! );
//! assert!(matches!(parse_line(&line), Record::Sample(s) if s.rss_mb == 45.0));
//! ```

pub mod console;
mod diagnosis;
mod events;
mod evidence;
mod fixed;
mod numbers;
mod parse;
mod record;

pub use diagnosis::{
    EscalationLine, Investigation, NativeLine, TrimLine, TypeItem, TypesLine, TYPES_SHOWN,
};
pub use events::{append_records, write_record, write_records, LogFormat, TOP_SITES};
pub use evidence::{EvidenceKind, EvidenceLine};
/// What the trim probe measured (memmon-core's; re-exported for the lines that carry it).
pub use memmon_core::TrimOutcome;
pub use numbers::{python_float_repr, round_secs_half_even, Elapsed, Size, SizeUnit};
pub use parse::parse_line;
pub use record::{BreakdownLine, ExitKind, IntervalText, Record, SampleLine, SiteLine};
