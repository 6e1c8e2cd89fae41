//! [`SysinfoSampler`]: the portable fallback, through the `sysinfo` crate, where there is no
//! `/proc` to read directly.

use ::sysinfo::{
    MemoryRefreshKind, Pid, ProcessRefreshKind, ProcessStatus, ProcessesToUpdate, System,
};
use memmon_core::{Reading, SampleError, Sampler};

/// Samples a process (optionally with its descendants) and the system through `sysinfo`.
///
/// Only what a reading needs is refreshed: the memory of the watched process (of every process
/// with `children`, since finding descendants needs every parent link) and the RAM figures.
/// A process that is gone or a zombie gives [`SampleError::Exited`].
#[derive(Debug)]
pub struct SysinfoSampler {
    pid: u32,
    children: bool,
    system: System,
    /// Reused across samples: `(pid, parent)` pairs and the walk's stack, for `children`.
    links: Vec<(Pid, Pid)>,
    stack: Vec<Pid>,
}

impl SysinfoSampler {
    /// A sampler for `pid`, summing over its descendants when `children` is set. Takes one
    /// reading to check that the process exists.
    pub fn new(pid: u32, children: bool) -> Result<Self, SampleError> {
        let system = System::new().map_err(|e| SampleError::Io {
            path: "sysinfo".to_owned(),
            message: e.to_string(),
        })?;
        let mut sampler = SysinfoSampler {
            pid,
            children,
            system,
            links: Vec::new(),
            stack: Vec::new(),
        };
        sampler.sample()?;
        Ok(sampler)
    }

    /// The watched process.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Summed `(rss, vms)` of the descendants of the watched process.
    fn descendants(&mut self, target: Pid) -> (u64, u64) {
        self.links.clear();
        self.links.extend(
            self.system
                .processes()
                .iter()
                .filter_map(|(pid, p)| Some((*pid, p.parent()?))),
        );
        self.stack.clear();
        self.stack.push(target);
        let (mut rss, mut vms) = (0u64, 0u64);
        // A process tree has no cycles, so each descendant is reached once; the step bound
        // guards against a tree that changed while it was being read.
        let mut budget = self.links.len();
        while let Some(parent) = self.stack.pop() {
            for &(pid, ppid) in &self.links {
                if ppid != parent || budget == 0 {
                    continue;
                }
                budget -= 1;
                if let Some(p) = self.system.process(pid) {
                    rss = rss.saturating_add(p.memory());
                    vms = vms.saturating_add(p.virtual_memory());
                }
                self.stack.push(pid);
            }
        }
        (rss, vms)
    }
}

impl Sampler for SysinfoSampler {
    fn sample(&mut self) -> Result<Reading, SampleError> {
        let target = Pid::from_u32(self.pid);
        let which = if self.children {
            ProcessesToUpdate::All
        } else {
            ProcessesToUpdate::Some(std::slice::from_ref(&target))
        };
        let kind = ProcessRefreshKind::nothing().with_memory();
        self.system.refresh_processes_specifics(which, true, kind);
        self.system
            .refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
        let (rss, vms) = match self.system.process(target) {
            Some(p) if p.status() != ProcessStatus::Zombie => (p.memory(), p.virtual_memory()),
            _ => return Err(SampleError::Exited { pid: self.pid }),
        };
        let (mut rss, mut vms) = (rss, vms);
        if self.children {
            let (r, v) = self.descendants(target);
            rss = rss.saturating_add(r);
            vms = vms.saturating_add(v);
        }
        Ok(Reading {
            rss,
            vms,
            sys_total: self.system.total_memory(),
            sys_available: self.system.available_memory(),
        })
    }
}
