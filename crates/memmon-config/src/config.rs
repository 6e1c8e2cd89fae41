//! The validated settings and their defaults.

use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroU64;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use memmon_core::IntervalSpec;

use crate::value::{quote, render_float};

/// Where detail blocks (allocation sites) come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DetailSourceKind {
    /// Pick what is available for the monitored process.
    #[default]
    Auto,
    /// `/proc/PID/smaps` mappings.
    Smaps,
    /// The Python child's tracemalloc, through memmon's hook.
    Python,
    /// Both smaps and Python.
    Both,
}

impl DetailSourceKind {
    /// Every kind, in the order they are listed in messages.
    pub const ALL: [DetailSourceKind; 4] = [
        DetailSourceKind::Auto,
        DetailSourceKind::Smaps,
        DetailSourceKind::Python,
        DetailSourceKind::Both,
    ];

    /// The lowercase name used in config files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            DetailSourceKind::Auto => "auto",
            DetailSourceKind::Smaps => "smaps",
            DetailSourceKind::Python => "python",
            DetailSourceKind::Both => "both",
        }
    }
}

impl fmt::Display for DetailSourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of `auto`, `smaps`, `python`, `both`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected one of \"auto\", \"smaps\", \"python\", \"both\", got {}", quote(.0))]
pub struct ParseDetailSourceError(pub String);

impl FromStr for DetailSourceKind {
    type Err = ParseDetailSourceError;

    /// Exact lowercase names only, so the same spelling works in every file and flag.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| ParseDetailSourceError(s.to_owned()))
    }
}

/// Whether the Python processes memmon starts get its hook (`python_hook`, `--python-hook`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PythonHook {
    /// Every command memmon starts gets the hook; it idles (no tracing) until memmon asks, and
    /// serves tracemalloc's detail when `tracemalloc` is on.
    #[default]
    Auto,
    /// No hook: `PYTHONPATH` is left as it was; detail, if any, comes from smaps.
    Off,
}

impl PythonHook {
    /// Every value, in the order they are listed in messages.
    pub const ALL: [PythonHook; 2] = [PythonHook::Auto, PythonHook::Off];

    /// The words a config file or the command line accepts, in [`PythonHook::ALL`]'s order.
    pub const WORDS: [&'static str; 2] = ["auto", "off"];

    /// The lowercase name used in config files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            PythonHook::Auto => "auto",
            PythonHook::Off => "off",
        }
    }
}

impl fmt::Display for PythonHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// memmon's effective settings: the `memory_monitor` block with every missing key defaulted.
///
/// `enabled: false` is represented, not acted on: the caller decides what a disabled monitor
/// means.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Whether monitoring is on (`true` when the key is missing, as in the Python client).
    pub enabled: bool,
    /// Time between samples, remembering whether it was written as an integer.
    pub interval: IntervalSpec,
    /// How long after a command starts the first sample is taken (`None`: the caller's
    /// default, 60 s for a command memmon starts and 0 with `--pid`: see the spec's Schedule).
    pub startup_delay: Option<Duration>,
    /// Whether allocation tracing (detail blocks) is on.
    pub tracemalloc: bool,
    /// Where the log is written.
    pub log_file: PathBuf,
    /// Growth since the first sample, in MB, above which a warning is logged.
    pub warn_threshold_mb: f64,
    /// A detail block is written every this many samples.
    pub detail_every: NonZeroU64,
    /// The log is rotated when it grows past this many MB.
    pub max_log_mb: f64,
    /// How many rotated logs are kept.
    pub keep_logs: u32,
    /// A label for metrics, e.g. the host's role.
    pub name: Option<String>,
    /// A Prometheus textfile-collector file to keep up to date.
    pub prom_textfile: Option<PathBuf>,
    /// Where to serve metrics over HTTP.
    pub metrics_listen: Option<SocketAddr>,
    /// Stack frames recorded per allocation site.
    pub tracemalloc_frames: u32,
    /// How long to wait for the Python child to answer a detail request.
    pub tracemalloc_timeout: Duration,
    /// Where detail blocks come from.
    pub detail_source: DetailSourceKind,
    /// Whether the parts of the memory (the `[内訳]` line) are written at the detail cadence.
    pub breakdown: bool,
    /// Whether a leak the online trend calls likely starts the investigation (tracemalloc in
    /// the hooked processes).
    pub escalate: bool,
    /// Whether the hooked processes may be asked to call `malloc_trim(0)` once, when Python's
    /// bytes are flat while anonymous memory grows.
    pub malloc_trim_probe: bool,
    /// Whether the Python processes memmon starts get its hook.
    pub python_hook: PythonHook,
    /// Whether evidence bundles are kept beside the log (issue #20's flight recorder).
    pub evidence: bool,
    /// How many bundles are kept (the oldest go first; one an OOM line named never does).
    pub evidence_max: u32,
    /// A bundle is captured when memory is predicted to run out within this (0: never).
    pub evidence_horizon: Duration,
    /// A bundle is captured when the memory left is below this many MB (0: never).
    pub evidence_floor_mb: f64,
    /// A bundle is captured when `/proc/pressure/memory`'s `some avg10` reaches this percent
    /// (0: never).
    pub evidence_pressure: f64,
    /// A bundle's size bound in KiB.
    pub evidence_max_kb: u32,
}

