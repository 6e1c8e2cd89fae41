//! Memory samplers and detail sources: the only crate that reads `/proc` or implements
//! `GlobalAlloc`.
//!
//! It implements memmon-core's [`memmon_core::Sampler`] and
//! [`memmon_core::DetailSource`]:
//!
//! - [`ProcfsSampler`]: the Linux fast path. It keeps `/proc/PID/statm` and `/proc/meminfo` open
//!   and re-reads them into reused buffers, optionally summing over the process's descendants.
//!   [`ProcfsSampler::breakdown`] says what the same tree's memory is made of and what it holds
//!   (issue #19's breakdown line: resident memory by kind, swap, threads, descriptors by kind).
//! - [`SysinfoSampler`]: the portable fallback through the `sysinfo` crate;
//!   [`auto_sampler`] picks between the two.
//! - [`SmapsSource`]: the `[smaps]` detail block (mappings grouped by path, top 10 by RSS).
//! - [`PythonDetail`]: the `[tracemalloc]` block of unmodified Python clients, through memmon's
//!   `sitecustomize` hook installed in a private [`HookDir`].
//! - [`oom_kills`], [`OomCounter`]: the kernel's OOM-kill counter, for the OOM warning line.
//! - [`MockSampler`] and [`MockDetail`]: scripted stand-ins for tests across the workspace.
//! - [`parse`]: the pure `/proc` parsers behind them, usable on any text.
//! - [`alloc`]: the tracking global allocator ([`TrackingAllocator`], for a binary to install)
//!   and its tracemalloc-style detail block ([`AllocDetail`]).
//!
//! Every figure leaves this crate in bytes: pages are converted with the running kernel's
//! [`page_size`], the kernel's "kB" as KiB.
//!
//! What it never does: lay out or write log lines (memmon-format lays them out, memmon-watch
//! writes them) or decide policy — when to sample, when a detail block is due, what counts as
//! growth (memmon-core does). Samplers produce numbers, not lines.
//!
//! # Example
//! ```
//! use memmon_core::Sampler;
//! use memmon_sampler::{auto_sampler, ProcfsOptions};
//!
//! let mut sampler = auto_sampler(std::process::id(), ProcfsOptions::default())?;
//! let reading = sampler.sample()?;
//! assert!(reading.rss > 0 && reading.sys_total >= reading.sys_available);
//! # Ok::<(), memmon_core::SampleError>(())
//! ```

pub mod alloc;
mod error;
mod mock;
mod procfs;
pub mod python;
mod smaps;
mod sysinfo;
#[cfg(test)]
mod test_text;
mod vmstat;

pub use crate::alloc::{AllocDetail, TrackingAllocator};
pub use crate::mock::{MockDetail, MockSampler};
pub use crate::procfs::{
    adopted, children, descendants, has_ended, page_size, parse, wait_until_loaded, ProcfsOptions,
    ProcfsSampler,
};
pub use crate::python::{HookDir, PythonDetail, PythonOptions, WithSmaps};
pub use crate::smaps::SmapsSource;
pub use crate::sysinfo::SysinfoSampler;
pub use crate::vmstat::{oom_kills, OomCounter};

use memmon_core::{SampleError, Sampler};

/// The best sampler for this system: [`ProcfsSampler`] when `options.root` is a directory
/// (Linux), else [`SysinfoSampler`] (with `options.children` carried over).
pub fn auto_sampler(
    pid: u32,
    options: ProcfsOptions,
) -> Result<Box<dyn Sampler + Send>, SampleError> {
    if options.root.is_dir() {
        Ok(Box::new(ProcfsSampler::new(pid, options)?))
    } else {
        Ok(Box::new(SysinfoSampler::new(pid, options.children)?))
    }
}
