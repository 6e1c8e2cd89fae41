//! Prometheus output: the current figures after every sample, as a textfile for node_exporter's
//! textfile collector and/or at `GET /metrics`. memmon feeds the field's existing engine; it
//! runs no server farm of its own.
//!
//! `render` turns a [`Snapshot`] into the text once per sample; `textfile` writes it atomically;
//! `server` serves the latest copy. The session thread only renders, swaps and writes the file:
//! no HTTP client can make it wait.

mod render;
mod server;
mod textfile;

use crate::lang::{current, tr};
use crate::say;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};

/// The figures of one sample, as the session knows them. Before the first sample (the
/// start-up delay) `sampled` is false and only the run's own figures (PID, start, interval,
/// counters) are published, so a client that dies during the delay is still seen.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Snapshot {
    /// Whether the per-sample figures below (RSS … last sample time) hold a sample.
    pub sampled: bool,
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
    /// Wall-clock time the run started (its header), seconds since the Unix epoch.
    pub run_start_unix: f64,
    /// Growth rate after warm-up from memmon-core's trend estimator, when it has one.
    pub leak_slope_bytes_per_sec: Option<f64>,
    /// The latest breakdown (resident parts, swap, threads, descriptors by kind); it is taken
    /// every 10th sample, so it may be a few samples older than `rss`.
    pub breakdown: Option<memmon_core::Breakdown>,
    /// tracemalloc's traced bytes less its own memory, while the watched Python traces.
    pub python_traced_bytes: Option<u64>,
    /// The online leak verdict; `None` until it can be said (warm-up, too few samples).
    pub leak_suspected: Option<bool>,
    /// What the growth points to, as far as the parts tell.
    pub leak_cause: Option<memmon_core::Cause>,
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
    /// The server's thread could not start.
    #[error("cannot start the metrics server on {addr}: {message}")]
    Thread {
        /// The address given.
        addr: SocketAddr,
        /// The OS's message.
        message: String,
    },
}

/// The metrics outputs of a run.
pub struct Metrics {
    name: String,
    textfile: Option<textfile::TextFile>,
    /// The text the server answers with; `None` without `--metrics-listen`.
    served: Option<server::Shared>,
    /// Kept so the port stays open for the run and closes with it.
    _server: Option<server::Server>,
    /// A render failure is reported once, not every sample.
    render_failed: bool,
}

impl Metrics {
    /// Starts the outputs; `None` when neither is configured.
    pub fn start(options: MetricsOptions) -> Result<Option<Metrics>, MetricsError> {
        if options.textfile.is_none() && options.listen.is_none() {
            return Ok(None);
        }
        let (served, server) = match options.listen {
            Some(addr) => {
                // Until the first sample the server answers with an empty (valid) exposition.
                let shared: server::Shared = Arc::new(RwLock::new(Arc::from("")));
                let server =
                    server::Server::start(addr, Arc::clone(&shared)).map_err(|e| match e {
                        server::StartError::Bind(e) => MetricsError::Listen {
                            addr,
                            message: e.to_string(),
                        },
                        server::StartError::Thread(e) => MetricsError::Thread {
                            addr,
                            message: e.to_string(),
                        },
                    })?;
                // Port 0 picks a free port: say which, so scrapers (and tests) can find it.
                say!("memmon: metrics at http://{}/metrics", server.addr());
                (Some(shared), Some(server))
            }
            None => (None, None),
        };
        Ok(Some(Metrics {
            name: options.name,
            textfile: options.textfile.map(textfile::TextFile::new),
            served,
            _server: server,
            render_failed: false,
        }))
    }

    /// Publishes one sample's figures. Never blocks on a client and never fails the sample.
    pub fn update(&mut self, snapshot: &Snapshot) {
        let text = match render::render(&self.name, snapshot) {
            Ok(text) => text,
            Err(e) => {
                // Keep serving the previous text; a stale timestamp tells Prometheus the rest.
                if !self.render_failed {
                    say!(
                        "memmon: {}",
                        tr!(
                            current(),
                            "メトリクスを作れません: {e}",
                            "cannot render metrics: {e}"
                        )
                    );
                }
                self.render_failed = true;
                return;
            }
        };
        self.render_failed = false;
        if let Some(shared) = &self.served {
            // Readers hold the lock only to clone the Arc, so this swap never waits on a client.
            *shared.write().unwrap_or_else(PoisonError::into_inner) = Arc::from(text.as_str());
        }
        // Last: the fsync may take a while on an SD card, and the server need not wait for it.
        if let Some(file) = self.textfile.as_mut() {
            file.write(&text);
        }
    }
}
