//! The `memory_usage.log` lines, byte for byte.
//!
//! It will write every line of the log format spec from memmon-core's events and parse every
//! one of them back. It never samples, schedules or decides anything.
