//! One sample's figures in the classic Prometheus text exposition format (version 0.0.4), the
//! one node_exporter's textfile collector parses. Not OpenMetrics: its `# EOF` and `# UNIT`
//! lines make the collector reject the whole file.

use super::Snapshot;
use memmon_core::Part;
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
    // The breakdown and the verdict are per-sample figures too: nothing before the first sample.
    let breakdown = s.breakdown.filter(|_| s.sampled);
    let python_traced = s.python_traced_bytes.filter(|_| s.sampled);
    let parts: Vec<(&str, f64)> = breakdown
        .map(|b| {
            [
                (Part::Anon, b.anon),
                (Part::FileBacked, b.file),
                (Part::Shared, b.shmem),
                (Part::Swap, b.swap),
            ]
        })
        .into_iter()
        .flatten()
        .chain(python_traced.map(|v| (Part::PythonObjects, v)))
        .map(|(part, v)| (part.label(), v as f64))
        .collect();
    let fds: Vec<(&str, f64)> = breakdown
        .map(|b| {
            [
                ("socket", b.fds.sockets),
                ("file", b.fds.files),
                ("pipe", b.fds.pipes),
                ("other", b.fds.other),
            ]
        })
        .into_iter()
        .flatten()
        .map(|(kind, v)| (kind, v as f64))
        .collect();
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
        gauges(
            "memmon_memory_part_bytes",
            "The watched tree's memory by part, bytes: anon + file_backed + shared is RSS, swap is swapped out, python_objects is tracemalloc's share of anon (while the program traces); absent until known.",
            "part",
            &parts,
        ),
        gauge(
            "memmon_threads",
            "Threads of the watched process (tree); absent until known.",
            breakdown.map(|b| b.threads as f64),
        ),
        gauges(
            "memmon_open_fds",
            "Open file descriptors of the watched process (tree) by kind; absent until known.",
            "kind",
            &fds,
        ),
        // The verdict carries no cause label: a label change would start a new series and
        // reset the `for:` of an alert on it. The cause is a series of its own.
        gauge(
            "memmon_leak_suspected",
            "1 when memmon's online verdict is a leak, 0 when not; absent until the verdict can be said.",
            s.leak_suspected
                .filter(|_| s.sampled)
                .map(|v| if v { 1.0 } else { 0.0 }),
        ),
        gauges(
            "memmon_leak_cause",
            "What the growth points to, as the cause label (always 1); only the current cause is published.",
            "cause",
            &s.leak_cause
                .filter(|_| s.sampled)
                .map(|c| (c.label(), 1.0))
                .into_iter()
                .collect::<Vec<_>>(),
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
        .map(|(mut family, metrics)| {
            let metrics = metrics
                .into_iter()
                .map(|mut metric| {
                    // `name` first, then the family's own label (`part`, `kind`, `cause`).
                    let mut labels = vec![label("name", name)];
                    labels.extend(metric.take_label());
                    metric.set_label(labels);
                    metric
                })
                .collect();
            family.set_metric(metrics);
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

fn gauge_metric(value: f64) -> Metric {
    let mut g = Gauge::default();
    g.set_value(value);
    let mut m = Metric::default();
    m.set_gauge(g);
    m
}

fn gauge(name: &str, help: &str, value: Option<f64>) -> Option<(MetricFamily, Vec<Metric>)> {
    let value = value?;
    Some((
        family(name, help, MetricType::GAUGE),
        vec![gauge_metric(value)],
    ))
}

/// A gauge family with one series per `(label value, value)`; left out when there is none.
fn gauges(
    name: &str,
    help: &str,
    label_name: &str,
    values: &[(&str, f64)],
) -> Option<(MetricFamily, Vec<Metric>)> {
    if values.is_empty() {
        return None;
    }
    let metrics = values
        .iter()
        .map(|&(label_value, value)| {
            let mut m = gauge_metric(value);
            m.set_label(vec![label(label_name, label_value)]);
            m
        })
        .collect();
    Some((family(name, help, MetricType::GAUGE), metrics))
}

fn counter(name: &str, help: &str, value: u64) -> Option<(MetricFamily, Vec<Metric>)> {
    let mut c = Counter::default();
    c.set_value(value as f64);
    let mut m = Metric::default();
    m.set_counter(c);
    Some((family(name, help, MetricType::COUNTER), vec![m]))
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
    use memmon_core::{Breakdown, Cause, FdCounts};

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
            ..Snapshot::default()
        }
    }

    /// `known()` with the breakdown, Python's traced bytes and the verdict.
    fn diagnosed() -> Snapshot {
        Snapshot {
            breakdown: Some(Breakdown {
                anon: 83_886_080,
                file: 18_874_368,
                shmem: 2_097_152,
                swap: 1_048_576,
                threads: 7,
                fds: FdCounts {
                    sockets: 12,
                    files: 5,
                    pipes: 2,
                    other: 3,
                },
            }),
            python_traced_bytes: Some(52_428_800),
            leak_suspected: Some(true),
            leak_cause: Some(Cause::ObjectsKept),
            ..known()
        }
    }

    /// The lines of one family (HELP, TYPE and samples).
    fn family_lines<'t>(text: &'t str, family: &str) -> Vec<&'t str> {
        text.lines()
            .filter(|l| {
                let l = l
                    .strip_prefix("# HELP ")
                    .or_else(|| l.strip_prefix("# TYPE "))
                    .unwrap_or(l);
                l.strip_prefix(family)
                    .is_some_and(|rest| rest.starts_with([' ', '{']))
            })
            .collect()
    }

    #[test]
    fn renders_every_family_with_help_type_and_the_name_label() {
        let text = render("reader-07", &known()).unwrap();
        insta::assert_snapshot!(text);
    }

    #[test]
    fn renders_the_breakdown_python_objects_and_the_verdict() {
        let text = render("reader-07", &diagnosed()).unwrap();
        insta::assert_snapshot!(text);
    }

    #[test]
    fn a_cause_change_leaves_the_verdict_series_byte_identical() {
        let before = render("reader-07", &diagnosed()).unwrap();
        let after = render(
            "reader-07",
            &Snapshot {
                leak_cause: Some(Cause::ThreadsNeverEnd),
                ..diagnosed()
            },
        )
        .unwrap();
        let verdict = family_lines(&before, "memmon_leak_suspected");
        assert_eq!(verdict.len(), 3, "{before}");
        assert_eq!(
            verdict[2], "memmon_leak_suspected{name=\"reader-07\"} 1",
            "{before}"
        );
        assert_eq!(verdict, family_lines(&after, "memmon_leak_suspected"));
        // Only the current cause is published, as its own series.
        assert_eq!(
            family_lines(&before, "memmon_leak_cause")[2..],
            ["memmon_leak_cause{name=\"reader-07\",cause=\"objects_kept\"} 1"]
        );
        assert_eq!(
            family_lines(&after, "memmon_leak_cause")[2..],
            ["memmon_leak_cause{name=\"reader-07\",cause=\"threads_never_end\"} 1"]
        );
    }

    #[test]
    fn every_cause_renders_its_stable_label() {
        for cause in Cause::ALL {
            let s = Snapshot {
                leak_cause: Some(cause),
                ..diagnosed()
            };
            let text = render("r", &s).unwrap();
            let line = format!(
                "memmon_leak_cause{{name=\"r\",cause=\"{}\"}} 1",
                cause.label()
            );
            assert_eq!(family_lines(&text, "memmon_leak_cause")[2..], [line]);
        }
    }

    #[test]
    fn no_verdict_is_published_as_0_and_unknown_parts_are_left_out() {
        let healthy = Snapshot {
            leak_suspected: Some(false),
            leak_cause: Some(Cause::None),
            ..diagnosed()
        };
        let text = render("r", &healthy).unwrap();
        assert!(
            text.contains("memmon_leak_suspected{name=\"r\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("memmon_leak_cause{name=\"r\",cause=\"none\"} 1\n"),
            "{text}"
        );

        // Nothing known: none of the new families, not even their HELP.
        let text = render("r", &known()).unwrap();
        for family in [
            "memmon_memory_part_bytes",
            "memmon_threads",
            "memmon_open_fds",
            "memmon_leak_suspected",
            "memmon_leak_cause",
        ] {
            assert!(family_lines(&text, family).is_empty(), "{family}: {text}");
        }

        // Python's bytes without a breakdown (it comes every 10th sample), and the reverse.
        let python_only = Snapshot {
            breakdown: None,
            ..diagnosed()
        };
        let text = render("r", &python_only).unwrap();
        assert_eq!(
            family_lines(&text, "memmon_memory_part_bytes")[2..],
            ["memmon_memory_part_bytes{name=\"r\",part=\"python_objects\"} 52428800"]
        );
        assert!(family_lines(&text, "memmon_threads").is_empty(), "{text}");
        assert!(family_lines(&text, "memmon_open_fds").is_empty(), "{text}");
        let not_tracing = Snapshot {
            python_traced_bytes: None,
            ..diagnosed()
        };
        let text = render("r", &not_tracing).unwrap();
        let parts: Vec<&str> = family_lines(&text, "memmon_memory_part_bytes")[2..]
            .iter()
            .filter_map(|l| l.split("part=\"").nth(1)?.split('"').next())
            .collect();
        assert_eq!(parts, ["anon", "file_backed", "shared", "swap"], "{text}");
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
            ..diagnosed()
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
