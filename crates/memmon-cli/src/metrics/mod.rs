//! Prometheus output: the current figures after every sample, as a textfile for node_exporter's
//! textfile collector and/or at `GET /metrics`. memmon feeds the field's existing engine; it
//! runs no server farm of its own.

#![allow(dead_code)] // The stub: the Prometheus outputs land in the next commits.
use std::net::SocketAddr;
use std::path::PathBuf;

/// The figures of one sample, as the session knows them.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Snapshot {
    /// RSS of the watched process (tree), bytes.
    pub rss: u64,
    /// VMS, bytes.
    pub vms: u64,
    /// Running peak RSS, bytes.
    pub peak_rss: u64,
    /// 初期比, bytes (signed).
    pub growth: i64,
    /// System available memory, bytes.
    pub sys_available: u64,
    /// System total memory, bytes.
    pub sys_total: u64,
    /// Successful samples so far.
    pub samples_total: u64,
    /// Growth warnings so far.
    pub warnings_total: u64,
    /// Failed log writes so far.
    pub log_write_errors_total: u64,
    /// The watched PID.
    pub pid: u32,
    /// The sampling interval, seconds.
    pub interval_secs: f64,
    /// Wall-clock time of the sample, seconds since the Unix epoch.
    pub last_sample_unix: f64,
    /// Growth rate after warm-up from memmon-core's trend estimator, when it has one.
    pub leak_slope_bytes_per_sec: Option<f64>,
}

/// Where the metrics go.
#[derive(Debug, Clone, Default)]
pub struct MetricsOptions {
    /// The `name` label (config `name`, default the command's file name).
    pub name: String,
    /// `--prom-textfile`.
    pub textfile: Option<PathBuf>,
    /// `--metrics-listen`.
    pub listen: Option<SocketAddr>,
}

/// Why metrics could not start.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {message}")]
    Listen {
        /// The address given.
        addr: SocketAddr,
        /// The OS's message.
        message: String,
    },
}

/// The metrics outputs of a run.
pub struct Metrics {
    _options: MetricsOptions,
}

impl Metrics {
    /// Starts the outputs; `None` when neither is configured.
    pub fn start(options: MetricsOptions) -> Result<Option<Metrics>, MetricsError> {
        if options.textfile.is_none() && options.listen.is_none() {
            return Ok(None);
        }
        Ok(Some(Metrics { _options: options }))
    }

    /// Publishes one sample's figures. Never blocks on a client and never fails the sample.
    pub fn update(&mut self, _snapshot: &Snapshot) {}
}
