//! Issue #19 end to end: real Python clients started under memmon with the defaults except
//! short intervals (no tracemalloc in the config), one per cause. Each must show the
//! escalation line when a leak is expected (and tracemalloc started by it), the part that grows
//! in the log, and the cause in the metrics; the flat one shows none of it.
//!
//! A leak is called by the same trend `memmon analyze` uses (60 s fitted after warm-up at
//! least), so each client runs for about two minutes; they run side by side.

use crate::util::{parse_log, Dir};
use memmon_format::{Investigation, Record, TrimOutcome};
use std::collections::HashMap;

/// How long each client runs, seconds: the trend's 60 s after warm-up, then the blocks that
/// follow the escalation.
const RUN_SECS: u32 = 125;

/// The client's loop: `SETUP` once, then `STEP` every 0.25 s until `RUN_SECS` have passed.
fn client(setup: &str, step: &str) -> String {
    client_every(setup, step, 0.25)
}

/// [`client`] with `STEP` every `period` seconds.
fn client_every(setup: &str, step: &str, period: f64) -> String {
    format!(
        "import time, sys\n{setup}\nend = time.time() + {RUN_SECS}\nwhile time.time() < end:\n{}\n    time.sleep({period})\n",
        step.lines()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    )
}

/// What a run left: the log's records and text, the last metrics, and `memmon analyze --json`
/// of the log.
struct Outcome {
    analyzed: serde_json::Value,
    records: Vec<Record>,
    text: String,
    metrics: HashMap<String, f64>,
    stderr: String,
}

/// The common flags: short intervals, the log and the metrics in the test's directory.
const FLAGS: [&str; 10] = [
    "run",
    "--interval",
    "0.2",
    "--startup-delay",
    "0",
    "--log",
    "m.log",
    "--prom-textfile",
    "m.prom",
    "--name",
];

fn run(name: &str, script: &str) -> Outcome {
    let d = Dir::new(name);
    d.write("client.py", script);
    let out = d
        .memmon()
        .args(FLAGS)
        .args(["reader-07", "--", "python3", "client.py"])
        .output()
        .unwrap();
    outcome(&d, out)
}

