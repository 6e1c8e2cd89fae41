//! Prometheus output end to end: the real binary watching a Python process that keeps 60 MiB,
//! scraped over HTTP while its textfile is polled, both checked against the log.

use crate::util::{parse_log, py_alloc, samples, Dir, Running};
use memmon_format::{parse_line, Record, SampleLine};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

/// Every metric memmon always writes; `memmon_leak_slope_bytes_per_second` only once the
/// trend is known.
/// Published from the start of a run, before any sample.
const FROM_START: [&str; 6] = [
    "memmon_samples_total",
    "memmon_warnings_total",
    "memmon_log_write_errors_total",
    "memmon_target_pid",
    "memmon_run_start_timestamp_seconds",
    "memmon_interval_seconds",
];
/// Published once a sample was taken.
const ALWAYS: [&str; 13] = [
    "memmon_run_start_timestamp_seconds",
    "memmon_rss_bytes",
    "memmon_vms_bytes",
    "memmon_peak_rss_bytes",
    "memmon_growth_bytes",
    "memmon_system_available_bytes",
    "memmon_system_used_ratio",
    "memmon_samples_total",
    "memmon_warnings_total",
    "memmon_log_write_errors_total",
    "memmon_target_pid",
    "memmon_interval_seconds",
    "memmon_last_sample_timestamp_seconds",
];
const COUNTERS: [&str; 3] = [
    "memmon_samples_total",
    "memmon_warnings_total",
    "memmon_log_write_errors_total",
];
pub(crate) const LABEL: &str = "{name=\"reader-07\"}";
const MIB: f64 = 1_048_576.0;

/// One exposition parsed: metric name → value. Panics on anything memmon should not write:
/// a sample without HELP and TYPE before it, another label set, an unparsable value.
pub(crate) fn parse_exposition(text: &str) -> HashMap<String, f64> {
    assert!(text.ends_with('\n'), "no final newline:\n{text}");
    let mut help = Vec::new();
    let mut types = HashMap::new();
    let mut values = HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            help.push(rest.split(' ').next().unwrap().to_owned());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            types.insert(name.to_owned(), kind.to_owned());
        } else {
            assert!(!line.starts_with('#'), "unexpected comment {line:?}");
            let (series, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = series.split_at(series.find('{').unwrap());
            // The parts, descriptor kinds and the cause (issue #19) carry one label after
            // `name`: such a series is keyed `metric{label="value"}`.
            let key = if labels == LABEL {
                name.to_owned()
            } else {
                let extra = labels
                    .strip_prefix(&LABEL[..LABEL.len() - 1])
                    .and_then(|rest| rest.strip_prefix(','))
                    .unwrap_or_else(|| panic!("unexpected labels in {line}"));
                format!("{name}{{{extra}")
            };
            assert!(help.iter().any(|h| h == name), "no HELP for {name}");
            let want = if COUNTERS.contains(&name) {
                "counter"
            } else {
                "gauge"
            };
            assert_eq!(types.get(name).map(String::as_str), Some(want), "{name}");
            let v: f64 = value.parse().unwrap();
            assert!(v.is_finite(), "{line}");
            assert!(values.insert(key, v).is_none(), "twice: {line}");
        }
    }
    let sampled = values.get("memmon_samples_total").is_some_and(|n| *n > 0.0);
    if sampled {
        for name in ALWAYS {
            assert!(values.contains_key(name), "{name} missing:\n{text}");
        }
    } else {
        // Before the first sample: the run's own figures, and nothing invented.
        let mut names: Vec<&str> = values.keys().map(String::as_str).collect();
        names.sort_unstable();
        let mut want = FROM_START.to_vec();
        want.sort_unstable();
        assert_eq!(names, want, "{text}");
    }
    values
}

/// One HTTP/1.0 exchange: (status code, raw response).
fn http(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let code = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not HTTP: {out:?}"));
    (code, out)
}

fn body(response: &str) -> &str {
    response.split_once("\r\n\r\n").unwrap().1
}

