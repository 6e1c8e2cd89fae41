//! One sample's figures in the classic Prometheus text exposition format (version 0.0.4), the
//! one node_exporter's textfile collector parses. Not OpenMetrics: its `# EOF` and `# UNIT`
//! lines make the collector reject the whole file.

use super::Snapshot;
use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};
use prometheus::TextEncoder;

/// The `Content-Type` of the text, for HTTP.
pub const CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;

/// Renders `snapshot` with the label `name="…"` on every sample.
///
/// Families come in a fixed order (the process, the system, the counters, memmon itself) so
/// the text diffs cleanly between samples. A figure memmon does not know is left out, HELP and
/// TYPE included, rather than written as NaN: an absent series is what PromQL treats as
/// "unknown", while NaN poisons every sum and comparison it meets.
pub fn render(name: &str, s: &Snapshot) -> Result<String, prometheus::Error> {
    let used_ratio = (s.sampled && s.sys_total > 0)
        .then(|| s.sys_total.saturating_sub(s.sys_available) as f64 / s.sys_total as f64);
    let families = [
        gauge(
            "memmon_rss_bytes",
            "Resident set size of the watched process (tree), bytes.",
            s.sampled.then_some(s.rss as f64),
        ),
        gauge(
            "memmon_vms_bytes",
            "Virtual memory size of the watched process (tree), bytes.",
            s.sampled.then_some(s.vms as f64),
        ),
        gauge(
            "memmon_peak_rss_bytes",
            "Highest RSS seen since memmon started, bytes.",
            s.sampled.then_some(s.peak_rss as f64),
        ),
        gauge(
            "memmon_growth_bytes",
            "RSS minus the first sample's RSS (the log's 初期比), bytes.",
            s.sampled.then_some(s.growth as f64),
        ),
        gauge(
            "memmon_leak_slope_bytes_per_second",
            "Robust RSS growth rate after warm-up (Theil-Sen), bytes per second; absent until known.",
                s.leak_slope_bytes_per_sec
                .filter(|v| s.sampled && v.is_finite()),
        ),
        gauge(
            "memmon_system_available_bytes",
            "Memory available to new allocations system-wide (MemAvailable), bytes.",
            s.sampled.then_some(s.sys_available as f64),
        ),
        gauge(
            "memmon_system_used_ratio",
            "Share of system memory in use, 0 to 1: (total - available) / total.",
            used_ratio,
        ),
        counter(
            "memmon_samples_total",
            "Successful samples since memmon started.",
            s.samples_total,
        ),
        counter(
            "memmon_warnings_total",
            "Growth-threshold warnings written since memmon started.",
            s.warnings_total,
        ),
        counter(
            "memmon_log_write_errors_total",
            "Failed writes to memory_usage.log since memmon started.",
            s.log_write_errors_total,
        ),
        gauge(
            "memmon_target_pid",
            "PID of the watched process; it changes when the process restarts.",
            Some(f64::from(s.pid)),
        ),
        gauge(
            "memmon_run_start_timestamp_seconds",
            "Wall-clock time this run of the watched process started (the log's header), seconds since the Unix epoch; published before the first sample.",
            Some(s.run_start_unix),
        ),
        gauge(
            "memmon_interval_seconds",
            "Configured time between samples, seconds.",
            Some(s.interval_secs),
        ),
        gauge(
            "memmon_last_sample_timestamp_seconds",
            "Wall-clock time of the last successful sample, seconds since the Unix epoch.",
            s.sampled.then_some(s.last_sample_unix),
        ),
    ];
    let families: Vec<MetricFamily> = families
        .into_iter()
        .flatten()
        .map(|(mut family, mut metric)| {
            metric.set_label(vec![label("name", name)]);
            family.set_metric(vec![metric]);
            family
        })
        .collect();
    TextEncoder::new().encode_to_string(&families)
}

fn family(name: &str, help: &str, kind: MetricType) -> MetricFamily {
    let mut f = MetricFamily::default();
    f.set_name(name.to_owned());
    f.set_help(help.to_owned());
    f.set_field_type(kind);
    f
}

fn gauge(name: &str, help: &str, value: Option<f64>) -> Option<(MetricFamily, Metric)> {
    let value = value?;
    let mut g = Gauge::default();
    g.set_value(value);
    let mut m = Metric::default();
    m.set_gauge(g);
    Some((family(name, help, MetricType::GAUGE), m))
}

fn counter(name: &str, help: &str, value: u64) -> Option<(MetricFamily, Metric)> {
    let mut c = Counter::default();
    c.set_value(value as f64);
    let mut m = Metric::default();
    m.set_counter(c);
    Some((family(name, help, MetricType::COUNTER), m))
}

fn label(name: &str, value: &str) -> LabelPair {
    let mut l = LabelPair::default();
    l.set_name(name.to_owned());
    l.set_value(value.to_owned());
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Snapshot {
        Snapshot {
            sampled: true,
            rss: 104_857_600,
            vms: 419_430_400,
            peak_rss: 110_100_480,
            growth: 62_914_560,
            sys_available: 1_073_741_824,
            sys_total: 4_294_967_296,
            samples_total: 42,
            warnings_total: 3,
            log_write_errors_total: 0,
            pid: 4321,
            interval_secs: 0.5,
            last_sample_unix: 1_700_000_000.25,
            run_start_unix: 1_699_999_940.0,
            leak_slope_bytes_per_sec: Some(1234.5),
        }
    }

    #[test]
    fn renders_every_family_with_help_type_and_the_name_label() {
        let text = render("reader-07", &known()).unwrap();
        insta::assert_snapshot!(text);
    }

    #[test]
    fn unknown_figures_are_left_out_not_nan() {
        let s = Snapshot {
            leak_slope_bytes_per_sec: None,
            sys_total: 0,
            ..known()
        };
        let text = render("r", &s).unwrap();
        assert!(
            !text.contains("memmon_leak_slope_bytes_per_second"),
            "{text}"
        );
        assert!(!text.contains("memmon_system_used_ratio"), "{text}");
        assert!(!text.contains("NaN"), "{text}");
        let nan = Snapshot {
            leak_slope_bytes_per_sec: Some(f64::NAN),
            ..known()
        };
        assert!(!render("r", &nan).unwrap().contains("NaN"));
    }

    #[test]
    fn before_the_first_sample_only_the_runs_own_figures_are_published() {
        let s = Snapshot {
            sampled: false,
            samples_total: 0,
            warnings_total: 0,
            ..known()
        };
        let text = render("r", &s).unwrap();
        let names: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split('{').next())
            .collect();
        assert_eq!(
            names,
            [
                "memmon_samples_total",
                "memmon_warnings_total",
                "memmon_log_write_errors_total",
                "memmon_target_pid",
                "memmon_run_start_timestamp_seconds",
                "memmon_interval_seconds",
            ],
            "{text}"
        );
        assert!(
            text.contains("memmon_target_pid{name=\"r\"} 4321\n"),
            "{text}"
        );
    }

    #[test]
    fn label_values_are_escaped_and_negative_growth_is_kept() {
        let s = Snapshot {
            growth: -1_048_576,
            ..known()
        };
        let text = render("a \"quoted\" \\ name\nx", &s).unwrap();
        assert!(
            text.contains(
                "memmon_growth_bytes{name=\"a \\\"quoted\\\" \\\\ name\\nx\"} -1048576\n"
            ),
            "{text}"
        );
    }
}
