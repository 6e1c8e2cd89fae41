//! [`Monitor`]: the original monitor's background thread for Rust programs, writing the same
//! `memory_usage.log` from inside the process.
//!
//! It is glue only: memmon-core decides (schedule, baseline, peak, warnings, when a detail block
//! is due), memmon-format lays out every line, procfs (or sysinfo) measures RSS, and the tracking
//! allocator fills the detail block. It prints nothing to the console: a library leaves the
//! terminal to its program.

use memmon_core::{
    DetailSource, IntervalSpec, Monitor as Core, MonitorSettings, Sampler, Schedule, Stamp,
};
use memmon_format::{write_records, LogFormat, Record};
use memmon_sampler::{auto_sampler, AllocDetail, ProcfsOptions};
use std::fs::{File, OpenOptions};
use std::io;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime};

/// What the in-process monitor needs: the `memory_monitor` keys that concern it.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorConfig {
    /// The log, opened for appending (created if missing).
    pub log_file: PathBuf,
    /// Time between samples.
    pub interval: IntervalSpec,
    /// Growth since the first sample, in MiB, above which a warning line follows the sample.
    pub warn_threshold_mb: f64,
    /// A detail block every this many samples (when `tracemalloc`); `None` never.
    pub detail_every: Option<NonZeroU64>,
    /// Whether detail blocks are written (the allocator must then be installed).
    pub tracemalloc: bool,
}

impl Default for MonitorConfig {
    /// The client's defaults: `memory_usage.log`, 300 s, 50 MiB, every 10th sample, tracemalloc
    /// off.
    fn default() -> Self {
        MonitorConfig::from(&memmon_config::Config::default())
    }
}

impl From<&memmon_config::Config> for MonitorConfig {
    fn from(c: &memmon_config::Config) -> Self {
        MonitorConfig {
            log_file: c.log_file.clone(),
            interval: c.interval,
            warn_threshold_mb: c.warn_threshold_mb,
            detail_every: Some(c.detail_every),
            tracemalloc: c.tracemalloc,
        }
    }
}

impl MonitorConfig {
    /// Reads the `memory_monitor` block of a `client_config.json` (or `memmon.toml`). Unknown
    /// keys are accepted (memmon-config reports them as warnings, which this drops); `enabled`
    /// is left to the caller, through [`memmon_config::load`].
    pub fn from_file(path: &Path) -> Result<Self, memmon_config::ConfigError> {
        memmon_config::load(path).map(|loaded| MonitorConfig::from(&loaded.config))
    }
}

/// A running in-process monitor: a thread named `memmon` that samples this process on the
/// schedule and appends header, sample lines, warnings, detail blocks and, at [`Monitor::stop`]
/// (or drop), the footer.
#[derive(Debug)]
pub struct Monitor {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl Monitor {
    /// Opens the log and starts the thread. Fails when the log cannot be opened, the process
    /// cannot be measured, or the thread cannot be spawned.
    pub fn start(config: MonitorConfig) -> io::Result<Monitor> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&config.log_file)?;
        let pid = std::process::id();
        let sampler = auto_sampler(pid, ProcfsOptions::default()).map_err(io::Error::other)?;
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("memmon".to_owned())
            .spawn(move || run(config, pid, log, sampler, stopped))?;
        Ok(Monitor {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Takes the final sample, writes the footer and waits for the thread. Returns the first
    /// error writing the log met (the thread keeps going after one, as the binary does).
    pub fn stop(mut self) -> io::Result<()> {
        self.finish()
    }

    fn finish(&mut self) -> io::Result<()> {
        // Dropping the sender wakes the thread as a stop request would.
        drop(self.stop.take());
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("memmon monitor thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// Remembers the first write error and keeps writing.
struct Log {
    file: File,
    first_error: Option<io::Error>,
}

impl Log {
    fn write(&mut self, records: &[Record]) {
        if let Err(e) = write_records(&mut self.file, records) {
            self.first_error.get_or_insert(e);
        }
    }
}

fn run(
    config: MonitorConfig,
    pid: u32,
    file: File,
    mut sampler: Box<dyn Sampler + Send>,
    stopped: mpsc::Receiver<()>,
) -> io::Result<()> {
    let format = LogFormat::system();
    let started = Instant::now();
    let mut log = Log {
        file,
        first_error: None,
    };
    log.write(&format.header(SystemTime::now(), pid, config.interval, false));
    let mut core = Core::new(MonitorSettings {
        warn_threshold: MonitorSettings::threshold_from_mib(config.warn_threshold_mb),
        detail_every: config.detail_every.filter(|_| config.tracemalloc),
    });
    let mut detail = AllocDetail::new();
    let mut schedule = Schedule::new(config.interval.as_duration(), None);
    let stamp = || Stamp {
        wall: SystemTime::now(),
        elapsed: started.elapsed(),
    };
    while let Some(deadline) = schedule.next(started.elapsed()) {
        let wait = deadline.at.saturating_sub(started.elapsed());
        match stopped.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
        }
        let at = stamp();
        let mut records = Vec::with_capacity(16);
        match sampler.sample() {
            Ok(reading) => {
                let outcome = core.on_sample(at, reading);
                records.push(format.sample(&outcome.sample));
                if let Some(warning) = &outcome.warning {
                    records.push(format.warning(warning));
                }
                if outcome.detail_due {
                    // A failed report (allocator not installed) leaves the block out: the sample
                    // line stands, as when the original's tracemalloc was off.
                    for block in detail.detail().unwrap_or_default() {
                        records.extend(format.detail(&block));
                    }
                }
            }
            Err(error) => records.push(format.failed(&core.on_failure(at, error))),
        }
        log.write(&records);
    }
    let at = stamp();
    log.write(&format.footer(&core.finish(at, sampler.sample().ok())));
    match log.first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