/// The sample lines of the log's complete lines (a reader may catch a write half done).
fn sample_lines(log: &Path) -> Vec<SampleLine> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    complete
        .lines()
        .filter_map(|l| match parse_line(l) {
            Record::Sample(s) => Some(s),
            _ => None,
        })
        .collect()
}

/// Reads the textfile in a loop until told to stop; every read must be a whole exposition.
fn poll_textfile(path: PathBuf, stop: Arc<AtomicBool>) -> thread::JoinHandle<usize> {
    thread::spawn(move || {
        let mut reads = 0;
        while !stop.load(Ordering::SeqCst) {
            if let Ok(text) = std::fs::read_to_string(&path) {
                parse_exposition(&text);
                reads += 1;
            }
        }
        reads
    })
}

fn close(a: f64, b: f64, tolerance: f64, what: &str) {
    assert!((a - b).abs() <= tolerance, "{what}: {a} vs {b}");
}

/// The scraped figures against the log's sample line of the same number.
fn check_against_log(m: &HashMap<String, f64>, log: &Path) {
    let n = m["memmon_samples_total"] as usize;
    assert!(n >= 1);
    // memmon publishes just before it writes the sample's lines: give the log a moment.
    let started = Instant::now();
    let mut lines = sample_lines(log);
    while lines.len() < n && started.elapsed() < Duration::from_secs(2) {
        thread::sleep(Duration::from_millis(20));
        lines = sample_lines(log);
    }
    assert!(
        lines.len() >= n,
        "log has {} samples, metrics {n}",
        lines.len()
    );
    let s = &lines[n - 1];
    // The log has two decimals in MB, none for available MB, one in percent.
    close(m["memmon_rss_bytes"] / MIB, s.rss_mb, 0.01, "rss");
    close(m["memmon_vms_bytes"] / MIB, s.vms_mb, 0.01, "vms");
    close(m["memmon_peak_rss_bytes"] / MIB, s.peak_mb, 0.01, "peak");
    close(m["memmon_growth_bytes"] / MIB, s.growth_mb, 0.01, "growth");
    let available = m["memmon_system_available_bytes"] / MIB;
    close(available, s.sys_available_mb, 0.51, "available");
    let used = m["memmon_system_used_ratio"];
    assert!((0.0..=1.0).contains(&used));
    close(used * 100.0, s.sys_percent, 0.051, "used");
}

