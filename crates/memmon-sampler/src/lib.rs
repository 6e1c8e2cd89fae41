//! Memory samplers and detail sources: the only crate that reads `/proc` or implements
//! `GlobalAlloc`.
//!
//! It will hold the implementations of memmon-core's [`memmon_core::Sampler`] and
//! [`memmon_core::DetailSource`]: procfs (Linux fast path), sysinfo (portable fallback), a scripted
//! mock for tests, a tracking global allocator, the smaps detail source and the Python hook.
//! It never formats log lines (memmon-format does) and never decides policy (memmon-core does).
