//! What issue #19's probes cost a Python client (`cargo xtask bench --only python-probes`):
//!
//! - `python-probe-types-us`: one `types` request (the hook's walk of `gc.get_objects()` and its
//!   reply) on a heap of ~210,000 tracked objects;
//! - `python-probe-types-peak-kib`: the most the walks raised the client's RSS above what it was
//!   before them (VmHWM, reset through `/proc/self/clear_refs`);
//! - `python-probe-types-kept-kib`: what the client's RSS kept after the walks;
//! - `python-probe-trim-us`: one `trim` request (`malloc_trim(0)` and its reply);
//! - `python-evidence-us`, `python-evidence-peak-kib`, `python-evidence-kept-kib`: issue #20's
//!   `evidence` request on the same heap traced (~500,000 traces): its time, the most it raised
//!   the client's RSS, what the RSS kept after it;
//! - `python-evidence-snapshot-us`, `…-peak-kib`, `…-kept-kib`: the same three for a full
//!   `tracemalloc.take_snapshot()` and its `statistics("traceback")` top 10, in a client of the
//!   same heap run beside it in every round (the capture the verb avoids).
//!
//! The client (`xtask/bench/py_probes.py`) runs under `memmon run --startup-delay 0` with
//! tracemalloc off (the default: the hook idles, memmon asks nothing), builds its heap, then
//! asks its own hook, on the socket memmon's hook listens on, and prints its measures. Times are
//! the median over every request of every round; the RSS figures the median over rounds. The
//! evidence client (`xtask/bench/py_evidence.py`) runs the same way, once per mode a round.

use super::figures::{parse_values, Figure, Unit};
use super::python_hook::unavailable;
use super::stats::median;
use crate::cmd::Cmd;
use crate::{fail, Result};
use std::path::Path;
use std::process::Stdio;

/// The client, written into the bench's directory.
const SCRIPT: &str = include_str!("../../bench/py_probes.py");
/// The evidence client: asks for `evidence`, or takes full snapshots (its first argument).
const EVIDENCE_SCRIPT: &str = include_str!("../../bench/py_evidence.py");

/// Records of the client's heap: a class instance and the list holding it each, ~210,000
/// objects the collector tracks with the interpreter's own.
const RECORDS: &str = "100000";
/// Requests of each kind per round.
const ASKS: &str = "3";

const TYPES_NAME: &str = "python-probe-types-us";
const PEAK_NAME: &str = "python-probe-types-peak-kib";
const KEPT_NAME: &str = "python-probe-types-kept-kib";
const TRIM_NAME: &str = "python-probe-trim-us";
const EVIDENCE_NAME: &str = "python-evidence-us";
const EVIDENCE_PEAK_NAME: &str = "python-evidence-peak-kib";
const EVIDENCE_KEPT_NAME: &str = "python-evidence-kept-kib";
const SNAPSHOT_NAME: &str = "python-evidence-snapshot-us";
const SNAPSHOT_PEAK_NAME: &str = "python-evidence-snapshot-peak-kib";
const SNAPSHOT_KEPT_NAME: &str = "python-evidence-snapshot-kept-kib";
const NAMES: [&str; 10] = [
    TYPES_NAME,
    PEAK_NAME,
    KEPT_NAME,
    TRIM_NAME,
    EVIDENCE_NAME,
    EVIDENCE_PEAK_NAME,
    EVIDENCE_KEPT_NAME,
    SNAPSHOT_NAME,
    SNAPSHOT_PEAK_NAME,
    SNAPSHOT_KEPT_NAME,
];

