//! [`Monitor`]: the original monitor's background thread for Rust programs, writing the same
//! `memory_usage.log` from inside the process.
//!
//! It drives the same [`Session`] as `memmon run` and `memmon test`: memmon-core decides
//! (schedule, baseline, peak, warnings, when a detail block is due), memmon-format lays out every
//! line, the log sink appends (and recovers from a failed write with the lost-samples line),
//! procfs (or sysinfo) measures RSS, and the tracking allocator fills the detail block. It prints
//! nothing to the console: a library leaves the terminal to its program.

use crate::console::{self, Console};
use crate::session::{Final, Session, SessionParts};
use crate::sink::{LogSink, SinkOptions};
use memmon_core::{DetailSource, IntervalSpec, Lang, MonitorSettings, MIB};
use memmon_sampler::{auto_sampler, AllocDetail, ProcfsOptions};
use std::io;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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
    /// Opens the log and starts the thread. Fails when the log cannot be opened (a symlink at
    /// its path is followed only as the log sink allows), the process cannot be measured, or
    /// the thread cannot be spawned.
    pub fn start(config: MonitorConfig) -> io::Result<Monitor> {
        // A library leaves the terminal to its program: memmon-watch's notices (a failed log
        // write, say) are not printed in this process.
        console::set_quiet(true);
        let sink = LogSink::open(
            &config.log_file,
            SinkOptions {
                // As `memmon run` rotates (the spec's rotation), so a long-lived program's log
                // is bounded too.
                max_bytes: 10 * MIB,
                keep: 5,
                sync: config.interval.as_duration() >= Duration::from_secs(1),
            },
        )
        .map_err(io::Error::other)?;
        let pid = std::process::id();
        let sampler = auto_sampler(pid, ProcfsOptions::default()).map_err(io::Error::other)?;
        let detail = config
            .tracemalloc
            .then(|| Box::new(AllocDetail::new()) as Box<dyn DetailSource + Send>);
        let parts = SessionParts {
            sampler,
            detail,
            sink,
            settings: MonitorSettings {
                warn_threshold: MonitorSettings::threshold_from_mib(config.warn_threshold_mb),
                detail_every: config.detail_every.filter(|_| config.tracemalloc),
            },
            interval: config.interval,
            duration: None,
            startup_delay: Duration::ZERO,
            lang: Lang::Ja,
            pid,
            // The OOM line is about a watched child; a process cannot outlive its own kill.
            proc_root: None,
            console: Console::plain(),
            metrics: None,
            // The tracking allocator answers at once: no block is ever pending.
            waker: std::task::Waker::noop().clone(),
            // No hook in-process: the tracking allocator is the tracer. The breakdown line is
            // written (it is the process's own); there is nothing to start on a leak.
            diagnosis: crate::session::DiagnosisOptions {
                breakdown: true,
                escalate: false,
                malloc_trim_probe: false,
                tracing: config.tracemalloc,
                no_hook: None,
                leak_line: false,
            },
            dormant: None,
        };
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("memmon".to_owned())
            .spawn(move || run(parts, stopped))?;
        Ok(Monitor {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Takes the final sample, writes the footer and waits for the thread. An error says how
    /// many writes to the log failed (the thread keeps going after one, as the binary does, and
    /// the log then says how many samples were lost).
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

/// The thread: the session's schedule, until a stop request (or the `Monitor` dropped).
fn run(parts: SessionParts, stopped: mpsc::Receiver<()>) -> io::Result<()> {
    let mut session = Session::start(parts);
    while let Some(deadline) = session.next_deadline() {
        let wait = deadline.saturating_duration_since(Instant::now());
        match stopped.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
        }
        session.sample();
    }
    match session.finish(None, Final::Take) {
        0 => Ok(()),
        n => Err(io::Error::other(format!(
            "{n} writes to the log failed (the log says how many samples were lost)"
        ))),
    }
}