#[test]
fn metrics_are_served_and_written_whole_matching_the_log() {
    let d = Dir::new("metrics");
    let prom = d.join("memmon.prom");
    let log = d.join("m.log");
    let mut child = d
        .memmon()
        .args([
            "run",
            "--startup-delay",
            "0",
            "--interval",
            "0.2",
            "--log",
            "m.log",
            "--name",
            "reader-07",
        ])
        .arg("--prom-textfile")
        .arg(&prom)
        .args(["--metrics-listen", "127.0.0.1:0", "--"])
        .args(["python3", "-c", &py_alloc(1.0, 60, 4.5)])
        .stderr(Stdio::piped())
        .spawn()
        .map(Running)
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stderr = child.0.stderr.take().unwrap();
    let reader = thread::spawn(move || {
        let mut all = Vec::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            let _ = tx.send(line.clone());
            all.push(line);
        }
        all
    });
    let addr: SocketAddr = loop {
        let line = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        if let Some(rest) = line.strip_prefix("memmon: metrics at http://") {
            break rest.strip_suffix("/metrics").unwrap().parse().unwrap();
        }
    };
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");

    let stop = Arc::new(AtomicBool::new(false));
    let poller = poll_textfile(prom.clone(), Arc::clone(&stop));

    // Scrape until the 60 MiB are in and past the threshold, every 0.3 s (> the interval).
    let mut scraped = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (code, r) = http(addr, "GET /metrics HTTP/1.0\r\n\r\n");
        assert_eq!(code, 200, "{r}");
        assert!(r.contains("Content-Type: text/plain; version=0.0.4"), "{r}");
        // Before the first sample the exposition holds the run's own figures only.
        let m = (!body(&r).is_empty()).then(|| parse_exposition(body(&r)));
        if let Some(m) = m.filter(|m| m["memmon_samples_total"] > 0.0) {
            check_against_log(&m, &log);
            let grown = m["memmon_growth_bytes"] > 50.0 * MIB;
            scraped.push(m);
            if grown && scraped.len() >= 4 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "no growth seen: {scraped:?}");
        thread::sleep(Duration::from_millis(300));
    }
    let totals: Vec<f64> = scraped.iter().map(|m| m["memmon_samples_total"]).collect();
    assert!(totals.windows(2).all(|w| w[0] <= w[1]), "{totals:?}");
    assert!(totals[totals.len() - 1] > totals[0], "{totals:?}");
    let last = &scraped[scraped.len() - 1];
    assert!(last["memmon_warnings_total"] >= 1.0, "{last:?}");
    assert_eq!(last["memmon_log_write_errors_total"], 0.0);
    assert_eq!(last["memmon_interval_seconds"], 0.2);
    let pid = parse_log(&log).into_iter().find_map(|r| match r {
        Record::Pid(p) => Some(p),
        _ => None,
    });
    assert_eq!(Some(last["memmon_target_pid"]), pid.map(f64::from));
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    close(
        last["memmon_last_sample_timestamp_seconds"],
        now,
        5.0,
        "timestamp",
    );

    // HEAD has the headers only; other paths and methods are refused.
    let (code, head) = http(addr, "HEAD /metrics HTTP/1.0\r\n\r\n");
    assert_eq!(code, 200);
    assert!(body(&head).is_empty(), "{head}");
    assert_eq!(http(addr, "GET /other HTTP/1.0\r\n\r\n").0, 404);
    let (code, r) = http(addr, "POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(code, 405);
    assert!(r.contains("Allow: GET, HEAD\r\n"), "{r}");

    // Clients that connect and say nothing do not delay the samples: at 0.2 s, at least 5
    // new sample lines within 2 s.
    let idle: Vec<TcpStream> = (0..8).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let before = sample_lines(&log).len();
    thread::sleep(Duration::from_secs(2));
    let after = sample_lines(&log).len();
    assert!(after >= before + 5, "{before} → {after} samples in 2 s");
    drop(idle);

    let status = child.wait();
    stop.store(true, Ordering::SeqCst);
    let reads = poller.join().unwrap();
    let stderr = reader.join().unwrap().join("\n");
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("cannot write metrics"), "{stderr}");
    assert!(reads >= 20, "the textfile was read only {reads} times");

    // The textfile holds the last sample; no temp file is left beside it.
    let last_file = parse_exposition(&std::fs::read_to_string(&prom).unwrap());
    let recs = parse_log(&log);
    let n = samples(&recs).len();
    assert_eq!(last_file["memmon_samples_total"], n as f64);
    check_against_log(&last_file, &log);
    let names: Vec<_> = std::fs::read_dir(&d.path)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
}

#[test]
fn an_unwritable_textfile_is_reported_once_and_the_run_goes_on() {
    let d = Dir::new("metrics-unwritable");
    let out = d
        .memmon()
        .args([
            "run",
            "--startup-delay",
            "0",
            "--interval",
            "0.2",
            "--log",
            "m.log",
        ])
        .args([
            "--lang",
            "en",
            "--prom-textfile",
            "no-such-dir/memmon.prom",
            "--",
        ])
        .args(["sleep", "1.2"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr.matches("cannot write metrics").count(),
        1,
        "{stderr}"
    );
    assert!(samples(&parse_log(&d.join("m.log"))).len() >= 4);
}

#[test]
fn a_busy_port_is_reported_and_the_command_still_runs() {
    let d = Dir::new("metrics-busy");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = d
        .memmon()
        .args([
            "run",
            "--startup-delay",
            "0",
            "--interval",
            "0.2",
            "--log",
            "m.log",
        ])
        .args(["--metrics-listen", &addr, "--", "sleep", "0.6"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
    assert!(!samples(&parse_log(&d.join("m.log"))).is_empty());
}