/// The group's lines: `rounds` runs of the client under `memmon`, files in `dir`.
pub fn figures(rounds: usize, memmon: &Path, dir: &Path) -> Vec<Figure> {
    if let Some(reason) = unavailable() {
        return NAMES
            .iter()
            .map(|n| Figure::skipped(n, reason.clone()))
            .collect();
    }
    match measure(rounds, memmon, dir) {
        Ok(values) => {
            let all = |key: &str| values.get(key).map(Vec::as_slice).unwrap_or_default();
            let missing = "the client printed no such line";
            vec![
                Figure::from_option(TYPES_NAME, median(all("types-us")), Unit::Us, missing),
                Figure::from_option(PEAK_NAME, median(all("types-peak-kib")), Unit::Kib, missing),
                Figure::from_option(KEPT_NAME, median(all("types-kept-kib")), Unit::Kib, missing),
                Figure::from_option(TRIM_NAME, median(all("trim-us")), Unit::Us, missing),
                Figure::from_option(EVIDENCE_NAME, median(all("evidence-us")), Unit::Us, missing),
                Figure::from_option(
                    EVIDENCE_PEAK_NAME,
                    median(all("evidence-peak-kib")),
                    Unit::Kib,
                    missing,
                ),
                Figure::from_option(
                    EVIDENCE_KEPT_NAME,
                    median(all("evidence-kept-kib")),
                    Unit::Kib,
                    missing,
                ),
                Figure::from_option(SNAPSHOT_NAME, median(all("snapshot-us")), Unit::Us, missing),
                Figure::from_option(
                    SNAPSHOT_PEAK_NAME,
                    median(all("snapshot-peak-kib")),
                    Unit::Kib,
                    missing,
                ),
                Figure::from_option(
                    SNAPSHOT_KEPT_NAME,
                    median(all("snapshot-kept-kib")),
                    Unit::Kib,
                    missing,
                ),
            ]
        }
        Err(e) => NAMES
            .iter()
            .map(|n| Figure::failed(n, e.0.clone()))
            .collect(),
    }
}

/// Every round's `name: value` lines, together.
fn measure(
    rounds: usize,
    memmon: &Path,
    dir: &Path,
) -> Result<std::collections::BTreeMap<String, Vec<f64>>> {
    let dir = dir.join("python_probes");
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join("py_probes.py"), SCRIPT))
        .and_then(|()| std::fs::write(dir.join("py_evidence.py"), EVIDENCE_SCRIPT))
        .map_err(|e| fail!("cannot prepare {}: {e}", dir.display()))?;
    let memmon_run = || {
        Cmd::new(memmon.display().to_string())
            .args(["run", "--startup-delay", "0", "--log", "probes.log", "--"])
            .cwd(&dir)
    };
    let probes = memmon_run().args(["python3", "py_probes.py", RECORDS, ASKS]);
    let evidence = memmon_run().args(["python3", "py_evidence.py", "evidence", RECORDS, ASKS]);
    let snapshot = memmon_run().args(["python3", "py_evidence.py", "snapshot", RECORDS, ASKS]);
    eprintln!("bench: the probes, {rounds} rounds of `{probes}`, `{evidence}` and `{snapshot}`");
    let mut all: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    for _ in 0..rounds {
        for c in [&probes, &evidence, &snapshot] {
            let out = c
                .command()
                .env_remove("PYTHONTRACEMALLOC")
                .env_remove("MEMMON_TYPES_BUDGET_MS")
                .stdin(Stdio::null())
                .output()
                .map_err(|e| fail!("cannot run `{c}`: {e}"))?;
            if !out.status.success() {
                return Err(fail!(
                    "`{c}` failed ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            for (name, values) in parse_values(&String::from_utf8_lossy(&out.stdout)) {
                all.entry(name).or_default().extend(values);
            }
        }
    }
    let of = |key: &str| median(all.get(key).map(Vec::as_slice).unwrap_or_default());
    eprintln!(
        "bench: the probes' walks counted {:?} objects, the captures sampled {:?} objects, the \
         snapshots read {:?} traces (medians)",
        of("objects"),
        of("evidence-samples"),
        of("snapshot-traces")
    );
    Ok(all)
}