/// Reads what a finished run left in `d`.
fn outcome(d: &Dir, out: std::process::Output) -> Outcome {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        !stderr.contains("[memmon]"),
        "the hook complained: {stderr}"
    );
    let text = d.read("m.log");
    let records = parse_log(&d.join("m.log"));
    let metrics = crate::metrics::parse_exposition(&d.read("m.prom"));
    let out = d
        .memmon()
        .args(["analyze", "--json", "m.log"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let analyzed = serde_json::from_slice(&out.stdout).unwrap();
    Outcome {
        analyzed,
        records,
        text,
        metrics,
        stderr,
    }
}

impl Outcome {
    fn escalation(&self) -> Option<&memmon_format::EscalationLine> {
        self.records.iter().find_map(|r| match r {
            Record::Escalation(e) => Some(e),
            _ => None,
        })
    }

    /// Asserts the escalation line (once, tracemalloc started by it) and that tracemalloc
    /// blocks follow it.
    fn assert_escalated(&self) {
        let n = self
            .records
            .iter()
            .filter(|r| matches!(r, Record::Escalation(_)))
            .count();
        assert_eq!(n, 1, "{}", self.text);
        let e = self.escalation().unwrap();
        assert_eq!(e.action, Investigation::Started, "{}", self.text);
        assert!(
            e.rate_mb_per_hour > 0.0 && e.span_secs >= 60,
            "{}",
            self.text
        );
        let at = self
            .records
            .iter()
            .position(|r| matches!(r, Record::Escalation(_)))
            .unwrap();
        assert!(
            self.records[at..]
                .iter()
                .any(|r| matches!(r, Record::Tracemalloc { .. })),
            "no tracemalloc block after the escalation:\n{}",
            self.text
        );
        assert!(
            !self.records[..at]
                .iter()
                .any(|r| matches!(r, Record::Tracemalloc { .. })),
            "tracemalloc before the escalation:\n{}",
            self.text
        );
        assert_eq!(self.metrics.get("memmon_leak_suspected"), Some(&1.0));
    }

    /// The metrics' cause and `memmon analyze`'s, and analyze's part.
    fn assert_cause(&self, label: &str, part: &str) {
        let run = &self.analyzed["runs"][0];
        assert_eq!(
            (
                run["attribution"]["cause"].as_str(),
                run["attribution"]["part"].as_str()
            ),
            (Some(label), Some(part)),
            "{run:#}\n{}",
            self.text
        );
        let key = format!("memmon_leak_cause{{cause=\"{label}\"}}");
        assert_eq!(
            self.metrics.get(&key),
            Some(&1.0),
            "{:?}\n{}",
            self.metrics,
            self.text
        );
    }

    fn breakdowns(&self) -> Vec<&memmon_format::BreakdownLine> {
        self.records
            .iter()
            .filter_map(|r| match r {
                Record::Breakdown(b) => Some(b),
                _ => None,
            })
            .collect()
    }

    fn native(&self) -> Option<&memmon_format::NativeLine> {
        self.records.iter().find_map(|r| match r {
            Record::Native(n) => Some(n),
            _ => None,
        })
    }

    fn trim(&self) -> Option<&memmon_format::TrimLine> {
        self.records.iter().find_map(|r| match r {
            Record::Trim(t) => Some(t),
            _ => None,
        })
    }
}

/// Cause 1: objects piling up. Python's bytes carry the growth, the types line names the
/// class, and the tracemalloc block's top line is the one that keeps them.
#[test]
fn objects_kept_name_the_class_and_the_line() {
    let o = run(
        "diag-objects",
        &client(
            "class Card:\n    def __init__(self):\n        self.payload = bytearray(8192)\nkeep = []",
            "keep.extend(Card() for _ in range(20))",
        ),
    );
    o.assert_escalated();
    let native = o.native().expect("no [Python/ネイティブ] line");
    assert!(native.python_mb > 0.5 * native.anon_mb, "{}", o.text);
    let types = o
        .records
        .iter()
        .find_map(|r| match r {
            Record::Types(t) => Some(t),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no types line:\n{}", o.text));
    assert!(
        types
            .types
            .iter()
            .any(|t| t.name == "__main__.Card" && t.count > 0),
        "{}",
        o.text
    );
    assert!(o.trim().is_none(), "{}", o.text);
    assert!(
        o.text.contains("client.py:"),
        "the leaking line is not named:\n{}",
        o.text
    );
    o.assert_cause("objects_kept", "python_objects");
}

/// Cause 2: threads that never end: the breakdown's thread count grows, and names the cause.
#[test]
fn threads_that_never_end_are_counted() {
    let o = run(
        "diag-threads",
        &client(
            "import threading\ndef hold():\n    buf = bytearray(64 * 1024)\n    for i in range(0, len(buf), 4096):\n        buf[i] = 1\n    time.sleep(1e9)",
            "threading.Thread(target=hold, daemon=True).start()",
        ),
    );
    o.assert_escalated();
    let b = o.breakdowns();
    assert!(
        b.last().unwrap().threads >= b.first().unwrap().threads + 100,
        "{}",
        o.text
    );
    o.assert_cause("threads_never_end", "threads");
    assert!(o.metrics["memmon_threads"] >= 100.0);
}

/// Cause 3: database connections and sockets never closed: the descriptors grow by kind.
#[test]
fn connections_never_closed_are_counted_by_kind() {
    let o = run(
        "diag-connections",
        // Two descriptors a step, 0.4 s apart: about 620 in all, under the usual 1,024.
        &client_every(
            "import sqlite3, socket\nkeep = []",
            "c = sqlite3.connect('db.sqlite')\nc.execute('create table if not exists t (x)')\nkeep.append((c, socket.socket(), bytearray(64 * 1024)))",
            0.4,
        ),
    );
    o.assert_escalated();
    let b = o.breakdowns();
    let (first, last) = (b.first().unwrap(), b.last().unwrap());
    assert!(last.fds.sockets >= first.fds.sockets + 100, "{}", o.text);
    assert!(last.fds.files >= first.fds.files + 100, "{}", o.text);
    o.assert_cause("connections_not_closed", "sockets");
}

/// Native memory kept by glibc but returnable: Python flat, anonymous memory grows, and the
/// trim probe gets most of it back (fragmentation).
#[test]
fn native_fragmentation_is_returned_by_the_trim_probe() {
    // Each step mallocs a block a little larger than any before (so no freed hole ever fits
    // one) and touches it, pins it with a slightly larger block right after it (larger than
    // any hole too, so it comes from the top of the heap; left untouched, so it costs a page),
    // and frees the first: the heap's free memory grows between the pins, touched and unused.
    let o = run(
        "diag-fragmentation",
        &client(
            "import ctypes\nlibc = ctypes.CDLL(None)\nlibc.malloc.restype = ctypes.c_void_p\nlibc.malloc.argtypes = [ctypes.c_size_t]\nlibc.free.argtypes = [ctypes.c_void_p]\nlibc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]\nsize = 16384\npins = []",
            "size += 64\np = libc.malloc(size)\nlibc.memset(p, 1, size)\npins.append(libc.malloc(size + 32))\nlibc.free(p)",
        ),
    );
    o.assert_escalated();
    // The escalation's evidence bundle is taken first; its capture gives nothing back to the
    // system (a `malloc_trim` there returned this client's holes before the probe, which then
    // found "held"): the sample right after it is not lower than the one before.
    let rss: Vec<(usize, f64)> = o
        .records
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match r {
            Record::Sample(s) => Some((i, s.rss_mb)),
            _ => None,
        })
        .collect();
    let bundle = o
        .records
        .iter()
        .position(|r| matches!(r, Record::Evidence(_)))
        .unwrap_or_else(|| panic!("no escalation bundle:\n{}", o.text));
    let before = rss.iter().rev().find(|(i, _)| *i < bundle).map(|r| r.1);
    let after = rss.iter().find(|(i, _)| *i > bundle).map(|r| r.1);
    assert!(
        matches!((before, after), (Some(b), Some(a)) if a > b - 0.5),
        "{before:?} → {after:?}\n{}",
        o.text
    );
    let native = o.native().expect("no [Python/ネイティブ] line");
    assert!(native.native_mb > 0.75 * native.anon_mb, "{}", o.text);
    let trim = o
        .trim()
        .unwrap_or_else(|| panic!("no trim line:\n{}", o.text));
    assert_eq!(trim.outcome, TrimOutcome::Returned, "{}", o.text);
    assert!(trim.change_mb < -1.0, "{}", o.text);
    o.assert_cause("native_fragmentation", "native");
}

/// Native memory really held (malloc'd and used, never freed): the probe gets nothing back.
#[test]
fn native_memory_held_is_not_returned() {
    let o = run(
        "diag-held",
        &client(
            "import ctypes\nlibc = ctypes.CDLL(None)\nlibc.malloc.restype = ctypes.c_void_p\nlibc.malloc.argtypes = [ctypes.c_size_t]\nlibc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]\nheld = []",
            "p = libc.malloc(64 * 1024)\nlibc.memset(p, 1, 64 * 1024)\nheld.append(p)",
        ),
    );
    o.assert_escalated();
    let trim = o
        .trim()
        .unwrap_or_else(|| panic!("no trim line:\n{}", o.text));
    assert_eq!(trim.outcome, TrimOutcome::Unchanged, "{}", o.text);
    o.assert_cause("native_held", "native");
}

/// A flat client (work that allocates and frees): no escalation, no probe, no cause, and the
/// hook never traced it.
#[test]
fn a_flat_client_starts_nothing() {
    let o = run(
        "diag-flat",
        &client(
            "scratch = None",
            "scratch = [bytearray(4096) for _ in range(200)]",
        ),
    );
    assert!(o.escalation().is_none(), "{}", o.text);
    assert!(
        !o.records.iter().any(|r| matches!(
            r,
            Record::Tracemalloc { .. } | Record::Native(_) | Record::Trim(_) | Record::Types(_)
        )),
        "{}",
        o.text
    );
    assert!(!o.breakdowns().is_empty());
    assert_eq!(
        o.metrics.get("memmon_leak_suspected"),
        Some(&0.0),
        "{}",
        o.stderr
    );
    assert!(!o.metrics.keys().any(|k| k.starts_with("memmon_leak_cause")));
    let run = &o.analyzed["runs"][0];
    assert_ne!(run["verdict"], "leak", "{run:#}");
    assert!(
        run["attribution"].is_null() || run["attribution"]["cause"] == "none",
        "{run:#}"
    );
}

/// With `--pid` memmon started nothing, so there is no hook: the escalation line says so where
/// tracemalloc would have started, and no tracemalloc block follows.
#[test]
fn with_pid_the_escalation_says_there_is_no_hook() {
    let d = Dir::new("diag-pid");
    d.write(
        "client.py",
        &client(
            "keep = []",
            "keep.append(bytearray(64 * 1024))\nkeep[-1][::4096] = b'x' * 16",
        ),
    );
    let mut child = std::process::Command::new("python3")
        .arg("client.py")
        .current_dir(&d.path)
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let out = d
        .memmon()
        .args(FLAGS)
        .args(["reader-07", "--pid", &pid])
        .output()
        .unwrap();
    let _ = child.wait();
    let o = outcome(&d, out);
    let e = o
        .escalation()
        .unwrap_or_else(|| panic!("no escalation:\n{}", o.text));
    assert_eq!(e.action, Investigation::NoHookPid, "{}", o.text);
    assert!(
        !o.records
            .iter()
            .any(|r| matches!(r, Record::Tracemalloc { .. } | Record::Native(_))),
        "{}",
        o.text
    );
    assert!(o.stderr.contains("--pid"), "{}", o.stderr);
    assert_eq!(o.metrics.get("memmon_leak_suspected"), Some(&1.0));
}
