//! The flight recorder (issue #20 item 1): evidence bundles written beside the log when memory
//! runs short or a leak shows, before the command can die of it (`docs/evidence.md`).
//!
//! - [`store`]: the directory (0700, never through a symlink), the write (temporary file,
//!   fsync, rename, directory fsync), what is kept (`evidence_max`, the OOM-named bundle never
//!   removed);
//! - [`capture`]: a bundle's text and its size bound;
//! - here: the triggers, each firing at most once per run: SIGUSR2 to memmon, the first growth
//!   warning, the escalation line (`[リーク疑い]`), and the machine-level ones (the memory that
//!   will kill the process predicted to run out within `evidence_horizon`, below
//!   `evidence_floor_mb`, or the kernel's memory pressure past `evidence_pressure`).
//!
//! The memory that will kill the process is the smaller of the machine's `MemAvailable` and what
//! its memory cgroup still allows: cgroup v2 `memory.max`/`memory.high` less `memory.current`,
//! or v1 `memory.limit_in_bytes` less `memory.usage_in_bytes` where v1's memory controller is
//! mounted.

pub(crate) mod capture;
pub(crate) mod store;

pub use store::protected_bundles;

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The machine-level readings (cgroup, pressure) are taken at most this often.
const MACHINE_EVERY: Duration = Duration::from_millis(900);
/// The sample lines a bundle holds.
pub const SAMPLES_KEPT: usize = 30;
/// A v1 limit at or above this is no limit (the kernel's "unlimited" is near `i64::MAX`).
const NO_LIMIT: u64 = 1 << 60;

/// What fires a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// memmon received SIGUSR2.
    Usr2,
    /// The run's first growth warning.
    Warning,
    /// The escalation line (`[リーク疑い]`).
    Escalation,
    /// Memory predicted to run out within `evidence_horizon`.
    Horizon,
    /// Memory below `evidence_floor_mb`.
    Floor,
    /// `/proc/pressure/memory` `some avg10` past `evidence_pressure`.
    Pressure,
}

impl Trigger {
    /// The name in the bundle's file name and `トリガー:`.
    pub fn name(self) -> &'static str {
        store::TRIGGERS[self as usize]
    }
}

/// The flight recorder's settings (config `evidence*`).
#[derive(Debug, Clone, PartialEq)]
pub struct EvidenceOptions {
    /// Bundles are written at all (config `evidence`, default true).
    pub on: bool,
    /// Bundles kept (config `evidence_max`, default 10).
    pub max: usize,
    /// A bundle's size bound in KiB (config `evidence_max_kb`, default 256).
    pub max_kb: u64,
    /// The run-out horizon (config `evidence_horizon`, default 30 min).
    pub horizon: Duration,
    /// The floor in MiB (config `evidence_floor_mb`, default 50; 0: off).
    pub floor_mb: u64,
    /// The pressure level, `some avg10` in percent (config `evidence_pressure`, default 20;
    /// 0: off).
    pub pressure: f64,
    /// Every watched process is described (`--children`), not only the PID.
    pub children: bool,
    /// Where cgroup files are (`/sys/fs/cgroup`).
    pub cgroup_root: PathBuf,
}

impl Default for EvidenceOptions {
    fn default() -> Self {
        EvidenceOptions {
            on: true,
            max: 10,
            max_kb: 256,
            horizon: Duration::from_secs(30 * 60),
            floor_mb: 50,
            pressure: 20.0,
            children: false,
            cgroup_root: PathBuf::from("/sys/fs/cgroup"),
        }
    }
}

/// What the session keeps for bundles between samples.
pub(crate) struct Recorder {
    pub opts: EvidenceOptions,
    pub store: store::Store,
    fired: [bool; 6],
    /// The run's last bundle, relative to the log's directory, and its file name.
    pub last: Option<(String, String)>,
    pub samples: std::collections::VecDeque<String>,
    pub breakdown: Option<String>,
    machine_checked_at: Option<Duration>,
    told_no_psi: bool,
    /// The cgroup remainder last read (bytes), kept between machine reads.
    cgroup_left: Option<u64>,
    pressure_now: Option<f64>,
}

impl Recorder {
    pub(crate) fn new(opts: EvidenceOptions, log: &Path) -> Recorder {
        Recorder {
            store: store::Store::beside(log, opts.max),
            opts,
            fired: [false; 6],
            last: None,
            samples: std::collections::VecDeque::with_capacity(SAMPLES_KEPT),
            breakdown: None,
            machine_checked_at: None,
            told_no_psi: false,
            cgroup_left: None,
            pressure_now: None,
        }
    }

    pub(crate) fn note_sample(&mut self, line: String) {
        if self.samples.len() == SAMPLES_KEPT {
            self.samples.pop_front();
        }
        self.samples.push_back(line);
    }