impl Default for Config {
    /// The defaults of the Python client (`interval` 300, `tracemalloc` off, enabled) and of
    /// memmon's own settings.
    fn default() -> Self {
        Config {
            enabled: true,
            interval: IntervalSpec::Integer(300),
            startup_delay: None,
            tracemalloc: false,
            log_file: PathBuf::from("memory_usage.log"),
            warn_threshold_mb: 50.0,
            detail_every: NonZeroU64::MIN.saturating_add(9),
            max_log_mb: 10.0,
            keep_logs: 5,
            name: None,
            prom_textfile: None,
            metrics_listen: None,
            tracemalloc_frames: 1,
            tracemalloc_timeout: Duration::from_secs(5),
            detail_source: DetailSourceKind::Auto,
            python_hook: PythonHook::Auto,
            breakdown: true,
            escalate: true,
            malloc_trim_probe: true,
            evidence: true,
            evidence_max: 10,
            evidence_horizon: Duration::from_secs(30 * 60),
            evidence_floor_mb: 50.0,
            evidence_pressure: 20.0,
            evidence_max_kb: 256,
        }
    }
}

impl Config {
    /// The effective settings, one `key = value` per line in a fixed order, for
    /// `memmon check-config`. Strings and paths are quoted, missing optional values are
    /// `(none)`, and the interval keeps its integer or decimal form (`300` vs `300.0`).
    pub fn describe(&self) -> String {
        let none = || "(none)".to_owned();
        let path = |p: &PathBuf| quote(&p.display().to_string());
        let interval = match self.interval {
            IntervalSpec::Integer(s) => s.to_string(),
            IntervalSpec::Decimal(s) => render_float(s),
        };
        let lines: [(&str, String); 25] = [
            ("enabled", self.enabled.to_string()),
            ("interval", interval),
            (
                "startup_delay",
                self.startup_delay
                    .map_or_else(|| "(default)".to_owned(), |d| d.as_secs_f64().to_string()),
            ),
            ("tracemalloc", self.tracemalloc.to_string()),
            ("log_file", path(&self.log_file)),
            ("warn_threshold_mb", self.warn_threshold_mb.to_string()),
            ("detail_every", self.detail_every.to_string()),
            ("max_log_mb", self.max_log_mb.to_string()),
            ("keep_logs", self.keep_logs.to_string()),
            ("name", self.name.as_deref().map_or_else(none, quote)),
            (
                "prom_textfile",
                self.prom_textfile.as_ref().map_or_else(none, path),
            ),
            (
                "metrics_listen",
                self.metrics_listen
                    .map_or_else(none, |a| quote(&a.to_string())),
            ),
            ("tracemalloc_frames", self.tracemalloc_frames.to_string()),
            (
                "tracemalloc_timeout",
                self.tracemalloc_timeout.as_secs_f64().to_string(),
            ),
            ("detail_source", quote(self.detail_source.as_str())),
            ("python_hook", quote(self.python_hook.as_str())),
            ("breakdown", self.breakdown.to_string()),
            ("escalate", self.escalate.to_string()),
            ("malloc_trim_probe", self.malloc_trim_probe.to_string()),
            ("evidence", self.evidence.to_string()),
            ("evidence_max", self.evidence_max.to_string()),
            (
                "evidence_horizon",
                self.evidence_horizon.as_secs_f64().to_string(),
            ),
            ("evidence_floor_mb", self.evidence_floor_mb.to_string()),
            ("evidence_pressure", self.evidence_pressure.to_string()),
            ("evidence_max_kb", self.evidence_max_kb.to_string()),
        ];
        let mut out = String::new();
        for (key, value) in lines {
            out.push_str(key);
            out.push_str(" = ");
            out.push_str(&value);
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_source_round_trips() {
        for kind in DetailSourceKind::ALL {
            assert_eq!(kind.to_string().parse::<DetailSourceKind>(), Ok(kind));
        }
        let err = "Auto".parse::<DetailSourceKind>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "expected one of \"auto\", \"smaps\", \"python\", \"both\", got \"Auto\""
        );
    }

    #[test]
    fn defaults() {
        let c = Config::default();
        assert_eq!(c.detail_every.get(), 10);
        assert_eq!(c.interval, IntervalSpec::Integer(300));
        assert!(c.enabled);
    }

    #[test]
    fn describe_keeps_decimal_interval() {
        let c = Config {
            interval: IntervalSpec::Decimal(300.0),
            ..Config::default()
        };
        assert!(c.describe().contains("\ninterval = 300.0\n"));
        let c = Config {
            interval: IntervalSpec::Decimal(0.2),
            ..Config::default()
        };
        assert!(c.describe().contains("\ninterval = 0.2\n"));
    }
}