    /// Whether `t` already fired; marks it fired.
    pub(crate) fn fire(&mut self, t: Trigger) -> bool {
        !std::mem::replace(&mut self.fired[t as usize], true)
    }

    pub(crate) fn fired(&self, t: Trigger) -> bool {
        self.fired[t as usize]
    }

    /// The machine-level triggers due now, given the sample's `MemAvailable`, the online
    /// trend's slope (bytes/s) and how long the run has lasted; plus a notice for stderr
    /// (said once: no `/proc/pressure/memory`).
    pub(crate) fn machine(
        &mut self,
        elapsed: Duration,
        proc_root: &Path,
        pid: u32,
        mem_available: u64,
        slope: Option<f64>,
    ) -> (Vec<Trigger>, Option<String>) {
        let mut notice = None;
        let due = self
            .machine_checked_at
            .is_none_or(|at| elapsed.saturating_sub(at) >= MACHINE_EVERY);
        if due {
            self.machine_checked_at = Some(elapsed);
            self.cgroup_left = cgroup_left(proc_root, &self.opts.cgroup_root, pid);
            if self.opts.pressure > 0.0 {
                match std::fs::read_to_string(proc_root.join("pressure/memory")) {
                    Ok(text) => self.pressure_now = some_avg10(&text),
                    Err(e) => {
                        self.pressure_now = None;
                        if !std::mem::replace(&mut self.told_no_psi, true) {
                            notice = Some(crate::lang::tr!(
                                crate::lang::current(),
                                "/proc/pressure/memory を読めません ({e}): メモリ圧力のトリガー (evidence_pressure) は働きません。Raspberry Pi のカーネルでは、カーネルコマンドラインに psi=1 を加えると有効になります",
                                "cannot read /proc/pressure/memory ({e}): the memory pressure trigger (evidence_pressure) is off. Raspberry Pi kernels have it only with psi=1 on the kernel command line"
                            ));
                        }
                    }
                }
            }
        }
        let left = match self.cgroup_left {
            Some(c) if mem_available > 0 => c.min(mem_available),
            Some(c) => c,
            None => mem_available,
        };
        let mut out = Vec::new();
        // A reading of 0 available is no reading (the sampler could not tell).
        if left > 0 || self.cgroup_left.is_some() {
            if self.opts.floor_mb > 0 && left < self.opts.floor_mb.saturating_mul(memmon_core::MIB)
            {
                out.push(Trigger::Floor);
            }
            if let Some(slope) = slope.filter(|s| *s > 0.0) {
                if (left as f64 / slope) < self.opts.horizon.as_secs_f64() {
                    out.push(Trigger::Horizon);
                }
            }
        }
        if self.opts.pressure > 0.0 && self.pressure_now.is_some_and(|p| p >= self.opts.pressure) {
            out.push(Trigger::Pressure);
        }
        (out, notice)
    }
}

/// `some avg10=…` of `/proc/pressure/memory`.
fn some_avg10(text: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.starts_with("some "))?;
    line.split_ascii_whitespace()
        .find_map(|f| f.strip_prefix("avg10="))?
        .parse()
        .ok()
}

/// What the memory cgroup of `pid` still allows, in bytes (`None`: no limit, or no cgroup
/// memory controller to read).
pub(crate) fn cgroup_left(proc_root: &Path, cgroup_root: &Path, pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(proc_root.join(pid.to_string()).join("cgroup")).ok()?;
    let read = |p: PathBuf| -> Option<u64> { std::fs::read_to_string(p).ok()?.trim().parse().ok() };
    for line in text.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let rel = path.trim_start_matches('/');
        if id == "0" && controllers.is_empty() {
            // cgroup v2: the unit's own limits (a parent's are not looked for).
            let dir = cgroup_root.join(rel);
            let Some(current) = read(dir.join("memory.current")) else {
                continue;
            };
            // "max" does not parse: no limit.
            let limit = [read(dir.join("memory.max")), read(dir.join("memory.high"))]
                .into_iter()
                .flatten()
                .min();
            if let Some(limit) = limit {
                return Some(limit.saturating_sub(current));
            }
        } else if controllers.split(',').any(|c| c == "memory") {
            // cgroup v1: the memory controller's hierarchy. A container's mount shows its own
            // cgroup as the root while /proc/PID/cgroup names the full path: the leading parts
            // are dropped until a directory is found (the mount's root at the last).
            let base = cgroup_root.join("memory");
            let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
            let dir = (0..=parts.len())
                .map(|skip| base.join(parts[skip..].join("/")))
                .find(|d| d.join("memory.limit_in_bytes").exists())
                .unwrap_or(base);
            let limit = read(dir.join("memory.limit_in_bytes"))?;
            let usage = read(dir.join("memory.usage_in_bytes"))?;
            if limit < NO_LIMIT {
                return Some(limit.saturating_sub(usage));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests;
